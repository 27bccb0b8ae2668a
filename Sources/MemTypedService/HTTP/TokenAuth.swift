import HTTPServer

/// Bearer tokens from a tokens file: one `NAME TOKEN` pair per line, and an
/// optional third word `read` for a token that may only read. Blank lines
/// and `#` comments are skipped. The name is what history records as the actor.
public struct TokenAuth: Sendable {
    public enum Access: Sendable, Equatable { case read, write }

    struct Entry: Sendable {
        let name: String
        let token: [UInt8]
        let access: Access
    }

    let entries: [Entry]
    /// Reads need a token too (writes always do).
    public var readsRequireToken: Bool

    public init(readsRequireToken: Bool = false) {
        entries = []
        self.readsRequireToken = readsRequireToken
    }

    /// Parses a tokens file's text. Errors name the line.
    public init(fileText: String, readsRequireToken: Bool = false) throws(TokenFileError) {
        var entries: [Entry] = []
        for (n, raw) in fileText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            guard words.count == 2 || (words.count == 3 && words[2] == "read") else {
                throw TokenFileError(line: n + 1, message: "expected NAME TOKEN [read]")
            }
            // The name becomes the history actor: keep it to what the store accepts.
            guard words[0].utf8.count <= 64, words[0].utf8.allSatisfy({ TokenAuth.nameBytes.contains($0) }) else {
                throw TokenFileError(line: n + 1, message: "name must be 1-64 characters of A-Z a-z 0-9 . _ -")
            }
            guard words[1].utf8.count >= 16 else {
                throw TokenFileError(line: n + 1, message: "token for \(words[0]) is shorter than 16 characters")
            }
            guard !entries.contains(where: { $0.name == words[0] }) else {
                throw TokenFileError(line: n + 1, message: "name \(words[0]) appears twice")
            }
            entries.append(Entry(name: String(words[0]), token: Array(words[1].utf8), access: words.count == 3 ? .read : .write))
        }
        self.entries = entries
        self.readsRequireToken = readsRequireToken
    }

    /// The caller's token name for an operation needing `access`, or the 401/403 problem.
    func authorize(_ request: HTTPRequest, for access: Access) throws(Problem) -> String {
        if access == .read && !readsRequireToken { return "anonymous" }
        let headers = request.headers.values("Authorization")
        guard let header = headers.first else {
            throw TokenAuth.unauthorized("this operation needs a bearer token (Authorization: Bearer TOKEN)")
        }
        // Two credentials are ambiguous: a proxy in front may have checked the
        // other one. Refused whatever they hold, even the same token twice.
        guard headers.count == 1 else {
            throw Problem(status: 400, type: "/problems/ambiguous-header", title: "Bad Request",
                          detail: "the Authorization header appears \(headers.count) times; send it once")
        }
        // A control byte (a NUL above all) makes the value mean different
        // things to different parsers: C code stops at the NUL, we would not.
        guard !header.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) else {
            throw TokenAuth.unauthorized("the Authorization header holds a control character")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw TokenAuth.unauthorized("the Authorization header must be \"Bearer TOKEN\"")
        }
        guard let entry = match(Array(parts[1].utf8)) else {
            throw TokenAuth.unauthorized("the bearer token is not valid")
        }
        if access == .write && entry.access == .read {
            throw Problem(status: 403, type: "/problems/forbidden", title: "Forbidden",
                          detail: "token \(entry.name) may only read")
        }
        return entry.name
    }

    /// Compares against every token in constant time per token, and always
    /// walks the whole list, so timing reveals neither a prefix nor which entry matched.
    func match(_ presented: [UInt8]) -> Entry? {
        var found: Entry?
        for entry in entries where TokenAuth.constantTimeEqual(entry.token, presented) && found == nil {
            found = entry
        }
        return found
    }

    static let nameBytes = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-".utf8)

    /// Whether `presented` is exactly `token`. The time depends on the
    /// token's length only, not on where the bytes differ. The lengths are
    /// compared as whole numbers: folding their difference into the byte
    /// accumulator once let a token plus 256*k extra bytes pass.
    static func constantTimeEqual(_ token: [UInt8], _ presented: [UInt8]) -> Bool {
        var diff: UInt8 = 0
        for i in 0..<token.count { diff |= token[i] ^ (i < presented.count ? presented[i] : ~token[i]) }
        return diff == 0 && token.count == presented.count
    }

    static func unauthorized(_ detail: String) -> Problem {
        var p = Problem(status: 401, type: "/problems/unauthorized", title: "Unauthorized", detail: detail)
        p.headers = [("WWW-Authenticate", "Bearer realm=\"memtyped\"")]
        return p
    }
}

/// A tokens file that cannot be used.
public struct TokenFileError: Error, Sendable, CustomStringConvertible {
    public let line: Int
    public let message: String
    public var description: String { "tokens file line \(line): \(message)" }
}
