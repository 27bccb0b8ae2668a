import JSON
import Testing

/// A number literal and what each accessor must return for it.
struct NumberCase: Sendable, CustomTestStringConvertible {
    let literal: String
    let uint64: UInt64?
    let int64: Int64?
    let double: Double?
    var testDescription: String { literal }
}

let numberCases: [NumberCase] = [
    NumberCase(literal: "0", uint64: 0, int64: 0, double: 0),
    NumberCase(literal: "-0", uint64: 0, int64: 0, double: -0.0),
    NumberCase(literal: "7", uint64: 7, int64: 7, double: 7),
    NumberCase(literal: "-7", uint64: nil, int64: -7, double: -7),
    NumberCase(literal: "18446744073709551615", uint64: .max, int64: nil, double: 18446744073709551615.0),
    NumberCase(literal: "18446744073709551616", uint64: nil, int64: nil, double: 18446744073709551616.0),
    NumberCase(literal: "99999999999999999999", uint64: nil, int64: nil, double: 1e20),
    NumberCase(literal: "9223372036854775807", uint64: 9_223_372_036_854_775_807, int64: .max, double: 9.223372036854775807e18),
    NumberCase(literal: "9223372036854775808", uint64: 9_223_372_036_854_775_808, int64: nil, double: 9.223372036854775808e18),
    NumberCase(literal: "-9223372036854775808", uint64: nil, int64: .min, double: -9.223372036854775808e18),
    NumberCase(literal: "-9223372036854775809", uint64: nil, int64: nil, double: -9.223372036854775809e18),
    NumberCase(literal: "1.0", uint64: nil, int64: nil, double: 1),
    NumberCase(literal: "1e2", uint64: nil, int64: nil, double: 100),
    NumberCase(literal: "0.1", uint64: nil, int64: nil, double: 0.1),
    NumberCase(literal: "-2.5E-3", uint64: nil, int64: nil, double: -0.0025),
    NumberCase(literal: "1e400", uint64: nil, int64: nil, double: nil),
    NumberCase(literal: "-1e400", uint64: nil, int64: nil, double: nil),
    NumberCase(literal: "1e-400", uint64: nil, int64: nil, double: 0),
    // 2^53 + 1 is not representable; the literal keeps it, double rounds.
    NumberCase(literal: "9007199254740993", uint64: 9_007_199_254_740_993, int64: 9_007_199_254_740_993, double: 9007199254740992),
]

@Suite struct NumberTests {
    @Test(arguments: numberCases)
    func accessorsAreExactOrNil(_ c: NumberCase) throws {
        let parsed = try JSONParser.parse("[\(c.literal)]")
        let number = try #require(parsed[0]?.numberValue)
        #expect(number.literal == c.literal)
        #expect(number.uint64 == c.uint64)
        #expect(number.int64 == c.int64)
        #expect(number.double?.bitPattern == c.double?.bitPattern, "\(String(describing: number.double))")
    }

    @Test func uint64MaxAndInt64MinSurviveAParseWriteRoundTrip() throws {
        let json = #"{"max":18446744073709551615,"min":-9223372036854775808}"#
        let value = try JSONParser.parse(json)
        #expect(value["max"]?.uint64Value == UInt64.max)
        #expect(value["min"]?.int64Value == Int64.min)
        #expect(value.encoded() == Array(json.utf8))

        var writer = JSONWriter()
        writer.beginArray()
        writer.uint(.max)
        writer.int(.min)
        writer.int(Int(Int64.max))
        writer.int(0)
        writer.int(-7)
        writer.endArray()
        #expect(String(decoding: writer.bytes, as: UTF8.self)
            == "[18446744073709551615,-9223372036854775808,9223372036854775807,0,-7]")
    }

    @Test(arguments: ["0", "-0", "1", "-1.5e+10", "0.000", "12E-1", "1e05", "123456789012345678901234567890"])
    func validLiteralsAreAccepted(_ literal: String) {
        #expect(JSONNumber(literal: literal)?.literal == literal)
    }

    @Test(arguments: ["", " 1", "1 ", "+1", "01", "-01", "1.", ".1", "1e", "1e+", "0x10", "NaN", "Infinity",
                      "-", "--1", "1_000", "1.2.3", "١"])
    func invalidLiteralsAreRejected(_ literal: String) {
        #expect(JSONNumber(literal: literal) == nil)
    }

    @Test func doubleInitializerRejectsNonFinite() {
        #expect(JSONNumber(Double.nan) == nil)
        #expect(JSONNumber(Double.infinity) == nil)
        #expect(JSONNumber(-Double.infinity) == nil)
        #expect(JSONNumber(0.1)?.literal == "0.1")
        #expect(JSONNumber(-0.0)?.double?.sign == .minus)
    }

    @Test func integerInitializerIsExact() {
        #expect(JSONNumber(UInt64.max).literal == "18446744073709551615")
        #expect(JSONNumber(Int64.min).literal == "-9223372036854775808")
        #expect(JSONNumber(UInt8(0)).literal == "0")
    }

    @Test func equalityIsLiteralEquality() {
        #expect(JSONNumber(literal: "1") != JSONNumber(literal: "1.0"))
        #expect(JSONNumber(literal: "1") == JSONNumber(1))
    }
}

@Suite struct NumberRepresentationTests {
    @Test(arguments: [
        ("-18446744073709551615", nil, nil),  // 64-bit magnitude, negative: fits no Swift type
        ("-18446744073709551616", nil, nil),  // beyond 64 bits: kept as text
        ("123456789012345678901234567890", nil, nil),
    ] as [(String, UInt64?, Int64?)])
    func literalsOutsideTheIntegerTypesAreKeptExactly(_ literal: String, _ uint64: UInt64?, _ int64: Int64?) throws {
        let number = try #require(JSONNumber(literal: literal))
        #expect(number.literal == literal)
        #expect(number.uint64 == uint64)
        #expect(number.int64 == int64)
        #expect(JSONValue.number(number).encoded() == Array(literal.utf8))
    }

    @Test func sameLiteralFromDifferentSourcesIsEqual() throws {
        #expect(JSONNumber(literal: "5") == JSONNumber(5))
        #expect(JSONNumber(literal: "-5") == JSONNumber(-5))
        #expect(JSONNumber(literal: "-0") != JSONNumber(0))
        #expect(JSONNumber(literal: "-0")?.literal == "-0")
        #expect(try JSONParser.parse("18446744073709551615") == .number(JSONNumber(UInt64.max)))
        #expect(try JSONParser.parse("0.5") == .number(JSONNumber(0.5)!))
    }
}
