import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

@Suite struct PersistenceTests {
    @Test(arguments: Backend.enabled) func everythingSurvivesAReopen(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        var vm: VMRecord
        var history: HistoryPage
        do {
            let store = try openStore(dir)
            #expect(try store.schemaVersion() == latestSchema(backend))
            _ = try store.putHost("rack1", spr, expectedRevision: nil, actor: "t")
            _ = try store.createVM("a", spec(labels: ["env": "prod"], host: .profile("rack1")), actor: "alice")
            vm = try store.updateVM("a", expectedRevision: 1, actor: "bob") { r throws(StoreError) in r.set(.cdNwCleared, .disable) }
            _ = try store.createVM("b", spec(), actor: "alice")
            try store.deleteVM("b", expectedRevision: 1, actor: "alice")
            history = try store.history("a")
        }
        // The first store is gone (connections closed); a new instance on the same file.
        let store = try openStore(dir)
        #expect(try store.schemaVersion() == latestSchema(backend))
        #expect(try store.getVM("a") == vm)
        #expect(try store.getVM("b") == nil)
        #expect(try store.history("a") == history)
        #expect(try store.history("b").entries.map(\.action) == [.delete, .create])
        #expect(try store.getHost("rack1")?.spec == spr)
        #expect(try store.listVMs(VMQuery(labels: ["env": "prod"])).items.map(\.id) == ["a"])
        #expect(try store.listVMs(VMQuery(hostProfile: "rack1")).items.map(\.id) == ["a"])
        #expect(try store.integrityCheck() == "ok")
    }

    @Test(arguments: Backend.enabled) func migrationsAreIdempotent(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        for i in 0..<3 {
            let store = try openStore(dir)
            #expect(try store.schemaVersion() == latestSchema(backend))
            _ = try store.createVM("vm-\(i)", spec(), actor: "t")
            #expect(try store.listVMs(VMQuery()).items.count == i + 1)
        }
        // Two instances open at once: the second finds the schema current.
        let a = try openStore(dir)
        let b = try openStore(dir)
        #expect(try a.schemaVersion() == latestSchema(backend) && b.schemaVersion() == latestSchema(backend))
    }

    /// The two schemas are frozen migration text, one per dialect; the column
    /// tables (which every statement and decoder derives from) are the home
    /// of the rows' columns and their order, and each schema must match them.
    @Test(arguments: Backend.enabled) func theSchemaHasTheColumnTablesColumns(_ backend: Backend) throws {
        let site = try StoreSite(backend)
        let store = try openStore(site)
        #expect(try store.tableColumns("vms") == ColumnTables.vms)
        #expect(try store.tableColumns("host_profiles") == ColumnTables.hostProfiles)
    }

    /// An older binary meeting a newer schema refuses to start, naming both versions.
    @Test(arguments: Backend.enabled) func aNewerSchemaIsRefused(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        do {
            let store = try openStore(dir)
            switch backend {
            case .sqlite: try store.unsafeExecute("PRAGMA user_version=99")
            case .postgres: try store.unsafeExecute("INSERT INTO memtyped_schema (version) VALUES (99)")
            }
        }
        let error = storeError { try openStore(dir) as (any TestableStore)? }
        guard case .backend(let message)? = error else {
            Issue.record("expected a backend error, got \(String(describing: error))")
            return
        }
        #expect(message.contains("newer"))
        #expect(message.contains("99") && message.contains("\(latestSchema(backend))"), "\(message)")
    }

    /// The point of the store: a VM keeps the mask it was created with when the
    /// default moves on.
    @Test(arguments: Backend.enabled) func recordsKeepTheirMaskWhenTheCurrentBaselineChanges(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        do {
            let store = try openStore(dir, current: .legacyIgnoreGuestPAT)
            let old = try store.createVM("old", spec(), actor: "t")
            #expect(old.baseline == "legacy-ignore-guest-pat" && old.disabledQuirks == [])
        }
        let store = try openStore(dir, current: .honorGuestPAT2025)
        #expect(store.currentBaseline == .honorGuestPAT2025)
        let old = try #require(try store.getVM("old"))
        #expect(old.baseline == "legacy-ignore-guest-pat")
        #expect(old.disabledQuirks == [])
        #expect(old.choice(for: .ignoreGuestPAT) == .keepEnabled)
        let new = try store.createVM("new", spec(), actor: "t")
        #expect(new.baseline == "honor-guest-pat-2025")
        #expect(new.disabledQuirks == .ignoreGuestPAT)
        // A PUT of the old VM without a baseline keeps its baseline and mask.
        let (replaced, _) = try store.replaceVM("old", with: spec(labels: ["x": "y"]), expectedRevision: 1, actor: "t")
        #expect(replaced.baseline == "legacy-ignore-guest-pat" && replaced.disabledQuirks == [])
    }

    /// A deprecated (or since removed) baseline: existing VMs load and can be
    /// edited; no new VM or move may adopt it.
    @Test(arguments: Backend.enabled) func deprecatedAndRemovedBaselines(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let vintage = Baseline(name: "vintage-2020", description: "test", disabledQuirks: .cdNwCleared)
        do {
            let store = try openStore(dir, catalogue: Baseline.catalogue + [vintage])
            _ = try store.createVM("v", spec(baseline: "vintage-2020"), actor: "t")
        }
        let deprecated = Baseline(name: "vintage-2020", description: "test", disabledQuirks: .cdNwCleared, deprecated: true)
        do {
            let store = try openStore(dir, catalogue: Baseline.catalogue + [deprecated])
            #expect(try store.getVM("v")?.disabledQuirks == .cdNwCleared)
            #expect(storeError { try store.createVM("w", spec(baseline: "vintage-2020"), actor: "t") }?.invalidField == "/baseline")
            let edited = try store.updateVM("v", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.labels["a"] = "b" }
            #expect(edited.baseline == "vintage-2020" && edited.revision == 2)
            _ = try store.createVM("x", spec(), actor: "t")
            #expect(storeError {
                try store.updateVM("x", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.move(to: deprecated) }
            }?.invalidField == "/baseline")
            #expect(storeError { try openStore(dir, current: deprecated, catalogue: Baseline.catalogue + [deprecated]) as (any TestableStore)? }?
                        .invalidField == "/baseline")
        }
        let store = try openStore(dir)  // removed from the catalogue entirely
        let v = try #require(try store.getVM("v"))
        #expect(v.baseline == "vintage-2020" && v.disabledQuirks == .cdNwCleared)
        let (r, _) = try store.replaceVM("v", with: spec(), expectedRevision: 2, actor: "t")
        #expect(r.baseline == "vintage-2020")
        #expect(try store.listVMs(VMQuery(baseline: "vintage-2020")).items.map(\.id) == ["v"])
    }
}
