#if canImport(Glibc)
import Glibc
#endif

/// The service manager's notification protocol (sd_notify(3)), spoken
/// directly: one datagram of `KEY=VALUE` lines to the AF_UNIX socket named by
/// `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading "@").
/// No libsystemd: the protocol is documented as stable and is a few lines.
/// Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every call
/// does nothing.
final class SystemdNotifier: @unchecked Sendable {
    private let fd: Int32
    private var address = sockaddr_un()
    private var addressLength = socklen_t(0)
    /// Half the watchdog interval systemd asked for (`WatchdogSec=`), if any.
    let watchdogInterval: Duration?

    init?(environment: Environment) {
        guard let name = environment.string("NOTIFY_SOCKET"),
              name.hasPrefix("/") || name.hasPrefix("@") else { return nil }
        var path = Array(name.utf8)
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }

        // WATCHDOG_PID, when set, names the process the watchdog is meant for.
        let forUs = environment.string("WATCHDOG_PID").map { Int32($0) == getpid() } ?? true
        if forUs, let text = environment.string("WATCHDOG_USEC"), let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    deinit { close(fd) }

    /// Sends one state change, e.g. "READY=1". Failures are ignored, as
    /// sd_notify's callers do: the service works the same without a manager.
    /// Never blocks (MSG_DONTWAIT): a receiver that stopped reading must not
    /// hold up a stop or the watchdog thread.
    func notify(_ state: String) {
        var bytes = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                sendto(fd, &bytes, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), sa, addressLength)
            }
        }
    }

    /// Pings `WATCHDOG=1` every half interval from its own thread for as long
    /// as `alive()` holds (the HTTP server is running). A process that stops
    /// being scheduled, or a server that stopped on its own, stops the pings
    /// and systemd restarts the service.
    func startWatchdog(alive: @escaping @Sendable () -> Bool) {
        guard let interval = watchdogInterval else { return }
        let (seconds, attoseconds) = interval.components
        let box = Unmanaged.passRetained(WatchdogContext(notifier: self, alive: alive,
                                                         pause: timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))))
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let context = Unmanaged<WatchdogContext>.fromOpaque(raw!).takeRetainedValue()
            while context.alive() {
                context.notifier.notify("WATCHDOG=1")
                var pause = context.pause
                var remaining = timespec()
                while nanosleep(&pause, &remaining) != 0 && errno == EINTR { pause = remaining }
            }
            return nil
        }, box.toOpaque())
        pthread_detach(thread)
    }
}

private final class WatchdogContext: @unchecked Sendable {
    let notifier: SystemdNotifier
    let alive: @Sendable () -> Bool
    let pause: timespec
    init(notifier: SystemdNotifier, alive: @escaping @Sendable () -> Bool, pause: timespec) {
        self.notifier = notifier
        self.alive = alive
        self.pause = pause
    }
}
