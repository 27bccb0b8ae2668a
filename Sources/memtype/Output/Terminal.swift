#if canImport(Glibc)
import Glibc
#endif

/// The process's standard streams, written with write(2) (no Foundation).
enum Terminal {
    /// The errno of the first failed write to stdout, checked once the command has run
    /// (`Memtype.main`): a mask written to a full disk must not exit 0. The CLI is one thread.
    nonisolated(unsafe) static var stdoutError: Int32?

    static var stdoutIsTerminal: Bool { isatty(1) == 1 }
    static var stdinIsTerminal: Bool { isatty(0) == 1 }

    /// `text` and a newline on stdout.
    static func print(_ text: String) {
        write(1, Array(text.utf8) + [0x0A])
    }

    /// `bytes` as they are, then a newline, on stdout: a server's body passed through.
    static func print(bytes: [UInt8]) {
        write(1, bytes + [0x0A])
    }

    /// `text` and a newline on stderr.
    static func error(_ text: String) {
        write(2, Array(text.utf8) + [0x0A])
    }

    private static func write(_ fd: Int32, _ bytes: [UInt8]) {
        if fd == 1, stdoutError != nil { return }  // the output is already lost
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if fd == 1 { stdoutError = n < 0 ? errno : EIO }
                return
            }
            offset += n
        }
    }
}

/// Whole files and standard input as bytes.
enum FileInput {
    /// All of `fd`'s bytes, nil if a read fails (errno says why: a directory is EISDIR).
    static func read(fd: Int32) -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Why the last read failed (errno's text).
    static var lastError: String { String(cString: strerror(errno)) }

    /// The file's bytes, nil if it cannot be opened or read (errno says why); `-` is stdin.
    static func read(path: String) -> [UInt8]? {
        if path == "-" { return read(fd: 0) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return read(fd: fd)
    }

    /// A JSON body from a file (`-`: stdin), or the failure naming the file.
    static func json(path: String, option: String = "--file") throws(Failure) -> JSONInput {
        guard let bytes = read(path: path) else {
            throw .badInput("\(option) \(path): cannot read it (\(lastError))")
        }
        return try JSONInput(bytes: bytes, origin: path == "-" ? "stdin" : path)
    }
}
