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
    /// Releases the reservation of this range's pages (`memtype_free()` of
    /// the page-aligned range `__ioremap_caller()` reserved, as `iounmap()` does).
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
    /// ioremap and iounmap also work on whole pages (see `GuestMemtypeState.ioremapPages`).
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

/// Consecutive RAM pages reserved with one type: page frame numbers
/// (address >> 12) [`firstPage`, `endPage`), end exclusive. Page numbers
/// rather than addresses so that the last page of the 64-bit space has an
/// end (2^52) too.
public struct RAMPageRun: Sendable, Hashable {
    public let firstPage: UInt64
    public let endPage: UInt64
    public let type: MemoryType

    public init(firstPage: UInt64, endPage: UInt64, type: MemoryType) {
        self.firstPage = firstPage
        self.endPage = endPage
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
    /// Guest-physical ranges that are RAM, [start, end). They may overlap or
    /// touch: what counts is their union (see `ramKind`).
    public var ram: [Range<UInt64>]
    /// The guest's MTRRs, for the WB-request hint, read as the guest kernel
    /// reads them (`guestKernelType`); nil means WB everywhere.
    public var mtrr: MTRRState?
    /// The non-RAM reservations, in insertion order.
    public private(set) var reservations: [MemtypeReservation]
    /// RAM pages reserved with a type other than WB. Linux keeps this per
    /// page (in the page flags); here it is the same per-page map stored as
    /// runs, so a call costs the same over one page or over terabytes: sorted
    /// by page, disjoint, non-empty, and adjacent runs of one type merged (so
    /// equal page maps are equal arrays).
    public private(set) var ramRuns: [RAMPageRun] = []

    public init(patEnabled: Bool = true, ram: [Range<UInt64>] = [], mtrr: MTRRState? = nil,
                reservations: [MemtypeReservation] = []) {
        self.patEnabled = patEnabled
        self.ram = ram
        self.mtrr = mtrr
        self.reservations = reservations
    }

    /// The ISA range Linux never tracks (`is_untracked_pat_range()`).
    static let isaHole: Range<UInt64> = 0xA0000..<0x100000

    /// The type a RAM page has been reserved with, or nil while it is WB (unreserved).
    public func ramPageType(at address: UInt64) -> MemoryType? {
        let page = address >> 12
        let i = firstRunIndex(endingAfter: page)
        return i < ramRuns.count && ramRuns[i].firstPage <= page ? ramRuns[i].type : nil
    }

    /// Applies one call to [start, end) and returns what the driver got, with the rules that fired.
    ///
    /// ioremap* and iounmap reserve and free whole pages, as Linux does (see
    /// `ioremapPages`): two mappings that share a page but no byte overlap,
    /// and `reservations` then holds the page-aligned range. set_memory_*
    /// pass the range on as given, and need no alignment: Linux's
    /// `set_memory_uc(addr, numpages)` and friends name whole pages, and
    /// RAM is tracked per page here as in `reserve_ram_pages_type()` /
    /// `free_ram_pages_type()`, so a set_memory_* call reserves or frees
    /// every page [start, end) touches, exactly what its page-aligned range would.
    public mutating func apply(_ call: IoremapCall, start: UInt64, end: UInt64) -> (MemtypeOutcome, [MemtypeRule]) {
        guard start < end else { return (.invalid(reason: "empty range"), []) }
        // The RAM check looks at the caller's bytes, before the alignment, as
        // `__ioremap_check_mem()` does in __ioremap_caller(). A page that is
        // only partly in `ram` is not a RAM page to memtype_reserve()
        // (`pat_pagerange_is_ram()` counts whole pages), so the aligned range
        // then goes to the interval tree, as it does below.
        let kind = ramKind(start: start, end: end)
        if call.isIoremap && kind != .none {
            return (.invalid(reason: "ioremap refuses RAM the kernel uses (__ioremap_check_ram())"), [])
        }
        if !call.isIoremap && kind != .ram {
            return (.invalid(reason: "set_memory_* applies to RAM pages only"), [])
        }
        let (start, end) = call.isIoremap ? Self.ioremapPages(start: start, end: end) : (start, end)
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

    /// The range ioremap reserves and iounmap frees for the caller's
    /// [start, end), start < end: whole 4 KiB pages, as `__ioremap_caller()`
    /// in arch/x86/mm/ioremap.c aligns before `memtype_reserve()`
    /// (`phys_addr &= PAGE_MASK; size = PAGE_ALIGN(last_addr + 1) - phys_addr`)
    /// and `iounmap()` frees the vm area's page-aligned
    /// [`phys_addr`, `phys_addr + get_vm_area_size()`).
    ///
    /// An end in the last page of the 64-bit space would round up to 2^64,
    /// which a `UInt64` end cannot hold: it stays at 2^64 - 1, the highest end
    /// any range here has, so the reservation still covers every byte a range
    /// can name in that page and iounmap finds it. (Linux never gets there:
    /// `phys_addr_valid()` refuses addresses past MAXPHYADDR first, as the
    /// route does.)
    static func ioremapPages(start: UInt64, end: UInt64) -> (start: UInt64, end: UInt64) {
        let (rounded, wraps) = end.addingReportingOverflow(0xFFF)
        return (start & ~0xFFF, wraps ? UInt64.max : rounded & ~0xFFF)
    }

    /// `memtype_reserve(start, end, req, &new)`: the outcome, and the granted
    /// type when ioremap should still check it as a substitute.
    ///
    /// Takes the range as given, as `memtype_reserve()` in
    /// arch/x86/mm/pat/memtype.c does: the page alignment is ioremap's
    /// (`__ioremap_caller()`, done in `apply`), not memtype_reserve()'s. The
    /// engine offers no direct memtype_reserve()/memtype_free() call; the
    /// reservations a state starts with (`init(reservations:)`, a pasted
    /// pat_memtype_list) are likewise taken as given, not aligned.
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
        let pages = Self.pages(start: start, end: end)
        // All or nothing: the lowest page already reserved fails the whole call.
        let i = firstRunIndex(endingAfter: pages.lowerBound)
        if i < ramRuns.count, ramRuns[i].firstPage < pages.upperBound, ramRuns[i].type != .wb {
            return (.conflict(existing: ramRuns[i].type), nil)
        }
        if type != .wb { setRAMPages(pages, to: type) }
        return (.mapped(type: type, substituted: type != requested), type)
    }

    /// The page frame numbers [first, end) that [start, end) touches; start < end.
    /// `(end - 1) >> 12 + 1` is at most 2^52, so nothing here can overflow.
    private static func pages(start: UInt64, end: UInt64) -> Range<UInt64> {
        (start >> 12)..<((end - 1) >> 12 + 1)
    }

    /// The index of the first run whose end lies above `page` (`ramRuns.count` if none).
    private func firstRunIndex(endingAfter page: UInt64) -> Int {
        var lo = 0, hi = ramRuns.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if ramRuns[mid].endPage <= page { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Sets every page in `pages` to `type` (nil: back to WB, i.e. unreserved),
    /// keeping `ramRuns` sorted, disjoint and merged.
    private mutating func setRAMPages(_ pages: Range<UInt64>, to type: MemoryType?) {
        guard !pages.isEmpty else { return }
        // Runs [lo, hi) overlap or touch `pages`; they are replaced by their
        // parts outside `pages`, plus the new run, merged with same-type neighbours.
        var lo = firstRunIndex(endingAfter: pages.lowerBound)
        if lo > 0 && ramRuns[lo - 1].endPage == pages.lowerBound { lo -= 1 }
        var hi = lo
        while hi < ramRuns.count && ramRuns[hi].firstPage <= pages.upperBound { hi += 1 }
        var replacement: [RAMPageRun] = []
        var newFirst = pages.lowerBound, newEnd = pages.upperBound
        for run in ramRuns[lo..<hi] {
            if run.firstPage < pages.lowerBound {
                // Touches or sticks out below.
                if run.type == type { newFirst = run.firstPage } else {
                    replacement.append(RAMPageRun(firstPage: run.firstPage, endPage: Swift.min(run.endPage, pages.lowerBound), type: run.type))
                }
            }
            if run.endPage > pages.upperBound {
                // Touches or sticks out above.
                if run.type == type { newEnd = run.endPage } else {
                    replacement.append(RAMPageRun(firstPage: Swift.max(run.firstPage, pages.upperBound), endPage: run.endPage, type: run.type))
                }
            }
        }
        if let type { replacement.append(RAMPageRun(firstPage: newFirst, endPage: newEnd, type: type)) }
        replacement.sort { $0.firstPage < $1.firstPage }
        ramRuns.replaceSubrange(lo..<hi, with: replacement)
    }

    /// `memtype_free()`: drops the reservation with exactly this range. Like
    /// `memtype_free()` in arch/x86/mm/pat/memtype.c it does not align;
    /// iounmap's range arrives page-aligned from `apply`.
    private mutating func free(start: UInt64, end: UInt64) -> (MemtypeOutcome, [MemtypeRule]) {
        if !patEnabled || (GuestMemtypeState.isaHole.contains(start) && end <= GuestMemtypeState.isaHole.upperBound) {
            return (.released, [.freed])
        }
        if ramKind(start: start, end: end) == .ram {
            setRAMPages(Self.pages(start: start, end: end), to: nil)
            return (.released, [.freed])
        }
        guard let i = reservations.lastIndex(where: { $0.start == start && $0.end == end }) else {
            return (.invalid(reason: "no reservation matches this range exactly (freeing invalid memtype)"), [.freed])
        }
        reservations.remove(at: i)
        return (.released, [.freed])
    }

    private enum RAMKind { case ram, none, mixed }

    /// Whether [start, end) is all RAM, has no RAM, or mixes both.
    ///
    /// `ram` entries may overlap (a pasted map can list a range twice, or
    /// nest one in another); they count as their union, as in Linux's own
    /// e820/resource view, where a byte is RAM or not whatever the listing.
    /// Merging here rather than refusing overlaps at the wire keeps the
    /// answer right for every caller of the engine, not only the route.
    private func ramKind(start: UInt64, end: UInt64) -> RAMKind {
        var touched = false
        for r in Self.union(ram) where r.lowerBound < end && start < r.upperBound {
            // The union's ranges are disjoint and never touch, so a range all
            // RAM lies inside one of them.
            if r.lowerBound <= start && end <= r.upperBound { return .ram }
            touched = true
        }
        return touched ? .mixed : .none
    }

    /// The union of `ranges` as sorted, disjoint, non-touching, non-empty ranges.
    static func union(_ ranges: [Range<UInt64>]) -> [Range<UInt64>] {
        var out: [Range<UInt64>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) where !r.isEmpty {
            if let last = out.last, r.lowerBound <= last.upperBound {
                out[out.count - 1] = last.lowerBound..<Swift.max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// The MTRR type of the whole range is WB (`pat_x_mtrr_type()`): a
    /// non-uniform range counts as not WB. The guest kernel's own lookup
    /// (`MTRRState.guestKernelType`, the SDM's precedence, UC winning in any
    /// order), not KVM's walk: this is the guest deciding, on its own MTRRs.
    private func mtrrIsWB(_ mtrr: MTRRState, start: UInt64, end: UInt64) -> Bool {
        let from = start & ~0xFFF
        // Rounded up to a page, an end in the last page of the 64-bit space
        // would be 2^64: walk up to that page and look it up on its own.
        let lastPage: UInt64 = ~0xFFF
        let (rounded, wraps) = end.addingReportingOverflow(0xFFF)
        let to = wraps ? lastPage : rounded & ~0xFFF
        if wraps && mtrr.guestKernelType(gpa: lastPage) != .wb { return false }
        if from == to { return wraps }  // only the last page, which is WB
        guard let runs = mtrr.guestKernelRuns(from: from, to: to, maxRuns: 2) else { return false }
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
