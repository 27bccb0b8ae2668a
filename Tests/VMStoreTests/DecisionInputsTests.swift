import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// `decisionInputs`, the hot read behind per-VM decisions, must say exactly
/// what `getVM` plus `resolveHost(of:)` say, from one snapshot.
@Suite struct DecisionInputsTests {
    /// The slow, obviously right answer: two reads through the record.
    func viaRecord(_ store: SQLiteVMStore, _ id: String) throws -> VMDecisionInputs? {
        guard let r = try store.getVM(id) else { return nil }
        return VMDecisionInputs(r, host: try store.resolveHost(of: r))
    }

    @Test func matchesTheRecordForInlineAndProfileHosts() throws {
        let dir = TempDir()
        let store = try openStore(dir)
        let amd = HostSpec(vendor: .amd, selfSnoop: false, tdp: true, kernel: "6.10")
        _ = try store.putHost("rack1", amd, expectedRevision: nil, actor: "ops")
        _ = try store.createVM("inline", spec(quirks: [.ignoreGuestPAT: .disable]), actor: "t")
        _ = try store.createVM("profiled", spec(baseline: "honor-guest-pat-2025", host: .profile("rack1")), actor: "t")
        _ = try store.updateVM("profiled", expectedRevision: nil, actor: "t") { r throws(StoreError) in
            r.noncoherentDMA = true
        }

        for id in ["inline", "profiled"] {
            let fast = try #require(try store.decisionInputs(id))
            #expect(fast == (try viaRecord(store, id)))
        }
        let inline = try #require(try store.decisionInputs("inline"))
        #expect(inline.host == spr && inline.hostProfile == nil)
        #expect(inline.vmConfig.disabledQuirks == .ignoreGuestPAT)
        let profiled = try #require(try store.decisionInputs("profiled"))
        #expect(profiled.host == amd && profiled.hostProfile == "rack1")
        #expect(profiled.revision == 2 && profiled.vmConfig.noncoherentDMA)
        #expect(profiled.baseline == "honor-guest-pat-2025")

        #expect(try store.decisionInputs("absent") == nil)
        #expect(storeError { try store.decisionInputs("no/slash") }?.invalidField == "/id")
    }

    /// Nothing is cached across writes: a change made through another store
    /// instance on the same file (another connection, as another process
    /// would be) is what the next read returns.
    @Test func seesWritesOfAnotherStoreOnTheSameFile() throws {
        let dir = TempDir()
        let reader = try openStore(dir)
        let writer = try openStore(dir)
        _ = try writer.putHost("rack1", spr, expectedRevision: nil, actor: "ops")
        _ = try writer.createVM("vm", spec(host: .profile("rack1")), actor: "t")
        #expect(try reader.decisionInputs("vm")?.host?.kernel == "6.16")

        var newer = spr
        newer.kernel = "6.10"
        _ = try writer.putHost("rack1", newer, expectedRevision: nil, actor: "ops")
        #expect(try reader.decisionInputs("vm")?.host?.kernel == "6.10")

        _ = try writer.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in
            r.set(.ignoreGuestPAT, .disable)
        }
        let after = try #require(try reader.decisionInputs("vm"))
        #expect(after.vmConfig.disabledQuirks == .ignoreGuestPAT && after.revision == 2)

        try writer.deleteVM("vm", expectedRevision: nil, actor: "t")
        #expect(try reader.decisionInputs("vm") == nil)
    }
}
