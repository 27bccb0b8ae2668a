/// Text from a request, made safe for a log line: every byte that could
/// end the line, start a terminal escape or otherwise fake log output is
/// written as an escape, so whatever a client sends stays inside its field.
///
/// - control bytes (below 0x20, including CR, LF and ESC) and DEL: `\xHH`;
/// - a backslash: `\\` (so an escape in the log is always ours);
/// - bytes that are not well-formed UTF-8: `\xHH` each;
/// - everything else (printable ASCII, valid UTF-8) as is.
///
/// Every field of the access log and every client-supplied value in other
/// log messages goes through this one type.
struct LogText: CustomStringConvertible, Sendable {
    let description: String

    init(_ text: String) {
        description = LogText.escape(Array(text.utf8))
    }

    static func escape(_ bytes: [UInt8]) -> String {
        // The common case: nothing to escape, no copy.
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x5C }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x5C {
                out += [0x5C, 0x5C]
                i += 1
            } else if b < 0x20 || b == 0x7F {
                hex(b, into: &out)
                i += 1
            } else if b < 0x80 {
                out.append(b)
                i += 1
            } else {
                let n = validSequenceLength(bytes, at: i)
                if n > 0 {
                    out += bytes[i..<(i + n)]
                    i += n
                } else {
                    hex(b, into: &out)
                    i += 1
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ b: UInt8, into out: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        out += [0x5C, UInt8(ascii: "x"), digits[Int(b >> 4)], digits[Int(b & 0xF)]]
    }

    /// The length of the well-formed UTF-8 sequence starting at `i` (RFC 3629
    /// table: no overlongs, no surrogates, nothing above U+10FFFF), or 0.
    private static func validSequenceLength(_ s: [UInt8], at i: Int) -> Int {
        let b0 = s[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i + k < s.count && s[i + k] >= lo && s[i + k] <= hi
        }
        switch b0 {
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }
}
