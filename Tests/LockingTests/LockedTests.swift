import Foundation
import Locking
import Testing

@Suite struct LockedTests {
    /// Threads that each add one, many times, lose no update.
    @Test func concurrentUpdatesAreNotLost() {
        let counter = Locked(0)
        let threads = 8, rounds = 20_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<rounds { counter.withLock { $0 += 1 } }
        }
        #expect(counter.withLock { $0 } == threads * rounds)
    }

    /// A throwing body releases the lock: the next caller gets it.
    @Test func aThrowingBodyReleasesTheLock() {
        struct Failure: Error {}
        let value = Locked([1])
        #expect(throws: Failure.self) { try value.withLock { (_: inout [Int]) throws(Failure) in throw Failure() } }
        #expect(value.withLock { $0.append(2); return $0 } == [1, 2])
    }
}
