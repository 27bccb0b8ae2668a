import FleetPlanning
import MemTypeEngine
import Testing
@_spi(Testing) import VMStore

/// Issue 14's store change on both backends: `guest_bochs_fix` (migration 2)
/// and the grouped count a kernel plan's summary reads.
@Suite struct PlanningStoreTests {
    @Test(arguments: Backend.enabled) func guestBochsFixRoundTripsAndIsRecorded(_ backend: Backend) throws {
        let site = try StoreSite(backend)
        let store = try openStore(site)
        var s = spec(guestKernel: "5.14.0-427.el9.x86_64")
        s.guestBochsFix = true
        let created = try store.createVM("rhel", s, actor: "t")
        #expect(created.guestBochsFix == true)
        #expect(try store.getVM("rhel")?.guestBochsFix == true)
        #expect(try store.decisionInputs("rhel")?.guest == GuestDisplay(displayDevices: ["VGA"], guestKernel: "5.14.0-427.el9.x86_64", bochsFix: true))
        let off = try store.updateVM("rhel", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.guestBochsFix = false }
        #expect(off.revision == 2 && off.guestBochsFix == false)
        let cleared = try store.updateVM("rhel", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.guestBochsFix = nil }
        #expect(try store.getVM("rhel") == cleared)
        #expect(cleared.guestBochsFix == nil)
        #expect(try store.decisionInputs("rhel")?.guest.bochsFix == nil)
        let changes = try store.history("rhel").entries.map(\.changes)
        #expect(changes[0] == [FieldChange(field: "/guest_bochs_fix", old: "false", new: nil)])
        #expect(changes[1] == [FieldChange(field: "/guest_bochs_fix", old: "true", new: "false")])
    }

    @Test(arguments: Backend.enabled) func configCountsGroupAProfilesVMs(_ backend: Backend) throws {
        let site = try StoreSite(backend)
        let store = try openStore(site)
        _ = try store.putHost("spr", spr, expectedRevision: nil, actor: "t")
        _ = try store.putHost("other", spr, expectedRevision: nil, actor: "t")
        for i in 0..<3 { _ = try store.createVM("legacy\(i)", spec(host: .profile("spr")), actor: "t") }
        for i in 0..<2 { _ = try store.createVM("honor\(i)", spec(baseline: "honor-guest-pat-2025", host: .profile("spr")), actor: "t") }
        var tdx = spec(host: .profile("spr"))
        tdx.type = .tdx
        tdx.noncoherentDMA = true
        _ = try store.createVM("tdx", tdx, actor: "t")
        _ = try store.createVM("elsewhere", spec(host: .profile("other")), actor: "t")
        _ = try store.createVM("inline", spec(), actor: "t")
        let counts = try store.vmConfigCounts(hostProfile: "spr")
        #expect(Set(counts) == [
            VMConfigCount(config: VMConfig(), count: 3),
            VMConfigCount(config: VMConfig(disabledQuirks: .ignoreGuestPAT), count: 2),
            VMConfigCount(config: VMConfig(type: .tdx, noncoherentDMA: true), count: 1),
        ])
        #expect(try store.vmConfigCounts(hostProfile: "none").isEmpty)
        #expect(storeError { try store.vmConfigCounts(hostProfile: "bad name") }?.invalidField == "/host_profile")
    }

    /// A store from before migration 3 (issue 14: its column and index
    /// dropped again, with the later migrations', and the version set back)
    /// migrates on open; its VMs read back with the field unset.
    @Test(arguments: Backend.enabled) func aStoreWithoutTheColumnMigrates(_ backend: Backend) throws {
        let site = try StoreSite(backend)
        do {
            let store = try openStore(site)
            _ = try store.createVM("old", spec(), actor: "t")
            try rollBack(store, backend, to: 2)
        }
        let store = try openStore(site)
        #expect(try store.schemaVersion() == latestSchema(backend))
        #expect(try store.tableColumns("vms") == ColumnTables.vms)
        let old = try #require(try store.getVM("old"))
        #expect(old.guestBochsFix == nil && old.guestKernel == "6.1")
        let fixed = try store.updateVM("old", expectedRevision: 1, actor: "t") { r throws(StoreError) in r.guestBochsFix = true }
        #expect(try store.getVM("old") == fixed)
    }
}

/// Both backends' migrations are numbered alike (a new one goes to both).
@Test func bothBackendsHaveTheSameSchemaVersion() {
    #expect(SchemaVersions.sqlite == SchemaVersions.postgres)
    #expect(SchemaVersions.sqlite >= 2)
}
