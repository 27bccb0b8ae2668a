import ASCII

/// A Linux kernel version as users write it: `6.6`, `v6.10.3`, `6.11-rc2`,
/// `6.18.1`, `6.8.0-45-generic`.
///
/// Only what selects KVM's behaviour is kept: major, minor, patch level and
/// the release candidate number. A distribution suffix after the patch level
/// (`-45-generic`) is accepted and ignored: the model follows mainline, and
/// a vendor kernel with backports should name its model directly.
public struct KernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int
    /// The `-rcN` number, or nil for a release.
    public let rc: Int?

    public init(major: Int, minor: Int, patch: Int = 0, rc: Int? = nil) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.rc = rc
    }

    /// Parses a version string, or returns nil if it is not one.
    public init?(_ text: String) {
        guard let parsed = text.withUTF8Bytes(KernelVersion.parse) else { return nil }
        self = parsed
    }

    /// Parses a version from UTF-8 bytes, as `init?(_:)` does from a string.
    public init?(utf8: UnsafeBufferPointer<UInt8>) {
        guard let parsed = KernelVersion.parse(utf8) else { return nil }
        self = parsed
    }

    /// The grammar: `[vV]MAJOR.MINOR[.PATCH][-rcN][suffix]`, where a suffix
    /// starts with `-`, `+` or `_` (`-45-generic`, `+`, `-arch1-1`).
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> KernelVersion? {
        var c = Cursor(bytes: bytes)
        _ = c.eat(UInt8(ascii: "v")) || c.eat(UInt8(ascii: "V"))
        guard let major = c.number(), major >= 1, c.eat(UInt8(ascii: ".")), let minor = c.number() else { return nil }
        var patch = 0
        if c.eat(UInt8(ascii: ".")) {
            guard let p = c.number() else { return nil }
            patch = p
        }
        var rc: Int?
        if c.eatRC() {
            guard let n = c.number(), n >= 1 else { return nil }
            rc = n
        }
        // Anything left must be a distribution suffix.
        if let next = c.peek(), next != UInt8(ascii: "-"), next != UInt8(ascii: "+"), next != UInt8(ascii: "_") {
            return nil
        }
        return KernelVersion(major: major, minor: minor, patch: patch, rc: rc)
    }

    /// The parser's position. A struct, not closures over a local: a
    /// captured `var` costs a dynamic exclusivity check per access, and
    /// this runs for every request that names a kernel.
    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var k = 0

        func peek() -> UInt8? { k < bytes.count ? bytes[k] : nil }

        mutating func eat(_ c: UInt8) -> Bool {
            guard k < bytes.count, bytes[k] == c else { return false }
            k += 1
            return true
        }

        /// `-rc`, any case.
        mutating func eatRC() -> Bool {
            guard bytes.count - k >= 3, bytes[k] == UInt8(ascii: "-"), bytes[k + 1] | 0x20 == UInt8(ascii: "r"),
                  bytes[k + 2] | 0x20 == UInt8(ascii: "c") else { return false }
            k += 3
            return true
        }

        /// One to six decimal digits.
        mutating func number() -> Int? {
            var value = 0, digits = 0
            while k < bytes.count, bytes[k] >= UInt8(ascii: "0"), bytes[k] <= UInt8(ascii: "9"), digits < 6 {
                value = value * 10 + Int(bytes[k] - UInt8(ascii: "0"))
                digits += 1
                k += 1
            }
            return digits > 0 ? value : nil
        }
    }

    public var description: String {
        var s = "\(major).\(minor)"
        if patch != 0 { s += ".\(patch)" }
        if let rc { s += "-rc\(rc)" }
        return s
    }

    /// Release candidates sort before their release; patch levels after it.
    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        if (a.major, a.minor) != (b.major, b.minor) { return (a.major, a.minor) < (b.major, b.minor) }
        switch (a.rc, b.rc) {
        case let (x?, y?): return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a.patch < b.patch
        }
    }

    /// True when this kernel is `major.minor` or newer, counting that release's -rc kernels.
    func isAtLeast(_ major: Int, _ minor: Int) -> Bool { (self.major, self.minor) >= (major, minor) }
}
