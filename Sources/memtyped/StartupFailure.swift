#if canImport(Glibc)
import Glibc
#endif

/// Why memtyped could not start although its arguments parsed: an unreadable
/// store or tokens file, a port in use. `Memtyped.run()` prints it as one line
/// on stderr ("memtyped: " + message) and exits 1; the usage text is only for
/// argument errors (`ValidationError`, exit 64).
struct StartupFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// strerror(3) text and the number, as the rest of memtyped prints them.
func errnoText(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

/// A whole file as bytes, or the errno of the failing call.
func readFileBytes(_ path: String) -> Result<[UInt8], Errno> {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .failure(Errno(errno)) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 {
            if errno == EINTR { continue }
            return .failure(Errno(errno))
        }
        if n == 0 { return .success(bytes) }
        bytes += buffer[0..<n]
    }
}

struct Errno: Error, CustomStringConvertible {
    let code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { errnoText(code) }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
