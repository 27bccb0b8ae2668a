extension String {
    /// ASCII case-insensitive equality, without allocating lowercased copies:
    /// every name this package parses (types, quirks, vendors) is ASCII, and
    /// parsing sits on the request path.
    package func equalsIgnoringASCIICase(_ other: String) -> Bool {
        asciiCaseInsensitiveEqual(utf8, other.utf8)
    }

    /// True when the string starts with `prefix`, ignoring ASCII case.
    package func hasASCIICaseInsensitivePrefix(_ prefix: String) -> Bool {
        utf8.count >= prefix.utf8.count && asciiCaseInsensitiveEqual(utf8.prefix(prefix.utf8.count), prefix.utf8)
    }
}

/// Byte-wise equality where ASCII letters match either case.
package func asciiCaseInsensitiveEqual<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
    guard a.count == b.count else { return false }
    for (x, y) in zip(a, b) where x != y {
        let lx = x | 0x20, ly = y | 0x20
        guard lx == ly, lx >= UInt8(ascii: "a"), lx <= UInt8(ascii: "z") else { return false }
    }
    return true
}
