import Foundation
import HTTPServer
import HTTPTestSupport
import Testing

/// Refuses everything on /private before the body (like a missing token),
/// serves the rest with EchoHandler; counts the bodies `handle` saw.
struct GateHandler: HTTPHandler {
    let handled = Locked(0)

    func admit(_ request: inout HTTPRequest) -> HTTPResponse? {
        guard request.path.hasPrefix("/private") else { return nil }
        #expect(request.body.isEmpty)
        return HTTPResponse(status: 401, headers: [(name: "Content-Type", value: "text/plain")], text: "no token\n")
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        handled.withLock { $0 += 1 }
        return EchoHandler().handle(request)
    }
}

/// Issue 16: requests the server must answer early, or refuse as ambiguous,
/// and connections it must not let linger. Each reproduces the attack over a
/// real socket.
///
/// Counts read after the connection ended: the guard counted after the
/// shutdown (or its 503) until 0f46a03, so a client could see the close
/// before the count moved (a slowloris test here failed once under load;
/// with a 300 ms sleep put between the two, the four reads failed every
/// time). The guard now counts first, on its own thread; the reads still
/// wait (waitUntil, up to 5 s) rather than trust that order, and the count
/// must still come to exactly 1.
@Suite struct HardeningTests {
    // MARK: Item 1: refused before the body

    @Test func refusedRequestGetsNoContinueAndItsBodyIsNotRead() throws {
        let handler = GateHandler()
        try withServer({ $0.errorResponder = problemResponder }, handler: handler) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.sendRequest(
                "PUT", "/private/x1",
                headers: [(name: "Content-Length", value: "1048576"), (name: "Expect", value: "100-continue")])
            // The refusal instead of "100 Continue", before any body byte.
            let response = try client.readResponse(interim: true)
            #expect(response.status == 401)
            #expect(client.waitForPeerClose(seconds: 5))
            #expect(server.bodyBytesInFlight == 0)
            #expect(handler.handled.withLock { $0 } == 0)

            // Served requests still get "100 Continue".
            let served = try RawHTTPClient(port: server.port)
            try served.sendRequest(
                "POST", "/echo", headers: [(name: "Content-Length", value: "2"), (name: "Expect", value: "100-continue")])
            #expect(try served.readResponse(interim: true).status == 100)
            try served.send("hi")
            #expect(try served.readResponse().bodyText == "hi")
        }
    }

    @Test func bodiesInFlightShareABudget() throws {
        try withServer({
            $0.maxBodyBytes = 100_000
            $0.maxBodyBytesInFlight = 250_000
            $0.errorResponder = problemResponder
        }) { server in
            // Two admitted uploads hold 200,000 bytes while they trickle.
            var holders: [RawHTTPClient] = []
            for _ in 0..<2 {
                let c = try RawHTTPClient(port: server.port)
                try c.sendRequest("POST", "/echo", headers: [(name: "Content-Length", value: "100000")])
                try c.send([UInt8](repeating: 0x61, count: 10))
                holders.append(c)
            }
            #expect(waitUntil { server.bodyBytesInFlight == 200_000 })
            // A third would go past the budget: 503 + Retry-After before its body.
            let third = try RawHTTPClient(port: server.port)
            try third.sendRequest(
                "POST", "/echo", headers: [(name: "Content-Length", value: "100000"), (name: "Expect", value: "100-continue")])
            let refused = try third.readResponse(interim: true)
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.header("Content-Type") == "application/problem+json")
            // Smaller bodies still fit.
            #expect(try RawHTTPClient(port: server.port).request("POST", "/echo", body: bytes("small")).status == 200)
            // Finishing the uploads gives the budget back.
            for c in holders {
                try c.send([UInt8](repeating: 0x61, count: 100_000 - 10))
                #expect(try c.readResponse().status == 200)
            }
            #expect(waitUntil { server.bodyBytesInFlight == 0 })
        }
    }

    // MARK: Item 5: smuggling through duplicate framing

    @Test(arguments: ["Content-Length: 2\r\nContent-Length: 39", "Content-Length: 2\r\nContent-Length: 2"])
    func duplicateContentLengthIs400AndTheSmuggledRequestIsNotServed(lengths: String) throws {
        let handler = GateHandler()
        try withServer({ $0.errorResponder = problemResponder }, handler: handler) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send(
                "POST /echo HTTP/1.1\r\nHost: x\r\n\(lengths)\r\n\r\n{}GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 400)
            #expect(response.bodyText.contains("Content-Length"))
            // No second response: the connection closes instead.
            #expect(throws: RawHTTPClientError.self) { _ = try client.readResponse() }
            #expect(handler.handled.withLock { $0 } == 0)
        }
    }

    // MARK: Item 6: unsupported transfer codings

    @Test(arguments: ["gzip", "identity", "gzip, chunked", "chunked, gzip"])
    func transferCodingOtherThanChunkedIs501AtOnce(coding: String) throws {
        try withServer({ $0.errorResponder = problemResponder }) { server in
            let client = try RawHTTPClient(port: server.port)
            client.timeout = 3  // well under the 30 s idle timeout it used to wait for
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(coding)\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 501)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(client.waitForPeerClose(seconds: 2))
        }
    }

    // MARK: Item 7: malformed Content-Length values

    /// Out of reach with libmicrohttpd 0.9.75, which answers these in its own
    /// header parser before any callback of ours runs (README, Security): an
    /// HTML 400/413 whose status line and headers are written twice. Kept as a
    /// known issue so that the day the library (or a workaround) gives one
    /// well-formed problem+json answer, this test says so.
    @Test(arguments: ["abc", "-1", "+5", "0x10", "1 2", "12345678901234567890123"])
    func malformedContentLengthGetsOneWellFormedProblem(value: String) throws {
        try withServer({ $0.errorResponder = problemResponder }) { server in
            let client = try RawHTTPClient(port: server.port)
            client.timeout = 3
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(value)\r\n\r\n{}")
            let response = try client.readResponse()
            #expect(response.status == 400 || response.status == 413)
            withKnownIssue("libmicrohttpd 0.9.75 answers a malformed Content-Length itself", isIntermittent: true) {
                #expect(response.header("Content-Type") == "application/problem+json")
                // Nothing after the one response: the connection closes.
                #expect(throws: RawHTTPClientError.self) { _ = try client.readResponse() }
            }
        }
    }

    // MARK: Item 8: large heads

    @Test func headsPastTheLimitGet431() throws {
        try withServer({ $0.errorResponder = problemResponder }) { server in
            let limit = server.configuration.maxRequestHeaderBytes
            // From the limit through the issue's range (15,920-16,020 bytes,
            // a POST with a body, used to be closed with no answer) to past
            // the pool, where libmicrohttpd answers 431 itself.
            for total in stride(from: limit + 8, through: 17_000, by: 37) {
                let base = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Pad: "
                let pad = String(repeating: "a", count: total - base.utf8.count - 4)
                let client = try RawHTTPClient(port: server.port)
                try client.send(base + pad + "\r\n\r\n{}")
                #expect(try client.readResponse().status == 431, "head of \(total) bytes")
                let get = try RawHTTPClient(port: server.port)
                let getBase = "GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: "
                try get.send(getBase + String(repeating: "a", count: total - getBase.utf8.count - 4) + "\r\n\r\n")
                #expect(try get.readResponse().status == 431, "GET head of \(total) bytes")
            }
            let fits = try RawHTTPClient(port: server.port)
            let pad = String(repeating: "a", count: limit - 200)
            #expect(try fits.request("POST", "/echo", headers: [(name: "X-Pad", value: pad)], body: bytes("{}")).status == 200)
        }
    }

    // MARK: Item 2: deadlines and the connection limit

    @Test func trickledHeadIsCutAtTheHeaderDeadline() throws {
        try withServer({
            $0.headerTimeoutSeconds = 1
            $0.idleTimeoutSeconds = 30
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            let head = Array("GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8)
            // One byte every 100 ms: each resets the idle timeout, not the deadline.
            var closed = false
            for byte in head + Array(repeating: UInt8(ascii: "a"), count: 40) {
                if (try? client.send([byte])) == nil { closed = true; break }
                sleepMilliseconds(100)
                if server.guardCounts.expired > 0 { closed = true; break }
            }
            #expect(closed)
            #expect(client.waitForPeerClose(seconds: 2))
            #expect(waitUntil { server.guardCounts.expired == 1 })  // see the suite's note on counts
        }
    }

    @Test func trickledBodyIsCutAtTheBodyDeadline() throws {
        try withServer({ $0.bodyTimeoutSeconds = 1 }) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.sendRequest("POST", "/echo", headers: [(name: "Content-Length", value: "100")])
            for _ in 0..<30 {
                if (try? client.send([0x61])) == nil || server.guardCounts.expired > 0 { break }
                sleepMilliseconds(100)
            }
            #expect(client.waitForPeerClose(seconds: 2))
            #expect(waitUntil { server.guardCounts.expired == 1 })  // see the suite's note on counts
            #expect(waitUntil { server.inFlight == 0 && server.bodyBytesInFlight == 0 })
        }
    }

    @Test func keptAliveConnectionMustSendItsNextHeadWithinTheIdleTimeout() throws {
        try withServer({
            $0.headerTimeoutSeconds = 30
            $0.idleTimeoutSeconds = 1
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            #expect(try client.request("GET", "/ok").status == 200)
            // The next head, one byte every 100 ms: each byte would restart
            // libmicrohttpd's idle timeout, not this deadline.
            for byte in Array("GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + Array(repeating: 0x61, count: 40) {
                if (try? client.send([byte])) == nil || server.guardCounts.expired > 0 { break }
                sleepMilliseconds(100)
            }
            #expect(client.waitForPeerClose(seconds: 2))
            #expect(waitUntil { server.guardCounts.expired == 1 })  // see the suite's note on counts
        }
    }

    @Test func pastTheLimitAStalledHeadIsEvictedForANewClient() throws {
        try withServer({ $0.connectionLimit = 4 }) { server in
            // Four connections that never finish their head fill the slots.
            var stalled: [RawHTTPClient] = []
            for _ in 0..<4 {
                let c = try RawHTTPClient(port: server.port)
                try c.send("GET /ok HTTP/1.1\r\nHost: x\r\n")
                stalled.append(c)
            }
            #expect(waitUntil { server.openConnections == 4 })
            sleepMilliseconds(1100)  // eligible for eviction after a second
            // A new client is served at once, not parked in the backlog.
            let client = try RawHTTPClient(port: server.port)
            client.timeout = 2
            #expect(try client.request("GET", "/ok").status == 200)
            #expect(server.guardCounts.evicted == 1)
            #expect(stalled.contains { $0.waitForPeerClose(seconds: 0.5) })
        }
    }

    @Test func pastTheLimitWithNothingToEvictANewClientGets503AtOnce() throws {
        try withServer({
            $0.connectionLimit = 2
            $0.errorResponder = problemResponder
        }) { server in
            // Two requests under way (head in, body coming): nothing to evict.
            let busy = try (0..<2).map { _ in try RawHTTPClient(port: server.port) }
            for c in busy {
                try c.sendRequest("POST", "/echo", headers: [(name: "Content-Length", value: "2")])
                try c.send("a")
            }
            #expect(waitUntil { server.inFlight == 2 })
            let client = try RawHTTPClient(port: server.port)
            client.timeout = 2
            do {
                let response = try client.readResponse()
                #expect(response.status == 503)
                #expect(response.header("Retry-After") == "1")
            } catch {
                // A reset instead of the answer is also "at once".
                #expect(!"\(error)".contains("timed out"), "\(error)")
            }
            #expect(waitUntil { server.guardCounts.refused == 1 })  // see the suite's note on counts
            for c in busy {
                try c.send("b")
                #expect(try c.readResponse().status == 200)
            }
        }
    }
}
