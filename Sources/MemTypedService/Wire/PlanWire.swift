import FleetPlanning
import JSON
import MemTypeEngine
import VMStore

/// The wire format of fleet planning (openapi.yaml: `KernelPlanPage`,
/// `PlacementList`, `RiskPage`, `BochsRisk`): the encoders of
/// `FleetPlanning`'s answers. Members are named here once. A member that
/// does not apply is left out rather than written as null (the schemas list
/// it as optional), except where a shared schema (`ProbeOutcome`,
/// `NextCursor`) says null.
enum PlanWire {
    /// `{"model", "kernel"}`: which rules a placement runs.
    static func writeKernel(_ p: Placement, to w: inout JSONWriter) {
        w.beginObject()
        writeKernelMembers(p, to: &w)
        w.endObject()
    }

    private static func writeKernelMembers(_ p: Placement, to w: inout JSONWriter) {
        w.member("model", p.model.rawValue)
        if let v = p.kernel.version {
            w.key("kernel")
            w.string(v.description)
        }
    }

    /// One side of a plan: the model, the enable-cap outcome and the bochs
    /// probe. A plan item leaves out the kernel (`withKernel: false`): its
    /// page names it once, in `before` and `after`.
    static func writeSide(_ b: Behaviour, withKernel: Bool = true, to w: inout JSONWriter) {
        w.beginObject()
        if withKernel {
            writeKernelMembers(b.placement, to: &w)
        } else {
            w.member("model", b.placement.model.rawValue)
        }
        w.key("enable_cap")
        writeEnableCap(b.quirks, to: &w)
        if let o = b.bochs {
            w.key("bochs_probe")
            writeOutcome(o, to: &w)
        }
        if let r = b.refusal { w.member("refusal", r) }
        w.endObject()
    }

    /// `KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, mask)` as `kvm-quirks` reports it, in brief.
    static func writeEnableCap(_ q: QuirkEvaluation, to w: inout JSONWriter) {
        w.beginObject()
        VMWire.writeMask(q.requested, key: "mask", namesKey: "names", to: &w)
        w.member("fails", q.enableCapFails)
        if q.enableCapFails { w.member("error", "EINVAL") }
        VMWire.writeMask(q.refused, key: "refused", namesKey: "refused_names", to: &w)
        w.endObject()
    }

    /// `{"ept", "ipat", "effective"}` (null where the engine sets none).
    static func writeOutcome(_ o: ProbeOutcome, to w: inout JSONWriter) {
        w.beginObject()
        w.key("ept")
        if let ept = o.ept { w.string(ept.type.name) } else { w.null() }
        w.key("ipat")
        if let ept = o.ept { w.bool(ept.ipat) } else { w.null() }
        w.key("effective")
        if let e = o.effective { w.string(e.name) } else { w.null() }
        w.endObject()
    }

    static func writeChanges(_ changes: [BehaviourChange], to w: inout JSONWriter) {
        w.beginArray()
        for c in changes { w.string(c.rawValue) }
        w.endArray()
    }

    static func writeAction(_ a: PlanAction, to w: inout JSONWriter) {
        w.beginObject()
        w.member("kind", a.kind)
        if case .baselineMove(let name, _) = a { w.member("baseline", name) }
        if let mask = a.mask { w.member("disabled_quirks", hex: mask.rawValue) }
        if case .cannotKeep(let why) = a { w.member("reason", why) }
        w.endObject()
    }

    /// A plan item's members after `vm`, encoded once per distinct VM config
    /// and spliced into every item that shares it (`JSONWriter.rawMembers`).
    static func encodedPlanMembers(_ item: PlanItem) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("before")
        writeSide(item.before, withKernel: false, to: &w)
        w.key("after")
        writeSide(item.after, withKernel: false, to: &w)
        w.key("changes")
        writeChanges(item.changes, to: &w)
        w.key("action")
        writeAction(item.action, to: &w)
        w.endObject()
        return Array(w.bytes.dropFirst().dropLast())  // the members, without the braces
    }

    /// `{"vms", "unchanged", "changes": {"memory_types", "enable_cap_fails"}, "actions": {...}}`.
    static func writeSummary(_ counts: [(PlanItem, Int)], to w: inout JSONWriter) {
        var total = 0, unchanged = 0
        var byChange: [BehaviourChange: Int] = [:]
        var byAction: [String: Int] = [:]
        for (item, n) in counts {
            total += n
            if item.changes.isEmpty { unchanged += n }
            for c in item.changes { byChange[c, default: 0] += n }
            byAction[item.action.kind, default: 0] += n
        }
        w.beginObject()
        w.member("vms", total)
        w.member("unchanged", unchanged)
        w.key("changes")
        w.beginObject()
        for c in BehaviourChange.allCases {
            w.key(c.rawValue)
            w.int(byChange[c] ?? 0)
        }
        w.endObject()
        w.key("actions")
        w.beginObject()
        for kind in ["none", "baseline_move", "set_mask", "cannot_keep"] {
            w.key(kind)
            w.int(byAction[kind] ?? 0)
        }
        w.endObject()
        w.endObject()
    }

    static func writeVerdict(name: String, current: Bool, _ v: PlacementVerdict, to w: inout JSONWriter) {
        w.beginObject()
        w.member("host_profile", name)
        w.member("current", current)
        writeKernelMembers(v.there.placement, to: &w)
        w.member("compatible", v.compatible)
        w.key("changes")
        writeChanges(v.changes, to: &w)
        w.key("enable_cap")
        writeEnableCap(v.there.quirks, to: &w)
        w.key("reasons")
        w.beginArray()
        for r in v.reasons { w.string(r) }
        w.endArray()
        w.endObject()
    }

    /// A bochs risk's members (into an open object): what `GET /v1/risks`
    /// lists and what per-VM decisions and VM writes carry in `risks`.
    static func writeRiskMembers(_ r: BochsRisk, to w: inout JSONWriter) {
        w.member("code", BochsRisk.code)
        w.member("severity", r.severity.rawValue)
        w.key("display_devices")
        w.beginArray()
        for d in r.devices { w.string(d) }
        w.endArray()
        w.key("probe")
        writeOutcome(r.probe, to: &w)
        w.key("reasons")
        w.beginArray()
        for s in r.reasons { w.string(s) }
        w.endArray()
        w.key("fix")
        w.beginArray()
        for f in r.fixes {
            w.beginObject()
            w.member("kind", f.kind)
            if case .baseline(let name) = f { w.member("baseline", name) }
            w.member("detail", f.detail)
            w.endObject()
        }
        w.endArray()
    }

    /// `"risks": [...]`: zero or one bochs risk.
    static func writeRisks(_ risk: BochsRisk?, to w: inout JSONWriter) {
        w.key(ReadOnlyKey.risks.rawValue)
        w.beginArray()
        if let risk {
            w.beginObject()
            writeRiskMembers(risk, to: &w)
            w.endObject()
        }
        w.endArray()
    }

    /// One item of `GET /v1/risks`.
    static func writeRiskItem(_ r: VMRecord, _ risk: BochsRisk, to w: inout JSONWriter) {
        w.beginObject()
        w.member("vm", r.id)
        if let p = r.host.profileName { w.member("host_profile", p) }
        w.member("baseline", r.baseline)
        if let g = r.guestKernel { w.member("guest_kernel", g) }
        writeRiskMembers(risk, to: &w)
        w.endObject()
    }
}
