import MemTypeEngine

/// Whether a VM can move to another placement and keep its behaviour: what
/// a scheduler asks before a live migration (`GET /v1/vms/{id}/placements`).
public struct PlacementVerdict: Sendable {
    /// The VM on its own host, and on the candidate.
    public let home: Behaviour
    public let there: Behaviour
    public let changes: [BehaviourChange]
    /// True when the VM behaves there as at home (same enable-cap outcome,
    /// same memory types at every probe) and the enable-cap call succeeds there.
    public let compatible: Bool
    /// Why, in words; never empty.
    public let reasons: [String]

    public init(home: Behaviour, there: Behaviour) {
        self.home = home
        self.there = there
        changes = BehaviourChange.between(home, there)
        var reasons: [String] = []
        if let refusal = there.refusal {
            reasons.append("the VM cannot run there: \(refusal)")
        } else if let refusal = home.refusal {
            reasons.append("the VM cannot run on its own host (\(refusal)), so there is no behaviour to keep")
        }
        if there.enableCapFails {
            reasons.append(Self.einval(there.quirks) + " there")
        }
        if home.enableCapFails != there.enableCapFails {
            reasons.append(home.enableCapFails
                ? "the VMM's KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2) fails on its own host but succeeds there: the quirks it disables differ"
                : "the VMM's KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2) succeeds on its own host but fails there")
        }
        let differences = there.differences(from: home)
        if let first = differences.first {
            reasons.append("\(differences.count) of \(ProbeSet.probes(for: home.vm.type).count) probes get other memory types, e.g. \(first.probe): \(first.here) there, \(first.there) on its own host")
        }
        compatible = home.behavesLike(there) && !there.enableCapFails && there.refusal == nil
        if compatible {
            reasons.append("same KVM_CAP_DISABLE_QUIRKS2 outcome and the same memory types at all \(ProbeSet.probes(for: home.vm.type).count) probes")
        }
        self.reasons = reasons
    }

    /// "KVM_ENABLE_CAP(...) fails with EINVAL: bits ... are not supported (why)".
    static func einval(_ q: QuirkEvaluation) -> String {
        var text = "KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, \(String(format0x: q.requested.rawValue))) fails with EINVAL: \(q.refused.quirks.map(\.name).joined(separator: ", ")) not supported"
        if q.refused.contains(.ignoreGuestPAT) {
            text += " (" + q.ignoreGuestPAT.reason.explanation + ")"
        }
        return text
    }
}
