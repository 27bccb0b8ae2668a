import JSON
import Testing

/// SplitMix64: tiny, deterministic, good enough to generate test data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generates arbitrary `JSONValue`s, biased towards the awkward parts:
/// escapes, control characters, every UTF-8 length, 64-bit extremes.
struct ValueGenerator {
    var rng: SplitMix64

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    mutating func scalar() -> Unicode.Scalar {
        switch int(0...9) {
        case 0: return Unicode.Scalar(UInt8(int(0...0x1F)))  // control characters
        case 1: return ["\"", "\\", "/", "\u{7F}", "\u{2028}", "\u{FEFF}", "\u{FFFF}", "\u{10FFFF}"][int(0...7)]
        case 2: return Unicode.Scalar(UInt32(int(0x80...0x7FF)))!  // 2-byte UTF-8
        case 3:  // 3-byte UTF-8, avoiding the surrogate range
            let v = UInt32(int(0x800...0xFFFF - 0x800))
            return Unicode.Scalar(v < 0xD800 ? v : v + 0x800)!
        case 4: return Unicode.Scalar(UInt32(int(0x10000...0x10FFFF)))!  // 4-byte UTF-8
        default: return Unicode.Scalar(UInt8(int(0x20...0x7E)))  // printable ASCII
        }
    }

    mutating func string() -> String {
        var s = String.UnicodeScalarView()
        let length = int(0...3) == 0 ? int(9...40) : int(0...8)
        for _ in 0..<length { s.append(scalar()) }
        return String(s)
    }

    mutating func number() -> JSONNumber {
        switch int(0...6) {
        case 0: return JSONNumber(rng.next())  // full UInt64 range
        case 1: return JSONNumber(Int64(bitPattern: rng.next()))  // full Int64 range
        case 2: return JSONNumber([UInt64.max, 0, 1].randomElement(using: &rng)!)
        case 3: return JSONNumber([Int64.min, Int64.max, -1].randomElement(using: &rng)!)
        case 4:  // any finite double, from raw bits
            while true {
                let d = Double(bitPattern: rng.next())
                if let n = JSONNumber(d) { return n }
            }
        case 5: return JSONNumber(Double(int(-1_000_000...1_000_000)) / 64)!
        default:  // a literal with fraction and exponent spelled out
            let literal = "\(int(0...1) == 0 ? "-" : "")\(int(0...999)).\(int(0...999))e\(["", "+", "-"][int(0...2)])\(int(0...300))"
            return JSONNumber(literal: literal)!
        }
    }

    mutating func value(depth: Int) -> JSONValue {
        let kinds = depth >= 4 ? 0...3 : 0...5
        switch int(kinds) {
        case 0: return [.null, .bool(true), .bool(false)][int(0...2)]
        case 1: return .number(number())
        case 2, 3: return .string(string())
        case 4:
            return .array((0..<int(0...6)).map { _ in value(depth: depth + 1) })
        default:
            var object = JSONObject()
            for _ in 0..<int(0...6) {
                let key = int(0...4) == 0 ? string() : "k\(int(0...20))"
                if object[key] == nil { object.members.append((key: key, value: value(depth: depth + 1))) }
            }
            return .object(object)
        }
    }
}

@Suite struct RoundTripTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func writeThenParseGivesBackTheSameValue(seed: UInt64) throws {
        var generator = ValueGenerator(rng: SplitMix64(seed: seed))
        for index in 0..<1_500 {
            let value = generator.value(depth: 0)
            let compact = value.encoded()
            let pretty = value.encoded(pretty: true)
            #expect(try JSONParser.parse(compact) == value, "seed \(seed) #\(index): \(value)")
            #expect(try JSONParser.parse(pretty) == value, "seed \(seed) #\(index) (pretty)")
            // Re-encoding the parsed value must be byte-for-byte stable.
            #expect(try JSONParser.parse(compact).encoded() == compact)
            // The compact form has no whitespace outside strings, so an
            // unescaped control character anywhere would be a writer bug.
            #expect(!compact.contains { $0 < 0x20 })
        }
    }

    @Test func doublesRoundTripBitForBit() throws {
        var rng = SplitMix64(seed: 42)
        var writer = JSONWriter()
        var written: [Double] = []
        writer.beginArray()
        for _ in 0..<3_000 {
            let d = Double(bitPattern: rng.next())
            guard d.isFinite else { continue }
            written.append(d)
            writer.double(d)
        }
        for d in [0.0, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .ulpOfOne, 0.1, 1e23] {
            written.append(d)
            writer.double(d)
        }
        writer.endArray()

        let parsed = try #require(try JSONParser.parse(writer.bytes).arrayValue)
        #expect(parsed.count == written.count)
        for (d, value) in zip(written, parsed) {
            #expect(value.doubleValue?.bitPattern == d.bitPattern, "\(d) -> \(value)")
        }
    }

    @Test func escapedSurrogatePairsAndRawUTF8DecodeToTheSameString() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let v = UInt32.random(in: 0x10000...0x10FFFF, using: &rng)
            let scalar = Unicode.Scalar(v)!
            let high = 0xD800 + ((v - 0x10000) >> 10)
            let low = 0xDC00 + ((v - 0x10000) & 0x3FF)
            let escaped = "\"\\u\(String(high, radix: 16))\\u\(String(low, radix: 16, uppercase: true))\""
            let raw = "\"\(scalar)\""
            #expect(try JSONParser.parse(escaped) == .string(String(scalar)), "\(escaped)")
            #expect(try JSONParser.parse(raw) == .string(String(scalar)))
        }
    }
}
