import HTTPServer
import HTTPTestSupport
import JSON
import Testing
@_spi(Testing) import VMStore

/// A baseline move whose host profile cannot be read (the store fails, here
/// because the table is gone) is an error, and nothing moves: the effect is
/// not reported as null after a move that happened.
@Suite struct BaselineMoveStoreFailureTests {
    /// A server with VM `m` on host profile `h1`, then the profiles table
    /// renamed away under it (through a second connection to the file).
    static func serverWithUnreadableHostProfile() throws -> StoreServer {
        let s = try StoreServer()
        #expect(try s.request("PUT", "/v1/hosts/h1", json: #"{"kernel": "6.16"}"#).status == 201)
        try s.createVM("m", #"{"host_profile": "h1"}"#)
        let other = try SQLiteVMStore(path: s.db, options: SQLiteVMStore.Options())
        try other.unsafeExecute("ALTER TABLE host_profiles RENAME TO host_profiles_unreadable")
        return s
    }

    @Test func singleMoveFailsBeforeWriting() throws {
        let s = try Self.serverWithUnreadableHostProfile()
        defer { s.stop() }

        let r = try s.request("POST", "/v1/vms/m/baseline-move", json: #"{"baseline": "honor-guest-pat-2025"}"#)
        #expect(r.status >= 500, "\(r.bodyText)")
        #expect(try s.getVM("m").json()["baseline"] == "legacy-ignore-guest-pat")
        #expect(try s.getVM("m").json()["revision"] == 1)
    }

    @Test func bulkMoveFailsBeforeWriting() throws {
        let s = try Self.serverWithUnreadableHostProfile()
        defer { s.stop() }

        let r = try s.request("POST", "/v1/baseline-moves", json: #"{"to": "honor-guest-pat-2025"}"#)
        #expect(r.status >= 500, "\(r.bodyText)")
        #expect(try s.getVM("m").json()["baseline"] == "legacy-ignore-guest-pat")
    }
}
