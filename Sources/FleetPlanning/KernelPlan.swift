import MemTypeEngine

/// What keeps a VM's behaviour across a change of kernel.
public enum PlanAction: Sendable, Hashable {
    /// Nothing to do: the VM behaves the same and its VMM's call succeeds.
    case none
    /// Move the VM to this baseline (its mask keeps the behaviour).
    case baselineMove(baseline: String, mask: QuirkMask)
    /// Store this KVM_CAP_DISABLE_QUIRKS2 mask for the VM (no baseline has it).
    case setMask(QuirkMask)
    /// No mask keeps it; why.
    case cannotKeep(String)

    public var kind: String {
        switch self {
        case .none: "none"
        case .baselineMove: "baseline_move"
        case .setMask: "set_mask"
        case .cannotKeep: "cannot_keep"
        }
    }

    /// The mask the action stores, if it stores one.
    public var mask: QuirkMask? {
        switch self {
        case .baselineMove(_, let mask), .setMask(let mask): mask
        case .none, .cannotKeep: nil
        }
    }

    public var detail: String {
        switch self {
        case .none: "nothing changes for this VM"
        case .baselineMove(let name, let mask):
            "move the VM to baseline \(name) (mask \(String(format0x: mask.rawValue))): with it the VM keeps its memory types and the VMM's call succeeds"
        case .setMask(let mask):
            "store the quirk mask \(String(format0x: mask.rawValue)) (\(mask.quirks.map(\.name).joined(separator: ", "))) for the VM: with it the VM keeps its memory types and the VMM's call succeeds"
        case .cannotKeep(let why): "cannot keep: " + why
        }
    }
}

/// One VM's line in a kernel plan.
public struct PlanItem: Sendable {
    public let before: Behaviour
    public let after: Behaviour
    public let changes: [BehaviourChange]
    public let action: PlanAction
}

/// A kernel change for the VMs of one host: each VM config's behaviour on
/// the host's current kernel and on the new one, the changes, and the
/// action that keeps the old behaviour. Many VMs share a config, so each
/// distinct config is planned once (`plan` memoizes).
public struct KernelPlanner: Sendable {
    public let before: Placement
    public let after: Placement
    /// The baselines a VM may be moved to (name, mask), in preference order.
    public let baselines: [(name: String, mask: QuirkMask)]
    private var memo: [VMConfig: PlanItem] = [:]

    public init(host: HostProfile, from: KernelSelection, to: KernelSelection, baselines: [(name: String, mask: QuirkMask)]) {
        before = Placement(host: host, kernel: from)
        after = Placement(host: host, kernel: to)
        self.baselines = baselines
    }

    public mutating func plan(_ vm: VMConfig) -> PlanItem {
        if let known = memo[vm] { return known }
        let b = Behaviour(vm: vm, on: before), a = Behaviour(vm: vm, on: after)
        let changes = BehaviourChange.between(b, a)
        let item = PlanItem(before: b, after: a, changes: changes, action: action(before: b, after: a, changes: changes))
        memo[vm] = item
        return item
    }

    /// The first mask that, on the new kernel, keeps the old memory types
    /// and is accepted by KVM: a catalogue baseline's first (a recorded,
    /// named move), then the VM's own mask less what KVM refuses, then its
    /// mask with IGNORE_GUEST_PAT or CD_NW_CLEARED (the quirks the rules
    /// read) flipped.
    func action(before b: Behaviour, after a: Behaviour, changes: [BehaviourChange]) -> PlanAction {
        if changes.isEmpty && !a.enableCapFails { return .none }
        let vm = a.vm
        var candidates: [QuirkMask] = baselines.map(\.mask)
        candidates.append(a.quirks.applicableRequest)
        for flip in [QuirkMask.ignoreGuestPAT, .cdNwCleared, [.ignoreGuestPAT, .cdNwCleared]] {
            candidates.append(vm.disabledQuirks.symmetricDifference(flip))
        }
        for mask in candidates where mask != vm.disabledQuirks {
            var candidate = vm
            candidate.disabledQuirks = mask
            let c = Behaviour(vm: candidate, on: after)
            guard c.refusal == nil, !c.enableCapFails, c.sameMemoryTypes(as: b) else { continue }
            if let baseline = baselines.first(where: { $0.mask == mask }) {
                return .baselineMove(baseline: baseline.name, mask: mask)
            }
            return .setMask(mask)
        }
        // The behaviour is kept already (the call failed before too): no better mask exists.
        if changes.isEmpty { return .none }
        return .cannotKeep(whyNot(before: b, after: a))
    }

    private func whyNot(before b: Behaviour, after a: Behaviour) -> String {
        if let refusal = a.refusal { return "the VM cannot run after the change: \(refusal)" }
        let igp = a.quirks.ignoreGuestPAT
        let kernel = after.kernel.version.map { "kernel \($0)" } ?? "model \(after.model.rawValue)"
        switch (igp.state, igp.reason) {
        case (.inapplicable, .notInKernel):
            return "\(kernel) has no IGNORE_GUEST_PAT quirk (c9c1e20b4c7d, v6.16), so no mask selects the VM's old memory types there: \(after.model.title)"
        case (.forcedOn, _), (.disabled, .tdxForcesDisabled), (.inapplicable, .amdHonorsGuestPAT):
            return "on \(kernel) IGNORE_GUEST_PAT cannot be changed for this VM: " + igp.reason.explanation
        default:
            return "no quirk mask reproduces the VM's memory types on \(kernel) (model \(after.model.rawValue): \(after.model.title))"
        }
    }
}
