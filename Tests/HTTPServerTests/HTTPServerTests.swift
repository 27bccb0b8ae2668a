import Foundation
import HTTPServer
import HTTPTestSupport
import Testing

// Real servers on 127.0.0.1 port 0, real sockets. Serialized: several tests
// assert on timing (graceful stop) and on server-wide counters, and the CI
// machine has two cores.
@Suite("HTTPServer", .serialized)
struct HTTPServerTests {

    // MARK: Basics

    @Test func getReturnsHandlerResponse() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let response = try client.request("GET", "/hello")
            #expect(response.status == 200)
            #expect(response.version == "HTTP/1.1")
            #expect(response.bodyText == "ok")
            #expect(response.header("X-Method") == "GET")
            #expect(response.header("X-Path") == "/hello")
            #expect(response.header("Content-Length") == "2")
            // Content-Type only when the handler gives one.
            #expect(response.header("Content-Type") == nil)
            #expect(response.header("Date") != nil)
        }
    }

    @Test func postEchoesBinaryBodyAndContentType() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let body = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let response = try client.request(
                "POST", "/echo", headers: [(name: "Content-Type", value: "application/octet-stream")], body: body)
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(response.header("Content-Type") == "application/octet-stream")
            #expect(response.header("X-Method") == "POST")
        }
    }

    @Test func headRequestHasNoBody() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let head = try client.request("HEAD", "/hello")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(head.header("X-Method") == "HEAD")
            // The connection is still in sync afterwards.
            #expect(try client.request("GET", "/again").header("X-Path") == "/again")
        }
    }

    @Test func queryIsDecodedInOrderAndPathIsUnescaped() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let response = try client.request(
                "GET", "/query?a=1&b=hello%20world&c=x+y&d=%E2%9C%93&flag&a=2&e=&f=%3D%26")
            #expect(response.status == 200)
            #expect(
                response.bodyText
                    == "a=1\nb=hello world\nc=x y\nd=✓\nflag=\na=2\ne=\nf==&\n")
            let path = try client.request("GET", "/p%41th%20x?q=1")
            #expect(path.header("X-Path") == "/pAth x")
        }
    }

    @Test func headersArriveInOrderWithCaseInsensitiveLookup() throws {
        let seen = Locked<HTTPRequest?>(nil)
        let handler = ClosureHTTPHandler { request in
            seen.withLock { $0 = request }
            return HTTPResponse(status: 204)
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.port)
            let response = try client.request(
                "GET", "/h?x=%41",
                headers: [(name: "X-One", value: "1"), (name: "x-two", value: "two words"), (name: "X-One", value: "3")])
            #expect(response.status == 204)
            let request = try #require(seen.withLock { $0 })
            #expect(request.headers["x-one"] == "1")
            #expect(request.headers["X-TWO"] == "two words")
            #expect(request.headers.values("X-One") == ["1", "3"])
            #expect(request.headers.pairs.map(\.name).suffix(3) == ["X-One", "x-two", "X-One"])
            #expect(request.queryValue("x") == "A")
            #expect(request.queryValue("y") == nil)
        }
    }

    @Test func requestTargetEdgeCases() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            // A decoded NUL would cut the path short; "%00" stays literal.
            let nul = try client.request("GET", "/a%00b?x=%00y")
            #expect(nul.header("X-Path") == "/a%00b")
            #expect(try client.request("GET", "/query?x=%00y&z=%zz").bodyText == "x=%00y\nz=%zz\n")
            // A decoded slash would split a segment: "%2F" and "%25" stay in the path...
            #expect(try client.request("GET", "/v1/vms/a%2Fhistory").header("X-Path") == "/v1/vms/a%2Fhistory")
            #expect(try client.request("GET", "/a%2fb%25c%41").header("X-Path") == "/a%2fb%25cA")
            // ...while query arguments are decoded in full, exactly once.
            #expect(try client.request("GET", "/query?k%2F=a%2Fb&p=100%25&q=%252F&r=%2f%41").bodyText
                    == "k/=a/b\np=100%\nq=%2F\nr=/A\n")
            // Absolute-form targets route by their path.
            #expect(try client.request("GET", "http://example.test:8080/abs?q=1").header("X-Path") == "/abs")
            #expect(try client.request("GET", "http://example.test").header("X-Path") == "/")
            #expect(try client.request("OPTIONS", "*").header("X-Path") == "*")
            // HTTP/1.0 works and is closed after the response.
            let old = try RawHTTPClient(port: server.port)
            try old.send("GET /ten HTTP/1.0\r\n\r\n")
            let ten = try old.readResponse()
            #expect(ten.status == 200)
            #expect(ten.header("X-Path") == "/ten")
            #expect(old.waitForPeerClose(seconds: 2))
        }
    }

    @Test func malformedFramingIsRejected() throws {
        try withServer({ $0.errorResponder = problemResponder }) { server in
            // HTTP/1.1 without Host (RFC 9112 section 3.2).
            let noHost = try RawHTTPClient(port: server.port)
            try noHost.send("GET / HTTP/1.1\r\n\r\n")
            let missing = try noHost.readResponse()
            #expect(missing.status == 400)
            #expect(missing.header("Content-Type") == "application/problem+json")
            #expect(missing.bodyText.contains("Host"))

            // Content-Length and Transfer-Encoding together (smuggling).
            let both = try RawHTTPClient(port: server.port)
            try both.send(
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                    + "3\r\nabc\r\n0\r\n\r\n")
            let smuggled = try both.readResponse()
            #expect(smuggled.status == 400)
            #expect(both.waitForPeerClose(seconds: 2))

            // Errors libmicrohttpd answers itself: bad Content-Length, bad
            // chunk, headers larger than the connection memory.
            let badLength = try RawHTTPClient(port: server.port)
            try badLength.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
            #expect(try badLength.readResponse().status == 400)
            let badChunk = try RawHTTPClient(port: server.port)
            try badChunk.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            #expect(try badChunk.readResponse().status == 400)
            let bigHeader = try RawHTTPClient(port: server.port)
            try bigHeader.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 70_000))\r\n\r\n")
            #expect(try bigHeader.readResponse().status == 431)
            // The default pool (16 KiB) still takes 12 KB of headers (cookies, tokens).
            let largeHeader = try RawHTTPClient(port: server.port)
            try largeHeader.send("GET /ok HTTP/1.1\r\nHost: x\r\nX-Large: \(String(repeating: "a", count: 12_000))\r\n\r\n")
            #expect(try largeHeader.readResponse().status == 200)

            #expect(waitUntil { server.inFlight == 0 })
            #expect(try RawHTTPClient(port: server.port).request("GET", "/ok").status == 200)
        }
    }

    @Test func responseHeadersAreSanitized() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let response = try client.request(
                "GET", "/custom",
                headers: [
                    (name: "X-Set-Content-Type", value: "text/x-test"),
                    (name: "X-Set-Content-Length", value: "999"),
                    (name: "X-Set-Cache-Control", value: "no-store"),
                ])
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "text/x-test")
            #expect(response.header("Cache-Control") == "no-store")
            // A handler's Content-Length is ignored; MHD computes it.
            #expect(response.headerValues("Content-Length") == ["6"])
            #expect(response.bodyText == "custom")
        }
    }

    @Test func invalidHandlerStatusBecomes500() throws {
        try withServer({ $0.errorResponder = problemResponder }) { server in
            let client = try RawHTTPClient(port: server.port)
            let response = try client.request("GET", "/status/42")
            #expect(response.status == 500)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.bodyText.contains("invalid status 42"))
            #expect(try client.request("GET", "/status/404").status == 404)
        }
    }

    // MARK: Keep-alive

    @Test func manyRequestsShareOneKeepAliveConnection() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let localPort = client.localPort
            for i in 0..<100 {
                let response: RawHTTPResponse
                if i % 2 == 0 {
                    response = try client.request("GET", "/n/\(i)")
                    #expect(response.header("X-Path") == "/n/\(i)")
                } else {
                    response = try client.request("POST", "/echo", body: bytes("body \(i)"))
                    #expect(response.bodyText == "body \(i)")
                }
                #expect(response.status == 200)
                #expect(!response.closesConnection)
                #expect(response.header("Connection") == nil)
            }
            #expect(client.localPort == localPort)
            #expect(server.acceptedConnections == 1)
            #expect(server.openConnections == 1)
            #expect(waitUntil { server.inFlight == 0 })
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            var batch: [UInt8] = []
            for i in 0..<5 {
                batch += RawHTTPClient.requestBytes("POST", "/echo", port: server.port, body: bytes("p\(i)"))
            }
            try client.send(batch)
            for i in 0..<5 {
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.bodyText == "p\(i)")
            }
            #expect(server.acceptedConnections == 1)
        }
    }

    // MARK: Request bodies

    @Test func bodySentIn200PiecesArrivesWhole() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let body = (0..<6000).map { UInt8(truncatingIfNeeded: $0 % 251) }
            var head = RawHTTPClient.requestBytes(
                "POST", "/echo", port: server.port, headers: [(name: "Content-Length", value: "\(body.count)")])
            try client.send(head)
            try client.sendInPieces(body, pieces: 200, delayMilliseconds: 1)
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("X-Body-Length") == "6000")
            #expect(response.body == body)
            head = []
            // The connection stays usable.
            #expect(try client.request("GET", "/after").status == 200)
        }
    }

    @Test func chunkedRequestBody() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            let parts = [bytes("first,"), bytes(String(repeating: "x", count: 3000)), bytes(",last")]
            var wire = RawHTTPClient.requestBytes(
                "POST", "/echo", port: server.port, headers: [(name: "Transfer-Encoding", value: "chunked")])
            for part in parts { wire += RawHTTPClient.chunk(part) }
            wire += RawHTTPClient.lastChunk
            try client.sendInPieces(wire, pieces: 40, delayMilliseconds: 1)
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.body == parts.flatMap { $0 })
            #expect(!response.closesConnection)
            #expect(try client.request("GET", "/after").status == 200)
            #expect(server.acceptedConnections == 1)
        }
    }

    @Test func expect100ContinueGetsInterimResponseBeforeBody() throws {
        try withServer { server in
            let client = try RawHTTPClient(port: server.port)
            try client.sendRequest(
                "POST", "/echo",
                headers: [(name: "Content-Length", value: "11"), (name: "Expect", value: "100-continue")])
            let interim = try client.readResponse(interim: true)
            #expect(interim.status == 100)
            try client.send("hello world")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "hello world")
            #expect(!response.closesConnection)
        }
    }

    @Test func bodyOfExactlyTheCapIsAccepted() throws {
        try withServer({ $0.maxBodyBytes = 1024 }) { server in
            let client = try RawHTTPClient(port: server.port)
            let body = [UInt8](repeating: 0x61, count: 1024)
            let response = try client.request("POST", "/echo", body: body)
            #expect(response.status == 200)
            #expect(response.body == body)
            var chunked = RawHTTPClient.requestBytes(
                "POST", "/echo", port: server.port, headers: [(name: "Transfer-Encoding", value: "chunked")])
            chunked += RawHTTPClient.chunk(Array(body[..<1000])) + RawHTTPClient.chunk(Array(body[1000...]))
            chunked += RawHTTPClient.lastChunk
            try client.send(chunked)
            #expect(try client.readResponse().body == body)
        }
    }

    @Test func oversizedContentLengthIsRejectedBeforeTheBody() throws {
        try withServer({
            $0.maxBodyBytes = 1024
            $0.errorResponder = problemResponder
        }) { server in
            // With Expect: 100-continue: 413 instead of 100, no body sent.
            let client = try RawHTTPClient(port: server.port)
            try client.sendRequest(
                "POST", "/echo",
                headers: [(name: "Content-Length", value: "1025"), (name: "Expect", value: "100-continue")])
            let response = try client.readResponse(interim: true)
            #expect(response.status == 413)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.bodyText == #"{"status":413,"detail":"The request body exceeds the limit of 1024 bytes."}"#)
            #expect(client.waitForPeerClose(seconds: 5))

            // Without Expect, body already on the wire.
            let second = try RawHTTPClient(port: server.port)
            let rejected = try second.request("POST", "/echo", body: [UInt8](repeating: 1, count: 4000))
            #expect(rejected.status == 413)
            #expect(second.waitForPeerClose(seconds: 5))

            // An absurd length.
            let third = try RawHTTPClient(port: server.port)
            let absurd = try third.request(
                "POST", "/echo", headers: [(name: "Content-Length", value: "99999999999999999999")])
            #expect(absurd.status == 413 || absurd.status == 400)

            #expect(waitUntil { server.inFlight == 0 })
            #expect(try RawHTTPClient(port: server.port).request("GET", "/ok").status == 200)
        }
    }

    @Test func oversizedChunkedBodyIsRejected() throws {
        try withServer({
            $0.maxBodyBytes = 1024
            $0.errorResponder = problemResponder
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.sendRequest(
                "POST", "/echo", headers: [(name: "Transfer-Encoding", value: "chunked")])
            // 10 × 300 bytes; the server may answer (and close) before the
            // client has sent everything, so send errors are expected.
            do {
                for _ in 0..<10 {
                    try client.send(RawHTTPClient.chunk([UInt8](repeating: 0x62, count: 300)))
                    sleepMilliseconds(2)
                }
                try client.send(RawHTTPClient.lastChunk)
            } catch {
                // Expected once the server has answered and closed.
            }
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(waitUntil { server.inFlight == 0 })
            #expect(try RawHTTPClient(port: server.port).request("GET", "/ok").status == 200)
        }
    }

    @Test func endlessOversizedChunkedBodyIsCutOff() throws {
        try withServer({ $0.maxBodyBytes = 1024 }) { server in
            let client = try RawHTTPClient(port: server.port, timeout: 3)
            try client.sendRequest("POST", "/echo", headers: [(name: "Transfer-Encoding", value: "chunked")])
            var sent = 0
            let chunk = RawHTTPClient.chunk([UInt8](repeating: 0x62, count: 16_000))
            do {
                while sent < 64_000_000 {
                    try client.send(chunk)
                    sent += 16_000
                }
            } catch {
                // The server dropped the connection.
            }
            // Cut off after max(cap, 64 KiB) discarded bytes, so sending fails
            // once the loopback socket buffers (a few MB) are full.
            #expect(sent < 64_000_000, "the server read all of \(sent) bytes")
            #expect(client.waitForPeerClose(seconds: 3))
            #expect(waitUntil { server.inFlight == 0 })
            #expect(try RawHTTPClient(port: server.port).request("GET", "/ok").status == 200)
        }
    }

    @Test func clientDisconnectingMidUploadReleasesTheRequest() throws {
        try withServer { server in
            // Content-Length body, closed normally after 100 of 10000 bytes.
            let a = try RawHTTPClient(port: server.port)
            try a.sendRequest("POST", "/echo", headers: [(name: "Content-Length", value: "10000")])
            try a.send([UInt8](repeating: 1, count: 100))
            #expect(waitUntil { server.inFlight == 1 })
            a.close()
            #expect(waitUntil { server.inFlight == 0 })

            // Chunked body, reset mid-chunk.
            let b = try RawHTTPClient(port: server.port)
            try b.sendRequest("POST", "/echo", headers: [(name: "Transfer-Encoding", value: "chunked")])
            try b.send(bytes("100\r\n") + [UInt8](repeating: 2, count: 50))
            #expect(waitUntil { server.inFlight == 1 })
            b.abort()
            #expect(waitUntil { server.inFlight == 0 })

            // Expect: 100-continue, gone after the interim response.
            let c = try RawHTTPClient(port: server.port)
            try c.sendRequest(
                "POST", "/echo",
                headers: [(name: "Content-Length", value: "5"), (name: "Expect", value: "100-continue")])
            #expect(try c.readResponse(interim: true).status == 100)
            c.close()

            #expect(waitUntil { server.inFlight == 0 && server.openConnections == 0 })
            let d = try RawHTTPClient(port: server.port)
            #expect(try d.request("POST", "/echo", body: bytes("still here")).bodyText == "still here")
            #expect(waitUntil { server.inFlight == 0 })
        }
    }

    /// Clients that send part of a request and close at once: the data and
    /// the FIN arrive together. (With libmicrohttpd 0.9.75's epoll mode most
    /// of these connections stayed open, in flight, until the idle timeout.)
    @Test(arguments: [
        HTTPServerConfiguration.Threading.pool(threads: 2), .pool(threads: 1), .threadPerConnection,
    ])
    func partialRequestFollowedByImmediateCloseIsReleased(threading: HTTPServerConfiguration.Threading) throws {
        try withServer({ $0.threading = threading }) { server in
            for i in 0..<60 {
                let client = try RawHTTPClient(port: server.port)
                switch i % 3 {
                case 0:
                    try client.sendRequest("POST", "/echo", headers: [(name: "Content-Length", value: "50000")])
                    try client.send([UInt8](repeating: 1, count: 30_000))
                case 1:
                    try client.sendRequest("POST", "/echo", headers: [(name: "Content-Length", value: "500")])
                    try client.send([UInt8](repeating: 1, count: 300))
                default:
                    try client.sendRequest("POST", "/echo", headers: [(name: "Transfer-Encoding", value: "chunked")])
                    try client.send(RawHTTPClient.chunk([UInt8](repeating: 1, count: 2000)))
                }
                client.close()
            }
            // Well before the 30 s idle timeout.
            #expect(waitUntil(seconds: 3) { server.inFlight == 0 && server.openConnections == 0 },
                    "inFlight \(server.inFlight), open \(server.openConnections)")
        }
    }

    // MARK: Stopping

    @Test(arguments: [
        HTTPServerConfiguration.Threading.pool(threads: 2), .pool(threads: 1), .threadPerConnection,
    ])
    func gracefulStopFinishesInFlightRequestAndRefusesNewConnections(
        threading: HTTPServerConfiguration.Threading
    ) throws {
        let slowStarted = Locked(0)
        let handler = ClosureHTTPHandler { request in
            if request.path == "/slow" { slowStarted.withLock { $0 += 1 } }
            return EchoHandler().handle(request)
        }
        let server = HTTPServer(configuration: testConfiguration { $0.threading = threading }, handler: handler)
        try server.start()
        let port = server.port

        // An idle keep-alive connection must not hold the stop up.
        let idle = try RawHTTPClient(port: port)
        #expect(try idle.request("GET", "/warm").status == 200)

        let slow = try RawHTTPClient(port: port)
        try slow.sendRequest("GET", "/slow")
        // The handler is now sleeping its 300 ms.
        #expect(waitUntil { slowStarted.withLock { $0 } == 1 })
        #expect(server.inFlight == 1)

        let started = Date()
        let stopper = TestThread { server.stop() }
        #expect(waitUntil { !server.isRunning })
        sleepMilliseconds(20)

        // Refused while the slow request is still being handled.
        #expect(server.inFlight == 1)
        let stoppingError = connectFailure(port: port)
        #expect(stoppingError?.isConnectionRefused == true, "connecting to a stopping server: \(String(describing: stoppingError))")

        let response = try slow.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "slow done")
        #expect(response.closesConnection)

        stopper.join()
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 2, "stop() took \(elapsed) s")
        #expect(server.inFlight == 0)
        #expect(idle.waitForPeerClose(seconds: 2))

        let stoppedError = connectFailure(port: port)
        #expect(stoppedError?.isConnectionRefused == true, "connecting to a stopped server: \(String(describing: stoppedError))")
        server.stop()  // idempotent
        #expect(throws: HTTPServerError.alreadyStarted) { try server.start() }
    }

    @Test func stopGiveUpAfterTheGracePeriod() throws {
        let server = HTTPServer(
            configuration: testConfiguration { $0.shutdownGraceSeconds = 0.05 }, handler: EchoHandler())
        try server.start()
        let client = try RawHTTPClient(port: server.port)
        // Headers of a request whose body never comes.
        try client.sendRequest("POST", "/echo", headers: [(name: "Content-Length", value: "100")])
        #expect(waitUntil { server.inFlight == 1 })
        let started = Date()
        server.stop()
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(server.inFlight == 0)
        #expect(client.waitForPeerClose(seconds: 2))
    }

    @Test func concurrentStopCallsAllReturnAfterTheStop() throws {
        let server = HTTPServer(configuration: testConfiguration(), handler: EchoHandler())
        try server.start()
        let slow = try RawHTTPClient(port: server.port)
        try slow.sendRequest("GET", "/slow")
        #expect(waitUntil { server.inFlight == 1 })
        let threads = (0..<3).map { _ in TestThread { server.stop() } }
        for thread in threads { thread.join() }
        #expect(server.inFlight == 0)
        #expect(try slow.readResponse().status == 200)
    }

    @Test func droppingARunningServerStopsIt() throws {
        var port = 0
        do {
            let server = HTTPServer(configuration: testConfiguration(), handler: EchoHandler())
            try server.start()
            port = server.port
            #expect(try RawHTTPClient(port: port).request("GET", "/").status == 200)
        }
        let failure = connectFailure(port: port)
        #expect(failure?.isConnectionRefused == true, "\(String(describing: failure))")
    }

    // MARK: Modes and addresses

    @Test func threadPerConnectionMode() throws {
        try withServer({ $0.threading = .threadPerConnection }) { server in
            let clients = try (0..<4).map { _ in try RawHTTPClient(port: server.port) }
            for round in 0..<5 {
                for (i, client) in clients.enumerated() {
                    let response = try client.request("POST", "/echo", body: bytes("\(round)-\(i)"))
                    #expect(response.status == 200)
                    #expect(response.bodyText == "\(round)-\(i)")
                    #expect(!response.closesConnection)
                }
            }
            #expect(server.acceptedConnections == 4)
            // A slow handler on one connection does not hold up another.
            try clients[0].sendRequest("GET", "/slow")
            let started = Date()
            #expect(try clients[1].request("GET", "/fast").status == 200)
            #expect(Date().timeIntervalSince(started) < 0.25)
            #expect(try clients[0].readResponse().bodyText == "slow done")
        }
    }

    @Test func singleThreadPool() throws {
        try withServer({ $0.threading = .pool(threads: 1) }) { server in
            let client = try RawHTTPClient(port: server.port)
            for i in 0..<10 {
                #expect(try client.request("GET", "/\(i)").status == 200)
            }
        }
    }

    @Test(.enabled(if: canBindIPv6Loopback()))
    func ipv6Loopback() throws {
        try withServer({ $0.host = "::1" }) { server in
            let client = try RawHTTPClient(host: "::1", port: server.port)
            #expect(try client.request("GET", "/v6").header("X-Path") == "/v6")
        }
        try withServer({ $0.host = "[::1]" }) { server in
            let client = try RawHTTPClient(host: "::1", port: server.port)
            #expect(try client.request("GET", "/").status == 200)
        }
    }

    // MARK: Start failures

    @Test func tlsWithMissingFilesFailsWithTypedError() throws {
        let missing = "/nonexistent/memtyped-test/cert.pem"
        let server = HTTPServer(
            configuration: testConfiguration {
                $0.tls = .init(certificatePath: missing, privateKeyPath: "/nonexistent/memtyped-test/key.pem")
            },
            handler: EchoHandler())
        let error = try #require(startFailure(server), "start() succeeded without TLS files")
        guard case .tlsFileUnreadable(let path, let err, let message) = error else {
            Issue.record("unexpected error \(error)")
            return
        }
        #expect(path == missing)
        #expect(err == ENOENT)
        #expect(message.contains("No such file"))
        #expect(!server.isRunning)
        server.stop()
    }

    @Test func tlsWithNonPEMFileFails() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("memtyped-notpem-\(getpid()).txt").path
        try "not a certificate".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = HTTPServer(
            configuration: testConfiguration { $0.tls = .init(certificatePath: path, privateKeyPath: path) },
            handler: EchoHandler())
        #expect(throws: HTTPServerError.tlsFileInvalid(path: path)) { try server.start() }
    }

    @Test func invalidHostAndBusyPortFailWithTypedErrors() throws {
        let badHost = HTTPServer(configuration: testConfiguration { $0.host = "localhost" }, handler: EchoHandler())
        #expect(throws: HTTPServerError.invalidHost("localhost")) { try badHost.start() }

        let badPort = HTTPServer(configuration: testConfiguration { $0.port = 70000 }, handler: EchoHandler())
        #expect(throws: HTTPServerError.self) { try badPort.start() }

        try withServer { server in
            let second = HTTPServer(
                configuration: testConfiguration { $0.port = server.port }, handler: EchoHandler())
            let error = try #require(startFailure(second), "bound a busy port")
            guard case .bindFailed(_, let port, let err, let message) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(port == server.port)
            #expect(err == EADDRINUSE)
            #expect(!message.isEmpty)
            #expect(error.description.contains("\(server.port)"))
            // The running server is unaffected.
            #expect(try RawHTTPClient(port: server.port).request("GET", "/").status == 200)
        }
    }

    @Test(.enabled(if: commandExists("openssl") && commandExists("curl")))
    func tlsRoundTrip() throws {
        let tls = try TestCertificate("memtyped-tls")
        defer { tls.remove() }
        let (directory, cert, key) = (tls.directory, tls.cert, tls.key)

        try withServer({ $0.tls = .init(certificatePath: cert, privateKeyPath: key) }) { server in
            let result = run([
                "curl", "-sS", "-k", "--max-time", "5", "-X", "POST", "--data-binary", "over tls",
                "-H", "Content-Type: text/plain", "https://127.0.0.1:\(server.port)/echo",
            ])
            #expect(result?.status == 0)
            #expect(result?.output == "over tls")
        }

        // Certificate and key that do not belong together.
        let otherKey = directory.appendingPathComponent("other.pem").path
        try #require(run(["openssl", "genrsa", "-out", otherKey, "2048"])?.status == 0)
        let probe = HTTPServer(configuration: testConfiguration(), handler: EchoHandler())
        try probe.start()
        let port = probe.port
        probe.stop()
        let mismatched = HTTPServer(
            configuration: testConfiguration {
                $0.port = port
                $0.tls = .init(certificatePath: cert, privateKeyPath: otherKey)
            },
            handler: EchoHandler())
        let failure = startFailure(mismatched)
        guard case .daemonStartFailed = failure else {
            Issue.record("expected daemonStartFailed, got \(String(describing: failure))")
            return
        }
        // The failed start left no listening socket behind.
        let again = HTTPServer(configuration: testConfiguration { $0.port = port }, handler: EchoHandler())
        try again.start()
        again.stop()
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd")))
    func startAndStopDoNotLeakDescriptors() throws {
        func openDescriptors() -> Int {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        }
        let busy = HTTPServer(configuration: testConfiguration(), handler: EchoHandler())
        try busy.start()
        defer { busy.stop() }
        let before = openDescriptors()
        for i in 0..<30 {
            let server = HTTPServer(
                configuration: testConfiguration { $0.threading = i % 3 == 0 ? .threadPerConnection : .pool(threads: 2) },
                handler: EchoHandler())
            try server.start()
            let client = try RawHTTPClient(port: server.port)
            #expect(try client.request("GET", "/").status == 200)
            client.close()
            server.stop()
            // A bind failure after the socket was created.
            let clash = HTTPServer(configuration: testConfiguration { $0.port = busy.port }, handler: EchoHandler())
            #expect(startFailure(clash) != nil)
        }
        // Other suites may open descriptors meanwhile; a leak would be >= 30.
        let growth = openDescriptors() - before
        #expect(growth < 10, "\(growth) more descriptors after 30 start/stop cycles")
    }
}

func canBindIPv6Loopback() -> Bool {
    let server = HTTPServer(configuration: testConfiguration { $0.host = "::1" }, handler: EchoHandler())
    do {
        try server.start()
        server.stop()
        return true
    } catch {
        return false
    }
}
