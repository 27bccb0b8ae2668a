import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

@Suite struct CRUDTests {
    @Test(arguments: Backend.enabled) func createWritesTheCurrentBaselineMaskExplicitly(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir, clock: StepClock())
        let r = try store.createVM("vm-1", spec(labels: ["env": "prod"]), actor: "alice")
        #expect(r.id == "vm-1")
        #expect(r.baseline == "legacy-ignore-guest-pat")
        #expect(r.disabledQuirks == [])
        #expect(r.choice(for: .ignoreGuestPAT) == .keepEnabled)
        #expect(r.choice(for: .cdNwCleared) == .keepEnabled)
        #expect(r.revision == 1)
        #expect(r.createdAt == r.updatedAt)
        #expect(r.createdAt.rfc3339 == "2025-01-01T00:00:01.000Z")
        let got = try #require(try store.getVM("vm-1"))
        #expect(got == r)
        #expect(got.labels == ["env": "prod"])
        #expect(got.displayDevices == ["VGA"])
        #expect(got.guestKernel == "6.1")
        #expect(got.host == .inline(spr))
        #expect(try store.getVM("vm-2") == nil)
    }

    @Test(arguments: Backend.enabled) func explicitChoicesOverrideTheBaselineButTheBaselineIsNamed(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        let a = try store.createVM("a", spec(quirks: [.ignoreGuestPAT: .disable]), actor: "t")
        #expect(a.baseline == Baseline.legacyIgnoreGuestPAT.name)
        #expect(a.disabledQuirks == .ignoreGuestPAT)
        let b = try store.createVM("b", spec(baseline: "honor-guest-pat-2025"), actor: "t")
        #expect(b.baseline == "honor-guest-pat-2025")
        #expect(b.disabledQuirks == .ignoreGuestPAT)
        let c = try store.createVM("c", spec(baseline: "honor-guest-pat-2025",
                                             quirks: [.ignoreGuestPAT: .keepEnabled, .cdNwCleared: .disable]), actor: "t")
        #expect(c.baseline == "honor-guest-pat-2025")
        #expect(c.disabledQuirks == .cdNwCleared)
        #expect(try store.getVM("c")?.disabledQuirks == .cdNwCleared)
    }

    @Test(arguments: Backend.enabled) func createTwiceFailsAndChangesNothing(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        let first = try store.createVM("vm", spec(labels: ["a": "1"]), actor: "t")
        #expect(storeError { try store.createVM("vm", spec(labels: ["a": "2"]), actor: "u") } == .alreadyExists)
        #expect(try store.getVM("vm") == first)
        #expect(try store.history("vm").entries.count == 1)
    }

    @Test(arguments: Backend.enabled) func allFieldsRoundTrip(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        let host = HostSpec(vendor: .amd, selfSnoop: false, tdp: false,
                            cpu: CPUModel(family: 25, model: 1, stepping: nil), kernel: nil, kvmModel: .e)
        let s = VMSpec(host: .inline(host), quirks: [.slotZapAll: .disable], type: .tdx, noncoherentDMA: true,
                       displayDevices: ["bochs-display", "virtio-gpu", "cirrus-vga", "VGA"], guestKernel: nil,
                       labels: ["team.example.com/owner": "Zoë ☃", "empty": "", "k": "with:colon-5:x"])
        let r = try store.createVM("All.Fields_1", s, actor: "t")
        let got = try #require(try store.getVM("All.Fields_1"))
        #expect(got == r)
        #expect(got.host == .inline(host))
        #expect(got.type == .tdx)
        #expect(got.noncoherentDMA)
        #expect(got.displayDevices == ["bochs-display", "virtio-gpu", "cirrus-vga", "VGA"])
        #expect(got.guestKernel == nil)
        #expect(got.labels == ["team.example.com/owner": "Zoë ☃", "empty": "", "k": "with:colon-5:x"])
        #expect(got.disabledQuirks == .init(rawValue: 1 << 7))
        #expect(got.vmConfig == VMConfig(type: .tdx, disabledQuirks: got.disabledQuirks, noncoherentDMA: true))
        let none = try store.createVM("none", VMSpec(host: .inline(HostSpec()), displayDevices: []), actor: "t")
        #expect(try store.getVM("none") == none)
        #expect(none.displayDevices.isEmpty && none.labels.isEmpty)
    }

    @Test(arguments: Backend.enabled) func replaceKeepsUnnamedQuirksAndBaseline(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir, clock: StepClock())
        let created = try store.createVM("vm", spec(quirks: [.ignoreGuestPAT: .disable]), actor: "alice")
        // A PUT that names no baseline and no quirks must not reset the explicit choice.
        let (r, wasCreated) = try store.replaceVM("vm", with: spec(labels: ["x": "1"]), expectedRevision: 1, actor: "bob")
        #expect(!wasCreated)
        #expect(r.revision == 2)
        #expect(r.baseline == created.baseline)
        #expect(r.disabledQuirks == .ignoreGuestPAT)
        #expect(r.labels == ["x": "1"])
        #expect(r.createdAt == created.createdAt)
        #expect(r.updatedAt > created.updatedAt)
        #expect(try store.getVM("vm") == r)

        // Identical replace: no new revision, no history.
        let (same, c2) = try store.replaceVM("vm", with: spec(labels: ["x": "1"]), expectedRevision: nil, actor: "bob")
        #expect(!c2)
        #expect(same == r)
        #expect(try store.history("vm").entries.count == 2)

        // Naming another baseline moves: its mask first, then explicit choices.
        let (moved, _) = try store.replaceVM("vm", with: spec(baseline: "honor-guest-pat-2025", quirks: [.cdNwCleared: .disable]),
                                             expectedRevision: 2, actor: "bob")
        #expect(moved.baseline == "honor-guest-pat-2025")
        #expect(moved.disabledQuirks == [.ignoreGuestPAT, .cdNwCleared])
        #expect(moved.revision == 3)
    }

    @Test(arguments: Backend.enabled) func replaceCreatesWhenAbsent(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        let (r, created) = try store.replaceVM("new", with: spec(), expectedRevision: nil, actor: "t")
        #expect(created)
        #expect(r.revision == 1)
        #expect(r.baseline == Baseline.current.name)
        // expectedRevision 0: must not exist.
        #expect(storeError { try store.replaceVM("new", with: spec(), expectedRevision: 0, actor: "t") } == .revisionMismatch(current: 1))
        let (r2, created2) = try store.replaceVM("new2", with: spec(), expectedRevision: 0, actor: "t")
        #expect(created2 && r2.revision == 1)
        // A revision other than 0 for an absent VM: not found.
        #expect(storeError { try store.replaceVM("absent", with: spec(), expectedRevision: 3, actor: "t") } == .notFound)
        #expect(try store.getVM("absent") == nil)
    }

    @Test(arguments: Backend.enabled) func updateVMPatchesAndMovesBaselines(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir, clock: StepClock())
        _ = try store.createVM("vm", spec(labels: ["env": "dev"]), actor: "alice")
        let patched = try store.updateVM("vm", expectedRevision: 1, actor: "bob") { r throws(StoreError) in
            r.labels["env"] = "prod"
            r.noncoherentDMA = true
        }
        #expect(patched.revision == 2)
        #expect(patched.labels == ["env": "prod"])
        #expect(patched.noncoherentDMA)
        #expect(try store.getVM("vm") == patched)

        let moved = try store.updateVM("vm", expectedRevision: 2, actor: "carol") { r throws(StoreError) in
            r.move(to: .honorGuestPAT2025)
        }
        #expect(moved.revision == 3)
        #expect(moved.baseline == "honor-guest-pat-2025")
        #expect(moved.disabledQuirks == .ignoreGuestPAT)

        // A no-op change bumps nothing.
        let same = try store.updateVM("vm", expectedRevision: nil, actor: "dave") { _ throws(StoreError) in }
        #expect(same == moved)

        let entries = try store.history("vm").entries
        #expect(entries.map(\.action) == [.baselineMove, .patch, .create])
        #expect(entries.map(\.actor) == ["carol", "bob", "alice"])
        #expect(entries.map(\.revision) == [3, 2, 1])
        #expect(entries[0].changes.contains(FieldChange(field: "/baseline", old: "legacy-ignore-guest-pat", new: "honor-guest-pat-2025")))
        #expect(entries[0].changes.contains(FieldChange(field: "/quirks/IGNORE_GUEST_PAT", old: "keep_enabled", new: "disable")))
        #expect(entries[1].changes.sorted { $0.field < $1.field } == [
            FieldChange(field: "/labels/env", old: "dev", new: "prod"),
            FieldChange(field: "/noncoherent_dma", old: "false", new: "true"),
        ])
        #expect(entries[0].at > entries[1].at)
    }

    @Test(arguments: Backend.enabled) func aLabelValueChangedOnlyInItsUnicodeFormIsAChange(_ backend: Backend) throws {
        // "é" precomposed (U+00E9) and decomposed (e, U+0301) are equal Swift Strings
        // (canonical equivalence) but different bytes, which the API returns and the
        // SQL label filters match: a patch from one to the other must be stored.
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        #expect(nfc == nfd && Array(nfc.utf8) != Array(nfd.utf8))
        let dir = try StoreSite(backend)
        let store = try openStore(dir, clock: StepClock())
        _ = try store.createVM("vm", spec(labels: ["name": nfc]), actor: "alice")
        let patched = try store.updateVM("vm", expectedRevision: 1, actor: "bob") { r throws(StoreError) in
            r.labels["name"] = nfd
        }
        #expect(patched.revision == 2)
        #expect(try store.getVM("vm").map { Array($0.labels["name", default: ""].utf8) } == Array(nfd.utf8))
        #expect(try store.listVMs(VMQuery(labels: ["name": nfd])).items.map(\.id) == ["vm"])
        #expect(try store.listVMs(VMQuery(labels: ["name": nfc])).items.isEmpty)
        #expect(try store.history("vm").entries.first?.changes.map(\.field) == ["/labels/name"])

        // The same for free text elsewhere: a kernel version's suffix.
        _ = try store.updateVM("vm", expectedRevision: 2, actor: "bob") { r throws(StoreError) in r.guestKernel = "6.8-" + nfc }
        let kernel = try store.updateVM("vm", expectedRevision: 3, actor: "bob") { r throws(StoreError) in r.guestKernel = "6.8-" + nfd }
        #expect(kernel.revision == 4)
        #expect(try store.history("vm").entries.first?.changes.map(\.field) == ["/guest_kernel"])
    }

    @Test(arguments: Backend.enabled) func rejectedUpdatesLeaveTheStoreAsItWas(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        let before = try store.createVM("vm", spec(labels: ["env": "dev"]), actor: "t")

        #expect(storeError {
            try store.updateVM("vm", expectedRevision: 1, actor: "t") { r throws(StoreError) in
                r.labels["env"] = "prod"
                throw .conflict("changed my mind")
            }
        } == .conflict("changed my mind"))

        let invalid = storeError {
            try store.updateVM("vm", expectedRevision: 1, actor: "t") { r throws(StoreError) in
                r.labels["bad key"] = "x"
            }
        }
        #expect(invalid?.invalidField == "/labels/bad key")

        let unknownBaseline = storeError {
            try store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.baseline = "pc-q35-9.2" }
        }
        #expect(unknownBaseline?.invalidField == "/baseline")

        let missingHost = storeError {
            try store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.host = .profile("nope") }
        }
        #expect(missingHost?.invalidField == "/host_profile")

        let unknownBits = storeError {
            try store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in
                r.disabledQuirks = QuirkMask(rawValue: 1 << 40)
            }
        }
        #expect(unknownBits?.invalidField == "/quirks")

        #expect(storeError { try store.updateVM("vm", expectedRevision: 7, actor: "t") { _ throws(StoreError) in } }
                == .revisionMismatch(current: 1))
        #expect(storeError { try store.updateVM("ghost", expectedRevision: nil, actor: "t") { _ throws(StoreError) in } } == .notFound)

        #expect(try store.getVM("vm") == before)
        #expect(try store.history("vm").entries.count == 1)
    }

    @Test(arguments: Backend.enabled) func aFailureBeforeCommitRollsBackTheRowAndItsHistory(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let fail = FailSwitch()
        let store = try openStore(dir, beforeCommit: { () throws(StoreError) in
            if fail.on { throw .backend("injected") }
        })
        let before = try store.createVM("vm", spec(labels: ["a": "1"]), actor: "t")
        _ = try store.putHost("h", spr, expectedRevision: nil, actor: "t")
        fail.on = true
        #expect(storeError { try store.createVM("vm2", spec(labels: ["b": "2"]), actor: "t") } == .backend("injected"))
        #expect(storeError { try store.updateVM("vm", expectedRevision: 1, actor: "t") { r throws(StoreError) in r.labels = ["c": "3"] } } == .backend("injected"))
        #expect(storeError { try store.replaceVM("vm", with: spec(host: .profile("h")), expectedRevision: nil, actor: "t") } == .backend("injected"))
        #expect(storeError { try store.deleteVM("vm", expectedRevision: nil, actor: "t") } == .backend("injected"))
        #expect(storeError { try store.deleteHost("h", expectedRevision: nil, actor: "t") } == .backend("injected"))
        fail.on = false
        #expect(try store.getVM("vm2") == nil)
        #expect(storeError { try store.history("vm2") } == .notFound)
        #expect(try store.getVM("vm") == before)
        #expect(try store.history("vm").entries.count == 1)
        #expect(try store.getHost("h") != nil)
        // The label index matches the row: filtering on the rolled-back labels finds nothing.
        #expect(try store.listVMs(VMQuery(labels: ["b": "2"])).items.isEmpty)
        #expect(try store.listVMs(VMQuery(labels: ["c": "3"])).items.isEmpty)
        #expect(try store.listVMs(VMQuery(labels: ["a": "1"])).items.map(\.id) == ["vm"])
        // And the store still works.
        _ = try store.createVM("vm2", spec(), actor: "t")
        #expect(try store.integrityCheck() == "ok")
    }

    @Test(arguments: Backend.enabled) func deleteKeepsHistoryAndRevisionsNeverRepeat(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(labels: ["env": "prod"]), actor: "alice")
        _ = try store.updateVM("vm", expectedRevision: 1, actor: "alice") { r throws(StoreError) in r.guestKernel = "6.13" }
        #expect(storeError { try store.deleteVM("vm", expectedRevision: 1, actor: "bob") } == .revisionMismatch(current: 2))
        #expect(try store.getVM("vm") != nil)
        let deleted = try store.deleteVM("vm", expectedRevision: 2, actor: "bob")
        #expect(deleted.revision == 2)
        #expect(try store.getVM("vm") == nil)
        #expect(storeError { try store.deleteVM("vm", expectedRevision: nil, actor: "bob") } == .notFound)
        #expect(try store.listVMs(VMQuery(labels: ["env": "prod"])).items.isEmpty)

        let last = try #require(try store.history("vm").entries.first)
        #expect(last.action == .delete)
        #expect(last.actor == "bob")
        #expect(last.revision == 3)
        #expect(last.changes.allSatisfy { $0.new == nil })
        #expect(last.changes.contains(FieldChange(field: "/guest_kernel", old: "6.13", new: nil)))
        #expect(last.changes.contains(FieldChange(field: "/labels/env", old: "prod", new: nil)))
        #expect(last.changes.contains(FieldChange(field: "/quirks/IGNORE_GUEST_PAT", old: "keep_enabled", new: nil)))
        #expect(last.changes.contains(FieldChange(field: "/baseline", old: "legacy-ignore-guest-pat", new: nil)))

        // Re-created: the revision continues, so a stale If-Match from the old incarnation fails.
        let again = try store.createVM("vm", spec(), actor: "carol")
        #expect(again.revision == 4)
        #expect(storeError { try store.updateVM("vm", expectedRevision: 2, actor: "t") { _ throws(StoreError) in } } == .revisionMismatch(current: 4))
        #expect(try store.history("vm").entries.map(\.revision) == [4, 3, 2, 1])
    }

    @Test(arguments: Backend.enabled) func historyPaginatesNewestFirst(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(), actor: "a0")
        for i in 1...6 {
            _ = try store.updateVM("vm", expectedRevision: i, actor: "a\(i)") { r throws(StoreError) in r.labels["n"] = String(i) }
        }
        var seen: [Int] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try store.history("vm", limit: 3, cursor: cursor)
            seen += page.entries.map(\.revision)
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil
        #expect(seen == [7, 6, 5, 4, 3, 2, 1])
        #expect(pages == 3)
        let first = try store.history("vm", limit: 1, cursor: nil).entries[0]
        #expect(first.actor == "a6" && first.id == "vm" && first.subject == .vm)
        #expect(first.changes == [FieldChange(field: "/labels/n", old: "5", new: "6")])
        #expect(storeError { try store.history("never") } == .notFound)
        #expect(storeError { try store.history("vm", limit: 0, cursor: nil) }?.invalidField == "/limit")
        #expect(storeError { try store.history("vm", limit: 10, cursor: "zz") }?.invalidField == "/cursor")
        let create = try #require(try store.history("vm", limit: 1000, cursor: nil).entries.last)
        #expect(create.action == .create)
        #expect(create.changes.allSatisfy { $0.old == nil })
        #expect(create.changes.contains(FieldChange(field: "/quirks/CD_NW_CLEARED", old: nil, new: "keep_enabled")))
        #expect(create.changes.contains(FieldChange(field: "/host/kernel", old: nil, new: "6.16")))
    }
}
