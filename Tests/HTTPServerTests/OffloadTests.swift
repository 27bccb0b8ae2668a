import Foundation
import HTTPServer
import HTTPTestSupport
import Testing

/// A handler whose `/store/...` requests ask to be offloaded; `/store/held`
/// waits until the test opens the gate (a handler stuck on a database).
/// Every answer says the scheduling priority of the thread that ran it
/// (X-Priority: `idle` under SCHED_IDLE, else its nice value), so a test sees
/// where it ran: the offload threads run at `Offload.priority`.
struct GatedHandler: HTTPHandler {
    let gate = DispatchSemaphore(value: 0)

    func admit(_ request: inout HTTPRequest) -> HTTPResponse? {
        request.admission.offload = request.path.hasPrefix("/store/")
        return nil
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        if request.path == "/store/held" { gate.wait() }
        // Linux: 0 is the calling thread for both calls. SCHED_IDLE is 5
        // (include/uapi/linux/sched.h); glibc names it only under _GNU_SOURCE.
        let priority = sched_getscheduler(0) == 5
            ? "idle" : String(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        return HTTPResponse(
            status: 200,
            headers: [(name: "X-Priority", value: priority), (name: "X-Offload-Thread", value: String(HTTPServer.onOffloadThread))],
            text: "done " + request.path)
    }

    func open(_ count: Int) { for _ in 0..<count { gate.signal() } }
}

/// A request sent now, its answer read on another thread.
final class PendingRequest: @unchecked Sendable {
    private let thread: TestThread
    private let result = Locked<Result<RawHTTPResponse, RawHTTPClientError>?>(nil)

    init(port: Int, _ target: String, timeout: Double = 20) throws {
        nonisolated(unsafe) let client = try RawHTTPClient(port: port, timeout: timeout)
        try client.sendRequest("GET", target)
        thread = TestThread { [result] in
            let r: Result<RawHTTPResponse, RawHTTPClientError>
            do throws(RawHTTPClientError) { r = .success(try client.readResponse()) } catch { r = .failure(error) }
            result.withLock { $0 = r }
            client.close()
        }
    }

    /// Waits for the answer (or the client's timeout).
    func response() -> Result<RawHTTPResponse, RawHTTPClientError> {
        thread.join()
        return result.withLock { $0! }
    }
}

@Suite struct OffloadTests {
    /// One poll thread owns every connection: before, a handler waiting on
    /// it (a store call on a slow database) stalled every other request.
    func oneThread(_ c: inout HTTPServerConfiguration) {
        c.threading = .pool(threads: 1)
        c.offload = .init(threads: 1, queueLimit: 4, queueTimeoutMillis: 0, priority: .nice(5))
        c.errorResponder = problemResponder
    }

    @Test func aBlockedOffloadedHandlerHoldsUpNoOtherRequest() throws {
        let handler = GatedHandler()
        try withServer(oneThread, handler: handler) { server in
            let held = try PendingRequest(port: server.port, "/store/held")
            #expect(waitUntil { server.offloadCounts.running == 1 })
            // The handler is stuck; the poll thread still serves the others,
            // on a new connection and kept alive.
            let client = try RawHTTPClient(port: server.port, timeout: 10)
            defer { client.close() }
            for _ in 0..<20 {
                let r = try client.request("GET", "/fast")
                #expect(r.status == 200)
                #expect(r.header("X-Priority") == "0")
            }
            #expect(server.offloadCounts.running == 1)
            handler.open(1)
            let r = try held.response().get()
            #expect(r.status == 200)
            #expect(r.bodyText == "done /store/held")
            #expect(r.header("X-Priority") == "5")  // ran on an offload thread, at its nice value
        }
    }

    /// SCHED_IDLE (the library's default): offloaded work runs under it, the
    /// poll threads at the process's own priority.
    @Test func offloadThreadsRunUnderSchedIdle() throws {
        #expect(HTTPServerConfiguration.Offload(threads: 1).priority == .idle)
        try withServer({ oneThread(&$0); $0.offload.priority = .idle }, handler: GatedHandler()) { server in
            #expect(server.offloadPriorityErrno == nil)
            let client = try RawHTTPClient(port: server.port)
            defer { client.close() }
            let offloaded = try client.request("GET", "/store/x")
            #expect(offloaded.header("X-Priority") == "idle")
            #expect(offloaded.header("X-Offload-Thread") == "true")
            let fast = try client.request("GET", "/fast")
            #expect(fast.header("X-Priority") == "0")
            #expect(fast.header("X-Offload-Thread") == "false")  // ServiceMetrics keeps these apart
        }
    }

    @Test func priorityParsesIdleOrANiceValue() {
        typealias Priority = HTTPServerConfiguration.Offload.Priority
        #expect(Priority("idle") == .idle)
        #expect(Priority("0") == .nice(0))
        #expect(Priority("19") == .nice(19))
        for bad in ["20", "-1", "", "IDLE", "5x", " 5"] { #expect(Priority(bad) == nil, "\(bad)") }
        #expect(Priority.idle.description == "idle")
        #expect(Priority.nice(7).description == "7")
    }

    @Test func aNiceValueOutside0To19IsRefusedAtStart() throws {
        var c = HTTPServerConfiguration()
        c.port = 0
        c.threading = .pool(threads: 1)
        c.offload = .init(threads: 1, priority: .nice(20))
        let server = HTTPServer(configuration: c, handler: GatedHandler())
        #expect(throws: HTTPServerError.self) { try server.start() }
    }

    @Test func keptAliveConnectionsCarryOffloadedRequestsInTurn() throws {
        try withServer(oneThread) { server in
            let client = try RawHTTPClient(port: server.port)
            defer { client.close() }
            for i in 0..<50 {
                let r = try client.request(i % 2 == 0 ? "GET" : "POST", i % 3 == 0 ? "/echo" : "/store/x\(i)",
                                           body: i % 2 == 0 ? nil : bytes("body \(i)"))
                #expect(r.status == 200)
            }
        }
    }

    @Test func aFullQueueAnswers503WithRetryAfterAtOnce() throws {
        let handler = GatedHandler()
        try withServer({ oneThread(&$0); $0.offload.queueLimit = 1 }, handler: handler) { server in
            let running = try PendingRequest(port: server.port, "/store/held")
            #expect(waitUntil { server.offloadCounts.running == 1 })
            let queued = try PendingRequest(port: server.port, "/store/held")
            #expect(waitUntil { server.offloadCounts.queued == 1 })

            let r = try RawHTTPClient(port: server.port).request("GET", "/store/more")
            #expect(r.status == 503)
            #expect(r.header("Retry-After") == "1")
            #expect(r.header("Content-Type") == "application/problem+json")
            #expect(r.bodyText.contains("waiting"), "\(r.bodyText)")
            #expect(server.offloadCounts.rejected == 1)

            handler.open(2)
            #expect(try running.response().get().status == 200)
            #expect(try queued.response().get().status == 200)
        }
    }

    @Test func aRequestThatWaitedPastTheQueueTimeoutIsAnswered503() throws {
        let handler = GatedHandler()
        try withServer({ oneThread(&$0); $0.offload.queueTimeoutMillis = 50 }, handler: handler) { server in
            let running = try PendingRequest(port: server.port, "/store/held")
            #expect(waitUntil { server.offloadCounts.running == 1 })
            let queued = try PendingRequest(port: server.port, "/store/held")
            #expect(waitUntil { server.offloadCounts.queued == 1 })
            sleepMilliseconds(200)
            handler.open(1)
            #expect(try running.response().get().status == 200)
            let r = try queued.response().get()
            #expect(r.status == 503)
            #expect(r.header("Retry-After") == "1")
            #expect(server.offloadCounts.expired == 1)
        }
    }

    /// MHD_stop_daemon must not meet a suspended connection: stop answers
    /// what waits in the queue, lets the running handler finish, and returns.
    @Test func stopWithRequestsInThePoolCompletes() throws {
        let handler = GatedHandler()
        let server = HTTPServer(configuration: testConfiguration { oneThread(&$0); $0.shutdownGraceSeconds = 0.2 },
                                handler: handler)
        try server.start()
        let running = try PendingRequest(port: server.port, "/store/held")
        #expect(waitUntil { server.offloadCounts.running == 1 })
        let queued = try PendingRequest(port: server.port, "/store/held")
        #expect(waitUntil { server.offloadCounts.queued == 1 })

        let stopped = Locked(false)
        let stopper = TestThread {
            server.stop()
            stopped.withLock { $0 = true }
        }
        // Past the grace period stop waits for the running handler only.
        #expect(waitUntil { server.offloadCounts.queued == 0 })
        handler.open(1)
        stopper.join()
        #expect(stopped.withLock { $0 })
        #expect(server.inFlight == 0)
        // The queued request was answered 503 or cut by the stop; never run.
        if case .success(let r) = queued.response() {
            #expect(r.status == 503)
            #expect(r.header("Connection") == "close")
        }
        _ = running.response()
    }

    @Test func droppingAServerWithARequestInThePoolDoesNotHang() throws {
        let handler = GatedHandler()
        var server: HTTPServer? = HTTPServer(configuration: testConfiguration(oneThread), handler: handler)
        try server!.start()
        let queuedOnly = try PendingRequest(port: server!.port, "/store/held")
        #expect(waitUntil { server!.offloadCounts.running == 1 })
        handler.open(1)
        server = nil  // stop without a grace period
        _ = queuedOnly.response()
    }

    /// With a thread per connection, handlers run on their connection's
    /// thread (nothing else to stall): no offload thread, no suspend.
    @Test func threadPerConnectionRunsOffloadedRoutesInline() throws {
        let handler = GatedHandler()
        try withServer({ oneThread(&$0); $0.threading = .threadPerConnection }, handler: handler) { server in
            let held = try PendingRequest(port: server.port, "/store/held")
            #expect(waitUntil { server.inFlight == 1 })
            let r = try RawHTTPClient(port: server.port).request("GET", "/fast")
            #expect(r.status == 200)
            handler.open(1)
            let h = try held.response().get()
            #expect(h.status == 200)
            #expect(h.header("X-Priority") == "0")
            #expect(server.offloadCounts == (0, 0, 0, 0))
        }
    }

    @Test(.enabled(if: commandExists("openssl") && commandExists("curl")))
    func offloadedRequestsAreResumedOverTLS() throws {
        let tls = try TestCertificate("memtyped-offload-tls")
        defer { tls.remove() }
        let (cert, key) = (tls.cert, tls.key)
        let handler = GatedHandler()
        try withServer({
            oneThread(&$0)
            $0.offload.threads = 2
            $0.tls = .init(certificatePath: cert, privateKeyPath: key)
        }, handler: handler) {
            server in
            let url = "https://127.0.0.1:\(server.port)"
            let held = TestThread {
                _ = run(["curl", "-sS", "-k", "--max-time", "20", url + "/store/held"])
            }
            #expect(waitUntil { server.offloadCounts.running == 1 })
            // Two requests on one kept-alive TLS connection, one offloaded,
            // while the held one waits.
            let result = run(["curl", "-sS", "-k", "--max-time", "10", "-D", "-", url + "/store/a", url + "/fast"])
            #expect(result?.status == 0)
            #expect(result?.output.contains("done /store/a") == true)
            #expect(result?.output.contains("done /fast") == true)
            #expect(result?.output.lowercased().contains("x-priority: 5") == true)
            handler.open(1)
            held.join()
        }
    }
}
