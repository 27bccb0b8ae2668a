import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// PostgreSQL only: what `integrityCheck` checks of the rows memtyped wrote
/// (SQLite's is `PRAGMA integrity_check`).
@Suite(.enabled(if: PGTestDatabase.url != nil)) struct PostgresIntegrityTests {
    /// Label values may hold ':' (an IPv6 address): the labels column and
    /// the vm_labels rows are compared by content, not by counting ':'
    /// (which took these for extra labels); a row that differs in its value
    /// alone is found.
    @Test func labelsAreComparedByContent() throws {
        let site = try StoreSite(.postgres)
        let store = try openStore(site)
        _ = try store.createVM("v6", spec(labels: ["addr": "fe80::1", "zone": "a:b:c", "name": "über:1"]), actor: "t")
        _ = try store.createVM("plain", spec(labels: [:]), actor: "t")
        #expect(try store.integrityCheck() == "ok")
        try store.unsafeExecute("UPDATE vm_labels SET value = 'fe80::2' WHERE vm_id = 'v6' AND key = 'addr'")
        let problems = try store.integrityCheck()
        #expect(problems.hasPrefix("vm v6: ") && !problems.contains("plain"), "\(problems)")
    }
}
