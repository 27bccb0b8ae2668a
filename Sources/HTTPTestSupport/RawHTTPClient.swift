// A blocking raw-socket HTTP/1.1 client for tests.
//
// It sends exactly the bytes it is given (so tests can send malformed,
// slow, partial or pipelined requests) and parses one response at a time
// (status line, headers, then a Content-Length, chunked or close-delimited
// body). Every wait has a deadline, so a test can never hang. No Foundation.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum RawHTTPClientError: Error, Equatable, CustomStringConvertible {
    case invalidAddress(String)
    /// connect() failed; `errno == ECONNREFUSED` means nobody listens.
    case connectFailed(errno: Int32, message: String)
    case sendFailed(errno: Int32, message: String)
    case receiveFailed(errno: Int32, message: String)
    /// No complete response before the deadline (`received` bytes so far).
    case timedOut(received: Int)
    /// The peer closed the connection before a complete response
    /// (`received` bytes of it had arrived).
    case connectionClosed(received: Int)
    case malformedResponse(String)
    /// The client was closed locally.
    case notConnected

    public var description: String {
        switch self {
        case .invalidAddress(let a): return "invalid address \(a)"
        case .connectFailed(let e, let m): return "connect failed: \(m) (errno \(e))"
        case .sendFailed(let e, let m): return "send failed: \(m) (errno \(e))"
        case .receiveFailed(let e, let m): return "receive failed: \(m) (errno \(e))"
        case .timedOut(let n): return "timed out after receiving \(n) bytes"
        case .connectionClosed(let n): return "connection closed after \(n) bytes"
        case .malformedResponse(let m): return "malformed response: \(m)"
        case .notConnected: return "not connected"
        }
    }

    /// True for a refused connection (nothing listening).
    public var isConnectionRefused: Bool {
        if case .connectFailed(let e, _) = self { return e == ECONNREFUSED }
        return false
    }
}

public struct RawHTTPResponse: Sendable {
    public var version: String
    public var status: Int
    public var reason: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Trailer fields of a chunked body.
    public var trailers: [(name: String, value: String)]
    /// The body was sent with `Transfer-Encoding: chunked`.
    public var wasChunked: Bool

    /// First value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The response asks to close the connection (`Connection: close`).
    public var closesConnection: Bool {
        headerValues("Connection").contains { value in
            value.split(separator: ",").contains {
                $0.trimmingCharacters(in: " \t").lowercased() == "close"
            }
        }
    }
}

public final class RawHTTPClient {
    public let host: String
    public let port: Int
    /// Deadline, in seconds, for connecting and for each `readResponse`.
    public var timeout: Double
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var scratch = [UInt8](repeating: 0, count: 65536)

    /// Connects to `host` (an IPv4 or IPv6 literal) and `port`.
    public init(host: String = "127.0.0.1", port: Int, timeout: Double = 5) throws(RawHTTPClientError) {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.fd = -1
        self.fd = try Self.connect(host: host, port: port, timeout: timeout)
    }

    deinit {
        if fd >= 0 { _ = systemClose(fd) }
    }

    public var isConnected: Bool { fd >= 0 }

    /// The local port of the connection (identifies it in server logs).
    public var localPort: Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return 0 }
        if Int32(storage.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    // MARK: Sending

    public func send(_ bytes: [UInt8]) throws(RawHTTPClientError) {
        guard fd >= 0 else { throw .notConnected }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                systemSend(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw .sendFailed(errno: e, message: errnoText(e))
            }
            offset += n
        }
    }

    public func send(_ text: String) throws(RawHTTPClientError) {
        try send(Array(text.utf8))
    }

    /// Sends `bytes` as `pieces` separate writes with `delayMilliseconds`
    /// between them (TCP_NODELAY is set, so each write is its own segment).
    public func sendInPieces(_ bytes: [UInt8], pieces: Int, delayMilliseconds: Int = 1) throws(RawHTTPClientError) {
        let pieces = max(1, min(pieces, max(1, bytes.count)))
        var offset = 0
        for i in 0..<pieces {
            let end = bytes.count * (i + 1) / pieces
            if end > offset {
                try send(Array(bytes[offset..<end]))
            }
            offset = end
            if i + 1 < pieces && delayMilliseconds > 0 {
                sleepMilliseconds(delayMilliseconds)
            }
        }
    }

    /// Builds and sends a request. A `Content-Length` is added for a body
    /// unless `headers` has `Content-Length` or `Transfer-Encoding`.
    public func sendRequest(
        _ method: String, _ target: String,
        headers: [(name: String, value: String)] = [], body: [UInt8]? = nil
    ) throws(RawHTTPClientError) {
        try send(Self.requestBytes(method, target, host: host, port: port, headers: headers, body: body))
    }

    /// Sends a request and reads its response (skipping 1xx responses).
    public func request(
        _ method: String, _ target: String,
        headers: [(name: String, value: String)] = [], body: [UInt8]? = nil
    ) throws(RawHTTPClientError) -> RawHTTPResponse {
        try sendRequest(method, target, headers: headers, body: body)
        return try readResponse(method: method)
    }

    public static func requestBytes(
        _ method: String, _ target: String, host: String = "127.0.0.1", port: Int,
        headers: [(name: String, value: String)] = [], body: [UInt8]? = nil
    ) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\n"
        let names = Set(headers.map { $0.name.lowercased() })
        if !names.contains("host") {
            text += host.contains(":") ? "Host: [\(host)]:\(port)\r\n" : "Host: \(host):\(port)\r\n"
        }
        for header in headers {
            text += "\(header.name): \(header.value)\r\n"
        }
        if let body, !names.contains("content-length"), !names.contains("transfer-encoding") {
            text += "Content-Length: \(body.count)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8) + (body ?? [])
    }

    /// `data` framed as one chunk of a chunked body.
    public static func chunk(_ data: [UInt8]) -> [UInt8] {
        Array(String(data.count, radix: 16).utf8) + [13, 10] + data + [13, 10]
    }

    /// The last chunk (and an empty trailer section).
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    // MARK: Receiving

    /// Reads one response. With `interim: false` (the default) 1xx responses
    /// are skipped; with `interim: true` a 1xx response is returned as is.
    /// `method` matters for HEAD (no body).
    public func readResponse(method: String = "GET", interim: Bool = false) throws(RawHTTPClientError) -> RawHTTPResponse {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            let response = try readOne(method: method, deadline: deadline)
            if interim || !(100...199).contains(response.status) || response.status == 101 {
                return response
            }
        }
    }

    /// Waits until the peer closes the connection (EOF or reset), discarding
    /// anything received. False if it is still open after `seconds`.
    public func waitForPeerClose(seconds: Double) -> Bool {
        guard fd >= 0 else { return true }
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            do {
                if try !fill(deadline: deadline) { return true }
                start = buffer.count
            } catch .timedOut {
                return false
            } catch {
                return true
            }
        }
    }

    /// Closes the connection normally (FIN).
    public func close() {
        if fd >= 0 {
            _ = systemClose(fd)
            fd = -1
        }
    }

    /// Closes the connection with a reset (SO_LINGER 0), like a crashed
    /// client.
    public func abort() {
        guard fd >= 0 else { return }
        var linger = LingerOption(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<LingerOption>.size))
        close()
    }

    // MARK: Parsing

    private func readOne(method: String, deadline: ContinuousClock.Instant) throws(RawHTTPClientError) -> RawHTTPResponse {
        // Head.
        var headEnd: Int
        var searchFrom = start
        while true {
            if let end = find([13, 10, 13, 10], from: searchFrom) {
                headEnd = end
                break
            }
            searchFrom = max(start, buffer.count - 3)
            guard try fill(deadline: deadline) else {
                throw .connectionClosed(received: buffer.count - start)
            }
        }
        let head = String(decoding: buffer[start..<headEnd], as: UTF8.self)
        start = headEnd + 4
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw .malformedResponse("status line '\(statusLine)'")
        }
        var response = RawHTTPResponse(
            version: String(parts[0]), status: status, reason: parts.count > 2 ? String(parts[2]) : "",
            headers: [], body: [], trailers: [], wasChunked: false)
        for line in lines {
            response.headers.append(try Self.parseField(line))
        }

        // Body.
        if method == "HEAD" || (100...199).contains(status) || status == 204 || status == 304 {
            return response
        }
        let transferEncoding = response.header("Transfer-Encoding")?.lowercased() ?? ""
        if transferEncoding.contains("chunked") {
            response.wasChunked = true
            try readChunked(into: &response, deadline: deadline)
        } else if let lengthText = response.header("Content-Length") {
            guard let length = Int(lengthText.trimmingCharacters(in: " \t")), length >= 0 else {
                throw .malformedResponse("Content-Length '\(lengthText)'")
            }
            while buffer.count - start < length {
                guard try fill(deadline: deadline) else {
                    throw .connectionClosed(received: buffer.count - start)
                }
            }
            response.body = Array(buffer[start..<start + length])
            start += length
        } else {
            while try fill(deadline: deadline) {}
            response.body = Array(buffer[start...])
            start = buffer.count
        }
        compact()
        return response
    }

    private func readChunked(into response: inout RawHTTPResponse, deadline: ContinuousClock.Instant) throws(RawHTTPClientError) {
        while true {
            let line = try readLine(deadline: deadline)
            let sizeText = line.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: " \t"), radix: 16), size >= 0 else {
                throw .malformedResponse("chunk size '\(line)'")
            }
            if size == 0 {
                while true {
                    let trailer = try readLine(deadline: deadline)
                    if trailer.isEmpty { return }
                    response.trailers.append(try Self.parseField(Substring(trailer)))
                }
            }
            while buffer.count - start < size + 2 {
                guard try fill(deadline: deadline) else {
                    throw .connectionClosed(received: buffer.count - start)
                }
            }
            response.body += buffer[start..<start + size]
            guard buffer[start + size] == 13, buffer[start + size + 1] == 10 else {
                throw .malformedResponse("chunk not followed by CRLF")
            }
            start += size + 2
        }
    }

    private func readLine(deadline: ContinuousClock.Instant) throws(RawHTTPClientError) -> String {
        var searchFrom = start
        while true {
            if let end = find([13, 10], from: searchFrom) {
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = end + 2
                return line
            }
            searchFrom = max(start, buffer.count - 1)
            guard try fill(deadline: deadline) else {
                throw .connectionClosed(received: buffer.count - start)
            }
        }
    }

    private static func parseField(_ line: Substring) throws(RawHTTPClientError) -> (name: String, value: String) {
        guard let colon = line.firstIndex(of: ":") else {
            throw .malformedResponse("header line '\(line)'")
        }
        return (
            name: String(line[..<colon]),
            value: String(line[line.index(after: colon)...]).trimmingCharacters(in: " \t")
        )
    }

    private func find(_ needle: [UInt8], from: Int) -> Int? {
        guard buffer.count - from >= needle.count else { return nil }
        var i = from
        while i + needle.count <= buffer.count {
            if buffer[i] == needle[0] && buffer[i..<i + needle.count].elementsEqual(needle) {
                return i
            }
            i += 1
        }
        return nil
    }

    private func compact() {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Reads more bytes into the buffer. False on EOF; throws on timeout or
    /// error (a reset counts as EOF).
    private func fill(deadline: ContinuousClock.Instant) throws(RawHTTPClientError) -> Bool {
        guard fd >= 0 else { throw .notConnected }
        while true {
            let remaining = deadline - ContinuousClock.now
            let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            guard milliseconds > 0 else { throw .timedOut(received: buffer.count - start) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(milliseconds, Int64(Int32.max))))
            if ready < 0 {
                if errno == EINTR { continue }
                throw .receiveFailed(errno: errno, message: errnoText(errno))
            }
            if ready == 0 { continue }
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: scratch[0..<n])
                return true
            }
            if n == 0 { return false }
            let e = errno
            if e == EINTR || e == EAGAIN { continue }
            if e == ECONNRESET { return false }
            throw .receiveFailed(errno: e, message: errnoText(e))
        }
    }

    // MARK: Connecting

    private static func connect(host: String, port: Int, timeout: Double) throws(RawHTTPClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = sockStream
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw .invalidAddress("\(host) port \(port)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, sockStream, 0)
        guard fd >= 0 else { throw .connectFailed(errno: errno, message: errnoText(errno)) }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        #if canImport(Darwin)
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        // Non-blocking connect bounded by `timeout`, then back to blocking.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if systemConnect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            let e = errno
            guard e == EINPROGRESS else {
                _ = systemClose(fd)
                throw .connectFailed(errno: e, message: errnoText(e))
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, Int32(timeout * 1000))
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if ready <= 0 || soError != 0 {
                _ = systemClose(fd)
                let e = ready <= 0 ? ETIMEDOUT : soError
                throw .connectFailed(errno: e, message: errnoText(e))
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        var sendTimeout = timeval(tv_sec: Int(timeout), tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }
}

/// Sleeps the calling thread (tests run handlers and clients on threads).
public func sleepMilliseconds(_ milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR {
        request = remaining
    }
}

// MARK: - Platform shims

private typealias LingerOption = linger
#if canImport(Darwin)
private let sockStream = SOCK_STREAM
private let sendFlags: Int32 = 0  // SO_NOSIGPIPE is set on the socket
#else
private let sockStream = Int32(SOCK_STREAM.rawValue)
private let sendFlags = Int32(MSG_NOSIGNAL)  // a closed peer must not kill the test with SIGPIPE
#endif

private func systemSend(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    send(fd, pointer, count, sendFlags)
}

private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}

private func systemClose(_ fd: Int32) -> Int32 {
    close(fd)
}

private func errnoText(_ e: Int32) -> String {
    String(cString: strerror(e))
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in characters: String) -> String {
        let set = Set(characters)
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
