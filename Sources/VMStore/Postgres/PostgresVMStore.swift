#if canImport(Glibc)
import Glibc
#endif
import Clock
import MemTypeEngine

/// The fleet `VMStore`: PostgreSQL through libpq, shared by several memtyped
/// instances. Same contract, answers, revisions, history and cursors as
/// `SQLiteVMStore` (the contract tests run against both).
///
/// Concurrency and races (within one instance and across instances alike):
/// - every write is one READ COMMITTED transaction that first locks the row
///   it changes (`SELECT ... FOR UPDATE`), then checks the expected revision
///   against the locked row, so of two writers with one expected revision
///   the second waits for the first's COMMIT, sees its revision, and fails
///   `.revisionMismatch`. The UPDATE carries the revision predicate too, and
///   `history` has UNIQUE (subject, id, revision): two commits can never
///   claim one revision, whatever path they take;
/// - a create has no row to lock: two creators of one id collide on the
///   primary key; the loser's transaction is retried (`PGSQLState.meansRetry`),
///   sees the winner's row and answers as the contract says;
/// - a VM naming a host profile takes a KEY SHARE lock on the profile row,
///   which a profile delete's FOR UPDATE waits for, so a delete never misses
///   a VM that commits a reference to it.
///
/// Reads are single statements in autocommit: each sees the latest commit of
/// any instance (or psql) that finished before it started. `decisionInputs`
/// always reads the database: there is no in-process memo on this backend,
/// so nothing another instance commits can be hidden by one (see BENCHMARKS.md
/// for what that costs; one round trip per lookup).
///
/// Bounded waits and recovery: `PGPool`. Prepared statements: `PGConnection`.
public final class PostgresVMStore: TransactingStore, PagedReads {
    public struct Options: Sendable {
        /// The baseline VMs created without one get.
        public var currentBaseline: Baseline
        /// The baselines writes may adopt (create, move).
        public var catalogue: [Baseline]
        /// Connections in the pool (one per HTTP worker is enough: a call holds one).
        public var connections: Int
        /// How long a store call waits for the database in all (a free
        /// connection, connecting, every round trip), in milliseconds; also
        /// the server-side `statement_timeout`. Past it the call fails
        /// `.unavailable` (HTTP 503, `Retry-After`). Per call, not per
        /// request; at start it bounds the connect but not the migration.
        public var timeoutMillis: Int
        /// The wall clock; tests pin it.
        public var clock: @Sendable () -> Timestamp
        /// Where the start reports what the schema migration does (waiting
        /// for another instance, for a table lock, the versions migrated).
        public var log: (@Sendable (String) -> Void)?
        /// Test hook: runs inside every write transaction just before COMMIT.
        @_spi(Testing) public var beforeCommit: (@Sendable () throws(StoreError) -> Void)?

        public init(currentBaseline: Baseline = .current, catalogue: [Baseline] = Baseline.catalogue,
                    connections: Int = 8, timeoutMillis: Int = 2000,
                    clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
            self.currentBaseline = currentBaseline
            self.catalogue = catalogue
            self.connections = connections
            self.timeoutMillis = timeoutMillis
            self.clock = clock
        }
    }

    public let currentBaseline: Baseline
    private let options: Options
    private let pool: PGPool
    /// What the writes compute; this store adds the SQL (`PGWriteTransaction`)
    /// and the transaction (`transact`); `TransactingStore` joins them.
    let writes: StoreWrites
    /// The schema version found before this store migrated (tests; logs).
    public let schemaVersionAtOpen: Int

    /// Connects to `conninfo` (a `postgresql://` URL or a libpq key=value
    /// string; libpq's `PG*` variables and password file apply) and migrates
    /// the database to this build's schema. Fails if the database is
    /// unreachable or its schema is newer than this build's.
    public init(conninfo: String, options: Options = Options()) throws(StoreError) {
        _ = try Resolution.adoptableBaseline(options.currentBaseline.name, in: options.catalogue)
        guard options.connections >= 1, options.timeoutMillis >= 1 else {
            throw .backend("the PostgreSQL store needs at least one connection and a positive timeout")
        }
        self.options = options
        currentBaseline = options.currentBaseline
        writes = StoreWrites(currentBaseline: options.currentBaseline, catalogue: options.catalogue, clock: options.clock)
        // Text goes both ways as UTF-8 (Swift's strings, the length prefixes
        // of packed columns); the database must store it so (`requireUTF8`).
        var defaults = [("application_name", "memtyped"), ("client_encoding", "UTF8")]
        // libpq's own connect_timeout is whole seconds and at least 2; the pool's
        // deadline bounds the connect anyway. PGCONNECT_TIMEOUT, if set, wins.
        if getenv("PGCONNECT_TIMEOUT") == nil {
            defaults.append(("connect_timeout", String(max(2, (options.timeoutMillis + 999) / 1000))))
        }
        pool = PGPool(PGPool.Settings(
            conninfo: conninfo, defaults: defaults, size: options.connections, timeoutMillis: options.timeoutMillis,
            sessionSetup: """
                SET statement_timeout = \(options.timeoutMillis);
                SET idle_in_transaction_session_timeout = \(max(10_000, 5 * options.timeoutMillis));
                SET TIME ZONE 'UTC';
                """))
        schemaVersionAtOpen = try Self.migrate(conninfo: conninfo, defaults: defaults, options: options)
    }

    /// Migrates on a connection of its own (`PGSchema.migrate`), not the
    /// pool's, whose calls end at `timeoutMillis`: only the connect is bound
    /// by it, so an unreachable database still fails the start that soon.
    /// A table lock is waited for in tries of a quarter of `timeoutMillis`:
    /// the running instances' queries queued behind the migration's lock
    /// request lose that much of their own `timeoutMillis`, not all of it.
    private static func migrate(conninfo: String, defaults: [(String, String)], options: Options) throws(StoreError) -> Int {
        let c = try PGConnection(conninfo: conninfo, defaults: defaults + PGSchema.migrationKeepalives,
                                 deadline: MonotonicClock.milliseconds() + Int64(options.timeoutMillis))
        defer { c.close() }
        try requireUTF8(c)
        c.deadline = .max
        return try PGSchema.migrate(c, lockTimeoutMillis: max(1, options.timeoutMillis / 4), log: options.log ?? { _ in })
    }

    /// Refuses a database whose encoding is not UTF8: in SQL_ASCII, text is
    /// stored unvalidated; in another encoding, label values it cannot hold
    /// fail (22P05) as 500s. The encoding is fixed when a database is
    /// created, so the message says how to make one. Likewise a
    /// client_encoding other than UTF8 (set in the URL or PGCLIENTENCODING).
    private static func requireUTF8(_ c: PGConnection) throws(StoreError) {
        let server = c.parameterStatus("server_encoding") ?? "unknown"
        guard server == "UTF8" else {
            throw .backend("the database's encoding is \(server), memtyped needs UTF8: create one with CREATE DATABASE name ENCODING 'UTF8' TEMPLATE template0 (and move any data with pg_dump/pg_restore)")
        }
        let client = c.parameterStatus("client_encoding") ?? "unknown"
        guard client == "UTF8" else {
            throw .backend("the connection's client_encoding is \(client), memtyped needs UTF8: remove client_encoding from the URL and PGCLIENTENCODING from the environment")
        }
    }

    /// Seconds a client is told to wait after a 503.
    public var retryAfterSeconds: Int { pool.retryAfterSeconds }

    /// The schema version in the database now.
    public func schemaVersion() throws(StoreError) -> Int {
        try pool.withConnection { c throws(StoreError) in
            try c.query("SELECT coalesce(max(version), 0) FROM memtyped_schema").row(0).int(0)
        }
    }

    /// The store's own invariants, checked in the database: every VM and
    /// host profile is at the revision of its last history entry, and every
    /// VM's labels column agrees with its vm_labels rows. "ok", or the
    /// problems found (at most 100), one per line. (PostgreSQL checks its
    /// pages itself; this checks what memtyped wrote.)
    public func integrityCheck() throws(StoreError) -> String {
        try read { c throws(StoreError) in
            let result = try c.query("""
                SELECT 'vm ' || v.id || ': revision ' || v.revision || ', last history revision ' || coalesce(h.revision::text, 'none')
                FROM vms v LEFT JOIN LATERAL (
                    SELECT revision FROM history WHERE subject = 'vm' AND id = v.id ORDER BY seq DESC LIMIT 1) h ON true
                WHERE h.revision IS DISTINCT FROM v.revision
                UNION ALL
                SELECT 'host ' || p.name || ': revision ' || p.revision || ', last history revision ' || coalesce(h.revision::text, 'none')
                FROM host_profiles p LEFT JOIN LATERAL (
                    SELECT revision FROM history WHERE subject = 'host' AND id = p.name ORDER BY seq DESC LIMIT 1) h ON true
                WHERE h.revision IS DISTINCT FROM p.revision
                UNION ALL
                SELECT 'vm ' || v.id || ': labels ' || v.labels || ', vm_labels rows ' || l.packed
                FROM vms v CROSS JOIN LATERAL (\(Self.packedLabelRows)) l
                WHERE l.packed IS DISTINCT FROM v.labels
                LIMIT 100
                """)
            guard result.rowCount > 0 else { return "ok" }
            return (0..<result.rowCount).map { result.row($0).text(0) }.joined(separator: "\n")
        }
    }

    /// A VM's vm_labels rows (`v.id`) packed as the labels column is
    /// (`RowDecoding.packLabels`: length-prefixed key then value, by key),
    /// so the check compares content; lengths in UTF-8 bytes, as the
    /// database is UTF8 and keys sort bytewise (COLLATE "C", ASCII keys).
    private static let packedLabelRows = """
        SELECT coalesce(string_agg(octet_length(key) || ':' || key || octet_length(value) || ':' || value, '' ORDER BY key), '') AS packed
        FROM vm_labels WHERE vm_id = v.id
        """

    /// Healthy when one round trip to the database succeeds within the timeout.
    public func health() -> StoreHealth {
        do {
            try pool.withConnection { c throws(StoreError) in _ = try c.query("SELECT 1") }
            return .healthy
        } catch {
            if case .unavailable(let message, let seconds) = error { return .unavailable(message, retryAfterSeconds: seconds) }
            return .unavailable(error.description, retryAfterSeconds: pool.retryAfterSeconds)
        }
    }

    /// Test hook: the columns of `table` in the store's schema, in their order.
    @_spi(Testing) public func tableColumns(_ table: String) throws(StoreError) -> [String] {
        try read { c throws(StoreError) in
            let result = try c.query("""
                SELECT column_name::text FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position
                """, [PGValue(table)])
            return (0..<result.rowCount).map { result.row($0).text(0) }
        }
    }

    /// Test hook: runs SQL outside any transaction.
    @_spi(Testing) public func unsafeExecute(_ sql: String) throws(StoreError) {
        try pool.withConnection { c throws(StoreError) in _ = try c.execute(sql) }
    }

    /// Test hook: the advisory lock key migrations hold (`PGSchema.migrationLock`).
    @_spi(Testing) public static var migrationLockKey: Int64 { PGSchema.migrationLock }

    /// Test hook: closes the idle connections.
    @_spi(Testing) public func closeIdleConnections() { pool.closeIdle() }

    // MARK: - Connections

    private func read<T>(_ body: (PGConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try pool.withConnection(body)
    }

    /// Runs `body` in a transaction and commits; a failure rolls back. A
    /// transaction that lost a race on a key (see the type's comment) runs again.
    private func write<T>(_ body: (PGConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try pool.withConnection { c throws(StoreError) -> T in
            var attempt = 0
            while true {
                attempt += 1
                try c.execute("BEGIN")
                do throws(StoreError) {
                    let result = try body(c)
                    try options.beforeCommit?()
                    try c.execute("COMMIT")
                    return result
                } catch {
                    let state = c.lastSQLState
                    if !c.isBroken { _ = try? c.execute("ROLLBACK") }
                    guard PGSQLState.meansRetry(state), attempt < 10, !c.isBroken else { throw error }
                }
            }
        }
    }

    /// One write transaction for `StoreWrites`, through this backend's SQL.
    func transact<R: Sendable>(_ body: (PGWriteTransaction) throws(StoreError) -> R) throws(StoreError) -> R {
        try write { c throws(StoreError) in try body(PGWriteTransaction(c: c)) }
    }

    // MARK: - VMs

    public func getVM(_ id: String) throws(StoreError) -> VMRecord? {
        try Validation.identifier(id, field: "/id")
        return try read { c throws(StoreError) in try Self.loadVM(c, id, lock: false) }
    }

    /// One statement, one round trip: the VM's decision columns and its
    /// profile's host columns from one snapshot.
    public func decisionInputs(_ id: String) throws(StoreError) -> VMDecisionInputs? {
        try Validation.identifier(id, field: "/id")
        return try read { c throws(StoreError) -> VMDecisionInputs? in
            let result = try c.query(Self.selectDecisionInputs, [PGValue(id)])
            guard result.rowCount > 0 else { return nil }
            return try RowDecoding.decisionInputs(result.row(0), id: id) { row, column in RowDecoding.baselineName(row, column, in: options.catalogue) }
        }
    }

    public func listVMs(_ query: VMQuery) throws(StoreError) -> VMPage {
        let plan = try VMListQuery(query, columns: VMColumn.list(prefix: "v."), placeholder: { "$\($0)" })
        let params = plan.binds.map { b -> PGValue in
            switch b {
            case .text(let t): PGValue(t)
            case .int(let n): PGValue(n)
            }
        }
        return try read { c throws(StoreError) in
            let result = try c.query(plan.sql, params)
            var rows: [VMRecord] = []
            rows.reserveCapacity(result.rowCount)
            for i in 0..<result.rowCount { rows.append(try RowDecoding.vm(result.row(i))) }
            return VMPage(rows: rows, limit: plan.limit)
        }
    }

    public func vmConfigCounts(hostProfile name: String) throws(StoreError) -> [VMConfigCount] {
        try Validation.identifier(name, field: "/host_profile")
        return try read { c throws(StoreError) in
            let result = try c.query(Self.selectConfigCounts, [PGValue(name)])
            var out: [VMConfigCount] = []
            for i in 0..<result.rowCount { out.append(try RowDecoding.configCount(result.row(i))) }
            return out
        }
    }

    // MARK: - Host profiles

    public func getHost(_ name: String) throws(StoreError) -> HostProfileRecord? {
        try Validation.identifier(name, field: "/name")
        return try read { c throws(StoreError) in try Self.loadHost(c, name, lock: "") }
    }

    // MARK: - Pages (`PagedReads`)

    private static let selectHosts = dollars(PageSQL.hosts)
    private static let selectHistory = dollars(PageSQL.history)

    func hostRows(after: String, count: Int) throws(StoreError) -> [HostProfileRecord] {
        try read { c throws(StoreError) in
            let result = try c.query(Self.selectHosts, [PGValue(after), PGValue(count)])
            return try (0..<result.rowCount).map { (i: Int) throws(StoreError) in try RowDecoding.host(result.row(i)) }
        }
    }

    func historyRows(_ subject: HistorySubject, _ id: String, before: Int64, count: Int) throws(StoreError) -> [HistoryEntry] {
        try read { c throws(StoreError) in
            let result = try c.query(
                Self.selectHistory, [PGValue(subject.rawValue), PGValue(id), PGValue(before), PGValue(count)])
            return try (0..<result.rowCount).map { (i: Int) throws(StoreError) in
                try RowDecoding.historyEntry(result.row(i), subject: subject, id: id)
            }
        }
    }

    // MARK: - VM rows

    // The statements come from the column tables (Columns.swift), the one
    // home of every row's columns and their order, with PostgreSQL's `$N`.
    private static let selectVM = "SELECT \(VMColumn.list()) FROM vms WHERE id = $1"
    /// `lock`: inside a write, `FOR UPDATE` (see the type's comment).
    static func loadVM(_ c: PGConnection, _ id: String, lock: Bool) throws(StoreError) -> VMRecord? {
        let result = try c.query(lock ? selectVM + " FOR UPDATE" : selectVM, [PGValue(id)])
        return result.rowCount > 0 ? try RowDecoding.vm(result.row(0)) : nil
    }

    /// The decision-inputs SELECT (`DecisionInputsColumn`).
    private static let selectDecisionInputs = dollars(DecisionInputsColumn.select)
    private static let selectConfigCounts = dollars(VMConfigCountColumn.select)
    /// The statement behind `decisionInputs`, for `bench/fleet-bench.sh`'s pgbench run.
    @_spi(Testing) public static var decisionInputsSQL: String { selectDecisionInputs }

    // MARK: - Host rows

    private static let hostColumns = HostProfileColumn.list()

    /// `lock`: "" for a plain read, or a locking clause (" FOR UPDATE").
    static func loadHost(_ c: PGConnection, _ name: String, lock: String) throws(StoreError) -> HostProfileRecord? {
        let result = try c.query("SELECT \(hostColumns) FROM host_profiles WHERE name = $1" + lock, [PGValue(name)])
        return result.rowCount > 0 ? try RowDecoding.host(result.row(0)) : nil
    }
}

extension PostgresVMStore {
    /// Test hook: runs `sql` on a one-off connection to `conninfo` (creating
    /// and dropping the per-test schemas); returns the last result's row count.
    @discardableResult
    @_spi(Testing) public static func administer(conninfo: String, sql: String, timeoutMillis: Int = 10_000) throws(StoreError) -> Int {
        let c = try PGConnection(conninfo: conninfo, defaults: [("application_name", "memtyped-test")],
                                 deadline: MonotonicClock.milliseconds() + Int64(timeoutMillis))
        defer { c.close() }
        return try c.execute(sql)?.rowCount ?? 0
    }
}

extension PostgresVMStore {
    /// Benchmark seeding: creates each VM as `createVM` would (same rows,
    /// same history), but many per transaction. Existing ids are skipped.
    @_spi(Testing) public func seed(_ specs: [(id: String, spec: VMSpec)], actor: String) throws(StoreError) {
        let now = options.clock()
        var records: [VMRecord] = []
        records.reserveCapacity(specs.count)
        for (id, spec) in specs { records.append(try writes.newRecord(id: id, spec: spec, now: now)) }
        try transact { t throws(StoreError) in
            for var record in records where try t.loadVM(record.id) == nil {
                try writes.insertVM(t, &record, actor: actor)
            }
        }
    }
}

/// SQLite's `?N` parameters as PostgreSQL's `$N` (the column tables write `?N`).
func dollars(_ sql: String) -> String {
    String(sql.map { $0 == "?" ? "$" : $0 })
}
