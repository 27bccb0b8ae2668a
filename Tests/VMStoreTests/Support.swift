import Foundation
import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// A temporary directory removed when the value is released.
final class TempDir: @unchecked Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("vmstore-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var dbPath: String { url.appendingPathComponent("vms.sqlite").path }
}

/// A clock that moves `stepMillis` per reading (1 s by default; negative:
/// a wall clock going backwards), from 2025-01-01T00:00:00Z.
final class StepClock: @unchecked Sendable {
    private let lock = NSLock()
    private var millis: Int64 = 1_735_689_600_000
    private let stepMillis: Int64
    init(stepMillis: Int64 = 1000) { self.stepMillis = stepMillis }
    func next() -> Timestamp {
        lock.lock(); defer { lock.unlock() }
        millis += stepMillis
        return Timestamp(millisSinceEpoch: millis)
    }
    /// The latest reading.
    var last: Timestamp {
        lock.lock(); defer { lock.unlock() }
        return Timestamp(millisSinceEpoch: millis)
    }
}

func openStore(_ dir: TempDir, current: Baseline = .current, catalogue: [Baseline] = Baseline.catalogue,
               clock: StepClock? = nil,
               beforeCommit: (@Sendable () throws(StoreError) -> Void)? = nil) throws -> SQLiteVMStore {
    var options = SQLiteVMStore.Options(currentBaseline: current, catalogue: catalogue)
    if let clock { options.clock = { clock.next() } }
    options.beforeCommit = beforeCommit
    return try SQLiteVMStore(path: dir.dbPath, options: options)
}

let spr = HostSpec(vendor: .intel, selfSnoop: true, tdp: true, cpu: .sapphireRapids, kernel: "6.16")

func spec(labels: [String: String] = [:], baseline: String? = nil, quirks: [Quirk: QuirkChoice] = [:],
          host: HostRef = .inline(spr), devices: [String] = ["VGA"], guestKernel: String? = "6.1") -> VMSpec {
    VMSpec(host: host, baseline: baseline, quirks: quirks, displayDevices: devices, guestKernel: guestKernel, labels: labels)
}

/// The error `body` throws, or nil. (Closures here infer `throws(any Error)`,
/// so the typed error is recovered by a cast; anything else fails the test.)
func storeError<T>(_ body: () throws -> T) -> StoreError? {
    do {
        _ = try body()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("not a StoreError: \(error)")
        return nil
    }
}

extension StoreError {
    var invalidField: String? {
        if case .invalid(let field, _) = self { return field }
        return nil
    }
}

/// Runs `body(i)` on `count` threads released together; returns when all are done.
func runConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let start = DispatchSemaphore(value: 0)
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            start.wait()
            body(i)
            group.leave()
        }
        t.start()
    }
    for _ in 0..<count { start.signal() }
    group.wait()
}

/// A lock-protected array for collecting results from threads.
final class Collector<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}

/// A flag shared with a `@Sendable` hook.
final class FailSwitch: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var on: Bool {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

// MARK: - Backends

/// The store backends the contract tests run against. PostgreSQL joins when
/// MEMTYPED_TEST_PG_URL names a database (scripts/pg-test-cluster.sh starts a
/// throwaway one); without it `PostgresAvailabilityTests` reports the skip.
enum Backend: String, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static var enabled: [Backend] { PGTestDatabase.url == nil ? [.sqlite] : [.sqlite, .postgres] }
}

enum PGTestDatabase {
    static var url: String? {
        guard let v = ProcessInfo.processInfo.environment["MEMTYPED_TEST_PG_URL"], !v.isEmpty else { return nil }
        return v
    }

    /// MEMTYPED_TEST_PG_REQUIRED=1 (CI): a missing URL fails instead of skipping.
    static var required: Bool { ProcessInfo.processInfo.environment["MEMTYPED_TEST_PG_REQUIRED"] == "1" }

    /// `url` naming the database `name` on the same server instead.
    static func url(database name: String) -> String {
        let base = url!
        let query = base.firstIndex(of: "?").map { String(base[$0...]) } ?? ""
        let path = base.prefix { $0 != "?" }
        return path[..<path.lastIndex(of: "/")!] + "/" + name + query
    }

    /// `url` with libpq's `options` setting the search path to `schema`.
    static func url(schema: String) -> String {
        let base = url!
        return base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
    }
}

/// Where one test's store lives, removed when released: a temporary
/// directory (SQLite) or a fresh schema in the test database (PostgreSQL), so
/// tests run in parallel without seeing each other. Opening two stores on one
/// site is two instances on one database.
final class StoreSite: @unchecked Sendable {
    let backend: Backend
    let dir = TempDir()
    let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")

    init(_ backend: Backend) throws {
        self.backend = backend
        if backend == .postgres {
            try PostgresVMStore.administer(conninfo: PGTestDatabase.url!, sql: "CREATE SCHEMA \(schema)")
        }
    }

    deinit {
        if backend == .postgres {
            try? PostgresVMStore.administer(conninfo: PGTestDatabase.url!, sql: "DROP SCHEMA \(schema) CASCADE")
        }
    }

    var conninfo: String { PGTestDatabase.url(schema: schema) }
}

/// The schema version this build migrates `backend` to.
func latestSchema(_ backend: Backend) -> Int {
    switch backend {
    case .sqlite: SchemaVersions.sqlite
    case .postgres: SchemaVersions.postgres
    }
}

/// Undoes the migrations after `version`, newest first, as if `store`
/// had been written by a build whose schema stopped there.
func rollBack(_ store: any TestableStore, _ backend: Backend, to version: Int) throws {
    // Per migration: its undo on SQLite and on PostgreSQL, and how many
    // `vms` columns it added. SQLite drops no column that another's CHECK
    // names, so applied_at (4) goes before applied_revision (2).
    let undo: [Int: (sqlite: String, postgres: String, columns: Int)] = [
        4: ("ALTER TABLE vms DROP COLUMN applied_at;", "ALTER TABLE vms DROP COLUMN applied_at;", 1),
        3: ("DROP INDEX vms_host_profile_config; ALTER TABLE vms DROP COLUMN guest_bochs_fix;",
            "DROP INDEX vms_host_profile_config; ALTER TABLE vms DROP COLUMN guest_bochs_fix;", 1),
        2: ("DROP INDEX vms_restart_required; ALTER TABLE vms DROP COLUMN applied_quirks; ALTER TABLE vms DROP COLUMN applied_revision;",
            "ALTER TABLE vms DROP COLUMN applied_quirks, DROP COLUMN applied_revision;", 2),
    ]
    var dropped = 0
    for v in stride(from: latestSchema(backend), to: version, by: -1) {
        let sql = try #require(undo[v], "no undo for migration \(v): add it here")
        try store.unsafeExecute(backend == .sqlite ? sql.sqlite : sql.postgres)
        dropped += sql.columns
    }
    switch backend {
    case .sqlite: try store.unsafeExecute("PRAGMA user_version=\(version)")
    case .postgres: try store.unsafeExecute("DELETE FROM memtyped_schema WHERE version > \(version)")
    }
    #expect(try store.schemaVersion() == version)
    #expect(try store.tableColumns("vms") == Array(ColumnTables.vms.dropLast(dropped)))
}

/// What the contract tests need beyond `VMStore`; both backends have it.
protocol TestableStore: VMStore {
    func schemaVersion() throws(StoreError) -> Int
    func unsafeExecute(_ sql: String) throws(StoreError)
    func integrityCheck() throws(StoreError) -> String
    func tableColumns(_ table: String) throws(StoreError) -> [String]
}

extension SQLiteVMStore: TestableStore {}
extension PostgresVMStore: TestableStore {}

func openStore(_ site: StoreSite, current: Baseline = .current, catalogue: [Baseline] = Baseline.catalogue,
               clock: StepClock? = nil,
               beforeCommit: (@Sendable () throws(StoreError) -> Void)? = nil) throws -> any TestableStore {
    switch site.backend {
    case .sqlite:
        return try openStore(site.dir, current: current, catalogue: catalogue, clock: clock, beforeCommit: beforeCommit)
    case .postgres:
        var options = PostgresVMStore.Options(currentBaseline: current, catalogue: catalogue, connections: 4)
        if let clock { options.clock = { clock.next() } }
        options.beforeCommit = beforeCommit
        return try PostgresVMStore(conninfo: site.conninfo, options: options)
    }
}

/// Says so when the PostgreSQL runs of the contract tests are skipped, and
/// checks the database answers when they are not.
@Suite struct PostgresAvailabilityTests {
    @Test(.disabled(if: PGTestDatabase.url == nil && !PGTestDatabase.required,
                    "MEMTYPED_TEST_PG_URL is not set: the store contract tests ran on SQLite only (scripts/pg-test-cluster.sh starts a database)"))
    func theTestDatabaseAnswers() throws {
        guard PGTestDatabase.url != nil else {
            Issue.record("MEMTYPED_TEST_PG_REQUIRED=1 but MEMTYPED_TEST_PG_URL is not set")
            return
        }
        let site = try StoreSite(.postgres)
        let store = try openStore(site)
        #expect(try store.schemaVersion() == latestSchema(.postgres))
    }
}

/// Waits (up to 4 s) until another session holds a `mode` lock on `table`
/// in `site`'s schema (pg_locks' mode names: "ShareLock", "RowShareLock",
/// "AccessExclusiveLock"); false if it never does.
func waitForLock(_ site: StoreSite, table: String, mode: String) throws -> Bool {
    for _ in 0..<200 {
        let held = try PostgresVMStore.administer(conninfo: PGTestDatabase.url!, sql: """
            SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE c.relname = '\(table)' AND l.mode = '\(mode)' AND l.granted AND c.relnamespace = '\(site.schema)'::regnamespace
            """)
        if held > 0 { return true }
        usleep(20_000)
    }
    return false
}
