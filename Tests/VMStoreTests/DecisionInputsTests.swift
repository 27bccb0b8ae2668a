import Foundation
import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// `decisionInputs`, the hot read behind per-VM decisions, must say exactly
/// what `getVM` plus `resolveHost(of:)` say, from one snapshot.
@Suite struct DecisionInputsTests {
    /// The slow, obviously right answer: two reads through the record.
    func viaRecord(_ store: any VMStore, _ id: String) throws -> VMDecisionInputs? {
        guard let r = try store.getVM(id) else { return nil }
        return VMDecisionInputs(r, host: try store.resolveHost(of: r))
    }

    @Test(arguments: Backend.enabled) func matchesTheRecordForInlineAndProfileHosts(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
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
    @Test(arguments: Backend.enabled) func seesWritesOfAnotherStoreOnTheSameFile(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
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

    /// The memo serves repeated reads, and this store's own writes show at once.
    @Test func theMemoServesRepeatsAndNeverHidesAWrite() throws {
        let dir = TempDir()
        let store = try openStore(dir)
        _ = try store.createVM("a", spec(), actor: "t")
        _ = try store.createVM("b", spec(), actor: "t")
        for _ in 0..<3 {
            #expect(try store.decisionInputs("a")?.revision == 1)
            #expect(try store.decisionInputs("b")?.revision == 1)
        }
        #expect(store.decisionMemoCount == 2)
        for revision in 2...6 {
            _ = try store.updateVM("a", expectedRevision: nil, actor: "t") { r throws(StoreError) in
                r.set(.ignoreGuestPAT, revision % 2 == 0 ? .disable : .keepEnabled)
            }
            let seen = try #require(try store.decisionInputs("a"))
            #expect(seen.revision == revision)
            #expect(seen.vmConfig.disabledQuirks == (revision % 2 == 0 ? .ignoreGuestPAT : []))
        }

        var off = SQLiteVMStore.Options()
        off.decisionMemoEntries = 0
        let plain = try SQLiteVMStore(path: dir.dbPath, options: off)
        #expect(try plain.decisionInputs("a")?.revision == 6)
        #expect(plain.decisionMemoCount == nil)
    }

    /// A read connection's first check cannot know what happened before it,
    /// so it empties the memo: with no idle connections kept, every read
    /// runs on a new connection and must still see the latest commit.
    @Test func aNewReadConnectionDoesNotTrustTheMemo() throws {
        let dir = TempDir()
        var options = SQLiteVMStore.Options()
        options.maxIdleReaders = 0
        let reader = try SQLiteVMStore(path: dir.dbPath, options: options)
        let writer = try openStore(dir)
        _ = try writer.createVM("vm", spec(), actor: "t")
        for revision in 1...4 {
            #expect(try reader.decisionInputs("vm")?.revision == revision)
            _ = try writer.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.noncoherentDMA.toggle() }
        }
    }

    /// A commit by another process (Python's sqlite3 on the same file) is
    /// seen by the next read, though the row was memoized before it.
    @Test func seesACommitByAnotherProcess() throws {
        let dir = TempDir()
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(), actor: "t")
        #expect(try store.decisionInputs("vm")?.vmConfig.noncoherentDMA == false)
        #expect(try store.decisionInputs("vm")?.vmConfig.noncoherentDMA == false)

        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], timeout=10)
            c.execute("UPDATE vms SET noncoherent_dma = 1, revision = revision + 1 WHERE id = 'vm'")
            c.commit()
            """, dir.dbPath]
        try python.run()
        python.waitUntilExit()
        try #require(python.terminationStatus == 0)

        let after = try #require(try store.decisionInputs("vm"))
        #expect(after.vmConfig.noncoherentDMA && after.revision == 2)
    }

    /// PostgreSQL: a commit made outside memtyped (psql, on the same schema)
    /// is what the very next lookup returns, though the same lookup ran just
    /// before it: the fleet backend keeps nothing between lookups to go stale.
    @Test(.enabled(if: PGTestDatabase.url != nil)) func postgresSeesACommitByPsql() throws {
        let site = try StoreSite(.postgres)
        let store = try openStore(site)
        _ = try store.createVM("vm", spec(), actor: "t")
        #expect(try store.decisionInputs("vm")?.vmConfig.noncoherentDMA == false)
        #expect(try store.decisionInputs("vm")?.vmConfig.noncoherentDMA == false)

        let psql = Process()
        psql.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        psql.arguments = ["psql", "-v", "ON_ERROR_STOP=1", "-qc",
                          "UPDATE vms SET noncoherent_dma = true, revision = revision + 1 WHERE id = 'vm'", site.conninfo]
        try psql.run()
        psql.waitUntilExit()
        try #require(psql.terminationStatus == 0)

        let after = try #require(try store.decisionInputs("vm"))
        #expect(after.vmConfig.noncoherentDMA && after.revision == 2)
    }

    /// Readers racing a writer never see a revision go backwards, and once
    /// the writer is done every reader sees its last write.
    @Test(arguments: Backend.enabled) func readersRacingAWriterStayCurrent(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(), actor: "t")
        let writes = 200
        let failures = FailureCount()
        runConcurrently(4) { i in
            if i == 0 {
                for _ in 0..<writes {
                    _ = try? store.updateVM("vm", expectedRevision: nil, actor: "t") { r throws(StoreError) in
                        r.noncoherentDMA.toggle()
                    }
                }
                return
            }
            var last = 0
            for _ in 0..<2000 {
                guard let seen = try? store.decisionInputs("vm") else { failures.add(); return }
                // Revision r has noncoherent DMA exactly when r is even.
                if seen.revision < last || seen.vmConfig.noncoherentDMA != (seen.revision % 2 == 0) {
                    failures.add()
                }
                last = seen.revision
            }
        }
        #expect(failures.value == 0)
        #expect(try store.decisionInputs("vm")?.revision == writes + 1)
    }
}

final class FailureCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
