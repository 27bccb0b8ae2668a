import Testing
@testable import MemTypeEngine

@Test(arguments: [
    ("6.6", KVMModel.a), ("5.15.0", .a), ("v6.6.30", .a),
    ("6.7-rc1", .b), ("6.7", .b), ("v6.10.3", .b), ("6.10-rc7", .b),
    ("6.11-rc1", .c), ("6.11-rc2", .c), ("6.11-rc7", .c),
    ("6.11", .d), ("6.11.0", .d), ("6.12.30", .d), ("6.15.9", .d), ("6.8.0-45-generic", .b),
    ("6.16-rc1", .e), ("6.16", .e), ("6.18.1", .e), ("7.0", .e),
    // The 6.12 stable backport of IGNORE_GUEST_PAT: from 6.12.78.
    ("6.12.77", .d), ("6.12.78", .e), ("v6.12.90", .e), ("6.13", .d), ("6.13.78", .d),
])
func kernelSelectsModel(text: String, model: KVMModel) throws {
    let v = try #require(KernelVersion(text))
    #expect(KVMModel(kernel: v) == model)
}

@Test(arguments: ["", "6", "6.", "six.six", "6.11-rc0", "6.11-rc", "6.6x", "6..6", "-6.6", "6.6.6.6"])
func invalidKernelVersions(text: String) {
    #expect(KernelVersion(text) == nil)
}

@Test func kernelOrdering() {
    #expect(KernelVersion("6.11-rc7")! < KernelVersion("6.11")!)
    #expect(KernelVersion("6.11")! < KernelVersion("6.11.1")!)
    #expect(KernelVersion("6.10.99")! < KernelVersion("6.11-rc1")!)
    #expect(KernelVersion("v6.10.3")!.description == "6.10.3")
}

@Test func quirkNamesAndBits() {
    #expect(Quirk.allCases.count == 12)
    #expect(Quirk.ignoreGuestPAT.mask.rawValue == 0x200)
    #expect(Quirk.cdNwCleared.mask.rawValue == 0x2)
    #expect(Quirk(name: "KVM_X86_QUIRK_IGNORE_GUEST_PAT") == .ignoreGuestPAT)
    #expect(Quirk(name: "cd_nw_cleared") == .cdNwCleared)
    #expect(Quirk(name: "NOPE") == nil)
    #expect(QuirkMask(rawValue: 0x1000).unknownBits == 0x1000)
}

/// Every quirk state with its reason, one row each:
/// (model, vendor, self-snoop, tdp, vm type, requested) -> IGP, CDNW, EINVAL.
struct QuirkCase: Sendable, CustomTestStringConvertible {
    let model: KVMModel, vendor: Vendor, ss: Bool, tdp: Bool, type: VMType, requested: QuirkMask
    let igp: (QuirkState, QuirkReason), cdnw: (QuirkState, QuirkReason), fails: Bool, supported: UInt64
    var testDescription: String { "\(model) \(vendor) ss=\(ss) tdp=\(tdp) \(type) req=\(requested.rawValue)" }
}

private let igpMask = QuirkMask.ignoreGuestPAT, cdnwMask = QuirkMask.cdNwCleared
let quirkCases: [QuirkCase] = [
    QuirkCase(model: .e, vendor: .intel, ss: true, tdp: true, type: .regular, requested: [],
              igp: (.enabled, .defaultOn), cdnw: (.inapplicable, .noCR0CDEmulation), fails: false, supported: 0x3FF),
    QuirkCase(model: .e, vendor: .intel, ss: true, tdp: true, type: .regular, requested: igpMask,
              igp: (.disabled, .disabledOnRequest), cdnw: (.inapplicable, .noCR0CDEmulation), fails: false, supported: 0x3FF),
    QuirkCase(model: .e, vendor: .intel, ss: false, tdp: true, type: .regular, requested: igpMask,
              igp: (.forcedOn, .noSelfSnoop), cdnw: (.inapplicable, .noCR0CDEmulation), fails: true, supported: 0x1FF),
    QuirkCase(model: .e, vendor: .intel, ss: true, tdp: false, type: .regular, requested: [],
              igp: (.forcedOn, .shadowPaging), cdnw: (.inapplicable, .noCR0CDEmulation), fails: false, supported: 0x1FF),
    QuirkCase(model: .e, vendor: .intel, ss: true, tdp: true, type: .tdx, requested: [],
              igp: (.disabled, .tdxForcesDisabled), cdnw: (.inapplicable, .noCR0CDEmulation), fails: false, supported: 0x3FF),
    QuirkCase(model: .e, vendor: .amd, ss: true, tdp: true, type: .regular, requested: igpMask,
              igp: (.inapplicable, .amdHonorsGuestPAT), cdnw: (.enabled, .defaultOn), fails: false, supported: 0x3FF),
    QuirkCase(model: .e, vendor: .amd, ss: true, tdp: true, type: .regular, requested: cdnwMask,
              igp: (.inapplicable, .amdHonorsGuestPAT), cdnw: (.disabled, .disabledOnRequest), fails: false, supported: 0x3FF),
    // Another refused bit makes the whole request fail: CD_NW_CLEARED stays enabled.
    QuirkCase(model: .a, vendor: .amd, ss: true, tdp: true, type: .regular, requested: [cdnwMask, igpMask],
              igp: (.inapplicable, .notInKernel), cdnw: (.enabled, .requestRefused), fails: true, supported: 0x7F),
    QuirkCase(model: .a, vendor: .intel, ss: true, tdp: true, type: .regular, requested: cdnwMask,
              igp: (.inapplicable, .notInKernel), cdnw: (.disabled, .disabledOnRequest), fails: false, supported: 0x7F),
    QuirkCase(model: .b, vendor: .intel, ss: true, tdp: true, type: .regular, requested: [],
              igp: (.inapplicable, .notInKernel), cdnw: (.enabled, .defaultOn), fails: false, supported: 0x7F),
    QuirkCase(model: .d, vendor: .intel, ss: true, tdp: true, type: .regular, requested: igpMask,
              igp: (.inapplicable, .notInKernel), cdnw: (.inapplicable, .noCR0CDEmulation), fails: true, supported: 0x7F),
    QuirkCase(model: .e, vendor: .intel, ss: true, tdp: true, type: .regular, requested: Quirk.nestedSVMSharedPAT.mask,
              igp: (.enabled, .defaultOn), cdnw: (.inapplicable, .noCR0CDEmulation), fails: true, supported: 0x3FF),
]

@Test(arguments: quirkCases)
func quirkState(_ c: QuirkCase) {
    let q = QuirkEvaluator.evaluate(model: c.model, kernel: nil,
                                    host: HostProfile(vendor: c.vendor, selfSnoop: c.ss, tdp: c.tdp),
                                    vm: VMConfig(type: c.type, disabledQuirks: c.requested))
    #expect(q.ignoreGuestPAT.state == c.igp.0)
    #expect(q.ignoreGuestPAT.reason == c.igp.1)
    #expect(q.cdNwCleared.state == c.cdnw.0)
    #expect(q.cdNwCleared.reason == c.cdnw.1)
    #expect(q.enableCapFails == c.fails)
    #expect(q.supported.rawValue == c.supported)
    #expect(q.applicableRequest.isSubset(of: q.supported))
}

@Test func supportedMaskGrowsWithTheKernel() {
    let host = HostProfile()
    let v611 = QuirkEvaluator.evaluate(model: .d, kernel: KernelVersion("6.11"), host: host, vm: VMConfig())
    let v612 = QuirkEvaluator.evaluate(model: .d, kernel: KernelVersion("6.12.5"), host: host, vm: VMConfig())
    #expect(v611.supported.rawValue == 0x7F)
    #expect(v612.supported.rawValue == 0x1FF)
}

@Test func disabledAtCreationInModelE() {
    let intel = QuirkEvaluator.evaluate(model: .e, kernel: nil, host: HostProfile(), vm: VMConfig())
    #expect(intel.disabled == .cdNwCleared)
    let amd = QuirkEvaluator.evaluate(model: .e, kernel: nil, host: HostProfile(vendor: .amd), vm: VMConfig())
    #expect(amd.disabled == .ignoreGuestPAT)
    let tdx = QuirkEvaluator.evaluate(model: .e, kernel: nil, host: HostProfile(), vm: VMConfig(type: .tdx))
    #expect(tdx.disabled.contains(.ignoreGuestPAT))
}

/// 9966b7822b3f made KVM_CAP_DISABLE_QUIRKS2 cumulative (model E, 6.12.78
/// included): a second call cannot re-enable a quirk. Before it, each call
/// replaced the disabled set.
@Test func disablingQuirksIsCumulativeFromTheReleaseThatHasIt() {
    let supported = QuirkMask(rawValue: 0x3FF)
    let once = QuirkEvaluator.disableQuirks2(.ignoreGuestPAT, disabled: [], supported: supported, cumulative: true)
    #expect(once == .ignoreGuestPAT)
    let again = QuirkEvaluator.disableQuirks2([], disabled: once!, supported: supported, cumulative: true)
    #expect(again == .ignoreGuestPAT)
    let other = QuirkEvaluator.disableQuirks2(.cdNwCleared, disabled: once!, supported: supported, cumulative: true)
    #expect(other == [.ignoreGuestPAT, .cdNwCleared])
    // Before: the second call's mask is the new set.
    #expect(QuirkEvaluator.disableQuirks2([], disabled: .cdNwCleared, supported: QuirkMask(rawValue: 0x7F), cumulative: false) == [])
    // EINVAL changes nothing (nil).
    #expect(QuirkEvaluator.disableQuirks2(.ignoreGuestPAT, disabled: [], supported: QuirkMask(rawValue: 0x1FF), cumulative: true) == nil)
    #expect(KVMModel.e.disablingQuirksIsCumulative && !KVMModel.d.disablingQuirksIsCumulative)
    // The evaluation uses it: on a 6.12.78 Intel host a request without
    // CD_NW_CLEARED cannot undo what KVM disabled at VM creation.
    let q = QuirkEvaluator.evaluate(model: KVMModel(kernel: KernelVersion("6.12.78")!), kernel: KernelVersion("6.12.78"),
                                    host: HostProfile(), vm: VMConfig(disabledQuirks: .ignoreGuestPAT))
    #expect(q.disabled == [.ignoreGuestPAT, .cdNwCleared])
    #expect(q.ignoreGuestPAT.state == .disabled)
}
