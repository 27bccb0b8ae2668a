import Foundation
import HTTPServer
import HTTPTestSupport
import Testing

/// The handler every test server runs, dispatching on the path:
///   /echo      the request body back, with its Content-Type (if any)
///   /query     the decoded query, one "name=value" per line
///   /headers   the request headers, one "name: value" per line
///   /slow      sleeps 300 ms, then "slow done"
///   /status/N  an empty response with status N
///   /custom    response headers chosen by the X-Set-* request headers
///   anything else: "ok"
/// Every response carries X-Method and X-Path.
struct EchoHandler: HTTPHandler {
    func handle(_ request: HTTPRequest) -> HTTPResponse {
        var headers: [(name: String, value: String)] = [
            (name: "X-Method", value: request.method),
            (name: "X-Path", value: request.path),
        ]
        switch request.path {
        case "/echo":
            if let type = request.headers["content-type"] {
                headers.append((name: "Content-Type", value: type))
            }
            headers.append((name: "X-Body-Length", value: String(request.body.count)))
            return HTTPResponse(status: 200, headers: headers, body: request.body)
        case "/query":
            let text = request.query.map { "\($0.name)=\($0.value)\n" }.joined()
            return HTTPResponse(status: 200, headers: headers, text: text)
        case "/headers":
            let text = request.headers.pairs.map { "\($0.name): \($0.value)\n" }.joined()
            return HTTPResponse(status: 200, headers: headers, text: text)
        case "/slow":
            sleepMilliseconds(300)
            return HTTPResponse(status: 200, headers: headers, text: "slow done")
        case "/custom":
            for pair in request.headers.pairs where pair.name.lowercased().hasPrefix("x-set-") {
                headers.append((name: String(pair.name.dropFirst(6)), value: pair.value))
            }
            return HTTPResponse(status: 200, headers: headers, text: "custom")
        default:
            if request.path.hasPrefix("/status/"), let status = Int(request.path.dropFirst(8)) {
                return HTTPResponse(status: status, headers: headers)
            }
            return HTTPResponse(status: 200, headers: headers, text: "ok")
        }
    }
}

/// A problem+json error responder, like the service's.
let problemResponder: @Sendable (Int, String) -> HTTPResponse = { status, detail in
    HTTPResponse(
        status: status,
        headers: [(name: "Content-Type", value: "application/problem+json")],
        text: #"{"status":\#(status),"detail":"\#(detail)"}"#)
}

func testConfiguration(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) -> HTTPServerConfiguration {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.threading = .pool(threads: 2)
    configuration.shutdownGraceSeconds = 5
    configure(&configuration)
    return configuration
}

/// Starts a server on an ephemeral port, runs `body`, stops the server.
func withServer(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    handler: some HTTPHandler = EchoHandler(),
    _ body: (HTTPServer) throws -> Void
) throws {
    let server = HTTPServer(configuration: testConfiguration(configure), handler: handler)
    try server.start()
    defer { server.stop() }
    #expect(server.port > 0)
    try body(server)
}

/// Polls `condition` every few milliseconds for up to `seconds`.
func waitUntil(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        sleepMilliseconds(5)
    }
    return condition()
}

/// Runs `body` on a new thread (not the cooperative pool, which the
/// blocking tests occupy); `join()` waits for it.
final class TestThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [done] in
            body()
            done.signal()
        }
        thread.start()
    }

    func join() {
        done.wait()
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Runs a program, returning its exit status and output (nil if it could
/// not be run).
@discardableResult
func run(_ arguments: [String]) -> (status: Int32, output: String)? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A self-signed certificate for 127.0.0.1 and its key (PEM, made by
/// openssl) in a fresh directory; `remove()` deletes it.
struct TestCertificate {
    let directory: URL
    var cert: String { directory.appendingPathComponent("cert.pem").path }
    var key: String { directory.appendingPathComponent("key.pem").path }

    init(_ name: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let generated = run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-keyout", key, "-out", cert,
        ])
        try #require(generated?.status == 0, "openssl failed: \(generated?.output ?? "not run")")
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

func commandExists(_ name: String) -> Bool {
    ["/usr/bin/", "/bin/", "/usr/local/bin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + name) }
}

/// A value shared with handler threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// Why connecting to `port` failed, or nil if it succeeded.
func connectFailure(port: Int) -> RawHTTPClientError? {
    let result = Result { () throws(RawHTTPClientError) -> RawHTTPClient in
        try RawHTTPClient(port: port, timeout: 1)
    }
    switch result {
    case .success: return nil
    case .failure(let error): return error
    }
}

/// Why `server.start()` failed, or nil if it succeeded.
func startFailure(_ server: HTTPServer) -> HTTPServerError? {
    let result = Result { () throws(HTTPServerError) in try server.start() }
    switch result {
    case .success: return nil
    case .failure(let error): return error
    }
}
