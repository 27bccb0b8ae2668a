import FleetPlanning
import MemTypeEngine

extension HostSpec {
    /// The engine request for a VM (its engine config) on this host: the
    /// host's kernel selection and profile, the given vCPU and access.
    public func decisionRequest(_ vm: VMConfig, vcpu: VCPUState = VCPUState(),
                                access: GuestAccess = GuestAccess()) -> DecisionRequest {
        DecisionRequest(kernel: kernelSelection, host: hostProfile, vm: vm, vcpu: vcpu, access: access)
    }

    /// The placement this host gives a VM: its profile and kernel selection.
    public var placement: Placement { Placement(host: hostProfile, kernel: kernelSelection) }
}

/// What moving a VM from one quirk mask to another (a baseline move)
/// changes for decisions on its host: the quirk evaluation before and after
/// (states, and whether KVM_ENABLE_CAP would fail), and the bochs probe's
/// decision before and after. Pure: engine calls only, no store access.
public struct BaselineMoveEffect: Sendable {
    /// The bochs framebuffer access (`BochsProbe`), the case a move of
    /// IGNORE_GUEST_PAT is about.
    public static let probeAccess = BochsProbe.access
    public static let probePAT = BochsProbe.pat
    public static let probeDescription = BochsProbe.description

    public let selection: KernelSelection
    public let quirksBefore: QuirkEvaluation
    public let quirksAfter: QuirkEvaluation
    /// The probe with CR0.CD clear, before and after.
    public let probeBefore: Decision
    public let probeAfter: Decision
    /// Whether any access can get a different EPT type, IPAT or effective
    /// type: the probe is decided with CR0.CD clear and set, which reaches
    /// every rule that reads a quirk.
    public let memoryTypesChange: Bool

    public init(before: VMConfig, after: VMConfig, host: HostSpec) {
        selection = host.kernelSelection
        let profile = host.hostProfile
        quirksBefore = QuirkEvaluator.evaluate(model: selection.model, kernel: selection.version, host: profile, vm: before)
        quirksAfter = QuirkEvaluator.evaluate(model: selection.model, kernel: selection.version, host: profile, vm: after)
        func probe(_ vm: VMConfig, cr0CD: Bool) -> Decision {
            DecisionEngine.decide(host.decisionRequest(vm, vcpu: VCPUState(cr0CD: cr0CD, pat: Self.probePAT), access: Self.probeAccess))
        }
        probeBefore = probe(before, cr0CD: false)
        probeAfter = probe(after, cr0CD: false)
        let cdBefore = probe(before, cr0CD: true), cdAfter = probe(after, cr0CD: true)
        memoryTypesChange = probeBefore.ept != probeAfter.ept || probeBefore.effective != probeAfter.effective
            || cdBefore.ept != cdAfter.ept || cdBefore.effective != cdAfter.effective
    }
}
