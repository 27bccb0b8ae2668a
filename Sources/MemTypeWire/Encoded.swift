import JSON
import MemTypeEngine

/// Pre-encoded JSON for the response fragments that never change (rules,
/// table cells, quirk states): the decision path then copies bytes instead
/// of escaping the same long strings on every request. Built once, from the
/// same `write(to:)` functions the pretty (CLI) path calls, so the two
/// cannot drift apart.
enum Encoded {
    static let rules: [[UInt8]] = (0...Int(Rule.allCases.map(\.rawValue).max()!)).map { raw in
        guard let rule = Rule(rawValue: UInt8(raw)) else { return [] }
        return encode(rule.write)
    }

    static let cells: [[UInt8]] = EffectiveTypeTable.rows.flatMap { row in
        EffectiveTypeTable.columns.map { column in encode(EffectiveTypeTable.cell(row: row, pat: column)!.write) }
    }

    static func cell(_ c: EffectiveCell) -> [UInt8] {
        cells[EffectiveTypeTable.rows.firstIndex(of: c.row)! * EffectiveTypeTable.columns.count
            + EffectiveTypeTable.columns.firstIndex(of: c.column)!]
    }

    static let quirkStatus: [QuirkStatus: [UInt8]] = {
        var table: [QuirkStatus: [UInt8]] = [:]
        for quirk in [Quirk.ignoreGuestPAT, .cdNwCleared] {
            for state in [QuirkState.enabled, .disabled, .forcedOn, .inapplicable] {
                for reason in QuirkReason.allCases {
                    let status = QuirkStatus(quirk: quirk, state: state, reason: reason)
                    table[status] = encode(status.write)
                }
            }
        }
        return table
    }()

    static func encode(_ write: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        write(&w)
        return w.bytes
    }
}

extension JSONWriter {
    /// Splices a cached encoding when writing compact JSON; writes it anew
    /// (indented) when pretty, since cached bytes are compact.
    mutating func cached(_ bytes: [UInt8]?, _ write: (inout JSONWriter) -> Void) {
        if let bytes, !pretty { raw(bytes) } else { write(&self) }
    }
}
