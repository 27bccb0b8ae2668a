import Clock
import HTTPServer
import JSON
import Logging
import MemTypeEngine
import MemTypeWire

#if canImport(Glibc)
import Glibc
#endif

/// The memtyped HTTP service: a thin pipeline of route lookup, content-type
/// check, handler, and metrics. Handlers turn JSON into engine or store calls
/// and back; they hold no logic of their own.
public final class MemTypedService: HTTPHandler {
    let configuration: ServiceConfiguration
    let metrics: ServiceMetrics
    let logger: Logger
    let router = Router(routes: MemTypedService.engineRoutes + MemTypedService.guestRoutes + MemTypedService.vmRoutes + MemTypedService.operationalRoutes
        + MemTypedService.webRoutes)

    public init(configuration: ServiceConfiguration = ServiceConfiguration(), logger: Logger = Logger(label: "memtyped")) {
        self.configuration = configuration
        self.metrics = ServiceMetrics(version: configuration.version, routes: router.routes.map(\.pattern))
        self.logger = logger
    }

    /// The early checks, in one pass, before the body is read: route (404,
    /// 405), token (401, 403), media type (415). A refusal is counted and
    /// logged here; an admitted request carries what was found to `handle`.
    public func admit(_ request: inout HTTPRequest) -> HTTPResponse? {
        let start = MonotonicClock.nanoseconds()
        metrics.begin()
        request.admission.started = start
        var matched: Int? = nil
        let refusal: Problem
        switch router.resolve(method: request.method, path: request.path) {
        case .notFound:
            refusal = Problem.notFound(request.path)
        case .methodNotAllowed(let allowed):
            refusal = Problem.methodNotAllowed(request.method, allowed: allowed)
        case .found(let index, let captures):
            matched = index
            let route = router.routes[index]
            do throws(Problem) {
                if let access = route.access {
                    request.admission.principal = try configuration.auth.authorize(request, for: access)
                }
                if route.takesJSON { try MemTypedService.requireJSON(request) }
                request.admission.offload = route.usesStore && configuration.store != nil
                request.admission.route = index
                request.admission.parameters = captures
                return nil
            } catch {
                refusal = error
            }
        }
        var id = RequestIDSlot(request)
        var response = refusal.response(instance: request.path, requestID: id.value())
        id.echo(in: &response)
        finish(request, route: matched, response: response, started: start, id: &id)
        return response
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        var request = request
        if request.admission.route < 0, let refusal = admit(&request) {
            return refusal  // called without the server's admit (tests)
        }
        let index = request.admission.route
        var id = RequestIDSlot(request)
        var response: HTTPResponse
        do throws(Problem) {
            response = try router.routes[index].handler(self, RequestContext(request: request))
        } catch {
            response = error.response(instance: request.path, requestID: id.value())
        }
        id.echo(in: &response)
        finish(request, route: index, response: response, started: request.admission.started, id: &id)
        return response
    }

    /// A store route the server will not run: its store threads are all
    /// busy and the queue in front of them full, it waited there too long,
    /// or the server is stopping. Counted and logged like any answer.
    public func unavailable(_ request: HTTPRequest, why: HTTPUnavailable, detail: String) -> HTTPResponse? {
        var id = RequestIDSlot(request)
        var problem = Problem(status: 503, type: why == .stopping ? "about:blank" : "/problems/store-overloaded",
                              title: "Service Unavailable", detail: detail)
        problem.headers = [("Retry-After", "1")]
        var response = problem.response(instance: request.path, requestID: id.value())
        id.echo(in: &response)
        finish(request, route: request.admission.route, response: response, started: request.admission.started, id: &id)
        return response
    }

    /// Metrics and the access log line, once per request.
    private func finish(_ request: HTTPRequest, route: Int?, response: HTTPResponse, started: Int64, id: inout RequestIDSlot) {
        let elapsed = MonotonicClock.nanoseconds() - started
        metrics.end(route: route, method: ServiceMetrics.methodIndex(request.method), status: response.status, nanoseconds: elapsed)
        if configuration.accessLog {
            logger.info("\(LogText(request.method)) \(LogText(request.path)) \(response.status) \(response.body.count)B \(elapsed / 1000)us id=\(LogText(id.value()))")
        }
    }

    /// 415 unless the body is declared JSON (`application/json`, any
    /// parameters, or a `+json` suffix such as `application/merge-patch+json`).
    static func requireJSON(_ request: HTTPRequest) throws(Problem) {
        switch request.headers.firstValue("Content-Type", matches: MediaType.isJSON) {
        case true?: return
        case false?: throw Problem.unsupportedMediaType(request.headers["Content-Type"])
        case nil: throw Problem.unsupportedMediaType(nil)
        }
    }

    /// The problem+json body for errors the HTTP layer answers itself (413, 400).
    public static let errorResponder: @Sendable (Int, String) -> HTTPResponse = { status, detail in
        let title = switch status {
        case 400: "Bad Request"
        case 413: "Content Too Large"
        default: "HTTP \(status)"
        }
        return Problem(status: status, title: title, detail: detail).response()
    }
}

/// Small response helpers shared by the routes.
extension HTTPResponse {
    static func json(_ body: [UInt8], status: Int = 200, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers.isEmpty ? jsonHeaders : jsonHeaders + headers, body: body)
    }

    /// Built once: most responses carry only this header, and sharing the
    /// array saves building one per response.
    private static let jsonHeaders: [(name: String, value: String)] = [("Content-Type", "application/json")]

    static func json(_ status: Int = 200, headers: [(name: String, value: String)] = [], capacity: Int = 1024,
                     _ write: (inout JSONWriter) -> Void) -> HTTPResponse {
        var w = JSONWriter(capacity: capacity)
        write(&w)
        return .json(w.bytes, status: status, headers: headers)
    }
}

extension String {
    func trimmingSpaces() -> String {
        let bytes = utf8.drop { $0 == 0x20 || $0 == 0x09 }
        let trimmed = bytes.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
        return String(decoding: Array(trimmed), as: UTF8.self)
    }

    func lowercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
