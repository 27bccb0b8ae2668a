/// Where an effective UC came from, or why a cell needs a remark: the three
/// footnotes of SDM Vol. 3A Table 11-7 ("Effective Page-Level Memory Types").
public enum TableFootnote: Int, Sendable, CaseIterable {
    /// (1) UC from the MTRR/EPT side: caches need not be snooped.
    case ucFromMTRR = 1
    /// (2) UC from the page tables: caches must be checked (aliasing possible).
    case ucFromPAT = 2
    /// (3) Older SDM editions called this combination undefined; every
    /// PAT+MTRR CPU gives the value shown. Xen's `mm_type_tbl` agrees.
    case formerlyUndefined = 3

    public var text: String {
        switch self {
        case .ucFromMTRR: "UC from the MTRR/EPT side: caches need not be snooped"
        case .ucFromPAT: "UC from the page tables: caches must be checked, aliases are possible"
        case .formerlyUndefined: "older SDM editions called this combination undefined; all PAT+MTRR CPUs give this value"
        }
    }
}

/// A set of `TableFootnote`s, stored as bits so a cell costs nothing to copy.
public struct TableFootnotes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ note: TableFootnote) { rawValue = 1 << UInt8(note.rawValue) }

    public static let ucFromMTRR = TableFootnotes(.ucFromMTRR)
    public static let ucFromPAT = TableFootnotes(.ucFromPAT)
    public static let formerlyUndefined = TableFootnotes(.formerlyUndefined)

    /// The footnotes in ascending order.
    public var notes: [TableFootnote] { TableFootnote.allCases.filter { contains(TableFootnotes($0)) } }
}

/// One cell of Table 11-7.
public struct EffectiveCell: Sendable, Hashable {
    /// The MTRR type, or under EPT with IPAT=0 the EPT type in its place.
    public let row: MemoryType
    /// The PAT type.
    public let column: MemoryType
    /// The effective memory type of the access.
    public let type: MemoryType
    public let footnotes: TableFootnotes
}

/// SDM Vol. 3A Table 11-7, "Effective Page-Level Memory Types for Pentium III
/// and More Recent Processor Families".
///
/// Rows are MTRR types (under EPT with IPAT=0: the EPT type), so UC- has no
/// row; columns are PAT types. Xen's `mm_type_tbl` (xen/arch/x86/hvm/mtrr.c)
/// encodes the same cells.
public enum EffectiveTypeTable {
    /// The rows, in the SDM's order.
    public static let rows: [MemoryType] = [.uc, .wc, .wt, .wb, .wp]
    /// The columns, in the SDM's order.
    public static let columns: [MemoryType] = [.uc, .ucMinus, .wc, .wt, .wb, .wp]

    /// The cell for an MTRR (or EPT) type and a PAT type. Returns nil only for
    /// the UC- row, which cannot occur: UC- is not a valid MTRR or EPT type.
    public static func cell(row: MemoryType, pat: MemoryType) -> EffectiveCell? {
        let (type, notes): (MemoryType, TableFootnotes)
        switch (row, pat) {
        // Row UC: everything is UC from the MTRR side, except that WC in the
        // page tables wins (the SDM's WC-over-UC rule).
        case (.uc, .wc): (type, notes) = (.wc, [])
        case (.uc, _): (type, notes) = (.uc, .ucFromMTRR)

        case (.wc, .uc): (type, notes) = (.uc, .ucFromPAT)
        case (.wc, .ucMinus): (type, notes) = (.wc, [])
        case (.wc, .wc): (type, notes) = (.wc, [])
        case (.wc, .wt): (type, notes) = (.uc, [.ucFromPAT, .formerlyUndefined])
        case (.wc, .wb): (type, notes) = (.wc, [])
        case (.wc, .wp): (type, notes) = (.uc, [.ucFromPAT, .formerlyUndefined])

        case (.wt, .uc), (.wt, .ucMinus): (type, notes) = (.uc, .ucFromPAT)
        case (.wt, .wc): (type, notes) = (.wc, [])
        case (.wt, .wt), (.wt, .wb): (type, notes) = (.wt, [])
        case (.wt, .wp): (type, notes) = (.wp, .formerlyUndefined)

        // Row WB is the identity, except that UC- becomes UC.
        case (.wb, .uc), (.wb, .ucMinus): (type, notes) = (.uc, .ucFromPAT)
        case (.wb, let p): (type, notes) = (p, [])

        case (.wp, .uc): (type, notes) = (.uc, .ucFromPAT)
        case (.wp, .ucMinus): (type, notes) = (.wc, .formerlyUndefined)
        case (.wp, .wc): (type, notes) = (.wc, [])
        case (.wp, .wt): (type, notes) = (.wt, .formerlyUndefined)
        case (.wp, .wb), (.wp, .wp): (type, notes) = (.wp, [])

        case (.ucMinus, _): return nil
        }
        return EffectiveCell(row: row, column: pat, type: type, footnotes: notes)
    }
}
