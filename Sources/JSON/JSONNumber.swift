/// A JSON number, kept exactly as it was written.
///
/// JSON numbers have no fixed width, and the requests this service handles
/// carry 64-bit physical addresses and masks. Converting every number to
/// `Double` on the way in would silently round anything above 2^53, so the
/// parser keeps the validated literal and the caller asks for the type it
/// actually needs: ``uint64``, ``int64`` or ``double``. Each accessor returns
/// `nil` rather than a rounded or truncated value.
///
/// Integer literals that fit in 64 bits (the common case: ids, addresses,
/// sizes) are stored as the integer itself, which is exact because JSON
/// integers have exactly one spelling (no leading zeros, no `+`). That
/// keeps the parser from allocating a string per number and makes
/// ``uint64`` and ``int64`` free. Every other literal is stored as text.
///
/// Equality compares literals: `1`, `1.0` and `1e0` are different
/// `JSONNumber`s (they also encode to different bytes). Compare the
/// converted values when numeric equality is what you mean.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// How the literal is kept; the representation is canonical (an
    /// integer literal that fits is never stored as `.text`), so comparing
    /// storage compares literals.
    enum Storage: Sendable, Equatable {
        /// `0`, `1`, ... `18446744073709551615`.
        case nonNegative(UInt64)
        /// `-0` ... `-18446744073709551615`, by magnitude (`-0` is 0).
        case negative(magnitude: UInt64)
        /// Anything else: a fraction, an exponent, or more than 64 bits.
        case text(String)
    }

    let storage: Storage

    init(storage: Storage) {
        self.storage = storage
    }

    /// The number as written, guaranteed to match the RFC 8259 grammar
    /// (`-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`).
    public var literal: String {
        switch storage {
        case .nonNegative(let value): return String(value)
        case .negative(let magnitude): return "-" + String(magnitude)
        case .text(let text): return text
        }
    }

    /// Validates `literal` against the JSON number grammar.
    ///
    /// Returns `nil` for anything JSON does not allow: leading zeros (`01`),
    /// a leading `+`, a bare `.` (`.5`, `1.`), `NaN`, `Infinity`, whitespace.
    public init?(literal: String) {
        var copy = literal
        let storage = copy.withUTF8 { utf8 -> Storage? in
            guard let base = utf8.baseAddress, !utf8.isEmpty else { return nil }
            let raw = UnsafeRawPointer(base)
            guard case .end(let end, let isInteger) = JSONNumber.scan(raw, from: 0, end: utf8.count),
                  end == utf8.count
            else { return nil }
            if isInteger, let integer = JSONNumber.integerStorage(raw, from: 0, end: end) {
                return integer
            }
            return .text(literal)
        }
        guard let storage else { return nil }
        self.storage = storage
    }

    /// The exact decimal form of `value`.
    public init(_ value: some BinaryInteger) {
        if let unsigned = UInt64(exactly: value) {
            storage = .nonNegative(unsigned)
        } else if value < 0, let magnitude = UInt64(exactly: value.magnitude) {
            storage = .negative(magnitude: magnitude)
        } else {
            storage = .text(String(value))  // wider than 64 bits
        }
    }

    /// The shortest literal that converts back to exactly `value`.
    ///
    /// Returns `nil` for NaN and the infinities, which JSON cannot express.
    /// `-0.0` is kept as `-0.0`.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        // Swift's description is the shortest round-tripping form and is
        // always valid JSON for finite values ("1.0", "1e-05", "-0.0"),
        // and never a plain integer, so `.text` is the canonical storage.
        self.storage = .text(value.description)
    }

    /// The value as `UInt64`, exactly.
    ///
    /// `nil` unless the literal is an integer (no fraction, no exponent) in
    /// `0...UInt64.max`. `-0` counts as zero. `1.0` and `1e3` are `nil` even
    /// though they are integral: a client that sends them is not sending
    /// the integer the schema asked for.
    public var uint64: UInt64? {
        switch storage {
        case .nonNegative(let value): return value
        case .negative(let magnitude): return magnitude == 0 ? 0 : nil
        case .text: return nil
        }
    }

    /// The value as `Int64`, exactly; `nil` unless the literal is an integer
    /// (no fraction, no exponent) in `Int64.min...Int64.max`.
    public var int64: Int64? {
        switch storage {
        case .nonNegative(let value):
            return value <= UInt64(Int64.max) ? Int64(value) : nil
        case .negative(let magnitude):
            return magnitude <= UInt64(Int64.max) + 1 ? Int64(bitPattern: 0 &- magnitude) : nil
        case .text:
            return nil
        }
    }

    /// The value as the nearest `Double`.
    ///
    /// Fractions and exponents are fine here; the conversion rounds to
    /// nearest. Returns `nil` if the magnitude is too large for `Double`
    /// (e.g. `1e400`) so an infinity never leaks into a computation;
    /// values too small to represent become zero, as usual.
    public var double: Double? {
        switch storage {
        case .nonNegative(let value):
            return Double(value)
        case .negative(let magnitude):
            return -Double(magnitude)
        case .text(let text):
            guard let value = Double(text), value.isFinite else { return nil }
            return value
        }
    }

    public var description: String { literal }

    /// Literal equality (the storage is canonical; literals are ASCII).
    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        lhs.storage == rhs.storage
    }
}

extension JSONNumber: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) {
        self.init(value)
    }
}

// MARK: - Grammar

extension JSONNumber {
    /// The outcome of ``scan(_:from:end:)``.
    enum ScanResult {
        /// The number ends just before this offset; `isInteger` if it has
        /// no fraction and no exponent.
        case end(Int, isInteger: Bool)
        /// The grammar was violated at `offset`.
        case invalid(message: String, offset: Int)
    }

    /// Scans one number starting at `start`, per RFC 8259 section 6.
    ///
    /// Shared by the parser and ``init(literal:)`` so there is exactly one
    /// definition of what a valid number is. Stops at the first byte that
    /// cannot continue the number; the caller decides whether what follows
    /// is acceptable.
    @inline(__always)
    static func scan(_ base: UnsafeRawPointer, from start: Int, end: Int) -> ScanResult {
        @inline(__always) func byte(_ i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }
        @inline(__always) func isDigit(_ i: Int) -> Bool { i < end && byte(i) &- UInt8(ascii: "0") < 10 }

        var i = start
        var isInteger = true
        if i < end && byte(i) == UInt8(ascii: "-") {
            i += 1
            guard isDigit(i) else {
                if i < end && byte(i) == UInt8(ascii: "I") {
                    return .invalid(message: "-Infinity is not a valid JSON number", offset: start)
                }
                return .invalid(message: "expected a digit after '-'", offset: i)
            }
        }
        guard isDigit(i) else { return .invalid(message: "expected a digit", offset: i) }
        if byte(i) == UInt8(ascii: "0") {
            i += 1
            if isDigit(i) {
                return .invalid(message: "leading zeros are not allowed in numbers", offset: i - 1)
            }
        } else {
            repeat { i += 1 } while isDigit(i)
        }
        if i < end && byte(i) == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard isDigit(i) else {
                return .invalid(message: "expected a digit after the decimal point", offset: i)
            }
            repeat { i += 1 } while isDigit(i)
        }
        if i < end && (byte(i) == UInt8(ascii: "e") || byte(i) == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if i < end && (byte(i) == UInt8(ascii: "+") || byte(i) == UInt8(ascii: "-")) {
                i += 1
            }
            guard isDigit(i) else {
                return .invalid(message: "expected a digit in the exponent", offset: i)
            }
            repeat { i += 1 } while isDigit(i)
        }
        return .end(i, isInteger: isInteger)
    }

    /// The storage for the integer literal in `start..<end` (already
    /// validated by ``scan(_:from:end:)``), or `nil` if its magnitude does
    /// not fit in 64 bits.
    @inline(__always)
    static func integerStorage(_ base: UnsafeRawPointer, from start: Int, end: Int) -> Storage? {
        var i = start
        let negative = base.load(fromByteOffset: i, as: UInt8.self) == UInt8(ascii: "-")
        if negative { i += 1 }
        var magnitude: UInt64 = 0
        if end - i <= 19 {
            // At most 19 digits cannot overflow UInt64.
            while i < end {
                magnitude = magnitude &* 10 &+ UInt64(base.load(fromByteOffset: i, as: UInt8.self) &- UInt8(ascii: "0"))
                i += 1
            }
        } else {
            while i < end {
                let digit = UInt64(base.load(fromByteOffset: i, as: UInt8.self) &- UInt8(ascii: "0"))
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(digit)
                if o1 || o2 { return nil }
                magnitude = sum
                i += 1
            }
        }
        return negative ? .negative(magnitude: magnitude) : .nonNegative(magnitude)
    }
}
