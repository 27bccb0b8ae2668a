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
        var s = Substring(text)
        if s.first == "v" || s.first == "V" { s = s.dropFirst() }
        func number(_ s: inout Substring) -> Int? {
            let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, digits.count <= 6 else { return nil }
            s = s.dropFirst(digits.count)
            return Int(digits)
        }
        guard let major = number(&s), s.first == "." else { return nil }
        s = s.dropFirst()
        guard let minor = number(&s) else { return nil }
        var patch = 0
        if s.first == "." {
            s = s.dropFirst()
            guard let p = number(&s) else { return nil }
            patch = p
        }
        var rc: Int?
        if s.lowercased().hasPrefix("-rc") {
            s = s.dropFirst(3)
            guard let n = number(&s), n >= 1 else { return nil }
            rc = n
        }
        // Anything left must be a distribution suffix: "-45-generic", "+", "-arch1-1".
        if let first = s.first, first != "-", first != "+", first != "_" { return nil }
        guard major >= 1 else { return nil }
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
