/// Request and response values passed between the server and its handler.
///
/// These are plain values: the server builds one `HTTPRequest` per request
/// (headers, query and body gathered from libmicrohttpd exactly once) and
/// copies the `HTTPResponse` body into libmicrohttpd when it is queued.

/// One HTTP request as received.
public struct HTTPRequest: Sendable {
    /// The request method exactly as sent ("GET", "POST", ...).
    public var method: String
    /// The URL path without the query string, percent-decoded except for
    /// "%00", "%2F" and "%25", which stay as sent: a decoded NUL or slash
    /// could cut the path short or split a segment ("/v1/vms/a%2Fhistory"
    /// is one segment `a%2Fhistory`, not two).
    public var path: String
    /// Query arguments, percent-decoded ('+' becomes a space), in order.
    /// An argument without '=' has an empty value.
    public var query: [(name: String, value: String)]
    public var headers: HTTPHeaders
    /// Empty while `HTTPHandler.admit(_:)` looks at the request.
    public var body: [UInt8]
    /// What the handler's `admit(_:)` found, carried to its `handle(_:)` so
    /// that the early checks run once. The server only carries it.
    public var admission = HTTPAdmission()

    public init(
        method: String,
        path: String,
        query: [(name: String, value: String)] = [],
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The first query value named `name` (case-sensitive), or `nil`.
    public func queryValue(_ name: String) -> String? {
        for item in query where item.name == name {
            return item.value
        }
        return nil
    }
}

/// A complete response. `Content-Length` is computed by the server (a
/// handler-supplied one is ignored); `Date` is added unless the handler sets
/// one; `Content-Type` is sent only if the handler sets one.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a UTF-8 text body.
    public init(status: Int, headers: [(name: String, value: String)] = [], text: String) {
        self.init(status: status, headers: headers, body: Array(text.utf8))
    }
}

/// What a handler's early checks (`HTTPHandler.admit(_:)`) learnt about a
/// request, for its `handle(_:)`: the matched route, its path parameters and
/// the authenticated principal. `route < 0`: not admitted (yet).
public struct HTTPAdmission: Sendable {
    public var route: Int = -1
    public var parameters: [(name: String, value: String)] = []
    public var principal: String? = nil
    /// When the checks started (the handler's clock), for its metrics.
    public var started: Int64 = 0
    /// Run `handle(_:)` on the server's offload pool, off the poll threads
    /// (`HTTPServerConfiguration.Offload`): for handlers that may block.
    public var offload = false

    public init() {}
}

/// Handles requests. The methods run synchronously on one of the server's
/// poll threads: they must not block for long (every millisecond one
/// blocks is a millisecond that thread serves nobody else), and must not
/// call `HTTPServer.stop()`. A request that may block (a store call) sets
/// `admission.offload` in `admit(_:)`; its `handle(_:)` then runs on the
/// offload pool (`HTTPServerConfiguration.Offload`).
public protocol HTTPHandler: Sendable {
    /// The early checks, run once per request as soon as its head is in and
    /// before any byte of its body is read (route, method, credentials,
    /// media type). nil admits the request: the server reads the body
    /// (sending "100 Continue" if asked) and calls `handle(_:)` with this
    /// request, `admission` included. A response refuses it: it is sent at
    /// once, the body is never read, and the connection is closed.
    /// The default admits everything.
    func admit(_ request: inout HTTPRequest) -> HTTPResponse?
    func handle(_ request: HTTPRequest) -> HTTPResponse
    /// The answer for an admitted request whose `handle(_:)` will not run
    /// (it asked to be offloaded; `why` says what happened). nil: the
    /// server's own 503 (`errorResponder`) with `detail`. A 503 without
    /// Retry-After gets one. Runs on a poll thread or an offload thread;
    /// must not block.
    func unavailable(_ request: HTTPRequest, why: HTTPUnavailable, detail: String) -> HTTPResponse?
}

/// Why an offloaded request is not handled (`HTTPHandler.unavailable`).
public enum HTTPUnavailable: Sendable, Equatable {
    /// `Offload.queueLimit` requests were already waiting for a thread.
    case queueFull
    /// It waited longer than `Offload.queueTimeoutMillis` for a thread.
    case queueTimeout
    /// The server is stopping.
    case stopping
}

extension HTTPHandler {
    public func admit(_ request: inout HTTPRequest) -> HTTPResponse? { nil }
    public func unavailable(_ request: HTTPRequest, why: HTTPUnavailable, detail: String) -> HTTPResponse? { nil }
}

/// An `HTTPHandler` made from a closure.
public struct ClosureHTTPHandler: HTTPHandler {
    @usableFromInline let body: @Sendable (HTTPRequest) -> HTTPResponse

    public init(_ body: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.body = body
    }

    @inlinable
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        body(request)
    }
}
