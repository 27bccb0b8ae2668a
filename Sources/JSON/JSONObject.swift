/// A JSON object: its members in document order.
///
/// Objects in this service's requests have a handful of members, so an
/// array of pairs beats a dictionary: no hashing on the hot path, one
/// allocation, and the order of the input is kept, which makes re-encoding
/// deterministic and error messages easier to follow. Lookup by key is a
/// linear scan.
///
/// The parser rejects duplicate keys, so a parsed object never contains
/// two members with the same key. An object built by hand through
/// ``members`` or ``init(_:)`` is not checked; ``subscript(_:)`` returns the
/// first match.
///
/// Keys are compared by their UTF-8 bytes, as RFC 8259 section 8.3
/// suggests, not by Swift's Unicode canonical equivalence: `"\u00e9"` and
/// `"e\u0301"` are different keys, both for lookup and for the parser's
/// duplicate check.
///
/// Equality is order-sensitive: two objects are equal when they have the
/// same members in the same order, i.e. when they encode to the same bytes.
public struct JSONObject: Sendable, Equatable, Sequence, CustomStringConvertible {
    /// One member: a key and its value.
    public typealias Member = (key: String, value: JSONValue)

    /// The members, in document (or insertion) order.
    public var members: [Member]

    /// Creates an empty object.
    public init() {
        self.members = []
    }

    /// Creates an object with the given members, in order, unchecked for
    /// duplicate keys.
    public init(_ members: [Member]) {
        self.members = members
    }

    /// The value for `key`, or `nil` if the object has no such member.
    ///
    /// Setting a value replaces the first member with that key in place, or
    /// appends a new member; setting `nil` removes the first such member.
    public subscript(key: String) -> JSONValue? {
        get {
            for member in members where utf8Equal(member.key, key) {
                return member.value
            }
            return nil
        }
        set {
            if let index = members.firstIndex(where: { utf8Equal($0.key, key) }) {
                if let newValue {
                    members[index].value = newValue
                } else {
                    members.remove(at: index)
                }
            } else if let newValue {
                members.append((key: key, value: newValue))
            }
        }
    }

    /// The keys, in order.
    public var keys: [String] {
        members.map(\.key)
    }

    /// The number of members.
    public var count: Int { members.count }

    /// `true` if the object has no members.
    public var isEmpty: Bool { members.isEmpty }

    public func makeIterator() -> IndexingIterator<[Member]> {
        members.makeIterator()
    }

    public var underestimatedCount: Int { members.count }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (l, r) in zip(lhs.members, rhs.members) where !utf8Equal(l.key, r.key) || l.value != r.value {
            return false
        }
        return true
    }

    /// The compact JSON encoding, for logs and test failure messages.
    public var description: String {
        String(decoding: JSONValue.object(self).encoded(), as: UTF8.self)
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Creates an object from a literal, keeping the literal's order.
    ///
    /// Duplicate keys in the literal are a programming error and trap.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var members: [Member] = []
        members.reserveCapacity(elements.count)
        for (key, value) in elements {
            precondition(!members.contains { utf8Equal($0.key, key) }, "duplicate key \"\(key)\" in JSONObject literal")
            members.append((key: key, value: value))
        }
        self.members = members
    }
}

/// Whether `a` and `b` consist of the same UTF-8 bytes.
///
/// `String ==` compares by Unicode canonical equivalence, which is right
/// for text shown to people but not for JSON names (and slower).
@inline(__always)
func utf8Equal(_ a: String, _ b: String) -> Bool {
    let a = a.utf8
    let b = b.utf8
    guard a.count == b.count else { return false }
    // Native strings are contiguous (small ones are copied to the stack).
    let contiguous = a.withContiguousStorageIfAvailable { a in
        b.withContiguousStorageIfAvailable { b in
            for k in 0..<a.count where a[k] != b[k] { return false }
            return true
        }
    }
    if let contiguous, let equal = contiguous { return equal }
    return a.elementsEqual(b)
}

/// A key for hash-based duplicate detection with ``utf8Equal(_:_:)``
/// semantics (`Set<String>` would use canonical equivalence).
struct UTF8Key: Hashable {
    let string: String

    static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool {
        utf8Equal(lhs.string, rhs.string)
    }

    func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
