import Prometheus
import Synchronization

/// The service's Prometheus metrics: requests and latency per route and
/// status, requests in flight, and build information.
///
/// Metric objects are created on first use of a (route, status) pair and
/// cached, so the request path costs one dictionary lookup under a lock plus
/// the histogram's own atomic updates.
final class ServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let inFlight: Gauge
    private let series = Mutex<[SeriesKey: Series]>([:])

    private struct SeriesKey: Hashable { let route: String, method: String, status: Int }
    private struct Series: Sendable { let requests: Counter, latency: DurationHistogram }

    /// Latency buckets from 25 us to 2.5 s: the decision path lives at the bottom.
    private static let buckets: [Duration] = [
        .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(1000), .milliseconds(2500),
    ]

    init(version: String) {
        inFlight = registry.makeGauge(name: "memtyped_http_requests_in_flight", help: "Requests being handled now.")
        registry.makeGauge(name: "memtyped_build_info", labels: [("version", version), ("swift", "6")],
                           help: "Build information; the value is always 1.").set(Int64(1))
    }

    func begin() { inFlight.increment() }

    func end(route: String, method: String, status: Int, nanoseconds: Int64) {
        inFlight.decrement()
        let key = SeriesKey(route: route, method: method, status: status)
        let s = series.withLock { table -> Series in
            if let s = table[key] { return s }
            let labels = [("route", route), ("method", method), ("status", String(status))]
            let s = Series(
                requests: registry.makeCounter(name: "memtyped_http_requests_total", labels: labels,
                                               help: "HTTP requests by route, method and status."),
                latency: registry.makeDurationHistogram(name: "memtyped_http_request_duration_seconds", labels: labels,
                                                        buckets: ServiceMetrics.buckets,
                                                        help: "Time from the complete request to the response, by route, method and status."))
            table[key] = s
            return s
        }
        s.requests.increment()
        s.latency.recordNanoseconds(nanoseconds)
    }

    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
