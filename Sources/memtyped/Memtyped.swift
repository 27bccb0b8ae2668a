import ArgumentParser
import HTTPServer
import MemTypeEngine
import Logging
import MemTypedService
import VMStore

#if canImport(Glibc)
import Glibc
#endif

/// `memtyped backup ...` runs `Backup`; anything else is the service. (Not an
/// ArgumentParser subcommand: the service's own `--db` would take the
/// subcommand's.)
@main
enum Entry {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "backup" {
            Backup.main(Array(arguments.dropFirst()))
        } else {
            Memtyped.main(arguments)
        }
    }
}

/// `memtyped`: the HTTP service. Every option has a `MEMTYPED_*` environment
/// equivalent (`--port` / `MEMTYPED_PORT`); a flag given on the command line wins.
struct Memtyped: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve KVM guest memory-type decisions and per-VM quirk records over HTTP.",
        discussion: "Environment: " + Setting.allCases.map(\.environmentName).joined(separator: ", ") + ". Under systemd: the tokens come from $CREDENTIALS_DIRECTORY/tokens (LoadCredential=tokens:PATH) unless --tokens is given; READY=1, STOPPING=1 and WATCHDOG=1 go to $NOTIFY_SOCKET (Type=notify). SIGHUP re-reads the tokens file. `memtyped backup --db PATH --to FILE` copies a live store (see `memtyped backup --help`).",
        version: memtypedVersion
    )

    @Option(help: "Address to listen on (IPv4 or IPv6 literal). [default: 127.0.0.1]")
    var host: String?

    @Option(help: "TCP port; 0 picks a free one (printed at start). [default: 8080]")
    var port: Int?

    @Option(help: "Worker threads in the pool (each polls its own connections and serves the stateless routes). [default: number of CPUs]")
    var threads: Int?

    @Option(help: "Store threads: requests that touch the store run on these, off the worker threads, so a slow database never holds up a stateless decision (also the PostgreSQL store's connections); 0 runs them on the worker threads. [default: number of CPUs; with a PostgreSQL store 2x that]")
    var storeThreads: Int?

    @Option(help: "Store requests that may wait for a store thread; past it, 503 with Retry-After (as is one that waited longer than --db-timeout or --store-busy-timeout). [default: 256]")
    var storeQueue: Int?

    @Option(help: "Scheduling priority of the store threads, below the worker threads' so that stateless requests win the CPU: `idle` (SCHED_IDLE: store work runs on CPU time the rest leaves; on a saturated host it slows, and past the queue wait answers 503) or a nice value 0-19 (a smaller share, never none; 0 = the worker threads' own). [default: idle with a PostgreSQL store, 5 with SQLite]")
    var storePriority: String?

    @Flag(help: "One thread per connection instead of the pool.")
    var threadPerConnection = false

    @Option(help: "Maximum concurrent connections. [default: 1024]")
    var connectionLimit: Int?

    @Option(help: "Maximum concurrent connections from one client address; 0 = no limit (behind a reverse proxy, raise it or use 0). [default: 128]")
    var perIpConnectionLimit: Int?

    @Option(help: "Per-connection memory for headers and buffers, bytes; bounds the request header size. [default: 16384]")
    var connectionMemoryLimit: Int?

    @Option(help: "Largest request body accepted, bytes; larger gets 413. [default: 1048576]")
    var maxBody: Int?

    @Option(help: "Most bytes all request bodies being received may hold together; past it, 503 with Retry-After. [default: 67108864]")
    var maxBodyInFlight: Int?

    @Option(help: "Close connections idle this long, seconds; also the time a kept-alive connection has to send its next request's headers. [default: 30]")
    var idleTimeout: Int?

    @Option(help: "Seconds a new connection has to send its request line and headers, however it trickles them. [default: 10]")
    var headerTimeout: Int?

    @Option(help: "Seconds a request has to send its body once its headers are in. [default: 30]")
    var bodyTimeout: Int?

    @Option(help: "PEM certificate for HTTPS (with --tls-key).")
    var tlsCert: String?

    @Option(help: "PEM private key for HTTPS (with --tls-cert).")
    var tlsKey: String?

    @Flag(help: "Log one line per request at level info (costs more than a decision under load).")
    var accessLog = false

    @Option(help: "Least severe log level written: trace, debug, info, notice, warning, error, critical. [default: info]")
    var logLevel: String?

    @Option(help: "Log line format on stderr: text, or json (one object per line). [default: text]")
    var logFormat: String?

    @Option(help: "Largest batch for POST /v1/decisions/batch. [default: 1000]")
    var maxBatch: Int?

    @Option(help: """
        The VM-config store: a SQLite file (created on first start), or a postgresql:// (postgres://) URL \
        for a store shared by several instances (libpq's URI: every libpq parameter and PG* variable applies; \
        the password comes from the URL, PGPASSWORD, or ~/.pgpass / PGPASSFILE; logs show the URL without it). \
        [default: memtyped.sqlite]
        """)
    var db: String?

    @Option(help: "PostgreSQL store: how long each store call waits for the database in all (a free connection, connecting, each query; also statement_timeout), milliseconds; past it, 503 with Retry-After. A request making several calls (conditional writes, baseline moves) may take a multiple of it. [default: 2000]")
    var dbTimeout: Int?

    @Option(help: "Current baseline: what VMs created without one get (see GET /v1/baselines). [default: \(Baseline.current.name)]")
    var baseline: String?

    @Option(help: "Tokens file: one 'NAME TOKEN' pair per line ('NAME TOKEN read' for read-only). Writes need a token.")
    var tokens: String?

    @Flag(help: "Reads need a bearer token too.")
    var readAuth = false

    @Option(help: "SQLite store: entries of the in-memory memo of per-VM decision inputs (exact: checked against SQLite's data_version on every read; a few hundred bytes each); 0 turns it off (the PostgreSQL store has none: every lookup reads the database). [default: 131072]")
    var decisionMemo: Int?

    @Option(help: "SQLite store: longest a store call waits for the database lock, milliseconds; then 503 with Retry-After. [default: \(SQLiteVMStore.defaultBusyTimeoutMillis)]")
    var storeBusyTimeout: Int?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be from 0 to 65535") }
        if let n = perIpConnectionLimit, n < 0 { throw ValidationError("--per-ip-connection-limit must not be negative") }
    }

    func run() throws {
        do {
            try serve()
        } catch let failure as StartupFailure {
            var stderr = StandardError()
            print("memtyped: \(failure)", to: &stderr)
            throw ExitCode(1)
        }
    }

    private func serve() throws {
        let env = Environment()
        let storeLocation = StoreLocation(db ?? env.string(.db) ?? "memtyped.sqlite")
        var http = HTTPServerConfiguration()
        http.host = host ?? env.string(.host) ?? http.host
        http.port = try port ?? env.int(.port, in: 0...65535) ?? http.port
        let pool = try threads ?? env.int(.threads, in: 1...1024)
        let perConnection = try env.bool(.threadPerConnection) ?? false
        if threadPerConnection || perConnection {
            http.threading = .threadPerConnection
        } else if let pool {
            http.threading = .pool(threads: pool)
        }
        // Store routes run on the store threads (HTTPServerConfiguration.Offload).
        // A store thread waiting on a PostgreSQL round trip holds no core, so
        // that backend gets more of them (BENCHMARKS.md, issue 12).
        let cpus = http.offload.threads
        let storeDefault = if case .postgres = storeLocation { min(2 * cpus, 1024) } else { cpus }
        http.offload.threads = try storeThreads.map { n throws(ValidationError) in
            guard (0...1024).contains(n) else { throw ValidationError("--store-threads must be from 0 to 1024") }
            return n
        } ?? env.int(.storeThreads, in: 0...1024) ?? storeDefault
        http.offload.queueLimit = try storeQueue.map { n throws(ValidationError) in
            guard (1...1_000_000).contains(n) else { throw ValidationError("--store-queue must be from 1 to 1000000") }
            return n
        } ?? env.int(.storeQueue, in: 1...1_000_000) ?? http.offload.queueLimit
        // SCHED_IDLE pays with a PostgreSQL store: a store thread there mostly
        // waits on its round trip, and yielding the CPU keeps decisions at
        // full speed beside lookups. With SQLite the store call is the
        // lookup's whole work, a few microseconds of this host's CPU, and
        // under SCHED_IDLE it would wait behind every poll thread's wake-up,
        // so nice 5 there (both measured: BENCHMARKS.md, "Session 7").
        let priorityDefault: HTTPServerConfiguration.Offload.Priority = if case .postgres = storeLocation { .idle } else { .nice(5) }
        http.offload.priority = try (storePriority ?? env.string(.storePriority)).map { text throws(ValidationError) in
            guard let priority = HTTPServerConfiguration.Offload.Priority(text) else {
                let range = HTTPServerConfiguration.Offload.Priority.niceRange
                throw ValidationError("--store-priority (\(Setting.storePriority.environmentName)) must be idle or a nice value from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            return priority
        } ?? priorityDefault
        http.connectionLimit = try connectionLimit ?? env.int(.connectionLimit, in: 1...1_000_000) ?? http.connectionLimit
        http.perIPConnectionLimit = try perIpConnectionLimit ?? env.int(.perIpConnectionLimit, in: 0...1_000_000) ?? http.perIPConnectionLimit
        http.perConnectionMemoryLimit = try connectionMemoryLimit ?? env.int(.connectionMemoryLimit, in: 4096...(64 << 20)) ?? http.perConnectionMemoryLimit
        http.maxBodyBytes = try maxBody ?? env.int(.maxBody, in: 1...(1 << 30)) ?? http.maxBodyBytes
        http.maxBodyBytesInFlight = try maxBodyInFlight ?? env.int(.maxBodyInFlight, in: 1...(1 << 40)) ?? max(http.maxBodyBytesInFlight, http.maxBodyBytes)
        http.idleTimeoutSeconds = try idleTimeout ?? env.int(.idleTimeout, in: 1...86400) ?? http.idleTimeoutSeconds
        http.headerTimeoutSeconds = try headerTimeout ?? env.int(.headerTimeout, in: 1...86400) ?? http.headerTimeoutSeconds
        http.bodyTimeoutSeconds = try bodyTimeout ?? env.int(.bodyTimeout, in: 1...86400) ?? http.bodyTimeoutSeconds
        switch (tlsCert ?? env.string(.tlsCert), tlsKey ?? env.string(.tlsKey)) {
        case let (cert?, key?): http.tls = .init(certificatePath: cert, privateKeyPath: key)
        case (nil, nil): break
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
        http.errorResponder = MemTypedService.errorResponder

        var service = ServiceConfiguration()
        let logEnv = try env.bool(.accessLog) ?? false
        service.accessLog = accessLog || logEnv
        service.maxBatchSize = try maxBatch ?? env.int(.maxBatch, in: 1...100_000) ?? service.maxBatchSize

        let levelName = logLevel ?? env.string(.logLevel) ?? Logger.Level.info.rawValue
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level \(levelName); known: " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let formatName = logFormat ?? env.string(.logFormat) ?? LogFormat.text.rawValue
        guard let format = LogFormat(rawValue: formatName) else {
            throw ValidationError("unknown log format \(formatName); known: text, json")
        }
        LoggingSystem.bootstrap { format.handler(label: $0, level: level) }
        let logger = Logger(label: "memtyped")

        let baselineName = baseline ?? env.string(.baseline) ?? Baseline.current.name
        guard let current = Baseline.named(baselineName) else {
            throw ValidationError("unknown baseline \(baselineName); known: " + Baseline.catalogue.map(\.name).joined(separator: ", "))
        }
        let location = storeLocation
        // The threads that call the store: the store threads (or the worker
        // threads without them), or with a thread per connection, up to 8
        // connections' threads at once.
        let workers = switch http.threading {
        case .pool(let n): http.offload.threads > 0 ? http.offload.threads : n
        case .threadPerConnection: 8
        }
        // A store that cannot be used (a damaged SQLite file, an unreachable
        // database, a schema newer than this build) is refused here, in one
        // line and without the usage text (it is no usage error).
        let checkStart = ContinuousClock.now
        do {
            switch location {
            case .sqlite(let path):
                try Setting.dbTimeout.refuse(flag: dbTimeout, env: env, "is for a PostgreSQL store; a SQLite store's wait for its lock is --store-busy-timeout")
                var options = SQLiteVMStore.Options(currentBaseline: current)
                options.maxIdleReaders = max(options.maxIdleReaders, workers)
                options.decisionMemoEntries = try decisionMemo.map { n throws(ValidationError) in
                    guard (0...10_000_000).contains(n) else { throw ValidationError("--decision-memo must be from 0 to 10000000") }
                    return n
                } ?? env.int(.decisionMemo, in: 0...10_000_000) ?? options.decisionMemoEntries
                options.busyTimeoutMillis = Int32(try storeBusyTimeout.map { n throws(ValidationError) in
                    guard (0...60_000).contains(n) else { throw ValidationError("--store-busy-timeout must be from 0 to 60000") }
                    return n
                } ?? env.int(.storeBusyTimeout, in: 0...60_000) ?? Int(options.busyTimeoutMillis))
                // A request waits for a store thread at most as long as for the lock.
                http.offload.queueTimeoutMillis = max(Int(options.busyTimeoutMillis), 1)
                let store = try SQLiteVMStore(path: path, options: options)
                try store.quickCheck()
                service.store = store
            case .postgres(let url):
                try Setting.decisionMemo.refuse(flag: decisionMemo, env: env, "is for a SQLite store; a PostgreSQL store has no memo (every lookup reads the database)")
                try Setting.storeBusyTimeout.refuse(flag: storeBusyTimeout, env: env, "is for a SQLite store; a PostgreSQL store's waits are bounded by --db-timeout")
                var options = PostgresVMStore.Options(currentBaseline: current, connections: workers)
                options.log = { logger.notice("\($0)") }
                options.timeoutMillis = try dbTimeout.map { n throws(ValidationError) in
                    guard (1...600_000).contains(n) else { throw ValidationError("--db-timeout must be from 1 to 600000") }
                    return n
                } ?? env.int(.dbTimeout, in: 1...600_000) ?? options.timeoutMillis
                // A request waits for a store thread at most as long as for a connection.
                http.offload.queueTimeoutMillis = options.timeoutMillis
                service.store = try PostgresVMStore(conninfo: url, options: options)
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw StartupFailure("cannot use the store \(location): \(error)")
        }
        let checked = if case .sqlite = location { "passed quick_check" } else { "reached, schema current," }
        logger.notice("store \(location) \(checked) in \(ContinuousClock.now - checkStart), current baseline \(current.name)")
        // The tokens after the store: a store that cannot be used is the one
        // line at start, not preceded by what the tokens file said.
        let readAuthEnv = try env.bool(.readAuth) ?? false
        service.auth = TokenAuth(readsRequireToken: readAuth || readAuthEnv)
        let tokenFile = TokenFile.locate(explicit: tokens ?? env.string(.tokens), environment: env)
            .map { TokenFile(path: $0, readsRequireToken: readAuth || readAuthEnv) }
        if let tokenFile {
            service.auth = try tokenFile.load()
            tokenFile.warnIfExposed(logger)
            logger.notice("\(service.auth.count) tokens from \(tokenFile.path)")
        } else {
            logger.warning("no --tokens file: every write to the VM store will be refused (401)")
        }

        // Block SIGINT/SIGTERM/SIGHUP before any server thread exists, so
        // every thread inherits the mask and the main thread alone receives them.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let server = HTTPServer(configuration: http, handler: MemTypedService(configuration: service, logger: logger))
        do {
            try server.start()
        } catch {
            throw StartupFailure("cannot start: \(error)")
        }
        let scheme = http.tls == nil ? "http" : "https"
        let shownHost = http.host.contains(":") ? "[\(http.host)]" : http.host
        logger.notice("memtyped listening on \(scheme)://\(shownHost):\(server.port)")
        if let errno = server.offloadPriorityErrno {
            logger.warning("store threads: cannot lower their priority to \(http.offload.priority) (\(String(cString: strerror(errno)))); they run at the worker threads' priority, so store calls compete with stateless requests for the CPU")
        }

        // Listening and the store open: tell systemd (Type=notify).
        let notifier = SystemdNotifier(environment: env)
        notifier?.notify("READY=1\nSTATUS=listening on port \(server.port)")
        notifier?.startWatchdog { [server] in server.isRunning }

        var received: Int32 = 0
        while true {
            sigwait(&signals, &received)
            guard received == SIGHUP else { break }
            // Re-read the tokens: a file that does not parse (or cannot be
            // read) leaves the tokens in force as they were.
            guard let tokenFile else {
                logger.notice("SIGHUP: no tokens file to re-read")
                continue
            }
            do {
                let fresh = try tokenFile.load()
                service.tokens.replace(with: fresh)
                logger.notice("SIGHUP: \(fresh.count) tokens re-read from \(tokenFile.path)")
            } catch {
                logger.error("SIGHUP: keeping the tokens in force: \(error)")
            }
        }
        notifier?.notify("STOPPING=1")
        logger.notice("signal \(received): stopping (finishing \(server.inFlight) in-flight requests)")
        server.stop()
        logger.notice("stopped")
    }
}

/// The settings that have a `MEMTYPED_*` environment variable, by their
/// option's long name: the variable's name is derived from it here, once
/// (`store-threads` -> `MEMTYPED_STORE_THREADS`), and `--help` lists them
/// from `allCases`.
enum Setting: String, CaseIterable {
    case host
    case port
    case threads
    case storeThreads = "store-threads"
    case storeQueue = "store-queue"
    case storePriority = "store-priority"
    case threadPerConnection = "thread-per-connection"
    case connectionLimit = "connection-limit"
    case perIpConnectionLimit = "per-ip-connection-limit"
    case connectionMemoryLimit = "connection-memory-limit"
    case maxBody = "max-body"
    case maxBodyInFlight = "max-body-in-flight"
    case idleTimeout = "idle-timeout"
    case headerTimeout = "header-timeout"
    case bodyTimeout = "body-timeout"
    case tlsCert = "tls-cert"
    case tlsKey = "tls-key"
    case accessLog = "access-log"
    case logLevel = "log-level"
    case logFormat = "log-format"
    case maxBatch = "max-batch"
    case db
    case dbTimeout = "db-timeout"
    case baseline
    case tokens
    case readAuth = "read-auth"
    case decisionMemo = "decision-memo"
    case storeBusyTimeout = "store-busy-timeout"

    var environmentName: String {
        "MEMTYPED_" + String(rawValue.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Refuses a setting for the other kind of store, from the command line
    /// or the environment: ignored, it would be a setting someone believes in.
    func refuse(flag: Int?, env: Environment, _ why: String) throws(ValidationError) {
        if flag != nil { throw ValidationError("--\(rawValue) \(why)") }
        if let value = env.string(self) { throw ValidationError("\(environmentName)=\(value) \(why)") }
    }
}

/// Environment variables, with errors that name the variable.
struct Environment {
    func string(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }

    func string(_ setting: Setting) -> String? { string(setting.environmentName) }

    func int(_ setting: Setting, in range: ClosedRange<Int>) throws -> Int? {
        let name = setting.environmentName
        guard let s = string(name) else { return nil }
        guard let v = Int(s), range.contains(v) else { throw ValidationError("\(name)=\(s): expected an integer in \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    func bool(_ setting: Setting) throws -> Bool? {
        let name = setting.environmentName
        guard let s = string(name) else { return nil }
        switch s.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("\(name)=\(s): expected true or false")
        }
    }
}
