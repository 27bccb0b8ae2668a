import CLibPQ
import Clock

#if canImport(Glibc)
import Glibc
#endif

/// One query result (text format), freed with the value.
final class PGResult {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    var rowCount: Int { Int(PQntuples(handle)) }
    /// Rows an INSERT/UPDATE/DELETE touched.
    var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }
    func row(_ index: Int) -> PGRow { PGRow(result: self, row: Int32(index)) }
}

/// One row of a `PGResult`, read by column like SQLite's `Statement`, so the
/// row decoders read the same column layout on both backends.
struct PGRow {
    let result: PGResult
    let row: Int32

    func isNull(_ column: Int32) -> Bool { PQgetisnull(result.handle, row, column) != 0 }

    /// The column's text bytes, valid only inside `body`.
    func withBytes<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        let n = Int(PQgetlength(result.handle, row, column))
        return PQgetvalue(result.handle, row, column).withMemoryRebound(to: UInt8.self, capacity: n) {
            body(UnsafeBufferPointer(start: $0, count: n))
        }
    }

    func text(_ column: Int32) -> String { withBytes(column) { String(decoding: $0, as: UTF8.self) } }
    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    /// A bigint/integer column in PostgreSQL's text form (0 when NULL or malformed, as SQLite reads NULL).
    func int64(_ column: Int32) -> Int64 {
        withBytes(column) { bytes in
            var i = 0, negative = false, value: Int64 = 0
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            while i < bytes.count {
                let d = bytes[i] &- 0x30
                guard d < 10 else { return 0 }
                value = value &* 10 &- Int64(d)  // accumulate negatively: Int64.min parses
                i += 1
            }
            return negative ? value : -value
        }
    }

    func int(_ column: Int32) -> Int { Int(int64(column)) }
    func optionalInt(_ column: Int32) -> Int? { isNull(column) ? nil : int(column) }
    /// A boolean column: PostgreSQL writes `t` or `f`.
    func bool(_ column: Int32) -> Bool { withBytes(column) { $0.first == UInt8(ascii: "t") } }
}

/// A statement parameter, sent in text format.
enum PGValue {
    case null
    case text(String)

    init(_ s: String?) { self = s.map(PGValue.text) ?? .null }
    init(_ n: Int64) { self = .text(String(n)) }
    init(_ n: Int) { self = .text(String(n)) }
    init(_ n: Int?) { self = n.map { .text(String($0)) } ?? .null }
    init(_ b: Bool) { self = .text(b ? "t" : "f") }
}

/// One libpq connection and its prepared statements.
///
/// Every round trip is bounded by a deadline (`deadline`, set by the pool at
/// checkout): the query is sent, then the socket is polled until the answer
/// is complete or the deadline passes. On a timeout or a lost connection the
/// connection is closed and marked broken (the pool drops it); the server
/// rolls back whatever transaction it had open when it sees the socket close.
/// So no caller waits on the database longer than the deadline, even when the
/// server is hung, where a blocking `PQexec` would wait for ever.
///
/// Used by one thread at a time (the pool hands it to one caller), which is
/// why it is `@unchecked Sendable`.
final class PGConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    /// SQL text -> prepared statement name, per server session.
    private var prepared: [String: String] = [:]
    private static let maxPrepared = 256
    /// Milliseconds on the monotonic clock after which a round trip gives up.
    var deadline: Int64 = .max
    /// The SQLSTATE of the last failed statement (nil: none, or no server answer).
    private(set) var lastSQLState: String?
    /// Statements run since the pool handed the connection out (0: a failure
    /// cannot have changed anything, so the caller may retry elsewhere).
    var statementsSinceCheckout = 0
    /// The connection cannot be used again: closed after a timeout, or lost.
    var isBroken: Bool { handle == nil || PQstatus(handle) != CONNECTION_OK }
    /// Closed because a round trip outlived the deadline (the server may be
    /// fine, only slow or busy), as opposed to lost by the server.
    private(set) var timedOut = false
    /// A transaction is open (or failed and not yet rolled back).
    var inTransaction: Bool { handle.map { PQtransactionStatus($0) != PQTRANS_IDLE } ?? false }

    /// Connects with libpq's parameter arrays (`expand_dbname`: `conninfo` may
    /// be a URL or key=value string; `defaults` come first so the conninfo and
    /// the `PG*` variables win over them), bounded by `deadline`.
    init(conninfo: String, defaults: [(String, String)], deadline: Int64) throws(StoreError) {
        self.deadline = deadline
        let keywords = defaults.map(\.0) + ["dbname"]
        let values = defaults.map(\.1) + [conninfo]
        let conn = withCStrings(keywords) { k in
            withCStrings(values) { v in PQconnectStartParams(k, v, 1) }
        }
        guard let conn else { throw .unavailable("libpq could not allocate a connection", retryAfterSeconds: 1) }
        handle = conn
        // NOTICEs (IF NOT EXISTS skips, DROP ... CASCADE) are not errors; libpq
        // would print them on stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        guard PQstatus(conn) != CONNECTION_BAD else { throw lostConnection("connect") }
        var state = PGRES_POLLING_WRITING
        while true {
            switch state {
            case PGRES_POLLING_OK:
                return
            case PGRES_POLLING_READING:
                try waitForSocket(events: Int16(POLLIN), during: "connect")
            case PGRES_POLLING_WRITING:
                try waitForSocket(events: Int16(POLLOUT), during: "connect")
            default:
                throw lostConnection("connect")
            }
            state = PQconnectPoll(conn)
        }
    }

    deinit { close() }

    /// A setting the server reported at connect (`server_encoding`,
    /// `client_encoding`, ...): no round trip.
    func parameterStatus(_ name: String) -> String? {
        guard let handle, let value = PQparameterStatus(handle, name) else { return nil }
        return String(cString: value)
    }

    func close() {
        if let handle { PQfinish(handle) }
        handle = nil
        prepared = [:]
    }

    /// The server's error text without a password: libpq messages can echo
    /// the host and user, never the password.
    private var errorMessage: String {
        guard let handle else { return "connection closed" }
        var s = String(cString: PQerrorMessage(handle))
        while s.last == "\n" { s.removeLast() }
        return s
    }

    private func lostConnection(_ context: String) -> StoreError {
        let message = errorMessage
        close()
        return .unavailable("postgresql \(context): \(message)", retryAfterSeconds: 1)
    }

    /// Polls the socket for `events` until ready or the deadline passes (then closes).
    private func waitForSocket(events: Int16, during context: String) throws(StoreError) {
        guard let handle else { throw .unavailable("postgresql \(context): connection closed", retryAfterSeconds: 1) }
        var fd = pollfd(fd: PQsocket(handle), events: events, revents: 0)
        while true {
            let remaining = deadline - MonotonicClock.milliseconds()
            if remaining <= 0 {
                timedOut = true
                close()
                throw .unavailable("postgresql \(context): no answer within the store timeout", retryAfterSeconds: 1)
            }
            let n = poll(&fd, 1, Int32(min(remaining, Int64(Int32.max))))
            if n > 0 { return }
            if n < 0 && errno != EINTR { throw lostConnection(context) }
        }
    }

    /// Runs SQL without parameters through the simple-query protocol (several
    /// statements allowed: migrations, BEGIN/COMMIT).
    @discardableResult
    func execute(_ sql: String) throws(StoreError) -> PGResult? {
        guard let handle else { throw .unavailable("postgresql: connection closed", retryAfterSeconds: 1) }
        statementsSinceCheckout += 1
        lastSQLState = nil
        guard PQsendQuery(handle, sql) == 1 else { throw lostConnection("send") }
        return try collect(sql)
    }

    /// Runs one statement as a prepared statement (prepared on first use per session).
    func query(_ sql: String, _ params: [PGValue] = []) throws(StoreError) -> PGResult {
        guard let handle else { throw .unavailable("postgresql: connection closed", retryAfterSeconds: 1) }
        statementsSinceCheckout += 1
        lastSQLState = nil
        let name: String
        if let known = prepared[sql] {
            name = known
        } else {
            // Past the cap (list queries have many shapes) a statement is run unnamed.
            name = prepared.count < Self.maxPrepared ? "m\(prepared.count)" : ""
            guard PQsendPrepare(handle, name, sql, Int32(params.count), nil) == 1 else { throw lostConnection("prepare") }
            _ = try collect(sql)
            if !name.isEmpty { prepared[sql] = name }
        }
        let sent = withParams(params) { values in
            PQsendQueryPrepared(handle, name, Int32(params.count), values, nil, nil, 0)
        }
        guard sent == 1 else { throw lostConnection("send") }
        guard let result = try collect(sql) else { throw .backend("postgresql: no result for \(sql.prefix(60))") }
        return result
    }

    /// Reads every result of the query in flight; the first error wins.
    private func collect(_ sql: String) throws(StoreError) -> PGResult? {
        var last: PGResult?
        var failure: StoreError?
        while true {
            guard let handle else { throw .unavailable("postgresql: connection closed", retryAfterSeconds: 1) }
            guard PQconsumeInput(handle) == 1 else { throw lostConnection("read") }
            while PQisBusy(handle) == 0 {
                guard let raw = PQgetResult(handle) else {
                    if let failure { throw failure }
                    lastSQLState = nil
                    return last
                }
                let result = PGResult(raw)
                switch PQresultStatus(raw) {
                case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                    last = result
                default:
                    if failure == nil { failure = classify(result, sql) }
                }
            }
            try waitForSocket(events: Int16(POLLIN), during: "query")
        }
    }

    /// A failed statement as a StoreError: the database unreachable, shutting
    /// down, cancelled by `statement_timeout` or out of connections is
    /// `.unavailable` (503, retry); out of disk or memory `.full` (507);
    /// damaged data `.corrupt`; anything else `.backend`.
    private func classify(_ result: PGResult, _ sql: String) -> StoreError {
        let state = PQresultErrorField(result.handle, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        lastSQLState = state
        var message = PQresultErrorMessage(result.handle).map { String(cString: $0) } ?? ""
        while message.last == "\n" { message.removeLast() }
        if isBroken || PGSQLState.meansUnavailable(state) {
            return .unavailable("postgresql: \(message)", retryAfterSeconds: 1)
        }
        if PGSQLState.meansFull(state) { return .full("postgresql: \(message)") }
        if PGSQLState.meansCorrupt(state) { return .corrupt("postgresql: \(message)") }
        return .backend("postgresql: \(message) (SQLSTATE \(state ?? "?")) in: \(sql.prefix(80))")
    }
}

/// SQLSTATE classes that decide how a failure is reported or retried
/// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
enum PGSQLState {
    /// The server is unreachable, starting, shutting down, out of connections,
    /// read-only (a standby after failover) or cancelled the statement at
    /// `statement_timeout` / `lock_timeout`: worth retrying later (503).
    static func meansUnavailable(_ state: String?) -> Bool {
        guard let state else { return false }
        return state.hasPrefix("08")  // connection_exception
            || state.hasPrefix("57P")  // admin/crash shutdown, cannot_connect_now
            || state == "53300"  // too_many_connections
            || state == "57014"  // query_canceled (statement_timeout)
            || state == "55P03"  // lock_not_available (lock_timeout)
            || state == "25006"  // read_only_sql_transaction
    }

    /// The server has no room: disk_full, insufficient_resources, out_of_memory
    /// (class 53 but too_many_connections, which passes by itself). 507, as SQLite's full.
    static func meansFull(_ state: String?) -> Bool {
        state == "53100" || state == "53000" || state == "53200"
    }

    /// data_corrupted, index_corrupted: 503 and an operator's job, as SQLite's corrupt.
    static func meansCorrupt(_ state: String?) -> Bool {
        state == "XX001" || state == "XX002"
    }

    /// Failures of a write transaction that a fresh attempt resolves: another
    /// instance inserted the same key first (the retry then sees its row and
    /// answers as the store's contract says), a serialization failure, a deadlock.
    static func meansRetry(_ state: String?) -> Bool {
        state == "23505" || state == "40001" || state == "40P01"
    }
}

/// `strings` as a NULL-terminated array of C strings, valid inside `body`.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let storage = strings.map { strdup($0) }
    defer { storage.forEach { free($0) } }
    var pointers = storage.map { UnsafePointer($0) }
    pointers.append(nil)
    return body(&pointers)
}

/// Parameters as libpq's value array (NULL for SQL NULL), valid inside `body`.
private func withParams<T>(_ params: [PGValue], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> T) -> T {
    if params.isEmpty { return body(nil) }
    let storage: [UnsafeMutablePointer<CChar>?] = params.map {
        switch $0 {
        case .null: nil
        case .text(let s): strdup(s)
        }
    }
    defer { storage.forEach { free($0) } }
    let pointers = storage.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
