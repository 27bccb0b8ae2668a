import Testing
@testable import MemTypeEngine

private let e: UInt64 = 1 << 11, fe: UInt64 = 1 << 10

private func r(_ n: Int, _ base: UInt64, _ size: UInt64, _ t: MemoryType) -> VariableMTRR {
    try! VariableMTRR(index: n, base: base, size: size, type: t, maxPhysAddr: 46)
}

@Test func fixedRangeSlotsCoverTheFirstMegabyte() {
    #expect(MTRRState.fixedSlot(0x0)! == (0, 0))
    #expect(MTRRState.fixedSlot(0x7_F000)! == (0, 7))
    #expect(MTRRState.fixedSlot(0x8_0000)! == (1, 0))
    #expect(MTRRState.fixedSlot(0x9_C000)! == (1, 7))
    #expect(MTRRState.fixedSlot(0xA_0000)! == (2, 0))
    #expect(MTRRState.fixedSlot(0xB_C000)! == (2, 7))
    #expect(MTRRState.fixedSlot(0xC_0000)! == (3, 0))
    #expect(MTRRState.fixedSlot(0xC_7000)! == (3, 7))
    #expect(MTRRState.fixedSlot(0xF_F000)! == (10, 7))
    #expect(MTRRState.fixedSlot(0x10_0000) == nil)
}

@Test func eachFixedByteSelectsItsSubRange() throws {
    // Byte k of MTRRfix16K_A0000 covers 0xA0000 + 16 KiB * k: mark only byte 3 WC.
    let s = try MTRRState(defType: e | fe | 6, fixed: [0, 0, 0x01 << 24])
    #expect(s.kvmLookup(gpa: 0xA_C000, cpuidMTRR: true) == MTRRLookup(type: .wc, source: .fixed(msr: 2, byte: 3)))
    #expect(s.kvmLookup(gpa: 0xA_8000, cpuidMTRR: true).type == .uc)
    #expect(s.kvmLookup(gpa: 0xB_0000, cpuidMTRR: true).type == .uc)
}

@Test func equalBaseAddressesAreWalkedByTypeCodeNotRegisterOrder() throws {
    // KVM's list compares whole PhysBase values, base and type byte: at one
    // base WB (6) comes before WC (1) before UC (0), in any register order.
    // WB then WC is an undefined mix: WB at once, before the UC is reached.
    let ordered = try MTRRState(defType: e | 6, variable: [r(0, 0, 1 << 30, .wb), r(1, 0, 1 << 30, .wc), r(2, 0, 1 << 30, .uc)])
    #expect(ordered.kvmLookup(gpa: 0x1000, cpuidMTRR: true) == MTRRLookup(type: .wb, source: .variableUndefinedMix(first: 0, range: 1)))
    // Was UC (register order, UC first). KVM never meets the UC range first here.
    let ucFirst = try MTRRState(defType: e | 6, variable: [r(0, 0, 1 << 30, .uc), r(1, 0, 1 << 30, .wb), r(2, 0, 1 << 30, .wc)])
    #expect(ucFirst.kvmListRegisters == [1, 2, 0])
    #expect(ucFirst.kvmLookup(gpa: 0x1000, cpuidMTRR: true) == MTRRLookup(type: .wb, source: .variableUndefinedMix(first: 1, range: 2)))
    // The SDM's reading of the same registers: UC wins.
    #expect(ucFirst.sdmLookup(gpa: 0x1000) == .type(.uc))
}

@Test func kvmListIsByDescendingPhysBaseWithTheLaterRegisterFirstOnTies() throws {
    let s = try MTRRState(defType: e | 6, variable: [
        r(0, 0, 1 << 32, .wb), r(1, 0xC000_0000, 1 << 30, .uc), r(2, 0, 1 << 31, .wb), r(3, 0x1_0000_0000, 1 << 30, .wt),
    ])
    // reg03 (4 GiB), reg01 (3 GiB), then the tie at 0 WB: reg02 written after reg00.
    #expect(s.kvmListRegisters == [3, 1, 2, 0])
}

@Test func invalidRangesAreSkippedAndSameTypesKept() throws {
    let s = try MTRRState(defType: e | 0, variable: [
        VariableMTRR(physBase: 0x0 | 0, physMask: 0xF_C000_0000),  // valid bit clear: ignored
        r(1, 0, 1 << 30, .wb), r(2, 0, 1 << 29, .wb),
    ])
    // Two WB ranges with one PhysBase: the later register is first in KVM's list.
    #expect(s.kvmLookup(gpa: 0x1000, cpuidMTRR: true) == MTRRLookup(type: .wb, source: .variable(first: 2)))
    #expect(s.kvmLookup(gpa: 1 << 31, cpuidMTRR: true) == MTRRLookup(type: .uc, source: .defaultType))
}

struct MTRRRejection: Sendable, CustomTestStringConvertible {
    let name: String
    let build: @Sendable () throws -> MTRRState
    let field: MTRRField
    var testDescription: String { name }
}

@Test(arguments: [
    MTRRRejection(name: "defType reserved bit 9", build: { try MTRRState(defType: e | 1 << 9 | 6) }, field: .defType),
    MTRRRejection(name: "defType reserved bit 12", build: { try MTRRState(defType: 1 << 12) }, field: .defType),
    MTRRRejection(name: "default UC-", build: { try MTRRState(defType: e | 7) }, field: .defType),
    MTRRRejection(name: "default 2", build: { try MTRRState(defType: e | 2) }, field: .defType),
    MTRRRejection(name: "fixed byte 7", build: { try MTRRState(defType: e, fixed: [0, 0, 0, 0x07 << 40]) }, field: .fixed(3)),
    MTRRRejection(name: "twelve fixed", build: { try MTRRState(defType: e, fixed: Array(repeating: 0, count: 12)) }, field: .fixedCount),
    MTRRRejection(name: "PhysBase type 3", build: { try MTRRState(defType: e, variable: [VariableMTRR(physBase: 3, physMask: 0)]) }, field: .physBase(0)),
    MTRRRejection(name: "PhysBase bit 8", build: { try MTRRState(defType: e, variable: [VariableMTRR(physBase: 0x106, physMask: 0)]) }, field: .physBase(0)),
    MTRRRejection(name: "PhysBase above MAXPHYADDR", build: {
        try MTRRState(defType: e, variable: [VariableMTRR(physBase: 1 << 40 | 6, physMask: 0)], maxPhysAddr: 39)
    }, field: .physBase(0)),
    MTRRRejection(name: "PhysMask bit 3", build: { try MTRRState(defType: e, variable: [VariableMTRR(physBase: 6, physMask: 0x808)]) }, field: .physMask(0)),
    MTRRRejection(name: "nine ranges", build: {
        try MTRRState(defType: e, variable: Array(repeating: VariableMTRR(physBase: 6, physMask: 0), count: 9))
    }, field: .variableCount),
])
func kvmRejects(_ c: MTRRRejection) {
    #expect { _ = try c.build() } throws: { ($0 as? MTRRError)?.field == c.field }
}

@Test func friendlyRangesAreValidated() {
    #expect(throws: MTRRError.self) { try VariableMTRR(index: 0, base: 0x1000, size: 0x3000, type: .wb, maxPhysAddr: 46) }
    #expect(throws: MTRRError.self) { try VariableMTRR(index: 0, base: 0x1000, size: 0x2000, type: .wb, maxPhysAddr: 46) }
    #expect(throws: MTRRError.self) { try VariableMTRR(index: 0, base: 0, size: 1 << 47, type: .wb, maxPhysAddr: 46) }
    #expect(throws: MTRRError.self) { try VariableMTRR(index: 0, base: 0, size: 4096, type: .ucMinus, maxPhysAddr: 46) }
    let v = try? VariableMTRR(index: 0, base: 0xC000_0000, size: 1 << 30, type: .uc, maxPhysAddr: 36)
    #expect(v?.physBase == 0xC000_0000)
    #expect(v?.physMask == 0xF_C000_0800)
}

@Test func hugePageLevelsFollowTypeBoundaries() throws {
    // WB below 3 GiB, UC 3-4 GiB, and a 4 KiB WC page at 3 GiB - 2 MiB + 8 KiB.
    let s = try MTRRState(defType: e | 6, variable: [r(0, 0xC000_0000, 1 << 30, .uc), r(1, 0xBFE0_2000, 0x1000, .wc)])
    #expect(s.maxMappingLevel(gpa: 0xC000_0000, requested: .size1G) == .size1G)
    // [2 GiB, 3 GiB) holds the WC page: no 1 GiB leaf, but its first 2 MiB is all WB.
    #expect(s.maxMappingLevel(gpa: 0x8000_0000, requested: .size1G) == .size2M)
    #expect(s.maxMappingLevel(gpa: 0xBFE0_0000, requested: .size2M) == .size4K)
    let runs = s.kvmRuns(from: 0xBFE0_0000, to: 0xC020_0000, cpuidMTRR: true)
    #expect(runs == [
        MTRRRun(start: 0xBFE0_0000, end: 0xBFE0_2000, type: .wb),
        MTRRRun(start: 0xBFE0_2000, end: 0xBFE0_3000, type: .wc),
        MTRRRun(start: 0xBFE0_3000, end: 0xC000_0000, type: .wb),
        MTRRRun(start: 0xC000_0000, end: 0xC020_0000, type: .uc),
    ])
    // The first megabyte with fixed ranges on never maps as one 2 MiB leaf
    // unless every fixed byte and the rest of the block agree.
    let allWB = try MTRRState(defType: e | fe | 6, fixed: Array(repeating: 0x0606_0606_0606_0606, count: 11))
    #expect(allWB.maxMappingLevel(gpa: 0, requested: .size2M) == .size2M)
    let oneWC = try MTRRState(defType: e | fe | 6, fixed: Array(repeating: 0x0606_0606_0606_0606, count: 10) + [0x0606_0606_0606_0601])
    #expect(oneWC.maxMappingLevel(gpa: 0, requested: .size2M) == .size4K)
}

@Test func theBochsStoryReproduces() throws {
    // A self-snoop Sapphire Rapids host; an old guest's bochs driver maps its
    // framebuffer (RAM-backed, not MMIO) at 0xfd000000 through Linux PAT entry 2 (UC-).
    func decide(_ kernel: String, disable: QuirkMask = []) -> Decision {
        DecisionEngine.decide(DecisionRequest(
            kernel: .version(KernelVersion(kernel)!),
            host: HostProfile(vendor: .intel, selfSnoop: true, tdp: true, cpu: .sapphireRapids),
            vm: VMConfig(disabledQuirks: disable),
            vcpu: VCPUState(pat: .linux),
            access: GuestAccess(gpa: 0xFD00_0000, patIndex: PATIndex(2)!)))
    }
    let rc1 = decide("6.11-rc1")
    #expect(rc1.effective == .uc)
    #expect(rc1.warnings.contains { $0.code == "slow_uncached_ram" })

    for ok in [decide("6.15"), decide("6.16")] {
        #expect(ok.effective == .wb)
        #expect(ok.ept == EPTMemoryType(type: .wb, ipat: true))
        #expect(ok.warnings.isEmpty)
    }
    let disabled = decide("6.16", disable: .ignoreGuestPAT)
    #expect(disabled.effective == .uc)
    #expect(disabled.quirks.ignoreGuestPAT.state == .disabled)
    #expect(disabled.warnings.contains { $0.code == "slow_uncached_ram" })
    #expect(disabled.trace.rules == [.eHonorGuestPAT, .table11_7])
}

@Test func amdAndShadowPagingAnswerHonestly() {
    let amd = DecisionEngine.decide(DecisionRequest(host: HostProfile(vendor: .amd), vcpu: VCPUState(pat: .linux),
                                                    access: GuestAccess(patIndex: PATIndex(1)!)))
    #expect(amd.applicability == .npt && amd.ept == nil && amd.effective == .wc)
    #expect(!amd.assumptions.isEmpty)
    let amdMMIO = DecisionEngine.decide(DecisionRequest(host: HostProfile(vendor: .amd), access: GuestAccess(mmio: true)))
    #expect(amdMMIO.effective == nil)
    let shadow = DecisionEngine.decide(DecisionRequest(host: HostProfile(tdp: false)))
    #expect(shadow.applicability == .shadowPaging && shadow.ept == nil && shadow.effective == nil)
    #expect(shadow.quirks.ignoreGuestPAT.state == .forcedOn)
    let tdxPrivate = DecisionEngine.decide(DecisionRequest(vm: VMConfig(type: .tdx), access: GuestAccess(tdxPrivate: true)))
    #expect(tdxPrivate.applicability == .tdxPrivate && tdxPrivate.effective == .wb)
}

@Test func hugePageSplitIsWarnedInModelsAAndB() {
    let mtrr = try! MTRRState(defType: e | 6, variable: [r(0, 0x20_1000, 0x1000, .uc)])
    let d = DecisionEngine.decide(DecisionRequest(kernel: .model(.b), vm: VMConfig(noncoherentDMA: true),
                                                  vcpu: VCPUState(mtrr: mtrr), access: GuestAccess(gpa: 0x20_0000, level: .size2M)))
    #expect(d.maxMappingLevel == .size4K)
    #expect(d.warnings.contains(.hugePageSplit(requested: .size2M, mapped: .size4K)))
    #expect(d.trace.rules.contains(.mtrrHugePageSplit))
}

@Test func crossFieldValidation() {
    #expect(throws: DecisionInputError.self) { try DecisionRequest(host: HostProfile(vendor: .amd), vm: VMConfig(type: .tdx)).validate() }
    #expect(throws: DecisionInputError.self) { try DecisionRequest(host: HostProfile(selfSnoop: false), vm: VMConfig(type: .tdx)).validate() }
    #expect(throws: DecisionInputError.self) { try DecisionRequest(access: GuestAccess(tdxPrivate: true)).validate() }
    #expect(throws: DecisionInputError.self) { try DecisionRequest(access: GuestAccess(gpa: 1 << 46)).validate() }
    #expect(throws: DecisionInputError.self) { try DecisionRequest(vm: VMConfig(disabledQuirks: QuirkMask(rawValue: 1 << 20))).validate() }
}

@Test func kvmReadsUnalignedBasesAndHoledMasksAsIntervals() throws {
    // A base below its mask's size: the SDM matches [0xC0000000, 4 GiB) by
    // the mask, KVM the interval from the base itself.
    let unaligned = try MTRRState(defType: e | 6, variable: [VariableMTRR(physBase: 0xC000_1000 | 0, physMask: 0xF_C000_0800)], maxPhysAddr: 36)
    #expect(unaligned.variable[0].kvmInterval(maxPhysAddr: 36) == (0xC000_1000, 0x1_0000_0000))
    #expect(unaligned.kvmLookup(gpa: 0xC000_0000, cpuidMTRR: true).type == .wb)
    #expect(unaligned.sdmLookup(gpa: 0xC000_0000) == .type(.uc))
    #expect(unaligned.kvmLookup(gpa: 0xC000_1000, cpuidMTRR: true).type == .uc)
    // A mask with a hole (bit 29 clear, 1 GiB granules above): the SDM
    // matches two 256 MiB pieces; KVM one interval up to the ones it fills in.
    let holed = try MTRRState(defType: e | 6, variable: [VariableMTRR(physBase: 0 | 0, physMask: 0xF_D000_0800 & ~(1 << 29) | 1 << 28)], maxPhysAddr: 36)
    let (start, end) = holed.variable[0].kvmInterval(maxPhysAddr: 36)
    #expect(start == 0 && end == 0x3000_0000)  // bits 29 and 27:0 filled in: (0 | 0x2fffffff) + 1
    #expect(holed.kvmLookup(gpa: 0x2000_0000, cpuidMTRR: true).type == .uc)
    #expect(holed.sdmLookup(gpa: 0x2000_0000) == .type(.uc))
    #expect(holed.kvmLookup(gpa: 0x1000_0000, cpuidMTRR: true).type == .uc)
    #expect(holed.sdmLookup(gpa: 0x1000_0000) == .type(.wb))
}

@Test func kvmHugePageCheckComparesRawTypesNotResolvedOnes() throws {
    // Worked example 12's MTRRs: every page of [3 GiB, 3 GiB + 2 MiB) is WB
    // in KVM's walk, yet the block meets a UC and a WB range: 4 KiB leaves.
    let s = try MTRRState(defType: e | 6, variable: [r(0, 0, 1 << 32, .wb), r(1, 0xC000_0000, 1 << 30, .uc)])
    #expect(s.kvmLookup(gpa: 0xC000_0000, cpuidMTRR: true).type == .wb)
    #expect(s.kvmLookup(gpa: 0xC01F_F000, cpuidMTRR: true).type == .wb)
    #expect(!s.kvmRangeConsistent(blockStart: 0xC000_0000, shift: 21))
    #expect(s.maxMappingLevel(gpa: 0xC000_0000, requested: .size2M) == .size4K)
    // Below 3 GiB only the WB range: 1 GiB leaves.
    #expect(s.maxMappingLevel(gpa: 0x8000_0000, requested: .size1G) == .size1G)
}

@Test func kvmHugePageCheckCountsAHigherRangeStartingInsideTheBlockAsAGap() throws {
    // [0, 1 MiB) and [1 MiB, 2 MiB) both WB cover the 2 MiB block, but KVM
    // meets the higher one first and its coverage test, written for
    // ascending bases, sees a gap: with a UC default, 4 KiB leaves.
    let s = try MTRRState(defType: e | 0, variable: [r(0, 0, 1 << 20, .wb), r(1, 1 << 20, 1 << 20, .wb)])
    #expect(!s.kvmRangeConsistent(blockStart: 0, shift: 21))
    // With a WB default the "gap" has the same type: consistent.
    let wbDefault = try MTRRState(defType: e | 6, variable: [r(0, 0, 1 << 20, .wb), r(1, 1 << 20, 1 << 20, .wb)])
    #expect(wbDefault.kvmRangeConsistent(blockStart: 0, shift: 21))
}

@Test func classicFirmwareLayoutOn610MapsTheFramebufferWB() {
    // Issue 10's report: WB over 0-4 GiB, UC over 0xc0000000/1 GiB, 6.10 with
    // non-coherent DMA, the bochs framebuffer page. KVM 6.10 maps it WB (the
    // engine used to say UC), and says the SDM would give UC.
    let mtrr = try! MTRRState(defType: e | 6, variable: [r(0, 0, 1 << 32, .wb), r(1, 0xC000_0000, 1 << 30, .uc)])
    let d = DecisionEngine.decide(DecisionRequest(kernel: .version(KernelVersion("6.10")!), vm: VMConfig(noncoherentDMA: true),
                                                  vcpu: VCPUState(pat: .linux, mtrr: mtrr),
                                                  access: GuestAccess(gpa: 0xFD00_0000, patIndex: PATIndex(2)!)))
    #expect(d.model == .b)
    #expect(d.ept == EPTMemoryType(type: .wb, ipat: false))
    #expect(d.effective == .uc)  // guest UC- on an EPT WB row
    #expect(d.trace.rules.contains(.mtrrUCMetFirst))
    #expect(d.warnings.contains(.mtrrDiffersFromSDM(kvm: .wb, sdm: .type(.uc))))
}
