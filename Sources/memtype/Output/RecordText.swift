import JSON

/// The store's records as text: one VM or host profile as a summary,
/// listings as tables, from the JSON the server answers.
enum RecordText {
    /// The quirks a record disables, by name, from its `quirks` choices.
    static func disabledNames(_ quirks: JSONValue?) -> String {
        let names = quirks.members.filter { $0.value.stringValue == "disable" }.map(\.key)
        return names.isEmpty ? "none" : names.joined(separator: ", ")
    }

    static func hostLine(_ h: JSONValue?) -> String {
        guard let h, !h.isNull else { return "-" }
        var parts = [h["vendor"].text]
        if h["self_snoop"]?.boolValue == true { parts.append("self-snoop") }
        if h["tdp"]?.boolValue == false { parts.append("shadow paging") }
        if let cpu = h["cpu"], !cpu.isNull {
            parts.append("cpu \(cpu["family"].text)/\(cpu["model"].text)" + (cpu["stepping"]?.isNull == false ? "/\(cpu["stepping"].text)" : ""))
        }
        if h["kernel"]?.isNull == false { parts.append("kernel \(h["kernel"].text)") }
        if h["kvm_model"]?.isNull == false { parts.append("model \(h["kvm_model"].text)") }
        return parts.joined(separator: ", ")
    }

    static func labels(_ l: JSONValue?) -> String {
        let pairs = l.members.map { "\($0.key)=\($0.value.text)" }
        return pairs.isEmpty ? "-" : pairs.joined(separator: " ")
    }

    static func vm(_ v: JSONValue) -> String {
        var s = Summary()
        s.add("vm", "\(v["id"].text) (revision \(v["revision"].text))")
        s.add("baseline", v["baseline"].text)
        s.add("disabled quirks", "\(v["disabled_quirks"].text) (\(disabledNames(v["quirks"])))")
        if v["host_profile"]?.isNull == false {
            s.add("host", "profile \(v["host_profile"].text)")
        } else {
            s.add("host", hostLine(v["host"]))
        }
        s.add("type", v["type"].text + (v["noncoherent_dma"]?.boolValue == true ? ", non-coherent DMA" : ""))
        let displays = v["display_devices"].items.map(\.text)
        s.add("display", displays.isEmpty ? "none" : displays.joined(separator: ", "))
        s.add("guest kernel", v["guest_kernel"].text)
        s.add("labels", labels(v["labels"]))
        if let applied = v["applied_revision"] {
            // applied_at is null for a start recorded before the server kept its time.
            let when = v["applied_at"].flatMap { $0.isNull ? nil : " on \($0.text)" } ?? ""
            s.add("started at", applied.isNull ? "never reported" : "revision \(applied.text)\(when)"
                  + (v["restart_required"]?.boolValue == true ? "; quirks changed since: restart required" : ""))
        }
        for (key, value) in v.members where !["id", "revision", "baseline", "disabled_quirks", "quirks", "host", "host_profile",
                                                "type", "noncoherent_dma", "display_devices", "guest_kernel", "labels",
                                                "applied_revision", "applied_at", "restart_required", "created_at", "updated_at"].contains(key) {
            s.add(key.replacingUnderscores, value.text)  // members added to VM since this renderer
        }
        s.add("updated", "\(v["updated_at"].text) (created \(v["created_at"].text))")
        return s.rendered
    }

    static func vmList(_ page: JSONValue) -> String {
        var t = TextTable("ID", "BASELINE", "DISABLED", "HOST", "DISPLAY", "LABELS", "REV", "RESTART")
        for v in page["items"].items {
            let host = v["host_profile"]?.isNull == false ? v["host_profile"].text : "inline: " + hostLine(v["host"])
            t.add(v["id"].text, v["baseline"].text, v["disabled_quirks"].text, host,
                  v["display_devices"].items.map(\.text).joined(separator: ","), labels(v["labels"]), v["revision"].text,
                  v["restart_required"]?.boolValue == true ? "required" : "-")
        }
        return t.rendered + nextPage(page)
    }

    static func nextPage(_ page: JSONValue) -> String {
        page["next_cursor"]?.stringValue.map { "\nmore: --cursor \($0)" } ?? ""
    }

    static func history(_ page: JSONValue) -> String {
        var t = TextTable("SEQ", "REV", "ACTION", "ACTOR", "AT", "CHANGES")
        for e in page["items"].items {
            let changes = e["changes"].items.map { "\($0["field"].text): \(compact($0["old"])) -> \(compact($0["new"]))" }
            // A create lists every member; the record itself (vm get) shows them better.
            let shown = changes.count > 4 ? "\(changes.count) fields set" : changes.joined(separator: "; ")
            t.add(e["sequence"].text, e["revision"].text, e["action"].text, e["actor"].text, e["at"].text, shown)
        }
        return t.rendered + nextPage(page)
    }

    /// A change's old or new value on one line.
    static func compact(_ v: JSONValue?) -> String {
        guard let v else { return "-" }
        switch v {
        case .object, .array: return String(decoding: v.encoded(), as: UTF8.self)
        default: return v.text
        }
    }

    static func host(_ h: JSONValue) -> String {
        var s = Summary()
        s.add("host profile", "\(h["name"].text) (revision \(h["revision"].text))")
        s.add("host", hostLine(h))
        s.add("updated", "\(h["updated_at"].text) (created \(h["created_at"].text))")
        return s.rendered
    }

    static func hostList(_ page: JSONValue) -> String {
        var t = TextTable("NAME", "HOST", "REV")
        for h in page["items"].items { t.add(h["name"].text, hostLine(h), h["revision"].text) }
        return t.rendered + nextPage(page)
    }

    static func baselines(_ c: JSONValue) -> String {
        var t = TextTable("NAME", "MASK", "DISABLES", "", "DESCRIPTION")
        for b in c["items"].items {
            let names = b["disabled_quirk_names"].items.map(\.text)
            let flags = [b["current"]?.boolValue == true ? "current" : nil, b["deprecated"]?.boolValue == true ? "deprecated" : nil]
            t.add(b["name"].text, b["disabled_quirks"].text, names.isEmpty ? "none" : names.joined(separator: ","),
                  flags.compactMap { $0 }.joined(separator: ","), b["description"].text)
        }
        return t.rendered
    }

    static func kvmQuirks(_ q: JSONValue) -> String {
        var s = Summary()
        let call = q["disable_quirks2"]
        s.add("vm", "\(q[path: "vm", "id"].text) (revision \(q[path: "vm", "revision"].text), baseline \(q[path: "vm", "baseline"].text))")
        s.add("host", (q["host_profile"]?.isNull == false ? "profile \(q["host_profile"].text): " : "inline: ") + hostLine(q["host"]))
        s.add("model", "\(q[path: "model", "id"].text): \(q[path: "model", "title"].text)")
        let names = call["names"].items.map(\.text)
        s.add("mask", "\(call["mask"].text) (\(names.isEmpty ? "nothing disabled" : names.joined(separator: ", ")))")
        s.add("call", call["call_needed"]?.boolValue == true
              ? "KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, \(call["mask_to_apply"].text))"
              : "none needed (no bit this KVM supports is asked for)")
        if call["would_fail"]?.boolValue == true {
            s.add("refused", "\(call["refused"].text) (\(call["refused_names"].items.map(\.text).joined(separator: ", "))): KVM answers \(call["error"].text), and disables nothing")
            s.add("would work", call["mask_to_apply"].text)
        }
        if let quirks = q["quirks"] { s.add("quirks", QuirkText.states(quirks)) }
        return s.rendered
    }

    static func move(_ r: JSONValue) -> String {
        var s = Summary()
        s.add("vm", "\(r[path: "vm", "id"].text) (revision \(r[path: "vm", "revision"].text))")
        s.add("result", r["result"].text + (r["dry_run"]?.boolValue == true ? " (dry run: nothing written)" : ""))
        s.add("from", "\(r[path: "from", "baseline"].text) \(r[path: "from", "disabled_quirks"].text)")
        s.add("to", "\(r[path: "to", "baseline"].text) \(r[path: "to", "disabled_quirks"].text)")
        let changes = r["changes"].items.map { "\($0["field"].text): \(compact($0["old"])) -> \(compact($0["new"]))" }
        s.add("changes", changes.isEmpty ? "none" : changes.joined(separator: "\n"))
        if let effect = r["effect"], !effect.isNull {
            s.add("types change", effect["memory_types_change"].text)
            if let probe = effect["probe"], !probe.isNull {
                let before = probe["before"], after = probe["after"]
                s.add("probe", probe["description"].text
                      + "\nbefore: EPT \(before["ept"].text) IPAT=\(before["ipat"]?.boolValue == true ? 1 : 0) -> \(before["effective"].text)"
                      + "\nafter:  EPT \(after["ept"].text) IPAT=\(after["ipat"]?.boolValue == true ? 1 : 0) -> \(after["effective"].text)")
            }
        }
        return s.rendered
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
