import HTTPServer
import JSON
import MemTypeWire

/// An RFC 9457 problem: every error this service answers, as
/// `application/problem+json`.
///
/// `type` is a relative URI naming the kind of problem (`/problems/invalid-field`)
/// or `about:blank` for plain HTTP statuses; `pointer` (an RFC 6901 JSON
/// pointer) names the offending field of the request body.
public struct Problem: Error, Sendable, Equatable {
    public var status: Int
    public var type: String
    public var title: String
    public var detail: String
    public var pointer: String?
    /// For malformed JSON: where the parser stopped.
    public var line: Int?
    public var column: Int?
    /// Extra response headers (`Allow` on 405, `WWW-Authenticate` on 401).
    public var headers: [(name: String, value: String)] = []

    public init(status: Int, type: String = "about:blank", title: String, detail: String, pointer: String? = nil) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.pointer = pointer
    }

    public static func == (a: Problem, b: Problem) -> Bool {
        a.status == b.status && a.type == b.type && a.title == b.title && a.detail == b.detail
            && a.pointer == b.pointer && a.line == b.line && a.column == b.column
    }

    public func write(to w: inout JSONWriter, instance: String? = nil, requestID: String? = nil) {
        w.beginObject()
        w.member("type", type)
        w.member("title", title)
        w.member("status", status)
        w.member("detail", detail)
        if let instance { w.member("instance", instance) }
        if let pointer { w.member("pointer", pointer) }
        if let line { w.member("line", line) }
        if let column { w.member("column", column) }
        if let requestID { w.member("request_id", requestID) }
        w.endObject()
    }

    public func response(instance: String? = nil, requestID: String? = nil) -> HTTPResponse {
        var w = JSONWriter(capacity: 256)
        write(to: &w, instance: instance, requestID: requestID)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/problem+json")] + headers, body: w.bytes)
    }
}

extension Problem {
    /// A request error from the wire layer: 400 for malformed JSON, 422 for a bad field.
    public init(_ error: RequestError) {
        switch error {
        case .malformed(let e):
            self.init(status: 400, type: "/problems/malformed-json", title: "Malformed JSON", detail: e.description)
            line = e.line
            column = e.column
        case .invalid(let e):
            self.init(invalid: e)
        }
    }

    public init(invalid e: InvalidField) {
        self.init(status: 422, type: "/problems/invalid-field", title: "Invalid field value", detail: e.description, pointer: e.pointer)
    }

    public static func notFound(_ path: String) -> Problem {
        Problem(status: 404, title: "Not Found", detail: "no resource at \(path)")
    }

    /// 409: the request is valid, but the stored state does not allow it
    /// (a reference to a missing profile, a record that cannot run on its host).
    static func conflict(_ detail: String) -> Problem {
        Problem(status: 409, type: "/problems/conflict", title: "Conflict", detail: detail)
    }

    public static func methodNotAllowed(_ method: String, allowed: [String]) -> Problem {
        var p = Problem(status: 405, title: "Method Not Allowed",
                        detail: "\(method) is not allowed here; allowed: " + allowed.joined(separator: ", "))
        p.headers = [("Allow", allowed.joined(separator: ", "))]
        return p
    }

    public static func unsupportedMediaType(_ got: String?) -> Problem {
        Problem(status: 415, title: "Unsupported Media Type",
                detail: "send the body as Content-Type: application/json" + (got.map { " (got \($0))" } ?? " (no Content-Type given)"))
    }
}
