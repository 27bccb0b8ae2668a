import EngineTestSupport
import Testing
@testable import MemTypeEngine

private let bar: (UInt64, UInt64) = (0xFD00_0000, 0xFE00_0000)

@Test func bochsIoremapThenIoremapWCGetsUCMinus() {
    var g = GuestMemtypeState(ram: [0..<0x8000_0000])
    let (first, r1) = g.apply(.ioremap, start: bar.0, end: bar.1)
    #expect(first == .mapped(type: .ucMinus, substituted: false))
    #expect(r1 == [.treeNoOverlap])
    // TTM maps the same BAR write-combining: the earlier UC- reservation wins, silently.
    let (second, r2) = g.apply(.ioremapWC, start: bar.0, end: bar.1)
    #expect(second == .mapped(type: .ucMinus, substituted: true))
    #expect(r2 == [.treeFirstEntryWins, .ioremapSubstitute])
    // With Linux's PAT that is entry 2, which a guest-PAT-honoring KVM turns into UC.
    #expect(IoremapRules.linuxPATIndex(for: .ucMinus).value == 2)
    // The fixed driver (9388ccf69925) maps WC first and gets WC.
    var fixed = GuestMemtypeState()
    #expect(fixed.apply(.ioremapWC, start: bar.0, end: bar.1).0 == .mapped(type: .wc, substituted: false))
}

@Test(arguments: [
    (MemoryType.ucMinus, MemoryType.wb, true), (.wc, .wb, true), (.wt, .wb, true), (.wt, .wc, true),
    (.wc, .ucMinus, false), (.uc, .wb, false), (.wb, .ucMinus, false), (.ucMinus, .wc, false),
])
func downgradeRules(requested: MemoryType, offered: MemoryType, refused: Bool) {
    #expect(IoremapRules.downgradeRefused(requested: requested, offered: offered) == refused)
}

@Test func aForbiddenSubstituteFailsAndReservesNothing() {
    var g = GuestMemtypeState(reservations: [MemtypeReservation(start: 0xE000_0000, end: 0xE100_0000, type: .wb)])
    let (out, rules) = g.apply(.ioremapWC, start: 0xE000_0000, end: 0xE010_0000)
    #expect(out == .downgradeRefused(offered: .wb))
    #expect(rules.last == .ioremapDowngradeRefused)
    #expect(g.reservations.count == 1)
}

@Test func overlapsThatDisagreeAreEBUSY() {
    var g = GuestMemtypeState(reservations: [
        MemtypeReservation(start: 0x1000_0000, end: 0x1010_0000, type: .ucMinus),
        MemtypeReservation(start: 0x1010_0000, end: 0x1020_0000, type: .wc),
    ])
    #expect(g.apply(.ioremap, start: 0x1000_0000, end: 0x1020_0000).0 == .conflict(existing: .wc))
    // The first entry (lowest start) decides even when the request matches a later one.
    #expect(g.apply(.ioremapWC, start: 0x100F_F000, end: 0x1010_0000).0 == .mapped(type: .ucMinus, substituted: true))
}

@Test func ramIsTrackedPerPage() {
    var g = GuestMemtypeState(ram: [0x10_0000..<0x4000_0000])
    // ioremap refuses RAM; set_memory_* reserves it page by page.
    #expect(g.apply(.ioremap, start: 0x20_0000, end: 0x20_2000).0 == .invalid(reason: "ioremap refuses RAM the kernel uses (__ioremap_check_ram())"))
    #expect(g.apply(.setMemoryUC, start: 0x20_0000, end: 0x20_2000) == (.mapped(type: .ucMinus, substituted: false), [.ramPerPage]))
    #expect(g.apply(.setMemoryWC, start: 0x20_1000, end: 0x20_3000).0 == .conflict(existing: .ucMinus))
    #expect(g.apply(.setMemoryWB, start: 0x20_0000, end: 0x20_2000).0 == .released)
    #expect(g.apply(.setMemoryWC, start: 0x20_1000, end: 0x20_3000).0 == .mapped(type: .wc, substituted: false))
    #expect(g.apply(.setMemoryWC, start: 0x3FFF_F000, end: 0x4000_1000).0 == .invalid(reason: "set_memory_* applies to RAM pages only"))
    #expect(g.apply(.ioremapWC, start: 0x3FFF_F000, end: 0x4000_1000).0 == .invalid(reason: "ioremap refuses RAM the kernel uses (__ioremap_check_ram())"))
}

@Test func untrackedCases() {
    var off = GuestMemtypeState(patEnabled: false)
    #expect(off.apply(.ioremapWC, start: bar.0, end: bar.1).0 == .mapped(type: .wc, substituted: false))
    #expect(off.reservations.isEmpty)
    var g = GuestMemtypeState()
    #expect(g.apply(.ioremap, start: 0xA0000, end: 0xC0000) == (.mapped(type: .wb, substituted: true), [.isaHole]))
    #expect(g.reservations.isEmpty)
    #expect(g.apply(.iounmap, start: 0x1000, end: 0x2000).0 == .invalid(reason: "no reservation matches this range exactly (freeing invalid memtype)"))
}

@Test func wbRequestsFollowTheMTRRHint() throws {
    let mtrr = try MTRRState(defType: 1 << 11 | 6, variable: [VariableMTRR(index: 0, base: 0xC000_0000, size: 1 << 30, type: .uc, maxPhysAddr: 46)])
    var g = GuestMemtypeState(mtrr: mtrr)
    #expect(g.apply(.ioremapCache, start: 0xC000_0000, end: 0xC010_0000) == (.mapped(type: .ucMinus, substituted: true), [.wbMTRRHint, .treeNoOverlap, .ioremapSubstitute]))
    #expect(g.apply(.ioremapCache, start: 0x8000_0000, end: 0x8010_0000).0 == .mapped(type: .wb, substituted: false))
}

private let setMemoryOnRAMOnly = MemtypeOutcome.invalid(reason: "set_memory_* applies to RAM pages only")

/// One call over 2^46 bytes (2^34 pages) of RAM costs what a one-page call
/// costs, and behaves exactly as page-by-page tracking would.
@Test func hugeRAMCallsCostPerCallNotPerPage() {
    var g = GuestMemtypeState(ram: [0..<(1 << 52)])
    let big: UInt64 = 1 << 46
    #expect(g.apply(.setMemoryUC, start: 0x1000, end: big + 0x1000) == (.mapped(type: .ucMinus, substituted: false), [.ramPerPage]))
    #expect(g.apply(.setMemoryWC, start: big, end: big + 0x2000).0 == .conflict(existing: .ucMinus))
    // A wider request fails as a whole and reserves nothing: the page before
    // and the pages after are still free.
    #expect(g.apply(.setMemoryWT, start: 0, end: 1 << 47).0 == .conflict(existing: .ucMinus))
    #expect(g.apply(.setMemoryWT, start: 0, end: 0x1000).0 == .mapped(type: .wt, substituted: false))
    #expect(g.apply(.setMemoryWT, start: big + 0x1000, end: 1 << 47).0 == .mapped(type: .wt, substituted: false))
    // Freeing a hole in the middle leaves both sides reserved.
    #expect(g.apply(.setMemoryWB, start: 1 << 40, end: 1 << 41).0 == .released)
    #expect(g.apply(.setMemoryWC, start: 1 << 40, end: 1 << 41).0 == .mapped(type: .wc, substituted: false))
    #expect(g.apply(.setMemoryWC, start: (1 << 41) - 0x1000, end: (1 << 41) + 0x1000).0 == .conflict(existing: .wc))
    #expect(g.apply(.setMemoryWC, start: (1 << 41) + 0x10, end: (1 << 41) + 0x20).0 == .conflict(existing: .ucMinus))
    #expect(g.apply(.setMemoryWC, start: (1 << 40) - 1, end: 1 << 40).0 == .conflict(existing: .ucMinus))
    // Freeing all of RAM frees every page.
    #expect(g.apply(.setMemoryWB, start: 0, end: 1 << 52).0 == .released)
    #expect(g.apply(.setMemoryWC, start: 0, end: 1 << 52).0 == .mapped(type: .wc, substituted: false))
}

/// Ranges ending at or near 2^64 go through every path without trapping.
@Test func rangesNear2To64DoNotTrap() throws {
    let top = UInt64.max
    var g = GuestMemtypeState(ram: [0xFFFF_FFFF_0000_0000..<top])
    // The last page of the 64-bit space (0xFFFF_FFFF_FFFF_F000).
    #expect(g.apply(.setMemoryUC, start: top - 0x800, end: top) == (.mapped(type: .ucMinus, substituted: false), [.ramPerPage]))
    #expect(g.apply(.setMemoryWC, start: top - 0xFFF, end: top - 0x800).0 == .conflict(existing: .ucMinus))
    #expect(g.apply(.setMemoryWC, start: top - 0x1FFF, end: top - 0xFFF).0 == .mapped(type: .wc, substituted: false))
    #expect(g.apply(.setMemoryWB, start: top - 0x1FFF, end: top).0 == .released)
    #expect(g.apply(.setMemoryWT, start: 0xFFFF_FFFF_0000_0000, end: top).0 == .mapped(type: .wt, substituted: false))
    #expect(g.apply(.setMemoryWB, start: 0xFFFF_FFFF_0000_0000, end: top).0 == .released)
    #expect(g.apply(.ioremap, start: 0xFFFF_FFFE_FFFF_F000, end: top).0 == .invalid(reason: "ioremap refuses RAM the kernel uses (__ioremap_check_ram())"))
    #expect(g.apply(.setMemoryUC, start: 0xFFFF_FFFE_FFFF_F000, end: top).0 == setMemoryOnRAMOnly)

    // RAM over the whole 64-bit space, listed twice.
    var all = GuestMemtypeState(ram: [0..<top, 0..<top])
    #expect(all.apply(.setMemoryUC, start: 0, end: top).0 == .mapped(type: .ucMinus, substituted: false))
    #expect(all.apply(.setMemoryWC, start: top - 1, end: top).0 == .conflict(existing: .ucMinus))
    #expect(all.apply(.setMemoryWB, start: 0, end: top).0 == .released)

    // The WB request's MTRR check over the last page.
    let ucDefault = try MTRRState(defType: 1 << 11 | 0, variable: [])
    var uc = GuestMemtypeState(mtrr: ucDefault)
    #expect(uc.apply(.ioremapCache, start: top - 0x800, end: top) == (.mapped(type: .ucMinus, substituted: true), [.wbMTRRHint, .treeNoOverlap, .ioremapSubstitute]))
    let wbDefault = try MTRRState(defType: 1 << 11 | 6, variable: [])
    var wb = GuestMemtypeState(mtrr: wbDefault)
    #expect(wb.apply(.ioremapCache, start: top - 0x800, end: top) == (.mapped(type: .wb, substituted: false), [.treeNoOverlap]))
    #expect(wb.apply(.ioremapCache, start: 0x1_0000_0000, end: top).0 == .mapped(type: .wb, substituted: false))
    #expect(wb.apply(.iounmap, start: 0x1_0000_0000, end: top).0 == .released)
}

/// `ram` entries that overlap count once (their union), as in Linux's
/// resource view: [0, 0x2000) listed twice does not cover [0, 0x4000).
@Test func overlappingRAMRangesCountOnce() {
    var g = GuestMemtypeState(ram: [0..<0x2000, 0..<0x2000])
    #expect(g.apply(.setMemoryUC, start: 0, end: 0x4000).0 == setMemoryOnRAMOnly)
    #expect(g.apply(.setMemoryUC, start: 0, end: 0x2000).0 == .mapped(type: .ucMinus, substituted: false))
    // Overlapping, touching and unordered pieces still make one stretch of RAM.
    var h = GuestMemtypeState(ram: [0x3000..<0x5000, 0..<0x2000, 0x1000..<0x3000, 0x1800..<0x1900])
    #expect(h.apply(.setMemoryUC, start: 0, end: 0x5000).0 == .mapped(type: .ucMinus, substituted: false))
    #expect(h.apply(.setMemoryUC, start: 0x4000, end: 0x6000).0 == setMemoryOnRAMOnly)
    #expect(h.apply(.ioremap, start: 0x5000, end: 0x6000).0 == .mapped(type: .ucMinus, substituted: false))
    var gap = GuestMemtypeState(ram: [0..<0x2000, 0x1000..<0x2000, 0x3000..<0x4000])
    #expect(gap.apply(.setMemoryUC, start: 0, end: 0x4000).0 == setMemoryOnRAMOnly)
}

/// The runs hold exactly what a per-page map would: random set_memory_*
/// calls over 64 pages of RAM, against the page-by-page model they replaced.
@Test func ramRunsMatchAPerPageModel() {
    let base: UInt64 = 0x10_0000, pageCount: UInt64 = 64
    let calls: [IoremapCall] = [.setMemoryUC, .setMemoryWC, .setMemoryWT, .setMemoryWB]
    for seed in UInt64(1)...300 {
        var rng = SplitMix(state: seed)
        var g = GuestMemtypeState(ram: [base..<(base + pageCount << 12)])
        var model: [UInt64: MemoryType] = [:]
        for step in 0..<40 {
            let a = base + UInt64(rng.below(Int(pageCount << 12)))
            let b = base + UInt64(rng.below(Int(pageCount << 12)))
            guard a != b else { continue }
            let (start, end) = (Swift.min(a, b), Swift.max(a, b))
            let call = rng.pick(calls)
            let pages = stride(from: start & ~0xFFF, to: end, by: 0x1000)
            let expected: MemtypeOutcome
            if let requested = call.requested {
                if let busy = pages.lazy.compactMap({ model[$0] }).first {
                    expected = .conflict(existing: busy)
                } else {
                    for p in pages { model[p] = requested }
                    expected = .mapped(type: requested, substituted: false)
                }
            } else {
                for p in pages { model[p] = nil }
                expected = .released
            }
            let got = g.apply(call, start: start, end: end).0
            #expect(got == expected, "seed \(seed) step \(step): \(call) [\(start), \(end))")
            for p in 0..<pageCount {
                let address = base + p << 12
                #expect(g.ramPageType(at: address + UInt64(rng.below(0x1000))) == model[address], "seed \(seed) step \(step) page \(p)")
            }
            // Sorted, disjoint, non-empty, and no two touching runs of one type.
            for (x, y) in zip(g.ramRuns, g.ramRuns.dropFirst()) {
                #expect(x.endPage <= y.firstPage && !(x.endPage == y.firstPage && x.type == y.type), "seed \(seed) step \(step)")
            }
            #expect(g.ramRuns.allSatisfy { $0.firstPage < $0.endPage && $0.type != .wb })
        }
    }
}

/// A call over 2^46 bytes is one run, and freeing its middle leaves two.
@Test func ramRunsAreRuns() {
    var g = GuestMemtypeState(ram: [0..<(1 << 52)])
    _ = g.apply(.setMemoryUC, start: 0x1000, end: (1 << 46) + 0x1000)
    #expect(g.ramRuns == [RAMPageRun(firstPage: 1, endPage: (1 << 34) + 1, type: .ucMinus)])
    _ = g.apply(.setMemoryWB, start: 1 << 40, end: 1 << 41)
    _ = g.apply(.setMemoryWC, start: 0, end: 0x1000)
    #expect(g.ramRuns == [
        RAMPageRun(firstPage: 0, endPage: 1, type: .wc),
        RAMPageRun(firstPage: 1, endPage: 1 << 28, type: .ucMinus),
        RAMPageRun(firstPage: 1 << 29, endPage: (1 << 34) + 1, type: .ucMinus),
    ])
    // Filling the hole with the same type merges the three UC- pieces back into one.
    _ = g.apply(.setMemoryUC, start: 1 << 40, end: 1 << 41)
    #expect(g.ramRuns == [RAMPageRun(firstPage: 0, endPage: 1, type: .wc), RAMPageRun(firstPage: 1, endPage: (1 << 34) + 1, type: .ucMinus)])
    #expect(g.ramPageType(at: (1 << 46) + 0xFFF) == .ucMinus)
    #expect(g.ramPageType(at: (1 << 46) + 0x1000) == nil)
    // The last page of the 64-bit space is page 2^52 - 1.
    var top = GuestMemtypeState(ram: [0..<UInt64.max])
    _ = top.apply(.setMemoryWT, start: UInt64.max - 1, end: UInt64.max)
    #expect(top.ramRuns == [RAMPageRun(firstPage: (1 << 52) - 1, endPage: 1 << 52, type: .wt)])
}

// ioremap and iounmap work on whole pages, as __ioremap_caller() in
// arch/x86/mm/ioremap.c aligns before memtype_reserve() and iounmap() frees
// the vm area's page-aligned range.

/// Two ioremaps of one page that share no byte still meet in the interval
/// tree: the second gets the first's type, or fails when that is a downgrade
/// `is_new_memtype_allowed()` forbids.
@Test func ioremapsSharingAPageButNoBytesConflict() {
    let page: UInt64 = 0xFD00_0000
    var g = GuestMemtypeState()
    #expect(g.apply(.ioremap, start: page, end: page + 0x800) == (.mapped(type: .ucMinus, substituted: false), [.treeNoOverlap]))
    #expect(g.apply(.ioremapWC, start: page + 0x800, end: page + 0x1000) == (.mapped(type: .ucMinus, substituted: true), [.treeFirstEntryWins, .ioremapSubstitute]))
    #expect(g.reservations == [
        MemtypeReservation(start: page, end: page + 0x1000, type: .ucMinus),
        MemtypeReservation(start: page, end: page + 0x1000, type: .ucMinus),
    ])

    // WB first, then UC- in the same page (different bytes): UC- coming back
    // WB is refused, and ioremap frees what it reserved.
    var wb = GuestMemtypeState()
    #expect(wb.apply(.ioremapCache, start: page + 0x10, end: page + 0x20).0 == .mapped(type: .wb, substituted: false))
    let (refused, rules) = wb.apply(.ioremap, start: page + 0xF00, end: page + 0x1100)
    #expect(refused == .downgradeRefused(offered: .wb))
    #expect(rules == [.treeFirstEntryWins, .ioremapDowngradeRefused])
    #expect(wb.reservations == [MemtypeReservation(start: page, end: page + 0x1000, type: .wb)])

    // Two entries of different types in the tree, each on its own page: a
    // mapping touching both pages, bytes of neither, is EBUSY.
    var two = GuestMemtypeState()
    _ = two.apply(.ioremap, start: page, end: page + 0x100)
    _ = two.apply(.ioremapWC, start: page + 0x1F00, end: page + 0x2000)
    #expect(two.apply(.ioremapWC, start: page + 0xF00, end: page + 0x1100) == (.conflict(existing: .wc), [.treeConflict]))
}

/// An unaligned ioremap reserves every page it touches; iounmap of the same
/// unaligned range frees that reservation, and so does any range with the same pages.
@Test func unalignedIoremapReservesWholePagesAndIounmapFreesThem() {
    var g = GuestMemtypeState()
    #expect(g.apply(.ioremapWC, start: 0xFE00_0010, end: 0xFE00_1010).0 == .mapped(type: .wc, substituted: false))
    #expect(g.reservations == [MemtypeReservation(start: 0xFE00_0000, end: 0xFE00_2000, type: .wc)])
    #expect(g.apply(.iounmap, start: 0xFE00_0010, end: 0xFE00_1010) == (.released, [.freed]))
    #expect(g.reservations.isEmpty)

    // A reservation Linux listed (page-aligned, as all of its are) is freed
    // by an iounmap of any range over the same pages.
    var listed = GuestMemtypeState(reservations: [MemtypeReservation(start: 0xFE00_0000, end: 0xFE00_2000, type: .ucMinus)])
    #expect(listed.apply(.iounmap, start: 0xFE00_0FFF, end: 0xFE00_1001).0 == .released)
    #expect(listed.reservations.isEmpty)
    // Fewer pages are not the same range: memtype_free() wants an exact match.
    var fewer = GuestMemtypeState(reservations: [MemtypeReservation(start: 0xFE00_0000, end: 0xFE00_2000, type: .ucMinus)])
    #expect(fewer.apply(.iounmap, start: 0xFE00_0010, end: 0xFE00_0020).0 == .invalid(reason: "no reservation matches this range exactly (freeing invalid memtype)"))
}

/// Aligning an end in the last page of the 64-bit space does not trap: the
/// reservation runs from that page to 2^64 - 1 (the highest end a range has),
/// every range in that page meets it, and iounmap finds it.
@Test func ioremapAlignmentAtTheTopOfTheAddressSpace() throws {
    let top = UInt64.max, lastPage: UInt64 = 0xFFFF_FFFF_FFFF_F000
    var g = GuestMemtypeState()
    #expect(g.apply(.ioremap, start: top - 1, end: top).0 == .mapped(type: .ucMinus, substituted: false))
    #expect(g.reservations == [MemtypeReservation(start: lastPage, end: top, type: .ucMinus)])
    #expect(g.apply(.ioremapWC, start: lastPage, end: lastPage + 1).0 == .mapped(type: .ucMinus, substituted: true))
    #expect(g.apply(.ioremapCache, start: lastPage - 0x10, end: lastPage + 0x10).0 == .mapped(type: .ucMinus, substituted: true))
    #expect(g.reservations.last == MemtypeReservation(start: lastPage - 0x1000, end: top, type: .ucMinus))
    #expect(g.apply(.iounmap, start: lastPage + 0x800, end: lastPage + 0x900).0 == .released)
    #expect(g.apply(.iounmap, start: lastPage - 1, end: top).0 == .released)
    #expect(g.reservations == [MemtypeReservation(start: lastPage, end: top, type: .ucMinus)])
    // The whole 64-bit space, and a WB request checked against the MTRRs there.
    var all = GuestMemtypeState(mtrr: try MTRRState(defType: 1 << 11 | 6, variable: []))
    #expect(all.apply(.ioremapCache, start: 1, end: top).0 == .mapped(type: .wb, substituted: false))
    #expect(all.reservations == [MemtypeReservation(start: 0, end: top, type: .wb)])
    // Ending at the last page leaves it out; ending one byte into it does not.
    #expect(all.apply(.iounmap, start: 0xFFF, end: lastPage).0 == .invalid(reason: "no reservation matches this range exactly (freeing invalid memtype)"))
    #expect(all.apply(.iounmap, start: 0xFFF, end: lastPage + 1).0 == .released)
    #expect(all.reservations.isEmpty)
}
