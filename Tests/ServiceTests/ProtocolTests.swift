import Foundation
import HTTPServer
import HTTPTestSupport
import JSON
import Testing

@Suite struct ErrorTests {
    @Test func malformedJSONSaysWhere() throws {
        let s = try TestServer()
        let r = try s.request("POST", "/v1/decisions", json: "{\n  \"kernel\": 6.16.1\n}")
        #expect(r.status == 400)
        #expect(r.header("Content-Type") == "application/problem+json")
        let j = try r.json()
        #expect(j["line"] == 2)
        #expect(j["status"] == 400)
    }

    @Test func invalidFieldsNameTheirPointer() throws {
        let s = try TestServer()
        for (body, pointer) in [
            (#"{"vcpu":{"pat":"0x0007040600070402"}}"#, "/vcpu/pat"),
            (#"{"kernel":"six"}"#, "/kernel"),
            (#"{"host":{"vendor":"via"}}"#, "/host/vendor"),
            (#"{"vm":{"disabled_quirks":["NOPE"]}}"#, "/vm/disabled_quirks/0"),
            (#"{"access":{"gpa":-1}}"#, "/access/gpa"),
            (#"{"access":{"pat_index":8}}"#, "/access/pat_index"),
            (#"{"vcpu":{"mtrr":{"variable":[{"base":"0x1000","size":"0x3000","type":"WB"}]}}}"#, "/vcpu/mtrr/variable/0/size"),
            (#"{"vm":{"type":"tdx"},"host":{"self_snoop":false}}"#, "/vm/type"),
            (#"{"acess":{}}"#, "/acess"),
            (#"[]"#, ""),
        ] {
            let r = try s.request("POST", "/v1/decisions", json: body)
            #expect(r.status == 422, "\(body)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(body)")
        }
    }

    @Test func wrongContentTypeIs415() throws {
        let s = try TestServer()
        let r = try s.request("POST", "/v1/decisions", json: "{}", headers: [("Content-Type", "text/plain")])
        #expect(r.status == 415)
        let ok = try s.request("POST", "/v1/decisions", json: "{}", headers: [("Content-Type", "application/json; charset=utf-8")])
        #expect(ok.status == 200)
    }

    @Test func tooLargeIs413() throws {
        let s = try TestServer(maxBody: 1024)
        let r = try s.request("POST", "/v1/decisions", json: "{\"kernel\":\"" + String(repeating: "x", count: 4096) + "\"}")
        #expect(r.status == 413)
        #expect(r.header("Content-Type") == "application/problem+json")
    }

    @Test func unknownPathIs404AndWrongMethodIs405() throws {
        let s = try TestServer()
        let nf = try s.request("GET", "/v2/nothing")
        #expect(nf.status == 404)
        #expect(nf.header("Content-Type") == "application/problem+json")
        let na = try s.request("GET", "/v1/decisions")
        #expect(na.status == 405)
        #expect(na.header("Allow") == "POST")
    }
}

@Suite struct TransportTests {
    @Test func keepAliveServesManyRequestsOnOneConnection() throws {
        let s = try TestServer()
        let c = try s.client()
        defer { c.close() }
        for i in 0..<20 {
            let r = try c.request("POST", "/v1/decisions", headers: [("Content-Type", "application/json")],
                                  body: Array(#"{"access":{"pat_index":\#(i % 8)}}"#.utf8))
            #expect(r.status == 200)
            #expect(!r.closesConnection)
        }
    }

    @Test func bodyInManyPieces() throws {
        let s = try TestServer()
        let c = try s.client()
        defer { c.close() }
        let body = Array(bochsBody.utf8)
        let head = RawHTTPClient.requestBytes("POST", "/v1/decisions", port: s.port,
                                             headers: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
        try c.send(head)
        for piece in stride(from: 0, to: body.count, by: 7) {
            try c.send(RawHTTPClient.chunk(Array(body[piece..<min(piece + 7, body.count)])))
        }
        try c.send(RawHTTPClient.lastChunk)
        let r = try c.readResponse(method: "POST")
        #expect(r.status == 200)
        #expect(try r.json()["effective"] == "UC")
    }

    @Test func expect100Continue() throws {
        let s = try TestServer()
        let c = try s.client()
        defer { c.close() }
        let body = Array(bochsBody.utf8)
        try c.sendRequest("POST", "/v1/decisions", headers: [("Content-Type", "application/json"), ("Expect", "100-continue"),
                                                             ("Content-Length", String(body.count))])
        let interim = try c.readResponse(method: "POST", interim: true)
        #expect(interim.status == 100)
        try c.send(body)
        #expect(try c.readResponse(method: "POST").status == 200)
    }

    @Test func clientVanishingMidUploadLeavesTheServerHealthy() throws {
        let s = try TestServer()
        for _ in 0..<5 {
            let c = try s.client()
            try c.sendRequest("POST", "/v1/decisions", headers: [("Content-Type", "application/json"), ("Content-Length", "500")])
            try c.send(Array(bochsBody.utf8.prefix(40)))
            c.abort()
        }
        var settled = false
        for _ in 0..<100 where !settled {
            settled = s.server.inFlight == 0
            if !settled { sleepMilliseconds(10) }
        }
        #expect(settled)
        #expect(try s.request("GET", "/healthz").status == 200)
    }

    @Test func gracefulStopFinishesInFlightRequests() throws {
        let s = try TestServer()
        let c = try s.client()
        defer { c.close() }
        let body = Array(bochsBody.utf8)
        try c.sendRequest("POST", "/v1/decisions", headers: [("Content-Type", "application/json"), ("Content-Length", String(body.count))])
        try c.send(Array(body.prefix(20)))
        sleepMilliseconds(50)
        // stop() waits for the in-flight request, so run it beside us.
        let stopped = DispatchSemaphore(value: 0)
        let server = s.server
        Thread { server.stop(); stopped.signal() }.start()
        sleepMilliseconds(100)
        // New connections are refused while the old one finishes.
        #expect(throws: (any Error).self) { _ = try s.request("GET", "/healthz") }
        try c.send(Array(body.dropFirst(20)))
        let r = try c.readResponse(method: "POST")
        #expect(r.status == 200)
        stopped.wait()
    }

    @Test func operationalEndpoints() throws {
        let s = try TestServer()
        #expect(try s.request("GET", "/healthz").json()["status"] == "ok")
        #expect(try s.request("GET", "/readyz").status == 200)
        _ = try s.request("POST", "/v1/decisions", json: "{}")
        let metrics = try s.request("GET", "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.bodyText.contains(#"memtyped_http_requests_total{route="/v1/decisions",method="POST",status="200"} 1"#))
        #expect(metrics.bodyText.contains("memtyped_http_request_duration_seconds_bucket"))
        let spec = try s.request("GET", "/openapi.yaml")
        #expect(spec.status == 200)
        #expect(spec.bodyText.hasPrefix("openapi: 3.1"))
    }
}

/// Inputs found by schemathesis that once crashed or pinned the server.
@Suite struct RegressionTests {
    @Test func nonASCIIInNamesIsA422NotACrash() throws {
        let s = try TestServer()
        for body in [#"{"kernel":"6.1😀"}"#, #"{"vm":{"disabled_quirks":["KVM_X86_QUIRK😀"]}}"#, #"{"access":{"level":"2é"}}"#] {
            #expect(try s.request("POST", "/v1/decisions", json: body).status == 422, "\(body)")
        }
        #expect(try s.request("GET", "/healthz").status == 200)
    }

    @Test func holeyMasksResolveAsKVMIntervalsOverHugeRanges() throws {
        let s = try TestServer()
        // PhysMask 0x1800 (valid, bit 12 only): the SDM would match every other
        // 4 KiB page (2^33 runs over 64 TiB); KVM reads one interval,
        // [0, (0 | ~mask) + 1) = [0, 2^46 - 4 KiB). Was a 422 (block budget).
        let mtrr = #"{"enabled":true,"default":"UC","variable":[{"phys_base":"0x6","phys_mask":"0x1800"}]}"#
        let r = try s.request("POST", "/v1/mtrr/resolve", json: #"{"mtrr":\#(mtrr),"range":{"start":0,"end":"0x400000000000"}}"#)
        #expect(r.status == 200)
        let runs = try r.json()
        #expect(runs["runs"]?.arrayValue?.count == 2)
        #expect(runs["runs", 0, "end"] == "0x3ffffffff000")
        #expect(runs["runs", 0, "type"] == "WB")
        #expect(runs["runs", 1, "type"] == "UC")
        // A UC range with that mask in a 1 GiB decision: one UC interval covers
        // the block, so KVM maps a 1 GiB leaf (was 4 KiB under the SDM reading).
        let uc = #"{"enabled":true,"default":"WB","variable":[{"phys_base":"0x0","phys_mask":"0x1800"}]}"#
        let d = try s.request("POST", "/v1/decisions",
                              json: #"{"model":"A","vm":{"noncoherent_dma":true},"vcpu":{"mtrr":\#(uc)},"access":{"level":"1G"}}"#)
        #expect(d.status == 200)
        #expect(try d.json()["max_level"] == "1G")
        // The guest side still reads the mask the SDM's way, within its block budget.
        let g = try s.request("POST", "/v1/guest/memtype",
                              json: #"{"mtrr":\#(uc),"calls":[{"call":"ioremap_cache","start":"0x100000000","end":"0x100002000"}]}"#)
        #expect(g.status == 200)
        #expect(try s.request("GET", "/healthz").status == 200)
    }

    @Test func fixedRangeKeysAreNotTruncated() throws {
        let s = try TestServer()
        let r = try s.request("POST", "/v1/mtrr/resolve", json: #"{"mtrr":{"enabled":true,"fixed_enabled":true,"fixed":{"0x100000250":"UC"}},"gpa":0}"#)
        #expect(r.status == 422)
        #expect(try r.json()["pointer"] == "/mtrr/fixed/0x100000250")
    }

    @Test func unusualMethodsShareOneMetricsSeries() throws {
        let s = try TestServer()
        for i in 0..<5 { _ = try s.request("M\(i)XYZ", "/x\(i)") }
        let metrics = try s.request("GET", "/metrics").bodyText
        #expect(metrics.contains(#"method="other""#))
        #expect(!metrics.contains("M0XYZ"))
    }
}
