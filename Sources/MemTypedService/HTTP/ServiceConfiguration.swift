import HTTPServer
import MemTypeEngine
import VMStore

/// Everything the service needs besides the HTTP listener.
public struct ServiceConfiguration: Sendable {
    /// The largest `requests` array `POST /v1/decisions/batch` accepts.
    public var maxBatchSize = 1000
    /// Writes one access-log line per request (off by default: under load it costs more than a decision).
    public var accessLog = false
    public var version = memtypedVersion
    /// The VM-config store; nil serves the stateless engine alone (VM routes answer 503).
    public var store: (any VMStore)?
    /// Who may write (and, optionally, read) the store: the set in `tokens`
    /// (copies of this configuration share it, so the server sees a swap).
    public var auth: TokenAuth {
        get { tokens.auth }
        set { tokens.replace(with: newValue) }
    }
    /// Where `auth` lives; `tokens.replace(with:)` swaps it under a running server.
    public let tokens = CurrentTokens(TokenAuth())

    public init() {}
}
