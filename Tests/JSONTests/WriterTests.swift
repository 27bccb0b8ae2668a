import JSON
import Testing

private func text(_ writer: JSONWriter) -> String {
    String(decoding: writer.bytes, as: UTF8.self)
}

@Suite struct WriterTests {
    /// Literal keys (read in place, including one-scalar literals, which
    /// StaticString stores without a pointer) and keys that arrive as
    /// `String` values (labels, client input) are escaped alike.
    @Test func literalAndStringKeysAgree() {
        let dynamic = "quo\"te/\n"
        let plain = String("plain".reversed())
        for pretty in [false, true] {
            var w = JSONWriter(pretty: pretty)
            w.beginObject()
            w.member("id", 1)
            w.key(dynamic)
            w.int(2)
            w.key(plain)
            w.bool(true)
            w.key("lit")
            w.null()
            w.member("a", 3)
            w.member("é", 4)
            w.member("q\"", 5)
            w.endObject()
            let expected = pretty
                ? "{\n  \"id\": 1,\n  \"quo\\\"te/\\n\": 2,\n  \"nialp\": true,\n  \"lit\": null,\n  \"a\": 3,\n  \"é\": 4,\n  \"q\\\"\": 5\n}"
                : #"{"id":1,"quo\"te/\n":2,"nialp":true,"lit":null,"a":3,"é":4,"q\"":5}"#
            #expect(text(w) == expected)
        }
    }

    @Test(arguments: [UInt64(0), 1, 0xf, 0x10, 0xfd00_0000, 0x0007_0406_0007_0406, 1 << 63, .max])
    func hexMatchesStringFormatting(_ v: UInt64) {
        var w = JSONWriter()
        w.beginArray()
        w.hex(v)
        w.beginObject()
        w.member("v", hex: v)
        w.endObject()
        w.endArray()
        let expected = "0x" + String(v, radix: 16)
        #expect(text(w) == #"["\#(expected)",{"v":"\#(expected)"}]"#)
        var pretty = JSONWriter(pretty: true)
        pretty.hex(v)
        #expect(text(pretty) == "\"\(expected)\"")
    }

    @Test func insertsCommasOnlyBetweenSiblings() {
        var w = JSONWriter()
        w.beginObject()
        w.member("a", 1)
        w.key("b")
        w.beginArray()
        w.int(1)
        w.string("x")
        w.beginObject()
        w.endObject()
        w.beginArray()
        w.endArray()
        w.null()
        w.endArray()
        w.member("c", true)
        w.key("d")
        w.beginObject()
        w.member("e", .null)
        w.endObject()
        w.endObject()
        #expect(text(w) == #"{"a":1,"b":[1,"x",{},[],null],"c":true,"d":{"e":null}}"#)
        #expect(w.isComplete)
    }

    @Test func emptyAndSingleElementContainers() {
        var w = JSONWriter()
        w.beginArray()
        w.beginArray()
        w.int(1)
        w.endArray()
        w.beginObject()
        w.endObject()
        w.endArray()
        #expect(text(w) == "[[1],{}]")
    }

    @Test func closureHelpersNestCorrectly() {
        var w = JSONWriter()
        w.object { o in
            o.member("id", UInt64(7))
            o.key("tags")
            o.array { a in
                a.string("x")
                a.string("y")
            }
            o.member("ratio", 0.5)
        }
        #expect(text(w) == #"{"id":7,"tags":["x","y"],"ratio":0.5}"#)
    }

    @Test func rawSplicesGetCommasButAreNotModified() {
        var w = JSONWriter()
        w.beginArray()
        w.raw(Array(#"{"x":1}"#.utf8))
        w.raw(Array("[]".utf8))
        w.beginObject()
        w.key("k")
        w.raw(Array("\"v\"".utf8))
        w.endObject()
        w.endArray()
        #expect(text(w) == #"[{"x":1},[],{"k":"v"}]"#)
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        var w = JSONWriter()
        w.string("a\"b\\c/\n\r\t\u{08}\u{0C}\u{0}\u{1F}\u{1B}\u{7F}é€😀")
        let expected = #""a\"b\\c/\n\r\t\b\f\u0000\u001f\u001b"# + "\u{7F}é€😀\""
        #expect(text(w) == expected)
    }

    @Test func everyControlCharacterIsEscapedAndParsesBack() throws {
        for code in 0..<0x20 {
            let s = "x" + String(Unicode.Scalar(UInt8(code))) + "y"
            var w = JSONWriter()
            w.string(s)
            #expect(!w.bytes.contains { $0 < 0x20 }, "U+\(code)")
            #expect(try JSONParser.parse(w.bytes) == .string(s), "U+\(code)")
        }
    }

    @Test func keysAreEscapedToo() {
        var w = JSONWriter()
        w.beginObject()
        w.member("a\"b\n", "v")
        w.endObject()
        #expect(text(w) == #"{"a\"b\n":"v"}"#)
    }

    @Test(arguments: [
        (0.1, "0.1"), (-0.0, "-0.0"), (1.0, "1.0"), (1e300, "1e+300"), (Double.leastNonzeroMagnitude, "5e-324"),
        (Double.nan, "null"), (Double.infinity, "null"), (-Double.infinity, "null"),
    ])
    func doublesAreShortestRoundTripOrNull(_ value: Double, _ expected: String) {
        var w = JSONWriter()
        w.double(value)
        #expect(text(w) == expected)
    }

    @Test func prettyPrintingIndentsByTwo() {
        let value: JSONValue = ["a": 1, "b": [true, [], ["c": .null]], "d": [:]]
        let expected = """
            {
              "a": 1,
              "b": [
                true,
                [],
                {
                  "c": null
                }
              ],
              "d": {}
            }
            """
        #expect(String(decoding: value.encoded(pretty: true), as: UTF8.self) == expected)
        #expect(String(decoding: value.encoded(), as: UTF8.self) == #"{"a":1,"b":[true,[],{"c":null}],"d":{}}"#)
    }

    @Test func prettyScalarHasNoWhitespace() {
        #expect(JSONValue.string("x").encoded(pretty: true) == Array(#""x""#.utf8))
    }

    @Test func resetStartsANewDocument() {
        var w = JSONWriter()
        w.int(1)
        #expect(w.isComplete)
        w.reset()
        #expect(!w.isComplete)
        w.beginArray()
        #expect(!w.isComplete)
        w.endArray()
        #expect(text(w) == "[]")
    }

    @Test func valueWritesNumbersExactlyAsTheirLiteral() throws {
        let value = try JSONParser.parse("[1E+2,-0.0e0,0.10]")
        #expect(String(decoding: value.encoded(), as: UTF8.self) == "[1E+2,-0.0e0,0.10]")
    }
}

@Suite struct WriterEdgeTests {
    @Test func integersAtEveryDigitCountBoundary() {
        var expected: [String] = []
        var w = JSONWriter()
        w.beginArray()
        var power: UInt64 = 1
        for _ in 0...19 {
            for v in [power - 1, power, power + 1] {
                w.uint(v)
                expected.append(String(v))
                w.int(-Int(truncatingIfNeeded: v))
                expected.append(String(-Int(truncatingIfNeeded: v)))
            }
            power = power &* 10
        }
        w.uint(.max)
        expected.append(String(UInt64.max))
        w.endArray()
        #expect(text(w) == "[" + expected.joined(separator: ",") + "]")
    }

    @Test func escapeAtEveryPositionOfLongStrings() {
        // Exercises both the 8-byte scan and the padded tail.
        for length in 0..<20 {
            for position in 0...length {
                var s = String(repeating: "a", count: length)
                s.insert("\n", at: s.index(s.startIndex, offsetBy: position))
                var w = JSONWriter()
                w.string(s)
                let expected = "\"" + String(repeating: "a", count: position) + "\\n"
                    + String(repeating: "a", count: length - position) + "\""
                #expect(text(w) == expected, "length \(length), position \(position)")
            }
        }
    }

    @Test func rawAcceptsNonContiguousSequences() {
        var w = JSONWriter()
        w.beginArray()
        w.int(1)
        w.raw("true".utf8.lazy.map { $0 })
        w.endArray()
        #expect(text(w) == "[1,true]")
    }

    @Test func writerGrowsPastItsInitialCapacity() throws {
        var w = JSONWriter(capacity: 1)
        w.beginArray()
        for i in 0..<1_000 { w.string("item \(i) with \"escapes\"\n") }
        w.endArray()
        let parsed = try JSONParser.parse(w.bytes)
        #expect(parsed.arrayValue?.count == 1_000)
        #expect(parsed[999] == "item 999 with \"escapes\"\n")
    }
}

@Suite struct WriterNestingTests {
    @Test func nestingDeeperThanTheTrackedLevelsStillWorks() throws {
        // The writer tracks container kinds for its debug assertions only
        // 64 levels deep; deeper writing must neither assert nor misplace
        // commas.
        var w = JSONWriter()
        for level in 0..<100 {
            if level % 2 == 0 {
                w.beginArray()
                w.int(level)
            } else {
                w.beginObject()
                w.member("n", level)
                w.key("next")
            }
        }
        w.null()
        for level in (0..<100).reversed() {
            if level % 2 == 0 { w.endArray() } else { w.endObject() }
        }
        #expect(w.isComplete)
        var value = try JSONParser.parse(w.bytes, maxDepth: 100)
        for level in 0..<100 {
            if level % 2 == 0 {
                #expect(value[0] == .number(JSONNumber(level)))
                value = try #require(value[1])
            } else {
                #expect(value["n"] == .number(JSONNumber(level)))
                value = try #require(value["next"])
            }
        }
        #expect(value == .null)
    }
}

#if DEBUG
/// Structural misuse is a programming error the writer catches with
/// `assert`, i.e. in debug builds only.
@Suite struct WriterMisuseTests {
    @Test func valueWithoutKeyInsideObjectAsserts() async {
        await #expect(processExitsWith: .failure) {
            var w = JSONWriter()
            w.beginObject()
            w.int(1)
        }
    }

    @Test func mismatchedEndAsserts() async {
        await #expect(processExitsWith: .failure) {
            var w = JSONWriter()
            w.beginArray()
            w.endObject()
        }
    }

    @Test func secondTopLevelValueAsserts() async {
        await #expect(processExitsWith: .failure) {
            var w = JSONWriter()
            w.int(1)
            w.int(2)
        }
    }
}
#endif
