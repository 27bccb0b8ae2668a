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
        var rest = text.utf8[...]
        func eat(_ c: Character) -> Bool {
            guard let first = rest.first, first == c.asciiValue! else { return false }
            rest = rest.dropFirst()
            return true
        }
        func number() -> Int? {
            var value = 0, digits = 0
            while let b = rest.first, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9"), digits < 6 {
                value = value * 10 + Int(b - UInt8(ascii: "0"))
                digits += 1
                rest = rest.dropFirst()
            }
            return digits > 0 ? value : nil
        }
        _ = eat("v") || eat("V")
        guard let major = number(), major >= 1, eat("."), let minor = number() else { return nil }
        var patch = 0
        if eat(".") {
            guard let p = number() else { return nil }
            patch = p
        }
        var rc: Int?
        if asciiCaseInsensitiveEqual(rest.prefix(3), "-rc".utf8) {
            rest = rest.dropFirst(3)
            guard let n = number(), n >= 1 else { return nil }
            rc = n
        }
        // Anything left must be a distribution suffix: "-45-generic", "+", "-arch1-1".
        if let first = rest.first, first != UInt8(ascii: "-"), first != UInt8(ascii: "+"), first != UInt8(ascii: "_") { return nil }
        self.init(major: major, minor: minor, patch: patch, rc: rc)
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
