import Foundation
import HTTPTestSupport
import JSON
import Testing
@_spi(Testing) import VMStore

/// Issue 16 items 9-11 over a real socket: what a client and a load balancer
/// see when the store is locked, full or damaged. Each answered 500 (after
/// 5 s for the lock) with /readyz at 200 before.
@Suite struct StoreFaultTests {
    static func readiness(_ s: StoreServer) throws -> (status: Int, store: String?, retryAfter: String?) {
        let r = try s.request("GET", "/readyz", token: nil)
        return (r.status, try r.json()["store"]?.stringValue, r.header("Retry-After"))
    }

    /// Another connection (as another process would) takes the database's
    /// write lock and holds it until the returned function is called.
    static func holdWriteLock(_ path: String) throws -> () -> Void {
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        var options = SQLiteVMStore.Options()
        options.beforeCommit = { () throws(StoreError) in
            held.signal()
            release.wait()
        }
        let other = try SQLiteVMStore(path: path, options: options)
        Thread {
            _ = try? other.createVM("holder", VMSpec(host: .inline(HostSpec(vendor: .amd, selfSnoop: true, tdp: true))), actor: "t")
            done.signal()
        }.start()
        held.wait()
        return {
            release.signal()
            done.wait()
        }
    }

    /// A baseline move over many VMs stops trying after the first busy
    /// answer: every item reports it, and the request waits one busy timeout,
    /// not one per VM (20 x 300 ms before).
    @Test func aBatchMeetsTheLockOnce() throws {
        let s = try StoreServer(busyTimeoutMillis: 300)
        for i in 0..<20 { try s.createVM(String(format: "b-%02d", i), vmJSON(labels: #"{"fleet": "b"}"#)) }
        let release = try Self.holdWriteLock(s.db)
        defer { release() }
        let start = Date()
        let r = try s.request("POST", "/v1/baseline-moves", json: #"{"to": "honor-guest-pat-2025", "filter": {"labels": {"fleet": "b"}}}"#)
        let seconds = Date().timeIntervalSince(start)
        #expect(r.status == 200, "\(r.bodyText)")
        let j = try r.json()
        #expect(j["summary", "failed"] == 20)
        #expect((j["items"]?.arrayValue ?? []).allSatisfy { $0["problem", "type"] == "/problems/store-busy" })
        #expect(seconds < 3, "the batch took \(seconds) s")  // 10x the timeout; 6 s when each VM waited
    }

    @Test func aLockedStoreAnswers503WithRetryAfterAndStaysReady() throws {
        let s = try StoreServer(busyTimeoutMillis: 200)
        try s.createVM("before", vmJSON())
        let release = try Self.holdWriteLock(s.db)
        defer { release() }

        let r = try s.request("PUT", "/v1/vms/locked1", json: vmJSON())
        #expect(r.status == 503, "\(r.bodyText)")
        #expect(r.header("Retry-After") == "1")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(try r.json()["type"]?.stringValue == "/problems/store-busy")
        // Busy is not unready, and reads go on (WAL readers do not wait for writers).
        #expect(try Self.readiness(s).status == 200)
        #expect(try s.getVM("before").status == 200)
        #expect(try s.getVM("locked1").status == 404)
    }

    @Test func aFullStoreAnswers507AndIsNotReadyUntilThereIsRoom() throws {
        let s = try StoreServer()
        try s.createVM("first", vmJSON())
        try s.store.unsafeExecute("PRAGMA max_page_count = 1")  // pinned at its current size
        var full: RawHTTPResponse?
        for i in 0..<500 where full == nil {
            let r = try s.request("PUT", "/v1/vms/vm-\(i)", json: vmJSON(labels: #"{"pad": "\#(String(repeating: "x", count: 200))"}"#))
            if r.status != 201 { full = r }
        }
        guard let full else {
            Issue.record("500 writes fitted in a full database")
            return
        }
        #expect(full.status == 507, "\(full.bodyText)")
        #expect(full.header("Content-Type") == "application/problem+json")
        #expect(try full.json()["type"]?.stringValue == "/problems/store-full")
        #expect(try full.json()["detail"]?.stringValue?.contains("no room") == true)

        let ready = try Self.readiness(s)
        #expect(ready.status == 503)
        #expect(ready.store == "full")
        #expect(ready.retryAfter != nil)
        // Reads still work; nothing is half-written.
        #expect(try s.getVM("first").status == 200)
        #expect(try s.store.integrityCheck() == "ok")

        try s.store.unsafeExecute("PRAGMA max_page_count = 1000000")
        #expect(try Self.readiness(s).status == 200)
        #expect(try s.request("PUT", "/v1/vms/after", json: vmJSON()).status == 201)
    }

    /// Fills a store, closes it (the WAL goes into the file), then overwrites
    /// the root page of the history table, in the middle of the file, with junk.
    static func damage(_ dir: VMTempDir) throws {
        let root: Int
        do {
            let seed = try SQLiteVMStore(path: dir.dbPath)
            for i in 0..<300 {
                _ = try seed.createVM(String(format: "vm-%03d", i), VMSpec(
                    host: .inline(HostSpec(vendor: .intel, selfSnoop: true, tdp: true)), labels: ["n": "\(i)"]), actor: "t")
            }
            root = try seed.rootPage(of: "history")
        }
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: dir.dbPath))
        try file.seek(toOffset: UInt64((root - 1) * 4096))
        try file.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        try file.close()
    }

    @Test func aDamagedStoreAnswers503AndIsNotReady() throws {
        let dir = VMTempDir()
        try Self.damage(dir)
        let s = try StoreServer(dir: dir)
        #expect(try Self.readiness(s).status == 200)  // nothing has met the damage yet
        let r = try s.request("GET", "/v1/vms/vm-001/history", token: nil)
        #expect(r.status == 503, "\(r.bodyText)")
        #expect(r.header("Retry-After") != nil)
        #expect(try r.json()["type"]?.stringValue == "/problems/store-corrupt")
        let ready = try Self.readiness(s)
        #expect(ready.status == 503)
        #expect(ready.store == "corrupt")
    }

    /// memtyped, built next to the test bundle by `swift build` / `swift test`.
    static let memtyped = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("memtyped").path

    /// The binary refuses a damaged store at start: one line naming the file
    /// and quick_check's finding, no usage text, exit status 1. (It started
    /// and said ready before.)
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: StoreFaultTests.memtyped)))
    func memtypedRefusesToStartOnADamagedStore() throws {
        let dir = VMTempDir()
        try Self.damage(dir)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.memtyped)
        let tokens = dir.url.appendingPathComponent("tokens").path
        try Tokens.file.write(toFile: tokens, atomically: true, encoding: .utf8)
        process.arguments = ["--db", dir.dbPath, "--port", "0", "--tokens", tokens]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // A memtyped that serves the damaged file would never exit by itself.
        DispatchQueue.global().asyncAfter(deadline: .now() + 20) { if process.isRunning { process.terminate() } }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1, "\(output)")
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "\(output)")
        #expect(output.contains("cannot use the store \(dir.dbPath)") && output.contains("quick_check"), "\(output)")
        #expect(!output.contains("USAGE"), "\(output)")
    }

    @Test func storeErrorsAreCounted() throws {
        let s = try StoreServer()
        try s.createVM("first", vmJSON())
        try s.store.unsafeExecute("PRAGMA max_page_count = 1")
        for i in 0..<500 {
            if try s.request("PUT", "/v1/vms/vm-\(i)", json: vmJSON()).status == 507 { break }
        }
        let metrics = try s.request("GET", "/metrics", token: nil).bodyText
        #expect(metrics.contains(#"memtyped_store_errors_total{kind="full"} 1"#), "\(metrics)")
    }
}
