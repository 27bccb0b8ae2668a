import HTTPServer
import HTTPTestSupport
import JSON
import Testing
import VMStore

/// The store's own series on /metrics, over real HTTP and a real SQLite file.
@Suite struct StoreMetricsTests {
    static func value(_ metrics: String, _ series: String) -> Int? {
        for line in metrics.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Int(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func vmCountAndMemoLookups() throws {
        let s = try StoreServer()
        let before = try s.request("GET", "/metrics", token: nil).bodyText
        #expect(Self.value(before, "memtyped_store_vms") == 0, "\(before)")
        #expect(Self.value(before, "memtyped_ready") == 1)
        try s.createVM("a", vmJSON())
        try s.createVM("b", vmJSON())
        // The first lookup of a VM reads SQLite, the next ones are memo hits.
        for _ in 0..<3 {
            #expect(try s.request("GET", "/v1/vms/a/decision?gpa=0xfd000000&pat_index=2&pat=linux", token: nil).status == 200)
        }
        let after = try s.request("GET", "/metrics", token: nil).bodyText
        #expect(Self.value(after, "memtyped_store_vms") == 2, "\(after)")
        let hits = Self.value(after, #"memtyped_store_decision_memo_lookups_total{result="hit"}"#)
        let misses = Self.value(after, #"memtyped_store_decision_memo_lookups_total{result="miss"}"#)
        #expect(hits == 2 && misses == 1, "hits \(String(describing: hits)), misses \(String(describing: misses))")
    }
}
