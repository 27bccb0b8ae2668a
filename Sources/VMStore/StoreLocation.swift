/// Where the VM-config store lives, as `--db` / `MEMTYPED_DB` spell it: a
/// `postgresql://` or `postgres://` URL (libpq's connection URI; every libpq
/// parameter and `PG*` variable applies) is PostgreSQL, anything else a
/// SQLite file path.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    public init(_ argument: String) {
        let lower = argument.lowercased()
        if lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://") {
            self = .postgres(url: argument)
        } else {
            self = .sqlite(path: argument)
        }
    }

    /// For logs and errors: a URL's password (in the user info or a
    /// `password=` parameter) replaced by `***`.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): Self.redact(url)
        }
    }

    static func redact(_ url: String) -> String {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return url }
        let authorityStart = url.index(colon, offsetBy: 3)
        var out = String(url[..<authorityStart])
        var rest = url[authorityStart...]
        // The authority ends at the first '/' or '?'; its user info at the last '@' in it.
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        if let at = rest[..<authorityEnd].lastIndex(of: "@") {
            let userInfo = rest[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                out += userInfo[..<colon] + ":***"
            } else {
                out += userInfo
            }
            rest = rest[at...]
        }
        guard let q = rest.firstIndex(of: "?") else { return out + rest }
        out += rest[...q]
        let params = rest[rest.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { p -> String in
            p.lowercased().hasPrefix("password=") ? "password=***" : String(p)
        }
        return out + params.joined(separator: "&")
    }
}
