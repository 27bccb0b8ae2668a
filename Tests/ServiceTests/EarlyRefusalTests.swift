import Foundation
import HTTPServer
import HTTPTestSupport
import Logging
import MemTypedService
import Testing

/// Issue 16 items 1 and 3 against the real service.
@Suite struct EarlyRefusalTests {
    /// The attack of item 1, one connection of it: a 1 MiB PUT with no token
    /// and the wrong media type. Refused before its body, so no
    /// "100 Continue" and nothing buffered.
    @Test func unauthenticatedUploadIsRefusedBeforeItsBody() throws {
        let s = try StoreServer()
        for (target, status) in [("/v1/vms/x1", 401), ("/v2/nowhere", 404), ("/v1/decisions/batch", 405)] {
            let c = try s.server.client()
            try c.sendRequest("PUT", target, headers: [
                ("Content-Type", "text/plain"), ("Content-Length", "1048576"), ("Expect", "100-continue"),
            ])
            let r = try c.readResponse(interim: true)
            #expect(r.status == status, "\(target)")
            #expect(r.header("Content-Type") == "application/problem+json")
            #expect(c.waitForPeerClose(seconds: 5))
        }
        // With the token but the wrong media type: 415, also before the body.
        let c = try s.server.client()
        try c.sendRequest("PUT", "/v1/vms/x1", headers: [
            ("Content-Type", "text/plain"), ("Content-Length", "1048576"), ("Expect", "100-continue"), bearer(Tokens.alice),
        ])
        #expect(try c.readResponse(interim: true).status == 415)
        #expect(s.server.server.bodyBytesInFlight == 0)
        // A request that will be served gets "100 Continue" and is served.
        let ok = try s.server.client()
        let body = #"{"host":{"vendor":"intel"}}"#
        try ok.sendRequest("PUT", "/v1/vms/x1", headers: [
            ("Content-Type", "application/json"), ("Content-Length", "\(body.utf8.count)"),
            ("Expect", "100-continue"), bearer(Tokens.alice),
        ])
        #expect(try ok.readResponse(interim: true).status == 100)
        try ok.send(body)
        let created = try ok.readResponse()
        #expect(created.status == 201 || created.status == 422, "\(created.bodyText)")
    }

    /// Item 3: a path that decodes to CR LF, a fake log line and ESC stays on
    /// one line of the access log, its control bytes escaped. (The invalid
    /// UTF-8 byte %ff reaches the service already repaired to U+FFFD, when
    /// the path becomes a String.)
    @Test func accessLogEscapesControlBytes() throws {
        let lines = CapturedLines()
        var service = ServiceConfiguration()
        service.accessLog = true
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        var http = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        http.threading = .pool(threads: 1)
        let server = HTTPServer(configuration: http, handler: MemTypedService(configuration: service, logger: logger))
        try server.start()
        defer { server.stop() }
        let c = try RawHTTPClient(port: server.port)
        let forged = "/v1/vms/x%0d%0a2026-12-04T13:29:34+0000%20notice%20memtyped:%20FAKE%1b[31m%ff%7f%5c"
        _ = try c.request("GET", forged)  // 503: this server has no store
        let logged = lines.all
        #expect(logged.count == 1)
        let line = try #require(logged.first)
        for byte in line.utf8 { #expect(byte >= 0x20 && byte != 0x7F, "raw control byte \(byte) in \(line)") }
        #expect(line.contains(#"/v1/vms/x\x0d\x0a2026-12-04T13:29:34+0000 notice memtyped: FAKE\x1b[31m"# + "\u{FFFD}" + #"\x7f\\"#), "\(line)")
    }
}

final class CapturedLines: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = NSLock()
    func append(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
}

struct CapturingLogHandler: LogHandler {
    let lines: CapturedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        lines.append(message.description)
    }
}
