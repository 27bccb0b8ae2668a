import JSON

/// The planning answers (schemas `KernelPlanPage`, `PlacementList`,
/// `RiskPage`) as text.
enum PlanText {
    static func side(_ s: JSONValue?) -> String {
        let cap = s["enable_cap"]
        var text = kernel(s) + ", mask \(cap["mask"].text)" + (cap["fails"]?.boolValue == true ? " fails (\(cap["error"].text))" : "")
        if let probe = s["bochs_probe"], !probe.isNull { text += ", bochs " + probeText(probe) }
        return text
    }

    /// `model E (6.16)`: a plan side's model and, if named, kernel.
    static func kernel(_ k: JSONValue?) -> String {
        "model \(k["model"].text)" + (k["kernel"]?.isNull == false ? " (\(k["kernel"].text))" : "")
    }

    static func probeText(_ p: JSONValue?) -> String {
        "EPT \(p["ept"].text) IPAT=\(p["ipat"]?.boolValue == true ? 1 : 0) -> \(p["effective"].text)"
    }

    static func plan(_ page: JSONValue) -> String {
        var out = "host profile \(page["host_profile"].text): \(kernel(page["before"])) -> \(kernel(page["after"]))\n"
        if let s = page["summary"], !s.isNull {
            out += "\(s["vms"].text) VMs, \(s["unchanged"].text) unchanged; memory types change for \(s[path: "changes", "memory_types"].text), "
                + "the VMM's call fails for \(s[path: "changes", "enable_cap_fails"].text); actions: "
                + s["actions"].members.map { "\($0.key) \($0.value.text)" }.joined(separator: ", ") + "\n"
        }
        var t = TextTable("VM", "BEFORE", "AFTER", "CHANGES", "ACTION")
        for item in page["items"].items {
            t.add(item["vm"].text, side(item["before"]), side(item["after"]),
                  item["changes"].items.map(\.text).joined(separator: ","), item[path: "action", "kind"].text)
        }
        return out + "\n" + t.rendered + RecordText.nextPage(page)
    }

    static func placements(_ p: JSONValue) -> String {
        var out = "vm \(p[path: "vm", "id"].text) on \(p["host_profile"]?.stringValue ?? "an inline host"): \(side(p["home"]))\n\n"
        var t = TextTable("HOST PROFILE", "COMPATIBLE", "MODEL", "REASON")
        for item in p["items"].items {
            t.add(item["host_profile"].text + (item["current"]?.boolValue == true ? " (current)" : ""),
                  item["compatible"]?.boolValue == true ? "yes" : "no", item["model"].text, item["reasons"].items.first.text)
        }
        return out + t.rendered
    }

    static func risks(_ page: JSONValue) -> String {
        var t = TextTable("VM", "SEVERITY", "HOST PROFILE", "GUEST", "DISPLAY", "BOCHS", "FIX")
        for r in page["items"].items {
            t.add(r["vm"].text, r["severity"].text, r["host_profile"].text, r["guest_kernel"].text,
                  r["display_devices"].items.map(\.text).joined(separator: ","), probeText(r["probe"]),
                  r["fix"].items.map { $0["kind"].text }.joined(separator: " or "))
        }
        return "\(page["scanned"].text) VMs read\n" + t.rendered + RecordText.nextPage(page)
    }
}
