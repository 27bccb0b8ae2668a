/// Request or response header fields: ordered `(name, value)` pairs with
/// ASCII case-insensitive lookup by name. Duplicates are kept in order.
///
/// Stored as the fields' bytes back to back plus their bounds, not as
/// strings: the server fills one per request from libmicrohttpd, and most
/// fields are never looked at, so a field costs a copy of its bytes (two
/// allocations per request in all) and a `String` is made only for a value
/// asked for.
public struct HTTPHeaders: Sendable {
    /// Every name and value, back to back, as sent (UTF-8 is not checked
    /// until a string is made).
    private var bytes: [UInt8] = []
    /// Per field, where its name and value are in `bytes`.
    private var fields: [(name: Range<Int>, value: Range<Int>)] = []

    public init() {}

    public init(_ pairs: [(name: String, value: String)]) {
        self.pairs = pairs
    }

    /// Room for `count` fields of `bytes` bytes in all.
    init(reservingCapacity count: Int, bytes: Int) {
        fields.reserveCapacity(count)
        self.bytes.reserveCapacity(bytes)
    }

    /// The fields as strings (invalid UTF-8 repaired), in order.
    public var pairs: [(name: String, value: String)] {
        get { fields.map { (name: string($0.name), value: string($0.value)) } }
        set {
            bytes = []
            fields = []
            for pair in newValue { append(name: pair.name, value: pair.value) }
        }
    }

    /// The first value for `name` (case-insensitive), or `nil`.
    public subscript(_ name: String) -> String? {
        firstIndex(name).map { string(fields[$0].value) }
    }

    /// Every value for `name` (case-insensitive), in order.
    public func values(_ name: String) -> [String] {
        var name = name
        return name.withUTF8 { wanted in
            bytes.withUnsafeBufferPointer { all in
                fields.filter { asciiCaseInsensitiveEquals(UnsafeBufferPointer(rebasing: all[$0.name]), wanted) }
                    .map { string($0.value) }
            }
        }
    }

    /// Calls `body` with the bytes of the first value for `name`
    /// (case-insensitive), or nil: for checks that need no `String`.
    public func withValueBytes<R>(_ name: String, _ body: (UnsafeBufferPointer<UInt8>?) -> R) -> R {
        guard let i = firstIndex(name) else { return body(nil) }
        return bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[fields[i].value])) }
    }

    public func contains(_ name: String) -> Bool {
        firstIndex(name) != nil
    }

    public var count: Int { fields.count }

    public mutating func append(name: String, value: String) {
        var name = name
        var value = value
        name.withUTF8 { name in value.withUTF8 { value in append(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value)) } }
    }

    /// Appends a field from raw bytes (the server's path from libmicrohttpd).
    mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let nameStart = bytes.count
        bytes.append(contentsOf: name)
        let valueStart = bytes.count
        bytes.append(contentsOf: value)
        fields.append((name: nameStart..<valueStart, value: valueStart..<bytes.count))
    }

    private func firstIndex(_ name: String) -> Int? {
        var name = name
        return name.withUTF8 { wanted in
            bytes.withUnsafeBufferPointer { all in
                fields.firstIndex { asciiCaseInsensitiveEquals(UnsafeBufferPointer(rebasing: all[$0.name]), wanted) }
            }
        }
    }

    private func string(_ range: Range<Int>) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }
}

extension HTTPHeaders: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { append(name: name, value: value) }
    }
}
