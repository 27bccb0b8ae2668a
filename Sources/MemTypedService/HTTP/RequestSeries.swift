import Prometheus

/// The per-request metrics, `memtyped_http_requests_total` (counter) and
/// `memtyped_http_request_duration_seconds` (histogram), by route, method
/// and status, kept as plain integers and written in the Prometheus text
/// format exactly as swift-prometheus writes its Counter and Histogram.
///
/// Why not those: a swift-prometheus histogram takes its own lock and walks
/// every bucket bound as a `Duration` on each observation (~750
/// instructions). Here one observation is a few integer additions, done
/// under the lock that finds the series.
struct RequestSeries {
    /// Route labels by route index; methods by method index.
    let routes: [String]
    let methods: [String]
    /// Bucket upper bounds in nanoseconds, ascending, and as the `le` labels.
    private let bounds: [Int64]
    private let boundLabels: [String]
    /// Per slot (`route * methods.count + method`), the series seen so far
    /// by status, each an offset into `cells`.
    private var slots: [[(status: Int, offset: Int)]]
    /// Per series, `bounds.count` counts (each observation counted in the
    /// first bucket whose bound is not below it), then the total count, then
    /// the sum in nanoseconds.
    private var cells: [Int64] = []

    static let requestsName = "memtyped_http_requests_total"
    static let requestsHelp = "HTTP requests by route, method and status."
    static let latencyName = "memtyped_http_request_duration_seconds"
    static let latencyHelp = "Time from the complete request to the response, by route, method and status."

    /// Labels and help texts are fixed strings: none may need the escapes
    /// of the text format (`\`, `"`, newline), so they are written as is.
    init(routes: [String], methods: [String], buckets: [Duration]) {
        for label in routes + methods + [Self.requestsHelp, Self.latencyHelp] {
            precondition(!label.contains { $0 == "\\" || $0 == "\"" || $0 == "\n" }, "label needs escaping: \(label)")
        }
        self.routes = routes
        self.methods = methods
        bounds = buckets.map { $0.components.seconds * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000 }
        boundLabels = buckets.map(\.bucketRepresentation)
        slots = Array(repeating: [], count: routes.count * methods.count)
    }

    mutating func record(route: Int, method: Int, status: Int, nanoseconds: Int64) {
        let slot = route * methods.count + method
        let offset = offset(slot, status)
        var bucket = 0
        while bucket < bounds.count && bounds[bucket] < nanoseconds { bucket += 1 }
        if bucket < bounds.count { cells[offset + bucket] += 1 }
        cells[offset + bounds.count] += 1
        cells[offset + bounds.count + 1] += nanoseconds
    }

    /// Adds every series of `other` (same routes, methods and buckets) to
    /// this one. Reads `other` without keeping a reference to its storage, so
    /// its next `record` does not copy it.
    mutating func add(_ other: RequestSeries) {
        precondition(other.slots.count == slots.count && other.bounds == bounds, "series of another shape")
        let width = bounds.count + 2
        for (slot, series) in other.slots.enumerated() {
            for (status, from) in series {
                let to = offset(slot, status)
                for i in 0..<width { cells[to + i] += other.cells[from + i] }
            }
        }
    }

    /// Where the series of `status` in `slot` starts in `cells`, made on first use.
    private mutating func offset(_ slot: Int, _ status: Int) -> Int {
        if let found = slots[slot].first(where: { $0.status == status }) { return found.offset }
        let offset = cells.count
        cells.append(contentsOf: repeatElement(0, count: bounds.count + 2))
        slots[slot].append((status, offset))
        return offset
    }

    /// Both families, HELP and TYPE lines first; nothing for a family
    /// without series, as swift-prometheus before its first metric.
    func write(to out: inout [UInt8]) {
        guard slots.contains(where: { !$0.isEmpty }) else { return }
        Self.header(&out, Self.requestsName, Self.requestsHelp, "counter")
        forEachSeries { labels, offset in
            out.append(contentsOf: "\(Self.requestsName){\(labels)} \(cells[offset + bounds.count])\n".utf8)
        }
        Self.header(&out, Self.latencyName, Self.latencyHelp, "histogram")
        forEachSeries { labels, offset in
            var cumulative: Int64 = 0
            for (b, le) in boundLabels.enumerated() {
                cumulative += cells[offset + b]
                out.append(contentsOf: "\(Self.latencyName)_bucket{\(labels),le=\"\(le)\"} \(cumulative)\n".utf8)
            }
            let count = cells[offset + bounds.count]
            let sum = Duration.nanoseconds(cells[offset + bounds.count + 1]).bucketRepresentation
            out.append(contentsOf: "\(Self.latencyName)_bucket{\(labels),le=\"+Inf\"} \(count)\n".utf8)
            out.append(contentsOf: "\(Self.latencyName)_sum{\(labels)} \(sum)\n".utf8)
            out.append(contentsOf: "\(Self.latencyName)_count{\(labels)} \(count)\n".utf8)
        }
    }

    private func forEachSeries(_ body: (String, Int) -> Void) {
        for (slot, series) in slots.enumerated() {
            for (status, offset) in series {
                let route = routes[slot / methods.count]
                let method = methods[slot % methods.count]
                body(#"route="\#(route)",method="\#(method)",status="\#(status)""#, offset)
            }
        }
    }

    private static func header(_ out: inout [UInt8], _ name: String, _ help: String, _ type: String) {
        out.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8)
    }
}
