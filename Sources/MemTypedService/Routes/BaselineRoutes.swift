import FleetPlanning
import HTTPServer
import JSON
import MemTypeEngine
import MemTypeWire
import VMStore

/// The baseline catalogue and baseline moves.
///
/// A move gives a VM another baseline's name and its whole quirk mask
/// (earlier per-VM overrides are dropped, as `VMRecord.move(to:)` defines);
/// it goes through `updateVM`, so it is one transaction recorded in history
/// as `baseline_move`. A VM already on the target baseline is `unchanged`
/// (its overrides are kept). A dry run computes the same report and writes
/// nothing: revision and history stay as they are.
extension MemTypedService {
    static let baselineRoutes: [Route] = [
        Route("GET", "/v1/baselines", auth: .read, store: true) { s, c throws(Problem) in try s.getBaselines(c) },
        Route("POST", "/v1/vms/{id}/baseline-move", json: true, auth: .write, store: true) { s, c throws(Problem) in try s.postBaselineMove(c) },
        Route("POST", "/v1/baseline-moves", json: true, auth: .write, store: true) { s, c throws(Problem) in try s.postBaselineMoves(c) },
    ]

    /// The catalogue this build knows, oldest first; `current` marks the one
    /// new VMs get (the store's, i.e. `--baseline`).
    func getBaselines(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let current = configuration.store?.currentBaseline.name ?? Baseline.current.name
        return .json(capacity: 1024) { w in
            w.beginObject()
            w.member("current", current)
            w.key("items")
            w.beginArray()
            for b in Baseline.catalogue {
                w.beginObject()
                w.member("name", b.name)
                w.member("description", b.description)
                VMWire.writeMask(b.disabledQuirks, key: "disabled_quirks", namesKey: "disabled_quirk_names", to: &w)
                w.member("deprecated", b.deprecated)
                w.member("current", b.name == current)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
    }

    // MARK: - Reports

    /// `{"baseline", "disabled_quirks", "disabled_quirk_names"}` of one side of a move.
    static func writeSide(_ r: VMRecord, to w: inout JSONWriter) {
        w.beginObject()
        w.member("baseline", r.baseline)
        VMWire.writeMask(r.disabledQuirks, key: "disabled_quirks", namesKey: "disabled_quirk_names", to: &w)
        w.endObject()
    }

    static func writeOutcome(_ d: Decision, to w: inout JSONWriter) {
        PlanWire.writeOutcome(ProbeOutcome(d), to: &w)
    }

    /// What a move changes for decisions on the VM's host
    /// (`BaselineMoveEffect`; null without a host).
    static func writeEffect(before: VMRecord, after: VMRecord, host: HostSpec?, to w: inout JSONWriter) {
        guard let host else { w.null(); return }
        let effect = BaselineMoveEffect(before: before.vmConfig, after: after.vmConfig, host: host)
        let selection = effect.selection
        let (eb, ea) = (effect.quirksBefore, effect.quirksAfter)

        w.beginObject()
        w.member("model", selection.model.rawValue)
        w.key("kernel")
        if let v = selection.version { w.string(v.description) } else { w.null() }
        w.member("memory_types_change", effect.memoryTypesChange)
        w.key("quirk_states")
        w.beginObject()
        for (b, a) in [(eb.ignoreGuestPAT, ea.ignoreGuestPAT), (eb.cdNwCleared, ea.cdNwCleared)] {
            w.key(b.quirk.name)
            w.beginObject()
            for (key, s) in [("before", b), ("after", a)] {
                w.key(key)
                w.beginObject()
                w.member("state", s.state.rawValue)
                w.member("reason", s.reason.rawValue)
                w.endObject()
            }
            w.endObject()
        }
        w.endObject()
        w.key("enable_cap_error")
        w.beginObject()
        w.key("before")
        if eb.enableCapFails { w.string("EINVAL") } else { w.null() }
        w.key("after")
        if ea.enableCapFails { w.string("EINVAL") } else { w.null() }
        w.endObject()
        w.key("probe")
        w.beginObject()
        w.member("description", BaselineMoveEffect.probeDescription)
        w.key("access")
        w.beginObject()
        w.member("gpa", hex: BaselineMoveEffect.probeAccess.gpa)
        w.member("pat", "linux")
        w.member("pat_index", BaselineMoveEffect.probeAccess.patIndex.value)
        w.endObject()
        w.key("before")
        writeOutcome(effect.probeBefore, to: &w)
        w.key("after")
        writeOutcome(effect.probeAfter, to: &w)
        w.endObject()
        w.endObject()
    }

    // MARK: - One VM

    /// `POST /v1/vms/{id}/baseline-move` with `{"baseline": NAME, "dry_run": BOOL}`; If-Match honored.
    func postBaselineMove(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let actor = c.actor
        let id = c.capture("id")
        guard Self.isValidID(id) else { throw Self.notFound(Self.vmSubject(id)) }
        let body = try Self.parse(c.request.body)
        let target: Baseline
        let dryRun: Bool
        do throws(InvalidField) {
            let m = try Field(body).object(BaselineMoveKey.self)
            var baseline: Field?, dryRunField: Field?
            m.each(BaselineMoveKey.self) { key, f in
                switch key {
                case .baseline: baseline = f
                case .dryRun: dryRunField = f
                }
            }
            guard let f = baseline else { throw m.missing(BaselineMoveKey.baseline.rawValue) }
            target = try VMWire.adoptable(try f.string(), in: Baseline.catalogue, pointer: f.pointer)
            dryRun = try dryRunField?.bool() ?? false
        } catch {
            throw Problem(invalid: error)
        }
        let pre = Preconditions(c.request.headers)
        let before: VMRecord
        let after: VMRecord
        // The host is resolved before anything is written: a store failure
        // is this request's error (503), not an `"effect": null` after a
        // move that did happen. A move does not change the host.
        let current = try loadVM(store, id)
        var hostSpec = try storedHost(of: current.host, in: store)
        if dryRun {
            before = current
            guard pre.ifMatchHolds(current: before.revision), pre.ifNoneMatchHolds(current: before.revision) else {
                throw Self.preconditionFailed("\(Self.vmSubject(id)) is at revision \(before.revision) (ETag \(ETag.value(before.revision))), which the request's If-Match/If-None-Match does not allow")
            }
            var moved = before
            if moved.baseline != target.name { moved.move(to: target) }
            after = moved
        } else {
            var seen: VMRecord?
            after = try conditionalWrite(
                pre, kind: .modify, subject: Self.vmSubject(id),
                current: { () throws(StoreError) in try store.getVM(id)?.revision }
            ) { expected throws(StoreError) in
                try store.updateVM(id, expectedRevision: expected, actor: actor) { r throws(StoreError) in
                    seen = r
                    if r.baseline != target.name { r.move(to: target) }
                }
            }
            before = seen ?? after
            if after.host != current.host { hostSpec = try storedHost(of: after.host, in: store) }  // changed meanwhile
        }
        let unchanged = before.baseline == target.name
        return .json(headers: [ETag.header(after.revision)], capacity: 2048) { w in
            w.beginObject()
            // The VM as stored now: after a real move, before a dry run.
            w.key("vm")
            VMWire.writeSummary(dryRun ? before : after, to: &w)
            w.member("dry_run", dryRun)
            w.member("result", unchanged ? "unchanged" : dryRun ? "would_move" : "moved")
            w.key("from")
            Self.writeSide(before, to: &w)
            w.key("to")
            Self.writeSide(after, to: &w)
            w.key("changes")
            // The baseline and quirk fields the move changes, as history records them.
            VMWire.writeChanges(fieldChanges(from: before.flattenedFields, to: after.flattenedFields), to: &w)
            w.key("effect")
            Self.writeEffect(before: before, after: after, host: hostSpec, to: &w)
            w.endObject()
        }
    }

    // MARK: - Bulk

    /// `BulkBaselineMoveRequest.filter`: which VMs a bulk move takes, as a
    /// listing query; null members are absent.
    static func readFilter(_ f: Field, into query: inout VMQuery) throws(InvalidField) {
        let filter = try f.object(MoveFilterKey.self)
        try filter.each(MoveFilterKey.self) { key, f throws(InvalidField) in
            guard let f = VMWire.present(f) else { return }
            switch key {
            case .baseline: query.baseline = try f.string()
            case .hostProfile: query.hostProfile = try f.string()
            case .labels:
                for (key, field) in try VMWire.entries(f) { query.labels[key] = try field.string() }
            case .quirks:
                for (quirk, choice, field) in try VMWire.quirkEntries(f) {
                    guard let choice else { throw field.invalid("expected \"disable\" or \"keep_enabled\"") }
                    query.quirks[quirk] = choice
                }
            }
        }
    }

    /// `POST /v1/baseline-moves`: moves every VM the filter matches (one page
    /// of at most `limit`, in id order) to `to`. Each VM moves in its own
    /// transaction, conditional on the revision the report shows as
    /// `revision_before`: a VM changed since it was listed fails with 412 and
    /// nothing else is affected. The batch as a whole is not atomic.
    func postBaselineMoves(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let actor = c.actor
        let body = try Self.parse(c.request.body)
        let target: Baseline
        let dryRun: Bool
        var query = VMQuery()
        do throws(InvalidField) {
            let m = try Field(body).object(BulkMoveKey.self)
            var to: Field?, filter: Field?, dryRunField: Field?, limit: Field?, cursor: Field?
            // Collected first, read below in a fixed order (the target first).
            m.each(BulkMoveKey.self) { key, f in
                switch key {
                case .to: to = f
                case .filter: filter = f
                case .dryRun: dryRunField = f
                case .limit: limit = f
                case .cursor: cursor = f
                }
            }
            guard let to else { throw m.missing(BulkMoveKey.to.rawValue) }
            target = try VMWire.adoptable(try to.string(), in: Baseline.catalogue, pointer: to.pointer)
            dryRun = try dryRunField?.bool() ?? false
            if let f = VMWire.present(limit) { query.limit = try f.int(in: 1...VMQuery.maxLimit) }
            if let f = VMWire.present(cursor) { query.cursor = try f.string() }
            if let f = VMWire.present(filter) { try Self.readFilter(f, into: &query) }
        } catch {
            throw Problem(invalid: error)
        }
        let page: VMPage
        do { page = try store.listVMs(query) } catch {
            throw problem(error, subject: "the VM listing", pointers: { field in
                field == "/cursor" || field == "/limit" ? field : "/filter" + field
            })
        }

        // Every host the page needs, before any VM moves: a store failure
        // fails the request (503) with nothing written, instead of
        // `"effect": null` for the VMs whose profile could not be read.
        var hosts: [String: HostSpec?] = [:]
        for r in page.items {
            if case .profile(let name) = r.host, hosts[name] == nil { hosts[name] = .some(try storedHost(of: r.host, in: store)) }
        }
        func hostSpec(_ r: VMRecord) -> HostSpec? {
            switch r.host {
            case .inline(let spec): spec
            case .profile(let name): hosts[name] ?? nil
            }
        }

        var w = JSONWriter(capacity: 512 + 1400 * page.items.count)
        var counts = (wouldMove: 0, moved: 0, unchanged: 0, failed: 0)
        // After the store itself failed (busy, full, corrupt), the remaining
        // records get the same answer without a try each: one busy wait per
        // request, not one per record.
        var storeFault: Problem?
        w.beginObject()
        w.member("to", target.name)
        w.member("dry_run", dryRun)
        w.key("items")
        w.beginArray()
        for r in page.items {
            var after = r
            if r.baseline != target.name { after.move(to: target) }
            var result: String
            var failure: Problem?
            if r.baseline == target.name {
                result = "unchanged"
                counts.unchanged += 1
            } else if dryRun {
                result = "would_move"
                counts.wouldMove += 1
            } else if let storeFault {
                failure = storeFault
                result = "failed"
                counts.failed += 1
                after = r
            } else {
                do {
                    after = try store.updateVM(r.id, expectedRevision: r.revision, actor: actor) { x throws(StoreError) in
                        x.move(to: target)
                    }
                    result = "moved"
                    counts.moved += 1
                } catch {
                    failure = problem(error, subject: Self.vmSubject(r.id), kind: .modify, conditional: true)
                    if error.isStoreFault { storeFault = failure }
                    result = "failed"
                    counts.failed += 1
                    after = r
                }
            }
            w.beginObject()
            w.member("id", r.id)
            w.member("result", result)
            w.member("revision_before", r.revision)
            w.member("revision", after.revision)
            w.key("from")
            Self.writeSide(r, to: &w)
            w.key("to")
            var intended = r
            if r.baseline != target.name { intended.move(to: target) }
            Self.writeSide(intended, to: &w)
            w.key("effect")
            Self.writeEffect(before: r, after: intended, host: hostSpec(r), to: &w)
            if let failure {
                w.key("problem")
                failure.write(to: &w)
            }
            w.endObject()
        }
        w.endArray()
        w.key("summary")
        w.beginObject()
        w.member("matched", page.items.count)
        w.member("would_move", counts.wouldMove)
        w.member("moved", counts.moved)
        w.member("unchanged", counts.unchanged)
        w.member("failed", counts.failed)
        w.endObject()
        VMWire.writeCursor(page.nextCursor, to: &w)
        w.endObject()
        return .json(w.bytes)
    }
}
