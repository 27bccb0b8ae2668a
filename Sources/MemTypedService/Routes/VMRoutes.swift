import HTTPServer
import JSON
import MemTypeEngine
import MemTypeWire
import VMStore

/// The VM-config store over HTTP (issue: per-VM records pinned at creation).
///
/// Every VM and host-profile response carries a strong `ETag` made from the
/// record's revision (`"r7"`); writes honor `If-Match` (and `If-None-Match: *`
/// for create-only PUTs), GETs answer `If-None-Match` with 304. Writes need a
/// write token and record its name as the history actor; reads follow the
/// read policy (open unless `--read-auth`). Shapes are in openapi.yaml.
extension MemTypedService {
    /// The per-VM decision comes first: it is the hot path, and the router scans in order.
    static let vmRoutes: [Route] = vmDecisionRoutes + vmRecordRoutes + hostRoutes + baselineRoutes + fleetRoutes

    static let vmRecordRoutes: [Route] = [
        Route("GET", "/v1/vms/{id}", auth: .read, store: true) { s, c throws(Problem) in try s.getVM(c) },
        Route("PUT", "/v1/vms/{id}", json: true, auth: .write, store: true) { s, c throws(Problem) in try s.putVM(c) },
        Route("PATCH", "/v1/vms/{id}", json: true, auth: .write, store: true) { s, c throws(Problem) in try s.patchVM(c) },
        Route("DELETE", "/v1/vms/{id}", auth: .write, store: true) { s, c throws(Problem) in try s.deleteVM(c) },
        Route("PUT", "/v1/vms/{id}/applied", json: true, auth: .write, store: true) { s, c throws(Problem) in try s.putVMApplied(c) },
        Route("GET", "/v1/vms", auth: .read, store: true) { s, c throws(Problem) in try s.listVMs(c) },
        Route("GET", "/v1/vms/{id}/history", auth: .read, store: true) { s, c throws(Problem) in try s.vmHistory(c) },
    ]

    /// The configured store, or 503 when the service runs without one.
    func requireStore() throws(Problem) -> any VMStore {
        guard let store = configuration.store else {
            throw Problem(status: 503, type: "/problems/no-store", title: "Service Unavailable",
                          detail: "this memtyped runs without a VM-config store")
        }
        return store
    }

    static func vmSubject(_ id: String) -> String { "VM '\(id)'" }

    /// A stored VM for a read: 404 if the id is not valid or not stored.
    func loadVM(_ store: any VMStore, _ id: String) throws(Problem) -> VMRecord {
        guard Self.isValidID(id) else { throw Self.notFound(Self.vmSubject(id)) }
        let found: VMRecord?
        do { found = try store.getVM(id) } catch { throw problem(error, subject: Self.vmSubject(id)) }
        guard let found else { throw Self.notFound(Self.vmSubject(id)) }
        return found
    }

    static func vmResponse(_ r: VMRecord, status: Int = 200, location: Bool = false) -> HTTPResponse {
        var headers = [ETag.header(r.revision)]
        if location { headers.append(("Location", "/v1/vms/\(r.id)")) }
        return .json(status, headers: headers, capacity: 1024) { VMWire.write(r, to: &$0) }
    }

    /// A write's response: the VM, plus `risks` (the bochs warning) when its
    /// host can be read. The write has committed: a failing host read only
    /// leaves `risks` out.
    func vmWriteResponse(_ store: any VMStore, _ r: VMRecord, status: Int = 200, location: Bool = false) -> HTTPResponse {
        var headers = [ETag.header(r.revision)]
        if location { headers.append(("Location", "/v1/vms/\(r.id)")) }
        let host = (try? store.resolveHost(of: r)) ?? nil
        return .json(status, headers: headers, capacity: 2048) { w in
            VMWire.write(r, to: &w) { w in
                if let host { PlanWire.writeRisks(Self.bochsRisk(r.vmConfig, guest: r.guestDisplay, host: host), to: &w) }
            }
        }
    }

    // MARK: - One VM

    func getVM(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let record = try loadVM(store, c.capture("id"))
        if let notModified = try Self.conditionalRead(c.request, revision: record.revision) { return notModified }
        return Self.vmResponse(record)
    }

    /// Create (201 + Location) or replace (200). `If-None-Match: *` makes it
    /// create-only, `If-Match` replace-only (of that revision).
    func putVM(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let actor = c.actor
        let id = c.capture("id")
        try Self.checkNewID(id, segment: "id")
        let body = try Self.parse(c.request.body)
        let spec: VMSpec
        do { spec = try VMWire.spec(body, id: id) } catch { throw Problem(invalid: error) }
        let (record, created) = try conditionalVMWrite(c, store, id: id, kind: .put) { expected throws(StoreError) in
            try store.replaceVM(id, with: spec, expectedRevision: expected, actor: actor)
        }
        return vmWriteResponse(store, record, status: created ? 201 : 200, location: created)
    }

    /// RFC 7386 JSON merge patch, applied inside the store's write transaction.
    func patchVM(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let actor = c.actor
        if let type = c.request.headers["Content-Type"], type.lowercasedASCII().hasPrefix("application/json-patch+json") {
            throw Problem(status: 415, title: "Unsupported Media Type",
                          detail: "PATCH takes a JSON merge patch (RFC 7386): Content-Type application/merge-patch+json or application/json, not a JSON Patch (RFC 6902)")
        }
        let id = c.capture("id")
        guard Self.isValidID(id) else { throw Self.notFound(Self.vmSubject(id)) }
        let body = try Self.parse(c.request.body)
        return vmWriteResponse(store, try conditionalVMWrite(c, store, id: id, kind: .modify) { expected throws(StoreError) in
            try store.updateVM(id, expectedRevision: expected, actor: actor) { r throws(StoreError) in
                do throws(InvalidField) {
                    try VMWire.apply(patch: body, to: &r, catalogue: Baseline.catalogue)
                } catch {
                    throw StoreError.invalid(field: error.pointer, message: error.message)
                }
            }
        })
    }

    func deleteVM(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let actor = c.actor
        let id = c.capture("id")
        guard Self.isValidID(id) else { throw Self.notFound(Self.vmSubject(id)) }
        _ = try conditionalVMWrite(c, store, id: id, kind: .modify) { expected throws(StoreError) in
            try store.deleteVM(id, expectedRevision: expected, actor: actor)
        }
        return HTTPResponse(status: 204)
    }

    /// `{"revision": N}`: the VMM side (the libvirt hook) created the VM
    /// from revision N of its record, which must be the current one (409
    /// otherwise: read the quirks again). `If-Match` as for the other
    /// writes. The answer is the record with `applied_revision` set; its
    /// revision and ETag are unchanged, and no history entry is written
    /// (`VMStore.recordApplied` says why).
    func putVMApplied(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let id = c.capture("id")
        guard Self.isValidID(id) else { throw Self.notFound(Self.vmSubject(id)) }
        let body = try Self.parse(c.request.body)
        let revision: Int
        do { revision = try AppliedKey.revision(Field(body)) } catch { throw Problem(invalid: error) }
        return Self.vmResponse(try conditionalVMWrite(c, store, id: id, kind: .modify) { expected throws(StoreError) in
            try store.recordApplied(id, revision: revision, expectedRevision: expected)
        })
    }

    // MARK: - Listing and history

    static let listParameters = ["baseline", "host_profile", "restart_required", "limit", "cursor"]
    static let listRepeatable = ["quirk", "label"]

    /// `GET /v1/vms?baseline=&quirk=NAME:disable&label=key=value&host_profile=&restart_required=&limit=&cursor=`.
    func listVMs(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let q = try QueryParameters(c.request, allowed: Self.listParameters, repeatable: Self.listRepeatable)
        var query = VMQuery(baseline: q["baseline"], hostProfile: q["host_profile"], limit: try q.limit(), cursor: q["cursor"])
        if let text = q["restart_required"] {
            do { query.restartRequired = try Self.queryBool(text, pointer: "/query/restart_required") } catch {
                throw Problem(invalid: error)
            }
        }
        // One filter per quirk is the most that can mean anything.
        for text in try q.values("quirk", atMost: Quirk.allCases.count) {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let quirk = Quirk(name: String(parts[0])),
                  let choice = QuirkChoice(rawValue: String(parts[1]).lowercasedASCII())
            else {
                throw QueryParameters.invalid("quirk", "\"\(text.prefix(60))\" is not NAME:disable or NAME:keep_enabled with a known quirk name (e.g. IGNORE_GUEST_PAT:disable)")
            }
            if let earlier = query.quirks[quirk], earlier != choice {
                throw QueryParameters.invalid("quirk", "\(quirk.name) is asked to be both disable and keep_enabled")
            }
            query.quirks[quirk] = choice
        }
        query.labels = try Self.labelFilters(q)
        let page: VMPage
        do { page = try store.listVMs(query) } catch {
            throw problem(error, subject: "the VM listing", pointers: QueryParameters.pointer)
        }
        return .json(capacity: 256 + 900 * page.items.count) { w in
            w.beginObject()
            w.key("items")
            w.beginArray()
            for r in page.items { VMWire.write(r, to: &w) }
            w.endArray()
            VMWire.writeCursor(page.nextCursor, to: &w)
            w.endObject()
        }
    }

    /// The repeatable `label=key=value` filters of a listing.
    static func labelFilters(_ q: QueryParameters) throws(Problem) -> [String: String] {
        var labels: [String: String] = [:]
        for text in try q.values("label", atMost: VMQuery.maxLabelFilters) {
            guard let eq = text.firstIndex(of: "=") else {
                throw QueryParameters.invalid("label", "\"\(text.prefix(60))\" is not key=value")
            }
            let key = String(text[..<eq]), value = String(text[text.index(after: eq)...])
            if let earlier = labels[key], earlier != value {
                throw QueryParameters.invalid("label", "label \(key) is asked to equal two values")
            }
            labels[key] = value
        }
        return labels
    }

    static let pageParameters = ["limit", "cursor"]

    /// History, newest first; it outlives a delete.
    func vmHistory(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let id = c.capture("id")
        let q = try QueryParameters(c.request, allowed: Self.pageParameters)
        let limit = try q.limit()
        guard Self.isValidID(id) else { throw Self.notFound("history for " + Self.vmSubject(id)) }
        let page: HistoryPage
        do { page = try store.history(id, limit: limit, cursor: q["cursor"]) } catch {
            throw problem(error, subject: "history for " + Self.vmSubject(id), pointers: QueryParameters.pointer)
        }
        return .json(capacity: 512 + 1024 * page.entries.count) { VMWire.write(page, to: &$0) }
    }
}
