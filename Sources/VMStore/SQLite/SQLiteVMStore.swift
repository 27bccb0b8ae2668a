import Clock
import Locking
import JSON
import CSQLite
import MemTypeEngine

/// The embedded `VMStore`: one SQLite file in WAL mode, raw C API.
///
/// Concurrency (the HTTP server calls in from several worker threads):
/// - **Writes** go through one write connection behind a mutex (`Locked`),
///   each in `BEGIN IMMEDIATE ... COMMIT`. The mutex serializes writers in
///   this process; `BEGIN IMMEDIATE` takes SQLite's write lock up front, so
///   revision checks read the state the write will commit against even if
///   another process (or another store instance) writes the same file.
/// - **Reads** use a pool of read-only connections. A caller checks one out
///   (or opens a new one if none is idle), uses it alone, and returns it; at
///   most `maxIdleReaders` stay open. In WAL mode readers never block the
///   writer or each other, and every read statement sees the latest commit.
/// - Each connection caches its prepared statements, so it is only ever used
///   by one thread at a time (connections are opened SQLITE_OPEN_NOMUTEX).
///
/// The class holds only immutable, Sendable state (the mutex-guarded writer,
/// the mutex-guarded pool), so it is Sendable without `@unchecked`; the
/// unchecked parts are `Locked` and `Connection`, whose comments give the rule.
///
/// Durability: `synchronous=FULL` by default: WAL is fsynced at every commit,
/// so an acknowledged write survives kill -9 *and* power loss. (`NORMAL` in WAL
/// mode also survives kill -9, since the WAL reaches the OS before COMMIT
/// returns, but may lose the last commits on power loss or kernel crash.)
public final class SQLiteVMStore: TransactingStore, PagedReads {
    public struct Options: Sendable {
        public enum Synchronous: String, Sendable {
            case full = "FULL"
            case normal = "NORMAL"
        }

        /// The baseline VMs created without one get.
        public var currentBaseline: Baseline
        /// The baselines writes may adopt (create, move). Defaults to `Baseline.catalogue`.
        public var catalogue: [Baseline]
        public var synchronous: Synchronous
        /// The longest a call waits for the database lock: a write for this
        /// process's other writes and then another process's write lock,
        /// together; a read statement for a lock it needs. After that the call
        /// fails `.busy` (HTTP 503 with Retry-After) instead of queueing on.
        public var busyTimeoutMillis: Int32
        /// Idle read connections kept open (more are opened under load and closed after).
        public var maxIdleReaders: Int
        /// Page cache of each read connection, in KiB (`PRAGMA cache_size=-N`).
        /// SQLite's default is 2 MiB; the B-tree pages of 100k VMs take about
        /// 10 MiB, and a lookup that misses the cache is a `pread` per page.
        /// Pages are allocated as read, and SQLite empties a connection's cache
        /// whenever another connection has committed since its last read.
        public var readerCacheKiB: Int = 16 * 1024
        /// Entries of the exact in-process memo of per-VM decision inputs
        /// (`DecisionMemo`, a few hundred bytes each); 0 turns it off.
        public var decisionMemoEntries: Int = 131_072
        /// The wall clock; tests pin it.
        public var clock: @Sendable () -> Timestamp
        /// Test hook: runs inside every write transaction just before COMMIT;
        /// throwing makes the write fail and roll back.
        @_spi(Testing) public var beforeCommit: (@Sendable () throws(StoreError) -> Void)?

        public init(currentBaseline: Baseline = .current, catalogue: [Baseline] = Baseline.catalogue,
                    synchronous: Synchronous = .full, busyTimeoutMillis: Int32 = SQLiteVMStore.defaultBusyTimeoutMillis, maxIdleReaders: Int = 8,
                    clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
            self.currentBaseline = currentBaseline
            self.catalogue = catalogue
            self.synchronous = synchronous
            self.busyTimeoutMillis = busyTimeoutMillis
            self.maxIdleReaders = maxIdleReaders
            self.clock = clock
        }
    }

    /// A client is better told to come back in a second than kept waiting
    /// (the old 5 s per statement let queued writers wait 10 s and more).
    public static let defaultBusyTimeoutMillis: Int32 = 1000

    public let path: String
    public let currentBaseline: Baseline
    let options: Options
    let writer: Locked<Connection>
    /// What `health()` reports; see SQLiteVMStore+Health.swift.
    let healthState = Locked(StoreHealth.healthy)
    private let idleReaders: Locked<[Connection]>
    private let decisionMemo: DecisionMemo?
    /// What the writes compute; this store adds the SQL (`SQLiteWriteTransaction`)
    /// and the transaction (`transact`); `TransactingStore` joins them.
    let writes: StoreWrites

    /// Opens (creating on first start) the database at `path` and migrates it
    /// to this build's schema. Fails if the file's schema is newer than this build.
    public init(path: String, options: Options = Options()) throws(StoreError) {
        guard sqlite3_threadsafe() != 0 else { throw .backend("libsqlite3 was built without thread support") }
        _ = try Resolution.adoptableBaseline(options.currentBaseline.name, in: options.catalogue)
        self.path = path
        self.options = options
        self.currentBaseline = options.currentBaseline
        let conn = try Connection(path: path, readOnly: false, busyTimeoutMillis: options.busyTimeoutMillis)
        let mode = try conn.scalarText("PRAGMA journal_mode=WAL")
        guard mode?.lowercased() == "wal" else {
            throw .backend("cannot switch \(path) to WAL mode (journal_mode is \(mode ?? "unknown"))")
        }
        try conn.execute("PRAGMA synchronous=\(options.synchronous.rawValue); PRAGMA foreign_keys=ON;")
        try Self.migrate(conn)
        writer = Locked(conn)
        idleReaders = Locked([])
        writes = StoreWrites(currentBaseline: options.currentBaseline, catalogue: options.catalogue, clock: options.clock)
        decisionMemo = options.decisionMemoEntries > 0 ? DecisionMemo(capacity: options.decisionMemoEntries) : nil
    }

    /// Closes the idle read connections before the write connection, so the
    /// writer's close is the file's last in this process: SQLite then
    /// checkpoints the WAL into the database file and deletes it. (Closed the
    /// other way round, the writer sees the readers' locks and skips the
    /// checkpoint, and a read-only connection cannot checkpoint, so the WAL
    /// stays behind holding the last commits: anything that copies or moves
    /// the database file alone, like `bench/http-bench.sh`'s seeding, loses them.)
    deinit {
        idleReaders.withLock { $0.removeAll() }
    }

    /// The schema version of the open file (`PRAGMA user_version`).
    public func schemaVersion() throws(StoreError) -> Int {
        try read { c throws(StoreError) in Int(try c.scalarText("PRAGMA user_version") ?? "") ?? 0 }
    }

    /// `PRAGMA integrity_check`: "ok", or the problems found, one per line.
    public func integrityCheck() throws(StoreError) -> String {
        try read { c throws(StoreError) in
            try c.withStatement("PRAGMA integrity_check") { s throws(StoreError) in
                var lines: [String] = []
                while try s.step() { lines.append(s.text(0)) }
                return lines.joined(separator: "\n")
            }
        }
    }

    /// Test hook: the columns of `table`, in their order in the schema.
    @_spi(Testing) public func tableColumns(_ table: String) throws(StoreError) -> [String] {
        try read { c throws(StoreError) in
            try c.withStatement("SELECT name FROM pragma_table_info(?1) ORDER BY cid") { s throws(StoreError) in
                s.bind(1, table)
                var names: [String] = []
                while try s.step() { names.append(s.text(0)) }
                return names
            }
        }
    }

    /// Test hook: runs SQL on the write connection, outside any transaction.
    @_spi(Testing) public func unsafeExecute(_ sql: String) throws(StoreError) {
        try writer.withLock { (c: inout Connection) throws(StoreError) in try c.execute(sql) }
    }

    private static func migrate(_ c: Connection) throws(StoreError) {
        let found = Int(try c.scalarText("PRAGMA user_version") ?? "") ?? 0
        guard found <= Schema.latestVersion else {
            throw .backend("database schema version \(found) is newer than this build's \(Schema.latestVersion)")
        }
        for (index, sql) in Schema.migrations.enumerated() where index >= found {
            try c.execute("BEGIN IMMEDIATE")
            do throws(StoreError) {
                // Another process may have migrated while we waited for the lock.
                let now = Int(try c.scalarText("PRAGMA user_version") ?? "") ?? 0
                if now <= index {
                    try c.execute(sql)
                    try c.execute("PRAGMA user_version=\(index + 1)")
                }
                try c.execute("COMMIT")
            } catch {
                c.rollbackIfOpen()
                throw error
            }
        }
    }

    // MARK: - Connections

    /// One write transaction. The wait for the lock is bounded as a whole:
    /// the time spent queueing behind this process's other writers comes off
    /// what SQLite may then wait for another process's lock, so N queued
    /// writers do not wait N busy timeouts. (In WAL mode only `BEGIN
    /// IMMEDIATE` waits: once it holds the write lock, no later statement of
    /// the transaction needs another.)
    private func write<T: Sendable>(_ body: (Connection) throws(StoreError) -> T) throws(StoreError) -> T {
        let wait = options.busyTimeoutMillis
        let start = MonotonicClock.milliseconds()
        do throws(StoreError) {
            let result = try writer.withLock(waitingAtMost: wait) { (c: inout Connection) throws(StoreError) -> T in
                c.setBusyTimeout(milliseconds: max(0, wait - Int32(clamping: MonotonicClock.milliseconds() - start)))
                try c.withStatement("BEGIN IMMEDIATE") { s throws(StoreError) in try s.run() }
                do throws(StoreError) {
                    let result = try body(c)
                    try options.beforeCommit?()
                    try c.withStatement("COMMIT") { s throws(StoreError) in try s.run() }
                    return result
                } catch {
                    c.rollbackIfOpen()
                    throw error
                }
            }
            guard let result else { throw .busy("other writes in this process held the store for \(wait) ms") }
            wrote()
            return result
        } catch {
            noteFailure(error)
            throw error
        }
    }

    func read<T>(_ body: (Connection) throws(StoreError) -> T) throws(StoreError) -> T {
        let c: Connection
        if let idle = idleReaders.withLock({ $0.popLast() }) {
            c = idle
        } else {
            c = try Connection(path: path, readOnly: true, busyTimeoutMillis: options.busyTimeoutMillis)
            try c.execute("PRAGMA cache_size=-\(options.readerCacheKiB)")
        }
        defer {
            let max = options.maxIdleReaders
            idleReaders.withLock { if $0.count < max { $0.append(c) } }
        }
        do throws(StoreError) {
            return try body(c)
        } catch {
            noteFailure(error)
            throw error
        }
    }

    /// One write transaction for `StoreWrites`, through this backend's SQL.
    func transact<R: Sendable>(_ body: (SQLiteWriteTransaction) throws(StoreError) -> R) throws(StoreError) -> R {
        try write { c throws(StoreError) in try body(SQLiteWriteTransaction(c: c)) }
    }

    // MARK: - VMs

    public func getVM(_ id: String) throws(StoreError) -> VMRecord? {
        try Validation.identifier(id, field: "/id")
        return try read { c throws(StoreError) in try Self.loadVM(c, id) }
    }

    /// From the memo (`DecisionMemo`) when no commit happened since it was
    /// filled, else one statement, one read transaction: the VM's decision
    /// columns and, for a profile reference, the profile's host columns from
    /// the same snapshot (where `getVM` then `getHost` would be two).
    public func decisionInputs(_ id: String) throws(StoreError) -> VMDecisionInputs? {
        try Validation.identifier(id, field: "/id")
        return try read { c throws(StoreError) in
            guard let memo = decisionMemo else { return try readDecisionInputs(c, id) }
            let version = try c.withStatement(Self.dataVersion) { s throws(StoreError) in
                _ = try s.step()
                return s.int64(0)
            }
            let committed = c.lastDataVersion != version
            c.lastDataVersion = version
            let (hit, epoch) = memo.lookup(id, committed: committed)
            if let hit { return hit }
            let found = try readDecisionInputs(c, id)
            if let found { memo.fill(id, found, epoch: epoch) }
            return found
        }
    }

    /// The memo's hit and miss counts, and the VM count (`SELECT count(*)`:
    /// a scan of the vms table's smallest index, a few ms per 100,000 VMs,
    /// once per scrape). A VM count that cannot be read is left out.
    public func statistics() -> StoreStatistics {
        let counts = decisionMemo?.counts
        let vms = try? read { c throws(StoreError) in Int(try c.scalarText("SELECT count(*) FROM vms") ?? "") }
        return StoreStatistics(decisionMemoHits: counts?.hits, decisionMemoMisses: counts?.misses, vms: vms ?? nil)
    }

    /// Test hook: entries in the decision memo (nil: turned off).
    @_spi(Testing) public var decisionMemoCount: Int? { decisionMemo?.count }

    private func readDecisionInputs(_ c: Connection, _ id: String) throws(StoreError) -> VMDecisionInputs? {
        try c.withStatement(Self.selectDecisionInputs) { s throws(StoreError) in
            s.bind(1, id)
            guard try s.step() else { return nil }
            return try RowDecoding.decisionInputs(s, id: id) { row, column in RowDecoding.baselineName(row, column, in: options.catalogue) }
        }
    }

    private static let dataVersion = PinnedSQL(slot: 1, sql: "PRAGMA data_version")

    public func listVMs(_ query: VMQuery) throws(StoreError) -> VMPage {
        let plan = try VMListQuery(query, columns: VMColumn.list(prefix: "v."), placeholder: { "?\($0)" })
        let limit = plan.limit
        return try read { c throws(StoreError) in
            try c.withStatement(plan.sql) { s throws(StoreError) in
                for (i, b) in plan.binds.enumerated() {
                    switch b {
                    case .text(let t): s.bind(Int32(i + 1), t)
                    case .int(let n): s.bind(Int32(i + 1), n)
                    }
                }
                var rows: [VMRecord] = []
                rows.reserveCapacity(min(limit + 1, 128))
                while try s.step() { rows.append(try RowDecoding.vm(s)) }
                return VMPage(rows: rows, limit: limit)
            }
        }
    }

    public func vmConfigCounts(hostProfile name: String) throws(StoreError) -> [VMConfigCount] {
        try Validation.identifier(name, field: "/host_profile")
        return try read { c throws(StoreError) in
            try c.withStatement(VMConfigCountColumn.select) { s throws(StoreError) in
                s.bind(1, name)
                var out: [VMConfigCount] = []
                while try s.step() { out.append(try RowDecoding.configCount(s)) }
                return out
            }
        }
    }

    // MARK: - Host profiles

    public func getHost(_ name: String) throws(StoreError) -> HostProfileRecord? {
        try Validation.identifier(name, field: "/name")
        return try read { c throws(StoreError) in try Self.loadHost(c, name) }
    }

    // MARK: - Pages (`PagedReads`)

    func hostRows(after: String, count: Int) throws(StoreError) -> [HostProfileRecord] {
        try read { c throws(StoreError) in
            try c.withStatement(PageSQL.hosts) { s throws(StoreError) in
                s.bind(1, after)
                s.bind(2, count)
                var rows: [HostProfileRecord] = []
                while try s.step() { rows.append(try RowDecoding.host(s)) }
                return rows
            }
        }
    }

    func historyRows(_ subject: HistorySubject, _ id: String, before: Int64, count: Int) throws(StoreError) -> [HistoryEntry] {
        try read { c throws(StoreError) in
            try c.withStatement(PageSQL.history) { s throws(StoreError) in
                s.bind(1, subject.rawValue)
                s.bind(2, id)
                s.bind(3, before)
                s.bind(4, count)
                var rows: [HistoryEntry] = []
                while try s.step() { rows.append(try RowDecoding.historyEntry(s, subject: subject, id: id)) }
                return rows
            }
        }
    }

    // MARK: - VM rows

    private static let selectVM = "SELECT \(VMColumn.list()) FROM vms WHERE id = ?1"

    static func loadVM(_ c: Connection, _ id: String) throws(StoreError) -> VMRecord? {
        try c.withStatement(selectVM) { s throws(StoreError) in
            s.bind(1, id)
            return try s.step() ? try RowDecoding.vm(s) : nil
        }
    }

    /// The `SELECT` behind `decisionInputs` (`DecisionInputsColumn`).
    private static let selectDecisionInputs = PinnedSQL(slot: 0, sql: DecisionInputsColumn.select)

    // MARK: - Host rows

    static func loadHost(_ c: Connection, _ name: String) throws(StoreError) -> HostProfileRecord? {
        try c.withStatement("SELECT \(HostProfileColumn.list()) FROM host_profiles WHERE name = ?1") { s throws(StoreError) in
            s.bind(1, name)
            return try s.step() ? try RowDecoding.host(s) : nil
        }
    }
}

extension Connection {
    /// Rolls back the open transaction, if any (after a failed statement SQLite may already have).
    func rollbackIfOpen() {
        if sqlite3_get_autocommit(handle) == 0 {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
        }
    }
}
