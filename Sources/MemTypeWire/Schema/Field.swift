import JSON
import MemTypeEngine

/// A JSON value together with where it sits in the request, so every
/// conversion error names its field as a JSON pointer.
public struct Field: Sendable {
    public let value: JSONValue
    /// The pointer of the enclosing container, and this field's key in it.
    /// The full pointer is only assembled when an error needs it, so the
    /// success path does no string concatenation.
    private let parentPointer: String
    private let key: String?

    public init(_ value: JSONValue, pointer: String = "") {
        self.value = value
        self.parentPointer = pointer
        self.key = nil
    }

    init(_ value: JSONValue, parent: String, key: String) {
        self.value = value
        self.parentPointer = parent
        self.key = key
    }

    /// RFC 6901 pointer to this field.
    public var pointer: String {
        guard let key else { return parentPointer }
        return JSONPointer.appending(key, to: parentPointer)
    }

    /// The error for this field's value.
    public func invalid(_ message: String) -> InvalidField { InvalidField(pointer: pointer, message: message) }

    /// The value as an object whose keys must all be in `allowed` (typos are errors, not silently ignored).
    public func object(allowed: [String]) throws(InvalidField) -> Members {
        try object(isAllowed: allowed.contains, expected: { allowed.joined(separator: ", ") })
    }

    /// The value as an object whose keys are all cases of `K`.
    package func object<K: WireKey>(_ keys: K.Type) throws(InvalidField) -> Members {
        try object(isAllowed: { K.key($0) != nil }, expected: { K.list })
    }

    private func object(isAllowed: (String) -> Bool, expected: () -> String) throws(InvalidField) -> Members {
        guard case .object(let object) = value else { throw invalid("expected an object, got \(value.kindName)") }
        for member in object.members where !isAllowed(member.key) {
            throw InvalidField(pointer: JSONPointer.appending(member.key, to: pointer),
                               message: "unknown field; expected one of: " + expected())
        }
        return Members(object: object, pointer: pointer)
    }

    public func bool() throws(InvalidField) -> Bool {
        guard case .bool(let b) = value else { throw invalid("expected true or false, got \(value.kindName)") }
        return b
    }

    public func string() throws(InvalidField) -> String {
        guard case .string(let s) = value else { throw invalid("expected a string, got \(value.kindName)") }
        return s
    }

    /// A 64-bit value: a JSON integer, or a string `"0x..."` (hex) or of decimal digits.
    public func uint64() throws(InvalidField) -> UInt64 {
        switch value {
        case .number(let n):
            guard let v = n.uint64 else { throw invalid("expected a non-negative integer below 2^64, got \(n.literal)") }
            return v
        case .string(let s):
            guard let v = Field.parseUInt64(s) else {
                throw invalid("expected a 64-bit value as \"0x\" followed by 1-16 hex digits, or decimal digits; got \"\(s.prefix(40))\"")
            }
            return v
        default:
            throw invalid("expected an integer or a \"0x...\" string, got \(value.kindName)")
        }
    }

    /// An integer in `range`, given as a JSON integer or a `"0x..."` string.
    public func int(in range: ClosedRange<Int>) throws(InvalidField) -> Int {
        let v = try uint64()
        guard v <= UInt64(Int.max), range.contains(Int(v)) else {
            throw invalid("expected a value from \(range.lowerBound) to \(range.upperBound), got \(v)")
        }
        return Int(v)
    }

    /// A memory type by name (`WB`, `UC-`, `write-back`) or code (0-7).
    public func memoryType() throws(InvalidField) -> MemoryType {
        switch value {
        case .string(let s):
            guard let t = MemoryType(name: s) else { throw invalid("unknown memory type \"\(s.prefix(40))\"; expected UC, WC, WT, WP, WB or UC-") }
            return t
        case .number(let n):
            guard let code = n.uint64, let t = MemoryType(code: code) else {
                throw invalid("\(n.literal) is not a memory type code (0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-)")
            }
            return t
        default:
            throw invalid("expected a memory type name such as \"WB\", got \(value.kindName)")
        }
    }

    /// A page size by name: `4K`, `2M`, `1G` (or `4KiB`, ...).
    public func pageLevel() throws(InvalidField) -> PageLevel {
        let name = try string()
        guard let level = PageLevel(name: name) else { throw invalid("unknown level \"\(name.prefix(20))\"; expected 4K, 2M or 1G") }
        return level
    }

    /// A value from a fixed set of names.
    public func oneOf<T>(_ choices: [(String, T)]) throws(InvalidField) -> T {
        let s = try string()
        guard let hit = choices.first(where: { $0.0.equalsIgnoringASCIICase(s) }) else {
            throw invalid("unknown value \"\(s.prefix(40))\"; expected one of: " + choices.map(\.0).joined(separator: ", "))
        }
        return hit.1
    }

    public func array(maxCount: Int) throws(InvalidField) -> [Field] {
        guard case .array(let items) = value else { throw invalid("expected an array, got \(value.kindName)") }
        guard items.count <= maxCount else { throw invalid("at most \(maxCount) items, got \(items.count)") }
        let pointer = self.pointer
        return items.enumerated().map { Field($1, parent: pointer, key: String($0)) }
    }

    /// `0x`-prefixed hex (1-16 digits) or decimal digits; `_` separators allowed.
    static func parseUInt64(_ s: String) -> UInt64? {
        s.withUTF8Bytes(parseUInt64(utf8:))
    }

    /// `parseUInt64(_:)` over UTF-8 bytes.
    static func parseUInt64(utf8 bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard let base = bytes.baseAddress else { return nil }
        let count = bytes.count
        var value: UInt64 = 0
        var digits = 0
        if count > 2, base[0] == UInt8(ascii: "0"), base[1] | 0x20 == UInt8(ascii: "x") {
            // Hex: a digit is 0-9 or a-f/A-F; more than 16 significant
            // digits overflow, which the top nibble shows before the shift.
            for k in 2..<count {
                let b = base[k]
                var d = b &- UInt8(ascii: "0")
                if d > 9 {
                    let letter = (b | 0x20) &- UInt8(ascii: "a")
                    if letter < 6 {
                        d = letter &+ 10
                    } else if b == UInt8(ascii: "_") && digits > 0 {
                        continue
                    } else {
                        return nil
                    }
                }
                if value >> 60 != 0 { return nil }
                value = value << 4 | UInt64(d)
                digits += 1
            }
            return digits > 0 ? value : nil
        }
        for k in 0..<count {
            let b = base[k]
            let d = b &- UInt8(ascii: "0")
            if d > 9 {
                if b == UInt8(ascii: "_") && digits > 0 { continue }
                return nil
            }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            value = sum
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}

/// The members of a JSON object, read field by field.
public struct Members: Sendable {
    let object: JSONObject
    public let pointer: String

    public subscript(key: String) -> Field? {
        object[key].map { Field($0, parent: pointer, key: key) }
    }

    public func contains(_ key: String) -> Bool { object[key] != nil }

    public func required(_ key: String) throws(InvalidField) -> Field {
        guard let f = self[key] else { throw missing(key) }
        return f
    }

    /// The error for a required member that is absent.
    public func missing(_ key: String) -> InvalidField {
        InvalidField(pointer: JSONPointer.appending(key, to: pointer), message: "required field is missing")
    }

    package subscript<K: WireKey>(key: K) -> Field? { self[key.rawValue] }

    package func contains<K: WireKey>(_ key: K) -> Bool { contains(key.rawValue) }

    package func required<K: WireKey>(_ key: K) throws(InvalidField) -> Field { try required(key.rawValue) }

    /// Calls `body` with each member, keyed by `K`, in the body's order
    /// (one pass over the members: no lookup per possible key). The object
    /// must have been read with `Field.object(K.self)`, which refused any
    /// key that is not a `K`, before any member was decoded.
    package func each<K: WireKey, E: Error>(_: K.Type, _ body: (K, Field) throws(E) -> Void) throws(E) {
        for member in object.members {
            guard let key = K.key(member.key) else { continue }
            try body(key, Field(member.value, parent: pointer, key: member.key))
        }
    }
}

extension JSONValue {
    /// "a string", "an object": for error messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
