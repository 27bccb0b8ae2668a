import JSON
import MemTypeEngine

/// Records flattened to (JSON pointer, string value) pairs, for history diffs.
extension VMRecord {
    /// Every field except id, revision and timestamps, in a fixed order.
    /// Every known quirk appears, so a history entry states each decision explicitly.
    public var flattenedFields: [(field: String, value: String)] {
        var out: [(String, String)] = [("/baseline", baseline)]
        for q in Quirk.allCases { out.append(("/quirks/\(q.name)", choice(for: q).rawValue)) }
        switch host {
        case .profile(let name): out.append(("/host_profile", name))
        case .inline(let spec): out += spec.flattenedFields(prefix: "/host")
        }
        out.append(("/type", type.rawValue))
        out.append(("/noncoherent_dma", String(noncoherentDMA)))
        out.append(("/display_devices", displayDevices.joined(separator: ",")))
        if let guestKernel { out.append(("/guest_kernel", guestKernel)) }
        if let guestBochsFix { out.append(("/guest_bochs_fix", String(guestBochsFix))) }
        for key in labels.keys.sorted() { out.append(("/labels/\(JSONPointer.escape(key))", labels[key]!)) }
        return out
    }
}

extension HostSpec {
    public func flattenedFields(prefix: String = "") -> [(field: String, value: String)] {
        var out: [(String, String)] = [
            ("\(prefix)/vendor", vendor.rawValue),
            ("\(prefix)/self_snoop", String(selfSnoop)),
            ("\(prefix)/tdp", String(tdp)),
        ]
        if let cpu {
            out.append(("\(prefix)/cpu/family", String(cpu.family)))
            out.append(("\(prefix)/cpu/model", String(cpu.model)))
            if let s = cpu.stepping { out.append(("\(prefix)/cpu/stepping", String(s))) }
        }
        if let kernel { out.append(("\(prefix)/kernel", kernel)) }
        if let kvmModel { out.append(("\(prefix)/kvm_model", kvmModel.rawValue)) }
        return out
    }
}

/// Stored strings compare byte for byte. Swift's `==` on String is canonical
/// equivalence ("é" precomposed equals e + U+0301), but the bytes are what is
/// stored, answered and matched by the SQL label filters: two spellings that
/// differ there are two values, and a change from one to the other is a change.
func sameBytes(_ a: String?, _ b: String?) -> Bool {
    switch (a, b) {
    case (nil, nil): true
    case let (a?, b?): a.utf8.elementsEqual(b.utf8)
    default: false
    }
}

/// Labels, values byte for byte (keys are ASCII, where `==` is bytes already).
func sameBytes(_ a: [String: String], _ b: [String: String]) -> Bool {
    a.count == b.count && a.allSatisfy { sameBytes($0.value, b[$0.key]) }
}

/// Field-level differences between two flattened states (nil: absent).
public func fieldChanges(from old: [(field: String, value: String)]?, to new: [(field: String, value: String)]?) -> [FieldChange] {
    let old = old ?? [], new = new ?? []
    var newValues: [String: String] = [:]
    for (f, v) in new { newValues[f] = v }
    var oldValues: [String: String] = [:]
    var out: [FieldChange] = []
    for (f, v) in old {
        oldValues[f] = v
        let n = newValues[f]
        if !sameBytes(n, v) { out.append(FieldChange(field: f, old: v, new: n)) }
    }
    for (f, v) in new where oldValues[f] == nil { out.append(FieldChange(field: f, old: nil, new: v)) }
    return out
}
