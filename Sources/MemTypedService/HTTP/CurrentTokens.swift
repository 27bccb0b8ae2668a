#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The token set in force, replaceable while requests run (SIGHUP re-reads the
/// tokens file). A request reads the set once and authorizes against that
/// value, so a swap never changes the answer half-way through a request; the
/// next request sees the new set.
///
/// `@unchecked Sendable`: `value` is only read or written with the rwlock held.
public final class CurrentTokens: @unchecked Sendable {
    private var value: TokenAuth
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    public init(_ value: TokenAuth) {
        self.value = value
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    public var auth: TokenAuth {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return value
    }

    public func replace(with auth: TokenAuth) {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        value = auth
    }
}

extension TokenAuth {
    /// How many tokens the set holds (for the log line of a reload).
    public var count: Int { entries.count }
}
