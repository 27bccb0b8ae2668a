import HTTPServer
import VMStore

extension MemTypedService {
    /// The series taken at scrape time, after the counters:
    /// `memtyped_ready` (1 when `GET /readyz` would answer 200, so the "not
    /// ready" alert in deploy/prometheus needs no probe of its own and follows
    /// whatever readiness checks), and the store's own figures when it has
    /// them: decision-memo hits and misses, and the number of VMs.
    func scrapeTimeExposition() -> [UInt8] {
        let ready = readiness().status == 200 ? 1 : 0
        var text = """
            # HELP memtyped_ready 1 when GET /readyz answers 200, else 0.
            # TYPE memtyped_ready gauge
            memtyped_ready \(ready)

            """
        let stats = configuration.store?.statistics() ?? StoreStatistics()
        if let hits = stats.decisionMemoHits, let misses = stats.decisionMemoMisses {
            text += """
                # HELP memtyped_store_decision_memo_lookups_total Per-VM decision-input lookups, by whether the in-process memo answered (hit) or the database was read (miss).
                # TYPE memtyped_store_decision_memo_lookups_total counter
                memtyped_store_decision_memo_lookups_total{result="hit"} \(hits)
                memtyped_store_decision_memo_lookups_total{result="miss"} \(misses)

                """
        }
        if let vms = stats.vms {
            text += """
                # HELP memtyped_store_vms VMs in the store.
                # TYPE memtyped_store_vms gauge
                memtyped_store_vms \(vms)

                """
        }
        return Array(text.utf8)
    }
}
