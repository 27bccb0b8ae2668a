/// A backend's keyset-paged reads of host profiles and history: the backend
/// fetches rows in its SQL; what makes them a page is said here once for both
/// backends (`listHosts`, `history`, `hostHistory`): the ids, limit and
/// cursor are validated first, a row past `limit` means there is a next page,
/// and a history with nothing recorded under the id is `.notFound`.
///
/// Internal, like `TransactingStore`: callers see only `VMStore`.
protocol PagedReads: VMStore {
    /// The profiles named after `after` ("": from the first), by name, at most `count`.
    func hostRows(after: String, count: Int) throws(StoreError) -> [HostProfileRecord]

    /// `subject` `id`'s history entries with a sequence below `before`, newest first, at most `count`.
    func historyRows(_ subject: HistorySubject, _ id: String, before: Int64, count: Int) throws(StoreError) -> [HistoryEntry]
}

extension PagedReads {
    public func listHosts(limit: Int, cursor: String?) throws(StoreError) -> HostPage {
        try Validation.limit(limit)
        let after = try cursor.map { (c: String) throws(StoreError) in try Cursor.decodeKey(c) }
        return HostPage(rows: try hostRows(after: after ?? "", count: limit + 1), limit: limit)
    }

    public func history(_ id: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage {
        try Validation.identifier(id, field: "/id")
        return try historyPage(.vm, id, limit: limit, cursor: cursor)
    }

    public func hostHistory(_ name: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage {
        try Validation.identifier(name, field: "/name")
        return try historyPage(.host, name, limit: limit, cursor: cursor)
    }

    private func historyPage(_ subject: HistorySubject, _ id: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage {
        try Validation.limit(limit)
        let before = try cursor.map { (c: String) throws(StoreError) in try Cursor.decodeSequence(c) } ?? Int64.max
        let rows = try historyRows(subject, id, before: before, count: limit + 1)
        // Only a first page tells that nothing was recorded; a page after a
        // cursor may be empty without the history being missing.
        if cursor == nil && rows.isEmpty { throw .notFound }
        return HistoryPage(rows: rows, limit: limit)
    }
}

/// The page statements, with SQLite's `?N` parameters (PostgreSQL's through
/// `dollars`): the columns a page's rows are decoded from (`RowDecoding`).
enum PageSQL {
    /// ?1: the name to start after; ?2: how many rows.
    static let hosts = "SELECT \(HostProfileColumn.list()) FROM host_profiles WHERE name > ?1 ORDER BY name LIMIT ?2"
    /// ?1: subject; ?2: id; ?3: the sequence to start below; ?4: how many rows.
    static let history = """
        SELECT seq, revision, action, actor, at, changes FROM history
        WHERE subject = ?1 AND id = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4
        """
}

// Each listing's page from the `limit + 1` rows its SQL fetched: the row
// past `limit` only says that there is more, and the next page starts after
// the last item's key (a VM's id, a profile's name, an entry's sequence).
extension VMPage {
    init(rows: [VMRecord], limit: Int) {
        let items = Array(rows.prefix(limit))
        self.init(items: items, nextCursor: rows.count > limit ? items.last.map { Cursor.encodeKey($0.id) } : nil)
    }
}

extension HostPage {
    init(rows: [HostProfileRecord], limit: Int) {
        let items = Array(rows.prefix(limit))
        self.init(items: items, nextCursor: rows.count > limit ? items.last.map { Cursor.encodeKey($0.name) } : nil)
    }
}

extension HistoryPage {
    init(rows: [HistoryEntry], limit: Int) {
        let entries = Array(rows.prefix(limit))
        self.init(entries: entries, nextCursor: rows.count > limit ? entries.last.map { Cursor.encodeSequence($0.sequence) } : nil)
    }
}
