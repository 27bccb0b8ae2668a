import Testing
import Foundation
@testable import MemTypedService

/// The router matches paths over their bytes; this checks it against a
/// reference written the plain way (split into strings, compare segment by
/// segment) over the real route table and awkward paths.
@Suite struct RouterTests {
    static let routes = MemTypedService.engineRoutes + MemTypedService.guestRoutes
        + MemTypedService.vmRoutes + MemTypedService.operationalRoutes + MemTypedService.webRoutes

    /// What `Router.resolve` must answer: (pattern, captures) found, else the allowed methods.
    static func reference(_ method: String, _ path: String) -> (String?, [String: String], [String]) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var allowed: [String] = []
        for route in routes {
            let pattern = route.pattern.split(separator: "/").map(String.init)
            guard pattern.count == parts.count else { continue }
            var captures: [String: String] = [:]
            var ok = true
            for (p, part) in zip(pattern, parts) {
                if p.hasPrefix("{") { captures[String(p.dropFirst().dropLast())] = part } else if p != part { ok = false; break }
            }
            guard ok else { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") { return (route.pattern, captures, []) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        return (nil, [:], allowed)
    }

    static var paths: [String] {
        var paths = ["", "/", "//", "/v1", "/v1/", "/v2/vms", "/healthz/", "//healthz", "/healthz/x",
                     "/v1//vms///web-01//decision/", "/v1/vms/a%2Fhistory", "/v1/vms/é/history",
                     "/v1/vms/web-01/decision/extra", "/v1/VMS/web-01", "/v1/vms/web-01/decisions",
                     "/v1/hosts/spr/history", "/v1/hosts/spr", "/v1/decisions/batch/", "/v1/decisions/bat",
                     "*", "/openapi.yaml", "/metrics", String(repeating: "/a", count: 40)]
        for route in routes {
            paths.append(route.pattern.replacingOccurrences(of: "{id}", with: "web-01").replacingOccurrences(of: "{name}", with: "spr-6-16"))
            paths.append(route.pattern)  // "{id}" itself as an id
        }
        return paths
    }

    @Test func matchesTheReferenceOnEveryRouteAndOddPaths() {
        let router = Router(routes: Self.routes)
        for path in Self.paths {
            for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
                let (pattern, captures, allowed) = Self.reference(method, path)
                switch router.resolve(method: method, path: path) {
                case .found(let index, let got):
                    #expect(router.routes[index].pattern == pattern, "\(method) \(path)")
                    #expect(Dictionary(uniqueKeysWithValues: got) == captures, "\(method) \(path)")
                case .notFound:
                    #expect(pattern == nil && allowed.isEmpty, "\(method) \(path)")
                case .methodNotAllowed(let got):
                    #expect(pattern == nil && got == allowed, "\(method) \(path)")
                }
            }
        }
    }
}
