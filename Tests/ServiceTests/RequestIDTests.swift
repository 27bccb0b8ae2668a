import HTTPServer
import HTTPTestSupport
import JSON
import Testing
@testable import MemTypedService

/// Request ids over real HTTP: echoed from X-Request-Id or taken from a
/// W3C traceparent, made when the caller sent neither, in problem bodies.
@Suite struct RequestIDTests {
    @Test func aCallersRequestIdIsEchoedAndInTheProblem() throws {
        let s = try TestServer()
        let r = try s.request("GET", "/nope", headers: [("X-Request-Id", "req-42.abc")])
        #expect(r.status == 404)
        #expect(r.header("X-Request-Id") == "req-42.abc")
        #expect(try r.json()["request_id"] == .string("req-42.abc"))
        // A success carries the header too, and no body change.
        let ok = try s.request("GET", "/healthz", headers: [("X-Request-Id", "req-43")])
        #expect(ok.header("X-Request-Id") == "req-43")
        #expect(String(decoding: ok.body, as: UTF8.self) == #"{"status":"ok"}"#)
    }

    @Test func theTraceIdOfATraceparent() throws {
        let s = try TestServer()
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let r = try s.request("GET", "/nope", headers: [("traceparent", parent)])
        #expect(r.header("X-Request-Id") == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(try r.json()["request_id"] == .string("4bf92f3577b34da6a3ce929d0e0e4736"))
    }

    @Test func madeWhenNoneWasSentOrItCannotBeRepeated() throws {
        let s = try TestServer()
        for headers in [[], [("X-Request-Id", "has space")], [("X-Request-Id", String(repeating: "a", count: 129))],
                        [("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")],
                        [("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
                        [("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")]] as [[(name: String, value: String)]] {
            let r = try s.request("GET", "/nope", headers: headers)
            #expect(r.header("X-Request-Id") == nil, "\(headers)")
            guard case .string(let id)? = try r.json()["request_id"] else {
                Issue.record("no request_id for \(headers)")
                continue
            }
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(id)")
        }
        let a = try s.request("GET", "/nope").json()["request_id"]
        let b = try s.request("GET", "/nope").json()["request_id"]
        #expect(a != b)
    }
}
