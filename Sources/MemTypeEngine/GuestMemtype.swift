/// The guest side of the bochs story: Linux's memory-type reservations
/// (`memtype_reserve()` / `memtype_free()` in arch/x86/mm/pat/memtype.c, and
/// `__ioremap_caller()` in arch/x86/mm/ioremap.c), which decide the PAT type
/// a driver's mapping really gets. bochs' `ioremap()` of its framebuffer BAR
/// reserved UC-; TTM's later `ioremap_wc()` of the same BAR met that
/// reservation and silently got UC- too.
public enum IoremapCall: String, Sendable, CaseIterable {
    /// UC- (`_PAGE_CACHE_MODE_UC_MINUS`).
    case ioremap
    case ioremapUC = "ioremap_uc"
    case ioremapWC = "ioremap_wc"
    case ioremapWT = "ioremap_wt"
    /// WB.
    case ioremapCache = "ioremap_cache"
    /// Releases the reservation of exactly this range (`memtype_free()`).
    case iounmap
    /// RAM pages (`set_memory_uc()` and friends reserve without accepting a substitute).
    case setMemoryUC = "set_memory_uc"
    case setMemoryWC = "set_memory_wc"
    case setMemoryWT = "set_memory_wt"
    /// Back to WB: frees the pages' reservation.
    case setMemoryWB = "set_memory_wb"

    /// The type the call asks `memtype_reserve()` for (nil for the frees).
    public var requested: MemoryType? {
        switch self {
        case .ioremap, .setMemoryUC: .ucMinus
        case .ioremapUC: .uc
        case .ioremapWC, .setMemoryWC: .wc
        case .ioremapWT, .setMemoryWT: .wt
        case .ioremapCache: .wb
        case .iounmap, .setMemoryWB: nil
        }
    }

    /// ioremap maps device memory and takes a substitute type; set_memory_* changes RAM and takes none.
    public var isIoremap: Bool {
        switch self {
        case .ioremap, .ioremapUC, .ioremapWC, .ioremapWT, .ioremapCache, .iounmap: true
        default: false
        }
    }
}

/// One reservation in the non-RAM interval tree; `end` is exclusive.
public struct MemtypeReservation: Sendable, Hashable {
    public let start: UInt64
    public let end: UInt64
    public let type: MemoryType

    public init(start: UInt64, end: UInt64, type: MemoryType) {
        self.start = start
        self.end = end
        self.type = type
    }
}

/// What one call returned.
public enum MemtypeOutcome: Sendable, Hashable {
    /// Mapped with `type`; `substituted` when it differs from the request.
    case mapped(type: MemoryType, substituted: Bool)
    /// `memtype_reserve()` failed with EBUSY: overlapping reservations disagree
    /// (`conflicting memory types`), or a RAM page is already reserved.
    case conflict(existing: MemoryType)
    /// The substitute is a forbidden downgrade (`is_new_memtype_allowed()`): ioremap returns NULL.
    case downgradeRefused(offered: MemoryType)
    /// EINVAL: a range mixing RAM and non-RAM, WP on RAM, an empty range, or
    /// an iounmap of a range that was never reserved.
    case invalid(reason: String)
    /// iounmap released the reservation.
    case released
}

/// The rules `memtype_reserve()` and ioremap applied, in order.
public enum MemtypeRule: String, Sendable {
    case patDisabled = "PAT.disabled"
    case isaHole = "PAT.isa-hole-untracked"
    case wbMTRRHint = "PAT.wb-request-mtrr-not-wb"
    case ramPerPage = "PAT.ram-per-page"
    case treeNoOverlap = "PAT.tree-no-overlap"
    case treeFirstEntryWins = "PAT.tree-first-entry-wins"
    case treeConflict = "PAT.tree-conflict"
    case ioremapSubstitute = "ioremap.substitute-accepted"
    case ioremapDowngradeRefused = "ioremap.downgrade-refused"
    case freed = "PAT.free"

    public var source: String {
        switch self {
        case .ioremapSubstitute, .ioremapDowngradeRefused: "__ioremap_caller() and is_new_memtype_allowed() in arch/x86/mm/ioremap.c, arch/x86/include/asm/pgtable.h"
        case .freed: "memtype_free() in arch/x86/mm/pat/memtype.c"
        default: "memtype_reserve() in arch/x86/mm/pat/memtype.c"
        }
    }
}

/// Linux's reservation state in one guest, and the calls that change it.
public struct GuestMemtypeState: Sendable, Hashable {
    /// PAT enabled in the guest (`pat_enabled()`); when off nothing is tracked.
    public var patEnabled: Bool
    /// Guest-physical ranges that are RAM, [start, end).
    public var ram: [Range<UInt64>]
    /// The guest's MTRRs, for the WB-request hint; nil means WB everywhere.
    public var mtrr: MTRRState?
    /// The non-RAM reservations, in insertion order.
    public private(set) var reservations: [MemtypeReservation]
    /// RAM pages reserved with a type other than WB (page address -> type).
    public private(set) var ramPages: [UInt64: MemoryType] = [:]

    public init(patEnabled: Bool = true, ram: [Range<UInt64>] = [], mtrr: MTRRState? = nil,
                reservations: [MemtypeReservation] = []) {
        self.patEnabled = patEnabled
        self.ram = ram
        self.mtrr = mtrr
        self.reservations = reservations
    }

    /// The ISA range Linux never tracks (`is_untracked_pat_range()`).
    static let isaHole: Range<UInt64> = 0xA0000..<0x100000

    /// Applies one call to [start, end) and returns what the driver got, with the rules that fired.
    public mutating func apply(_ call: IoremapCall, start: UInt64, end: UInt64) -> (MemtypeOutcome, [MemtypeRule]) {
        guard start < end else { return (.invalid(reason: "empty range"), []) }
        let kind = ramKind(start: start, end: end)
        if call.isIoremap && kind != .none {
            return (.invalid(reason: "ioremap refuses RAM the kernel uses (__ioremap_check_ram())"), [])
        }
        if !call.isIoremap && kind != .ram {
            return (.invalid(reason: "set_memory_* applies to RAM pages only"), [])
        }
        guard let requested = call.requested else { return free(start: start, end: end) }
        var rules: [MemtypeRule] = []
        let (reserved, offered) = reserve(start: start, end: end, requested: requested, acceptsSubstitute: call.isIoremap, rules: &rules)
        guard let offered else { return (reserved, rules) }
        if offered == requested { return (.mapped(type: offered, substituted: false), rules) }
        if IoremapRules.downgradeRefused(requested: requested, offered: offered) {
            rules.append(.ioremapDowngradeRefused)
            // ioremap frees what it just reserved before returning NULL.
            _ = free(start: start, end: end)
            return (.downgradeRefused(offered: offered), rules)
        }
        rules.append(.ioremapSubstitute)
        return (.mapped(type: offered, substituted: true), rules)
    }

    /// `memtype_reserve(start, end, req, &new)`: the outcome, and the granted
    /// type when ioremap should still check it as a substitute.
    private mutating func reserve(start: UInt64, end: UInt64, requested: MemoryType, acceptsSubstitute: Bool,
                                  rules: inout [MemtypeRule]) -> (MemtypeOutcome, MemoryType?) {
        if !patEnabled {
            rules.append(.patDisabled)
            return (.mapped(type: requested, substituted: false), requested)
        }
        if GuestMemtypeState.isaHole.contains(start) && end <= GuestMemtypeState.isaHole.upperBound {
            // Untracked: memtype_reserve() answers WB and reserves nothing. The
            // ISA range is always mapped, so no ioremap substitute check follows.
            rules.append(.isaHole)
            return (.mapped(type: .wb, substituted: requested != .wb), nil)
        }
        var actual = requested
        if requested == .wb, let mtrr, !mtrrIsWB(mtrr, start: start, end: end) {
            rules.append(.wbMTRRHint)
            actual = .ucMinus
        }
        if ramKind(start: start, end: end) == .ram {
            return reserveRAM(start: start, end: end, requested: actual, rules: &rules)
        }
        // The interval tree: the first overlapping entry's type wins; every
        // other overlapping entry must agree, else EBUSY.
        let overlapping = reservations.enumerated()
            .filter { $0.element.start < end && start < $0.element.end }
            .sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }
            .map(\.element)
        guard let first = overlapping.first else {
            rules.append(.treeNoOverlap)
            reservations.append(MemtypeReservation(start: start, end: end, type: actual))
            return (.mapped(type: actual, substituted: actual != requested), actual)
        }
        // Without a substitute pointer (`new_type == NULL`) the first entry must match the request.
        if let other = overlapping.first(where: { $0.type != first.type }) ?? (acceptsSubstitute || first.type == actual ? nil : first) {
            rules.append(.treeConflict)
            return (.conflict(existing: other.type), nil)
        }
        rules.append(.treeFirstEntryWins)
        reservations.append(MemtypeReservation(start: start, end: end, type: first.type))
        return (.mapped(type: first.type, substituted: first.type != requested), first.type)
    }

    /// RAM is tracked per page: WP is refused, and a page already reserved
    /// with a non-WB type makes the call fail. (memtype_reserve() also treats
    /// a UC request on RAM as UC-; no modelled call asks for UC on RAM.)
    private mutating func reserveRAM(start: UInt64, end: UInt64, requested: MemoryType,
                                     rules: inout [MemtypeRule]) -> (MemtypeOutcome, MemoryType?) {
        rules.append(.ramPerPage)
        if requested == .wp { return (.invalid(reason: "WP is not allowed on RAM"), nil) }
        let type = requested
        var page = start & ~0xFFF
        while page < end {
            if let current = ramPages[page], current != .wb { return (.conflict(existing: current), nil) }
            page += 0x1000
        }
        if type != .wb {
            page = start & ~0xFFF
            while page < end {
                ramPages[page] = type
                page += 0x1000
            }
        }
        return (.mapped(type: type, substituted: type != requested), type)
    }

    /// `memtype_free()`: drops the reservation with exactly this range.
    private mutating func free(start: UInt64, end: UInt64) -> (MemtypeOutcome, [MemtypeRule]) {
        if !patEnabled || (GuestMemtypeState.isaHole.contains(start) && end <= GuestMemtypeState.isaHole.upperBound) {
            return (.released, [.freed])
        }
        if ramKind(start: start, end: end) == .ram {
            var page = start & ~0xFFF
            while page < end {
                ramPages[page] = nil
                page += 0x1000
            }
            return (.released, [.freed])
        }
        guard let i = reservations.lastIndex(where: { $0.start == start && $0.end == end }) else {
            return (.invalid(reason: "no reservation matches this range exactly (freeing invalid memtype)"), [.freed])
        }
        reservations.remove(at: i)
        return (.released, [.freed])
    }

    private enum RAMKind { case ram, none, mixed }

    private func ramKind(start: UInt64, end: UInt64) -> RAMKind {
        let covered = ram.reduce(UInt64(0)) { sum, r in
            let lo = Swift.max(r.lowerBound, start), hi = Swift.min(r.upperBound, end)
            return hi > lo ? sum + (hi - lo) : sum
        }
        if covered == 0 { return .none }
        return covered >= end - start ? .ram : .mixed
    }

    /// The MTRR type of the whole range is WB (`pat_x_mtrr_type()`): a
    /// non-uniform range counts as not WB.
    private func mtrrIsWB(_ mtrr: MTRRState, start: UInt64, end: UInt64) -> Bool {
        let from = start & ~0xFFF, to = (end + 0xFFF) & ~0xFFF
        guard let runs = mtrr.runs(from: from, to: to, cpuidMTRR: true, maxRuns: 2) else { return false }
        return runs.count == 1 && runs[0].type == .wb
    }
}

/// ioremap's rule for substitutes, and the PAT index Linux uses per type.
public enum IoremapRules {
    /// `is_new_memtype_allowed()`: a request for UC-, WC or WT must not come
    /// back WB, and WT must not come back WC.
    public static func downgradeRefused(requested: MemoryType, offered: MemoryType) -> Bool {
        switch (requested, offered) {
        case (.ucMinus, .wb), (.wc, .wb), (.wt, .wb), (.wt, .wc): true
        default: false
        }
    }

    /// The PAT index Linux's 4 KiB PTEs use for a type under its own PAT
    /// (0x0407050600070106: WB 0, WC 1, UC- 2, UC 3, WP 5, WT 7).
    public static func linuxPATIndex(for type: MemoryType) -> PATIndex {
        switch type {
        case .wb: PATIndex(unchecked: 0)
        case .wc: PATIndex(unchecked: 1)
        case .ucMinus: PATIndex(unchecked: 2)
        case .uc: PATIndex(unchecked: 3)
        case .wp: PATIndex(unchecked: 5)
        case .wt: PATIndex(unchecked: 7)
        }
    }
}
