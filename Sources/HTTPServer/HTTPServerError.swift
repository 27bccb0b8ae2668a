/// Why `HTTPServer.start()` failed.
public enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `host` is not an IPv4 or IPv6 literal.
    case invalidHost(String)
    /// A configuration value is out of range (the message says which).
    case invalidConfiguration(String)
    /// socket()/setsockopt()/listen()/getsockname() failed.
    case socketFailed(operation: String, errno: Int32, message: String)
    /// bind() failed, e.g. EADDRINUSE or EACCES.
    case bindFailed(host: String, port: Int, errno: Int32, message: String)
    /// A TLS certificate or key file could not be read.
    case tlsFileUnreadable(path: String, errno: Int32, message: String)
    /// A TLS file was read but is not PEM.
    case tlsFileInvalid(path: String)
    /// libmicrohttpd was built without TLS support.
    case tlsUnsupported
    /// MHD_start_daemon failed (with TLS: usually a certificate/key that
    /// GnuTLS rejects or that do not match).
    case daemonStartFailed(String)
    /// `start()` was already called on this server.
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidHost(let host):
            return "invalid listen host '\(host)': expected an IPv4 or IPv6 literal"
        case .invalidConfiguration(let message):
            return "invalid HTTP server configuration: \(message)"
        case .socketFailed(let operation, let errno, let message):
            return "\(operation) failed: \(message) (errno \(errno))"
        case .bindFailed(let host, let port, let errno, let message):
            return "cannot bind \(host) port \(port): \(message) (errno \(errno))"
        case .tlsFileUnreadable(let path, let errno, let message):
            return "cannot read TLS file '\(path)': \(message) (errno \(errno))"
        case .tlsFileInvalid(let path):
            return "TLS file '\(path)' is not PEM"
        case .tlsUnsupported:
            return "libmicrohttpd was built without TLS support"
        case .daemonStartFailed(let message):
            return "cannot start HTTP daemon: \(message)"
        case .alreadyStarted:
            return "the HTTP server was already started"
        }
    }
}
