import MemTypeEngine

/// A fixed list of byte strings (names, keys, pre-encoded JSON fragments)
/// laid out once in memory that is never freed.
///
/// The request fast path matches a body's bytes against names, and the
/// response encoder copies fragments, on every request. Held as
/// `[[UInt8]]` or `[String]`, each access retains and releases an array
/// buffer and each comparison goes through `String`'s UTF-8 view; here an
/// entry is a pointer and a length, and a lookup touches nothing else.
/// Tables live in `static let`s, which are never destroyed, so the memory
/// is deliberately not freed.
struct ByteTable: @unchecked Sendable {
    /// All entries back to back.
    private let storage: UnsafePointer<UInt8>
    /// `count + 1` offsets into `storage`: entry `i` is `offsets[i]..<offsets[i + 1]`.
    private let offsets: UnsafePointer<Int>
    let count: Int

    init(_ entries: [[UInt8]]) {
        let total = entries.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: entries.count + 1)
        var at = 0
        for (i, entry) in entries.enumerated() {
            offsets[i] = at
            (storage + at).initialize(from: entry, count: entry.count)
            at += entry.count
        }
        offsets[entries.count] = at
        self.storage = UnsafePointer(storage)
        self.offsets = UnsafePointer(offsets)
        self.count = entries.count
    }

    init(_ names: [String]) {
        self.init(names.map { Array($0.utf8) })
    }

    /// Entry `i`.
    @inline(__always)
    subscript(i: Int) -> UnsafeBufferPointer<UInt8> {
        precondition(i >= 0 && i < count, "ByteTable index out of range")
        return UnsafeBufferPointer(start: storage + offsets[i], count: offsets[i + 1] - offsets[i])
    }

    /// The index of the first entry equal to `key`, byte for byte.
    func index(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        for i in 0..<count where offsets[i + 1] - offsets[i] == key.count {
            // Names are short: a loop beats a call to memcmp.
            let entry = storage + offsets[i]
            var k = 0
            while k < key.count && entry[k] == key[k] { k += 1 }
            if k == key.count { return i }
        }
        return nil
    }

    /// The index of the first entry that `bytes` (with `available` bytes
    /// readable) starts with, byte for byte. Entries that end with a
    /// delimiter (a key's closing quote) so match whole tokens only.
    @inline(__always)
    func index(prefixOf bytes: UnsafePointer<UInt8>, available: Int) -> Int? {
        for i in 0..<count {
            let start = offsets[i], n = offsets[i + 1] - start
            // Most entries differ in their first byte: test it before the rest.
            guard n <= available, n > 0, storage[start] == bytes[0] else { continue }
            var k = 1
            while k < n && storage[start + k] == bytes[k] { k += 1 }
            if k == n { return i }
        }
        return nil
    }

    /// The index of the first entry equal to `key` with ASCII letters
    /// matching either case (how every name on the wire is compared).
    func index(ofCaseInsensitive key: UnsafeBufferPointer<UInt8>) -> Int? {
        for i in 0..<count where offsets[i + 1] - offsets[i] == key.count {
            if asciiCaseInsensitiveEqual(self[i], key) { return i }
        }
        return nil
    }
}
