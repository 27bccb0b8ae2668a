import HTTPServer

/// Everything the service needs besides the HTTP listener.
public struct ServiceConfiguration: Sendable {
    /// The largest `requests` array `POST /v1/decisions/batch` accepts.
    public var maxBatchSize = 1000
    /// Writes one access-log line per request (off by default: under load it costs more than a decision).
    public var accessLog = false
    public var version = "0.1.0"

    public init() {}
}
