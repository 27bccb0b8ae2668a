// ASCII text helpers shared by the engine (names on the wire) and the
// HTTP server (header names): one case-insensitive comparison for both.

extension String {
    /// ASCII case-insensitive equality, without allocating lowercased copies:
    /// every name this package parses (types, quirks, vendors) is ASCII, and
    /// parsing sits on the request path.
    package func equalsIgnoringASCIICase(_ other: String) -> Bool {
        withUTF8Bytes { a in other.withUTF8Bytes { b in asciiCaseInsensitiveEqual(a, b) } }
    }

    /// True when the string starts with `prefix`, ignoring ASCII case.
    package func hasASCIICaseInsensitivePrefix(_ prefix: String) -> Bool {
        withUTF8Bytes { a in
            prefix.withUTF8Bytes { p in
                a.count >= p.count && asciiCaseInsensitiveEqual(UnsafeBufferPointer(rebasing: a.prefix(p.count)), p)
            }
        }
    }

    /// Calls `body` with the string's UTF-8: in place for native and literal
    /// strings (small ones are copied to the stack), from a copy otherwise.
    /// Byte loops over a buffer cost a fraction of the same loops over
    /// `String.UTF8View` indices, and these run for every request field.
    /// Inlinable: called unspecialized from another module, each call would
    /// look up `Optional<R>`'s metadata at run time (~400 instructions).
    @inlinable @inline(__always)
    package func withUTF8Bytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let r = utf8.withContiguousStorageIfAvailable(body) { return r }
        var copy = self
        return copy.withUTF8(body)
    }
}

/// Byte-wise equality where ASCII letters match either case. Inlinable:
/// header lookups call it per field on every request.
@inlinable
package func asciiCaseInsensitiveEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    for k in 0..<a.count {
        let x = a[k], y = b[k]
        if x == y { continue }
        let lx = x | 0x20, ly = y | 0x20
        guard lx == ly, lx >= UInt8(ascii: "a"), lx <= UInt8(ascii: "z") else { return false }
    }
    return true
}
