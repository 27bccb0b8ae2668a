extension String {
    /// ASCII case-insensitive equality, without allocating lowercased copies:
    /// every name this package parses (types, quirks, vendors) is ASCII, and
    /// parsing sits on the request path.
    package func equalsIgnoringASCIICase(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        for (a, b) in zip(utf8, other.utf8) where a != b {
            let la = a | 0x20, lb = b | 0x20
            guard la == lb, la >= UInt8(ascii: "a"), la <= UInt8(ascii: "z") else { return false }
        }
        return true
    }
}
