import Foundation
import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// PostgreSQL only: a migration is not bound by the store timeout that
/// bounds a request, and waits for its table locks without holding up others.
@Suite(.enabled(if: PGTestDatabase.url != nil)) struct PostgresMigrationTests {
    /// A schema one migration behind (4 adds a column to `vms`: an ACCESS
    /// EXCLUSIVE lock), and another session holding `vms` in SHARE mode for
    /// longer than the store's timeout: the store that opens meanwhile
    /// waits for the table (its lock waits give up after a short lock_timeout
    /// and are retried) and opens migrated once the lock is gone. Before,
    /// the migration ran under the 500 ms statement_timeout and the open
    /// failed `.unavailable`.
    @Test func aMigrationWaitsForItsTableLockPastTheStoreTimeout() throws {
        let site = try StoreSite(.postgres)
        do {
            let store = try openStore(site)
            _ = try store.createVM("old", spec(), actor: "t")
            try rollBack(store, .postgres, to: 3)
        }
        let released = DispatchSemaphore(value: 0)
        let holder = Thread {
            _ = try? PostgresVMStore.administer(conninfo: site.conninfo, sql: """
                BEGIN; LOCK TABLE vms IN SHARE MODE; SELECT pg_sleep(1.5); COMMIT;
                """)
            released.signal()
        }
        holder.start()
        try #require(try waitForLock(site, table: "vms", mode: "ShareLock"))
        let logged = Collector<String>()
        var options = PostgresVMStore.Options(connections: 2, timeoutMillis: 500)
        options.log = { logged.append($0) }
        let store = try PostgresVMStore(conninfo: site.conninfo, options: options)
        released.wait()
        #expect(logged.all.contains { $0.hasPrefix("postgresql schema migrated from version 3 to \(latestSchema(.postgres)) in ") }, "\(logged.all)")
        #expect(store.schemaVersionAtOpen == 3)
        #expect(try store.schemaVersion() == latestSchema(.postgres))
        #expect(try store.tableColumns("vms") == ColumnTables.vms)
        #expect(try store.getVM("old")?.revision == 1)
    }

    /// Another instance migrating (here: a session holding the migration's
    /// advisory lock for longer than the store timeout): the store opening
    /// meanwhile waits for it to finish instead of failing at its 200 ms.
    @Test func anInstanceWaitsForAnotherOnesMigrationPastTheStoreTimeout() throws {
        let site = try StoreSite(.postgres)
        let name = "holder-" + site.schema
        let released = DispatchSemaphore(value: 0)
        let holder = Thread {
            _ = try? PostgresVMStore.administer(conninfo: site.conninfo + "&application_name=\(name)", sql: """
                BEGIN; SELECT pg_advisory_xact_lock(\(PostgresVMStore.migrationLockKey)); SELECT pg_sleep(2); COMMIT;
                """)
            released.signal()
        }
        holder.start()
        var held = false
        for _ in 0..<200 where !held {
            held = try PostgresVMStore.administer(conninfo: PGTestDatabase.url!, sql: """
                SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = '\(name)'
                """) > 0
            if !held { usleep(20_000) }
        }
        try #require(held)
        let logged = Collector<String>()
        var options = PostgresVMStore.Options(connections: 1, timeoutMillis: 200)
        options.log = { logged.append($0) }
        let store = try PostgresVMStore(conninfo: site.conninfo, options: options)
        released.wait()
        #expect(store.schemaVersionAtOpen == 0)
        #expect(try store.schemaVersion() == latestSchema(.postgres))
        #expect(logged.all.first == "postgresql schema: another instance is migrating it; waiting for it to finish")
    }
}
