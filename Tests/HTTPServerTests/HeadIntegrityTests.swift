import HTTPServer
import HTTPTestSupport
import Testing

/// Issue 16 item 4: libmicrohttpd 0.9.75 cuts a header value at a NUL
/// ("X-Foo: bar\0junk" reads as "bar") and mangles a folded line, so the
/// server checks the head it parsed (mhd_head.c). Each case over a real
/// socket; the heads that must still be served are here too, because the
/// check reads the bytes around every value.
@Suite struct HeadIntegrityTests {
    /// Sends `head` (and nothing else) on a fresh connection.
    static func send(_ server: HTTPServer, _ head: String) throws -> (RawHTTPResponse, RawHTTPClient) {
        let client = try RawHTTPClient(port: server.port)
        try client.send(Array(head.utf8))
        return (try client.readResponse(), client)
    }

    @Test(arguments: [
        ("GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: bar\0junk\r\nX-Other: 1\r\n\r\n", "X-Foo"),
        ("GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: bar\0junk\r\n\r\n", "X-Foo"),  // the last header
        ("GET /headers HTTP/1.1\r\nHost: x\0junk\r\n\r\n", "Host"),
        ("GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: bar\0\r\nX-Other: 1\r\n\r\n", "X-Foo"),  // nothing after the NUL
        ("GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: bar\0 \r\n\r\n", "X-Foo"),  // only a space after it
        ("GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: \0junk\r\n\r\n", "X-Foo"),  // nothing before it
        ("GET /headers HTTP/1.1\nHost: x\nX-Foo: bar\0junk\nX-Other: 1\n\n", "X-Foo"),  // bare LF line ends
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\0text/plain\r\nContent-Length: 2\r\n\r\n{}",
         "Content-Type"),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\0junk\r\n\r\n{}", "Content-Length"),
    ])
    func aNULInAHeaderValueIs400NamingTheHeader(head: String, name: String) throws {
        let handler = GateHandler()
        try withServer({ $0.errorResponder = problemResponder }, handler: handler) { server in
            let (response, client) = try Self.send(server, head)
            #expect(response.status == 400, "\(response.status) \(response.bodyText)")
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.bodyText.contains("The \(name) header holds a NUL byte."), "\(response.bodyText)")
            #expect(client.waitForPeerClose(seconds: 5))
            #expect(handler.handled.withLock { $0 } == 0)
        }
    }

    /// The check reads where each request's head lies in the connection's
    /// buffer: the second request of a kept-alive connection, pipelined
    /// behind the first, is checked in its own place.
    @Test func theSecondRequestOfAConnectionIsCheckedToo() throws {
        let handler = GateHandler()
        try withServer({ $0.errorResponder = problemResponder }, handler: handler) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send(Array(
                ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
                 + "GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n\r\n"
                 + "GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: a\0b\r\n\r\n").utf8))
            #expect(try client.readResponse().status == 200)
            #expect(try client.readResponse().status == 200)
            let third = try client.readResponse()
            #expect(third.status == 400)
            #expect(third.bodyText.contains("X-Foo"))
            #expect(handler.handled.withLock { $0 } == 2)
        }
    }

    @Test(arguments: [
        "GET /headers HTTP/1.1\nHost: x\nX-Foo: bar\nX-Empty:\n\n",  // bare LF throughout
        "GET /headers HTTP/1.1\r\nHost: x\nX-Foo: bar\r\nX-Empty:\n\r\n",  // mixed
        "GET /headers HTTP/1.1\r\nHost: x  \r\nX-Foo: \t bar \t \r\nX-Empty: \r\n\r\n",  // whitespace around values
        "\r\n\r\nGET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: bar\r\n\r\n",  // empty lines before the request line
    ])
    func wellFormedHeadsAreStillServed(head: String) throws {
        try withServer({ $0.errorResponder = problemResponder }) { server in
            let (response, _) = try Self.send(server, head)
            #expect(response.status == 200, "\(response.status) \(response.bodyText)")
            #expect(response.bodyText.contains("X-Foo: "), "\(response.bodyText)")
            #expect(response.bodyText.contains("X-Empty: ") == head.contains("X-Empty"))
        }
    }

    /// A head of ~10 KB arriving in pieces makes libmicrohttpd grow its
    /// read buffer several times while the head is parsed.
    @Test func aLargeHeadSentInPiecesIsServedAndItsLastHeaderStillChecked() throws {
        try withServer({ $0.errorResponder = problemResponder }) { server in
            let filler = (0..<90).map { "X-H\($0): \(String(repeating: "v", count: 100))\r\n" }.joined()
            for (last, status) in [("X-Last: ab\r\n", 200), ("X-Last: a\0b\r\n", 400)] {
                let client = try RawHTTPClient(port: server.port)
                let head = Array(("GET /headers HTTP/1.1\r\nHost: x\r\n" + filler + last + "\r\n").utf8)
                try client.sendInPieces(head, pieces: 14)
                let response = try client.readResponse()
                #expect(response.status == status, "\(last): \(response.status) \(response.bodyText)")
                if status == 400 { #expect(response.bodyText.contains("X-Last")) }
            }
        }
    }

    /// RFC 9112 section 5.2: obs-fold may be refused with 400. libmicrohttpd
    /// 0.9.75 accepts it but appends the continuation to the name
    /// ("X-Foo: bar\r\n baz" reached the handler as "X-Foobaz: bar").
    @Test(arguments: [
        "GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: bar\r\n baz\r\nX-Other: 1\r\n\r\n",
        "GET /headers HTTP/1.1\r\nHost: x\r\nX-Foo: bar\r\n\tbaz\r\n\r\n",
    ])
    func aFoldedHeaderLineIs400(head: String) throws {
        let handler = GateHandler()
        try withServer({ $0.errorResponder = problemResponder }, handler: handler) { server in
            let (response, client) = try Self.send(server, head)
            #expect(response.status == 400, "\(response.status) \(response.bodyText)")
            #expect(response.bodyText.contains("obs-fold"), "\(response.bodyText)")
            #expect(client.waitForPeerClose(seconds: 5))
            #expect(handler.handled.withLock { $0 } == 0)
        }
    }
}
