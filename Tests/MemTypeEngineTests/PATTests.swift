import Testing
@testable import MemTypeEngine

@Test func presetsDecodeToTheDocumentedEntries() {
    #expect(PAT.reset.entries == [.wb, .wt, .ucMinus, .uc, .wb, .wt, .ucMinus, .uc])
    #expect(PAT.linux.entries == [.wb, .wc, .ucMinus, .uc, .wb, .wp, .ucMinus, .wt])
    #expect(PAT.linuxErrata.entries == [.wb, .wc, .ucMinus, .uc, .wb, .wc, .ucMinus, .uc])
    #expect(PAT.linux.bootLogForm == "WB  WC  UC- UC  WB  WP  UC- WT")
}

@Test(arguments: [
    (UInt64(0x0007_0406_0007_0402), 0, UInt8(2)),
    (0x0007_0406_0007_0306, 1, 3),
    (0x0807_0406_0007_0406, 7, 8),
    (0x0007_0406_FF07_0406, 3, 0xFF),
])
func invalidPATNamesTheFirstBadEntry(raw: UInt64, entry: Int, code: UInt8) {
    #expect(throws: InvalidPATEntry(entry: entry, code: code)) { try PAT(raw: raw) }
}

@Test func everyValidByteIsAccepted() throws {
    for code in [0, 1, 4, 5, 6, 7] as [UInt64] {
        let raw = (0..<8).reduce(UInt64(0)) { $0 | code << (8 * UInt64($1)) }
        #expect(try PAT(raw: raw).entries == Array(repeating: MemoryType(code: code)!, count: 8))
    }
}

@Test func patIndexFromBits() {
    var seen = Set<Int>()
    for pat in [false, true] { for pcd in [false, true] { for pwt in [false, true] {
        seen.insert(PATIndex(pwt: pwt, pcd: pcd, pat: pat).value)
    } } }
    #expect(seen == Set(0...7))
    #expect(PATIndex(pwt: true, pcd: false, pat: true).value == 5)
    #expect(PATIndex(8) == nil && PATIndex(-1) == nil)
    // PCD is bit 4 and PWT bit 3 at every level.
    #expect(PATIndex(entry: 1 << 4, level: .size4K).value == 2)
    #expect(PATIndex(entry: 1 << 4, level: .size1G).value == 2)
}
