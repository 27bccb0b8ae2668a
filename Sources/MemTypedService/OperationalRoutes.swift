import HTTPServer
import JSON

/// Health, readiness, metrics and the contract itself.
extension MemTypedService {
    static let operationalRoutes: [Route] = [
        Route("GET", "/healthz") { _, _ throws(Problem) in MemTypedService.healthy },
        Route("GET", "/readyz") { s, _ throws(Problem) in s.readiness() },
        Route("GET", "/metrics") { s, _ throws(Problem) in
            HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: s.metrics.exposition())
        },
        Route("GET", "/openapi.yaml") { _, _ throws(Problem) in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: MemTypedService.openAPISpec)
        },
    ]

    /// Built once: liveness is answered without allocating a body.
    static let healthy = HTTPResponse.json(Array(#"{"status":"ok"}"#.utf8))

    func readiness() -> HTTPResponse {
        .json { w in
            w.beginObject()
            w.member("status", "ready")
            w.endObject()
        }
    }

    /// The contract: the repository's top-level openapi.yaml, embedded at build time.
    static let openAPISpec: [UInt8] = PackageResources.openapi_yaml
}
