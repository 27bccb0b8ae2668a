import Foundation
import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// PostgreSQL only: what the pool does when the database drops connections
/// or holds a call past the store timeout.
@Suite(.enabled(if: PGTestDatabase.url != nil)) struct PostgresOutageTests {
    /// A store on its own application_name, so its server sessions can be
    /// found (and terminated) without touching other tests' sessions.
    func open(_ site: StoreSite, timeoutMillis: Int = 2000) throws -> (PostgresVMStore, String) {
        let name = "memtyped-" + site.schema
        let options = PostgresVMStore.Options(connections: 2, timeoutMillis: timeoutMillis)
        return (try PostgresVMStore(conninfo: site.conninfo + "&application_name=\(name)", options: options), name)
    }

    /// The server restarting looks like this to a pooled connection: the
    /// session is gone. The next call gets a fresh connection, no error.
    @Test func terminatedSessionsAreReplacedWithoutAnError() throws {
        let site = try StoreSite(.postgres)
        let (store, name) = try open(site)
        _ = try store.createVM("vm", spec(), actor: "t")
        // Both pooled connections open and idle.
        runConcurrently(2) { _ in for _ in 0..<20 { _ = try? store.getVM("vm") } }
        #expect(try store.getVM("vm")?.revision == 1)
        try PostgresVMStore.administer(conninfo: PGTestDatabase.url!, sql: """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '\(name)'
            """)
        #expect(try store.getVM("vm")?.revision == 1)
        #expect(try store.decisionInputs("vm")?.revision == 1)
        _ = try store.updateVM("vm", expectedRevision: 1, actor: "t") { r throws(StoreError) in r.labels["after"] = "restart" }
        #expect(try store.getVM("vm")?.revision == 2)
    }

    /// A write that waits on a row another session holds gives up at the
    /// store timeout as `.unavailable` (503) and writes nothing; once the
    /// row is free the same write succeeds.
    @Test func aCallHeldPastTheTimeoutIsUnavailableAndWritesNothing() throws {
        let site = try StoreSite(.postgres)
        let (store, _) = try open(site, timeoutMillis: 300)
        _ = try store.createVM("vm", spec(), actor: "t")
        let holding = DispatchSemaphore(value: 0)
        let holder = Thread {
            // Holds the row lock for 3 s in another session.
            try? PostgresVMStore.administer(conninfo: site.conninfo, sql: """
                BEGIN; SELECT id FROM vms WHERE id = 'vm' FOR UPDATE; SELECT pg_sleep(3); COMMIT;
                """)
            holding.signal()
        }
        holder.start()
        try #require(try waitForLock(site, table: "vms", mode: "RowShareLock"))
        let error = storeError {
            try store.updateVM("vm", expectedRevision: 1, actor: "t") { r throws(StoreError) in r.labels["x"] = "y" }
        }
        guard case .unavailable(_, let retryAfter)? = error else {
            Issue.record("expected .unavailable, got \(String(describing: error))")
            return
        }
        #expect(retryAfter >= 1)
        holding.wait()
        #expect(try store.getVM("vm")?.revision == 1)
        #expect(try store.history("vm").entries.count == 1)
        _ = try store.updateVM("vm", expectedRevision: 1, actor: "t") { r throws(StoreError) in r.labels["x"] = "y" }
        #expect(try store.getVM("vm")?.revision == 2)
    }

    /// A read that outlives the timeout (the table locked by another session)
    /// fails alone: the slow server is not taken for a dead one, so the next
    /// call, once the lock is gone, is served (no fast-fail window, no
    /// closing of the other connections).
    @Test func aTimeoutIsNotAnOutage() throws {
        let site = try StoreSite(.postgres)
        let (store, _) = try open(site, timeoutMillis: 300)
        _ = try store.createVM("vm", spec(), actor: "t")
        #expect(try store.getVM("vm")?.revision == 1)
        let released = DispatchSemaphore(value: 0)
        let holder = Thread {
            try? PostgresVMStore.administer(conninfo: site.conninfo, sql: """
                BEGIN; LOCK TABLE vms IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1); COMMIT;
                """)
            released.signal()
        }
        holder.start()
        try #require(try waitForLock(site, table: "vms", mode: "AccessExclusiveLock"))
        guard case .unavailable? = storeError({ try store.getVM("vm") }) else {
            Issue.record("a read held past the timeout must be .unavailable")
            return
        }
        released.wait()
        #expect(try store.getVM("vm")?.revision == 1)
        #expect(try store.decisionInputs("vm")?.revision == 1)
    }
}
