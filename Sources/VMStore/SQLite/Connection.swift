import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SQLITE_TRANSIENT: SQLite copies bound text before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One prepared statement. Owned by one `Connection`, used by one thread at a time.
final class Statement {
    let handle: OpaquePointer
    unowned let connection: Connection

    init(handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ index: Int32, _ value: String) {
        sqlite3_bind_text(handle, index, value, Int32(value.utf8.count), transient)
    }

    func bind(_ index: Int32, _ value: String?) {
        if let value { bind(index, value) } else { sqlite3_bind_null(handle, index) }
    }

    func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(handle, index, value) }
    func bind(_ index: Int32, _ value: Int) { sqlite3_bind_int64(handle, index, Int64(value)) }
    func bind(_ index: Int32, _ value: Bool) { sqlite3_bind_int64(handle, index, value ? 1 : 0) }

    func bind(_ index: Int32, _ value: Int?) {
        if let value { bind(index, value) } else { sqlite3_bind_null(handle, index) }
    }

    /// true: a row is available; false: done.
    func step() throws(StoreError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw connection.error(rc, "step")
        }
    }

    /// Steps a statement that returns no rows.
    func run() throws(StoreError) {
        _ = try step()
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }
    func bool(_ column: Int32) -> Bool { sqlite3_column_int64(handle, column) != 0 }
    func optionalInt(_ column: Int32) -> Int? { isNull(column) ? nil : int(column) }

    /// The column's UTF-8 bytes, valid only inside `body`.
    func withBytes<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        let p = sqlite3_column_text(handle, column)
        let n = Int(sqlite3_column_bytes(handle, column))
        return body(UnsafeBufferPointer(start: p, count: p == nil ? 0 : n))
    }

    func text(_ column: Int32) -> String {
        withBytes(column) { String(decoding: $0, as: UTF8.self) }
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
}

/// A statement a connection prepares on first use and keeps in a fixed slot,
/// for hot reads: `withStatement(_: PinnedSQL, ...)` finds it by index, where
/// the SQL-keyed cache would hash the whole SQL text on every call.
struct PinnedSQL: Sendable {
    /// The slot; unique per statement, below `PinnedSQL.slots`.
    let slot: Int
    let sql: String
    static let slots = 2
}

/// One sqlite3 connection with its prepared-statement cache.
///
/// Opened with SQLITE_OPEN_NOMUTEX (multi-thread mode): SQLite does not lock
/// it, so it must be used by at most one thread at a time. `SQLiteVMStore`
/// guarantees that: the write connection is only touched under its mutex,
/// and a read connection is checked out of the pool by exactly one caller
/// until it is returned. That ownership discipline, not the type system, is
/// why this class is `@unchecked Sendable`.
final class Connection: @unchecked Sendable {
    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]
    private var pinned = [Statement?](repeating: nil, count: PinnedSQL.slots)
    /// The last `PRAGMA data_version` this (read) connection saw; nil before
    /// the first. See `DecisionMemo`.
    var lastDataVersion: Int64?
    private static let maxCachedStatements = 128

    init(path: String, readOnly: Bool, busyTimeoutMillis: Int32) throws(StoreError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            var message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let osError = db.map { sqlite3_system_errno($0) } ?? 0
            // SQLite's message ("unable to open database file") omits why: add the OS error.
            if osError != 0 { message += ": \(String(cString: strerror(osError))) (errno \(osError))" }
            if let db { sqlite3_close_v2(db) }
            throw StoreError.sqlite(rc, osError: osError, "cannot open \(path): \(message)")
        }
        // SQLite opens a file it may not write read-only without saying so;
        // a store that cannot take writes must not start as if it could.
        if !readOnly && sqlite3_db_readonly(db, "main") == 1 {
            sqlite3_close_v2(db)
            throw .backend("cannot open \(path) for writing: permission denied (check its owner and mode, and its directory's)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMillis)
    }

    deinit {
        cache.removeAll()  // finalizes the statements
        pinned.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, _ context: String) -> StoreError {
        let message = String(cString: sqlite3_errmsg(handle))
        return .sqlite(rc, osError: sqlite3_system_errno(handle), "sqlite \(context): \(message) (\(rc))")
    }

    /// How long the next statements wait for another connection's lock (0: not at all).
    func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws(StoreError) {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errmsg)
            throw .sqlite(rc, osError: sqlite3_system_errno(handle), "sqlite: \(message) (\(rc)) in: \(sql.prefix(80))")
        }
    }

    /// The first column of the first row, as text.
    func scalarText(_ sql: String) throws(StoreError) -> String? {
        try withStatement(sql) { s throws(StoreError) in try s.step() ? s.optionalText(0) : nil }
    }

    /// Runs `body` with the cached prepared statement for `sql`, resetting it afterwards.
    func withStatement<T>(_ sql: String, _ body: (Statement) throws(StoreError) -> T) throws(StoreError) -> T {
        let statement = try prepare(sql)
        defer { statement.reset() }
        return try body(statement)
    }

    /// Runs `body` with the pinned statement, preparing it on first use, resetting it afterwards.
    @inline(__always)
    func withStatement<T>(_ pinnedSQL: PinnedSQL, _ body: (Statement) throws(StoreError) -> T) throws(StoreError) -> T {
        let statement: Statement
        if let s = pinned[pinnedSQL.slot] {
            statement = s
        } else {
            statement = try prepareUncached(pinnedSQL.sql, persistent: true)
            pinned[pinnedSQL.slot] = statement
        }
        defer { statement.reset() }
        return try body(statement)
    }

    private func prepareUncached(_ sql: String, persistent: Bool) throws(StoreError) -> Statement {
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(persistent ? SQLITE_PREPARE_PERSISTENT : 0), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, "prepare") }
        return Statement(handle: raw, connection: self)
    }

    private func prepare(_ sql: String) throws(StoreError) -> Statement {
        if let s = cache[sql] { return s }
        var raw: OpaquePointer?
        let flags = UInt32(cache.count < Self.maxCachedStatements ? SQLITE_PREPARE_PERSISTENT : 0)
        let rc = sqlite3_prepare_v3(handle, sql, -1, flags, &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, "prepare") }
        let statement = Statement(handle: raw, connection: self)
        // Dynamic list queries have a bounded number of shapes; beyond the cap a
        // statement is used once and finalized when released.
        if cache.count < Self.maxCachedStatements { cache[sql] = statement }
        return statement
    }

    var changes: Int { Int(sqlite3_changes(handle)) }
}

extension StoreError {
    /// The typed error for a failed SQLite call: `rc` is its (extended)
    /// result code, `osError` the errno behind an I/O error
    /// (`sqlite3_system_errno`). Busy, full and corrupt are told apart
    /// here, once, because callers answer them differently (see `StoreError`).
    static func sqlite(_ rc: Int32, osError: Int32, _ message: String) -> StoreError {
        switch rc & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: .busy(message)
        case SQLITE_FULL: .full(message)
        // A write, fsync or WAL-index extension that hit a full disk arrives as
        // an I/O error (SQLITE_IOERR_WRITE, _FSYNC, _SHMSIZE...) with ENOSPC behind it.
        case SQLITE_IOERR where osError == ENOSPC || osError == EDQUOT: .full(message)
        case SQLITE_CORRUPT, SQLITE_NOTADB: .corrupt(message)
        default: .backend(message)
        }
    }
}
