/// RFC 6901 JSON pointers: every error the service reports names its field
/// with one (`/vcpu/pat`, `/labels/team.example.com~1owner`).
public enum JSONPointer {
    /// Escapes one reference token: `~` -> `~0`, `/` -> `~1` (in that
    /// order, so a `~1` in a key stays distinguishable from a `/`).
    public static func escape(_ token: String) -> String {
        guard needsEscape(token) else { return token }
        var out = ""
        for ch in token.unicodeScalars {
            switch ch {
            case "~": out += "~0"
            case "/": out += "~1"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Whether `token` has a `~` or `/`: over the UTF-8 in place when the
    /// string lends it (every pointer an error names goes through here).
    private static func needsEscape(_ token: String) -> Bool {
        let special = { (b: UInt8) in b == UInt8(ascii: "~") || b == UInt8(ascii: "/") }
        return token.utf8.withContiguousStorageIfAvailable { $0.contains(where: special) }
            ?? token.utf8.contains(where: special)
    }

    /// `parent` extended by the reference token `token`.
    public static func appending(_ token: String, to parent: String) -> String {
        parent + "/" + escape(token)
    }
}
