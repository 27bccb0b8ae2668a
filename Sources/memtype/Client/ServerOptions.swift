import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// Where the service is and how to authenticate: `--server` or
/// `MEMTYPE_SERVER`, the token from `--token-file` or `MEMTYPE_TOKEN`.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The memtyped to talk to, e.g. http://127.0.0.1:8080 (default: $MEMTYPE_SERVER). Without one, decide, table and models run the engine here.",
        valueName: "url"))
    var server: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp(
        "Read the bearer token from this file (default: the token in $MEMTYPE_TOKEN). Writes need a write token; reads one only under memtyped --read-auth.",
        valueName: "path"))
    var tokenFile: String?

    @Option(name: .customLong("cacert"), help: ArgumentHelp(
        "PEM CA certificates to verify an https:// server with (default: the system's).", valueName: "path"))
    var caFile: String?

    @Option(help: ArgumentHelp("Give up on the server after this many seconds.", valueName: "seconds"))
    var timeout: Int = 30

    @Flag(name: .shortAndLong, help: "Print each request (operation, method, URL) and its status on stderr.")
    var verbose = false

    /// The server URL if one is named, without a trailing `/`.
    var serverURL: String? {
        guard var url = server ?? Environment.value("MEMTYPE_SERVER"), !url.isEmpty else { return nil }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// A client for the named server, nil when none is named.
    func client() throws(Failure) -> APIClient? {
        guard let url = serverURL else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw .badInput("--server \(url): give an http:// or https:// URL")
        }
        guard timeout > 0 else { throw .badInput("--timeout \(timeout): give a number of seconds above 0") }
        return APIClient(base: url, token: try token(),
                         transport: HTTPTransport(connectTimeout: min(5, timeout), timeout: timeout, caFile: caFile),
                         verbose: verbose)
    }

    /// The client, or the failure saying how to name a server.
    func requireClient() throws(Failure) -> APIClient {
        guard let client = try client() else {
            throw .badInput("this command talks to memtyped: give --server URL or set MEMTYPE_SERVER")
        }
        return client
    }

    private func token() throws(Failure) -> String? {
        if let tokenFile {
            guard let bytes = FileInput.read(path: tokenFile) else {
                throw .badInput("--token-file \(tokenFile): cannot read it (\(FileInput.lastError))")
            }
            warnIfExposed(tokenFile)
            return try Self.checkedToken(String(decoding: bytes, as: UTF8.self).strippingBlanks(), from: "--token-file \(tokenFile)")
        }
        guard let token = Environment.value("MEMTYPE_TOKEN"), !token.isEmpty else { return nil }
        return try Self.checkedToken(token, from: "MEMTYPE_TOKEN")
    }

    /// One token: visible ASCII, what an Authorization header can carry (a
    /// newline in it would start another header line). Never echoed.
    static func checkedToken(_ token: String, from origin: String) throws(Failure) -> String {
        guard !token.isEmpty, token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .badInput("\(origin): expected one token on one line, of visible ASCII characters")
        }
        return token
    }

    /// A token file group or others may read is a token someone else may hold: said on
    /// stderr (as memtyped says of its tokens file), the command still runs.
    private func warnIfExposed(_ path: String) {
        guard path != "-" else { return }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return }
        Terminal.error("memtype: warning: --token-file \(path) may be read by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
