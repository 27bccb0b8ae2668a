import PropertyBased
import Testing
@testable import MemTypeEngine

/// SplitMix64: expands one generated seed into a whole input, so every
/// failure is reproducible from the seed PropertyBased reports.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
}

let mtrrTypes: [MemoryType] = [.uc, .wc, .wt, .wp, .wb]

/// A random but valid MTRR set over a small address space (MAXPHYADDR 36),
/// dense enough that ranges overlap, with contiguous and odd masks alike.
func randomMTRRs(_ rng: inout SplitMix) -> MTRRState {
    let maxPhys = 36
    let addressBits: UInt64 = ((1 << 36) - 1) & ~0xFFF
    var def: UInt64 = UInt64(rng.pick(mtrrTypes).rawValue)
    if rng.below(8) != 0 { def |= 1 << 11 }
    if rng.bool() { def |= 1 << 10 }
    var fixed: [UInt64] = []
    for _ in 0..<11 {
        var v: UInt64 = 0
        for b in 0..<8 { v |= UInt64(rng.pick(mtrrTypes).rawValue) << (8 * UInt64(b)) }
        fixed.append(v)
    }
    var variable: [VariableMTRR] = []
    for _ in 0..<rng.below(9) {
        // Mostly natural ranges within the low 64 MiB; sometimes a mask with holes.
        let sizeShift = UInt64(12 + rng.below(15))
        var mask = ~((1 << sizeShift) - 1) & addressBits
        if rng.below(4) == 0 { mask &= ~(1 << UInt64(12 + rng.below(14))) }
        let base = (UInt64(rng.below(1 << 14)) << 12) & mask
        let valid: UInt64 = rng.below(6) == 0 ? 0 : 1 << 11
        variable.append(VariableMTRR(physBase: base | UInt64(rng.pick(mtrrTypes).rawValue), physMask: mask | valid))
    }
    return try! MTRRState(defType: def, fixed: fixed, variable: variable, maxPhysAddr: maxPhys)
}

/// The obviously-correct reference, written from the reference text rather
/// than from the engine: expand the fixed MSRs into a page table, match
/// variable ranges bit by bit, then fold the matches left to right.
func referenceMTRRType(_ s: MTRRState, gpa: UInt64, cpuidMTRR: Bool) -> MemoryType {
    if s.defType & (1 << 11) == 0 { return cpuidMTRR ? .uc : .wb }
    if s.defType & (1 << 10) != 0 && gpa < 0x100000 {
        // (MSR index, first address, sub-range size) for all 88 sub-ranges.
        var pages: [MemoryType] = []
        let layout: [(Int, UInt64)] = [(0, 0x10000), (1, 0x4000), (2, 0x4000)] + (3...10).map { ($0, 0x1000) }
        for (msr, size) in layout {
            for byte in 0..<8 {
                let t = MemoryType(code: (s.fixed[msr] >> UInt64(8 * byte)) & 0xFF)!
                pages += Array(repeating: t, count: Int(size / 0x1000))
            }
        }
        precondition(pages.count == 256)
        return pages[Int(gpa >> 12)]
    }
    var matched: [MemoryType] = []
    for r in s.variable where r.physMask & (1 << 11) != 0 {
        var hit = true
        for bit in 12..<s.maxPhysAddr where r.physMask & (1 << UInt64(bit)) != 0 {
            if (gpa >> UInt64(bit)) & 1 != (r.physBase >> UInt64(bit)) & 1 { hit = false }
        }
        if hit { matched.append(MemoryType(code: r.physBase & 0xFF)!) }
    }
    guard var t = matched.first else { return MemoryType(code: s.defType & 0xFF)! }
    for c in matched.dropFirst() {
        if c == t { continue }
        if c == .uc || t == .uc { return .uc }
        if Set([c, t]).isSubset(of: [.wt, .wb]) { t = .wt; continue }
        return .wb
    }
    return t
}

func randomGPA(_ rng: inout SplitMix) -> UInt64 {
    switch rng.below(3) {
    case 0: UInt64(rng.below(0x100)) << 12               // below 1 MiB
    case 1: UInt64(rng.below(1 << 14)) << 12             // low 64 MiB, where the ranges are
    default: (rng.next() & ((1 << 36) - 1)) & ~0xFFF
    }
}

@Test func mtrrLookupMatchesTheReference() async {
    await propertyCheck(count: 2000, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        for _ in 0..<16 {
            let gpa = randomGPA(&rng), cpuid = rng.bool()
            #expect(s.lookup(gpa: gpa, cpuidMTRR: cpuid).type == referenceMTRRType(s, gpa: gpa, cpuidMTRR: cpuid))
        }
    }
}

@Test func uniformTypeAgreesWithPageByPage() async {
    await propertyCheck(count: 300, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        let start = UInt64(rng.below(32)) << 21  // a 2 MiB block in the low 64 MiB
        let types = Set((0..<512).map { referenceMTRRType(s, gpa: start + UInt64($0) << 12, cpuidMTRR: true) })
        let uniform = s.uniformType(blockStart: start, shift: 21, cpuidMTRR: true)
        #expect(uniform == (types.count == 1 ? types.first : nil))
        let level = s.maxMappingLevel(gpa: start, requested: .size2M, cpuidMTRR: true)
        #expect(level == (types.count == 1 ? .size2M : .size4K))
    }
}

@Test func runsCoverTheRangeAndAgreeWithLookup() async {
    await propertyCheck(count: 300, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        let start = UInt64(rng.below(1 << 13)) << 12
        let end = start + (UInt64(1 + rng.below(4096)) << 12)
        guard let runs = s.runs(from: start, to: end, cpuidMTRR: true, maxRuns: 100_000) else {
            Issue.record("too many runs")
            return
        }
        #expect(runs.first?.start == start)
        #expect(runs.last?.end == end)
        for (a, b) in zip(runs, runs.dropFirst()) {
            #expect(a.end == b.start)
            #expect(a.type != b.type)  // maximal
        }
        for run in runs {
            for gpa in stride(from: run.start, to: run.end, by: max(4096, Int(run.end - run.start) / 8 & ~0xFFF)) {
                #expect(referenceMTRRType(s, gpa: gpa, cpuidMTRR: true) == run.type)
            }
        }
    }
}

/// A random, valid decision request over every model and platform.
func randomRequest(_ rng: inout SplitMix) -> DecisionRequest {
    let host = HostProfile(vendor: rng.below(5) == 0 ? .amd : .intel, selfSnoop: rng.below(4) != 0, tdp: rng.below(8) != 0)
    var vm = VMConfig(noncoherentDMA: rng.bool())
    if rng.bool() { vm.disabledQuirks.insert(.ignoreGuestPAT) }
    if rng.bool() { vm.disabledQuirks.insert(.cdNwCleared) }
    if host.vendor == .intel && host.tdp && host.selfSnoop && rng.below(6) == 0 { vm.type = .tdx }
    var pat: UInt64 = 0
    for b in 0..<8 { pat |= UInt64(rng.pick(MemoryType.allCases).rawValue) << (8 * UInt64(b)) }
    let vcpu = VCPUState(cr0CD: rng.below(4) == 0, pat: try! PAT(raw: pat), mtrr: randomMTRRs(&rng), cpuidMTRR: rng.bool())
    let access = GuestAccess(gpa: randomGPA(&rng), mmio: rng.below(5) == 0, patIndex: PATIndex(rng.below(8))!,
                             level: rng.pick(PageLevel.allCases), tdxPrivate: vm.type == .tdx && rng.bool())
    return DecisionRequest(kernel: .model(rng.pick(KVMModel.allCases)), host: host, vm: vm, vcpu: vcpu, access: access)
}

@Test func decisionInvariants() async {
    await propertyCheck(count: 3000, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let r = randomRequest(&rng)
        let d = DecisionEngine.decide(r)
        #expect(d.patType == r.vcpu.pat[r.access.patIndex])
        guard let ept = d.ept else {
            #expect(d.applicability != .ept)
            return
        }
        // IPAT=1: the EPT type is the effective type.
        if ept.ipat { #expect(d.effective == ept.type) }
        // The WB row is the identity, except UC- becomes UC.
        if !ept.ipat && ept.type == .wb { #expect(d.effective == (d.patType == .ucMinus ? .uc : d.patType)) }
        // KVM only ever uses UC or WB once guest MTRRs are gone.
        if d.model >= .c { #expect(ept.type == .uc || ept.type == .wb) }
        #expect(ept.type.isValidEPTType)
        // MMIO is UC without IPAT in every model.
        if r.access.mmio { #expect(ept == EPTMemoryType(type: .uc, ipat: false)) }
        // Non-coherent DMA always honors guest PAT (no IPAT) on RAM, except CR0.CD in A/B.
        if r.vm.noncoherentDMA && !r.access.mmio && !(d.model <= .b && r.vcpu.cr0CD) { #expect(!ept.ipat) }
        // Under EPT the effective type is never UC-: it exists only in PAT entries.
        #expect(d.effective != .ucMinus)
    }
}
