import MemTypeEngine

// Moved from MemTypeEngineTests/WorkedExamplesTests.swift: the engine's and the
// wire layer's tests both decide these requests.

/// The worked examples of memory-types.md section 10, one row each.
public struct WorkedExample: Sendable {
    public let number: Int
    public let request: DecisionRequest
    public let eptType: MemoryType?
    public let ipat: Bool?
    public let effective: MemoryType?
    /// The rules the decision's trace must show, where the example pins them.
    public var trace: [Rule]? = nil
    /// The warning codes the decision must carry, where the example pins them.
    public var warnings: [String]? = nil
    public var testDescription: String { "example \(number)" }

    public init(number: Int, request: DecisionRequest, eptType: MemoryType?, ipat: Bool?, effective: MemoryType?,
                trace: [Rule]? = nil, warnings: [String]? = nil) {
        self.number = number
        self.request = request
        self.eptType = eptType
        self.ipat = ipat
        self.effective = effective
        self.trace = trace
        self.warnings = warnings
    }
}

private func v(_ s: String) -> KernelSelection { .version(KernelVersion(s)!) }
private func idx(_ i: Int) -> PATIndex { PATIndex(i)! }
private let intelSS = HostProfile(vendor: .intel, selfSnoop: true, tdp: true)
private let intelNoSS = HostProfile(vendor: .intel, selfSnoop: false, tdp: true)
private let ncDMA = VMConfig(noncoherentDMA: true)
private let e = MTRRState.enableBit, fe = MTRRState.fixedEnableBit

private func mtrr(def: UInt64, fixed: [UInt64] = [], variable: [VariableMTRR] = []) -> MTRRState {
    try! MTRRState(defType: def, fixed: fixed, variable: variable)
}
private func range(_ n: Int, _ base: UInt64, _ size: UInt64, _ type: MemoryType) -> VariableMTRR {
    try! VariableMTRR(index: n, base: base, size: size, type: type, maxPhysAddr: 46)
}
private func vcpu(pat: PAT = .linux, cd: Bool = false, mtrr: MTRRState = .reset(), cpuidMTRR: Bool = true) -> VCPUState {
    VCPUState(cr0CD: cd, pat: pat, mtrr: mtrr, cpuidMTRR: cpuidMTRR)
}
private func access(_ i: Int, gpa: UInt64 = 0x1000, mmio: Bool = false) -> GuestAccess {
    GuestAccess(gpa: gpa, mmio: mmio, patIndex: idx(i))
}
private func ex(_ n: Int, _ kernel: String, _ host: HostProfile = intelSS, _ vm: VMConfig = VMConfig(),
                _ vcpu: VCPUState = vcpu(), _ access: GuestAccess, _ ept: MemoryType?, _ ipat: Bool?, _ eff: MemoryType?) -> WorkedExample {
    WorkedExample(number: n, request: DecisionRequest(kernel: v(kernel), host: host, vm: vm, vcpu: vcpu, access: access),
                  eptType: ept, ipat: ipat, effective: eff)
}

public let workedExamples: [WorkedExample] = [
    ex(1, "6.6", intelSS, VMConfig(), vcpu(), access(3), .wb, true, .wb),
    ex(2, "6.6", intelSS, ncDMA, vcpu(), access(1, mmio: true), .uc, false, .wc),
    ex(3, "6.6", intelSS, ncDMA, vcpu(), access(2, mmio: true), .uc, false, .uc),
    ex(4, "6.6", intelSS, ncDMA, vcpu(cd: true), access(3), .wb, true, .wb),
    ex(5, "6.6", intelSS, VMConfig(disabledQuirks: .cdNwCleared, noncoherentDMA: true), vcpu(cd: true), access(1), .uc, true, .uc),
    ex(6, "6.6", intelSS, ncDMA, vcpu(mtrr: mtrr(def: e | fe | 6)), access(1, gpa: 0x1234_5000), .wb, false, .wc),
    ex(7, "6.6", intelSS, ncDMA, vcpu(mtrr: mtrr(def: 6), cpuidMTRR: true), access(0, gpa: 0x1234_5000), .uc, false, .uc),
    ex(8, "6.6", intelSS, ncDMA, vcpu(mtrr: mtrr(def: 6), cpuidMTRR: false), access(0, gpa: 0x1234_5000), .wb, false, .wb),
    ex(9, "6.6", intelSS, ncDMA,
       vcpu(pat: .reset, mtrr: mtrr(def: e | fe | 6, fixed: [0x0606_0606_0606_0606], variable: [range(0, 0, 1 << 32, .uc)])),
       access(0, gpa: 0x20000), .wb, false, .wb),
    ex(10, "6.6", intelSS, ncDMA, vcpu(pat: .reset, mtrr: mtrr(def: e | fe | 6, fixed: [0, 0, 0x0101_0101_0101_0101])),
       access(0, gpa: 0xA0000), .wc, false, .wc),
    ex(11, "6.6", intelSS, ncDMA, vcpu(pat: .reset, mtrr: mtrr(def: e | 0, fixed: [0, 0, 0x0606_0606_0606_0606])),
       access(0, gpa: 0xA0000), .uc, false, .uc),
    // KVM visits the UC range (higher base) first; the WB range next returns
    // WB. The SDM (and the guest's kernel) would say UC: warned.
    ex(12, "6.6", intelSS, ncDMA,
       vcpu(mtrr: mtrr(def: e | 6, variable: [range(0, 0, 1 << 32, .wb), range(1, 0xC000_0000, 1 << 30, .uc)])),
       access(1, gpa: 0xC000_0000), .wb, false, .wc)
        .with(trace: [.aGuestMTRR, .mtrrUCMetFirst, .table11_7], warnings: ["mtrr_differs_from_sdm"]),
    ex(13, "6.6", intelSS, ncDMA,
       vcpu(pat: .reset, mtrr: mtrr(def: e | 6, variable: [range(0, 0, 1 << 32, .wb), range(1, 0x8000_0000, 1 << 31, .wt)])),
       access(0, gpa: 0x8000_0000), .wt, false, .wt),
    ex(14, "6.6", intelSS, ncDMA,
       vcpu(pat: .reset, mtrr: mtrr(def: e | 6, variable: [range(0, 0, 1 << 32, .wb), range(1, 0xC000_0000, 256 << 20, .wc)])),
       access(0, gpa: 0xC000_0000), .wb, false, .wb),
    ex(15, "6.6", intelSS, ncDMA, vcpu(mtrr: mtrr(def: e | 6, variable: [range(0, 0xE000_0000, 16 << 20, .wp)])),
       access(2, gpa: 0xE000_0000), .wp, false, .wc),
    ex(16, "6.10", intelSS, ncDMA, vcpu(cd: true), access(1), .wb, false, .wc),
    ex(17, "6.10", intelSS, ncDMA, vcpu(mtrr: mtrr(def: e | 6, variable: [range(0, 0xD000_0000, 256 << 20, .wc)])),
       access(7, gpa: 0xD000_0000), .wc, false, .uc),
    ex(18, "6.11-rc1", intelSS, VMConfig(), vcpu(), access(2, gpa: 0xFD00_0000), .wb, false, .uc),
    ex(19, "6.11-rc1", intelSS, VMConfig(), vcpu(), access(1, gpa: 0xFD00_0000), .wb, false, .wc),
    ex(20, "6.11-rc1", intelNoSS, VMConfig(), vcpu(), access(2), .wb, true, .wb),
    ex(21, "6.11", intelSS, VMConfig(), vcpu(), access(2), .wb, true, .wb),
    ex(22, "6.15", intelSS, ncDMA, vcpu(), access(2), .wb, false, .uc),
    ex(23, "6.16", intelSS, VMConfig(), vcpu(), access(2, gpa: 0xFD00_0000), .wb, true, .wb),
    ex(24, "6.16", intelSS, VMConfig(disabledQuirks: .ignoreGuestPAT), vcpu(), access(2, gpa: 0xFD00_0000), .wb, false, .uc),
    ex(25, "6.16", intelSS, VMConfig(disabledQuirks: .ignoreGuestPAT), vcpu(), access(1), .wb, false, .wc),
    ex(26, "6.16", intelNoSS, VMConfig(disabledQuirks: .ignoreGuestPAT), vcpu(), access(3), .wb, true, .wb),
    ex(27, "6.16", intelNoSS, ncDMA, vcpu(pat: .reset), access(3), .wb, false, .uc),
    ex(28, "6.16", intelSS, VMConfig(type: .tdx), vcpu(), access(1, gpa: 0x1000), .wb, false, .wc),
    ex(29, "6.16", intelSS, VMConfig(disabledQuirks: .ignoreGuestPAT), vcpu(),
       GuestAccess(gpa: 0x4000_0000, patIndex: PATIndex(entry: 1 << 12 | 1 << 3 | 1 << 7, level: .size2M),
                   patIndexFromEntry: true, level: .size2M),
       .wb, false, .wp),
    // The same two ranges with the types swapped: WB (higher base) first,
    // then UC returns UC, as the SDM would too: no warning.
    ex(31, "6.6", intelSS, ncDMA,
       vcpu(mtrr: mtrr(def: e | 6, variable: [range(0, 0, 1 << 32, .uc), range(1, 0xC000_0000, 1 << 30, .wb)])),
       access(1, gpa: 0xC000_0000), .uc, false, .wc)
        .with(trace: [.aGuestMTRR, .mtrrUCWins, .table11_7], warnings: []),
]

extension WorkedExample {
    public func with(trace: [Rule], warnings: [String]) -> WorkedExample {
        var copy = self
        copy.trace = trace
        copy.warnings = warnings
        return copy
    }
}
