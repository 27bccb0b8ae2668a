import Clock
import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A consistent copy of a live store file (`memtyped backup`).
public enum SQLiteBackup {
    /// How long a backup waits for a locked source in all, by default.
    public static let defaultWaitMillis = 60_000

    /// What a finished backup holds.
    public struct Summary: Sendable {
        public let pages: Int
        public let bytes: Int
    }

    /// Copies the store at `source` to `destination` with SQLite's online
    /// backup API while other processes keep writing it.
    ///
    /// One `sqlite3_backup_step(-1)`: the whole copy runs inside one read
    /// transaction, so it is the database as of one commit (every write
    /// committed before the backup began, none torn). In WAL mode that
    /// reader does not block the service's writer. (Stepping a few pages at
    /// a time would let a commit in between restart the copy, and under a
    /// steady write load it might never finish.)
    ///
    /// The copy is written to `destination + ".partial"`, checked with
    /// `PRAGMA quick_check`, synced, and renamed over `destination`: a
    /// crash or a failed check leaves no half-written file under the name.
    ///
    /// A source another process keeps locked (a writer in exclusive locking
    /// mode, say) is waited for at most `waitMillis` in all; then the copy
    /// gives up (`.busy`) instead of retrying for ever.
    public static func copy(from source: String, to destination: String,
                            waitMillis: Int = defaultWaitMillis) throws(StoreError) -> Summary {
        guard access(source, F_OK) == 0 else {
            throw .backend("cannot back up \(source): \(String(cString: strerror(errno)))")
        }
        let start = MonotonicClock.milliseconds()
        let step = Int32(clamping: min(waitMillis, 10_000))  // each lock wait; the loop bounds the whole
        let from = try Connection(path: source, readOnly: true, busyTimeoutMillis: step)
        let partial = destination + ".partial"
        unlink(partial)
        var summary = Summary(pages: 0, bytes: 0)
        do throws(StoreError) {
            let to = try Connection(path: partial, readOnly: false, busyTimeoutMillis: step)
            guard let backup = sqlite3_backup_init(to.handle, "main", from.handle, "main") else {
                throw to.error(sqlite3_errcode(to.handle), "backup_init")
            }
            var rc: Int32
            repeat {
                rc = sqlite3_backup_step(backup, -1)
                // Busy or locked: another connection holds a lock SQLite must wait out.
                if rc == SQLITE_BUSY || rc == SQLITE_LOCKED {
                    guard MonotonicClock.milliseconds() - start < Int64(waitMillis) else { break }
                    sqlite3_sleep(50)
                }
            } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
            let pages = Int(sqlite3_backup_pagecount(backup))
            let finish = sqlite3_backup_finish(backup)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED {
                throw .busy("\(source) stayed locked for \(waitMillis / 1000) s (another process holds it, in exclusive locking mode or a long write); nothing was copied")
            }
            guard rc == SQLITE_DONE, finish == SQLITE_OK else {
                throw to.error(rc == SQLITE_DONE ? finish : rc, "backup_step")
            }
            let check = try to.scalarText("PRAGMA quick_check")
            guard check == "ok" else { throw StoreError.backend("the copy failed quick_check: \(check ?? "no answer")") }
            // A single self-contained file: no -wal beside it to lose in a copy.
            _ = try to.scalarText("PRAGMA journal_mode=DELETE")
            let pageSize = Int(try to.scalarText("PRAGMA page_size") ?? "") ?? 0
            summary = Summary(pages: pages, bytes: pages * pageSize)
        } catch {
            unlink(partial)
            throw error
        }
        // Durable before it takes the name, and the name durable after.
        let fd = open(partial, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, fsync(fd) == 0 else {
            let message = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            unlink(partial)
            throw .backend("cannot sync \(partial): \(message)")
        }
        close(fd)
        guard rename(partial, destination) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(partial)
            throw .backend("cannot rename \(partial) to \(destination): \(message)")
        }
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { $0 == destination.startIndex ? "/" : String(destination[..<$0]) } ?? "."
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
        return summary
    }
}
