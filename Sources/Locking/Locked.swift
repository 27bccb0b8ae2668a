#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by a mutex: the package's one lock type (the store's
/// connections and memo, the service's metrics). A pthread mutex of the
/// error-checking kind: `Synchronization.Mutex` would do on Linux, but
/// needs macOS 15 and the package supports macOS 14.
///
/// Every pthread call's result is checked, in release builds too: a lock
/// that cannot be initialised, taken or released (a thread re-locking what
/// it holds is `EDEADLK` with this mutex kind, instead of a silent hang)
/// stops the process with the error, rather than running on unguarded.
///
/// `@unchecked Sendable`: `value` is only reachable inside `withLock`, which
/// holds the mutex for the whole call.
public final class Locked<Value>: @unchecked Sendable {
    @usableFromInline var value: Value
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        var attributes = pthread_mutexattr_t()
        Locked.check(pthread_mutexattr_init(&attributes), "pthread_mutexattr_init")
        Locked.check(pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK)), "pthread_mutexattr_settype")
        Locked.check(pthread_mutex_init(mutex, &attributes), "pthread_mutex_init")
        Locked.check(pthread_mutexattr_destroy(&attributes), "pthread_mutexattr_destroy")
    }

    deinit {
        Locked.check(pthread_mutex_destroy(mutex), "pthread_mutex_destroy")
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock. Inlinable, so a caller
    /// in another module gets it specialized (it is on the request path).
    @inlinable
    public func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        Locked.check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        defer { Locked.check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock") }
        return try body(&value)
    }

    /// `withLock`, but gives up after waiting `milliseconds` for the mutex
    /// and returns nil without running `body`. (Darwin has no timed lock:
    /// there it waits as long as it takes.) Only a timeout gives up; any
    /// other failure stops, as in `withLock`.
    public func withLock<T, E: Error>(waitingAtMost milliseconds: Int32,
                                      _ body: (inout Value) throws(E) -> T) throws(E) -> T? {
        #if canImport(Glibc)
        let tried = pthread_mutex_trylock(mutex)
        if tried == EBUSY {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            let nanos = Int(deadline.tv_nsec) + Int(max(milliseconds, 0)) * 1_000_000
            deadline.tv_sec += nanos / 1_000_000_000
            deadline.tv_nsec = nanos % 1_000_000_000
            let waited = pthread_mutex_timedlock(mutex, &deadline)
            if waited == ETIMEDOUT { return nil }
            Locked.check(waited, "pthread_mutex_timedlock")
        } else {
            Locked.check(tried, "pthread_mutex_trylock")
        }
        #else
        Locked.check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        #endif
        defer { Locked.check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock") }
        return try body(&value)
    }

    /// Stops on a non-zero pthread result, naming the call and the error.
    @inlinable
    static func check(_ result: Int32, _ call: StaticString) {
        if result != 0 { failed(result, call) }
    }

    @usableFromInline
    static func failed(_ result: Int32, _ call: StaticString) -> Never {
        fatalError("\(call) failed: \(String(cString: strerror(result))) (\(result))")
    }
}
