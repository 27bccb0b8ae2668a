internal import CMicroHTTPD
internal import CMicroHTTPDShim

/// An HTTP/1.1 server over libmicrohttpd.
///
/// When a request's head is in, the handler's `admit(_:)` decides whether it
/// is served; refused requests are answered at once and their body is never
/// read. Admitted bodies are fully buffered (up to `maxBodyBytes`, and
/// `maxBodyBytesInFlight` for all together) and handed to the handler
/// synchronously on a libmicrohttpd worker thread, or, for a request its
/// `admit` marked `offload`, on the offload pool while the connection is
/// suspended (`HTTPServerConfiguration.Offload`, Offload.swift); the
/// returned response is copied into libmicrohttpd and sent. Keep-alive, pipelining,
/// chunked request bodies and `Expect: 100-continue` are handled by
/// libmicrohttpd.
///
/// Lifecycle: `init` -> `start()` -> `stop()`. `start()` may be called once.
/// `stop()` is graceful and idempotent; dropping the last reference to a
/// running server stops it without a grace period.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    let core: ServerCore
    let control: DaemonControl

    public init(configuration: HTTPServerConfiguration, handler: some HTTPHandler) {
        self.configuration = configuration
        self.core = ServerCore(handler: handler, configuration: configuration)
        self.control = DaemonControl()
    }

    deinit {
        control.stop(core: core, graceSeconds: 0)
    }

    /// Binds the listening socket and starts the worker threads. When this
    /// returns the server accepts connections.
    public func start() throws(HTTPServerError) {
        try control.start(configuration: configuration, core: core)
    }

    /// Graceful stop: stop accepting (new connections are refused at once),
    /// let in-flight requests finish for up to `shutdownGraceSeconds` (their
    /// responses carry `Connection: close`; stop waits until nothing has been
    /// in flight for 50 ms, to catch requests still arriving on open
    /// connections), then close every connection and join the worker
    /// threads. Idempotent; concurrent callers all return once the server
    /// has stopped. Must not be called from a handler.
    public func stop() {
        control.stop(core: core, graceSeconds: configuration.shutdownGraceSeconds)
    }

    /// The bound port (useful with port 0); 0 before `start()`.
    public var port: Int { core.load(.port) }

    /// Requests whose headers have arrived and which are being received,
    /// handled or answered (a request leaves once its response was sent or
    /// its connection closed).
    public var inFlight: Int { core.load(.inFlight) }

    /// Connections currently open.
    public var openConnections: Int { core.load(.openConnections) }

    /// Connections accepted since `start()`.
    public var acceptedConnections: Int { core.load(.acceptedConnections) }

    /// True between a successful `start()` and the beginning of `stop()`.
    public var isRunning: Bool { core.load(.running) != 0 }

    /// Body bytes reserved by the requests in flight (see `maxBodyBytesInFlight`).
    public var bodyBytesInFlight: Int { core.load(.bodyBytesInFlight) }

    /// Connections the guard closed since `start()`: past a header, body or
    /// keep-alive deadline (`expired`), evicted for a new connection past the
    /// limit (`evicted`), or refused at the limit (`refused`).
    public var guardCounts: (expired: Int, evicted: Int, refused: Int) { control.guardCounts() }

    /// The offload pool (see `HTTPServerConfiguration.Offload`): requests
    /// waiting for a thread, being handled, refused since `start()` (queue
    /// full or stopping), and answered 503 after waiting past the queue timeout.
    public var offloadCounts: (queued: Int, running: Int, rejected: Int, expired: Int) {
        (core.load(.offloadQueued), core.load(.offloadRunning), core.load(.offloadRejected), core.load(.offloadExpired))
    }

    /// True when called on an offload thread (`HTTPServerConfiguration.Offload`),
    /// which runs under `Offload.priority`, maybe SCHED_IDLE: state a handler
    /// shares with the poll threads under a lock can be kept apart per kind
    /// of thread, so that an offload thread preempted while holding the lock
    /// never stalls a poll thread.
    public static var onOffloadThread: Bool { mhd_shim_on_offload_thread() != 0 }

    /// After `start()`: the errno of the call that failed to give the offload
    /// threads `Offload.priority` (EPERM under a seccomp filter that refuses
    /// sched_setscheduler or setpriority), which then run at the process's
    /// own priority; nil when it applied.
    public var offloadPriorityErrno: Int32? {
        let e = core.load(.offloadPriorityErrno)
        return e == 0 ? nil : Int32(e)
    }
}

// MARK: - Shared state reached from the C callbacks

/// What the libmicrohttpd callbacks need. Immutable apart from the atomic
/// counters, so it is safe to use from every worker thread.
final class ServerCore: @unchecked Sendable {
    enum Counter: Int, CaseIterable {
        case inFlight, openConnections, acceptedConnections, draining, running, port, bodyBytesInFlight
        case offloadQueued, offloadRunning, offloadRejected, offloadExpired, offloadPriorityErrno
    }

    let handler: any HTTPHandler
    let maxBodyBytes: Int
    let maxBodyBytesInFlight: Int
    let maxRequestHeaderBytes: Int
    let tls: Bool
    let errorResponder: @Sendable (_ status: Int, _ detail: String) -> HTTPResponse
    let offloadQueueTimeoutMillis: Int
    /// The offload pool while the daemon runs (pool threading with
    /// `Offload.threads` > 0), else nil. Set before the daemon starts and
    /// cleared after it stopped, so no poll thread sees it change.
    var offload: OpaquePointer?
    private let counters: UnsafeMutablePointer<Int>

    init(handler: any HTTPHandler, configuration c: HTTPServerConfiguration) {
        self.handler = handler
        self.maxBodyBytes = c.maxBodyBytes
        self.maxBodyBytesInFlight = c.maxBodyBytesInFlight
        self.maxRequestHeaderBytes = c.maxRequestHeaderBytes
        self.tls = c.tls != nil
        self.errorResponder = c.errorResponder
        self.offloadQueueTimeoutMillis = c.offload.queueTimeoutMillis
        counters = .allocate(capacity: Counter.allCases.count)
        counters.initialize(repeating: 0, count: Counter.allCases.count)
    }

    deinit {
        counters.deallocate()
    }

    @inline(__always)
    func load(_ counter: Counter) -> Int {
        mhd_shim_atomic_load(counters + counter.rawValue)
    }

    @inline(__always)
    func store(_ counter: Counter, _ value: Int) {
        mhd_shim_atomic_store(counters + counter.rawValue, value)
    }

    @inline(__always)
    func add(_ counter: Counter, _ delta: Int) {
        _ = mhd_shim_atomic_add(counters + counter.rawValue, delta)
    }

    /// Adds `delta` and returns the new value.
    @inline(__always)
    func addAndLoad(_ counter: Counter, _ delta: Int) -> Int {
        mhd_shim_atomic_add(counters + counter.rawValue, delta)
    }
}

// MARK: - Start and stop

/// The daemon handle and everything that lives exactly as long as it.
/// Every access is under `lock`.
final class DaemonControl: @unchecked Sendable {
    private enum Phase { case idle, running, stopped }

    private let lock = mhd_shim_lock_create()
    private var phase = Phase.idle
    private var daemon: OpaquePointer?
    private var listenFD: Int32 = -1
    private var retainedCore: Unmanaged<ServerCore>?
    private var tlsCertificate: PEMBuffer?
    private var tlsKey: PEMBuffer?
    private var guardHandle: OpaquePointer?
    private var offloadPool: OpaquePointer?
    private var acceptor: OpaquePointer?

    deinit {
        mhd_shim_lock_destroy(lock)
    }

    func start(configuration c: HTTPServerConfiguration, core: ServerCore) throws(HTTPServerError) {
        mhd_shim_lock_acquire(lock)
        defer { mhd_shim_lock_release(lock) }
        guard phase == .idle else { throw .alreadyStarted }

        try Self.validate(c)

        var cfg = mhd_shim_config()
        switch c.threading {
        case .pool(let threads):
            cfg.thread_per_connection = 0
            cfg.thread_pool_size = UInt32(threads)
            // Several poll threads: our acceptor spreads connections over
            // them evenly (mhd_accept.c says why).
            cfg.own_accept = threads > 1 ? 1 : 0
        case .threadPerConnection:
            cfg.thread_per_connection = 1
            cfg.thread_pool_size = 0
        }
        cfg.connection_limit = UInt32(c.connectionLimit)
        cfg.per_ip_connection_limit = UInt32(c.perIPConnectionLimit)
        cfg.connection_memory_limit = c.perConnectionMemoryLimit
        cfg.connection_timeout = UInt32(c.idleTimeoutSeconds)
        cfg.log_errors = c.logLibraryErrors ? 1 : 0
        cfg.header_timeout = UInt32(c.headerTimeoutSeconds)
        cfg.body_timeout = UInt32(c.bodyTimeoutSeconds)
        let overflow = core.rawErrorResponse(503, "Every connection slot is taken; retry shortly.")

        // TLS material first: nothing to undo if a file is unreadable.
        var certificate: PEMBuffer?
        var key: PEMBuffer?
        if let tls = c.tls {
            guard mhd_shim_tls_supported() != 0 else { throw .tlsUnsupported }
            certificate = try PEMBuffer(path: tls.certificatePath, secret: false)
            do {
                key = try PEMBuffer(path: tls.privateKeyPath, secret: true)
            } catch {
                certificate?.free()
                throw error
            }
        }
        func freeTLS() {
            certificate?.free()
            key?.free()
        }

        // Our own listening socket: exact errno on bind failure, the bound
        // port without asking MHD, and a descriptor we own whatever MHD does
        // (MHD works on a duplicate).
        var host = c.host
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        var boundPort: Int32 = 0
        var isIPv6: Int32 = 0
        var stage: Int32 = 0
        var err: Int32 = 0
        let fd = mhd_shim_listen(host, Int32(c.port), Int32(c.listenBacklog), &boundPort, &isIPv6, &stage, &err)
        guard fd >= 0 else {
            freeTLS()
            let message = errnoText(err)
            switch Int(stage) {
            case Int(MHD_SHIM_LISTEN_BAD_HOST.rawValue):
                throw .invalidHost(c.host)
            case Int(MHD_SHIM_LISTEN_BIND.rawValue):
                throw .bindFailed(host: c.host, port: c.port, errno: err, message: message)
            case Int(MHD_SHIM_LISTEN_LISTEN.rawValue):
                throw .socketFailed(operation: "listen", errno: err, message: message)
            case Int(MHD_SHIM_LISTEN_GETSOCKNAME.rawValue):
                throw .socketFailed(operation: "getsockname", errno: err, message: message)
            default:
                throw .socketFailed(operation: "socket", errno: err, message: message)
            }
        }
        cfg.listen_fd = fd
        cfg.ipv6 = isIPv6

        let retained = Unmanaged.passRetained(core)
        // The offload pool before the daemon: a poll thread may offload its
        // first request at once. Pool threading only (see Offload).
        var pool: OpaquePointer?
        var startedGuard: OpaquePointer?
        // A failed start undoes what it set up, in reverse order; `daemon`
        // once MHD_start_daemon succeeded. (Each C call here takes NULL.)
        func undoStart(daemon started: OpaquePointer? = nil) {
            if let started {
                mhd_shim_guard_stop(startedGuard)
                MHD_stop_daemon(started)
                mhd_shim_guard_destroy(startedGuard)
            }
            mhd_shim_offload_destroy(pool)
            core.offload = nil
            retained.release()
            mhd_shim_close(fd)
            freeTLS()
        }
        if case .pool = c.threading, c.offload.threads > 0 {
            let (policy, nice): (mhd_shim_offload_policy, Int32) = switch c.offload.priority {
            case .idle: (MHD_SHIM_OFFLOAD_SCHED_IDLE, 0)
            case .nice(let n): (MHD_SHIM_OFFLOAD_SCHED_NICE, Int32(n))
            }
            pool = mhd_shim_offload_start(
                UInt32(c.offload.threads), UInt32(c.offload.queueLimit), Int64(c.offload.queueTimeoutMillis) * 1_000_000,
                policy, nice, offloadCallback, retained.toOpaque())
            guard pool != nil else {
                undoStart()
                throw .daemonStartFailed("cannot start \(c.offload.threads) offload threads")
            }
            cfg.allow_suspend = 1
            core.store(.offloadPriorityErrno, Int(mhd_shim_offload_priority_errno(pool)))
        }
        core.offload = pool
        let started: OpaquePointer? = withOptionalCString(certificate) { certPointer in
            withOptionalCString(key) { keyPointer in
                overflow.withUnsafeBufferPointer { overflowBytes in
                    cfg.tls_cert_pem = certPointer
                    cfg.tls_key_pem = keyPointer
                    cfg.overflow_response = UnsafeRawPointer(overflowBytes.baseAddress)?
                        .assumingMemoryBound(to: CChar.self)
                    cfg.overflow_response_len = overflowBytes.count
                    return mhd_shim_start_daemon(
                        &cfg, accessHandlerCallback, requestCompletedCallback, connectionNotifyCallback,
                        retained.toOpaque(), &startedGuard)
                }
            }
        }
        guard let started else {
            undoStart()
            throw .daemonStartFailed(
                c.tls == nil
                    ? "MHD_start_daemon failed (out of threads or memory?)"
                    : "MHD_start_daemon failed: the TLS certificate or private key was rejected or they do not match")
        }
        if cfg.own_accept != 0 {
            acceptor = mhd_shim_acceptor_start(started, startedGuard, fd, mhd_shim_hard_connection_limit(&cfg))
            guard acceptor != nil else {
                undoStart(daemon: started)
                throw .daemonStartFailed("cannot start the accepting thread")
            }
        }
        daemon = started
        guardHandle = startedGuard
        offloadPool = pool
        listenFD = fd
        retainedCore = retained
        tlsCertificate = certificate
        tlsKey = key
        core.store(.port, Int(boundPort))
        core.store(.draining, 0)
        core.store(.running, 1)
        phase = .running
    }

    func stop(core: ServerCore, graceSeconds: Double) {
        mhd_shim_lock_acquire(lock)
        defer { mhd_shim_lock_release(lock) }
        guard phase == .running, let daemon else { return }

        core.store(.running, 0)
        core.store(.draining, 1)
        // Stop accepting. The descriptor stays open until MHD_stop_daemon
        // returns (a worker might still be about to accept() on it), but it
        // stops listening now, so new connections are refused instead of
        // waiting in the backlog for a server that will never accept them.
        let quiesced = MHD_quiesce_daemon(daemon)  // -1 when our acceptor accepts
        if quiesced >= 0 {
            mhd_shim_refuse_connections(quiesced)
        }
        // A connection our acceptor handed over is counted open only once
        // its poll thread takes it (MHD_add_connection queues it), maybe
        // after a busy moment; until every handover has started, "nothing
        // open" is not final (below). 0 without our acceptor.
        let handedOver = mhd_shim_acceptor_stop(acceptor)
        acceptor = nil

        // Drain: wait until every handed-over connection has started and no
        // request has been in flight for a short settle time (a request is
        // counted once its headers are parsed, so one that is still arriving
        // on an open connection shows up a moment later), or until the grace
        // period is over.
        if graceSeconds > 0 {
            let start = mhd_shim_monotonic_ns()
            let deadline = start + Int64(min(graceSeconds, 86_400) * 1e9)
            let settle = min(Self.drainSettleNanoseconds, deadline - start)
            var idleSince: Int64? = nil
            var pause: Int64 = 500_000
            while true {
                let now = mhd_shim_monotonic_ns()
                if now >= deadline { break }
                if core.load(.inFlight) > 0 || core.load(.acceptedConnections) < handedOver {
                    idleSince = nil
                } else if core.load(.openConnections) == 0 {
                    break  // nothing can arrive any more
                } else if let since = idleSince {
                    if now - since >= settle { break }
                } else {
                    idleSince = now
                }
                mhd_shim_sleep_ns(pause)
                pause = min(pause * 2, 5_000_000)
            }
        }

        // Every offloaded request resumed before MHD_stop_daemon, which must
        // not meet a suspended connection: queued ones are answered 503, the
        // running ones finish (bounded by the handler's own timeouts), and a
        // poll thread offloading from now on is refused and resumes at once.
        mhd_shim_offload_stop(offloadPool)
        // Closes the remaining (idle keep-alive or overdue) connections,
        // firing NOTIFY_COMPLETED for their requests, and joins the threads.
        mhd_shim_guard_stop(guardHandle)
        MHD_stop_daemon(daemon)
        mhd_shim_offload_destroy(offloadPool)
        offloadPool = nil
        core.offload = nil
        mhd_shim_guard_destroy(guardHandle)
        guardHandle = nil
        if quiesced >= 0 {
            // After a quiesce MHD leaves its descriptor to us.
            mhd_shim_close(quiesced)
        }
        mhd_shim_close(listenFD)
        self.daemon = nil
        listenFD = -1
        retainedCore?.release()
        retainedCore = nil
        tlsCertificate?.free()
        tlsKey?.free()
        tlsCertificate = nil
        tlsKey = nil
        phase = .stopped
    }

    func guardCounts() -> (expired: Int, evicted: Int, refused: Int) {
        mhd_shim_lock_acquire(lock)
        defer { mhd_shim_lock_release(lock) }
        var expired = 0, evicted = 0, refused = 0
        mhd_shim_guard_counts(guardHandle, &expired, &evicted, &refused)
        return (expired, evicted, refused)
    }

    /// How long `stop()` waits with nothing in flight before closing the
    /// remaining (idle) connections.
    static let drainSettleNanoseconds: Int64 = 50_000_000

    private static func validate(_ c: HTTPServerConfiguration) throws(HTTPServerError) {
        guard (0...65535).contains(c.port) else {
            throw .invalidConfiguration("port \(c.port) is outside 0...65535")
        }
        if case .pool(let threads) = c.threading, !(1...1024).contains(threads) {
            throw .invalidConfiguration("threading: pool size \(threads) is outside 1...1024")
        }
        guard (1...Int(Int32.max)).contains(c.connectionLimit) else {
            throw .invalidConfiguration("connectionLimit \(c.connectionLimit) must be at least 1")
        }
        guard (0...Int(Int32.max)).contains(c.perIPConnectionLimit) else {
            throw .invalidConfiguration("perIPConnectionLimit \(c.perIPConnectionLimit) must not be negative")
        }
        guard c.perConnectionMemoryLimit >= 4096 else {
            throw .invalidConfiguration(
                "perConnectionMemoryLimit \(c.perConnectionMemoryLimit) must be at least 4096 bytes")
        }
        guard c.maxBodyBytes >= 0 else {
            throw .invalidConfiguration("maxBodyBytes \(c.maxBodyBytes) must not be negative")
        }
        guard (0...Int(Int32.max)).contains(c.idleTimeoutSeconds) else {
            throw .invalidConfiguration("idleTimeoutSeconds \(c.idleTimeoutSeconds) must not be negative")
        }
        guard c.shutdownGraceSeconds >= 0, !c.shutdownGraceSeconds.isNaN else {
            throw .invalidConfiguration("shutdownGraceSeconds \(c.shutdownGraceSeconds) must not be negative")
        }
        guard c.maxBodyBytesInFlight >= c.maxBodyBytes else {
            throw .invalidConfiguration(
                "maxBodyBytesInFlight \(c.maxBodyBytesInFlight) must be at least maxBodyBytes \(c.maxBodyBytes)")
        }
        guard (0...86_400).contains(c.headerTimeoutSeconds), (0...86_400).contains(c.bodyTimeoutSeconds) else {
            throw .invalidConfiguration("headerTimeoutSeconds and bodyTimeoutSeconds must be within 0...86400")
        }
        guard (1...65535).contains(c.listenBacklog) else {
            throw .invalidConfiguration("listenBacklog \(c.listenBacklog) is outside 1...65535")
        }
        guard (0...1024).contains(c.offload.threads), (1...1_000_000).contains(c.offload.queueLimit),
              (0...86_400_000).contains(c.offload.queueTimeoutMillis) else {
            throw .invalidConfiguration(
                "offload: threads 0...1024, queueLimit 1...1000000, queueTimeoutMillis 0...86400000")
        }
        if case .nice(let n) = c.offload.priority, !HTTPServerConfiguration.Offload.Priority.niceRange.contains(n) {
            let range = HTTPServerConfiguration.Offload.Priority.niceRange
            throw .invalidConfiguration("offload: nice \(n) is outside \(range.lowerBound)...\(range.upperBound)")
        }
    }
}

/// A NUL-terminated PEM file in C memory (keys are zeroed when freed).
struct PEMBuffer {
    let pointer: UnsafeMutablePointer<CChar>
    let count: Int
    let secret: Bool

    init(path: String, secret: Bool) throws(HTTPServerError) {
        var length = 0
        var err: Int32 = 0
        guard let pointer = mhd_shim_read_file(path, &length, &err) else {
            throw .tlsFileUnreadable(path: path, errno: err, message: errnoText(err))
        }
        self.pointer = pointer
        self.count = length
        self.secret = secret
        let text = UnsafeRawBufferPointer(start: pointer, count: length)
        guard text.firstRange(of: Array("-----BEGIN ".utf8)) != nil else {
            free()
            throw .tlsFileInvalid(path: path)
        }
    }

    func free() {
        mhd_shim_free_secret(pointer, secret ? count : 0)
    }
}

private func withOptionalCString<R>(
    _ buffer: PEMBuffer?, _ body: (UnsafePointer<CChar>?) -> R
) -> R {
    body(buffer.map { UnsafePointer($0.pointer) })
}

func errnoText(_ err: Int32) -> String {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
        mhd_shim_strerror(err, buffer.baseAddress, 256)
        return String(cString: buffer.baseAddress!)
    }
}
