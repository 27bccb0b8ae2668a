import Foundation
import HTTPServer
import HTTPTestSupport
import JSON
import MemTypedService
import Testing
import VMStore

/// A temporary directory for one test's SQLite file, removed afterwards.
final class VMTempDir: @unchecked Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("memtyped-vm-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var dbPath: String { url.appendingPathComponent("vms.sqlite").path }
}

enum Tokens {
    static let alice = "alice-0123456789abcdef"
    static let bob = "bob-0123456789abcdef00"
    static let reader = "reader-0123456789abcdef"
    static let file = """
        # test tokens
        alice \(alice)
        bob \(bob)
        reader \(reader) read
        """
}

func bearer(_ token: String) -> (name: String, value: String) { ("Authorization", "Bearer \(token)") }

/// A server with a SQLite store at `db` (a fresh temp file by default) and the test tokens.
final class StoreServer {
    let dir: VMTempDir
    let db: String
    let server: TestServer
    let store: SQLiteVMStore

    init(db: String? = nil, baseline: Baseline = .current, readAuth: Bool = false, dir: VMTempDir = VMTempDir(),
         busyTimeoutMillis: Int32 = SQLiteVMStore.defaultBusyTimeoutMillis,
         clock: (@Sendable () -> Timestamp)? = nil,
         http: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        self.dir = dir
        self.db = db ?? dir.dbPath
        var options = SQLiteVMStore.Options(currentBaseline: baseline)
        options.busyTimeoutMillis = busyTimeoutMillis
        if let clock { options.clock = clock }
        let store = try SQLiteVMStore(path: self.db, options: options)
        self.store = store
        let auth = try TokenAuth(fileText: Tokens.file, readsRequireToken: readAuth)
        server = try TestServer(configure: { config in
            config.store = store
            config.auth = auth
        }, http: http)
    }

    func stop() { server.server.stop() }

    /// A request as alice (a writer) unless `token` says otherwise (nil: none).
    func request(_ method: String, _ target: String, json: String? = nil, token: String? = Tokens.alice,
                 headers: [(name: String, value: String)] = []) throws -> RawHTTPResponse {
        var h = headers
        if let token { h.append(bearer(token)) }
        return try server.request(method, target, json: json, headers: h)
    }

    /// PUT a VM and expect 201; returns the representation.
    @discardableResult
    func createVM(_ id: String, _ json: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let r = try request("PUT", "/v1/vms/\(id)", json: json, headers: [("If-None-Match", "*")])
        #expect(r.status == 201, "\(r.bodyText)", sourceLocation: sourceLocation)
        return try r.json()
    }

    func getVM(_ id: String) throws -> RawHTTPResponse { try request("GET", "/v1/vms/\(id)", token: nil) }

    /// The history entries of a VM (all of them).
    func history(_ id: String) throws -> [JSONValue] {
        let r = try request("GET", "/v1/vms/\(id)/history?limit=1000", token: nil)
        #expect(r.status == 200, "\(r.bodyText)")
        return try r.json()["items"]?.arrayValue ?? []
    }
}

/// Sapphire Rapids on 6.16: IGNORE_GUEST_PAT can be disabled, UC is slow.
let sprHost = #"{"vendor": "intel", "self_snoop": true, "tdp": true, "cpu": {"family": 6, "model": "0x8f"}, "kernel": "6.16"}"#

func vmJSON(host: String = sprHost, labels: String = #"{"env": "prod"}"#, extra: String = "") -> String {
    #"{"host": \#(host), "display_devices": ["VGA"], "guest_kernel": "6.1", "labels": \#(labels)\#(extra.isEmpty ? "" : ", " + extra)}"#
}

/// One request from any thread (captures only Sendable values).
func rawRequest(port: Int, _ method: String, _ target: String, json: String? = nil,
                headers: [(name: String, value: String)] = []) throws -> RawHTTPResponse {
    let c = try RawHTTPClient(port: port)
    defer { c.close() }
    var h = headers
    if json != nil { h.append(("Content-Type", "application/json")) }
    return try c.request(method, target, headers: h, body: json.map { Array($0.utf8) })
}

extension JSONValue {
    /// The object without `key` (to compare a per-VM decision with a plain one).
    func removing(_ key: String) -> JSONValue {
        guard case .object(let o) = self else { return self }
        return .object(JSONObject(o.members.filter { $0.key != key }))
    }

    var intValue: Int? { int64Value.map { Int($0) } }
}
