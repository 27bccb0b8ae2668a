internal import CMicroHTTPDShim

/// How an `HTTPServer` listens, threads, limits and answers its own errors.
public struct HTTPServerConfiguration: Sendable {
    public enum Threading: Sendable, Equatable {
        /// `threads` libmicrohttpd worker threads, each serving its own share
        /// of the connections with poll() (MHD_USE_INTERNAL_POLLING_THREAD |
        /// MHD_USE_POLL, MHD_OPTION_THREAD_POOL_SIZE). With more than one,
        /// a thread of our own (`memtyped-accept`, mhd_accept.c) accepts and
        /// hands each connection to one of them (MHD_add_connection), which
        /// also holds the hard connection limit; a single thread accepts for
        /// itself. The default, sized to the CPUs.
        /// (poll rather than epoll: libmicrohttpd 0.9.75's edge-triggered
        /// epoll keeps a connection whose client sent part of a request and
        /// closed at once until the idle timeout; see mhd_shim.c.)
        case pool(threads: Int)
        /// One thread per connection (MHD_USE_THREAD_PER_CONNECTION, poll()).
        /// Lets a handler block without stalling other connections, at the
        /// cost of a thread per client.
        case threadPerConnection
    }

    /// Where `handle(_:)` runs for requests whose admission asks to be
    /// offloaded (`HTTPAdmission.offload`: handlers that may block, such as
    /// store calls): on this small pool, not on the poll threads. Each poll
    /// thread serves every connection it owns, so a handler waiting there on
    /// a database round trip would stall them all, stateless requests
    /// included. The connection is suspended (MHD_suspend_connection) while
    /// its request waits in the queue and runs; a pool thread then hands the
    /// response back and resumes it. Pool threading only: with
    /// `.threadPerConnection` every connection has its own thread and
    /// handlers run there.
    public struct Offload: Sendable, Equatable {
        /// Threads that run offloaded handlers; 0 runs them on the poll
        /// threads (no offloading).
        public var threads: Int
        /// Requests that may wait for a pool thread; one more is answered
        /// 503 with Retry-After at once (`HTTPHandler.unavailable`).
        public var queueLimit: Int
        /// A request that waited longer than this for a pool thread is
        /// answered 503 instead of run (0 = no limit), milliseconds.
        public var queueTimeoutMillis: Int
        /// The pool threads' scheduling priority, below the poll threads' so
        /// that stateless requests win the CPU when both compete for it.
        public var priority: Priority

        public init(threads: Int, queueLimit: Int = 256, queueTimeoutMillis: Int = 2000, priority: Priority = .idle) {
            self.threads = threads
            self.queueLimit = queueLimit
            self.queueTimeoutMillis = queueTimeoutMillis
            self.priority = priority
        }

        /// How the pool threads are scheduled against the poll threads.
        public enum Priority: Sendable, Equatable, CustomStringConvertible {
            /// SCHED_IDLE: the pool runs on CPU time that nothing at normal
            /// priority wants, so offloaded work never slows a stateless
            /// request; on a host whose CPUs are saturated it slows instead
            /// (and waits past the queue timeout are answered 503).
            case idle
            /// SCHED_OTHER at this nice value (0...19; 0 = the process's own):
            /// a smaller share of a contended CPU, never none.
            case nice(Int)

            /// Parses `idle` or a nice value 0...19; nil for anything else.
            public init?(_ text: String) {
                if text == "idle" { self = .idle; return }
                guard let n = Int(text), Self.niceRange.contains(n) else { return nil }
                self = .nice(n)
            }

            public static let niceRange = 0...19

            public var description: String {
                switch self {
                case .idle: "idle"
                case .nice(let n): String(n)
                }
            }
        }

        /// No pool: offloaded handlers run on the poll threads.
        public static let none = Offload(threads: 0)
    }

    /// PEM files for HTTPS. Both are read when the server starts.
    public struct TLS: Sendable, Equatable {
        public var certificatePath: String
        public var privateKeyPath: String

        public init(certificatePath: String, privateKeyPath: String) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// Address to bind: an IPv4 or IPv6 literal ("127.0.0.1", "0.0.0.0",
    /// "::1", "::"; "[::1]" is accepted too). Names are not resolved.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks an ephemeral port (see `HTTPServer.port`).
    public var port: Int = 8080
    public var threading: Threading = .pool(threads: Int(mhd_shim_cpu_count()))
    /// The pool for handlers that may block (see `Offload`). Default: one
    /// thread per CPU.
    public var offload = Offload(threads: Int(mhd_shim_cpu_count()))
    /// Maximum simultaneous connections. One more evicts the connection that
    /// has waited longest (over a second) for a request head, or, if none
    /// has, is answered 503 with Retry-After (HTTPS: closed) at once rather
    /// than left waiting in the listen backlog.
    public var connectionLimit: Int = 1024
    /// Maximum simultaneous connections from one client address
    /// (MHD_OPTION_PER_IP_CONNECTION_LIMIT; 0 = no limit), so that one
    /// client cannot take every slot of `connectionLimit`. libmicrohttpd
    /// refuses (closes at once) a connection over it. Raise it, or set 0,
    /// behind a reverse proxy, where every client has the proxy's address.
    public var perIPConnectionLimit: Int = 128
    /// Per-connection memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT). It
    /// holds the request line, headers and read buffer, so it also bounds the
    /// header size; libmicrohttpd answers larger headers itself (431/414).
    /// 16 KiB, which takes request headers up to about 15.9 KB (nginx's
    /// default takes 8 KB a line). Not more because libmicrohttpd zeroes the
    /// whole pool after every request on a kept-alive connection
    /// (`MHD_pool_reset`): at 64 KiB that was 6-9% of the server's CPU time
    /// under load, at 16 KiB ~2.5% (perf, see BENCHMARKS.md).
    ///
    /// Request heads larger than `maxRequestHeaderBytes`, which leaves room
    /// in the pool for the response's own headers, get 431.
    public var perConnectionMemoryLimit: Int = 16 * 1024
    /// The largest request head (request line and header fields) served;
    /// a larger one gets 431 from the first handler call (one larger than
    /// the pool, from libmicrohttpd itself). Derived from the pool:
    /// libmicrohttpd 0.9.75 builds a response's headers in what the request
    /// left of it, and a head that left too little (at 16 KiB:
    /// 15,920-16,135 bytes with a body, 16,024-16,263 without) got the
    /// connection closed with no answer at all. So over plain HTTP that 431
    /// is written to the socket past libmicrohttpd (mhd_shim_send_raw); over
    /// HTTPS it is queued as usual, and the window remains.
    public var maxRequestHeaderBytes: Int { perConnectionMemoryLimit - Self.responseHeadroom }
    /// Pool bytes kept for the response's headers (see `maxRequestHeaderBytes`).
    static let responseHeadroom = 1024
    /// Largest request body buffered for the handler; larger ones get 413.
    /// A larger Content-Length is answered at once (before the body, so no
    /// "100 Continue"; the connection is then closed). A chunked body that
    /// outgrows it is discarded and answered 413 when it ends, or the
    /// connection is dropped if it goes on for max(maxBodyBytes, 64 KiB)
    /// more bytes.
    public var maxBodyBytes: Int = 1 << 20
    /// The most that the bodies of all requests in flight may hold together;
    /// a request whose body would go past it gets 503 with Retry-After (with
    /// a Content-Length: before its body is read). At least `maxBodyBytes`.
    public var maxBodyBytesInFlight: Int = 64 << 20
    /// Seconds of inactivity after which a connection is closed
    /// (MHD_OPTION_CONNECTION_TIMEOUT; 0 = never). Also the time a kept-alive
    /// connection has, from a response, to deliver the next request's head
    /// (not restarted by bytes).
    public var idleTimeoutSeconds: Int = 30
    /// Seconds a new connection has to deliver its first request's head
    /// (request line and headers). Bytes do not restart it, unlike the idle
    /// timeout, so a client trickling its headers (slowloris) is cut off.
    /// 0 = no deadline.
    public var headerTimeoutSeconds: Int = 10
    /// Seconds a request has, from the end of its head, to deliver its body
    /// (not restarted by bytes; 0 = no deadline).
    public var bodyTimeoutSeconds: Int = 30
    /// HTTPS when set.
    public var tls: TLS? = nil
    /// How long `stop()` waits for in-flight requests before closing
    /// connections anyway.
    public var shutdownGraceSeconds: Double = 10
    /// `listen()` backlog of the listening socket.
    public var listenBacklog: Int = 511
    /// Let libmicrohttpd write its diagnostics to stderr (MHD_USE_ERROR_LOG).
    /// Off by default: it is noisy about every client that disconnects.
    public var logLibraryErrors: Bool = false
    /// Builds the errors the layer answers by itself: 400 (HTTP/1.1 without
    /// Host; Content-Length twice; Content-Length and Transfer-Encoding
    /// together), 413 (body too large), 431 (head too large), 501 (a
    /// Transfer-Encoding other than chunked), 503 (bodies in flight over
    /// `maxBodyBytesInFlight`, or no connection slot; Retry-After is added)
    /// and 500 (a handler returned a status outside 200...999). The status of
    /// the returned response is forced to `status`. Runs on a worker thread,
    /// like a handler (the slot-full 503 is built once, at start). The
    /// service passes one that writes RFC 9457 problem+json. (Malformed
    /// requests that libmicrohttpd 0.9.75 rejects in its parser, before any
    /// handler call, get its own small HTML bodies: a Content-Length that is
    /// not a number (400, its header block sent twice), a bad chunk, a head
    /// over the whole pool.)
    public var errorResponder: @Sendable (_ status: Int, _ detail: String) -> HTTPResponse =
        HTTPServerConfiguration.plainTextErrorResponder

    public init() {}

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// The default `errorResponder`: `text/plain`, the detail on one line.
    public static let plainTextErrorResponder: @Sendable (_ status: Int, _ detail: String) -> HTTPResponse = {
        status, detail in
        HTTPResponse(
            status: status,
            headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
            body: Array(detail.utf8) + [0x0A]
        )
    }
}
