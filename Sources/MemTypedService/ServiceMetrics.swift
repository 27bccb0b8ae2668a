import Prometheus
import Synchronization

/// The service's Prometheus metrics: requests and latency per route, method
/// and status, requests in flight, and build information.
///
/// Metric objects are created on first use of a (route, method, status) and
/// cached in a table indexed by route and method number, so the request path
/// costs a short scan for the status under a lock plus the metrics' own
/// atomic updates: no label strings are hashed or built per request.
final class ServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let inFlight: Gauge
    /// The route label by route index, then `unmatched`.
    private let routeLabels: [String]
    /// Per route slot (`route * methods.count + method`), the series seen so far by status.
    private let series: Mutex<[[(status: Int, series: Series)]]>

    private final class Series: Sendable {
        let requests: Counter
        let latency: DurationHistogram
        init(requests: Counter, latency: DurationHistogram) {
            self.requests = requests
            self.latency = latency
        }
    }

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
        routeLabels = routes + ["unmatched"]
        series = Mutex(Array(repeating: [], count: routeLabels.count * Self.methods.count))
        inFlight = registry.makeGauge(name: "memtyped_http_requests_in_flight", help: "Requests being handled now.")
        registry.makeGauge(name: "memtyped_build_info", labels: [("version", version), ("swift", "6")],
                           help: "Build information; the value is always 1.").set(Int64(1))
    }

    /// The index of `method` in `methods`.
    static func methodIndex(_ method: String) -> Int {
        switch method {
        case "GET": 0
        case "HEAD": 1
        case "POST": 2
        case "PUT": 3
        case "PATCH": 4
        case "DELETE": 5
        case "OPTIONS": 6
        default: 7
        }
    }

    func begin() { inFlight.increment() }

    /// Counts a response. `route` indexes the route labels (nil: no route
    /// matched); `method` is a `methodIndex`.
    func end(route: Int?, method: Int, status: Int, nanoseconds: Int64) {
        inFlight.decrement()
        let route = route ?? routeLabels.count - 1
        let s = series.withLock { table -> Series in
            let slot = route * Self.methods.count + method
            for entry in table[slot] where entry.status == status { return entry.series }
            let labels = [("route", routeLabels[route]), ("method", Self.methods[method]), ("status", String(status))]
            let s = Series(
                requests: registry.makeCounter(name: "memtyped_http_requests_total", labels: labels,
                                               help: "HTTP requests by route, method and status."),
                latency: registry.makeDurationHistogram(name: "memtyped_http_request_duration_seconds", labels: labels,
                                                        buckets: ServiceMetrics.buckets,
                                                        help: "Time from the complete request to the response, by route, method and status."))
            table[slot].append((status, s))
            return s
        }
        s.requests.increment()
        s.latency.recordNanoseconds(nanoseconds)
    }

    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
