/// Parses JSON text into a ``JSONValue``, strictly, per RFC 8259.
///
/// The parser is on the request path and rejects rather than guesses:
/// trailing commas, leading zeros, `NaN`/`Infinity`, comments, unescaped
/// control characters, invalid escapes, unpaired surrogates, invalid UTF-8,
/// a byte order mark, duplicate object keys, anything but whitespace after
/// the top-level value, and empty input are all errors. A lenient parser
/// makes two services disagree on what a request meant; a strict one makes
/// the client fix the request.
///
/// Errors are ``JSONParseError``s with the byte offset, line and column and
/// a message meant to be shown to the client as-is.
///
/// The parser is iterative (an explicit stack instead of recursion), so
/// hostile nesting such as 100 000 `[` cannot overflow the thread's stack
/// whatever `maxDepth` is; `maxDepth` exists to bound work and memory.
///
/// Performance: it reads bytes through a raw pointer, skips plain string
/// content 8 bytes at a time, creates strings without escapes directly
/// from their byte range, stores 64-bit integers without a string, and
/// keeps its own state on the thread's stack. What remains is mostly the
/// unavoidable part: one allocation per container and per string longer
/// than 15 bytes.
public enum JSONParser {
    /// The default nesting limit: deep enough for any request this service
    /// accepts, shallow enough that a hostile body is rejected early.
    public static let defaultMaxDepth = 64

    /// Parses one JSON document from raw bytes, without copying them.
    ///
    /// This is the primary entry point; the others forward here.
    ///
    /// Measured: about 0.9 µs to parse the README's 221-byte decision
    /// request (the "wire: parse JSON only" line of
    /// `swift run -c release memtype-bench 40000`, best of 5 rounds; Swift
    /// 6.3.1, release, x86_64 Linux VM with 2 cores busy with other builds).
    /// For comparison, Foundation's `JSONDecoder` took about 18 µs per
    /// request in the prototype.
    ///
    /// - Parameters:
    ///   - bytes: UTF-8 encoded JSON text.
    ///   - maxDepth: How many containers (`[` or `{`) may be nested; the
    ///     next level is an error. `0` allows only a scalar document.
    /// - Returns: The top-level value.
    /// - Throws: ``JSONParseError`` for anything RFC 8259 does not allow,
    ///   duplicate object keys, or nesting deeper than `maxDepth`.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        maxDepth: Int = defaultMaxDepth
    ) throws(JSONParseError) -> JSONValue {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw JSONParseError(offset: 0, line: 1, column: 1, message: "empty input: expected a JSON value")
        }
        // Parser state starts on this thread's stack: 24 values, 24 keys
        // and 16 open containers cover typical requests without a malloc.
        let result = withUnsafeTemporaryAllocation(of: JSONValue.self, capacity: 24) { values in
            withUnsafeTemporaryAllocation(of: String.self, capacity: 24) { keys in
                withUnsafeTemporaryAllocation(of: Parser.Frame.self, capacity: 16) { frames in
                    Result { () throws(JSONParseError) in
                        var parser = Parser(
                            base: base, end: bytes.count, maxDepth: maxDepth,
                            frames: frames, values: values, keys: keys)
                        return try parser.parseDocument()
                    }
                }
            }
        }
        return try result.get()
    }

    /// Parses one JSON document from a collection of UTF-8 bytes.
    ///
    /// Contiguous collections (`[UInt8]`, `ArraySlice<UInt8>`, a native
    /// `String.UTF8View`) are read in place; others are copied first.
    public static func parse(
        _ bytes: some Collection<UInt8>,
        maxDepth: Int = defaultMaxDepth
    ) throws(JSONParseError) -> JSONValue {
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) in
                try parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth)
            }
        }
        if let contiguous {
            return try contiguous.get()
        }
        return try Array(bytes).withUnsafeBytes { raw in
            Result { () throws(JSONParseError) in try parse(raw, maxDepth: maxDepth) }
        }.get()
    }

    /// Parses one JSON document from a string (handy in tests and the CLI).
    public static func parse(
        _ text: String,
        maxDepth: Int = defaultMaxDepth
    ) throws(JSONParseError) -> JSONValue {
        var text = text
        return try text.withUTF8 { utf8 in
            Result { () throws(JSONParseError) in
                try parse(UnsafeRawBufferPointer(utf8), maxDepth: maxDepth)
            }
        }.get()
    }
}

/// The parser's state for one document.
///
/// Open containers live on explicit stacks rather than the call stack:
/// `frames` has one entry per open `[`/`{`; the values parsed so far for
/// all open containers sit on `values`, and the keys of open objects on
/// `keys`. When a container closes, its children are moved off the top of
/// the stacks into an exactly-sized array, so each container allocates
/// once and no element is retained or released on the way.
struct Parser: ~Copyable {
    /// One open container.
    struct Frame {
        var isObject: Bool
        /// Where this container's children begin in `values`.
        var valueStart: Int
        /// Where this object's keys begin in `keys`.
        var keyStart: Int
        /// The object's keys, built only once the object is large enough
        /// that scanning for duplicates linearly would be quadratic.
        var keyIndex: Set<UTF8Key>?
    }

    /// Objects with at most this many members are checked for duplicate
    /// keys by linear scan; larger ones use a hash set.
    static let linearDuplicateScanLimit = 16

    let base: UnsafeRawPointer
    let end: Int
    let maxDepth: Int
    var i = 0
    var frames: ParserStack<Frame>
    var values: ParserStack<JSONValue>
    var keys: ParserStack<String>
    /// Reused buffer for decoding strings that contain escapes.
    var scratch: [UInt8] = []

    init(
        base: UnsafeRawPointer, end: Int, maxDepth: Int,
        frames: UnsafeMutableBufferPointer<Frame>,
        values: UnsafeMutableBufferPointer<JSONValue>,
        keys: UnsafeMutableBufferPointer<String>
    ) {
        self.base = base
        self.end = end
        self.maxDepth = maxDepth
        self.frames = ParserStack(borrowing: frames)
        self.values = ParserStack(borrowing: values)
        self.keys = ParserStack(borrowing: keys)
    }

    @inline(__always)
    func byte(_ offset: Int) -> UInt8 {
        base.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while i < end {
            let b = byte(i)
            guard b <= ASCII.space, b == ASCII.space || b == ASCII.newline || b == ASCII.tab || b == ASCII.cr else {
                return
            }
            i += 1
        }
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if end >= 3 && byte(0) == 0xEF && byte(1) == 0xBB && byte(2) == 0xBF {
            throw error("a byte order mark (U+FEFF) is not allowed before JSON text", at: 0)
        }
        skipWhitespace()
        guard i < end else {
            throw error("empty input: expected a JSON value, found only whitespace", at: i)
        }

        nextValue: while true {
            // Expecting a value: at the top level, after '[', ',' or ':'.
            skipWhitespace()
            guard i < end else { throw error("unexpected end of input, expected a value", at: i) }
            var value: JSONValue
            let c = byte(i)
            switch c {
            case ASCII.quote:
                value = .string(try parseString())
            case ASCII.openBrace, ASCII.openBracket:
                let isObject = c == ASCII.openBrace
                guard frames.count < maxDepth else {
                    throw error("nesting is deeper than the maximum depth of \(maxDepth)", at: i)
                }
                i += 1
                skipWhitespace()
                if i < end && byte(i) == (isObject ? ASCII.closeBrace : ASCII.closeBracket) {
                    i += 1
                    value = isObject ? .object(JSONObject()) : .array([])
                } else {
                    frames.push(Frame(isObject: isObject, valueStart: values.count, keyStart: keys.count))
                    if isObject {
                        try parseKeyAndColon(commaOffset: nil)
                    }
                    continue nextValue
                }
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            default:
                throw unexpectedValueStart(c)
            }

            // A value is complete: hand it to the innermost open container,
            // then either continue that container or close it (and repeat
            // with the closed container as the completed value).
            while frames.count > 0 {
                values.push(consume value)
                skipWhitespace()
                let frame = frames.count - 1
                if frames[frame].isObject {
                    guard i < end else {
                        throw error("unexpected end of input, expected ',' or '}' after object member", at: i)
                    }
                    let c = byte(i)
                    if c == ASCII.comma {
                        let comma = i
                        i += 1
                        try parseKeyAndColon(commaOffset: comma)
                        continue nextValue
                    }
                    guard c == ASCII.closeBrace else {
                        throw error("expected ',' or '}' after object member", at: i)
                    }
                    i += 1
                    let closed = frames.pop()
                    value = .object(JSONObject(ParserStack<String>.popMembers(
                        keys: &keys, from: closed.keyStart, values: &values, from: closed.valueStart)))
                } else {
                    guard i < end else {
                        throw error("unexpected end of input, expected ',' or ']' after array element", at: i)
                    }
                    let c = byte(i)
                    if c == ASCII.comma {
                        let comma = i
                        i += 1
                        skipWhitespace()
                        if i < end && byte(i) == ASCII.closeBracket {
                            throw error("trailing comma before ']' is not allowed", at: comma)
                        }
                        continue nextValue
                    }
                    guard c == ASCII.closeBracket else {
                        throw error("expected ',' or ']' after array element", at: i)
                    }
                    i += 1
                    value = .array(values.popArray(from: frames.pop().valueStart))
                }
            }

            skipWhitespace()
            guard i == end else {
                throw error("unexpected \(describe(byte(i))) after the JSON value (only whitespace may follow it)", at: i)
            }
            return value
        }
    }

    /// Reads `"key" :` inside an object (after `{` or `,`), rejects
    /// duplicates, and pushes the key.
    ///
    /// - Parameter commaOffset: Where the preceding `,` was, to report a
    ///   trailing comma there; `nil` right after `{`.
    mutating func parseKeyAndColon(commaOffset: Int?) throws(JSONParseError) {
        skipWhitespace()
        guard i < end else {
            throw error("unexpected end of input, expected a string key", at: i)
        }
        guard byte(i) == ASCII.quote else {
            if let commaOffset, byte(i) == ASCII.closeBrace {
                throw error("trailing comma before '}' is not allowed", at: commaOffset)
            }
            throw error("expected a string key in double quotes, found \(describe(byte(i)))", at: i)
        }
        let keyOffset = i
        let key = try parseString()

        let frame = frames.count - 1
        let start = frames[frame].keyStart
        let existing = keys.count - start
        if existing > 0 {
            var duplicate = false
            if existing <= Self.linearDuplicateScanLimit {
                // Comparing lengths first settles most pairs without
                // looking at the bytes.
                let length = key.utf8.count
                for index in start..<keys.count where keys[index].utf8.count == length && utf8Equal(keys[index], key) {
                    duplicate = true
                    break
                }
            } else {
                if frames[frame].keyIndex == nil {
                    var index = Set<UTF8Key>(minimumCapacity: existing * 2)
                    for k in start..<keys.count { index.insert(UTF8Key(string: keys[k])) }
                    frames[frame].keyIndex = index
                }
                duplicate = !frames[frame].keyIndex!.insert(UTF8Key(string: key)).inserted
            }
            if duplicate {
                throw error("duplicate key \(quoted(key))", at: keyOffset)
            }
        }

        skipWhitespace()
        guard i < end else {
            throw error("unexpected end of input, expected ':' after object key", at: i)
        }
        guard byte(i) == ASCII.colon else {
            throw error("expected ':' after object key, found \(describe(byte(i)))", at: i)
        }
        i += 1
        keys.push(key)
    }
}

/// ASCII byte values used by the parser and writer.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let newline: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let comma: UInt8 = 0x2C
    static let minus: UInt8 = 0x2D
    static let slash: UInt8 = 0x2F
    static let colon: UInt8 = 0x3A
    static let openBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let closeBracket: UInt8 = 0x5D
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
}
