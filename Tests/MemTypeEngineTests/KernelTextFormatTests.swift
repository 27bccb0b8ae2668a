import Testing
@testable import MemTypeEngine

@Test func procMTRRBothForms() throws {
    let text = """
        reg00: base=0x000000000 (    0MB), size= 2048MB, count=1: write-back
        reg01: base=0x0c0000000 ( 3072MB), size= 1024MB, count=1: uncachable
        reg03: base=0x0d0000000 ( 3328MB), size=  256MB: Write-Combining, count=1
        """
    let ranges = try KernelTextFormats.procMTRR(text, maxPhysAddr: 36)
    #expect(ranges.count == 4)
    #expect(ranges[0] == (try VariableMTRR(index: 0, base: 0, size: 2048 << 20, type: .wb, maxPhysAddr: 36)))
    #expect(ranges[1].type == .uc && ranges[1].physBase & ~0xFFF == 0xC000_0000)
    #expect(!ranges[2].valid)  // reg02 absent: an invalid slot keeps the order
    #expect(ranges[3].type == .wc)
    let s = try MTRRState(defType: 1 << 11 | 0, variable: ranges, maxPhysAddr: 36)
    #expect(s.kvmLookup(gpa: 0xC000_0000, cpuidMTRR: true).type == .uc)
    #expect(s.kvmLookup(gpa: 0x1000, cpuidMTRR: true).type == .wb)
    // KVM walks by descending base: reg03's WC first, then reg01's UC returns UC.
    #expect(s.kvmLookup(gpa: 0xD000_0000, cpuidMTRR: true) == MTRRLookup(type: .uc, source: .variableUCWins(first: 3, range: 1)))
}

@Test(arguments: [
    ("reg09: base=0x0 (0MB), size= 1MB, count=1: write-back", 1),
    ("reg00: base=0x0 (0MB), size= 3MB, count=1: write-back", 1),
    ("reg00: base=0x0 (0MB), size= 1MB, count=1: purple", 1),
    ("reg00: base=0x0 (0MB), size= 1MB, count=1: write-back\nreg00: base=0x0 (0MB), size= 1MB, count=1: write-back", 2),
    ("hello", 1),
])
func procMTRRErrorsNameTheLine(text: String, line: Int) {
    #expect { _ = try KernelTextFormats.procMTRR(text, maxPhysAddr: 46) } throws: { ($0 as? KernelTextFormats.LineError)?.line == line }
}

@Test func patMemtypeListBothForms() throws {
    let text = """
        PAT memtype list:
        PAT: [mem 0x00000000fd000000-0x00000000fe000000] uncached-minus
        PAT: [mem 0x00000000fd000000-0x00000000fe000000] uncached-minus
        write-combining @ 0xfebf0000-0xfebf1000
        """
    let list = try KernelTextFormats.patMemtypeList(text)
    #expect(list == [
        MemtypeReservation(start: 0xFD00_0000, end: 0xFE00_0000, type: .ucMinus),
        MemtypeReservation(start: 0xFD00_0000, end: 0xFE00_0000, type: .ucMinus),
        MemtypeReservation(start: 0xFEBF_0000, end: 0xFEBF_1000, type: .wc),
    ])
    // Fed to the reservation model, the bochs BAR's ioremap_wc gets UC-.
    var g = GuestMemtypeState(reservations: list)
    #expect(g.apply(.ioremapWC, start: 0xFD00_0000, end: 0xFE00_0000).0 == .mapped(type: .ucMinus, substituted: true))
    #expect(throws: KernelTextFormats.LineError.self) { try KernelTextFormats.patMemtypeList("PAT: [mem 0x2000-0x1000] write-back") }
}

/// A size too large for 64 bits is refused on its line, not wrapped: 2^34 + 1
/// GB wrapped to 1 GB and 2^54 + 4 KB to 4 KB, both valid-looking sizes.
@Test(arguments: ["17179869185GB", "18014398509481988KB", "17592186044417MB", "99999999999GB", "99999999999999999999MB"])
func procMTRRSizeOverflowIsRefused(size: String) {
    let text = """
        reg00: base=0x000000000 (    0MB), size= 2048MB, count=1: write-back
        reg01: base=0x000000000 (    0MB), size= \(size), count=1: uncachable
        """
    #expect { _ = try KernelTextFormats.procMTRR(text, maxPhysAddr: 52) } throws: { error in
        guard let e = error as? KernelTextFormats.LineError else { return false }
        return e.line == 2 && e.message.contains("too large")
    }
}
