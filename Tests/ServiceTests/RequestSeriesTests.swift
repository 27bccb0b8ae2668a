import Prometheus
import Testing
@testable import MemTypedService

/// `RequestSeries` writes the per-request counter and histogram itself; this
/// holds its text to what swift-prometheus writes for the same observations
/// (line for line; the order of series within a family is not fixed by
/// either).
@Suite struct RequestSeriesTests {
    static let buckets: [Duration] = [.microseconds(25), .microseconds(100), .milliseconds(2.5), .milliseconds(1000)]
    static let observations: [(route: Int, method: Int, status: Int, nanoseconds: Int64)] = [
        (0, 2, 200, 0), (0, 2, 200, 25_000), (0, 2, 200, 25_001), (0, 2, 200, 99_999), (0, 2, 422, 3_000_000),
        (1, 0, 200, 1_000_000_000), (1, 0, 200, 1_000_000_001), (1, 0, 200, 7_123_456_789), (2, 7, 404, 42),
        (1, 1, 200, 100_000), (0, 2, 200, 1_234_567),
    ]

    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init).sorted()
    }

    @Test func writesWhatSwiftPrometheusWrites() {
        let routes = ["/v1/decisions", "/healthz", "unmatched"]
        let methods = ServiceMetrics.methods
        var series = RequestSeries(routes: routes, methods: methods, buckets: Self.buckets)
        let registry = PrometheusCollectorRegistry()
        for o in Self.observations {
            series.record(route: o.route, method: o.method, status: o.status, nanoseconds: o.nanoseconds)
            let labels = [("route", routes[o.route]), ("method", methods[o.method]), ("status", String(o.status))]
            // The full name as metricName, no unit: descriptors join their non-empty parts.
            let requests = MetricNameDescriptor(metricName: RequestSeries.requestsName, unitName: "", helpText: RequestSeries.requestsHelp)
            let latency = MetricNameDescriptor(metricName: RequestSeries.latencyName, unitName: "", helpText: RequestSeries.latencyHelp)
            registry.makeCounter(descriptor: requests, labels: labels).increment()
            registry.makeDurationHistogram(descriptor: latency, labels: labels, buckets: Self.buckets)
                .recordNanoseconds(o.nanoseconds)
        }
        var ours: [UInt8] = []
        series.write(to: &ours)
        let reference = Self.lines(registry.emitToBuffer())
        #expect(reference.count == 4 + 5 * 1 + 5 * (4 + 3))
        #expect(Self.lines(ours) == reference)
    }

    /// ServiceMetrics keeps one table for poll threads and one for store
    /// threads and writes their sum: split the observations over two tables
    /// (alternately, so that series meet in both) and the sum writes what
    /// one table holding them all writes.
    @Test func theSumOfTwoTablesWritesWhatOneTableWrites() {
        let routes = ["/v1/decisions", "/healthz", "unmatched"]
        let methods = ServiceMetrics.methods
        let empty = RequestSeries(routes: routes, methods: methods, buckets: Self.buckets)
        var one = empty
        var halves = [empty, empty]
        for (i, o) in Self.observations.enumerated() {
            one.record(route: o.route, method: o.method, status: o.status, nanoseconds: o.nanoseconds)
            halves[i % 2].record(route: o.route, method: o.method, status: o.status, nanoseconds: o.nanoseconds)
        }
        var sum = empty
        sum.add(halves[0])
        sum.add(halves[1])
        var expected: [UInt8] = []
        one.write(to: &expected)
        var written: [UInt8] = []
        sum.write(to: &written)
        #expect(!expected.isEmpty)
        #expect(Self.lines(written) == Self.lines(expected))
        // Adding reads only: each half still writes its own share.
        var half: [UInt8] = []
        halves[1].write(to: &half)
        #expect(Self.lines(half).contains { $0.hasPrefix(RequestSeries.requestsName + "{route=\"/healthz\",method=\"GET\",status=\"200\"} 2") })
    }

    @Test func writesNothingBeforeTheFirstRequest() {
        var out: [UInt8] = []
        RequestSeries(routes: ["/healthz"], methods: ["GET"], buckets: Self.buckets).write(to: &out)
        #expect(out.isEmpty)
    }
}
