import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Store health for readiness, and the start-up check.
///
/// Every failure passes through `noteFailure` (from `read` and `write`), so
/// the state follows what the store actually met: `.full` after a write
/// failed for lack of room, cleared by the next successful write or by
/// `health()` finding room again; `.corrupt` once SQLite reported a damaged
/// page or file, for good (SQLite cannot repair it, and serving on would
/// fail at random: restore the file and restart). `.busy` changes nothing:
/// it passes by itself.
extension SQLiteVMStore {
    func noteFailure(_ error: StoreError) {
        switch error {
        case .full(let message):
            healthState.withLock { if case .healthy = $0 { $0 = .full(message) } }
        case .corrupt(let message):
            healthState.withLock { if case .corrupt = $0 {} else { $0 = .corrupt(message) } }
        default:
            break
        }
    }

    /// A write committed: there was room after all.
    func wrote() {
        healthState.withLock { if case .full = $0 { $0 = .healthy } }
    }

    /// Cheap while healthy (one uncontended lock). While `.full`, looks
    /// for room, so that an instance taken out of service for being full
    /// comes back without needing a write to prove it.
    public func health() -> StoreHealth {
        let now = healthState.withLock { $0 }
        guard case .full = now else { return now }
        // Not behind a write: if one holds the writer, it will settle the state.
        let room = writer.withLock(waitingAtMost: 0) { (c: inout Connection) -> Bool in hasRoom(c) }
        if room == true { healthState.withLock { if case .full = $0 { $0 = .healthy } } }
        return healthState.withLock { $0 }
    }

    /// Room for another write: SQLite's page limit not reached (or free
    /// pages inside the file), and at least 1 MiB free on the file system
    /// for the WAL. A check that cannot be made counts as room: the next
    /// write finds out for sure.
    private func hasRoom(_ c: Connection) -> Bool {
        func pragma(_ name: String) -> Int? { (try? c.scalarText("PRAGMA \(name)")).flatMap { $0.flatMap { Int($0) } } }
        if let pages = pragma("page_count"), let limit = pragma("max_page_count"), let free = pragma("freelist_count"),
           pages >= limit && free == 0 {
            return false
        }
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return true }
        return UInt64(fs.f_bavail) * UInt64(fs.f_frsize) >= 1 << 20
    }

    /// The directory holding the database (and its WAL).
    private var directory: String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `PRAGMA quick_check`: the b-tree pages, free list and record formats
    /// (not the indexes' contents against their tables, as integrity_check
    /// also does). Throws `.corrupt` with SQLite's first findings.
    public func quickCheck() throws(StoreError) {
        let findings = try read { c throws(StoreError) in
            try c.withStatement("PRAGMA quick_check(3)") { s throws(StoreError) in
                var lines: [String] = []
                while try s.step() { lines.append(s.text(0)) }
                return lines
            }
        }
        guard findings == ["ok"] else {
            // One line: SQLite's first finding holds line breaks of its own.
            let text = findings.joined(separator: "\n").split(whereSeparator: \.isNewline).joined(separator: "; ")
            let error = StoreError.corrupt("quick_check: " + text)
            noteFailure(error)
            throw error
        }
    }

    /// Test hook: the first page of a table's b-tree (to damage it on purpose).
    @_spi(Testing) public func rootPage(of table: String) throws(StoreError) -> Int {
        try read { c throws(StoreError) in
            try c.withStatement("SELECT rootpage FROM sqlite_schema WHERE name = ?1") { s throws(StoreError) in
                s.bind(1, table)
                guard try s.step() else { throw .notFound }
                return s.int(0)
            }
        }
    }

}
