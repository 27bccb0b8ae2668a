import JSON
import Testing

/// A document the parser must accept, and the value it must produce.
struct ValidCase: Sendable, CustomTestStringConvertible {
    let json: String
    let expected: JSONValue
    init(_ json: String, _ expected: JSONValue) {
        self.json = json
        self.expected = expected
    }
    var testDescription: String { json.debugDescription }
}

private func number(_ literal: String) -> JSONValue {
    .number(JSONNumber(literal: literal)!)
}

let validCases: [ValidCase] = [
    // Scalars and surrounding whitespace.
    ValidCase("null", .null),
    ValidCase(" \t\r\n true \n", true),
    ValidCase("false", false),
    ValidCase("0", number("0")),
    ValidCase("-0", number("-0")),
    ValidCase("42", 42),
    ValidCase("-17", -17),
    ValidCase("123.456e-7", number("123.456e-7")),
    ValidCase("1E+2", number("1E+2")),
    ValidCase("0.5", number("0.5")),
    ValidCase("-0.0e00", number("-0.0e00")),
    // Strings.
    ValidCase(#""""#, ""),
    ValidCase(#""abc""#, "abc"),
    ValidCase(#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
    ValidCase(#""\u00e9\u00E9\u0041""#, "ééA"),
    ValidCase(#""\u0000""#, "\u{0}"),
    ValidCase(#""\ud83d\ude00""#, "😀"),
    ValidCase(#""\uD834\uDD1E clef""#, "𝄞 clef"),
    ValidCase(#""\u2028\uffff""#, "\u{2028}\u{FFFF}"),
    ValidCase("\"é€😀 raw\"", "é€😀 raw"),
    ValidCase("\"\u{7F} DEL is not a control character in JSON\"", "\u{7F} DEL is not a control character in JSON"),
    // Long strings exercise the 8-bytes-at-a-time scan and its tail.
    ValidCase(#""abcdefghijklmnopqrstuvwxyz0123456789""#, "abcdefghijklmnopqrstuvwxyz0123456789"),
    ValidCase(#""abcdefghijklmnop\nqrstuvwxyz\t""#, "abcdefghijklmnop\nqrstuvwxyz\t"),
    ValidCase("\"abcdefgé€😀hijklmnopqrstu\"", "abcdefgé€😀hijklmnopqrstu"),
    ValidCase(#""12345678""#, "12345678"),
    ValidCase(#""1234567""#, "1234567"),
    // Containers.
    ValidCase("[]", []),
    ValidCase("{}", .object(JSONObject())),
    ValidCase(" [ ] ", []),
    ValidCase("{ }", .object(JSONObject())),
    ValidCase("[1,[2,[3,[]]]]", [1, [2, [3, []]]]),
    ValidCase("[ 1 , \"two\" , null , true ]", [1, "two", .null, true]),
    ValidCase(#"{"a":{"b":[true,null]},"c":"d"}"#, ["a": ["b": [true, .null]], "c": "d"]),
    ValidCase(#"{"z":1,"a":2,"m":3}"#, ["z": 1, "a": 2, "m": 3]),
    ValidCase(#"{"":0}"#, ["": 0]),
    ValidCase(#"{"a\nb":"\"q\""}"#, ["a\nb": "\"q\""]),
    ValidCase(#"[{"a":1},{"a":2}]"#, [["a": 1], ["a": 2]]),
    ValidCase(#"{"a":{"a":{"a":[]}}}"#, ["a": ["a": ["a": []]]]),
    ValidCase("\n{\n  \"vm\" : \"guest-7\" ,\n  \"ranges\" : [ 1 , 2 ]\n}\n", ["vm": "guest-7", "ranges": [1, 2]]),
]

@Suite struct ParserValidTests {
    @Test(arguments: validCases)
    func parsesValidDocument(_ c: ValidCase) throws {
        let parsed = try JSONParser.parse(c.json)
        #expect(parsed == c.expected)
    }

    @Test(arguments: validCases)
    func allInputOverloadsAgree(_ c: ValidCase) throws {
        let bytes = Array(c.json.utf8)
        #expect(try JSONParser.parse(bytes) == c.expected)
        // A slice that does not start at index 0 of its base.
        let padded = [UInt8(ascii: "x")] + bytes
        #expect(try JSONParser.parse(padded[1...]) == c.expected)
        // A non-contiguous collection takes the copying path.
        #expect(try JSONParser.parse(bytes.lazy.map { $0 }) == c.expected)
        let viaRaw = try bytes.withUnsafeBytes { raw throws(JSONParseError) in try JSONParser.parse(raw) }
        #expect(viaRaw == c.expected)
        #expect(try JSONParser.parse(c.json.utf8) == c.expected)
    }

    @Test func objectKeepsDocumentOrderAndLooksUpByKey() throws {
        let value = try JSONParser.parse(#"{"b":1,"a":"x","c":[true]}"#)
        let object = try #require(value.objectValue)
        #expect(object.keys == ["b", "a", "c"])
        #expect(object["a"] == "x")
        #expect(object["missing"] == nil)
        #expect(value["c"]?[0] == true)
        #expect(value["c"]?[1] == nil)
        #expect(Array(object.map(\.key)) == ["b", "a", "c"])
    }

    @Test func longStringWithEscapesAtEveryPosition() throws {
        // Put an escape at each offset relative to the 8-byte scan blocks.
        for position in 0..<20 {
            let prefix = String(repeating: "a", count: position)
            let json = "\"\(prefix)\\n\(prefix)é\""
            #expect(try JSONParser.parse(json) == .string("\(prefix)\n\(prefix)é"), "position \(position)")
        }
    }
}

@Suite struct LargeDocumentTests {
    // The parser keeps its state on small fixed-size buffers and moves to
    // the heap when a document outgrows them; these cross those limits.

    @Test func wideArraysAndObjects() throws {
        let elements = (0..<1_000).map { "[\($0),\"s\($0)\"]" }
        let array = try JSONParser.parse("[" + elements.joined(separator: ",") + "]")
        #expect(array.arrayValue?.count == 1_000)
        #expect(array[999] == [999, "s999"])

        let members = (0..<300).map { "\"key\($0)\":{\"n\":\($0)}" }
        let object = try JSONParser.parse("{" + members.joined(separator: ",") + "}")
        #expect(object.objectValue?.count == 300)
        #expect(object["key0"]?["n"] == 0)
        #expect(object["key299"]?["n"] == 299)
        #expect(object.objectValue?.keys.last == "key299")
    }

    @Test func deepMixedNestingKeepsEveryLevel() throws {
        // 60 levels alternating objects and arrays, each with a sibling.
        var json = ""
        for level in 0..<60 {
            json += level % 2 == 0 ? "{\"before\":\(level),\"child\":" : "[\(level),"
        }
        json += "null"
        for level in (0..<60).reversed() {
            json += level % 2 == 0 ? ",\"after\":\(level)}" : ",\(level)]"
        }
        var value = try JSONParser.parse(json)
        for level in 0..<60 {
            if level % 2 == 0 {
                #expect(value["before"] == .number(JSONNumber(level)))
                #expect(value["after"] == .number(JSONNumber(level)))
                value = try #require(value["child"])
            } else {
                #expect(value[0] == .number(JSONNumber(level)))
                #expect(value[2] == .number(JSONNumber(level)))
                value = try #require(value[1])
            }
        }
        #expect(value == .null)
    }

    @Test func errorAfterLargeStateIsReportedCleanly() {
        let elements = (0..<500).map { "{\"k\":\"v\($0)\"}" }
        let json = "[" + elements.joined(separator: ",") + ",]"
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(json) }
        #expect(error?.message.contains("trailing comma") == true)
    }
}

@Suite struct UnicodeKeyTests {
    // JSON names compare by code points, not by Unicode canonical
    // equivalence (which Swift's String == uses).
    @Test func canonicallyEquivalentKeysAreDistinct() throws {
        let value = try JSONParser.parse(#"{"\u00e9":1,"e\u0301":2}"#)
        #expect(value.objectValue?.count == 2)
        #expect(value["\u{E9}"] == 1)
        #expect(value["e\u{301}"] == 2)
    }

    @Test func canonicallyEquivalentKeysAreDistinctInLargeObjects() throws {
        let filler = (0..<20).map { "\"f\($0)\":0" }.joined(separator: ",")
        let value = try JSONParser.parse("{\(filler),\"\u{E9}\":1,\"e\u{301}\":2}")
        #expect(value.objectValue?.count == 22)
    }

    @Test func stringEqualityIsByteEquality() {
        #expect(JSONValue.string("\u{E9}") != JSONValue.string("e\u{301}"))
        #expect(JSONValue.string("\u{E9}") == JSONValue.string("é"))
    }
}
