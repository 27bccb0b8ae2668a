import ArgumentParser
import VMStore

/// `memtyped backup`: a consistent copy of a live store, taken while the
/// service keeps serving and writing (SQLite's online backup API).
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memtyped backup",
        abstract: "Copy a live store to FILE, consistent as of one commit, while memtyped keeps writing.",
        discussion: "The copy is checked (PRAGMA quick_check) and synced under FILE.partial, then renamed to FILE. To restore: stop memtyped, replace its store file with the copy (and remove any -wal and -shm files beside it), start memtyped."
    )

    @Option(help: "The store to copy (memtyped's --db). [default: $MEMTYPED_DB, else memtyped.sqlite]")
    var db: String?

    @Option(help: "Where to write the copy; an existing file is replaced.")
    var to: String

    @Option(help: "Seconds to wait in all for a store another process keeps locked; then exit 1, nothing copied. [default: \(SQLiteBackup.defaultWaitMillis / 1000)]")
    var wait: Int?

    func validate() throws {
        if let wait, !(1...86_400).contains(wait) { throw ValidationError("--wait must be from 1 to 86400 seconds") }
    }

    func run() throws {
        let source = db ?? Environment().string(.db) ?? "memtyped.sqlite"
        do {
            let summary = try SQLiteBackup.copy(from: source, to: to, waitMillis: wait.map { $0 * 1000 } ?? SQLiteBackup.defaultWaitMillis)
            print("backed up \(source) to \(to): \(summary.pages) pages, \(summary.bytes) bytes")
        } catch {
            var stderr = StandardError()
            print("memtyped backup: \(error)", to: &stderr)
            throw ExitCode(1)
        }
    }
}
