import MemTypeEngine

// Seeded generators of engine inputs, shared by the engine's and the wire
// layer's tests (moved here from PropertyTests so both targets use one copy).

/// SplitMix64: expands one generated seed into a whole input, so every
/// failure is reproducible from the seed PropertyBased reports.
public struct SplitMix {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    public mutating func bool() -> Bool { next() & 1 == 1 }
    public mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
}

public let mtrrTypes: [MemoryType] = [.uc, .wc, .wt, .wp, .wb]

/// A random but valid MTRR set over a small address space (MAXPHYADDR 36),
/// dense enough that ranges overlap: natural ranges, bases not aligned to
/// their mask, masks with holes, and ranges sharing a base address (with
/// the same or another type), which KVM's list orders by the whole PhysBase.
public func randomMTRRs(_ rng: inout SplitMix) -> MTRRState {
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
        // Mostly within the low 64 MiB, where the test addresses are.
        let sizeShift = UInt64(12 + rng.below(15))
        var mask = ~((1 << sizeShift) - 1) & addressBits
        if rng.below(4) == 0 { mask &= ~(1 << UInt64(12 + rng.below(14))) }  // a hole
        var base = (UInt64(rng.below(1 << 14)) << 12)
        if rng.below(3) != 0 { base &= mask }  // else: not aligned to the mask
        if !variable.isEmpty && rng.below(5) == 0 { base = rng.pick(variable).physBase & ~0xFF }  // a shared base
        let valid: UInt64 = rng.below(6) == 0 ? 0 : 1 << 11
        variable.append(VariableMTRR(physBase: base | UInt64(rng.pick(mtrrTypes).rawValue), physMask: mask | valid))
    }
    return try! MTRRState(defType: def, fixed: fixed, variable: variable, maxPhysAddr: maxPhys)
}

public func randomGPA(_ rng: inout SplitMix) -> UInt64 {
    switch rng.below(3) {
    case 0: UInt64(rng.below(0x100)) << 12               // below 1 MiB
    case 1: UInt64(rng.below(1 << 14)) << 12             // low 64 MiB, where the ranges are
    default: (rng.next() & ((1 << 36) - 1)) & ~0xFFF
    }
}

/// A random, valid decision request over every model and platform.
public func randomRequest(_ rng: inout SplitMix) -> DecisionRequest {
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
