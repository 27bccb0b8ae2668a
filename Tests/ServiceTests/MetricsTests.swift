import Foundation
import HTTPTestSupport
import Testing

/// The /metrics exposition over real requests: one series per (route,
/// method, status) with the pattern as the route label, `unmatched` for
/// 404s, and the histogram's HELP, TYPE and bucket lines. The series lookup
/// on the request path is keyed by small integers; these pin what it maps to.
@Suite struct MetricsTests {
    static func lines(_ text: String, _ prefix: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }.sorted()
    }

    @Test func seriesPerRouteMethodAndStatus() throws {
        let s = try TestServer()
        _ = try s.request("GET", "/healthz")
        _ = try s.request("GET", "/healthz")
        _ = try s.request("HEAD", "/healthz")
        _ = try s.request("POST", "/v1/decisions", json: "{}")
        _ = try s.request("POST", "/v1/decisions", json: "[]")
        _ = try s.request("POST", "/v1/decisions", json: "{}", headers: [("Content-Type", "text/plain")])
        _ = try s.request("GET", "/v1/decisions")
        _ = try s.request("GET", "/v2/nothing")
        _ = try s.request("DELETE", "/v2/nothing")
        _ = try s.request("M0XYZ", "/healthz")
        let text = try s.request("GET", "/metrics").bodyText

        #expect(Self.lines(text, "memtyped_http_requests_total") == [
            #"memtyped_http_requests_total{route="/healthz",method="GET",status="200"} 2"#,
            #"memtyped_http_requests_total{route="/healthz",method="HEAD",status="200"} 1"#,
            #"memtyped_http_requests_total{route="/v1/decisions",method="POST",status="200"} 1"#,
            #"memtyped_http_requests_total{route="/v1/decisions",method="POST",status="415"} 1"#,
            #"memtyped_http_requests_total{route="/v1/decisions",method="POST",status="422"} 1"#,
            #"memtyped_http_requests_total{route="unmatched",method="DELETE",status="404"} 1"#,
            #"memtyped_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            #"memtyped_http_requests_total{route="unmatched",method="GET",status="405"} 1"#,
            #"memtyped_http_requests_total{route="unmatched",method="other",status="405"} 1"#,
        ].sorted())
        #expect(Self.lines(text, "# ").filter { $0.contains("memtyped_http_request") } == [
            "# HELP memtyped_http_request_duration_seconds Time from the complete request to the response, by route, method and status.",
            "# HELP memtyped_http_requests_in_flight Requests being handled now.",
            "# HELP memtyped_http_requests_total HTTP requests by route, method and status.",
            "# TYPE memtyped_http_request_duration_seconds histogram",
            "# TYPE memtyped_http_requests_in_flight gauge",
            "# TYPE memtyped_http_requests_total counter",
        ])
        // The /metrics request itself is in flight while the exposition is written.
        #expect(Self.lines(text, "memtyped_http_requests_in_flight ") == ["memtyped_http_requests_in_flight 1.0"])
        let buildInfo = Self.lines(text, "memtyped_build_info")
        #expect(buildInfo.count == 1 && buildInfo[0].hasPrefix(#"memtyped_build_info{version=""#)
                && buildInfo[0].hasSuffix(#"",swift="6"} 1.0"#), "\(buildInfo)")
        let buckets = Self.lines(text, #"memtyped_http_request_duration_seconds_bucket{route="/healthz",method="GET",status="200""#)
        let les = buckets.map { $0.split(separator: "\"")[7] }
        #expect(Set(les) == ["0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                             "0.01", "0.025", "0.05", "0.1", "0.25", "1.0", "2.5", "+Inf"])
        #expect(buckets.contains(#"memtyped_http_request_duration_seconds_bucket{route="/healthz",method="GET",status="200",le="+Inf"} 2"#))
        #expect(Self.lines(text, #"memtyped_http_request_duration_seconds_count{route="/v1/decisions",method="POST",status="415"}"#)
                == [#"memtyped_http_request_duration_seconds_count{route="/v1/decisions",method="POST",status="415"} 1"#])
    }
}
