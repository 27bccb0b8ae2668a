import Locking

/// An exact in-process memo of `SQLiteVMStore.decisionInputs`, shared by
/// the store's read connections.
///
/// Why it is exact: SQLite's `PRAGMA data_version` on a connection changes
/// whenever a *different* connection (this store's writer, another store on
/// the same file, another process) has committed since that connection last
/// asked (https://www.sqlite.org/pragma.html#pragma_data_version). Read
/// connections never write, so for them any change means a commit. Every
/// lookup first asks its connection; if the value moved (or the connection
/// never asked before), the memo is emptied and its epoch advances before
/// anything is looked up. So a lookup never returns an entry older than a
/// commit that finished before the lookup's own check.
///
/// A miss reads the row in a later statement that may already see a newer
/// commit; the entry is stored under the epoch the lookup began with, and
/// only if no other lookup advanced the epoch meanwhile: a newer commit is
/// then caught by the next check on any connection, which empties the memo.
final class DecisionMemo: @unchecked Sendable {
    private struct State {
        var epoch: UInt64 = 0
        var entries: [String: VMDecisionInputs] = [:]
        /// Lookups answered from the memo, and those that went to SQLite
        /// (counted under the lock the lookup takes anyway).
        var hits = 0
        var misses = 0
    }

    private let state = Locked(State())
    /// At most this many entries; when full the memo is emptied (memory stays
    /// bounded, it refills from reads).
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The memoized inputs of `id`, if any, and the epoch to fill under.
    /// `committed`: the caller's connection saw `data_version` move.
    func lookup(_ id: String, committed: Bool) -> (hit: VMDecisionInputs?, epoch: UInt64) {
        state.withLock { s in
            if committed {
                // Not keepingCapacity: emptying a table sized for a full memo
                // would visit every bucket again on each later commit.
                s.epoch &+= 1
                s.entries = [:]
                s.misses &+= 1
                return (nil, s.epoch)
            }
            let hit = s.entries[id]
            if hit == nil { s.misses &+= 1 } else { s.hits &+= 1 }
            return (hit, s.epoch)
        }
    }

    /// Stores inputs read after a `lookup` that returned `epoch`, unless a
    /// commit was seen since.
    func fill(_ id: String, _ inputs: VMDecisionInputs, epoch: UInt64) {
        state.withLock { s in
            guard s.epoch == epoch else { return }
            if s.entries.count >= capacity { s.entries = [:] }
            s.entries[id] = inputs
        }
    }

    /// Lookups answered from the memo and those that read SQLite, since start.
    var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }

    /// Test hook: the number of entries held.
    var count: Int { state.withLock { $0.entries.count } }
}
