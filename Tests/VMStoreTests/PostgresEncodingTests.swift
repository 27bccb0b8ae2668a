import Foundation
import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// PostgreSQL only: the store talks UTF-8 and needs a UTF-8 database.
@Suite(.enabled(if: PGTestDatabase.url != nil)) struct PostgresEncodingTests {
    /// A SQL_ASCII database (which stores any bytes unvalidated; EUC_JP and
    /// the like refuse some label values with 22P05) is refused at start,
    /// naming its encoding and the fix, before anything is written to it.
    @Test func aDatabaseNotInUTF8IsRefusedAtStart() throws {
        let name = "ascii_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try PostgresVMStore.administer(conninfo: PGTestDatabase.url!, sql: "CREATE DATABASE \(name) ENCODING 'SQL_ASCII' TEMPLATE template0")
        defer { _ = try? PostgresVMStore.administer(conninfo: PGTestDatabase.url!, sql: "DROP DATABASE \(name) WITH (FORCE)") }
        let url = PGTestDatabase.url(database: name)
        let error = storeError { try PostgresVMStore(conninfo: url, options: .init(connections: 1)) }
        guard case .backend(let message)? = error else {
            Issue.record("expected .backend, got \(String(describing: error))")
            return
        }
        #expect(message.contains("SQL_ASCII") && message.contains("ENCODING 'UTF8'") && !message.contains("\n"), "\(message)")
        #expect(try PostgresVMStore.administer(conninfo: url, sql: "SELECT 1 FROM pg_tables WHERE tablename = 'memtyped_schema'") == 0)
    }

    /// The store asks for client_encoding UTF8; one set otherwise in the
    /// URL (or PGCLIENTENCODING) would have the server convert what it
    /// sends, so it is refused too.
    @Test func anotherClientEncodingIsRefusedAtStart() throws {
        let site = try StoreSite(.postgres)
        let error = storeError { try PostgresVMStore(conninfo: site.conninfo + "&client_encoding=LATIN1", options: .init(connections: 1)) }
        guard case .backend(let message)? = error else {
            Issue.record("expected .backend, got \(String(describing: error))")
            return
        }
        #expect(message.contains("LATIN1") && message.contains("client_encoding"), "\(message)")
        // Without it, the same site opens.
        _ = try PostgresVMStore(conninfo: site.conninfo, options: .init(connections: 1))
    }
}
