import Foundation
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
            guard let spec = MemTypedService.openAPISpec else {
                throw Problem(status: 404, title: "Not Found", detail: "this build carries no openapi.yaml resource")
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: spec)
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

    /// The contract, bundled from the repository's top-level openapi.yaml.
    static let openAPISpec: [UInt8]? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let data = try? Data(contentsOf: url) else { return nil }
        return [UInt8](data)
    }()
}
