import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// `recordApplied` and `restartRequired`: what the VMM side started a VM
/// with, beside the configuration and outside its revisions and history.
@Suite struct AppliedTests {
    @Test(arguments: Backend.enabled) func recordingLeavesRevisionTimestampAndHistoryAlone(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let clock = StepClock()
        let store = try openStore(dir, clock: clock)
        let created = try store.createVM("vm", spec(baseline: "honor-guest-pat-2025"), actor: "alice")
        #expect(created.applied == nil)
        #expect(!created.restartRequired)

        // The start's time is the store clock's reading for this write.
        let applied = try store.recordApplied("vm", revision: 1, expectedRevision: nil)
        #expect(applied.applied == VMRecord.AppliedState(revision: 1, disabledQuirks: .ignoreGuestPAT, at: clock.last))
        #expect(clock.last > created.updatedAt)
        #expect(applied.revision == created.revision)
        #expect(applied.updatedAt == created.updatedAt)
        #expect(!applied.restartRequired)
        #expect(try store.getVM("vm") == applied)
        #expect(try store.listVMs(VMQuery()).items == [applied])
        #expect(try store.history("vm").entries.count == 1)
        // Again (the next start of the same revision): a new time, and nothing else.
        let again = try store.recordApplied("vm", revision: 1, expectedRevision: 1)
        #expect(again.applied == VMRecord.AppliedState(revision: 1, disabledQuirks: .ignoreGuestPAT, at: clock.last))
        #expect(try #require(again.applied?.at) > (try #require(applied.applied?.at)))
        #expect(again.revision == created.revision && again.updatedAt == created.updatedAt)
        #expect(try store.getVM("vm") == again)
        #expect(try store.history("vm").entries.count == 1)
        #expect(try store.integrityCheck() == "ok")
        // And it is durable.
        #expect(try openStore(dir).getVM("vm") == again)
    }

    /// Like `updatedAt`, the time of the last start never goes backwards,
    /// even when the wall clock does.
    @Test(arguments: Backend.enabled) func theStartTimeNeverGoesBackwards(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let clock = StepClock(stepMillis: -1000)
        let store = try openStore(dir, clock: clock)
        _ = try store.createVM("vm", spec(), actor: "t")
        let first = try #require(try store.recordApplied("vm", revision: 1, expectedRevision: nil).applied?.at)
        #expect(first == clock.last)
        let second = try store.recordApplied("vm", revision: 1, expectedRevision: nil).applied?.at
        #expect(clock.last < first)
        #expect(second == first)
    }

    @Test(arguments: Backend.enabled) func onlyTheCurrentRevisionCanBeApplied(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(), actor: "t")
        let r2 = try store.updateVM("vm", expectedRevision: 1, actor: "t") { r throws(StoreError) in r.labels["env"] = "prod" }
        guard case .conflict(let message)? = storeError({ try store.recordApplied("vm", revision: 1, expectedRevision: nil) }) else {
            Issue.record("a stale revision must be a conflict")
            return
        }
        #expect(message.contains("revision 2, not 1"))
        #expect(storeError { try store.recordApplied("vm", revision: 3, expectedRevision: nil) }.map { "\($0)" }?.contains("not 3") == true)
        #expect(storeError { try store.recordApplied("vm", revision: 2, expectedRevision: 1) } == .revisionMismatch(current: 2))
        #expect(storeError { try store.recordApplied("nope", revision: 1, expectedRevision: nil) } == .notFound)
        #expect(storeError { try store.recordApplied("vm", revision: 0, expectedRevision: nil) }?.invalidField == "/revision")
        #expect(try store.getVM("vm") == r2)
    }

    @Test(arguments: Backend.enabled) func aQuirkChangeAfterTheStartNeedsARestart(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(), actor: "t")
        let started = try #require(try store.recordApplied("vm", revision: 1, expectedRevision: nil).applied)
        #expect(started.revision == 1 && started.disabledQuirks == [] && started.at != nil)

        // A label is not a quirk: no restart.
        let labelled = try store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.labels["a"] = "1" }
        #expect(!labelled.restartRequired)
        #expect(labelled.applied == started)
        // A quirk is, and the applied state, its time included, survives the
        // write (PATCH and PUT alike).
        let patched = try store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.set(.ignoreGuestPAT, .disable) }
        #expect(patched.restartRequired)
        #expect(patched.applied == started)
        let replaced = try store.replaceVM("vm", with: spec(quirks: [.ignoreGuestPAT: .disable]), expectedRevision: nil, actor: "t").record
        #expect(replaced.restartRequired && replaced.applied == started)
        // Changed back to what the VM runs with: no restart needed.
        let back = try store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.set(.ignoreGuestPAT, .keepEnabled) }
        #expect(!back.restartRequired)
        // The restart applies the current revision.
        _ = try store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.set(.cdNwCleared, .disable) }
        #expect(try store.getVM("vm")?.restartRequired == true)
        let restarted = try store.recordApplied("vm", revision: try #require(try store.getVM("vm")).revision, expectedRevision: nil)
        #expect(!restarted.restartRequired)
        #expect(restarted.applied?.disabledQuirks == .cdNwCleared)
        // A deleted and re-created VM was never started.
        try store.deleteVM("vm", expectedRevision: nil, actor: "t")
        #expect(try store.createVM("vm", spec(), actor: "t").applied == nil)
    }

    @Test(arguments: Backend.enabled) func theListFiltersOnRestartRequired(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        for id in ["a-never", "b-same", "c-changed", "d-changed", "e-labels"] {
            _ = try store.createVM(id, spec(labels: ["team": id.hasPrefix("d") ? "db" : "web"]), actor: "t")
        }
        for id in ["b-same", "c-changed", "d-changed", "e-labels"] { try store.recordApplied(id, revision: 1, expectedRevision: nil) }
        for id in ["c-changed", "d-changed"] {
            _ = try store.updateVM(id, expectedRevision: nil, actor: "t") { r throws(StoreError) in r.set(.ignoreGuestPAT, .disable) }
        }
        _ = try store.updateVM("e-labels", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.labels["x"] = "y" }
        // The never-started VM has no applied state; its mask was changed too.
        _ = try store.updateVM("a-never", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.set(.ignoreGuestPAT, .disable) }

        func ids(_ q: VMQuery) throws -> [String] { try store.listVMs(q).items.map(\.id) }
        #expect(try ids(VMQuery(restartRequired: true)) == ["c-changed", "d-changed"])
        #expect(try ids(VMQuery(restartRequired: false)) == ["a-never", "b-same", "e-labels"])
        #expect(try ids(VMQuery()).count == 5)
        // The SQL filter is the record's property.
        for r in try store.listVMs(VMQuery()).items {
            #expect(try ids(VMQuery(restartRequired: r.restartRequired)).contains(r.id))
        }
        // With other filters and pagination.
        #expect(try ids(VMQuery(labels: ["team": "web"], restartRequired: true)) == ["c-changed"])
        let page1 = try store.listVMs(VMQuery(restartRequired: true, limit: 1))
        #expect(page1.items.map(\.id) == ["c-changed"])
        #expect(try ids(VMQuery(restartRequired: true, limit: 1, cursor: page1.nextCursor)) == ["d-changed"])
    }

    /// A store written before the applied-state migration (migration 2: its
    /// columns dropped again, with those of the migrations after it, and the
    /// version set back) migrates with its VMs never applied.
    @Test(arguments: Backend.enabled) func theAppliedMigrationLeavesExistingVMsNeverApplied(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let before: VMRecord
        do {
            let store = try openStore(dir)
            before = try store.createVM("old", spec(quirks: [.ignoreGuestPAT: .disable]), actor: "t")
            try rollBack(store, backend, to: 1)
        }
        let store = try openStore(dir)
        #expect(try store.schemaVersion() == latestSchema(backend))
        #expect(try store.tableColumns("vms") == ColumnTables.vms)
        let after = try #require(try store.getVM("old"))
        #expect(after == before)
        #expect(after.applied == nil && !after.restartRequired)
        #expect(try store.listVMs(VMQuery(restartRequired: false)).items.map(\.id) == ["old"])
        // The columns' pairing is enforced by the database itself.
        #expect(throws: StoreError.self) { try store.unsafeExecute("UPDATE vms SET applied_revision = 1 WHERE id = 'old'") }
    }

    /// A store written before migration 4 keeps each VM's applied revision
    /// and mask; the time of a start recorded then is unknown (nil) until
    /// the VM's next start records one.
    @Test(arguments: Backend.enabled) func theAppliedAtMigrationKeepsEarlierStartsWithoutATime(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let clock = StepClock()
        do {
            let store = try openStore(dir, clock: clock)
            _ = try store.createVM("started", spec(), actor: "t")
            _ = try store.createVM("never", spec(), actor: "t")
            try store.recordApplied("started", revision: 1, expectedRevision: nil)
            _ = try store.updateVM("started", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.set(.ignoreGuestPAT, .disable) }
            try rollBack(store, backend, to: 3)
        }
        let store = try openStore(dir, clock: clock)
        #expect(try store.schemaVersion() == latestSchema(backend))
        #expect(try store.tableColumns("vms") == ColumnTables.vms)
        let started = try #require(try store.getVM("started"))
        #expect(started.applied == VMRecord.AppliedState(revision: 1, disabledQuirks: [], at: nil))
        #expect(started.restartRequired && started.revision == 2)
        #expect(try store.getVM("never")?.applied == nil)
        // The next start records its time.
        let restarted = try store.recordApplied("started", revision: 2, expectedRevision: nil)
        #expect(restarted.applied == VMRecord.AppliedState(revision: 2, disabledQuirks: .ignoreGuestPAT, at: clock.last))
        #expect(try store.history("started").entries.count == 2)
        // A time without a start is refused by the database itself.
        #expect(throws: StoreError.self) { try store.unsafeExecute("UPDATE vms SET applied_at = 1 WHERE id = 'never'") }
        #expect(try store.getVM("never")?.applied == nil)
    }
}
