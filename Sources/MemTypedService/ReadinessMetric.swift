import HTTPServer

extension MemTypedService {
    /// `memtyped_ready`: 1 when `GET /readyz` would answer 200, else 0, taken
    /// at scrape time, so the "not ready" alert (deploy/prometheus) needs no
    /// probe of its own and follows whatever readiness checks.
    func readinessExposition() -> [UInt8] {
        let ready = readiness().status == 200 ? 1 : 0
        return Array("""
            # HELP memtyped_ready 1 when GET /readyz answers 200, else 0.
            # TYPE memtyped_ready gauge
            memtyped_ready \(ready)

            """.utf8)
    }
}
