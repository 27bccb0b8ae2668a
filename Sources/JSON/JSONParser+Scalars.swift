// Strings, numbers, literals and error construction for `Parser`.

extension Parser {
    // MARK: Strings

    /// Parses a string starting at the opening quote at `i`.
    ///
    /// The common case, a string without escapes, is scanned 8 bytes at a
    /// time and then created from its byte range in one step. The first
    /// backslash hands over to ``parseEscapedString(contentStart:firstEscape:)``.
    mutating func parseString() throws(JSONParseError) -> String {
        let start = i + 1
        var j = start
        while true {
            while end - j >= 8 {
                let mask = Self.attentionMask(base.loadUnaligned(fromByteOffset: j, as: UInt64.self))
                if mask != 0 {
                    j += mask.trailingZeroBitCount &>> 3
                    break
                }
                j += 8
            }
            guard j < end else {
                throw error("unexpected end of input inside a string (missing closing '\"')", at: end)
            }
            let b = byte(j)
            if b == ASCII.quote {
                i = j + 1
                return String(decoding: UnsafeRawBufferPointer(start: base + start, count: j - start), as: UTF8.self)
            } else if b == ASCII.backslash {
                return try parseEscapedString(contentStart: start, firstEscape: j)
            } else if b < ASCII.space {
                throw controlCharacter(b, at: j)
            } else if b >= 0x80 {
                j = try validateUTF8Sequence(at: j)
            } else {
                j += 1
            }
        }
    }

    /// Flags the bytes of `word` (8 bytes of input, loaded in native byte
    /// order) that a string scan must stop at: `"`, `\`, control
    /// characters and non-ASCII bytes.
    ///
    /// Each flagged byte has its high bit set in the result. This is the
    /// classic "has zero byte" trick, whose borrows can flag extra bytes
    /// but only *after* a byte that really matches, so the first flagged
    /// byte in memory order is exact. Returns 0 if all 8 bytes are plain.
    @inline(__always)
    static func attentionMask(_ nativeWord: UInt64) -> UInt64 {
        let word = UInt64(littleEndian: nativeWord)  // first byte in the low bits
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* UInt64(ASCII.quote))
        let backslash = word ^ (ones &* UInt64(ASCII.backslash))
        let hasQuote = (quote &- ones) & ~quote
        let hasBackslash = (backslash &- ones) & ~backslash
        let hasControl = (word &- (ones &* 0x20)) & ~word  // bytes < 0x20
        // `word` itself contributes the high bit of every non-ASCII byte.
        return (hasQuote | hasBackslash | hasControl | word) & (ones &* 0x80)
    }

    /// Continues a string that contains escapes, decoding into `scratch`.
    mutating func parseEscapedString(contentStart: Int, firstEscape: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        var runStart = contentStart
        var j = firstEscape
        while true {
            guard j < end else {
                throw error("unexpected end of input inside a string (missing closing '\"')", at: end)
            }
            let b = byte(j)
            if b == ASCII.quote || b == ASCII.backslash {
                if runStart < j {
                    scratch.append(contentsOf: UnsafeRawBufferPointer(start: base + runStart, count: j - runStart))
                }
                if b == ASCII.quote {
                    i = j + 1
                    return String(decoding: scratch, as: UTF8.self)
                }
                j = try decodeEscape(at: j)
                runStart = j
            } else if b < ASCII.space {
                throw controlCharacter(b, at: j)
            } else if b >= 0x80 {
                j = try validateUTF8Sequence(at: j)
            } else {
                j += 1
            }
        }
    }

    /// Decodes the escape sequence whose backslash is at `j` into `scratch`
    /// and returns the offset just past it.
    mutating func decodeEscape(at j: Int) throws(JSONParseError) -> Int {
        guard j + 1 < end else {
            throw error("unexpected end of input inside a string (missing closing '\"')", at: end)
        }
        let decoded: UInt8
        switch byte(j + 1) {
        case ASCII.quote: decoded = ASCII.quote
        case ASCII.backslash: decoded = ASCII.backslash
        case ASCII.slash: decoded = ASCII.slash
        case UInt8(ascii: "b"): decoded = 0x08
        case UInt8(ascii: "f"): decoded = 0x0C
        case UInt8(ascii: "n"): decoded = ASCII.newline
        case UInt8(ascii: "r"): decoded = ASCII.cr
        case UInt8(ascii: "t"): decoded = ASCII.tab
        case UInt8(ascii: "u"):
            return try decodeUnicodeEscape(at: j)
        case let other:
            let shown = other >= 0x21 && other < 0x7F ? "'\\\(Character(Unicode.Scalar(other)))'" : "'\\' followed by byte \(hex(other))"
            throw error("invalid escape sequence \(shown) in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", at: j)
        }
        scratch.append(decoded)
        return j + 2
    }

    /// Decodes `\uXXXX` (and a following low surrogate if this is a high
    /// one) at `j` into `scratch`; returns the offset just past it.
    mutating func decodeUnicodeEscape(at j: Int) throws(JSONParseError) -> Int {
        let unit = try hex4(escapeAt: j)
        var scalar = unit
        var next = j + 6
        switch unit {
        case 0xD800...0xDBFF:
            guard j + 7 < end, byte(j + 6) == ASCII.backslash, byte(j + 7) == UInt8(ascii: "u") else {
                throw error("unpaired high surrogate \\u\(hex4Text(unit)): it must be followed by a low surrogate \\uDC00-\\uDFFF", at: j)
            }
            let low = try hex4(escapeAt: j + 6)
            guard (0xDC00...0xDFFF).contains(low) else {
                throw error("unpaired high surrogate \\u\(hex4Text(unit)): it must be followed by a low surrogate \\uDC00-\\uDFFF", at: j)
            }
            scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            next = j + 12
        case 0xDC00...0xDFFF:
            throw error("unpaired low surrogate \\u\(hex4Text(unit)): it must follow a high surrogate \\uD800-\\uDBFF", at: j)
        default:
            break
        }
        appendUTF8(scalar)
        return next
    }

    /// Reads the 4 hex digits of the `\u` escape whose backslash is at `j`.
    func hex4(escapeAt j: Int) throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for k in (j + 2)..<(j + 6) {
            guard k < end else {
                throw error("unexpected end of input inside a \\u escape", at: end)
            }
            let b = byte(k)
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default:
                throw error("invalid \\u escape: expected 4 hex digits, found \(describe(b))", at: j)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Appends `scalar` (a valid scalar value, not a surrogate) as UTF-8.
    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(0xC0 | UInt8(scalar >> 6))
            scratch.append(0x80 | UInt8(scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(0xE0 | UInt8(scalar >> 12))
            scratch.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(scalar & 0x3F))
        default:
            scratch.append(0xF0 | UInt8(scalar >> 18))
            scratch.append(0x80 | UInt8((scalar >> 12) & 0x3F))
            scratch.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(scalar & 0x3F))
        }
    }

    /// Checks the multi-byte UTF-8 sequence whose lead byte is at `j`
    /// (per RFC 3629: no overlong forms, no surrogates, nothing above
    /// U+10FFFF) and returns the offset just past it.
    func validateUTF8Sequence(at j: Int) throws(JSONParseError) -> Int {
        let lead = byte(j)
        let continuationCount: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: continuationCount = 1
        case 0xE0: continuationCount = 2; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: continuationCount = 2
        case 0xED: continuationCount = 2; secondRange = 0x80...0x9F
        case 0xF0: continuationCount = 3; secondRange = 0x90...0xBF
        case 0xF1...0xF3: continuationCount = 3
        case 0xF4: continuationCount = 3; secondRange = 0x80...0x8F
        default:
            throw error("invalid UTF-8: byte \(hex(lead)) cannot start a character", at: j)
        }
        guard j + continuationCount < end else {
            throw error("invalid UTF-8: truncated sequence starting with byte \(hex(lead))", at: j)
        }
        var valid = secondRange.contains(byte(j + 1))
        if continuationCount > 1 {
            for k in (j + 2)...(j + continuationCount) where byte(k) & 0xC0 != 0x80 {
                valid = false
            }
        }
        guard valid else {
            throw error("invalid UTF-8: malformed sequence starting with byte \(hex(lead))", at: j)
        }
        return j + continuationCount + 1
    }

    // MARK: Numbers and literals

    /// Parses a number starting at `i` (a `-` or a digit).
    mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = i
        switch JSONNumber.scan(base, from: start, end: end) {
        case .end(let next, let isInteger):
            i = next
            if isInteger, let integer = JSONNumber.integerStorage(base, from: start, end: next) {
                return JSONNumber(storage: integer)
            }
            return JSONNumber(storage: .text(String(
                decoding: UnsafeRawBufferPointer(start: base + start, count: next - start), as: UTF8.self)))
        case .invalid(let message, let offset):
            throw error(message, at: offset)
        }
    }

    /// Consumes `literal` (`true`, `false` or `null`) at `i`, whose first
    /// byte the caller has already matched.
    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        let expected = literal.utf8Start
        var k = 1
        while k < count {
            guard i + k < end, byte(i + k) == expected[k] else {
                throw error("invalid literal: expected '\(literal)'", at: i)
            }
            k += 1
        }
        i += count
    }

    // MARK: Errors

    /// Builds an error at `offset`, computing line and column.
    ///
    /// Only runs on failure, so it can afford to rescan the input.
    func error(_ message: String, at offset: Int) -> JSONParseError {
        var line = 1
        var column = 1
        for k in 0..<min(offset, end) {
            let b = byte(k)
            if b == ASCII.newline {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return JSONParseError(offset: offset, line: line, column: column, message: message)
    }

    func controlCharacter(_ b: UInt8, at offset: Int) -> JSONParseError {
        let name: String
        switch b {
        case ASCII.newline: name = "a raw newline"
        case ASCII.tab: name = "a raw tab"
        case ASCII.cr: name = "a raw carriage return"
        default: name = "the control character \(hex(b))"
        }
        return error("\(name) is not allowed in a string; escape it (e.g. \\n, \\t, \\u0001)", at: offset)
    }

    /// The error for a byte that cannot start a value, with a hint for the
    /// usual mistakes.
    func unexpectedValueStart(_ b: UInt8) -> JSONParseError {
        let hint: String
        switch b {
        case ASCII.slash: hint = ": comments are not allowed in JSON"
        case UInt8(ascii: "'"): hint = ": strings must use double quotes"
        case UInt8(ascii: "N"), UInt8(ascii: "I"): hint = ": NaN and Infinity are not valid JSON numbers"
        case UInt8(ascii: "+"), UInt8(ascii: "."): hint = ": numbers must start with '-' or a digit"
        case UInt8(ascii: "T"), UInt8(ascii: "F"): hint = ": the literals true, false and null are lowercase"
        default: hint = ""
        }
        return error("expected a value, found \(describe(b))\(hint)", at: i)
    }

    /// `'x'` for a printable ASCII byte, `byte 0xNN` otherwise.
    func describe(_ b: UInt8) -> String {
        if b >= 0x21 && b < 0x7F {
            return "'\(Character(Unicode.Scalar(b)))'"
        }
        if b == ASCII.space { return "' '" }
        return "byte \(hex(b))"
    }

    /// `key` as a JSON string literal, so quotes and control characters in
    /// it cannot garble the message.
    func quoted(_ key: String) -> String {
        var writer = JSONWriter(capacity: key.utf8.count + 2)
        writer.string(key)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    func hex(_ b: UInt8) -> String {
        let digits = String(b, radix: 16, uppercase: true)
        return "0x" + (b < 0x10 ? "0" + digits : digits)
    }

    func hex4Text(_ unit: UInt32) -> String {
        let digits = String(unit, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
