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
public final class SQLiteVMStore: VMStore {
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
            return try decodeDecisionInputs(s, id: id)
        }
    }

    private static let dataVersion = PinnedSQL(slot: 1, sql: "PRAGMA data_version")

    public func createVM(_ id: String, _ spec: VMSpec, actor: String) throws(StoreError) -> VMRecord {
        try Validation.actor(actor)
        let now = options.clock()
        var record = try Resolution.newRecord(
            id: id, spec: spec, current: currentBaseline, catalogue: options.catalogue, revision: 1, now: now)
        return try write { c throws(StoreError) in
            if try Self.loadVM(c, id) != nil { throw .alreadyExists }
            try Self.insertVM(c, &record, actor: actor)
            return record
        }
    }

    public func replaceVM(_ id: String, with spec: VMSpec, expectedRevision: Int?, actor: String)
        throws(StoreError) -> (record: VMRecord, created: Bool)
    {
        try Validation.identifier(id, field: "/id")
        try Validation.actor(actor)
        let now = options.clock()
        return try write { c throws(StoreError) -> (record: VMRecord, created: Bool) in
            let existing = try Self.loadVM(c, id)
            try Resolution.checkRevision(expected: expectedRevision, stored: existing?.revision)
            guard let existing else {
                var record = try Resolution.newRecord(
                    id: id, spec: spec, current: currentBaseline, catalogue: options.catalogue, revision: 1, now: now)
                try Self.insertVM(c, &record, actor: actor)
                return (record, true)
            }
            var record = try Resolution.replacement(of: existing, spec: spec, catalogue: options.catalogue)
            try Self.writeUpdate(c, from: existing, to: &record, action: .replace, actor: actor, now: now)
            return (record, false)
        }
    }

    public func updateVM(_ id: String, expectedRevision: Int?, actor: String,
                         _ change: (inout VMRecord) throws(StoreError) -> Void) throws(StoreError) -> VMRecord
    {
        try Validation.identifier(id, field: "/id")
        try Validation.actor(actor)
        let now = options.clock()
        return try write { c throws(StoreError) in
            guard let existing = try Self.loadVM(c, id) else { throw .notFound }
            try Resolution.checkRevision(expected: expectedRevision, stored: existing.revision)
            var record = existing
            try change(&record)
            record.revision = existing.revision
            record.createdAt = existing.createdAt
            record.updatedAt = existing.updatedAt
            try Resolution.checkUpdate(from: existing, to: record, catalogue: options.catalogue)
            let action: HistoryAction = record.baseline != existing.baseline ? .baselineMove : .patch
            try Self.writeUpdate(c, from: existing, to: &record, action: action, actor: actor, now: now)
            return record
        }
    }

    @discardableResult
    public func deleteVM(_ id: String, expectedRevision: Int?, actor: String) throws(StoreError) -> VMRecord {
        try Validation.identifier(id, field: "/id")
        try Validation.actor(actor)
        let now = options.clock()
        return try write { c throws(StoreError) in
            guard let existing = try Self.loadVM(c, id) else { throw .notFound }
            try Resolution.checkRevision(expected: expectedRevision, stored: existing.revision)
            try c.withStatement("DELETE FROM vms WHERE id = ?1") { s throws(StoreError) in
                s.bind(1, id)
                try s.run()
            }
            try Self.appendHistory(
                c, .vm, id: id, revision: existing.revision + 1, action: .delete, actor: actor,
                at: Resolution.nextTimestamp(after: existing.updatedAt, now: now),
                changes: fieldChanges(from: existing.flattenedFields, to: nil))
            return existing
        }
    }

    public func listVMs(_ query: VMQuery) throws(StoreError) -> VMPage {
        try Validation.limit(query.limit)
        if let b = query.baseline { try Validation.identifier(b, field: "/baseline") }
        if let h = query.hostProfile { try Validation.identifier(h, field: "/host_profile") }
        guard query.labels.count <= VMQuery.maxLabelFilters else {
            throw .invalid(field: "/labels", message: "at most \(VMQuery.maxLabelFilters) label filters")
        }
        let labels = query.labels.sorted { $0.key < $1.key }
        for (k, v) in labels {
            let pointer = "/labels/\(JSONPointer.escape(k))"
            try Validation.labelKey(k, field: pointer)
            try Validation.labelValue(v, field: pointer)
        }
        let after = try query.cursor.map { (c: String) throws(StoreError) in try Cursor.decodeKey(c) }

        // Keyset pagination on id. With a label filter the first label drives
        // the scan through vm_labels(key, value, vm_id), already in id order.
        enum Bound { case text(String), int(Int64) }
        var binds: [Bound] = []
        var conditions: [String] = []
        let idColumn: String
        var sql = "SELECT \(VMColumn.list(prefix: "v.")) FROM "
        if let (k, v) = labels.first {
            sql += "vm_labels l0 JOIN vms v ON v.id = l0.vm_id"
            idColumn = "l0.vm_id"
            conditions.append("l0.key = ? AND l0.value = ?")
            binds += [.text(k), .text(v)]
        } else {
            sql += "vms v"
            idColumn = "v.id"
        }
        for (k, v) in labels.dropFirst() {
            conditions.append("EXISTS (SELECT 1 FROM vm_labels l WHERE l.vm_id = v.id AND l.key = ? AND l.value = ?)")
            binds += [.text(k), .text(v)]
        }
        if let after {
            conditions.append("\(idColumn) > ?")
            binds.append(.text(after))
        }
        if let b = query.baseline {
            conditions.append("v.baseline = ?")
            binds.append(.text(b))
        }
        if let h = query.hostProfile {
            conditions.append("v.host_profile = ?")
            binds.append(.text(h))
        }
        if !query.quirks.isEmpty {
            let mask = QuirkMask(query.quirks.keys)
            let want = QuirkMask(query.quirks.filter { $0.value == .disable }.keys)
            conditions.append("(v.disabled_quirks & ?) = ?")
            binds += [.int(Int64(bitPattern: mask.rawValue)), .int(Int64(bitPattern: want.rawValue))]
        }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY \(idColumn) LIMIT ?"
        binds.append(.int(Int64(query.limit + 1)))

        let limit = query.limit
        return try read { c throws(StoreError) in
            try c.withStatement(sql) { s throws(StoreError) in
                for (i, b) in binds.enumerated() {
                    switch b {
                    case .text(let t): s.bind(Int32(i + 1), t)
                    case .int(let n): s.bind(Int32(i + 1), n)
                    }
                }
                var items: [VMRecord] = []
                items.reserveCapacity(min(limit, 128))
                var more = false
                while try s.step() {
                    if items.count == limit { more = true; break }
                    items.append(try Self.decodeVM(s))
                }
                return VMPage(items: items, nextCursor: more ? items.last.map { Cursor.encodeKey($0.id) } : nil)
            }
        }
    }

    public func history(_ id: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage {
        try Validation.identifier(id, field: "/id")
        return try historyPage(.vm, id, limit: limit, cursor: cursor)
    }

    // MARK: - Host profiles

    public func getHost(_ name: String) throws(StoreError) -> HostProfileRecord? {
        try Validation.identifier(name, field: "/name")
        return try read { c throws(StoreError) in try Self.loadHost(c, name) }
    }

    public func putHost(_ name: String, _ spec: HostSpec, expectedRevision: Int?, actor: String)
        throws(StoreError) -> (record: HostProfileRecord, created: Bool)
    {
        try Validation.identifier(name, field: "/name")
        try Validation.hostSpec(spec, field: "")
        try Validation.actor(actor)
        let now = options.clock()
        return try write { c throws(StoreError) -> (record: HostProfileRecord, created: Bool) in
            let existing = try Self.loadHost(c, name)
            try Resolution.checkRevision(expected: expectedRevision, stored: existing?.revision)
            if let existing {
                guard existing.spec != spec else { return (existing, false) }
                var record = existing
                record.spec = spec
                record.revision = existing.revision + 1
                record.updatedAt = Resolution.nextTimestamp(after: existing.updatedAt, now: now)
                try Self.writeHost(c, record, insert: false)
                try Self.appendHistory(
                    c, .host, id: name, revision: record.revision, action: .replace, actor: actor, at: record.updatedAt,
                    changes: fieldChanges(from: existing.spec.flattenedFields(), to: spec.flattenedFields()))
                return (record, false)
            }
            let revision = (try Self.lastRevision(c, .host, name) ?? 0) + 1
            let record = HostProfileRecord(name: name, spec: spec, revision: revision, createdAt: now, updatedAt: now)
            try Self.writeHost(c, record, insert: true)
            try Self.appendHistory(
                c, .host, id: name, revision: revision, action: .create, actor: actor, at: now,
                changes: fieldChanges(from: nil, to: spec.flattenedFields()))
            return (record, true)
        }
    }

    @discardableResult
    public func deleteHost(_ name: String, expectedRevision: Int?, actor: String) throws(StoreError) -> HostProfileRecord {
        try Validation.identifier(name, field: "/name")
        try Validation.actor(actor)
        let now = options.clock()
        return try write { c throws(StoreError) in
            guard let existing = try Self.loadHost(c, name) else { throw .notFound }
            try Resolution.checkRevision(expected: expectedRevision, stored: existing.revision)
            let (count, sample) = try c.withStatement(
                "SELECT count(*) OVER (), id FROM vms WHERE host_profile = ?1 ORDER BY id LIMIT 5"
            ) { s throws(StoreError) -> (Int, [String]) in
                s.bind(1, name)
                var count = 0
                var ids: [String] = []
                while try s.step() {
                    count = s.int(0)
                    ids.append(s.text(1))
                }
                return (count, ids)
            }
            guard count == 0 else {
                throw .conflict("host profile '\(name)' is referenced by \(count) VM(s): \(sample.joined(separator: ", "))\(count > sample.count ? ", ..." : "")")
            }
            try c.withStatement("DELETE FROM host_profiles WHERE name = ?1") { s throws(StoreError) in
                s.bind(1, name)
                try s.run()
            }
            try Self.appendHistory(
                c, .host, id: name, revision: existing.revision + 1, action: .delete, actor: actor,
                at: Resolution.nextTimestamp(after: existing.updatedAt, now: now),
                changes: fieldChanges(from: existing.spec.flattenedFields(), to: nil))
            return existing
        }
    }

    public func listHosts(limit: Int, cursor: String?) throws(StoreError) -> HostPage {
        try Validation.limit(limit)
        let after = try cursor.map { (c: String) throws(StoreError) in try Cursor.decodeKey(c) }
        return try read { c throws(StoreError) in
            try c.withStatement(
                "SELECT \(HostProfileColumn.list()) FROM host_profiles WHERE name > ?1 ORDER BY name LIMIT ?2"
            ) { s throws(StoreError) in
                s.bind(1, after ?? "")
                s.bind(2, limit + 1)
                var items: [HostProfileRecord] = []
                var more = false
                while try s.step() {
                    if items.count == limit { more = true; break }
                    items.append(try Self.decodeHost(s))
                }
                return HostPage(items: items, nextCursor: more ? items.last.map { Cursor.encodeKey($0.name) } : nil)
            }
        }
    }

    public func hostHistory(_ name: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage {
        try Validation.identifier(name, field: "/name")
        return try historyPage(.host, name, limit: limit, cursor: cursor)
    }

    // MARK: - History

    private func historyPage(_ subject: HistorySubject, _ id: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage {
        try Validation.limit(limit)
        let before = try cursor.map { (c: String) throws(StoreError) in try Cursor.decodeSequence(c) } ?? Int64.max
        let page = try read { c throws(StoreError) in
            try c.withStatement(
                """
                SELECT seq, revision, action, actor, at, changes FROM history
                WHERE subject = ?1 AND id = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4
                """
            ) { s throws(StoreError) in
                s.bind(1, subject.rawValue)
                s.bind(2, id)
                s.bind(3, before)
                s.bind(4, limit + 1)
                var entries: [HistoryEntry] = []
                var more = false
                while try s.step() {
                    if entries.count == limit { more = true; break }
                    guard let action = HistoryAction(rawValue: s.text(2)),
                          let packed = s.withBytes(5, { PackedStrings.decode($0) }), packed.count % 3 == 0
                    else { throw .backend("corrupt history row \(s.int64(0))") }
                    var changes: [FieldChange] = []
                    changes.reserveCapacity(packed.count / 3)
                    var i = 0
                    while i < packed.count {
                        guard let field = packed[i] else { throw .backend("corrupt history row \(s.int64(0))") }
                        changes.append(FieldChange(field: field, old: packed[i + 1], new: packed[i + 2]))
                        i += 3
                    }
                    entries.append(HistoryEntry(
                        sequence: s.int64(0), subject: subject, id: id, revision: s.int(1), action: action,
                        actor: s.text(3), at: Timestamp(millisSinceEpoch: s.int64(4)), changes: changes))
                }
                return HistoryPage(entries: entries, nextCursor: more ? entries.last.map { Cursor.encodeSequence($0.sequence) } : nil)
            }
        }
        if cursor == nil && page.entries.isEmpty { throw .notFound }
        return page
    }

    private static func appendHistory(_ c: Connection, _ subject: HistorySubject, id: String, revision: Int,
                                      action: HistoryAction, actor: String, at: Timestamp,
                                      changes: [FieldChange]) throws(StoreError) {
        var packed: [String?] = []
        packed.reserveCapacity(changes.count * 3)
        for ch in changes { packed += [ch.field, ch.old, ch.new] }
        try c.withStatement(
            "INSERT INTO history (subject, id, revision, action, actor, at, changes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ) { s throws(StoreError) in
            s.bind(1, subject.rawValue)
            s.bind(2, id)
            s.bind(3, revision)
            s.bind(4, action.rawValue)
            s.bind(5, actor)
            s.bind(6, at.millisSinceEpoch)
            s.bind(7, PackedStrings.encode(packed))
            try s.run()
        }
    }

    /// The revision of the last history entry for `id` (a deleted incarnation's tombstone included).
    private static func lastRevision(_ c: Connection, _ subject: HistorySubject, _ id: String) throws(StoreError) -> Int? {
        try c.withStatement(
            "SELECT revision FROM history WHERE subject = ?1 AND id = ?2 ORDER BY seq DESC LIMIT 1"
        ) { s throws(StoreError) in
            s.bind(1, subject.rawValue)
            s.bind(2, id)
            return try s.step() ? s.int(0) : nil
        }
    }

    // MARK: - VM rows

    private static let selectVM = "SELECT \(VMColumn.list()) FROM vms WHERE id = ?1"
    private static let insertVMSQL = VMColumn.insert(into: "vms")
    private static let updateVMSQL = VMColumn.update("vms")

    static func loadVM(_ c: Connection, _ id: String) throws(StoreError) -> VMRecord? {
        try c.withStatement(selectVM) { s throws(StoreError) in
            s.bind(1, id)
            return try s.step() ? try decodeVM(s) : nil
        }
    }

    /// The `SELECT` behind `decisionInputs` (`DecisionInputsColumn`).
    private static let selectDecisionInputs = PinnedSQL(slot: 0, sql: DecisionInputsColumn.select)

    private func decodeDecisionInputs(_ s: Statement, id: String) throws(StoreError) -> VMDecisionInputs {
        func corrupt(_ what: String) -> StoreError { .backend("corrupt vms row '\(id)': \(what)") }
        typealias C = DecisionInputsColumn
        guard let type = s.withBytes(C.vmType.index, { VMType(utf8: $0) }) else { throw corrupt(C.vmType.column.name) }
        let profile = s.optionalText(C.hostProfile.index)
        let host: HostSpec?
        if profile == nil {
            guard let inline = try Self.decodeHostSpec(s, at: C.inlineHost, corrupt: { corrupt("host_" + $0) }) else {
                throw corrupt(VMColumn.hostVendor.name)
            }
            host = inline
        } else {
            host = try Self.decodeHostSpec(s, at: C.profileHost) { .backend("corrupt host_profiles row '\(profile!)': \($0)") }
        }
        return VMDecisionInputs(
            id: id, baseline: baselineName(s, C.baseline.index), revision: s.int(C.revision.index),
            vmConfig: VMConfig(type: type, disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(C.disabledQuirks.index))),
                               noncoherentDMA: s.bool(C.noncoherentDMA.index)),
            hostProfile: profile, host: host)
    }

    /// A baseline name, sharing the catalogue's string when it is one of them
    /// (no allocation for names longer than a small string).
    private func baselineName(_ s: Statement, _ column: Int32) -> String {
        s.withBytes(column) { bytes in
            for b in options.catalogue where b.name.utf8.count == bytes.count && b.name.utf8.elementsEqual(bytes) {
                return b.name
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// A row's host columns (`HostColumn`); nil when the vendor is NULL.
    /// `corrupt` names the bad column (without its prefix).
    private static func decodeHostSpec(_ s: Statement, at h: HostColumns,
                                       corrupt: (String) -> StoreError) throws(StoreError) -> HostSpec? {
        if s.isNull(h.index(.vendor)) { return nil }
        guard let vendor = s.withBytes(h.index(.vendor), { Vendor(utf8: $0) }) else { throw corrupt(HostColumn.vendor.name) }
        var kvmModel: KVMModel?
        if let m = s.optionalText(h.index(.kvmModel)) {
            guard let model = KVMModel(rawValue: m) else { throw corrupt(HostColumn.kvmModel.name) }
            kvmModel = model
        }
        let cpu = s.isNull(h.index(.cpuFamily)) ? nil
            : CPUModel(family: s.int(h.index(.cpuFamily)), model: s.int(h.index(.cpuModel)), stepping: s.optionalInt(h.index(.cpuStepping)))
        return HostSpec(vendor: vendor, selfSnoop: s.bool(h.index(.selfSnoop)), tdp: s.bool(h.index(.tdp)),
                        cpu: cpu, kernel: s.optionalText(h.index(.kernel)), kvmModel: kvmModel)
    }

    /// Binds a host spec's columns (`HostColumn`).
    private static func bindHostSpec(_ s: Statement, _ h: HostSpec, at c: HostColumns) {
        s.bind(c.parameter(.vendor), h.vendor.rawValue)
        s.bind(c.parameter(.selfSnoop), h.selfSnoop)
        s.bind(c.parameter(.tdp), h.tdp)
        s.bind(c.parameter(.cpuFamily), h.cpu?.family)
        s.bind(c.parameter(.cpuModel), h.cpu?.model)
        s.bind(c.parameter(.cpuStepping), h.cpu?.stepping)
        s.bind(c.parameter(.kernel), h.kernel)
        s.bind(c.parameter(.kvmModel), h.kvmModel?.rawValue)
    }

    private static func decodeVM(_ s: Statement) throws(StoreError) -> VMRecord {
        typealias C = VMColumn
        func corrupt(_ column: VMColumn) -> StoreError { .backend("corrupt vms row '\(s.text(C.id.index))': \(column.name)") }
        let host: HostRef
        if let profile = s.optionalText(C.hostProfile.index) {
            host = .profile(profile)
        } else {
            guard let spec = try decodeHostSpec(s, at: C.host, corrupt: { .backend("corrupt vms row '\(s.text(C.id.index))': host_" + $0) }) else {
                throw corrupt(.hostVendor)
            }
            host = .inline(spec)
        }
        guard let type = s.withBytes(C.vmType.index, { VMType(utf8: $0) }) else { throw corrupt(.vmType) }
        guard let devices = s.withBytes(C.displayDevices.index, { PackedStrings.decode($0) }) else { throw corrupt(.displayDevices) }
        guard let labelList = s.withBytes(C.labels.index, { PackedStrings.decode($0) }), labelList.count % 2 == 0 else {
            throw corrupt(.labels)
        }
        var labels: [String: String] = [:]
        if !labelList.isEmpty {
            labels.reserveCapacity(labelList.count / 2)
            var i = 0
            while i < labelList.count {
                guard let k = labelList[i], let v = labelList[i + 1] else { throw corrupt(.labels) }
                labels[k] = v
                i += 2
            }
        }
        return VMRecord(
            id: s.text(C.id.index), baseline: s.text(C.baseline.index),
            disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(C.disabledQuirks.index))),
            host: host, type: type, noncoherentDMA: s.bool(C.noncoherentDMA.index), displayDevices: devices.map { $0 ?? "" },
            guestKernel: s.optionalText(C.guestKernel.index), labels: labels, revision: s.int(C.revision.index),
            createdAt: Timestamp(millisSinceEpoch: s.int64(C.createdAt.index)),
            updatedAt: Timestamp(millisSinceEpoch: s.int64(C.updatedAt.index)))
    }

    /// Binds every `VMColumn` (unbound ones are NULL: the host profile of an
    /// inline host, the inline host of a profile reference).
    private static func bindVM(_ s: Statement, _ r: VMRecord) {
        typealias C = VMColumn
        s.bind(C.id.parameter, r.id)
        s.bind(C.baseline.parameter, r.baseline)
        s.bind(C.disabledQuirks.parameter, Int64(bitPattern: r.disabledQuirks.rawValue))
        switch r.host {
        case .profile(let name): s.bind(C.hostProfile.parameter, name)
        case .inline(let h): bindHostSpec(s, h, at: C.host)
        }
        s.bind(C.vmType.parameter, r.type.rawValue)
        s.bind(C.noncoherentDMA.parameter, r.noncoherentDMA)
        s.bind(C.displayDevices.parameter, PackedStrings.encode(r.displayDevices))
        s.bind(C.guestKernel.parameter, r.guestKernel)
        s.bind(C.labels.parameter, PackedStrings.encode(r.labels.keys.sorted().flatMap { [$0, r.labels[$0]!] }))
        s.bind(C.revision.parameter, r.revision)
        s.bind(C.createdAt.parameter, r.createdAt.millisSinceEpoch)
        s.bind(C.updatedAt.parameter, r.updatedAt.millisSinceEpoch)
    }

    private static func checkHostReference(_ c: Connection, _ host: HostRef) throws(StoreError) {
        guard let name = host.profileName else { return }
        guard try loadHost(c, name) != nil else {
            throw .invalid(field: "/host_profile", message: "no host profile named '\(name)'")
        }
    }

    private static func insertLabels(_ c: Connection, _ r: VMRecord) throws(StoreError) {
        guard !r.labels.isEmpty else { return }
        try c.withStatement("INSERT INTO vm_labels (vm_id, key, value) VALUES (?1, ?2, ?3)") { s throws(StoreError) in
            for (k, v) in r.labels {
                s.bind(1, r.id)
                s.bind(2, k)
                s.bind(3, v)
                try s.run()
                sqlite3_reset(s.handle)
            }
        }
    }

    /// Inserts a new record; its revision continues after any deleted incarnation's.
    private static func insertVM(_ c: Connection, _ record: inout VMRecord, actor: String) throws(StoreError) {
        try checkHostReference(c, record.host)
        record.revision = (try lastRevision(c, .vm, record.id) ?? 0) + 1
        let r = record
        try c.withStatement(insertVMSQL) { s throws(StoreError) in
            bindVM(s, r)
            try s.run()
        }
        try insertLabels(c, r)
        try appendHistory(c, .vm, id: r.id, revision: r.revision, action: .create, actor: actor, at: r.createdAt,
                          changes: fieldChanges(from: nil, to: r.flattenedFields))
    }

    /// Writes `record` over `old` if anything changed, bumping revision and updatedAt.
    private static func writeUpdate(_ c: Connection, from old: VMRecord, to record: inout VMRecord,
                                 action: HistoryAction, actor: String, now: Timestamp) throws(StoreError) {
        guard record != old else { return }
        if record.host != old.host { try checkHostReference(c, record.host) }
        record.revision = old.revision + 1
        record.updatedAt = Resolution.nextTimestamp(after: old.updatedAt, now: now)
        let r = record
        try c.withStatement(updateVMSQL) { s throws(StoreError) in
            bindVM(s, r)
            try s.run()
        }
        if r.labels != old.labels {
            try c.withStatement("DELETE FROM vm_labels WHERE vm_id = ?1") { s throws(StoreError) in
                s.bind(1, r.id)
                try s.run()
            }
            try insertLabels(c, r)
        }
        try appendHistory(c, .vm, id: r.id, revision: r.revision, action: action, actor: actor, at: r.updatedAt,
                          changes: fieldChanges(from: old.flattenedFields, to: r.flattenedFields))
    }

    // MARK: - Host rows

    private static func loadHost(_ c: Connection, _ name: String) throws(StoreError) -> HostProfileRecord? {
        try c.withStatement("SELECT \(HostProfileColumn.list()) FROM host_profiles WHERE name = ?1") { s throws(StoreError) in
            s.bind(1, name)
            return try s.step() ? try decodeHost(s) : nil
        }
    }

    private static func decodeHost(_ s: Statement) throws(StoreError) -> HostProfileRecord {
        typealias C = HostProfileColumn
        let corrupt = StoreError.backend("corrupt host_profiles row '\(s.text(C.name.index))'")
        guard let spec = try decodeHostSpec(s, at: C.host, corrupt: { _ in corrupt }) else { throw corrupt }
        return HostProfileRecord(
            name: s.text(C.name.index), spec: spec, revision: s.int(C.revision.index),
            createdAt: Timestamp(millisSinceEpoch: s.int64(C.createdAt.index)),
            updatedAt: Timestamp(millisSinceEpoch: s.int64(C.updatedAt.index)))
    }

    private static let insertHostSQL = HostProfileColumn.insert(into: "host_profiles")
    private static let updateHostSQL = HostProfileColumn.update("host_profiles")

    private static func writeHost(_ c: Connection, _ r: HostProfileRecord, insert: Bool) throws(StoreError) {
        typealias C = HostProfileColumn
        try c.withStatement(insert ? insertHostSQL : updateHostSQL) { s throws(StoreError) in
            s.bind(C.name.parameter, r.name)
            bindHostSpec(s, r.spec, at: C.host)
            s.bind(C.revision.parameter, r.revision)
            s.bind(C.createdAt.parameter, r.createdAt.millisSinceEpoch)
            s.bind(C.updatedAt.parameter, r.updatedAt.millisSinceEpoch)
            try s.run()
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

extension RawRepresentable where Self: CaseIterable, RawValue == String {
    /// The case whose raw value is `bytes` (a column's UTF-8), without making a String.
    init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        for c in Self.allCases where c.rawValue.utf8.elementsEqual(bytes) {
            self = c
            return
        }
        return nil
    }
}
