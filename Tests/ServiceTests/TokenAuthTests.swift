import HTTPServer
import Testing
@testable import MemTypedService

@Suite struct TokenAuthTests {
    let auth = try! TokenAuth(fileText: """
        # comment
        ops   ops-token-0123456789abcdef
        viewer viewer-token-0123456789 read   # trailing comment
        """)

    func request(_ header: String?) -> HTTPRequest {
        HTTPRequest(method: "PUT", path: "/v1/vms/a", headers: header.map { HTTPHeaders([("Authorization", $0)]) } ?? HTTPHeaders())
    }

    @Test func namesTheCallerAndEnforcesAccess() throws {
        #expect(try auth.authorize(request("Bearer ops-token-0123456789abcdef"), for: .write) == "ops")
        #expect(try auth.authorize(request("bearer viewer-token-0123456789"), for: .read) == "anonymous")
        #expect(throws: Problem.self) { try auth.authorize(request("Bearer viewer-token-0123456789"), for: .write) }
        #expect(throws: Problem.self) { try auth.authorize(request(nil), for: .write) }
        #expect(throws: Problem.self) { try auth.authorize(request("Bearer ops-token-0123456789abcdeF"), for: .write) }
        #expect(throws: Problem.self) { try auth.authorize(request("Bearer ops-token-0123456789abcde"), for: .write) }
        #expect(throws: Problem.self) { try auth.authorize(request("Basic b3BzOng="), for: .write) }
    }

    @Test func statusesAre401And403() {
        do { _ = try auth.authorize(request(nil), for: .write) } catch {
            #expect(error.status == 401)
            #expect(error.headers.contains { $0.name == "WWW-Authenticate" })
        }
        do { _ = try auth.authorize(request("Bearer viewer-token-0123456789"), for: .write) } catch {
            #expect(error.status == 403)
        }
    }

    @Test func readsCanRequireATokenToo() throws {
        var strict = auth
        strict.readsRequireToken = true
        #expect(throws: Problem.self) { try strict.authorize(request(nil), for: .read) }
        #expect(try strict.authorize(request("Bearer viewer-token-0123456789"), for: .read) == "viewer")
    }

    @Test(arguments: ["ops", "ops short-token", "a b c d", "x\(String(repeating: "y", count: 70)) token-0123456789abcdef",
                      "ops token-0123456789abcdef\nops token-0123456789abcdeg", "bad/name token-0123456789abcdef"])
    func badTokenFilesAreRefused(text: String) {
        #expect(throws: TokenFileError.self) { try TokenAuth(fileText: text) }
    }

    /// Issue 16 item 4, below the socket: what the server sees is refused.
    @Test func lengthsAreComparedExactly() {
        let token = Array("ops-token-0123456789abcdef".utf8)
        for extra in [1, 255, 256, 512, 65536] {
            #expect(!TokenAuth.constantTimeEqual(token, token + Array(repeating: UInt8(ascii: "x"), count: extra)), "\(extra)")
        }
        #expect(throws: Problem.self) {
            try auth.authorize(request("Bearer ops-token-0123456789abcdef" + String(repeating: "x", count: 256)), for: .write)
        }
    }

    @Test func aControlByteInTheValueIsRefused() {
        for junk in ["\u{0}junk", "\u{0}", "\u{1}", "\u{7F}"] {
            #expect(throws: Problem.self) { try auth.authorize(request("Bearer ops-token-0123456789abcdef" + junk), for: .write) }
        }
    }

    @Test func twoAuthorizationHeadersAre400() {
        let twice = HTTPRequest(method: "PUT", path: "/v1/vms/a", headers: HTTPHeaders([
            ("Authorization", "Bearer ops-token-0123456789abcdef"), ("authorization", "Bearer ops-token-0123456789abcdef"),
        ]))
        do {
            _ = try auth.authorize(twice, for: .write)
            Issue.record("accepted")
        } catch {
            #expect(error.status == 400)
            #expect(error.detail.contains("Authorization"))
        }
    }

    @Test func constantTimeComparison() {
        #expect(TokenAuth.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!TokenAuth.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!TokenAuth.constantTimeEqual(Array("abc".utf8), Array("ab".utf8)))
        #expect(!TokenAuth.constantTimeEqual(Array("ab".utf8), Array("abc".utf8)))
        #expect(!TokenAuth.constantTimeEqual([], Array("a".utf8)))
    }
}
