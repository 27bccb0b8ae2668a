#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ASCII
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

    /// The index of the first entry equal to `key` with ASCII letters
    /// matching either case (how every name on the wire is compared).
    func index(ofCaseInsensitive key: UnsafeBufferPointer<UInt8>) -> Int? {
        for i in 0..<count where offsets[i + 1] - offsets[i] == key.count {
            if asciiCaseInsensitiveEqual(self[i], key) { return i }
        }
        return nil
    }
}

/// Object keys (each with its closing quote, at most 16 bytes) matched
/// sixteen bytes at a time where they stand in a request body.
///
/// The fast path reads ~20 keys per decision request; comparing byte by
/// byte against each candidate was its largest single cost. Each key is
/// kept as two 8-byte words and two masks, loaded the same way the body's
/// bytes are, so the comparison is two AND-and-compare steps per candidate
/// in whatever byte order the machine has.
struct KeyTable: @unchecked Sendable {
    /// Per key: first word, first mask, second word, second mask.
    private let words: UnsafePointer<UInt64>
    private let lengths: UnsafePointer<Int>
    let count: Int

    init(_ keys: [[UInt8]]) {
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 4 * keys.count)
        let lengths = UnsafeMutablePointer<Int>.allocate(capacity: keys.count)
        for (i, key) in keys.enumerated() {
            precondition(!key.isEmpty && key.count <= 16, "KeyTable keys are 1 to 16 bytes")
            var text = [UInt8](repeating: 0, count: 16)
            var mask = [UInt8](repeating: 0, count: 16)
            for (k, byte) in key.enumerated() {
                text[k] = byte
                mask[k] = 0xFF
            }
            text.withUnsafeBytes { t in
                mask.withUnsafeBytes { m in
                    words[4 * i] = t.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
                    words[4 * i + 1] = m.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
                    words[4 * i + 2] = t.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                    words[4 * i + 3] = m.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                }
            }
            lengths[i] = key.count
        }
        self.words = UnsafePointer(words)
        self.lengths = UnsafePointer(lengths)
        self.count = keys.count
    }

    /// The first key that the `available` bytes at `p` start with, and its length.
    @inline(__always)
    func match(_ p: UnsafePointer<UInt8>, available: Int) -> (index: Int, length: Int)? {
        let first: UInt64, second: UInt64
        if available >= 16 {
            first = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
            second = UnsafeRawPointer(p + 8).loadUnaligned(as: UInt64.self)
        } else {
            // Near the end of the body: pad with zeros, which no key's
            // masked bytes can match past `available` (lengths are checked).
            var padded: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &padded) { $0.baseAddress!.copyMemory(from: p, byteCount: max(available, 0)) }
            (first, second) = padded
        }
        for i in 0..<count where first & words[4 * i + 1] == words[4 * i] && second & words[4 * i + 3] == words[4 * i + 2] {
            if lengths[i] <= available { return (i, lengths[i]) }
        }
        return nil
    }
}

/// A `KeyTable` over the keys of one JSON object, `K.allCases` (each with
/// its closing quote): a match gives the key itself, so no caller has to
/// know which position means which key.
package struct WireKeyTable<K: WireKey>: @unchecked Sendable {
    /// For the byte scanner, whose keys must fit `KeyTable`'s 16 bytes with
    /// the quote; empty for an object with a longer key, which only the tree
    /// decoders read (the service's `pat_memtype_list`).
    private let table: KeyTable
    private let scannable: Bool
    private let names: ByteTable
    private let values: UnsafePointer<K>

    package init() {
        let all = K.allCases
        precondition(all.count <= 64, "WireKeyTable: a set of seen keys is a 64-bit mask")
        let quoted = all.map { Array($0.rawValue.utf8) + [UInt8(ascii: "\"")] }
        scannable = quoted.allSatisfy { $0.count <= 16 }
        table = KeyTable(scannable ? quoted : [])
        names = ByteTable(all.map(\.rawValue))
        let values = UnsafeMutablePointer<K>.allocate(capacity: all.count)
        values.initialize(from: all, count: all.count)
        self.values = UnsafePointer(values)
    }

    /// The key whose name is exactly `bytes`.
    func key(named bytes: UnsafeBufferPointer<UInt8>) -> K? {
        for i in 0..<names.count {
            let name = names[i]
            if name.count == bytes.count, memcmp(name.baseAddress!, bytes.baseAddress!, bytes.count) == 0 { return values[i] }
        }
        return nil
    }

    /// `key`'s index in `allCases`.
    func index(of key: K) -> Int {
        for i in 0..<names.count where values[i] == key { return i }
        preconditionFailure("WireKeyTable: \(key) is not a case")
    }

    /// The key that the `available` bytes at `p` start with, its index in
    /// `allCases` (for sets of seen keys) and its length with the quote.
    @inline(__always)
    func match(_ p: UnsafePointer<UInt8>, available: Int) -> (key: K, index: Int, length: Int)? {
        // Checked in debug builds only, to keep the scanner's per-key cost:
        // in a release build an unscannable table matches nothing, and the
        // scanner hands the body to the tree decoder.
        assert(scannable, "WireKeyTable<\(K.self)>: a key is too long for the byte scanner")
        guard let found = table.match(p, available: available) else { return nil }
        return (values[found.index], found.index, found.length)
    }
}
