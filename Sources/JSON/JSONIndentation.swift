/// The pretty layout, the one place it is defined: compact JSON re-indented
/// for humans, two spaces a level, one member or element per line, `": "`
/// after keys, empty containers as `{}` and `[]`, no final line break.
///
/// Every response has one encoder, which writes compact JSON; pretty
/// output (the CLI's, `JSONWriter(pretty: true)`) is that output passed
/// through here, so the two cannot disagree on anything but whitespace.
public enum JSONIndentation {
    /// `json` (one valid JSON document) laid out as above. Whitespace
    /// between tokens is dropped first, so any valid JSON gives the same
    /// layout as its compact form; strings are copied byte for byte.
    public static func indent(_ json: [UInt8]) -> [UInt8] {
        json.withUnsafeBufferPointer { indent($0) }
    }

    public static func indent(_ json: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(json.count * 2)
        var depth = 0
        func lineBreak() {
            out.append(ASCII.newline)
            out.append(contentsOf: repeatElement(ASCII.space, count: 2 * depth))
        }
        let n = json.count
        var i = 0
        while i < n {
            let b = json[i]
            switch b {
            case ASCII.quote:
                // A string, through its closing quote: a backslash escapes
                // the byte after it, so an escaped quote does not end it.
                let start = i
                i += 1
                while i < n, json[i] != ASCII.quote { i += json[i] == ASCII.backslash ? 2 : 1 }
                i = min(i + 1, n)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: json[start..<i]))
                continue
            case ASCII.openBrace, ASCII.openBracket:
                out.append(b)
                var next = i + 1
                while next < n, isSpace(json[next]) { next += 1 }
                if next < n, json[next] == b + 2 {  // `}` and `]` are `{` and `[` plus two
                    out.append(json[next])
                    i = next + 1
                    continue
                }
                depth += 1
                lineBreak()
            case ASCII.closeBrace, ASCII.closeBracket:
                depth -= 1
                lineBreak()
                out.append(b)
            case ASCII.comma:
                out.append(b)
                lineBreak()
            case ASCII.colon:
                out.append(b)
                out.append(ASCII.space)
            default:
                if !isSpace(b) { out.append(b) }
            }
            i += 1
        }
        return out
    }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == ASCII.space || b == ASCII.newline || b == ASCII.tab || b == ASCII.cr
    }
}
