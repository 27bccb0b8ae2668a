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

    /// Quirk states by `quirkStatusSlot`: an array index, because hashing a
    /// `QuirkStatus` hashes its enums' raw-value strings on every request.
    static let quirkStatusTable: [[UInt8]] = {
        var table = [[UInt8]](repeating: [], count: 2 * 4 * reasonSlots)
        for quirk in [Quirk.ignoreGuestPAT, .cdNwCleared] {
            for state in [QuirkState.enabled, .disabled, .forcedOn, .inapplicable] {
                for reason in QuirkReason.allCases {
                    let status = QuirkStatus(quirk: quirk, state: state, reason: reason)
                    table[quirkStatusSlot(status)!] = encode(status.write)
                }
            }
        }
        return table
    }()

    static func quirkStatus(_ s: QuirkStatus) -> [UInt8]? {
        quirkStatusSlot(s).map { quirkStatusTable[$0] }
    }

    private static let reasonSlots = 9

    /// The slot of `s` in `quirkStatusTable`; nil for a quirk the table lacks.
    /// (Exhaustive switches: a new state or reason does not compile until it has a slot.)
    private static func quirkStatusSlot(_ s: QuirkStatus) -> Int? {
        let quirk: Int
        switch s.quirk {
        case .ignoreGuestPAT: quirk = 0
        case .cdNwCleared: quirk = 1
        default: return nil
        }
        let state = switch s.state {
        case .enabled: 0
        case .disabled: 1
        case .forcedOn: 2
        case .inapplicable: 3
        }
        let reason = switch s.reason {
        case .defaultOn: 0
        case .disabledOnRequest: 1
        case .requestRefused: 2
        case .noSelfSnoop: 3
        case .shadowPaging: 4
        case .tdxForcesDisabled: 5
        case .amdHonorsGuestPAT: 6
        case .notInKernel: 7
        case .noCR0CDEmulation: 8
        }
        return (quirk * 4 + state) * reasonSlots + reason
    }

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
