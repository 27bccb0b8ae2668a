import HTTPServer
import HTTPTestSupport
import JSON
import MemTypedService
import Testing

/// A real memtyped server on an ephemeral loopback port, for one test.
final class TestServer {
    let server: HTTPServer
    var port: Int { server.port }

    init(maxBody: Int = 64 * 1024, configure: (inout ServiceConfiguration) -> Void = { _ in },
         http configureHTTP: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        var http = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        http.threading = .pool(threads: 2)
        http.maxBodyBytes = maxBody
        http.errorResponder = MemTypedService.errorResponder
        configureHTTP(&http)
        var service = ServiceConfiguration()
        configure(&service)
        server = HTTPServer(configuration: http, handler: MemTypedService(configuration: service))
        try server.start()
    }

    deinit { server.stop() }

    func client() throws -> RawHTTPClient { try RawHTTPClient(port: port) }

    /// One request on a fresh connection.
    func request(_ method: String, _ target: String, json: String? = nil,
                 headers: [(name: String, value: String)] = []) throws -> RawHTTPResponse {
        let c = try client()
        defer { c.close() }
        var h = headers
        if json != nil && !h.contains(where: { $0.name.lowercased() == "content-type" }) { h.append(("Content-Type", "application/json")) }
        return try c.request(method, target, headers: h, body: json.map { Array($0.utf8) })
    }
}

extension RawHTTPResponse {
    /// The body parsed as JSON (a test failure if it is not).
    func json() throws -> JSONValue { try JSONParser.parse(body) }
}

extension JSONValue {
    /// Walks a path of keys and indexes: `v["ept", "type"]`.
    subscript(path: Any...) -> JSONValue? {
        var v: JSONValue? = self
        for p in path {
            if let k = p as? String { v = v?[k] } else if let i = p as? Int { v = v?[i] }
        }
        return v
    }
}
