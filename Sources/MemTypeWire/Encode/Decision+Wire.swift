import JSON
import MemTypeEngine

/// Writing a decision as JSON (schema `Decision` in openapi.yaml).
/// 64-bit values are written as `"0x..."` strings.
extension Decision {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        writeMembers(to: &w)
        w.endObject()
    }

    /// The decision's members, inside an object the caller opened (and may
    /// add to: a per-VM decision appends `"vm"`). `DecisionEncoder` is the
    /// one encoder of a decision; a pretty writer re-indents its output.
    public func writeMembers(to w: inout JSONWriter) {
        DecisionEncoder.writeMembers(self, to: &w)
    }

    /// The decision as JSON bytes; pretty (the CLI's) is the compact
    /// encoding re-indented.
    public func json(pretty: Bool = false) -> [UInt8] {
        let compact = DecisionEncoder.json(self)
        return pretty ? JSONIndentation.indent(compact) : compact
    }
}

extension Rule {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("rule", id)
        w.member("summary", summary)
        w.member("source", source)
        w.endObject()
    }
}

extension DecisionWarning {
    /// `{"code", "message"}`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("code", code)
        w.member("message", message)
        w.endObject()
    }
}

extension KVMModel {
    /// The model as `{"id", "title", "kernels", "kernel"?}`; with `commits` for the listing.
    public func write(to w: inout JSONWriter, kernel: KernelVersion? = nil, withCommits: Bool = false) {
        w.beginObject()
        w.member("id", rawValue)
        w.member("title", title)
        w.member("kernels", kernels)
        if let kernel { w.member("kernel", kernel.description) }
        if withCommits {
            w.key("first_kernel")
            if let first = firstKernel { w.string(first.description) } else { w.null() }
            w.key("commits")
            w.beginArray()
            for c in commits { w.string(c) }
            w.endArray()
        }
        w.endObject()
    }
}

extension EffectiveCell {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("row", row.name)
        w.member("column", column.name)
        w.member("type", type.name)
        w.key("footnotes")
        w.beginArray()
        for note in footnotes.notes { note.write(to: &w) }
        w.endArray()
        w.endObject()
    }
}

extension TableFootnote {
    /// `{"number": 2, "text": "..."}`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("number", rawValue)
        w.member("text", text)
        w.endObject()
    }
}

extension QuirkEvaluation {
    /// Masks as hex strings, the KVM_ENABLE_CAP outcome, and the two quirks' states by name.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("requested", hex: requested.rawValue)
        w.member("supported", hex: supported.rawValue)
        w.member("refused", hex: refused.rawValue)
        w.member("disabled", hex: disabled.rawValue)
        w.key("enable_cap")
        w.beginObject()
        w.member("cap", "KVM_CAP_DISABLE_QUIRKS2")
        w.member("mask", hex: requested.rawValue)
        w.key("error")
        if enableCapFails { w.string("EINVAL") } else { w.null() }
        w.member("mask_to_apply", hex: applicableRequest.rawValue)
        w.endObject()
        w.key("states")
        w.beginObject()
        func state(_ status: QuirkStatus) {
            w.key(status.quirk.name)
            status.write(to: &w)
        }
        state(ignoreGuestPAT)
        state(cdNwCleared)
        w.endObject()
        w.endObject()
    }
}

extension QuirkStatus {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("bit", quirk.rawValue)
        w.member("state", state.rawValue)
        w.member("reason", reason.rawValue)
        w.member("explanation", reason.explanation)
        w.endObject()
    }
}
