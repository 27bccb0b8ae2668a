import Clock
import Dispatch
import Locking

/// A bounded pool of libpq connections, and the one place that bounds how
/// long a store call waits for PostgreSQL.
///
/// A call gets one deadline, `timeoutMillis` from its start: waiting for a
/// free connection, connecting, and every round trip count against it
/// (`PGConnection.deadline`). Past it the call fails `.unavailable` (HTTP 503
/// with Retry-After), so an HTTP worker is never held longer than that by
/// a slow, hung or unreachable database.
///
/// Recovery needs no restart: a connection that timed out or lost its server
/// is closed and dropped at check-in, and the next call opens a new one. A
/// failed connect makes calls fail fast for `downBackoffMillis` instead of
/// each one waiting out its own connect attempt against a dead server; after
/// that the next call tries again. A call whose first statement fails on a
/// reused connection (the server restarted while it sat idle) retries once on
/// a fresh connection (nothing had happened on the old one), and the other
/// idle connections, likely dead the same way, are closed.
final class PGPool: Sendable {
    struct Settings: Sendable {
        var conninfo: String
        /// libpq keywords the conninfo and `PG*` variables may override.
        var defaults: [(String, String)]
        var size: Int
        var timeoutMillis: Int
        /// SQL run once on each new connection (session settings).
        var sessionSetup: String
        var downBackoffMillis: Int = 1000
    }

    let settings: Settings
    private let slots: DispatchSemaphore
    private let idle = Locked<[PGConnection]>([])
    /// Monotonic millisecond until which new connects are not attempted.
    private let downUntil = Locked<Int64>(0)

    init(_ settings: Settings) {
        self.settings = settings
        slots = DispatchSemaphore(value: settings.size)
    }

    /// Seconds a client should wait before retrying an unavailable store.
    var retryAfterSeconds: Int { max(1, (settings.timeoutMillis + 999) / 1000) }

    func withConnection<T>(_ body: (PGConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        let start = MonotonicClock.milliseconds()
        let deadline = start + Int64(settings.timeoutMillis)
        guard slots.wait(timeout: .now() + .milliseconds(settings.timeoutMillis)) == .success else {
            throw .unavailable("all \(settings.size) database connections stayed busy for \(settings.timeoutMillis) ms",
                               retryAfterSeconds: retryAfterSeconds)
        }
        defer { slots.signal() }
        var retried = false
        while true {
            let (c, reused) = try checkout(deadline: deadline)
            do throws(StoreError) {
                let result = try body(c)
                checkin(c)
                return result
            } catch {
                let nothingHappened = c.statementsSinceCheckout <= 1
                checkin(c)
                if reused && c.isBroken && !c.timedOut && nothingHappened && !retried {
                    // The server lost this idle session (a restart, a failover,
                    // an administrator): the other idle ones are likely gone
                    // too, so the retry connects afresh instead of taking one.
                    // (A round trip that timed out is not retried: the deadline
                    // has passed, and the server is slow, not gone.)
                    closeIdle()
                    retried = true
                    continue
                }
                throw retryAfter(error)
            }
        }
    }

    /// `.unavailable` errors carry this pool's Retry-After.
    private func retryAfter(_ error: StoreError) -> StoreError {
        if case .unavailable(let message, _) = error { return .unavailable(message, retryAfterSeconds: retryAfterSeconds) }
        return error
    }

    private func checkout(deadline: Int64) throws(StoreError) -> (PGConnection, reused: Bool) {
        if let c = idle.withLock({ $0.popLast() }) {
            c.deadline = deadline
            c.statementsSinceCheckout = 0
            return (c, true)
        }
        let now = MonotonicClock.milliseconds()
        let until = downUntil.withLock { $0 }
        if now < until {
            throw .unavailable("the database was unreachable \(settings.downBackoffMillis - Int(until - now)) ms ago; not retrying yet",
                               retryAfterSeconds: retryAfterSeconds)
        }
        do throws(StoreError) {
            let c = try PGConnection(conninfo: settings.conninfo, defaults: settings.defaults, deadline: deadline)
            try c.execute(settings.sessionSetup)
            c.statementsSinceCheckout = 0
            return (c, false)
        } catch {
            // Only a server that refused or could not be reached holds off the
            // next connects; a connect that ran out of this call's time says
            // nothing about the next call's.
            if case .unavailable = error, MonotonicClock.milliseconds() < deadline {
                let until = MonotonicClock.milliseconds() + Int64(settings.downBackoffMillis)
                downUntil.withLock { $0 = until }
            }
            throw retryAfter(error)
        }
    }

    private func checkin(_ c: PGConnection) {
        // A connection left inside a transaction is not handed to the next caller.
        guard !c.isBroken, !c.inTransaction else {
            c.close()
            return
        }
        c.deadline = .max
        idle.withLock { $0.append(c) }
    }

    /// Closes the idle connections (tests; shutdown).
    func closeIdle() {
        idle.withLock { $0.removeAll() }
    }
}
