/// Writes JSON straight into a byte buffer, one token at a time.
///
/// Responses are produced by walking the service's own types, so building
/// a ``JSONValue`` tree first would only add allocations. The writer keeps
/// just enough state to put commas, colons and (optionally) indentation in
/// the right places; the caller says what comes next:
///
/// ```swift
/// var writer = JSONWriter()
/// writer.beginObject()
/// writer.member("vm", "guest-7")
/// writer.key("ranges")
/// writer.beginArray()
/// writer.uint(0xFEE0_0000)
/// writer.endArray()
/// writer.endObject()
/// // writer.bytes == Array(#"{"vm":"guest-7","ranges":[4276092928]}"#.utf8)
/// ```
///
/// Output is always valid UTF-8 JSON as long as the calls are well
/// nested: strings are escaped (see ``string(_:)``), numbers are always
/// finite literals (see ``double(_:)``). Calling out of order (a value
/// inside an object without ``key(_:)``, ``endArray()`` closing an object,
/// a second top-level value) is a programming error, caught by `assert` in
/// debug builds and not checked in release builds, where it costs nothing.
public struct JSONWriter: Sendable {
    /// The JSON written so far, compact.
    private var output: [UInt8]

    /// The JSON written so far: compact, or for a pretty writer re-indented
    /// (`JSONIndentation`, the one pretty layout) each time it is read.
    public var bytes: [UInt8] { pretty ? JSONIndentation.indent(output) : output }

    /// Whether `bytes` is indented (2 spaces, one member or element per
    /// line, `": "` after keys) for humans, or compact for the wire. The
    /// writer itself only ever writes compact JSON.
    public let pretty: Bool

    /// Number of open containers.
    private var depth = 0
    /// Whether the current container (or the top level) already has an
    /// element, i.e. whether the next one needs a comma.
    private var hasElements = false
    /// Whether ``key(_:)`` was just written and a value must follow.
    private var afterKey = false
    /// Bit `d` is set when the container at depth `d + 1` is an object.
    /// Used only by assertions; deeper than 64 levels is not checked.
    private var objectBits: UInt64 = 0

    /// Creates an empty writer.
    ///
    /// - Parameters:
    ///   - capacity: Bytes to reserve up front; a good guess avoids
    ///     regrowing the buffer while writing.
    ///   - pretty: Indent the output for humans (CLI output); the default
    ///     compact form is what goes over the wire.
    public init(capacity: Int = 512, pretty: Bool = false) {
        self.output = []
        self.output.reserveCapacity(capacity)
        self.pretty = pretty
    }

    /// `true` once exactly one complete top-level value has been written.
    public var isComplete: Bool {
        depth == 0 && hasElements
    }

    /// Empties the writer, keeping its buffer's capacity, to write the next
    /// document without allocating.
    public mutating func reset() {
        output.removeAll(keepingCapacity: true)
        depth = 0
        hasElements = false
        afterKey = false
        objectBits = 0
    }

    // MARK: Structure

    /// Writes `{`.
    public mutating func beginObject() {
        beginContainer(ASCII.openBrace, isObject: true)
    }

    /// Writes `}`, closing the innermost container, which must be an object.
    public mutating func endObject() {
        endContainer(ASCII.closeBrace, isObject: true)
    }

    /// Writes `[`.
    public mutating func beginArray() {
        beginContainer(ASCII.openBracket, isObject: false)
    }

    /// Writes `]`, closing the innermost container, which must be an array.
    public mutating func endArray() {
        endContainer(ASCII.closeBracket, isObject: false)
    }

    /// Writes an object key (escaped like ``string(_:)``) and its colon;
    /// the next call must write the member's value.
    @_disfavoredOverload
    public mutating func key(_ key: String) {
        assert(depth > 0 && innermostIsObject != false, "JSONWriter.key(_:) called outside an object")
        assert(!afterKey, "JSONWriter.key(_:) called twice without a value in between")
        let prefix = Prefix(comma: hasElements)
        hasElements = true
        afterKey = true
        emitQuoted(key, prefix: prefix, colon: .colon)
    }

    /// Writes a literal object key and its colon, escaped like
    /// ``string(_:)``. The literal's UTF-8 is read in place: no `String` is
    /// made, which is most of the cost of a short key.
    public mutating func key(_ key: StaticString) {
        assert(depth > 0 && innermostIsObject != false, "JSONWriter.key(_:) called outside an object")
        assert(!afterKey, "JSONWriter.key(_:) called twice without a value in between")
        let prefix = Prefix(comma: hasElements)
        hasElements = true
        afterKey = true
        // withUTF8Buffer: a one-scalar literal ("a") is not stored as a pointer.
        key.withUTF8Buffer { utf8 in emitQuoted(utf8: utf8, prefix: prefix, colon: .colon) }
    }

    /// Writes an object, calling `body` to write its members:
    /// `writer.object { $0.member("id", 7) }`.
    public mutating func object<E: Error>(_ body: (inout JSONWriter) throws(E) -> Void) throws(E) {
        beginObject()
        try body(&self)
        endObject()
    }

    /// Writes an array, calling `body` to write its elements.
    public mutating func array<E: Error>(_ body: (inout JSONWriter) throws(E) -> Void) throws(E) {
        beginArray()
        try body(&self)
        endArray()
    }

    // MARK: Scalars

    /// Writes a string, escaped.
    ///
    /// `"` and `\` are escaped, as are all control characters U+0000 to
    /// U+001F: `\b \f \n \r \t` in their short form, the rest as `\u00XX`.
    /// Everything else, including non-ASCII text, is copied as UTF-8
    /// unchanged (Swift strings are always valid UTF-8).
    public mutating func string(_ s: String) {
        emitQuoted(s, prefix: takeValuePrefix(), colon: .none)
    }

    /// Writes a signed integer exactly.
    public mutating func int(_ v: Int) {
        emitDecimal(UInt64(v.magnitude), negative: v < 0, prefix: takeValuePrefix())
    }

    /// Writes an unsigned 64-bit integer exactly (all the way to 2^64-1).
    public mutating func uint(_ v: UInt64) {
        emitDecimal(v, negative: false, prefix: takeValuePrefix())
    }

    /// Writes `v` as a JSON string of `0x` and lowercase hex digits
    /// (`"0xfd000000"`): how 64-bit values go on the wire. Digits are
    /// written in place, with no intermediate `String`.
    public mutating func hex(_ v: UInt64) {
        emit(takeValuePrefix(), maxBytes: 20) { out in
            out[0] = ASCII.quote
            let n = JSONWriter.writeHex(v, to: out + 1)
            out[n + 1] = ASCII.quote
            return n + 2
        }
    }

    /// Writes `true` or `false`.
    public mutating func bool(_ b: Bool) {
        emitASCII(b ? "true" : "false", prefix: takeValuePrefix())
    }

    /// Writes `null`.
    public mutating func null() {
        emitASCII("null", prefix: takeValuePrefix())
    }

    /// Writes a `Double` in the shortest form that parses back to the same
    /// value (`0.1`, `1e-05`, `-0.0`).
    ///
    /// JSON has no NaN or infinity, so those are written as `null`: the
    /// output stays valid JSON and the writer never traps on a value that
    /// came from a computation. Check `isFinite` first if `null` is not an
    /// acceptable answer for a field.
    public mutating func double(_ d: Double) {
        let prefix = takeValuePrefix()
        if d.isFinite {
            emitASCII(d.description, prefix: prefix)
        } else {
            emitASCII("null", prefix: prefix)
        }
    }

    /// Writes a number exactly as its literal (validated when created).
    public mutating func number(_ n: JSONNumber) {
        let prefix = takeValuePrefix()
        switch n.storage {
        case .nonNegative(let value): emitDecimal(value, negative: false, prefix: prefix)
        case .negative(let magnitude): emitDecimal(magnitude, negative: true, prefix: prefix)
        case .text(let text): emitASCII(text, prefix: prefix)
        }
    }

    /// Writes `v` and everything inside it.
    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let elements):
            beginArray()
            for element in elements { value(element) }
            endArray()
        case .object(let object):
            beginObject()
            for member in object.members {
                key(member.key)
                value(member.value)
            }
            endObject()
        }
    }

    /// Splices in a value that is already encoded, e.g. a cached response
    /// fragment, inserting a comma before it if needed.
    ///
    /// The bytes are copied unchecked: they must be exactly one valid JSON
    /// value. In pretty mode they are re-indented with the rest.
    public mutating func raw(_ preEncodedJSON: [UInt8]) {
        let prefix = takeValuePrefix()
        preEncodedJSON.withUnsafeBufferPointer { source in
            emit(prefix, maxBytes: source.count) { out in
                if let base = source.baseAddress {
                    out.initialize(from: base, count: source.count)
                }
                return source.count
            }
        }
    }

    /// ``raw(_:)`` for any sequence of bytes.
    @_disfavoredOverload
    public mutating func raw(_ preEncodedJSON: some Sequence<UInt8>) {
        let prefix = takeValuePrefix()
        let done: Void? = preEncodedJSON.withContiguousStorageIfAvailable { source in
            emit(prefix, maxBytes: source.count) { out in
                if let base = source.baseAddress {
                    out.initialize(from: base, count: source.count)
                }
                return source.count
            }
        }
        if done == nil {
            emit(prefix, maxBytes: 0) { _ in 0 }
            output.append(contentsOf: preEncodedJSON)
        }
    }

    /// Splices already-encoded members (`"a":1,"b":[]`, no braces) into
    /// the innermost open object, inserting a comma before them if needed.
    /// `body` writes them into the `maxBytes` of reserved memory it is
    /// given (it must not write past its end; `DecisionEncoder`'s cursor
    /// checks every write) and returns how many it wrote; they must be
    /// non-empty, valid, compact JSON members.
    public mutating func rawMembers(maxBytes: Int, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Int) {
        assert(innermostIsObject != false && depth > 0 && !afterKey, "JSONWriter.rawMembers outside an object")
        let prefix = Prefix(comma: hasElements)
        hasElements = true
        emit(prefix, maxBytes: maxBytes) { body(UnsafeMutableBufferPointer(start: $0, count: maxBytes)) }
    }

    // MARK: Members

    // `member(_:_:)` takes a literal key; a computed key is written with
    // `key(_:)` and then the value.

    /// Writes `key` and a string value.
    public mutating func member(_ key: StaticString, _ value: String) {
        self.key(key)
        string(value)
    }

    /// Writes `key` and an integer value.
    public mutating func member(_ key: StaticString, _ value: Int) {
        self.key(key)
        int(value)
    }

    /// Writes `key` and an unsigned 64-bit integer value.
    public mutating func member(_ key: StaticString, _ value: UInt64) {
        self.key(key)
        uint(value)
    }

    /// Writes `key` and a 64-bit value as a `"0x..."` string (``hex(_:)``).
    public mutating func member(_ key: StaticString, hex value: UInt64) {
        self.key(key)
        hex(value)
    }

    /// Writes `key` and a boolean value.
    public mutating func member(_ key: StaticString, _ value: Bool) {
        self.key(key)
        bool(value)
    }

    /// Writes `key` and a `Double` value (`null` if not finite, see ``double(_:)``).
    public mutating func member(_ key: StaticString, _ value: Double) {
        self.key(key)
        double(value)
    }

    /// Writes `key` and any ``JSONValue`` (e.g. `.null`).
    public mutating func member(_ key: StaticString, _ value: JSONValue) {
        self.key(key)
        self.value(value)
    }

    // MARK: Internals

    /// Whether the innermost open container is an object; `nil` at the top
    /// level and deeper than the 64 levels tracked (assertions then pass).
    private var innermostIsObject: Bool? {
        guard depth > 0 && depth <= 64 else { return nil }
        return objectBits & (1 << UInt64(depth - 1)) != 0
    }

    /// What goes before a token: a comma or nothing.
    struct Prefix {
        var comma: Bool

        static let none = Prefix(comma: false)

        @inline(__always)
        var count: Int { comma ? 1 : 0 }

        @inline(__always)
        func write(to out: UnsafeMutablePointer<UInt8>) -> Int {
            guard comma else { return 0 }
            out[0] = ASCII.comma
            return 1
        }
    }

    /// Decides what must precede a value (nothing right after a key; a
    /// comma between siblings) and records
    /// that the current container now has an element.
    @inline(__always)
    private mutating func takeValuePrefix() -> Prefix {
        if afterKey {
            afterKey = false
            return .none
        }
        assert(innermostIsObject != true, "JSONWriter: a value inside an object needs key(_:) first")
        assert(depth > 0 || !hasElements, "JSONWriter: only one top-level value may be written")
        let prefix = Prefix(comma: hasElements)
        hasElements = true
        return prefix
    }

    private mutating func beginContainer(_ open: UInt8, isObject: Bool) {
        let prefix = takeValuePrefix()
        emit(prefix, maxBytes: 1) { out in
            out[0] = open
            return 1
        }
        if depth < 64 {
            let bit: UInt64 = 1 << UInt64(depth)
            objectBits = isObject ? objectBits | bit : objectBits & ~bit
        }
        depth += 1
        hasElements = false
    }

    private mutating func endContainer(_ close: UInt8, isObject: Bool) {
        assert(depth > 0 && innermostIsObject != !isObject,
               "JSONWriter: end\(isObject ? "Object" : "Array")() does not match the open container")
        assert(!afterKey, "JSONWriter: endObject() right after key(_:), the member has no value")
        depth -= 1
        let prefix = Prefix.none
        hasElements = true
        emit(prefix, maxBytes: 1) { out in
            out[0] = close
            return 1
        }
    }

    /// Appends `prefix` and then up to `maxBytes` bytes written by `body`
    /// (which returns how many it wrote), growing `bytes` at most once.
    ///
    /// Writing through a pointer into reserved capacity avoids the
    /// per-call uniqueness and capacity checks of `Array.append`, which
    /// otherwise dominate the cost of writing small tokens.
    @inline(__always)
    private mutating func emit(
        _ prefix: Prefix, maxBytes: Int,
        _ body: (UnsafeMutablePointer<UInt8>) -> Int
    ) {
        let capacity = prefix.count + maxBytes
        output.append(addingCapacity: capacity) { span in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                let start = buffer.baseAddress! + initialized
                let written = prefix.write(to: start)
                initialized += written + body(start + written)
                // One compare: a body that outran its bound has written past
                // the reservation; stop rather than run on with a corrupt heap.
                precondition(initialized <= capacity, "JSONWriter: a body wrote past its maxBytes")
            }
        }
    }

    /// Appends text known to need no escaping (literals, numbers).
    @inline(__always)
    private mutating func emitASCII(_ text: String, prefix: Prefix) {
        var text = text
        text.withUTF8 { utf8 in
            emit(prefix, maxBytes: utf8.count) { out in
                out.initialize(from: utf8.baseAddress!, count: utf8.count)
                return utf8.count
            }
        }
    }

    @inline(__always)
    private mutating func emitASCII(_ text: StaticString, prefix: Prefix) {
        emit(prefix, maxBytes: text.utf8CodeUnitCount) { out in
            out.initialize(from: text.utf8Start, count: text.utf8CodeUnitCount)
            return text.utf8CodeUnitCount
        }
    }

    @inline(never)
    private mutating func emitDecimal(_ magnitude: UInt64, negative: Bool, prefix: Prefix) {
        output.append(addingCapacity: prefix.count + 21) { span in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                let out = buffer.baseAddress! + initialized
                let k = prefix.write(to: out)
                initialized += k + JSONWriter.writeDecimal(magnitude, negative: negative, to: out + k)
            }
        }
    }

    /// What follows a quoted string: nothing, or a key's colon.
    enum Colon {
        case none, colon
        var count: Int { self == .colon ? 1 : 0 }
    }

    private mutating func emitQuoted(_ s: String, prefix: Prefix, colon: Colon) {
        // Native and literal strings lend their UTF-8 without a copy or a
        // uniqueness check; `withUTF8` on a `var` copy is the fallback.
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { utf8 in
            emitQuoted(utf8: utf8, prefix: prefix, colon: colon)
        }
        if done == nil {
            var s = s
            s.withUTF8 { utf8 in emitQuoted(utf8: utf8, prefix: prefix, colon: colon) }
        }
    }

    @inline(never)
    private mutating func emitQuoted(utf8: UnsafeBufferPointer<UInt8>, prefix: Prefix, colon: Colon) {
        let first = JSONWriter.firstByteNeedingEscape(utf8)
        let escapedCount = first == utf8.count ? utf8.count : JSONWriter.escapedCount(utf8, from: first)
        output.append(addingCapacity: prefix.count + escapedCount + 2 + colon.count) { span in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                let out = buffer.baseAddress! + initialized
                var k = prefix.write(to: out)
                out[k] = ASCII.quote
                k += 1
                if first == utf8.count {
                    if let base = utf8.baseAddress {
                        (out + k).initialize(from: base, count: utf8.count)
                    }
                    k += utf8.count
                } else {
                    k += JSONWriter.writeEscaped(utf8, firstEscape: first, to: out + k)
                }
                out[k] = ASCII.quote
                k += 1
                if colon == .colon {
                    out[k] = ASCII.colon
                    k += 1
                }
                initialized += k
            }
        }
    }
}
