import HTTPServer
import JSON
import Logging
import MemTypeWire
import VMStore

/// Entity tags are revisions: a record at revision 7 has the strong ETag
/// `"r7"`. Revisions never repeat for one id (a re-created VM continues
/// after its deleted incarnation), so a tag never matches the wrong state.
/// A VM's applied state (`applied_revision`, `applied_at`, `restart_required`) is outside
/// the tag: recording a start is not a configuration change
/// (`VMStore.recordApplied` says why), and openapi.yaml says so.
enum ETag {
    static func value(_ revision: Int) -> String { "\"r\(revision)\"" }
    static func header(_ revision: Int) -> (name: String, value: String) { ("ETag", value(revision)) }
}

/// `If-Match` and `If-None-Match` (RFC 9110 section 13.1), evaluated against
/// a revision. If-Match compares strongly (a weak `W/"r7"` never matches),
/// If-None-Match weakly. A tag that is not one of ours never matches.
struct Preconditions: Sendable {
    enum Tags: Sendable, Equatable {
        case any
        /// The revisions named; nil for a tag that is not ours. `weak` tags keep their revision.
        case list([(weak: Bool, revision: Int?)])

        static func == (a: Tags, b: Tags) -> Bool {
            switch (a, b) {
            case (.any, .any): true
            case (.list(let x), .list(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.weak == $1.weak && $0.revision == $1.revision }
            default: false
            }
        }
    }

    var ifMatch: Tags?
    var ifNoneMatch: Tags?

    init(_ headers: HTTPHeaders) {
        ifMatch = Preconditions.parse(headers.values("If-Match"))
        ifNoneMatch = Preconditions.parse(headers.values("If-None-Match"))
    }

    var isEmpty: Bool { ifMatch == nil && ifNoneMatch == nil }

    static func parse(_ values: [String]) -> Tags? {
        guard !values.isEmpty else { return nil }
        var tags: [(weak: Bool, revision: Int?)] = []
        for value in values {
            for raw in value.split(separator: ",") {
                var t = Substring(String(raw).trimmingSpaces())
                if t == "*" { return .any }
                if t.isEmpty { continue }
                var weak = false
                if t.hasPrefix("W/") { weak = true; t = t.dropFirst(2) }
                var revision: Int?
                if t.count >= 4, t.hasPrefix("\"r"), t.hasSuffix("\""),
                   t.dropFirst(2).dropLast().allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int(t.dropFirst(2).dropLast()), n > 0 {
                    revision = n
                }
                tags.append((weak, revision))
            }
        }
        return .list(tags)
    }

    /// If-Match holds for `current` (nil: the resource does not exist).
    func ifMatchHolds(current: Int?) -> Bool {
        guard let ifMatch else { return true }
        guard let current else { return false }
        switch ifMatch {
        case .any: return true
        case .list(let tags): return tags.contains { !$0.weak && $0.revision == current }
        }
    }

    /// If-None-Match holds (nothing it names is the current state).
    func ifNoneMatchHolds(current: Int?) -> Bool {
        guard let ifNoneMatch, let current else { return true }
        switch ifNoneMatch {
        case .any: return false
        case .list(let tags): return !tags.contains { $0.revision == current }
        }
    }

    /// The single expected revision that expresses these conditions for the
    /// store (`0`: must not exist), if there is one; nil: evaluate in a loop.
    var pinnedRevision: Int? {
        switch (ifMatch, ifNoneMatch) {
        case (nil, .any?): return 0
        case (.list(let tags)?, nil) where tags.count == 1 && !tags[0].weak && tags[0].revision != nil: return tags[0].revision
        default: return nil
        }
    }
}

/// What a write does when the record is missing: a PUT creates it (so a
/// failed If-Match is 412), every other write answers 404 (RFC 9110
/// section 13.2.1: preconditions are ignored when the answer would not be 2xx).
enum WriteKind { case put, modify }

extension MemTypedService {
    static func preconditionFailed(_ detail: String) -> Problem {
        Problem(status: 412, type: "/problems/precondition-failed", title: "Precondition Failed", detail: detail)
    }

    static func notFound(_ subject: String) -> Problem {
        Problem(status: 404, title: "Not Found", detail: "no \(subject)")
    }

    /// The problem for a store error. `pointers` rewrites the store's field
    /// pointers (list filters become `/query/...`).
    func problem(_ error: StoreError, subject: String, kind: WriteKind? = nil, conditional: Bool = false,
                 pointers: (String) -> String = { $0 }) -> Problem {
        switch error {
        case .notFound:
            if kind == .put && conditional {
                return Self.preconditionFailed("\(subject) does not exist, and If-Match needs it to")
            }
            return Self.notFound(subject)
        case .alreadyExists:
            return conditional ? Self.preconditionFailed("\(subject) already exists")
                : Problem.conflict("\(subject) already exists")
        case .revisionMismatch(let current):
            return Self.preconditionFailed(
                "\(subject) is at revision \(current) (ETag \(ETag.value(current))), which the request's If-Match/If-None-Match does not allow")
        case .conflict(let message):
            return Problem.conflict(message)
        case .invalid(let field, let message):
            if field == "/actor" {
                logger.error("the token name cannot be recorded as a history actor: \(LogText(message))")
                return Problem(status: 500, type: "/problems/server-configuration", title: "Internal Server Error",
                               detail: "the caller's token name is not usable as a history actor (1-128 bytes, no control characters); fix the tokens file")
            }
            let pointer = pointers(field)
            return Problem(invalid: InvalidField(pointer: pointer, message: message))
        case .busy(let message), .full(let message), .corrupt(let message), .unavailable(let message, _):
            let fault = StoreFault(error)!
            metrics.storeError(fault.kind)
            logger.log(level: fault.logLevel, "store \(fault.kind.rawValue) on \(LogText(subject)): \(LogText(message))")
            return fault.problem
        case .backend(let message):
            metrics.storeError(.other)
            logger.error("store failure on \(LogText(subject)): \(LogText(message))")
            return Problem(status: 500, type: "/problems/store-failure", title: "Internal Server Error",
                           detail: "the VM-config store failed; the server log has the cause")
        }
    }


    /// Runs a write under the request's preconditions. `write` gets the
    /// store's `expectedRevision`: nil (unconditional), 0 (must not exist)
    /// or a revision. Conditions the store cannot express in one number
    /// (`If-Match: *`, several tags, `If-None-Match` with tags) are evaluated
    /// against the current revision, and the write is then pinned to exactly
    /// that revision, so the check and the write are still atomic; if the
    /// record changed in between, the evaluation is repeated.
    /// `conditionalWrite` of stored VM `id` under the request's preconditions.
    func conditionalVMWrite<T>(_ c: RequestContext, _ store: any VMStore, id: String, kind: WriteKind,
                               _ write: (Int?) throws(StoreError) -> T) throws(Problem) -> T {
        try conditionalWrite(Preconditions(c.request.headers), kind: kind, subject: Self.vmSubject(id),
                             current: { () throws(StoreError) in try store.getVM(id)?.revision }, write)
    }

    /// `conditionalWrite` of host profile `name` under the request's preconditions.
    func conditionalHostWrite<T>(_ c: RequestContext, _ store: any VMStore, name: String, kind: WriteKind,
                                 _ write: (Int?) throws(StoreError) -> T) throws(Problem) -> T {
        try conditionalWrite(Preconditions(c.request.headers), kind: kind, subject: Self.hostSubject(name),
                             current: { () throws(StoreError) in try store.getHost(name)?.revision }, write)
    }

    func conditionalWrite<T>(_ pre: Preconditions, kind: WriteKind, subject: String,
                             current: () throws(StoreError) -> Int?,
                             _ write: (Int?) throws(StoreError) -> T) throws(Problem) -> T {
        if pre.isEmpty {
            do { return try write(nil) } catch { throw problem(error, subject: subject, kind: kind) }
        }
        if let pinned = pre.pinnedRevision {
            do { return try write(pinned) } catch { throw problem(error, subject: subject, kind: kind, conditional: true) }
        }
        var attempt = 0
        while true {
            attempt += 1
            let now: Int?
            do { now = try current() } catch { throw problem(error, subject: subject) }
            if now == nil && kind == .modify { throw Self.notFound(subject) }
            guard pre.ifMatchHolds(current: now) else {
                throw Self.preconditionFailed(now.map { "\(subject) is at revision \($0) (ETag \(ETag.value($0))), which If-Match does not name" }
                    ?? "\(subject) does not exist, and If-Match needs it to")
            }
            guard pre.ifNoneMatchHolds(current: now) else {
                throw Self.preconditionFailed(now.map { "\(subject) exists at revision \($0) (ETag \(ETag.value($0))), which If-None-Match excludes" }
                    ?? "\(subject) does not exist")
            }
            do {
                return try write(now ?? 0)
            } catch {
                switch error {
                case .revisionMismatch, .notFound, .alreadyExists:
                    if attempt < 4 { continue }
                    throw problem(error, subject: subject, kind: kind, conditional: true)
                default:
                    throw problem(error, subject: subject, kind: kind, conditional: true)
                }
            }
        }
    }

    /// For GET: 412 when If-Match fails, 304 (with the ETag) when If-None-Match matches, else nil.
    static func conditionalRead(_ request: HTTPRequest, revision: Int) throws(Problem) -> HTTPResponse? {
        guard request.headers["If-Match"] != nil || request.headers["If-None-Match"] != nil else { return nil }
        let pre = Preconditions(request.headers)
        guard pre.ifMatchHolds(current: revision) else {
            throw preconditionFailed("the resource is at revision \(revision) (ETag \(ETag.value(revision))), which If-Match does not name")
        }
        if !pre.ifNoneMatchHolds(current: revision) {
            return HTTPResponse(status: 304, headers: [ETag.header(revision)])
        }
        return nil
    }

    /// A path segment that names a record to create: 422 at `/path/<name>` if it is not a valid id.
    static func checkNewID(_ id: String, segment: String) throws(Problem) {
        do {
            try Validation.identifier(id, field: "/path/\(segment)")
        } catch {
            if case .invalid(let field, let message) = error {
                throw Problem(invalid: InvalidField(pointer: field, message: message))
            }
        }
    }

    /// Whether `id` could name a stored record (an invalid one is simply not found).
    static func isValidID(_ id: String) -> Bool {
        do { try Validation.identifier(id, field: "/id"); return true } catch { return false }
    }
}

/// Query parameters, checked like a closed JSON object: an unknown name,
/// or a second value for a parameter that takes one, is 422 with the
/// pointer `/query/<name>`.
struct QueryParameters {
    let items: [(name: String, value: String)]

    init(_ request: HTTPRequest, allowed: [String], repeatable: [String] = []) throws(Problem) {
        items = request.query
        var seen: [String] = []
        for (name, _) in items {
            guard allowed.contains(name) || repeatable.contains(name) else {
                throw QueryParameters.invalid(name, "unknown query parameter; expected one of: " + (allowed + repeatable).joined(separator: ", "))
            }
            if !repeatable.contains(name) {
                if seen.contains(name) { throw QueryParameters.invalid(name, "given more than once") }
                seen.append(name)
            }
        }
    }

    subscript(_ name: String) -> String? { items.first { $0.name == name }?.value }

    func values(_ name: String) -> [String] { items.filter { $0.name == name }.map(\.value) }

    /// The values of a repeatable parameter, 422 if it is given more than
    /// `limit` times (the contract's `maxItems`; repeats count, as they do there).
    func values(_ name: String, atMost limit: Int) throws(Problem) -> [String] {
        let all = values(name)
        guard all.count <= limit else {
            throw QueryParameters.invalid(name, "given \(all.count) times; at most \(limit)")
        }
        return all
    }

    static func invalid(_ name: String, _ message: String) -> Problem {
        Problem(invalid: InvalidField(pointer: "/query/" + JSONPointer.escape(name), message: message))
    }

    /// The parameter as a wire field, so the wire decoders' errors point at `/query/<name>`.
    static func field(_ name: String, _ value: String) -> Field {
        Field(.string(value), pointer: "/query/" + name)
    }

    /// `limit`: 1...1000 (default 100).
    func limit() throws(Problem) -> Int {
        guard let text = self["limit"] else { return VMQuery.defaultLimit }
        guard !text.isEmpty, text.utf8.count <= 7, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(text),
              (1...VMQuery.maxLimit).contains(n)
        else {
            throw QueryParameters.invalid("limit", "must be an integer from 1 to \(VMQuery.maxLimit), got \"\(text.prefix(20))\"")
        }
        return n
    }

    /// The store's pointers for list parameters, as query pointers.
    static func pointer(_ storeField: String) -> String {
        if storeField.hasPrefix("/labels") { return "/query/label" }
        if storeField.hasPrefix("/quirks") { return "/query/quirk" }
        return "/query" + storeField
    }
}

/// How a store fault is answered. Busy passes by itself: 503 and come back
/// in a second. Full is the client's to know: 507, nothing written, reads
/// work. Corrupt needs an operator: 503 for a while (and /readyz says so).
/// Unavailable (PostgreSQL down, restarting or past --db-timeout) passes
/// when the database answers again: 503 with the store's Retry-After.
struct StoreFault {
    let kind: ServiceMetrics.StoreErrorKind
    let logLevel: Logger.Level
    let problem: Problem

    init?(_ error: StoreError) {
        switch error {
        case .busy:
            self.init(.busy, .warning, 503, "store-busy", "Service Unavailable", retryAfter: 1,
                      "the VM-config store is locked by another writer; nothing was done; retry in a second")
        case .full:
            self.init(.full, .error, 507, "store-full", "Insufficient Storage", retryAfter: nil,
                      "the VM-config store has no room to write (disk full or database size limit); nothing was written; reads still work")
        case .corrupt:
            self.init(.corrupt, .critical, 503, "store-corrupt", "Service Unavailable", retryAfter: 60,
                      "the VM-config store's database file is damaged; this server is not ready until it is restored (see /readyz)")
        case .unavailable(_, let retryAfter):
            self.init(.unavailable, .warning, 503, "store-unavailable", "Service Unavailable", retryAfter: retryAfter,
                      "the VM-config store's database cannot be reached now or did not answer in time; retry after \(retryAfter) s")
        default:
            return nil
        }
    }

    private init(_ kind: ServiceMetrics.StoreErrorKind, _ logLevel: Logger.Level, _ status: Int, _ type: String,
                 _ title: String, retryAfter: Int?, _ detail: String) {
        self.kind = kind
        self.logLevel = logLevel
        var p = Problem(status: status, type: "/problems/" + type, title: title, detail: detail)
        if let retryAfter { p.headers = [("Retry-After", String(retryAfter))] }
        problem = p
    }
}
