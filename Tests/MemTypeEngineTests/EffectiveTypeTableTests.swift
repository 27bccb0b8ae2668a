import Testing
@testable import MemTypeEngine

/// SDM Table 11-7 transcribed independently, cell by cell, as text:
/// "type" or "type (footnotes)".
private let transcribed: [String: [String]] = [
    //      UC        UC-       WC    WT          WB        WP
    "UC": ["UC (1)", "UC (1)", "WC", "UC (1)",   "UC (1)", "UC (1)"],
    "WC": ["UC (2)", "WC",     "WC", "UC (2,3)", "WC",     "UC (2,3)"],
    "WT": ["UC (2)", "UC (2)", "WC", "WT",       "WT",     "WP (3)"],
    "WB": ["UC (2)", "UC (2)", "WC", "WT",       "WB",     "WP"],
    "WP": ["UC (2)", "WC (3)", "WC", "WT (3)",   "WP",     "WP"],
]
private let columnOrder = ["UC", "UC-", "WC", "WT", "WB", "WP"]

struct TableCellCase: Sendable, CustomTestStringConvertible {
    let row: String, column: String, expected: String
    var testDescription: String { "\(row) x \(column)" }
}

private let allCells: [TableCellCase] = transcribed.keys.sorted().flatMap { row in
    columnOrder.enumerated().map { TableCellCase(row: row, column: $1, expected: transcribed[row]![$0]) }
}

@Test func tableHasThirtyCells() {
    #expect(allCells.count == 30)
    #expect(EffectiveTypeTable.rows.count * EffectiveTypeTable.columns.count == 30)
}

@Test(arguments: allCells)
func tableCell(_ c: TableCellCase) throws {
    let cell = try #require(EffectiveTypeTable.cell(row: MemoryType(name: c.row)!, pat: MemoryType(name: c.column)!))
    let notes = cell.footnotes.notes.map { String($0.rawValue) }.joined(separator: ",")
    #expect(cell.type.name + (notes.isEmpty ? "" : " (\(notes))") == c.expected)
}

@Test func ucMinusHasNoRow() {
    for column in MemoryType.allCases {
        #expect(EffectiveTypeTable.cell(row: .ucMinus, pat: column) == nil)
    }
}

@Test func encodingsAndValidity() {
    #expect(MemoryType.allCases.map(\.rawValue) == [0, 1, 4, 5, 6, 7])
    for code: UInt64 in [2, 3, 8, 255] { #expect(MemoryType(code: code) == nil) }
    #expect(!MemoryType.ucMinus.isValidMTRRType && !MemoryType.ucMinus.isValidEPTType)
    #expect(MemoryType.allCases.filter(\.isValidMTRRType).count == 5)
    #expect(MemoryType(name: "write-back") == .wb)
    #expect(MemoryType(name: "uncachable") == .uc)
    #expect(MemoryType(name: "uncached-minus") == .ucMinus)
    #expect(MemoryType(name: "write-protected") == .wp)
    #expect(MemoryType(name: "bogus") == nil)
}

@Test func eptLeafBits() {
    #expect(EPTMemoryType(type: .uc, ipat: false).bits == 0x00)
    #expect(EPTMemoryType(type: .uc, ipat: true).bits == 0x40)
    #expect(EPTMemoryType(type: .wb, ipat: false).bits == 0x30)
    #expect(EPTMemoryType(type: .wb, ipat: true).bits == 0x70)
}
