#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by a pthread mutex (not recursive). `Synchronization.Mutex`
/// would do on Linux, but needs macOS 15 and the package supports macOS 14.
///
/// `@unchecked Sendable`: `value` is only reachable inside `withLock`, which
/// holds the mutex for the whole call.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// `withLock`, but gives up after waiting `milliseconds` for the mutex
    /// and returns nil without running `body`. (Darwin has no timed lock:
    /// there it waits as long as it takes.)
    func withLock<T, E: Error>(waitingAtMost milliseconds: Int32,
                               _ body: (inout Value) throws(E) -> T) throws(E) -> T? {
        #if canImport(Glibc)
        if pthread_mutex_trylock(mutex) != 0 {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            let nanos = Int(deadline.tv_nsec) + Int(max(milliseconds, 0)) * 1_000_000
            deadline.tv_sec += nanos / 1_000_000_000
            deadline.tv_nsec = nanos % 1_000_000_000
            guard pthread_mutex_timedlock(mutex, &deadline) == 0 else { return nil }
        }
        #else
        pthread_mutex_lock(mutex)
        #endif
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
