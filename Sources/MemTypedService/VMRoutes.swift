import HTTPServer
import VMStore

/// The VM-config store over HTTP (issue: per-VM records pinned at creation).
extension MemTypedService {
    static let vmRoutes: [Route] = []

    /// The configured store, or 503 when the service runs without one.
    func requireStore() throws(Problem) -> any VMStore {
        guard let store = configuration.store else {
            throw Problem(status: 503, type: "/problems/no-store", title: "Service Unavailable",
                          detail: "this memtyped runs without a VM-config store")
        }
        return store
    }
}
