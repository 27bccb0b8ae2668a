import HTTPServer
import Locking
import Prometheus

/// The service's Prometheus metrics: requests and latency per route, method
/// and status, requests in flight, and build information.
///
/// The per-request series are plain integers in a table indexed by route
/// and method number (`RequestSeries`), so the request path costs one lock,
/// a short scan for the status and a few additions: no label strings are
/// hashed or built, no metric object is locked per request. The gauges live
/// in the swift-prometheus registry, whose output comes first.
///
/// Two tables, one for the poll threads and one for the store (offload)
/// threads, merged for /metrics: store threads may run under SCHED_IDLE
/// beside PostgreSQL, and one preempted while holding a lock the poll
/// threads share would stall every poll thread behind it.
final class ServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let inFlight: Gauge
    /// Index 0: poll (and connection) threads; 1: offload threads.
    private let series: [Locked<RequestSeries>]
    /// No series yet, the shape of both: where /metrics merges them.
    private let empty: RequestSeries
    private let unmatched: Int
    private let storeErrors: [Counter]

    /// Store failures by kind (`StoreError` beyond the request's own faults).
    enum StoreErrorKind: String, CaseIterable { case busy, full, corrupt, unavailable, other }

    /// The method labels: arbitrary method names would make unbounded
    /// series, so anything unusual is counted as `other` (the last).
    static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"]

    /// Latency buckets from 25 us to 2.5 s: the decision path lives at the bottom.
    private static let buckets: [Duration] = [
        .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(1000), .milliseconds(2500),
    ]

    /// `routes` are the route labels, in the router's order.
    init(version: String, routes: [String]) {
        unmatched = routes.count
        empty = RequestSeries(routes: routes + ["unmatched"], methods: Self.methods, buckets: Self.buckets)
        series = [Locked(empty), Locked(empty)]
        inFlight = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "memtyped", subsystem: "http", metricName: "requests", unitName: "in_flight",
            helpText: "Requests being handled now."))
        let registry = self.registry
        storeErrors = StoreErrorKind.allCases.map { kind in
            registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    namespace: "memtyped", subsystem: "store", metricName: "errors", unitName: "total",
                    helpText: "Store calls that failed: busy (lock wait exceeded), full, corrupt, unavailable (database unreachable or past its timeout), other."),
                labels: [("kind", kind.rawValue)])
        }
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "memtyped", metricName: "build", unitName: "info",
                helpText: "Build information; the value is always 1."),
            labels: [("version", version), ("swift", "6")]
        ).set(Int64(1))
    }

    /// The index of `method` in `methods` (`other` for any method not listed).
    static func methodIndex(_ method: String) -> Int {
        methods.firstIndex(of: method) ?? methods.count - 1
    }

    func begin() { inFlight.increment() }

    func storeError(_ kind: StoreErrorKind) {
        storeErrors[StoreErrorKind.allCases.firstIndex(of: kind)!].increment()
    }

    /// Counts a response. `route` indexes the route labels (nil: no route
    /// matched); `method` is a `methodIndex`.
    func end(route: Int?, method: Int, status: Int, nanoseconds: Int64) {
        inFlight.decrement()
        series[HTTPServer.onOffloadThread ? 1 : 0].withLock {
            $0.record(route: route ?? unmatched, method: method, status: status, nanoseconds: nanoseconds)
        }
    }

    func exposition() -> [UInt8] {
        var out = registry.emitToBuffer()
        // Written from a sum taken under each lock in turn: requests are not
        // held up while the text is built, and the tables' storage is not
        // shared with it (a shared copy would make the next request copy a
        // whole table under its lock).
        var total = empty
        for table in series { table.withLock { total.add($0) } }
        total.write(to: &out)
        return out
    }
}
