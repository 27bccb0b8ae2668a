import HTTPServer
import JSON
import MemTypeEngine
import MemTypeWire
import VMStore

/// Named host profiles: a VM names one (`host_profile`) instead of describing
/// its host inline, and sees the profile's current spec. ETags and
/// conditional writes work as for VMs; a profile still referenced by a VM
/// cannot be deleted (409).
extension MemTypedService {
    static let hostRoutes: [Route] = [
        Route("GET", "/v1/hosts/{name}", auth: .read, store: true) { s, c throws(Problem) in try s.getHost(c) },
        Route("PUT", "/v1/hosts/{name}", json: true, auth: .write, store: true) { s, c throws(Problem) in try s.putHost(c) },
        Route("DELETE", "/v1/hosts/{name}", auth: .write, store: true) { s, c throws(Problem) in try s.deleteHost(c) },
        Route("GET", "/v1/hosts", auth: .read, store: true) { s, c throws(Problem) in try s.listHosts(c) },
        Route("GET", "/v1/hosts/{name}/history", auth: .read, store: true) { s, c throws(Problem) in try s.hostHistory(c) },
    ]

    static func hostSubject(_ name: String) -> String { "host profile '\(name)'" }

    static func hostResponse(_ p: HostProfileRecord, status: Int = 200, location: Bool = false) -> HTTPResponse {
        var headers = [ETag.header(p.revision)]
        if location { headers.append(("Location", "/v1/hosts/\(p.name)")) }
        return .json(status, headers: headers, capacity: 512) { VMWire.write(p, to: &$0) }
    }

    func getHost(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let name = c.capture("name")
        guard Self.isValidID(name) else { throw Self.notFound(Self.hostSubject(name)) }
        let found: HostProfileRecord?
        do { found = try store.getHost(name) } catch { throw problem(error, subject: Self.hostSubject(name)) }
        guard let found else { throw Self.notFound(Self.hostSubject(name)) }
        if let notModified = try Self.conditionalRead(c.request, revision: found.revision) { return notModified }
        return Self.hostResponse(found)
    }

    /// Body: `{vendor, self_snoop, tdp, cpu: {family, model, stepping}, kernel, kvm_model}`
    /// (all optional; `name`, if given, must equal the path's).
    func putHost(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let actor = c.actor
        let name = c.capture("name")
        try Self.checkNewID(name, segment: "name")
        let body = try Self.parse(c.request.body)
        let spec: HostSpec
        do throws(InvalidField) {
            spec = try VMWire.hostProfile(Field(body), name: name)
        } catch {
            throw Problem(invalid: error)
        }
        let (record, created) = try conditionalHostWrite(c, store, name: name, kind: .put) { expected throws(StoreError) in
            try store.putHost(name, spec, expectedRevision: expected, actor: actor)
        }
        return Self.hostResponse(record, status: created ? 201 : 200, location: created)
    }

    func deleteHost(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let actor = c.actor
        let name = c.capture("name")
        guard Self.isValidID(name) else { throw Self.notFound(Self.hostSubject(name)) }
        _ = try conditionalHostWrite(c, store, name: name, kind: .modify) { expected throws(StoreError) in
            try store.deleteHost(name, expectedRevision: expected, actor: actor)
        }
        return HTTPResponse(status: 204)
    }

    func listHosts(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let q = try QueryParameters(c.request, allowed: Self.pageParameters)
        let limit = try q.limit()
        let page: HostPage
        do { page = try store.listHosts(limit: limit, cursor: q["cursor"]) } catch {
            throw problem(error, subject: "the host profile listing", pointers: QueryParameters.pointer)
        }
        return .json(capacity: 256 + 300 * page.items.count) { w in
            w.beginObject()
            w.key("items")
            w.beginArray()
            for p in page.items { VMWire.write(p, to: &w) }
            w.endArray()
            VMWire.writeCursor(page.nextCursor, to: &w)
            w.endObject()
        }
    }

    func hostHistory(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let name = c.capture("name")
        let q = try QueryParameters(c.request, allowed: Self.pageParameters)
        let limit = try q.limit()
        guard Self.isValidID(name) else { throw Self.notFound("history for " + Self.hostSubject(name)) }
        let page: HistoryPage
        do { page = try store.hostHistory(name, limit: limit, cursor: q["cursor"]) } catch {
            throw problem(error, subject: "history for " + Self.hostSubject(name), pointers: QueryParameters.pointer)
        }
        return .json(capacity: 512 + 512 * page.entries.count) { VMWire.write(page, to: &$0) }
    }
}
