import HTTPServer
import JSON
import VMStore

/// Health, readiness, metrics and the contract itself.
extension MemTypedService {
    static let operationalRoutes: [Route] = [
        Route("GET", "/healthz") { _, _ throws(Problem) in MemTypedService.healthy },
        Route("GET", "/readyz", store: true) { s, _ throws(Problem) in try s.readiness() },
        Route("GET", "/metrics", store: true) { s, _ throws(Problem) in
            HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: s.metrics.exposition() + s.scrapeTimeExposition())
        },
        Route("GET", "/openapi.yaml") { _, _ throws(Problem) in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: MemTypedService.openAPISpec)
        },
    ]

    /// Built once: liveness is answered without allocating a body.
    static let healthy = HTTPResponse.json(Array(#"{"status":"ok"}"#.utf8))

    /// Ready unless the store is full, corrupt or unreachable (busy is not
    /// unready: it passes by itself, and each request that meets it gets a
    /// 503 saying so). A PostgreSQL store that cannot reach its database
    /// makes this 503, so a load balancer sends store traffic elsewhere.
    func readiness() -> HTTPResponse {
        let (state, detail, retryAfter): (String, String?, Int) = switch configuration.store?.health() ?? .healthy {
        case .healthy: ("ok", nil, 0)
        case .full: ("full", "the VM-config store has no room to write; ready again once a write succeeds or room is found", 10)
        case .corrupt: ("corrupt", "the VM-config store's database file is damaged; restore it and restart", 60)
        case .unavailable(_, let seconds):
            ("unavailable", "the VM-config store's database cannot be reached now or did not answer in time", seconds)
        }
        let ready = detail == nil
        return .json(ready ? 200 : 503, headers: ready ? [] : [("Retry-After", String(retryAfter))]) { w in
            w.beginObject()
            w.member("status", ready ? "ready" : "not_ready")
            if configuration.store != nil { w.member("store", state) }
            if let detail { w.member("detail", detail) }
            w.endObject()
        }
    }

    /// The contract: the repository's top-level openapi.yaml, embedded at build time.
    static let openAPISpec: [UInt8] = PackageResources.openapi_yaml
}
