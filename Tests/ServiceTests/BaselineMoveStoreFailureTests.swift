import HTTPServer
import HTTPTestSupport
import JSON
import Testing
@_spi(Testing) import VMStore

/// A baseline move whose host profile cannot be read (the store fails, here
/// because the table is gone) is an error, and nothing moves: the effect is
/// not reported as null after a move that happened.
@Suite struct BaselineMoveStoreFailureTests {
    static func breakHostProfiles(_ s: StoreServer) throws {
        let other = try SQLiteVMStore(path: s.db, options: SQLiteVMStore.Options())
        try other.unsafeExecute("ALTER TABLE host_profiles RENAME TO host_profiles_unreadable")
    }

    @Test func singleMoveFailsBeforeWriting() throws {
        let s = try StoreServer()
        defer { s.stop() }
        #expect(try s.request("PUT", "/v1/hosts/h1", json: #"{"kernel": "6.16"}"#).status == 201)
        try s.createVM("m", #"{"host_profile": "h1"}"#)
        try Self.breakHostProfiles(s)

        let r = try s.request("POST", "/v1/vms/m/baseline-move", json: #"{"baseline": "honor-guest-pat-2025"}"#)
        #expect(r.status >= 500, "\(r.bodyText)")
        #expect(try s.getVM("m").json()["baseline"] == "legacy-ignore-guest-pat")
        #expect(try s.getVM("m").json()["revision"] == 1)
    }

    @Test func bulkMoveFailsBeforeWriting() throws {
        let s = try StoreServer()
        defer { s.stop() }
        #expect(try s.request("PUT", "/v1/hosts/h1", json: #"{"kernel": "6.16"}"#).status == 201)
        try s.createVM("m", #"{"host_profile": "h1"}"#)
        try Self.breakHostProfiles(s)

        let r = try s.request("POST", "/v1/baseline-moves", json: #"{"to": "honor-guest-pat-2025"}"#)
        #expect(r.status >= 500, "\(r.bodyText)")
        #expect(try s.getVM("m").json()["baseline"] == "legacy-ignore-guest-pat")
    }
}
