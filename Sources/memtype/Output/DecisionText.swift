import JSON

/// The one-screen answer to a decision (schema `Decision`, and `VMDecision`
/// with its `vm`): the effective type first, then how KVM and the CPU got
/// there.
enum DecisionText {
    static func render(_ d: JSONValue) -> String {
        var s = Summary()
        if let vm = d["vm"], !vm.isNull {
            s.add("vm", "\(vm["id"].text) (revision \(vm["revision"].text), baseline \(vm["baseline"].text))")
        }
        s.add("effective", d["effective"].text + (d["effective"]?.isNull == true ? " (not modelled here)" : ""))
        let ept = d["ept"]
        if let ept, !ept.isNull {
            s.add("EPT", "\(ept["type"].text)  IPAT=\(ept["ipat"]?.boolValue == true ? 1 : 0)  (leaf bits \(ept["bits"].text))")
        } else {
            s.add("EPT", "none (\(d["applicability"].text))")
        }
        s.add("guest PAT", "entry \(d[path: "guest_pat", "index"].text): \(d[path: "guest_pat", "type"].text)")
        if let cell = d["table_cell"], !cell.isNull {
            var text = "Table 11-7 row \(cell["row"].text) x column \(cell["column"].text) = \(cell["type"].text)"
            for note in cell["footnotes"].items { text += "\n(\(note["number"].text)) \(note["text"].text)" }
            s.add("cell", text)
        } else if d[path: "ept", "ipat"]?.boolValue == true {
            s.add("cell", "none: IPAT=1, the EPT type is the effective type")
        }
        s.add("model", "\(d[path: "model", "id"].text): \(d[path: "model", "title"].text) (kernel \(d[path: "model", "kernel"].text))")
        s.add("rules", d["trace"].items.map { "\($0["rule"].text): \($0["summary"].text)" }.joined(separator: "\n"))
        if let quirks = d["quirks"] { s.add("quirks", QuirkText.states(quirks)) }
        let warnings = d["warnings"].items
        s.add("warnings", warnings.isEmpty ? "none" : warnings.map { "\($0["code"].text): \($0["message"].text)" }.joined(separator: "\n"))
        let assumptions = d["assumptions"].items
        if !assumptions.isEmpty {
            s.add("assumptions", assumptions.map { $0["message"]?.text ?? $0.text }.joined(separator: "\n"))
        }
        return s.rendered
    }
}

/// A quirk evaluation (schema `QuirkEvaluation`) in a few lines.
enum QuirkText {
    static func states(_ q: JSONValue) -> String {
        var lines = q["states"].members.map { name, state in
            "\(name) \(state["state"].text) (\(state["reason"].text))"
        }
        let cap = q["enable_cap"]
        var call = "KVM_ENABLE_CAP(\(cap["cap"].text), \(cap["mask"].text))"
        if let error = cap?["error"], !error.isNull { call += " fails with \(error.text); would succeed with \(cap["mask_to_apply"].text)" }
        lines.append(call + "; disabled afterwards \(q["disabled"].text)")
        return lines.joined(separator: "\n")
    }
}
