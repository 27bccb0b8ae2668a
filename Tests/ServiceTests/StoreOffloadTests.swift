import Foundation
import HTTPServer
import HTTPTestSupport
import JSON
import MemTypedService
import Testing
@_spi(Testing) import VMStore

/// Issue 12: store calls must not starve the stateless routes. Store routes
/// run on the store threads (`HTTPServerConfiguration.Offload`), so with the
/// database stuck, decisions on the same single poll thread keep answering;
/// and a store queue that is full answers 503 problem+json at once.
@Suite struct StoreOffloadTests {
    /// One poll thread owns every connection, one store thread.
    static func oneOfEach(_ c: inout HTTPServerConfiguration) {
        c.threading = .pool(threads: 1)
        c.offload = .init(threads: 1, queueLimit: 1, queueTimeoutMillis: 0)
    }

    static let decision = #"{"kernel": "6.16", "host": {"vendor": "intel", "self_snoop": true}, "access": {"gpa": "0xfd000000", "pat_index": 2}}"#

    /// `count` decisions on one kept-alive connection, all 200.
    static func decide(_ port: Int, count: Int = 20) throws {
        let c = try RawHTTPClient(port: port, timeout: 10)
        defer { c.close() }
        for _ in 0..<count {
            let r = try c.request("POST", "/v1/decisions", headers: [("Content-Type", "application/json")],
                                  body: Array(decision.utf8))
            #expect(r.status == 200, "\(r.bodyText)")
        }
    }

    @Test func aLockedSQLiteStoreHoldsUpNoDecisionAndAFullQueueIs503() throws {
        let s = try StoreServer(busyTimeoutMillis: 20_000, http: Self.oneOfEach)
        let port = s.server.port, server = s.server.server
        try s.createVM("a", vmJSON())
        // The store thread counts a job done only after handing its answer back (and under
        // SCHED_IDLE beside busy CPUs it may wait to run again): wait until the create's is.
        #expect(waitFor { server.offloadCounts.running == 0 && server.offloadCounts.queued == 0 })
        let release = try StoreFaultTests.holdWriteLock(s.db)
        // A write waits for the lock on the one store thread (taken off the queue, running).
        let write = Background { try rawRequest(port: port, "PUT", "/v1/vms/b", json: vmJSON(), headers: [bearer(Tokens.alice)]) }
        #expect(waitFor { server.offloadCounts.running == 1 && server.offloadCounts.queued == 0 })

        try Self.decide(port)
        #expect(server.offloadCounts.running == 1)  // the write is still waiting

        // One store request may wait for the thread; the next is refused.
        let read = Background { try rawRequest(port: port, "GET", "/v1/vms/a") }
        #expect(waitFor { server.offloadCounts.queued == 1 })
        let refused = try s.request("GET", "/v1/vms/a", token: nil, headers: [("X-Request-Id", "over-1")])
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")
        #expect(refused.header("Content-Type") == "application/problem+json")
        #expect(refused.header("X-Request-Id") == "over-1")
        let problem = try refused.json()
        #expect(problem["type"]?.stringValue == "/problems/store-overloaded")
        #expect(problem["request_id"]?.stringValue == "over-1")
        let metrics = try s.request("POST", "/v1/decisions", json: Self.decision)  // stateless: still served
        #expect(metrics.status == 200)

        release()
        let written = try write.value(), readBack = try read.value()
        #expect(written.status == 201, "\(written.bodyText)")
        #expect(readBack.status == 200, "\(readBack.bodyText)")
        // The refusal is counted under its route like any answer.
        let exposition = try s.request("GET", "/metrics", token: nil).bodyText
        #expect(exposition.contains(#"route="/v1/vms/{id}",method="GET",status="503"} 1"#), "\(exposition)")
    }

    /// The same over PostgreSQL: a lookup stuck behind a table lock (another
    /// session holds it in a transaction that sleeps) holds up no decision.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MEMTYPED_TEST_PG_URL"]?.isEmpty == false))
    func aSlowPostgreSQLHoldsUpNoDecision() throws {
        let base = ProcessInfo.processInfo.environment["MEMTYPED_TEST_PG_URL"]!
        let schema = "t_offload_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try PostgresVMStore.administer(conninfo: base, sql: "CREATE SCHEMA \(schema)")
        defer { try? PostgresVMStore.administer(conninfo: base, sql: "DROP SCHEMA \(schema) CASCADE") }
        let url = base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
        let store = try PostgresVMStore(conninfo: url, options: .init(connections: 1, timeoutMillis: 20_000))
        let auth = try TokenAuth(fileText: Tokens.file, readsRequireToken: false)
        let s = try TestServer(configure: { config in
            config.store = store
            config.auth = auth
        }, http: Self.oneOfEach)
        let port = s.port
        #expect(try s.request("PUT", "/v1/vms/a", json: vmJSON(), headers: [bearer(Tokens.alice)]).status == 201)

        let holder = Background {
            try PostgresVMStore.administer(
                conninfo: url, sql: "BEGIN; LOCK TABLE vms IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT",
                timeoutMillis: 30_000)
        }
        #expect(waitFor {
            (try? PostgresVMStore.administer(conninfo: url, sql: """
                SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'vms' AND l.mode = 'AccessExclusiveLock' AND l.granted
                """)) == 1
        })
        let lookup = Background { try rawRequest(port: port, "GET", "/v1/vms/a/decision?gpa=0xfd000000&pat_index=2") }
        #expect(waitFor { s.server.offloadCounts.running == 1 })
        try Self.decide(port)
        let r = try lookup.value()
        #expect(r.status == 200, "\(r.bodyText)")
        _ = try holder.value()
    }
}

/// Polls `condition` for up to 10 s.
func waitFor(_ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.005)
    }
    return condition()
}

/// `body` on a thread of its own; `value()` waits for its result.
final class Background<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?

    init(_ body: @escaping () throws -> T) {
        nonisolated(unsafe) let body = body
        Thread { [self] in
            result = Result { try body() }
            done.signal()
        }.start()
    }

    func value() throws -> T {
        done.wait()
        return try result!.get()
    }
}
