import Testing
@testable import JSON

/// `JSONIndentation`, the one pretty layout: what `JSONWriter(pretty:)` and
/// the CLI's decisions print.
@Suite struct IndentationTests {
    static func indent(_ text: String) -> String {
        String(decoding: JSONIndentation.indent(Array(text.utf8)), as: UTF8.self)
    }

    @Test func nestedContainersIndentByTwo() {
        #expect(Self.indent(#"{"a":[1,{"b":null}],"c":{}}"#) == """
            {
              "a": [
                1,
                {
                  "b": null
                }
              ],
              "c": {}
            }
            """)
    }

    /// Brackets, braces, commas, colons, quotes and backslashes inside
    /// strings are text, not structure.
    @Test func stringsAreCopiedByteForByte() {
        let tricky = #"{"k:,{[":"v\"],}{[\\","x":"\\\""}"#
        #expect(Self.indent(tricky) == """
            {
              "k:,{[": "v\\"],}{[\\\\",
              "x": "\\\\\\""
            }
            """)
    }

    /// Whitespace between tokens does not change the layout: an indented
    /// document indents to itself, and to what its compact form gives.
    @Test func whitespaceIsDroppedFirst() {
        let compact = #"{"a":[1,2,[]],"b":{"c":"d e"}}"#
        let spaced = "{ \"a\" : [ 1 ,\n 2, [ ] ],\t\"b\": {\"c\": \"d e\"} }"
        #expect(Self.indent(spaced) == Self.indent(compact))
        #expect(Self.indent(Self.indent(compact)) == Self.indent(compact))
    }

    @Test func scalarsAndEmptyContainersStayOnOneLine() {
        #expect(Self.indent(#""x""#) == #""x""#)
        #expect(Self.indent("[]") == "[]")
        #expect(Self.indent("{ }") == "{}")
        #expect(Self.indent("-1.5e3") == "-1.5e3")
    }

    /// Random documents: the indented form parses back to the same value.
    @Test func indentedRandomDocumentsParseBack() throws {
        var generator = ValueGenerator(rng: SplitMix64(seed: 9))
        for _ in 0..<500 {
            let value = generator.value(depth: 0)
            #expect(try JSONParser.parse(JSONIndentation.indent(value.encoded())) == value)
        }
    }
}
