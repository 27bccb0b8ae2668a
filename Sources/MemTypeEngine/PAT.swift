import ASCII

/// The guest's `IA32_PAT` MSR (0x277): eight one-byte entries PA0..PA7, entry
/// i in bits 8i+7:8i (SDM Vol. 3A, "PAT Indexing").
///
/// A `PAT` value is always valid: the initializer rejects what WRMSR would
/// reject with #GP (an entry of 2, 3 or >= 8), naming the entry.
public struct PAT: Sendable, Hashable {
    /// The raw 64-bit MSR value.
    public let raw: UInt64

    /// The power-on value: WB, WT, UC-, UC, WB, WT, UC-, UC.
    public static let reset = PAT(unchecked: 0x0007_0406_0007_0406)
    /// What Linux guests program (`pat_bp_init()`): WB, WC, UC-, UC, WB, WP, UC-, WT.
    public static let linux = PAT(unchecked: 0x0407_0506_0007_0106)
    /// What Linux programs on CPUs with PAT errata: WB, WC, UC-, UC repeated.
    public static let linuxErrata = PAT(unchecked: 0x0007_0106_0007_0106)

    private init(unchecked raw: UInt64) { self.raw = raw }

    /// Validates every entry the way WRMSR does.
    public init(raw: UInt64) throws(InvalidPATEntry) {
        for entry in 0..<8 {
            let code = (raw >> (8 * UInt64(entry))) & 0xFF
            if MemoryType(code: code) == nil {
                throw InvalidPATEntry(entry: entry, code: UInt8(code))
            }
        }
        self.raw = raw
    }

    /// The type selected by a PAT index.
    public subscript(index: PATIndex) -> MemoryType {
        // Safe: every entry was validated at construction.
        MemoryType(code: (raw >> (8 * UInt64(index.value))) & 0xFF)!
    }

    /// All eight entries, PA0 first.
    public var entries: [MemoryType] { (0..<8).map { self[PATIndex(unchecked: $0)] } }

    /// The form Linux prints at boot: `WB  WC  UC- UC  WB  WP  UC- WT`.
    public var bootLogForm: String {
        entries.map { $0.name.padding(toLength: 3) }.joined(separator: " ").trimmingTrailingSpaces()
    }
}

/// A PAT entry that would make WRMSR(IA32_PAT) raise #GP.
public struct InvalidPATEntry: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which entry (PA0..PA7), that is, which byte of the MSR.
    public let entry: Int
    /// The offending byte.
    public let code: UInt8

    public var description: String {
        "PAT entry PA\(entry) (byte \(entry), bits \(8 * entry + 7):\(8 * entry)) is \(code): "
            + "only 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) and 7 (UC-) are valid; WRMSR would #GP"
    }
}

/// Which of the eight PAT entries a mapping selects: 4*PAT + 2*PCD + PWT.
public struct PATIndex: Sendable, Hashable, Comparable {
    /// 0...7.
    public let value: Int

    public init?(_ value: Int) {
        guard (0...7).contains(value) else { return nil }
        self.value = value
    }

    init(unchecked value: Int) { self.value = value }

    /// PAT entry 0 (PAT=PCD=PWT=0), what an ordinary WB mapping uses.
    public static let zero = PATIndex(unchecked: 0)

    /// The index from the three paging-entry bits.
    public init(pwt: Bool, pcd: Bool, pat: Bool) {
        value = (pat ? 4 : 0) | (pcd ? 2 : 0) | (pwt ? 1 : 0)
    }

    /// The index from a raw paging-structure entry that maps a page of `level`.
    ///
    /// PWT is bit 3 and PCD bit 4 at every level, but the PAT bit is bit 7 in
    /// a 4 KiB PTE and bit 12 in a PDE or PDPTE that maps a 2 MiB or 1 GiB page,
    /// where bit 7 is PS (SDM Vol. 3A, tables 4-18 to 4-20).
    public init(entry: UInt64, level: PageLevel) {
        let patBit: UInt64 = level == .size4K ? 7 : 12
        self.init(pwt: entry & (1 << 3) != 0, pcd: entry & (1 << 4) != 0, pat: entry & (1 << patBit) != 0)
    }

    public static func < (lhs: PATIndex, rhs: PATIndex) -> Bool { lhs.value < rhs.value }
}

/// The size of the page a guest (or EPT) leaf maps.
public enum PageLevel: Int, Sendable, CaseIterable, Comparable {
    case size4K = 1
    case size2M = 2
    case size1G = 3

    /// log2 of the page size in bytes.
    public var shift: UInt64 {
        switch self {
        case .size4K: 12
        case .size2M: 21
        case .size1G: 30
        }
    }

    private static let names: [(String, PageLevel)] = [
        ("4K", .size4K), ("2M", .size2M), ("1G", .size1G), ("4KiB", .size4K), ("2MiB", .size2M), ("1GiB", .size1G),
    ]

    public var name: String {
        switch self {
        case .size4K: "4K"
        case .size2M: "2M"
        case .size1G: "1G"
        }
    }

    public init?(name: String) {
        guard let hit = PageLevel.names.first(where: { $0.0.equalsIgnoringASCIICase(name) }) else { return nil }
        self = hit.1
    }

    public static func < (lhs: PageLevel, rhs: PageLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }

    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
