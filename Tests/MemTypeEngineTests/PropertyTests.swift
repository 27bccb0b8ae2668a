import PropertyBased
import EngineTestSupport
import Testing
@testable import MemTypeEngine

/// The fixed-range type of a page below 1 MiB, from a table of all 256
/// pages built from the MSR layout (not from the engine's slot arithmetic).
func referenceFixedType(_ s: MTRRState, page gpa: UInt64) -> MemoryType {
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

/// A plain re-statement of KVM's bookkeeping (arch/x86/kvm/mtrr.c, v4.2 to
/// v6.10), written from the kernel's description and independent of the
/// engine: the guest writes PhysBase_n then PhysMask_n for n = 0, 1, ...;
/// a range entering the list is put before the first entry whose PhysBase
/// is <= its own (`laterFirst`; false puts it after equal ones instead,
/// the other write order). Each entry keeps its interval.
struct ReferenceKVMList {
    struct Entry { let register: Int; let physBase: UInt64; let start: UInt64; let end: UInt64; let type: Int }
    var entries: [Entry] = []

    init(_ s: MTRRState, laterFirst: Bool = true) {
        for (n, r) in s.variable.enumerated() where r.physMask & (1 << 11) != 0 {
            // The interval: base without its low 12 bits, to the last address
            // the mask leaves free (bits above MAXPHYADDR count as set), plus one.
            let start = r.physBase & ~UInt64(0xFFF)
            var free: UInt64 = 0xFFF
            for bit in 12..<s.maxPhysAddr where r.physMask & (1 << UInt64(bit)) == 0 { free |= 1 << UInt64(bit) }
            let entry = Entry(register: n, physBase: r.physBase, start: start, end: (start | free) + 1, type: Int(r.physBase & 0xFF))
            var i = 0
            while i < entries.count && (laterFirst ? !(r.physBase >= entries[i].physBase) : !(r.physBase > entries[i].physBase)) { i += 1 }
            entries.insert(entry, at: i)
        }
    }

    /// `kvm_mtrr_get_guest_memory_type()` for one page, as the kernel's loop reads.
    func type(_ s: MTRRState, gpa: UInt64, cpuidMTRR: Bool) -> MemoryType {
        if s.defType & (1 << 11) == 0 { return cpuidMTRR ? .uc : .wb }
        if s.defType & (1 << 10) != 0 && gpa < 0x100000 { return referenceFixedType(s, page: gpa) }
        let page = gpa & ~UInt64(0xFFF)
        var type = -1
        for e in entries where !(e.start >= page + 0x1000 || e.end <= page) {
            let cur = e.type
            if type == -1 { type = cur; continue }
            if type == cur { continue }
            if cur == 0 { return .uc }
            if (type == 4 || type == 6) && (cur == 4 || cur == 6) { type = 4; continue }
            return .wb
        }
        return type == -1 ? MemoryType(code: s.defType & 0xFF)! : MemoryType(code: UInt64(type))!
    }

    /// `kvm_mtrr_check_gfn_range_consistency()` for [start, end), as the
    /// kernel's iterator reads: fixed sub-ranges first when the block starts
    /// below 1 MiB, then the list with its coverage bookkeeping.
    func consistent(_ s: MTRRState, start: UInt64, end: UInt64) -> Bool {
        if s.defType & (1 << 11) == 0 { return true }
        var type = -1
        var varStart = true
        if s.defType & (1 << 10) != 0 && start < 0x100000 {
            varStart = false
            var a = start
            while true {
                let t = Int(referenceFixedType(s, page: a).rawValue)
                if type == -1 { type = t } else if type != t { return false }
                let size: UInt64 = a < 0x80000 ? 0x10000 : a < 0xC0000 ? 0x4000 : 0x1000
                let subEnd = a / size * size + size
                if subEnd >= end { break }
                a = subEnd
                if a >= 0x100000 { varStart = true; break }
            }
        }
        guard varStart else { return true }
        var startMax = start, partial = false
        for e in entries where !(e.start >= end || e.end <= start) {
            partial = partial || startMax < e.start
            startMax = max(startMax, e.end)
            if type == -1 { type = e.type } else if type != e.type { return false }
        }
        partial = partial || startMax < end
        if !partial || type == -1 { return true }
        return type == Int(s.defType & 0xFF)
    }
}

/// The SDM's reading, as the guest's kernel does it: every range matching
/// by the mask test, UC wins, WT with WB is WT, any other mix UC.
func referenceGuestKernelType(_ s: MTRRState, gpa: UInt64) -> MemoryType {
    if s.defType & (1 << 11) == 0 { return .uc }
    if s.defType & (1 << 10) != 0 && gpa < 0x100000 { return referenceFixedType(s, page: gpa) }
    var matched: Set<MemoryType> = []
    for r in s.variable where r.physMask & (1 << 11) != 0 {
        var hit = true
        for bit in 12..<s.maxPhysAddr where r.physMask & (1 << UInt64(bit)) != 0 {
            if (gpa >> UInt64(bit)) & 1 != (r.physBase >> UInt64(bit)) & 1 { hit = false }
        }
        if hit { matched.insert(MemoryType(code: r.physBase & 0xFF)!) }
    }
    if matched.isEmpty { return MemoryType(code: s.defType & 0xFF)! }
    if matched.contains(.uc) { return .uc }
    if matched.count == 1 { return matched.first! }
    return matched.isSubset(of: [.wt, .wb]) ? .wt : .uc
}

@Test func kvmLookupMatchesTheReferenceListWalk() async {
    await propertyCheck(count: 4000, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        let list = ReferenceKVMList(s)
        #expect(s.kvmListRegisters == list.entries.map(\.register))
        for _ in 0..<16 {
            let gpa = randomGPA(&rng), cpuid = rng.bool()
            #expect(s.kvmLookup(gpa: gpa, cpuidMTRR: cpuid).type == list.type(s, gpa: gpa, cpuidMTRR: cpuid))
        }
    }
}

/// Ties in KVM's list are identical PhysBase values, base and type: the
/// other write order reorders ranges of one type only, which cannot change
/// a page's type nor the huge-page check. (Why no answer depends on the
/// write order the request cannot state.)
@Test func writeOrderOfEqualBasesNeverChangesAnAnswer() async {
    await propertyCheck(count: 2000, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        let later = ReferenceKVMList(s, laterFirst: true), earlier = ReferenceKVMList(s, laterFirst: false)
        for _ in 0..<16 {
            let gpa = randomGPA(&rng)
            #expect(later.type(s, gpa: gpa, cpuidMTRR: true) == earlier.type(s, gpa: gpa, cpuidMTRR: true))
            let start = gpa & ~((1 << 21) - 1)
            #expect(later.consistent(s, start: start, end: start + (1 << 21)) == earlier.consistent(s, start: start, end: start + (1 << 21)))
        }
    }
}

@Test func kvmHugePageCheckMatchesTheKernelAndIsSoundPageByPage() async {
    await propertyCheck(count: 1500, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        let list = ReferenceKVMList(s)
        let shift = UInt64(13 + rng.below(9))  // 8 KiB .. 2 MiB blocks
        let start = (UInt64(rng.below(1 << 14)) << 12) & ~((1 << shift) - 1)
        let consistent = s.kvmRangeConsistent(blockStart: start, shift: shift)
        #expect(consistent == list.consistent(s, start: start, end: start + (1 << shift)))
        // Brute force, page by page: KVM never maps a huge leaf over two types.
        let types = Set(stride(from: start, to: start + (1 << shift), by: 0x1000).map { list.type(s, gpa: $0, cpuidMTRR: true) })
        if consistent { #expect(types.count == 1) }
        // maxMappingLevel is the check at each level in turn.
        let level = s.maxMappingLevel(gpa: start, requested: .size2M)
        let block2M = start & ~((1 << 21) - 1)
        #expect((level == .size2M) == list.consistent(s, start: block2M, end: block2M + (1 << 21)))
    }
}

/// Runs cover [start, end) end to end, and are maximal.
func expectRunsTile(_ runs: [MTRRRun], start: UInt64, end: UInt64) {
    #expect(runs.first?.start == start)
    #expect(runs.last?.end == end)
    for (a, b) in zip(runs, runs.dropFirst()) {
        #expect(a.end == b.start)
        #expect(a.type != b.type)  // maximal
    }
}

@Test func kvmRunsCoverTheRangeAndAgreePageByPage() async {
    await propertyCheck(count: 300, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        let list = ReferenceKVMList(s)
        let start = UInt64(rng.below(1 << 13)) << 12
        let end = start + (UInt64(1 + rng.below(2048)) << 12)
        guard let runs = s.kvmRuns(from: start, to: end, cpuidMTRR: true) else {
            Issue.record("too many runs")
            return
        }
        expectRunsTile(runs, start: start, end: end)
        for run in runs {
            for gpa in stride(from: run.start, to: run.end, by: 0x1000) {
                #expect(list.type(s, gpa: gpa, cpuidMTRR: true) == run.type)
            }
        }
    }
}

@Test func guestKernelRunsAgreeWithTheSDMReading() async {
    await propertyCheck(count: 300, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
        var rng = SplitMix(state: seed)
        let s = randomMTRRs(&rng)
        for _ in 0..<8 {
            let gpa = randomGPA(&rng)
            #expect(s.guestKernelType(gpa: gpa) == referenceGuestKernelType(s, gpa: gpa))
        }
        let start = UInt64(rng.below(1 << 13)) << 12
        let end = start + (UInt64(1 + rng.below(4096)) << 12)
        guard let runs = s.guestKernelRuns(from: start, to: end, maxRuns: 100_000) else {
            Issue.record("too many runs")
            return
        }
        expectRunsTile(runs, start: start, end: end)
        for run in runs {
            for gpa in stride(from: run.start, to: run.end, by: max(4096, Int(run.end - run.start) / 8 & ~0xFFF)) {
                #expect(referenceGuestKernelType(s, gpa: gpa) == run.type)
            }
        }
    }
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
