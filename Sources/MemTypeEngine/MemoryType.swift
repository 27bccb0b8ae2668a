import ASCII

/// An x86 memory type, as encoded in PAT entries, MTRRs and EPT leaves
/// (Intel SDM Vol. 3A, "Memory Types and Their Properties").
///
/// The raw value is the architectural encoding. Codes 2 and 3 are reserved
/// everywhere and have no case here, so an invalid type cannot be built.
/// UC- (7) exists only as a PAT entry: written to an MTRR it makes WRMSR #GP,
/// and in an EPT leaf it is a misconfiguration.
public enum MemoryType: UInt8, Sendable, CaseIterable, Hashable {
    case uc = 0
    case wc = 1
    case wt = 4
    case wp = 5
    case wb = 6
    case ucMinus = 7

    /// The decoded type of an architectural code, or nil for 2, 3 and >= 8.
    public init?(code: UInt64) {
        guard code <= 7, let type = MemoryType(rawValue: UInt8(code)) else { return nil }
        self = type
    }

    /// The short name used throughout the SDM and Linux's boot log: `UC`, `WC`, `WT`, `WP`, `WB`, `UC-`.
    public var name: String {
        switch self {
        case .uc: "UC"
        case .wc: "WC"
        case .wt: "WT"
        case .wp: "WP"
        case .wb: "WB"
        case .ucMinus: "UC-"
        }
    }

    /// Parses a short name (`WB`, `uc-`), the spelling `UC_MINUS`, or the long
    /// names Linux prints in `/proc/mtrr` (`write-back`, `uncachable`) and
    /// `pat_memtype_list` (`uncached-minus`, `write-protected`). Case-insensitive.
    public init?(name: String) {
        guard let hit = MemoryType.names.first(where: { $0.0.equalsIgnoringASCIICase(name) }) else { return nil }
        self = hit.1
    }

    private static let names: [(String, MemoryType)] = [
        ("WB", .wb), ("UC", .uc), ("WC", .wc), ("WT", .wt), ("WP", .wp), ("UC-", .ucMinus),
        ("uncachable", .uc), ("uncacheable", .uc), ("uncached", .uc), ("write-combining", .wc),
        ("write-through", .wt), ("write-protect", .wp), ("write-protected", .wp), ("write-back", .wb),
        ("uc_minus", .ucMinus), ("ucminus", .ucMinus), ("uncached-minus", .ucMinus),
    ]

    /// Valid in a PAT entry: every case (the reserved codes have none).
    public var isValidPATEntry: Bool { true }

    /// Valid as an MTRR type: UC- is not (WRMSR would #GP; `valid_mtrr_type()` in arch/x86/kvm/mtrr.c).
    public var isValidMTRRType: Bool { self != .ucMinus }

    /// Valid in EPT leaf bits 5:3: as for MTRRs, UC- causes an EPT misconfiguration (SDM 29.3.3.1).
    public var isValidEPTType: Bool { self != .ucMinus }
}

extension MemoryType: CustomStringConvertible {
    public var description: String { name }
}
