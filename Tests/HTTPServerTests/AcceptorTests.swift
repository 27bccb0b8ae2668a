import Foundation
import HTTPServer
import HTTPTestSupport
import Testing

/// The acceptor (mhd_accept.c, pool threading with more than one thread):
/// what happens to connections it hands to libmicrohttpd while the poll
/// threads are busy, at the connection limit and at stop.
@Suite struct AcceptorTests {
    /// Both poll threads sleep in /slow (300 ms, handled on the poll thread)
    /// while a burst of clients connects: the acceptor hands them over, and
    /// they wait in the poll threads' queues, not yet counted as open. Each
    /// must end either answered (our 503 past the limit) or waiting in the
    /// backlog / open; none closed unanswered by libmicrohttpd, which closes
    /// a queued connection past its thread's share of the limit when the
    /// thread takes it (new_connection_process_). Closes without an answer
    /// are allowed only as many as the guard evicted or expired.
    @Test func aBurstPastTheHardLimitWhilePollThreadsAreBusyIsAnsweredOrWaits() throws {
        try withServer({
            $0.connectionLimit = 4  // hard limit 4 + 64
            $0.perIPConnectionLimit = 0
            $0.errorResponder = problemResponder
        }) { server in
            // Four /slow requests; consecutive descriptors alternate over
            // the two poll threads, so both are busy (a thread that sleeps
            // in one has not read the next yet, so at least one is in flight).
            let busy = try (0..<4).map { _ in try RawHTTPClient(port: server.port) }
            for c in busy {
                try c.sendRequest("GET", "/slow", headers: [(name: "Connection", value: "close")])
            }
            #expect(waitUntil { server.inFlight >= 1 })
            let burst = try (0..<160).map { _ in try RawHTTPClient(port: server.port, timeout: 10) }
            for c in busy {
                #expect(try c.readResponse().status == 200)
                c.close()
            }
            var answered = 0, closedUnanswered = 0, open = 0
            for c in burst {
                c.timeout = 1
                do throws(RawHTTPClientError) {
                    let response = try c.readResponse()
                    #expect(response.status == 503)
                    answered += 1
                } catch .timedOut(received: 0) {
                    open += 1
                } catch .connectionClosed(received: 0), .receiveFailed {
                    closedUnanswered += 1
                } catch {
                    Issue.record("\(error)")
                }
            }
            let counts = server.guardCounts
            #expect(
                closedUnanswered <= counts.evicted + counts.expired,
                "answered \(answered), open \(open), closed unanswered \(closedUnanswered), guard \(counts)")
            #expect(answered + open + closedUnanswered == burst.count)
        }
    }
}
