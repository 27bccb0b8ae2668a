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
}
