// Byte-level encoders used by `JSONWriter`: they write into memory that
// `JSONWriter.emit` has already reserved, and return how much they wrote.

extension JSONWriter {
    /// The offset of the first byte in `utf8` that must be escaped (`"`,
    /// `\`, or below U+0020), or `utf8.count` if there is none.
    ///
    /// Most strings need no escaping, so this runs first and 8 bytes at a
    /// time; see `Parser.attentionMask(_:)` for why the first flagged byte
    /// is exact.
    @inline(__always)
    static func firstByteNeedingEscape(_ utf8: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = utf8.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(base)
        let count = utf8.count
        var k = 0
        while count - k >= 8 {
            let mask = escapeMask(raw.loadUnaligned(fromByteOffset: k, as: UInt64.self))
            if mask != 0 {
                return k + mask.trailingZeroBitCount &>> 3
            }
            k += 8
        }
        if k < count {
            // The last 1-7 bytes, padded with spaces (which need no escaping).
            var word: UInt64 = 0x2020_2020_2020_2020
            withUnsafeMutableBytes(of: &word) { $0.baseAddress!.copyMemory(from: raw + k, byteCount: count - k) }
            let mask = escapeMask(word)
            if mask != 0 {
                return k + mask.trailingZeroBitCount &>> 3
            }
        }
        return count
    }

    /// The high bit of each byte of `nativeWord` (8 bytes in memory order)
    /// that is `"`, `\` or a control character; exact up to the first one.
    @inline(__always)
    static func escapeMask(_ nativeWord: UInt64) -> UInt64 {
        let word = UInt64(littleEndian: nativeWord)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* UInt64(ASCII.quote))
        let backslash = word ^ (ones &* UInt64(ASCII.backslash))
        return (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
            | ((word &- (ones &* 0x20)) & ~word)) & (ones &* 0x80)
    }

    /// The length of `utf8` once escaped, given that nothing before
    /// `first` needs escaping.
    static func escapedCount(_ utf8: UnsafeBufferPointer<UInt8>, from first: Int) -> Int {
        var count = utf8.count
        for k in first..<utf8.count {
            let b = utf8[k]
            if b == ASCII.quote || b == ASCII.backslash {
                count += 1
            } else if b < ASCII.space {
                count += shortEscape(b) == 0 ? 5 : 1
            }
        }
        return count
    }

    /// The letter of a two-character escape (`\n` → `n`), or 0 if `b`
    /// needs the `\u00XX` form.
    @inline(__always)
    static func shortEscape(_ b: UInt8) -> UInt8 {
        switch b {
        case ASCII.quote: return ASCII.quote
        case ASCII.backslash: return ASCII.backslash
        case ASCII.newline: return UInt8(ascii: "n")
        case ASCII.tab: return UInt8(ascii: "t")
        case ASCII.cr: return UInt8(ascii: "r")
        case 0x08: return UInt8(ascii: "b")
        case 0x0C: return UInt8(ascii: "f")
        default: return 0
        }
    }

    /// Writes `utf8` escaped (without quotes) to `out`; returns the count,
    /// which equals `escapedCount(utf8, from: firstEscape)`.
    static func writeEscaped(
        _ utf8: UnsafeBufferPointer<UInt8>, firstEscape: Int, to out: UnsafeMutablePointer<UInt8>
    ) -> Int {
        let hexDigits: StaticString = "0123456789abcdef"
        var written = 0
        var runStart = 0
        for k in firstEscape..<utf8.count {
            let b = utf8[k]
            guard b < ASCII.space || b == ASCII.quote || b == ASCII.backslash else { continue }
            if runStart < k {
                (out + written).initialize(from: utf8.baseAddress! + runStart, count: k - runStart)
                written += k - runStart
            }
            out[written] = ASCII.backslash
            let short = shortEscape(b)
            if short != 0 {
                out[written + 1] = short
                written += 2
            } else {
                out[written + 1] = UInt8(ascii: "u")
                out[written + 2] = UInt8(ascii: "0")
                out[written + 3] = UInt8(ascii: "0")
                out[written + 4] = hexDigits.utf8Start[Int(b >> 4)]
                out[written + 5] = hexDigits.utf8Start[Int(b & 0xF)]
                written += 6
            }
            runStart = k + 1
        }
        if runStart < utf8.count {
            (out + written).initialize(from: utf8.baseAddress! + runStart, count: utf8.count - runStart)
            written += utf8.count - runStart
        }
        return written
    }

    /// Writes `utf8` as a JSON string, quotes included and escaped as
    /// ``string(_:)`` escapes; returns the count, at most
    /// `quotedBound(utf8.count)`. For encoders elsewhere in the package
    /// that write into memory they reserved.
    package static func writeQuoted(_ utf8: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = ASCII.quote
        let first = firstByteNeedingEscape(utf8)
        var k = 1
        if first == utf8.count {
            if let base = utf8.baseAddress { (out + 1).initialize(from: base, count: utf8.count) }
            k += utf8.count
        } else {
            k += writeEscaped(utf8, firstEscape: first, to: out + 1)
        }
        out[k] = ASCII.quote
        return k + 1
    }

    /// Writes `utf8` escaped as inside a JSON string, without quotes (for
    /// a string written in parts); returns the count, at most `6 * utf8.count`.
    package static func writeStringContent(_ utf8: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) -> Int {
        let first = firstByteNeedingEscape(utf8)
        guard first == utf8.count else { return writeEscaped(utf8, firstEscape: first, to: out) }
        if let base = utf8.baseAddress { out.initialize(from: base, count: utf8.count) }
        return utf8.count
    }

    /// The most `writeQuoted` writes for `count` bytes: each may become a
    /// six-byte `\u00XX`, plus the quotes.
    package static func quotedBound(_ count: Int) -> Int { 6 * count + 2 }

    /// Writes `0x` and the lowercase hex digits of `value` (at least one);
    /// at most 18 bytes. `hex(_:)` quotes it; pre-encoded fragments
    /// elsewhere in the package write the same digits.
    @inline(__always)
    package static func writeHex(_ value: UInt64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        let digits = max(1, (64 - value.leadingZeroBitCount + 3) / 4)
        out[0] = UInt8(ascii: "0")
        out[1] = UInt8(ascii: "x")
        var rest = value
        var i = digits + 1
        while i >= 2 {
            let nibble = UInt8(truncatingIfNeeded: rest & 0xF)
            out[i] = nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
            rest >>= 4
            i -= 1
        }
        return digits + 2
    }

    /// Writes the decimal digits of `magnitude`, after a `-` if `negative`;
    /// at most 21 bytes. Two digits per division, from a pair table.
    @inline(__always)
    package static func writeDecimal(_ magnitude: UInt64, negative: Bool, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var digits = 1
        var threshold: UInt64 = 10
        while magnitude >= threshold {
            digits += 1
            if digits == 20 { break }  // 10^20 does not fit; UInt64.max has 20 digits
            threshold &*= 10
        }
        let count = digits + (negative ? 1 : 0)
        if negative { out[0] = ASCII.minus }
        let pairs: StaticString = """
            00010203040506070809101112131415161718192021222324252627282930313233343536373839\
            40414243444546474849505152535455565758596061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899
            """
        let table = pairs.utf8Start
        var position = count
        var rest = magnitude
        while rest >= 100 {
            let quotient = rest / 100
            let pair = Int(rest &- quotient &* 100) &* 2
            position -= 2
            out[position] = table[pair]
            out[position + 1] = table[pair + 1]
            rest = quotient
        }
        if rest >= 10 {
            let pair = Int(rest) &* 2
            out[position - 2] = table[pair]
            out[position - 1] = table[pair + 1]
        } else {
            out[position - 1] = UInt8(truncatingIfNeeded: rest) &+ UInt8(ascii: "0")
        }
        return count
    }
}
