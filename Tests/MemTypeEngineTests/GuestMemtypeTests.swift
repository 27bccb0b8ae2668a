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
