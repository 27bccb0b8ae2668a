import ASCII

/// Request or response header fields: ordered `(name, value)` pairs with
/// ASCII case-insensitive lookup by name. Duplicates are kept in order.
///
/// Stored as one byte buffer, not as strings: the server fills one per
/// request from libmicrohttpd, and most fields are never looked at, so the
/// whole set costs one allocation and a copy of its bytes, and a `String` is
/// made only for a value asked for.
public struct HTTPHeaders: Sendable {
    /// Per field, a record: the name's and the value's byte counts (two
    /// native-order UInt32), then the name and the value as sent (UTF-8 is
    /// not checked until a string is made).
    private var storage: [UInt8] = []
    public private(set) var count = 0

    public init() {}

    public init(_ pairs: [(name: String, value: String)]) {
        self.pairs = pairs
    }

    /// Fields written straight into an exact-size buffer: `recordBytes`
    /// sums `HTTPHeaders.recordSize` over the fields, and `write` puts each
    /// with `HTTPHeaders.writeRecord`, returning the bytes and fields written.
    /// (Written to a temporary buffer, then appended in one copy: the Array
    /// initializers that allocate uninitialized storage call into the
    /// standard library unspecialized, at twice the cost.)
    init(recordBytes: Int, _ write: (UnsafeMutableRawBufferPointer) -> (bytes: Int, count: Int)) {
        count = withUnsafeTemporaryAllocation(byteCount: recordBytes, alignment: 1) { buffer in
            let written = write(buffer)
            storage.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<written.bytes]))
            return written.count
        }
    }

    @inline(__always)
    static func recordSize(name: Int, value: Int) -> Int { 8 + name + value }

    /// Writes one field's record at `offset`; returns the offset after it.
    @inline(__always)
    static func writeRecord(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                            to buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        buffer.storeBytes(of: UInt32(name.count), toByteOffset: offset, as: UInt32.self)
        buffer.storeBytes(of: UInt32(value.count), toByteOffset: offset + 4, as: UInt32.self)
        if let base = buffer.baseAddress {
            if let n = name.baseAddress { (base + offset + 8).copyMemory(from: n, byteCount: name.count) }
            if let v = value.baseAddress { (base + offset + 8 + name.count).copyMemory(from: v, byteCount: value.count) }
        }
        return offset + recordSize(name: name.count, value: value.count)
    }

    /// The fields as strings (invalid UTF-8 repaired), in order.
    public var pairs: [(name: String, value: String)] {
        get {
            var pairs: [(name: String, value: String)] = []
            pairs.reserveCapacity(count)
            forEachField { name, value in
                pairs.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
                return false
            }
            return pairs
        }
        set {
            storage = []
            count = 0
            for pair in newValue { append(name: pair.name, value: pair.value) }
        }
    }

    /// The first value for `name` (case-insensitive), or `nil`.
    public subscript(_ name: String) -> String? {
        withFirstValue(name) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Every value for `name` (case-insensitive), in order.
    public func values(_ name: String) -> [String] {
        var name = name
        return name.withUTF8 { wanted in
            var values: [String] = []
            forEachField { field, value in
                if asciiCaseInsensitiveEqual(field, wanted) { values.append(String(decoding: value, as: UTF8.self)) }
                return false
            }
            return values
        }
    }

    /// Whether the first value for `name` (case-insensitive) satisfies
    /// `predicate`, or nil without one: for checks that need no `String`.
    /// Not generic, so that a caller in another module gets no unspecialized
    /// generic call on its request path.
    public func firstValue(_ name: String, matches predicate: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool? {
        withFirstValue(name) { $0.map(predicate) }
    }

    public func contains(_ name: String) -> Bool {
        withFirstValue(name) { $0 != nil }
    }

    /// Calls `body` with the bytes of the first value for `name`
    /// (case-insensitive), or nil.
    private func withFirstValue<R>(_ name: String, _ body: (UnsafeBufferPointer<UInt8>?) -> R) -> R {
        var name = name
        return name.withUTF8 { wanted in
            var result: R?
            forEachField { field, value in
                guard asciiCaseInsensitiveEqual(field, wanted) else { return false }
                result = body(value)
                return true
            }
            return result ?? body(nil)
        }
    }

    public mutating func append(name: String, value: String) {
        var name = name
        var value = value
        name.withUTF8 { name in
            value.withUTF8 { value in
                let offset = storage.count
                storage.append(contentsOf: repeatElement(0, count: Self.recordSize(name: name.count, value: value.count)))
                storage.withUnsafeMutableBytes {
                    _ = Self.writeRecord(UnsafeRawBufferPointer(name), UnsafeRawBufferPointer(value), to: $0, at: offset)
                }
            }
        }
        count += 1
    }

    /// Calls `body` with each field's name and value, in order, until it returns true.
    private func forEachField(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) {
        storage.withUnsafeBufferPointer { all in
            let raw = UnsafeRawBufferPointer(all)
            var offset = 0
            while offset < all.count {
                let n = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                let v = Int(raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                let name = UnsafeBufferPointer(rebasing: all[offset + 8 ..< offset + 8 + n])
                let value = UnsafeBufferPointer(rebasing: all[offset + 8 + n ..< offset + 8 + n + v])
                if body(name, value) { return }
                offset += Self.recordSize(name: n, value: v)
            }
        }
    }
}

extension HTTPHeaders: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { append(name: name, value: value) }
    }
}
