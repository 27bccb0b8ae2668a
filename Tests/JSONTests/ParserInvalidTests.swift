import JSON
import Testing

/// A document the parser must reject, where, and why.
struct InvalidCase: Sendable, CustomTestStringConvertible {
    let bytes: [UInt8]
    let line: Int
    let column: Int
    let message: String  // a fragment of the expected message
    init(_ json: String, _ line: Int, _ column: Int, _ message: String) {
        self.init(bytes: Array(json.utf8), line, column, message)
    }
    init(bytes: [UInt8], _ line: Int, _ column: Int, _ message: String) {
        self.bytes = bytes
        self.line = line
        self.column = column
        self.message = message
    }
    var testDescription: String {
        String(decoding: bytes, as: UTF8.self).debugDescription
    }
}

let invalidCases: [InvalidCase] = [
    // Empty input.
    InvalidCase("", 1, 1, "empty input"),
    InvalidCase("   \n ", 2, 2, "empty input"),
    // Trailing commas.
    InvalidCase("[1,2,]", 1, 5, "trailing comma before ']'"),
    InvalidCase(#"{"a":1,}"#, 1, 7, "trailing comma before '}'"),
    InvalidCase("[,]", 1, 2, "expected a value, found ','"),
    // Numbers.
    InvalidCase("01", 1, 1, "leading zeros"),
    InvalidCase("[-01]", 1, 3, "leading zeros"),
    InvalidCase("[1.]", 1, 4, "expected a digit after the decimal point"),
    InvalidCase("1e", 1, 3, "expected a digit in the exponent"),
    InvalidCase("1e+", 1, 4, "expected a digit in the exponent"),
    InvalidCase("-", 1, 2, "expected a digit after '-'"),
    InvalidCase("-a", 1, 2, "expected a digit after '-'"),
    InvalidCase("+1", 1, 1, "numbers must start with '-' or a digit"),
    InvalidCase(".5", 1, 1, "numbers must start with '-' or a digit"),
    InvalidCase("NaN", 1, 1, "NaN and Infinity"),
    InvalidCase("[Infinity]", 1, 2, "NaN and Infinity"),
    InvalidCase("-Infinity", 1, 1, "-Infinity is not a valid JSON number"),
    InvalidCase("0x10", 1, 2, "unexpected 'x' after the JSON value"),
    // Literals.
    InvalidCase("nul", 1, 1, "expected 'null'"),
    InvalidCase("[tru]", 1, 2, "expected 'true'"),
    InvalidCase("falsy", 1, 1, "expected 'false'"),
    InvalidCase("True", 1, 1, "lowercase"),
    // Comments and quotes.
    InvalidCase("/* c */ 1", 1, 1, "comments are not allowed"),
    InvalidCase("[1] // c", 1, 5, "unexpected '/' after the JSON value"),
    InvalidCase("'a'", 1, 1, "strings must use double quotes"),
    InvalidCase("{'a':1}", 1, 2, "expected a string key in double quotes, found '''"),
    // Strings.
    InvalidCase("\"a\tb\"", 1, 3, "a raw tab is not allowed in a string"),
    InvalidCase("\"a\nb\"", 1, 3, "a raw newline is not allowed in a string"),
    InvalidCase("\"a\u{01}\"", 1, 3, "control character 0x01"),
    InvalidCase("\"\u{0}\"", 1, 2, "control character 0x00"),
    InvalidCase("\"abcdefghijk\u{1F}\"", 1, 13, "control character 0x1F"),
    InvalidCase(#""\x""#, 1, 2, #"invalid escape sequence '\x'"#),
    InvalidCase(#""\'""#, 1, 2, #"invalid escape sequence '\''"#),
    InvalidCase(#""ab\u12G4""#, 1, 4, "expected 4 hex digits"),
    InvalidCase(#""\u12"#, 1, 6, "unexpected end of input inside a \\u escape"),
    InvalidCase(#""\ud800""#, 1, 2, #"unpaired high surrogate \uD800"#),
    InvalidCase(#""\ud800\u0041""#, 1, 2, #"unpaired high surrogate \uD800"#),
    InvalidCase(#""\uDBFF\uD800""#, 1, 2, #"unpaired high surrogate \uDBFF"#),
    InvalidCase(#""x\udc00""#, 1, 3, #"unpaired low surrogate \uDC00"#),
    InvalidCase("\"abc", 1, 5, "unexpected end of input inside a string"),
    InvalidCase("\"abc\\", 1, 6, "unexpected end of input inside a string"),
    // Structure.
    InvalidCase(#"{"vm":"guest-7","memory_bytes":4096 "x":1}"#, 1, 37, "expected ',' or '}' after object member"),
    InvalidCase(#"{"a" 1}"#, 1, 6, "expected ':' after object key, found '1'"),
    InvalidCase("{a:1}", 1, 2, "expected a string key in double quotes, found 'a'"),
    InvalidCase("[1 2]", 1, 4, "expected ',' or ']' after array element"),
    InvalidCase(#"{"a":}"#, 1, 6, "expected a value, found '}'"),
    InvalidCase("[1,", 1, 4, "unexpected end of input, expected a value"),
    InvalidCase("[1", 1, 3, "unexpected end of input, expected ',' or ']'"),
    InvalidCase(#"{"a":1"#, 1, 7, "unexpected end of input, expected ',' or '}'"),
    InvalidCase(#"{"a""#, 1, 5, "unexpected end of input, expected ':'"),
    InvalidCase("{", 1, 2, "unexpected end of input, expected a string key"),
    InvalidCase("[1]]", 1, 4, "unexpected ']' after the JSON value"),
    InvalidCase("{} {}", 1, 4, "unexpected '{' after the JSON value"),
    InvalidCase("1 2", 1, 3, "unexpected '2' after the JSON value"),
    InvalidCase("\u{FEFF}1", 1, 1, "byte order mark"),
    // Duplicate keys, reported at the second occurrence.
    InvalidCase(#"{"a":1,"a":2}"#, 1, 8, #"duplicate key "a""#),
    InvalidCase(#"{"a":1,"b":{"c":1,"c":2}}"#, 1, 19, #"duplicate key "c""#),
    InvalidCase(#"{"a\"b":1,"a\u0022b":2}"#, 1, 11, #"duplicate key "a\"b""#),
    // Lines and columns: lines split at \n, columns count characters.
    InvalidCase("{\n  \"a\": 1,\n  \"b\": tru\n}", 3, 8, "expected 'true'"),
    InvalidCase("[\"é€\", x]", 1, 8, "expected a value, found 'x'"),
    InvalidCase("[\r\n1,\r\n]", 2, 2, "trailing comma before ']'"),
    // Invalid UTF-8.
    InvalidCase(bytes: [0x22, 0xFF, 0x22], 1, 2, "byte 0xFF cannot start a character"),
    InvalidCase(bytes: [0x22, 0xC3, 0x22], 1, 2, "malformed sequence starting with byte 0xC3"),
    InvalidCase(bytes: [0x22, 0xC0, 0x80, 0x22], 1, 2, "byte 0xC0 cannot start"),  // overlong '\0'
    InvalidCase(bytes: [0x22, 0xE0, 0x80, 0x80, 0x22], 1, 2, "malformed sequence"),  // overlong
    InvalidCase(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], 1, 2, "malformed sequence"),  // UTF-16 surrogate
    InvalidCase(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1, 2, "malformed sequence"),  // > U+10FFFF
    InvalidCase(bytes: [0x22, 0xF0, 0x9F, 0x98, 0x22], 1, 2, "malformed sequence"),  // 3 of 4 bytes
    InvalidCase(bytes: [0x22, 0xE2, 0x82], 1, 2, "truncated sequence"),
    InvalidCase(bytes: [0x22, 0x5C, 0x6E, 0xFE, 0x22], 1, 4, "byte 0xFE cannot start"),  // after an escape
    InvalidCase(bytes: Array("\"abcdefghij".utf8) + [0x80, 0x22], 1, 12, "byte 0x80 cannot start"),
    InvalidCase(bytes: [0xFF], 1, 1, "expected a value, found byte 0xFF"),
    InvalidCase(bytes: [0x5B, 0x31, 0x5D, 0x00], 1, 4, "unexpected byte 0x00 after the JSON value"),
]

@Suite struct ParserInvalidTests {
    @Test(arguments: invalidCases)
    func rejectsInvalidDocument(_ c: InvalidCase) {
        let error = #expect(throws: JSONParseError.self) {
            try JSONParser.parse(c.bytes)
        }
        guard let error else { return }
        #expect(error.line == c.line, "\(error)")
        #expect(error.column == c.column, "\(error)")
        #expect(error.message.contains(c.message), "\(error)")
    }

    @Test func offsetIsTheByteOffsetAndDescriptionIsForHumans() {
        let json = #"{"vm":"guest-7","memory_bytes":4096 "x":1}"#
        #expect(throws: JSONParseError(
            offset: 36, line: 1, column: 37,
            message: "expected ',' or '}' after object member"
        )) {
            try JSONParser.parse(json)
        }
        let error = JSONParseError(offset: 36, line: 1, column: 37, message: "expected ',' or '}' after object member")
        #expect(error.description == "line 1, column 37: expected ',' or '}' after object member")
    }

    @Test func byteOffsetAndColumnDifferForNonASCII() {
        // "é" is 2 bytes but 1 column, so the column is not offset + 1.
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse("[\"é\" 1]") }
        #expect(error?.offset == 6)
        #expect(error?.column == 6)
    }

    @Test func endOfInputOffsetIsInputLength() {
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse("{\"a\":[1,2") }
        #expect(error?.offset == 9)
        #expect(error?.column == 10)
    }
}
