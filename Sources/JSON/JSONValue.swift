// The JSON module: a small, strict JSON reader and writer for the request path.
//
// Foundation's JSONDecoder/JSONEncoder cost about 18 us per request in the
// prototype, several times the whole per-request budget. This module works
// directly on UTF-8 bytes, never goes through `Character`, regex or
// Foundation, and creates each string straight from its byte slice.
//
// API notes (refinements of the original design brief):
//
// - `JSONParser.parse` has overloads for `UnsafeRawBufferPointer` (what an
//   HTTP server hands over), any `Collection<UInt8>` (`[UInt8]`,
//   `ArraySlice<UInt8>`, `String.UTF8View`; contiguous ones are not copied)
//   and `String`. All use typed throws: `throws(JSONParseError)`.
// - `maxDepth` counts nested containers: `maxDepth: 0` accepts only scalars,
//   the default 64 accepts 64 levels of `[`/`{`. The parser is iterative,
//   so the limit is a resource policy, not a stack guard: even a very large
//   `maxDepth` cannot overflow the stack while parsing. (Destroying,
//   comparing and encoding a `JSONValue` are recursive, so very deep trees
//   are still best avoided.)
// - A UTF-8 byte order mark is rejected (RFC 8259 lets a parser choose).
// - `JSONParseError.column` counts Unicode scalars, not bytes; it has a
//   public memberwise initializer.
// - `JSONNumber.literal` is a computed property (`{ get }`) rather than a
//   stored `let`: integers that fit in 64 bits are stored as integers, so
//   parsing them allocates nothing and `uint64`/`int64` are free. Added:
//   `init?(literal:)` (validating), `init(_: some BinaryInteger)`,
//   `init?(_: Double)` (nil for NaN/infinity). `uint64`/`int64` treat `-0`
//   as 0. `double` is nil when the literal overflows `Double` (`1e400`)
//   instead of returning an infinity. Equality compares literals
//   (`1` != `1.0`).
// - Strings and object keys compare by UTF-8 bytes, not by Swift's Unicode
//   canonical equivalence: `"\u00e9"` and `"e\u0301"` are different keys
//   (for lookup and for the duplicate check) and different `JSONValue`s.
//   `JSONValue` equality therefore is hand-written; two values are equal
//   exactly when they encode to the same bytes. `JSONObject` equality is
//   order-sensitive.
// - `JSONObject`'s subscript also has a setter; it has `count`, `isEmpty`
//   and a dictionary-literal initializer (order kept, duplicates trap).
// - `JSONValue` has optional accessors (`stringValue`, `objectValue`,
//   `uint64Value`, `subscript(key)`, `subscript(index)`, ...) and literal
//   conformances for building values.
// - `JSONWriter.init(capacity:pretty:)`; `double(_:)` writes `null` for NaN
//   and the infinities (no trap, no invalid output). Structural misuse (a
//   value without a key inside an object, mismatched `end...`, a second
//   top-level value) is caught by `assert` in debug builds only. Extra
//   helpers: `number(_:)`, `member(_:_:)` overloads, `object(_:)` and
//   `array(_:)` closures, `isComplete`, `reset()`.
// - `raw(_:)` accepts any `Sequence<UInt8>`; spliced bytes are
//   re-indented with the rest in pretty mode (the writer writes compact
//   JSON only; `JSONIndentation` lays it out).

/// A parsed JSON document, or one being built to be written.
///
/// A plain enum so that callers can `switch` over it exhaustively and the
/// compiler checks that every case of a request is handled. Numbers keep
/// their literal (see ``JSONNumber``) so that 64-bit integers survive
/// exactly; objects keep their member order (see ``JSONObject``).
///
/// Equality is exact and structural: numbers compare by literal (see
/// ``JSONNumber``), strings and keys by their UTF-8 bytes (not by Swift's
/// Unicode canonical equivalence), objects in member order. Two values
/// are equal exactly when they encode to the same bytes.
///
/// For streaming output without building a tree first, use ``JSONWriter``.
public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, kept exactly as written so `UInt64` values up to 2^64-1
    /// are exact.
    case number(JSONNumber)
    /// A string, with escapes decoded.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, members in document order, no duplicate keys when parsed.
    case object(JSONObject)
}

// MARK: - Equality

extension JSONValue {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let l), .bool(let r)): return l == r
        case (.number(let l), .number(let r)): return l == r
        case (.string(let l), .string(let r)): return utf8Equal(l, r)
        case (.array(let l), .array(let r)): return l == r
        case (.object(let l), .object(let r)): return l == r
        default: return false
        }
    }
}

// MARK: - Accessors

extension JSONValue {
    /// `true` for `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The payload of `.bool`, otherwise `nil`.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The payload of `.number`, otherwise `nil`.
    public var numberValue: JSONNumber? {
        if case .number(let n) = self { return n }
        return nil
    }

    /// The payload of `.string`, otherwise `nil`.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The payload of `.array`, otherwise `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The payload of `.object`, otherwise `nil`.
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// A number's exact `UInt64` value (see ``JSONNumber/uint64``), otherwise `nil`.
    public var uint64Value: UInt64? { numberValue?.uint64 }

    /// A number's exact `Int64` value (see ``JSONNumber/int64``), otherwise `nil`.
    public var int64Value: Int64? { numberValue?.int64 }

    /// A number's nearest finite `Double` (see ``JSONNumber/double``), otherwise `nil`.
    public var doubleValue: Double? { numberValue?.double }

    /// The member `key` of an object; `nil` if this is not an object or has
    /// no such member. Lets lookups chain: `value["vm"]?["id"]`.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The element at `index` of an array; `nil` if this is not an array or
    /// the index is out of bounds (never traps: the index usually comes
    /// from reasoning about untrusted input).
    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }
}

// MARK: - Encoding

extension JSONValue: CustomStringConvertible {
    /// Encodes this value as UTF-8 JSON.
    ///
    /// - Parameter pretty: `false` (the default) for the compact form sent
    ///   over the wire; `true` for 2-space indentation, for humans.
    /// - Returns: The encoded bytes, without a trailing newline.
    public func encoded(pretty: Bool = false) -> [UInt8] {
        var writer = JSONWriter(pretty: pretty)
        writer.value(self)
        return writer.bytes
    }

    /// The compact JSON encoding, for logs and test failure messages.
    public var description: String {
        String(decoding: encoded(), as: UTF8.self)
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .number(JSONNumber(value)) }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// Traps for a non-finite literal, which JSON cannot express.
    public init(floatLiteral value: Double) {
        guard let number = JSONNumber(value) else {
            preconditionFailure("JSON cannot represent the non-finite number \(value)")
        }
        self = .number(number)
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Creates an object, keeping the literal's order; duplicate keys trap.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        object.members.reserveCapacity(elements.count)
        for (key, value) in elements {
            precondition(object[key] == nil, "duplicate key \"\(key)\" in JSONValue literal")
            object.members.append((key: key, value: value))
        }
        self = .object(object)
    }
}
