import JSON
import MemTypeEngine

/// Pre-encoded JSON for the parts of a decision that come from small fixed
/// sets (rules, table cells, quirk states, names, the uncached-RAM
/// warnings), for `DecisionEncoder` to copy instead of escaping the same
/// long strings on every request. Each table is built once, from the same
/// `write(to:)` functions the pretty (CLI) output calls, so the two cannot
/// drift apart.
enum Encoded {
    /// By `Rule.rawValue`; empty for a raw value no rule has.
    static let rules = ByteTable((0...Int(Rule.allCases.map(\.rawValue).max()!)).map { raw in
        Rule(rawValue: UInt8(raw)).map { encode($0.write) } ?? []
    })

    /// Table 11-7, row-major over `EffectiveTypeTable.rows` x `columns`.
    static let cells = ByteTable(EffectiveTypeTable.rows.flatMap { row in
        EffectiveTypeTable.columns.map { column in encode(EffectiveTypeTable.cell(row: row, pat: column)!.write) }
    })

    static func cell(_ c: EffectiveCell) -> UnsafeBufferPointer<UInt8> {
        cells[EffectiveTypeTable.rows.firstIndex(of: c.row)! * EffectiveTypeTable.columns.count
            + EffectiveTypeTable.columns.firstIndex(of: c.column)!]
    }

    /// Memory type names as JSON strings (`"UC-"`), by code; empty for the
    /// codes no type has.
    static let typeNames = ByteTable((0...7).map { code in
        MemoryType(rawValue: UInt8(code)).map { type in encode { $0.string(type.name) } } ?? []
    })

    /// Page levels as JSON strings (`"2M"`), by raw value.
    static let levelNames = ByteTable((0...PageLevel.allCases.map(\.rawValue).max()!).map { raw in
        PageLevel(rawValue: raw).map { level in encode { $0.string(level.name) } } ?? []
    })

    /// `Applicability` raw values as JSON strings, by `applicabilitySlot`.
    static let applicabilities = ByteTable([Applicability.ept, .npt, .shadowPaging, .tdxPrivate].map { a in
        encode { $0.string(a.rawValue) }
    })

    /// The slot of `a` in `applicabilities` (a switch: comparing
    /// raw-value enums compares their strings).
    static func applicabilitySlot(_ a: Applicability) -> Int {
        switch a {
        case .ept: 0
        case .npt: 1
        case .shadowPaging: 2
        case .tdxPrivate: 3
        }
    }

    // MARK: Quirks

    /// Every quirk's name as an object key with its colon (`"IGNORE_GUEST_PAT":`),
    /// by raw value.
    static let quirkKeys = ByteTable((0...Quirk.allCases.map(\.rawValue).max()!).map { raw in
        guard let quirk = Quirk(rawValue: raw) else { return [] }
        var w = JSONWriter()
        w.beginObject()
        w.key(quirk.name)
        // The writer emits `{"NAME":`; keep what follows the brace.
        return Array(w.bytes.dropFirst())
    })

    /// Every `QuirkStatus` (any quirk, state and reason), by `quirkStatusSlot`.
    static let quirkStates: ByteTable = {
        var table = [[UInt8]](repeating: [], count: quirkKeys.count * 4 * reasonSlots)
        for quirk in Quirk.allCases {
            for state in [QuirkState.enabled, .disabled, .forcedOn, .inapplicable] {
                for reason in QuirkReason.allCases {
                    let status = QuirkStatus(quirk: quirk, state: state, reason: reason)
                    table[quirkStatusSlot(status)] = encode(status.write)
                }
            }
        }
        return ByteTable(table)
    }()

    /// The switch below is exhaustive, so a new reason does not compile
    /// until it has a slot; this count grows with it.
    private static let reasonSlots = QuirkReason.allCases.count

    /// The slot of `s` in `quirkStates`. (Exhaustive switches: a new state
    /// or reason does not compile until it has a slot.)
    static func quirkStatusSlot(_ s: QuirkStatus) -> Int {
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
        return (s.quirk.rawValue * 4 + state) * reasonSlots + reason
    }

    // MARK: Models

    /// Each model's object without `kernel` and without its closing brace,
    /// by `modelSlot`.
    static let modelPrefixes = ByteTable(KVMModel.allCases.map { model in
        var bytes = encode { model.write(to: &$0) }
        bytes.removeLast()
        return bytes
    })

    /// The model's index in `allCases` (a switch: comparing raw-value enums compares their strings).
    static func modelSlot(_ model: KVMModel) -> Int {
        switch model {
        case .a: 0
        case .b: 1
        case .c: 2
        case .d: 3
        case .e: 4
        }
    }

    // MARK: Warnings

    /// The pre-encoded form of `warning`: the RAM-is-uncached warnings, the
    /// ones a decision on a slow-UC host carries, for every memory type and
    /// each CPU model that can raise them (their messages name family and
    /// model, not stepping). nil for any other warning (then: escaped anew).
    static func warning(_ warning: DecisionWarning) -> UnsafeBufferPointer<UInt8>? {
        switch warning {
        case .uncachedRAM(let type):
            return nonEmpty(uncachedRAMWarnings[Int(type.rawValue)])
        case .slowUncachedRAM(let type, let cpu):
            guard cpu.family == 6, let slot = slowUCModels.firstIndex(of: cpu.model) else { return nil }
            return nonEmpty(slowUncachedRAMWarnings[slot * 8 + Int(type.rawValue)])
        default:
            return nil
        }
    }

    private static func nonEmpty(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        bytes.isEmpty ? nil : bytes
    }

    /// Models (family 6) for which `CPUModel.hasKnownSlowUC` can hold.
    private static let slowUCModels = [0x8F, 0x6A, 0x55]

    /// By memory type code; empty for the codes no type has.
    private static let uncachedRAMWarnings = ByteTable((0...7).map { code in
        MemoryType(rawValue: UInt8(code)).map { encode(DecisionWarning.uncachedRAM($0).write) } ?? []
    })

    /// By `slowUCModels` index * 8 + memory type code.
    private static let slowUncachedRAMWarnings = ByteTable(slowUCModels.flatMap { model in
        (0...7).map { code in
            MemoryType(rawValue: UInt8(code)).map {
                encode(DecisionWarning.slowUncachedRAM($0, CPUModel(family: 6, model: model, stepping: nil)).write)
            } ?? []
        }
    })

    /// What `write` produces with a fresh compact writer.
    static func encode(_ write: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        write(&w)
        return w.bytes
    }
}
