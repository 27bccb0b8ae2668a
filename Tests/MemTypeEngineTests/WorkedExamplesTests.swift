import EngineTestSupport
import Testing
@testable import MemTypeEngine

extension WorkedExample: CustomTestStringConvertible {}

@Test(arguments: workedExamples)
func workedExample(_ example: WorkedExample) throws {
    try example.request.validate()
    let d = DecisionEngine.decide(example.request)
    #expect(d.ept?.type == example.eptType)
    #expect(d.ept?.ipat == example.ipat)
    #expect(d.effective == example.effective)
    if let trace = example.trace { #expect(d.trace.rules == trace) }
    if let warnings = example.warnings { #expect(d.warnings.map(\.code) == warnings) }
}

@Test func example12And31NameTheRangesThatDecided() {
    func source(_ n: Int) -> MTRRSource? {
        let r = workedExamples.first { $0.number == n }!.request
        return r.vcpu.mtrr.kvmLookup(gpa: r.access.gpa, cpuidMTRR: true).source
    }
    // 12: register 1 (UC, base 3 GiB) met first, register 0 (WB) returned WB.
    #expect(source(12) == .variableUCMetFirst(first: 1, range: 0))
    // 31: register 1 (WB, base 3 GiB) met first, register 0 (UC) returned UC.
    #expect(source(31) == .variableUCWins(first: 1, range: 0))
    let d12 = DecisionEngine.decide(workedExamples.first { $0.number == 12 }!.request)
    #expect(d12.warnings == [.mtrrDiffersFromSDM(kvm: .wb, sdm: .type(.uc))])
}

@Test func example30InvalidPATIsRejectedNamingByte0() {
    #expect(throws: InvalidPATEntry(entry: 0, code: 2)) { try PAT(raw: 0x0007_0406_0007_0402) }
}

@Test func example26RefusesTheDisableRequest() {
    let d = DecisionEngine.decide(workedExamples.first { $0.number == 26 }!.request)
    #expect(d.quirks.enableCapFails)
    #expect(d.quirks.refused == .ignoreGuestPAT)
    #expect(d.quirks.ignoreGuestPAT.state == .forcedOn)
    #expect(d.warnings.contains(.quirkRequestRefused(refused: .ignoreGuestPAT)))
}

@Test func example29UsesBit12ForTheHugePagePATBit() {
    // Bit 7 is PS in a PDE: it must not select the PAT half of the table.
    #expect(PATIndex(entry: 1 << 7 | 1 << 3, level: .size2M).value == 1)
    #expect(PATIndex(entry: 1 << 7 | 1 << 3, level: .size4K).value == 5)
    #expect(PATIndex(entry: 1 << 12 | 1 << 3, level: .size1G).value == 5)
    #expect(PATIndex(entry: 1 << 12 | 1 << 3, level: .size4K).value == 1)
}
