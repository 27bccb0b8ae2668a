import HTTPTestSupport
import JSON
import Testing

/// Issue 16 item 4: the bearer token check over a real socket. Each case
/// was accepted before (a write went through with a token that is not the
/// token), so each expects the refusal and that nothing was written.
@Suite struct AuthHeaderTests {
    /// A PUT that would create VM `id` (201) if the token were accepted.
    static func put(_ id: String, authorization: [String]) -> [UInt8] {
        let body = Array(vmJSON().utf8)
        var head = "PUT /v1/vms/\(id) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        var bytes = Array(head.utf8)
        for value in authorization { bytes += Array("Authorization: ".utf8) + Array(value.utf8) + Array("\r\n".utf8) }
        return bytes + Array("\r\n".utf8) + body
    }

    static func send(_ s: StoreServer, _ bytes: [UInt8]) throws -> RawHTTPResponse {
        let c = try s.server.client()
        defer { c.close() }
        try c.send(bytes)
        return try c.readResponse(method: "PUT")
    }

    @Test func theTokenIsStillAccepted() throws {
        let s = try StoreServer()
        let r = try Self.send(s, Self.put("ok1", authorization: ["Bearer \(Tokens.alice)"]))
        #expect(r.status == 201, "\(r.bodyText)")
    }

    /// The old comparison folded the length difference into a UInt8: 256 extra bytes vanished.
    @Test(arguments: [1, 255, 256, 512, 256 * 3])
    func theTokenWithTrailingBytesIsRefused(extra: Int) throws {
        let s = try StoreServer()
        let r = try Self.send(s, Self.put("long1", authorization: ["Bearer \(Tokens.alice)" + String(repeating: "x", count: extra)]))
        #expect(r.status == 401, "\(extra) extra bytes: \(r.status) \(r.bodyText)")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(try s.getVM("long1").status == 404)
    }

    /// A NUL inside the value: whatever libmicrohttpd makes of the bytes
    /// after it, the request is refused and nothing is written.
    @Test func aNULInTheHeaderIsRefused() throws {
        let s = try StoreServer()
        var bytes = Self.put("nul1", authorization: [])
        let marker = Array("Connection: close\r\n".utf8)
        let at = bytes.indices.first { bytes[$0...].starts(with: marker) }! + marker.count
        bytes.insert(contentsOf: Array("Authorization: Bearer \(Tokens.alice)".utf8) + [0] + Array("junk\r\n".utf8), at: at)
        let r = try Self.send(s, bytes)
        // libmicrohttpd 0.9.75 hands the value out cut at the NUL, as the
        // token alone; the HTTP layer finds the rest in the head (mhd_head.c).
        #expect(r.status == 400, "\(r.status) \(r.bodyText)")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(try r.json()["detail"]?.stringValue?.contains("Authorization") == true, "\(r.bodyText)")
        #expect(try s.getVM("nul1").status == 404)
    }

    @Test(arguments: [[Tokens.alice, Tokens.alice], [Tokens.alice, "not-a-token-at-all"], ["not-a-token-at-all", Tokens.alice]])
    func twoAuthorizationHeadersAreRefused(tokens: [String]) throws {
        let s = try StoreServer()
        let r = try Self.send(s, Self.put("dup1", authorization: tokens.map { "Bearer \($0)" }))
        #expect(r.status == 400, "\(r.status) \(r.bodyText)")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(try r.json()["detail"]?.stringValue?.contains("Authorization") == true, "\(r.bodyText)")
        #expect(try s.getVM("dup1").status == 404)
    }
}
