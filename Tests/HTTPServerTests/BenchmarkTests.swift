import Foundation
import HTTPServer
import HTTPTestSupport
import Testing

/// Throughput smoke benchmark, off unless HTTPSERVER_BENCH=1 and `wrk` is
/// installed. wrk shares the machine with the server, so numbers are a
/// lower bound. Example:
///   HTTPSERVER_BENCH=1 swift test -c release --scratch-path .build-http --filter HTTPServerBenchmark
@Suite("HTTPServerBenchmark", .serialized)
struct HTTPServerBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["HTTPSERVER_BENCH"] == "1" && commandExists("wrk")

    struct TinyJSON: HTTPHandler {
        func handle(_ request: HTTPRequest) -> HTTPResponse {
            if request.method == "POST" {
                return HTTPResponse(
                    status: 200, headers: [(name: "Content-Type", value: "application/json")], body: request.body)
            }
            return HTTPResponse(
                status: 200, headers: [(name: "Content-Type", value: "application/json")],
                body: Array(#"{"memoryType":"WB","source":"pat"}"#.utf8))
        }
    }

    @Test(.enabled(if: enabled), arguments: [
        HTTPServerConfiguration.Threading.pool(threads: 2), .pool(threads: 1), .threadPerConnection,
    ])
    func wrkKeepAlive(threading: HTTPServerConfiguration.Threading) throws {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threading = threading
        let server = HTTPServer(configuration: configuration, handler: TinyJSON())
        try server.start()
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/v1/decision?gfn=0x1000"
        let seconds = ProcessInfo.processInfo.environment["HTTPSERVER_BENCH_SECONDS"] ?? "5"
        let connections = ProcessInfo.processInfo.environment["HTTPSERVER_BENCH_CONNECTIONS"] ?? "64"

        let get = measured { run(["wrk", "-t1", "-c\(connections)", "-d\(seconds)s", "--latency", url]) }
        print("=== \(threading) GET\n\(get?.output ?? "wrk failed")")

        let script = FileManager.default.temporaryDirectory.appendingPathComponent("memtyped-post-\(getpid()).lua").path
        try """
            wrk.method = "POST"
            wrk.body = '{"vm":"guest-1","gpa":"0x7f000000","cr0":"0x80050033","pat":"0x0007040600070406"}'
            wrk.headers["Content-Type"] = "application/json"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let post = measured { run(["wrk", "-t1", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script, url]) }
        print("=== \(threading) POST\n\(post?.output ?? "wrk failed")")
        #expect(get?.status == 0)
        #expect(server.inFlight == 0 || waitUntil { server.inFlight == 0 })
    }
}

/// Runs wrk and appends the server's CPU time per request (this process's
/// user+system time over the requests wrk counted), which is far less
/// sensitive than requests/s to whatever else the machine is doing.
private func measured(_ body: () -> (status: Int32, output: String)?) -> (status: Int32, output: String)? {
    let before = cpuSeconds()
    guard var result = body() else { return nil }
    let cpu = cpuSeconds() - before
    // "  123456 requests in 5.00s, 12.34MB read"
    if let line = result.output.split(separator: "\n").first(where: { $0.contains(" requests in ") }),
        let count = Double(line.split(separator: " ").first ?? "")
    {
        result.output += String(format: "server CPU: %.2f s, %.2f us/request\n", cpu, cpu / count * 1e6)
    }
    return result
}

private func cpuSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
