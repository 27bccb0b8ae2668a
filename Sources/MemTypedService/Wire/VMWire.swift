import JSON
import MemTypeEngine
import MemTypeWire
import VMStore

/// The VM-config store's wire format: VM specs and merge patches in,
/// records, host profiles and history out. Field names are the ones the
/// store's history uses (`/quirks/IGNORE_GUEST_PAT`, `/host/kernel`,
/// `/labels/env`), so a history entry's `field` is a JSON pointer into the
/// VM representation.
///
/// Decoding rules shared by PUT and PATCH:
/// - objects are closed: an unknown key is 422 with its pointer; the
///   read-only members of the representation (`ReadOnlyKey`: `revision`,
///   `created_at`, `updated_at`, `disabled_quirks`, the applied state) are
///   422 too, saying so;
/// - `null` means "absent": in a PUT the field takes its default, in a
///   PATCH (RFC 7386) it removes the field (optional fields), resets it to
///   its default (`type`, `noncoherent_dma`, `host.vendor`, ...) or, for a
///   quirk, reverts it to the VM's baseline's choice.
enum VMWire {
    /// The members of the VM representation the store sets: a write that
    /// names one gets "read-only" rather than "unknown field".
    static let readOnlyKeys = ReadOnlyKey.allCases.map(\.rawValue)
    /// A host profile has no quirk mask and is not applied.
    static let hostReadOnlyKeys = [ReadOnlyKey.revision, .createdAt, .updatedAt].map(\.rawValue)

    static let choices = QuirkChoice.allCases.map { ($0.rawValue, $0) }

    // MARK: - Decoding

    /// The members of an object whose keys are all `K`s; a read-only key
    /// gets its own message instead of "unknown field".
    static func object<K: WireKey>(_ f: Field, _ keys: K.Type, readOnly: [String] = readOnlyKeys) throws(InvalidField) -> Members {
        if case .object(let o) = f.value {
            for key in readOnly where o[key] != nil {
                throw InvalidField(pointer: f.pointer + "/" + key,
                                   message: "read-only: the store sets it (send If-Match with the ETag to make the write conditional)")
            }
        }
        return try f.object(K.self)
    }

    /// A member, with `null` treated as absent.
    static func present(_ m: Members, _ key: String) -> Field? {
        present(m[key])
    }

    /// A field, with `null` treated as absent.
    static func present(_ f: Field?) -> Field? {
        guard let f, f.value != .null else { return nil }
        return f
    }

    /// The members of an object field as (key, child field) pairs.
    static func entries(_ f: Field) throws(InvalidField) -> [(key: String, field: Field)] {
        guard case .object(let o) = f.value else { throw f.invalid("expected an object, got \(f.value.kindName)") }
        let base = f.pointer
        return o.members.map { ($0.key, Field($0.value, pointer: base + "/" + JSONPointer.escape($0.key))) }
    }

    /// The body of `PUT /v1/vms/{id}` as a store spec.
    static func spec(_ body: JSONValue, id: String) throws(InvalidField) -> VMSpec {
        let m = try VMSpecFields(Field(body))
        if let f = present(m.id), try f.string() != id {
            throw f.invalid("must equal the id in the path ('\(id)'), or be left out")
        }
        let host: HostRef
        switch (present(m.host), present(m.hostProfile)) {
        case (let h?, nil): host = .inline(try hostSpec(h, base: HostSpec()))
        case (nil, let p?): host = .profile(try p.string())
        case (nil, nil):
            throw InvalidField(pointer: VMSpecFields.hostPointer,
                               message: "required: describe the host inline (host) or name a host profile (host_profile)")
        case (_?, let p?):
            throw p.invalid("give either host or host_profile, not both")
        }
        var spec = VMSpec(host: host)
        spec.baseline = try present(m.baseline)?.string()
        if let f = present(m.quirks) {
            for (quirk, choice) in try quirkChoices(f) { if let choice { spec.quirks[quirk] = choice } }
        }
        if let f = present(m.type) { spec.type = try f.oneOf(WireNames.vmTypes) }
        if let f = present(m.noncoherentDMA) { spec.noncoherentDMA = try f.bool() }
        if let f = present(m.displayDevices) { spec.displayDevices = try displayDevices(f) }
        spec.guestKernel = try present(m.guestKernel)?.string()
        spec.guestBochsFix = try present(m.guestBochsFix)?.bool()
        if let f = present(m.labels) { spec.labels = try labels(f, base: [:]) }
        return spec
    }

    /// A VM's host object merged onto `base` (RFC 7386: absent keeps, null
    /// resets to the default or removes). A PUT merges onto `HostSpec()`.
    static func hostSpec(_ f: Field, base: HostSpec) throws(InvalidField) -> HostSpec {
        let m = try object(f, HostSpecKey.self, readOnly: hostReadOnlyKeys)
        var h = base
        try m.each(HostSpecKey.self) { key, v throws(InvalidField) in try merge(key, v, into: &h) }
        return h
    }

    /// The body of `PUT /v1/hosts/{name}`: a host with its name, which, if
    /// given, must be `name` (the path's).
    static func hostProfile(_ f: Field, name: String) throws(InvalidField) -> HostSpec {
        let m = try object(f, HostProfileKey.self, readOnly: hostReadOnlyKeys)
        var h = HostSpec()
        try m.each(HostProfileKey.self) { key, v throws(InvalidField) in
            switch key {
            case .name:
                if v.value != .null, v.value != .string(name) { throw v.invalid("must equal the name in the path ('\(name)'), or be left out") }
            case .spec(let key):
                try merge(key, v, into: &h)
            }
        }
        return h
    }

    /// One member of a host object merged onto `h`.
    private static func merge(_ key: HostSpecKey, _ v: Field, into h: inout HostSpec) throws(InvalidField) {
        let defaults = HostSpec()
        switch key {
        case .host(.vendor): h.vendor = v.value == .null ? defaults.vendor : try v.oneOf(WireNames.vendors)
        case .host(.selfSnoop): h.selfSnoop = v.value == .null ? defaults.selfSnoop : try v.bool()
        case .host(.tdp): h.tdp = v.value == .null ? defaults.tdp : try v.bool()
        case .host(.cpu): h.cpu = v.value == .null ? nil : try cpu(v, old: h.cpu)
        case .kernel: h.kernel = v.value == .null ? nil : try v.string()
        case .kvmModel: h.kvmModel = v.value == .null ? nil : try v.oneOf(WireNames.models)
        }
    }

    /// A host's `cpu` merged onto `old`: family and model stay required.
    private static func cpu(_ v: Field, old: CPUModel?) throws(InvalidField) -> CPUModel {
        let c = try v.object(CPUKey.self)
        var family: Field?, model: Field?, stepping: Field?
        c.each(CPUKey.self) { key, f in
            switch key {
            case .family: family = f
            case .model: model = f
            case .stepping: stepping = f
            }
        }
        func number(_ f: Field?, _ key: CPUKey, _ range: ClosedRange<Int>, _ current: Int?) throws(InvalidField) -> Int {
            if let f {
                guard f.value != .null else {
                    throw f.invalid("required in cpu: it cannot be removed (set cpu to null to remove the whole cpu)")
                }
                return try f.int(in: range)
            }
            guard let current else { throw c.missing(key.rawValue) }
            return current
        }
        var cpu = CPUModel(family: try number(family, .family, CPUModel.familyRange, old?.family),
                           model: try number(model, .model, CPUModel.modelRange, old?.model),
                           stepping: old?.stepping)
        if let s = stepping { cpu.stepping = s.value == .null ? nil : try s.int(in: CPUModel.steppingRange) }
        return cpu
    }

    /// `{"QUIRK_NAME": "disable" | "keep_enabled" | null}`; null: the baseline's choice.
    static func quirkChoices(_ f: Field) throws(InvalidField) -> [(Quirk, QuirkChoice?)] {
        try quirkEntries(f).map { ($0.quirk, $0.choice) }
    }

    /// `quirkChoices` with each entry's field, for errors that point at the
    /// key as the client spelled it (a quirk may be named by alias).
    static func quirkEntries(_ f: Field) throws(InvalidField) -> [(quirk: Quirk, choice: QuirkChoice?, field: Field)] {
        var out: [(quirk: Quirk, choice: QuirkChoice?, field: Field)] = []
        for (key, field) in try entries(f) {
            guard let quirk = Quirk(name: key) else {
                throw field.invalid("unknown quirk; known: " + Quirk.allCases.map(\.name).joined(separator: ", "))
            }
            if out.contains(where: { $0.quirk == quirk }) { throw field.invalid("names \(quirk.name) a second time") }
            out.append((quirk, field.value == .null ? nil : try field.oneOf(choices), field))
        }
        return out
    }

    /// Labels merged onto `base`: a string sets, null removes.
    static func labels(_ f: Field, base: [String: String]) throws(InvalidField) -> [String: String] {
        var labels = base
        for (key, field) in try entries(f) {
            if field.value == .null { labels[key] = nil } else { labels[key] = try field.string() }
        }
        return labels
    }

    static func displayDevices(_ f: Field) throws(InvalidField) -> [String] {
        var out: [String] = []
        for item in try f.array(maxCount: Validation.maxDisplayDevices) { out.append(try item.string()) }
        return out
    }

    /// Applies an RFC 7386 merge patch to a stored record (inside the store's
    /// transaction). A changed `baseline` is a move: the new baseline's whole
    /// mask, then the patch's explicit quirk choices.
    static func apply(patch body: JSONValue, to r: inout VMRecord, catalogue: [Baseline]) throws(InvalidField) {
        let m = try VMSpecFields(Field(body))
        if let f = m.id, f.value != .null, try f.string() != r.id {
            throw f.invalid("the id cannot change (it is '\(r.id)')")
        }
        if let f = m.baseline {
            guard f.value != .null else { throw f.invalid("required: a VM always has a baseline (name another to move it)") }
            let name = try f.string()
            if name != r.baseline { r.move(to: try adoptable(name, in: catalogue, pointer: f.pointer)) }
        }
        if let f = m.quirks {
            func baseline() throws(InvalidField) -> Baseline {
                guard let b = catalogue.first(where: { $0.name == r.baseline }) else {
                    throw f.invalid("the VM's baseline '\(r.baseline)' is not in this build's catalogue, so its choices are unknown; name each quirk's choice")
                }
                return b
            }
            if f.value == .null {
                r.disabledQuirks = try baseline().disabledQuirks
            } else {
                for (quirk, choice) in try quirkChoices(f) {
                    if let choice { r.set(quirk, choice) } else { r.set(quirk, try baseline().choice(for: quirk)) }
                }
            }
        }
        let h = m.host, p = m.hostProfile
        if h != nil || p != nil {
            var profile = r.host.profileName
            var inline: HostSpec? = if case .inline(let spec) = r.host { spec } else { nil }
            if let p { profile = p.value == .null ? nil : try p.string() }
            if let h { inline = h.value == .null ? nil : try hostSpec(h, base: inline ?? HostSpec()) }
            switch (inline, profile) {
            case (let spec?, nil): r.host = .inline(spec)
            case (nil, let name?): r.host = .profile(name)
            case (nil, nil):
                throw InvalidField(pointer: h != nil ? VMSpecFields.hostPointer : VMSpecFields.hostProfilePointer,
                                   message: "a VM needs a host: describe it inline (host) or name a host profile (host_profile)")
            case (_?, let name?):
                throw InvalidField(pointer: h != nil ? VMSpecFields.hostPointer : VMSpecFields.hostProfilePointer,
                                   message: h != nil && p == nil
                                       ? "the VM references host profile '\(name)': send \"host_profile\": null with the inline host"
                                       : "give either host or host_profile, not both (set the other to null)")
            }
        }
        if let f = m.type { r.type = f.value == .null ? .regular : try f.oneOf(WireNames.vmTypes) }
        if let f = m.noncoherentDMA { r.noncoherentDMA = f.value == .null ? false : try f.bool() }
        if let f = m.displayDevices { r.displayDevices = f.value == .null ? [] : try displayDevices(f) }
        if let f = m.guestKernel { r.guestKernel = f.value == .null ? nil : try f.string() }
        if let f = m.guestBochsFix { r.guestBochsFix = f.value == .null ? nil : try f.bool() }
        if let f = m.labels { r.labels = f.value == .null ? [:] : try labels(f, base: r.labels) }
    }

    /// A baseline a write may adopt, with the store's message under `pointer`.
    static func adoptable(_ name: String, in catalogue: [Baseline], pointer: String) throws(InvalidField) -> Baseline {
        do {
            return try Resolution.adoptableBaseline(name, in: catalogue)
        } catch {
            if case .invalid(_, let message) = error { throw InvalidField(pointer: pointer, message: message) }
            throw InvalidField(pointer: pointer, message: error.description)
        }
    }

    // MARK: - Encoding

    /// The VM representation: every stored field, each quirk's choice by name.
    /// Keys come from the decoders' enums (`VMSpecKey`, `ReadOnlyKey`), so
    /// what a PUT reads and what a GET writes cannot drift apart.
    /// `extra` writes members after the record's own (a write's `risks`).
    static func write(_ r: VMRecord, to w: inout JSONWriter, extra: (inout JSONWriter) -> Void = { _ in }) {
        w.beginObject()
        w.key(VMSpecKey.id); w.string(r.id)
        w.key(VMSpecKey.baseline); w.string(r.baseline)
        w.key(ReadOnlyKey.disabledQuirks); w.hex(r.disabledQuirks.rawValue)
        w.key(VMSpecKey.quirks)
        w.beginObject()
        for q in Quirk.allCases {
            w.key(q.name)
            w.string(r.choice(for: q).rawValue)
        }
        w.endObject()
        switch r.host {
        case .inline(let spec):
            w.key(VMSpecKey.host)
            w.beginObject()
            writeMembers(spec, to: &w)
            w.endObject()
            w.key(VMSpecKey.hostProfile); w.null()
        case .profile(let name):
            w.key(VMSpecKey.host); w.null()
            w.key(VMSpecKey.hostProfile); w.string(name)
        }
        w.key(VMSpecKey.type); w.string(r.type.rawValue)
        w.key(VMSpecKey.noncoherentDMA); w.bool(r.noncoherentDMA)
        w.key(VMSpecKey.displayDevices)
        w.beginArray()
        for d in r.displayDevices { w.string(d) }
        w.endArray()
        w.key(VMSpecKey.guestKernel)
        if let g = r.guestKernel { w.string(g) } else { w.null() }
        w.key(VMSpecKey.guestBochsFix)
        if let f = r.guestBochsFix { w.bool(f) } else { w.null() }
        w.key(VMSpecKey.labels)
        writeLabels(r.labels, to: &w)
        writeStamps(revision: r.revision, createdAt: r.createdAt, updatedAt: r.updatedAt, to: &w)
        w.key(ReadOnlyKey.appliedRevision)
        if let applied = r.applied { w.int(applied.revision) } else { w.null() }
        w.key(ReadOnlyKey.appliedAt)
        if let at = r.applied?.at { w.string(at.rfc3339) } else { w.null() }
        w.key(ReadOnlyKey.restartRequired); w.bool(r.restartRequired)
        extra(&w)
        w.endObject()
    }

    /// The members the store sets on a VM or host profile.
    private static func writeStamps(revision: Int, createdAt: Timestamp, updatedAt: Timestamp, to w: inout JSONWriter) {
        w.key(ReadOnlyKey.revision); w.int(revision)
        w.key(ReadOnlyKey.createdAt); w.string(createdAt.rfc3339)
        w.key(ReadOnlyKey.updatedAt); w.string(updatedAt.rfc3339)
    }

    static func writeLabels(_ labels: [String: String], to w: inout JSONWriter) {
        w.beginObject()
        for key in labels.keys.sorted() {
            w.key(key)
            w.string(labels[key]!)
        }
        w.endObject()
    }

    /// `{"id", "revision", "baseline"}`: which stored VM an answer was computed from.
    static func writeSummary(_ r: VMRecord, to w: inout JSONWriter) {
        writeSummary(id: r.id, revision: r.revision, baseline: r.baseline, to: &w)
    }

    static func writeSummary(_ inputs: VMDecisionInputs, to w: inout JSONWriter) {
        writeSummary(id: inputs.id, revision: inputs.revision, baseline: inputs.baseline, to: &w)
    }

    private static func writeSummary(id: String, revision: Int, baseline: String, to w: inout JSONWriter) {
        w.beginObject()
        w.member("id", id)
        w.member("revision", revision)
        w.member("baseline", baseline)
        w.endObject()
    }

    /// A host spec's members (into an open object), with null for what is unset.
    static func writeMembers(_ h: HostSpec, to w: inout JSONWriter) {
        w.key(HostKey.vendor); w.string(h.vendor.rawValue)
        w.key(HostKey.selfSnoop); w.bool(h.selfSnoop)
        w.key(HostKey.tdp); w.bool(h.tdp)
        w.key(HostKey.cpu)
        if let cpu = h.cpu {
            w.beginObject()
            w.key(CPUKey.family); w.int(cpu.family)
            w.key(CPUKey.model); w.int(cpu.model)
            w.key(CPUKey.stepping)
            if let s = cpu.stepping { w.int(s) } else { w.null() }
            w.endObject()
        } else {
            w.null()
        }
        w.key(HostSpecKey.kernel)
        if let k = h.kernel { w.string(k) } else { w.null() }
        w.key(HostSpecKey.kvmModel)
        if let m = h.kvmModel { w.string(m.rawValue) } else { w.null() }
    }

    static func write(_ p: HostProfileRecord, to w: inout JSONWriter) {
        w.beginObject()
        w.key(HostProfileKey.name); w.string(p.name)
        writeMembers(p.spec, to: &w)
        writeStamps(revision: p.revision, createdAt: p.createdAt, updatedAt: p.updatedAt, to: &w)
        w.endObject()
    }

    static func write(_ e: HistoryEntry, to w: inout JSONWriter) {
        w.beginObject()
        w.member("sequence", Int(e.sequence))
        w.member("revision", e.revision)
        w.member("action", e.action.rawValue)
        w.member("actor", e.actor)
        w.member("at", e.at.rfc3339)
        w.key("changes")
        writeChanges(e.changes, to: &w)
        w.endObject()
    }

    /// `[{"field", "old", "new"}, ...]`: a history entry's changes, or what a move would change.
    static func writeChanges(_ changes: [FieldChange], to w: inout JSONWriter) {
        w.beginArray()
        for c in changes {
            w.beginObject()
            w.member("field", c.field)
            w.key("old")
            if let o = c.old { w.string(o) } else { w.null() }
            w.key("new")
            if let n = c.new { w.string(n) } else { w.null() }
            w.endObject()
        }
        w.endArray()
    }

    static func write(_ page: HistoryPage, to w: inout JSONWriter) {
        w.beginObject()
        w.key("items")
        w.beginArray()
        for e in page.entries { write(e, to: &w) }
        w.endArray()
        writeCursor(page.nextCursor, to: &w)
        w.endObject()
    }

    static func writeCursor(_ cursor: String?, to w: inout JSONWriter) {
        w.key("next_cursor")
        if let cursor { w.string(cursor) } else { w.null() }
    }

    /// A quirk mask as `"0x..."` plus the names of its bits.
    static func writeMask(_ mask: QuirkMask, key: String, namesKey: String, to w: inout JSONWriter) {
        w.key(key)
        w.hex(mask.rawValue)
        w.key(namesKey)
        w.beginArray()
        for q in mask.quirks { w.string(q.name) }
        w.endArray()
    }
}

extension JSONWriter {
    /// A member's key named by the enum its decoder switches over: the
    /// encoder spells no key of its own.
    fileprivate mutating func key<Key: RawRepresentable<String>>(_ key: Key) {
        self.key(key.rawValue)
    }
}
