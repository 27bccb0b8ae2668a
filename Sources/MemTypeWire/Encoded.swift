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

    /// The switch below is exhaustive, so a new reason does not compile
    /// until it has a slot; this count grows with it.
    private static let reasonSlots = QuirkReason.allCases.count

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

    /// A `QuirkEvaluation`'s object assembled from constant text, hex digits
    /// and the two pre-encoded quirk states: the same bytes as its
    /// `write(to:)` in compact form (EncodedTests), at a fraction of the
    /// writer calls. nil for a state the table lacks (then: the writer).
    static func quirks(_ q: QuirkEvaluation) -> [UInt8]? {
        guard let first = quirkStatus(q.ignoreGuestPAT), let second = quirkStatus(q.cdNwCleared) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(256 + first.count + second.count)
        append(#"{"requested":""#, to: &out)
        appendHex(q.requested.rawValue, to: &out)
        append(#"","supported":""#, to: &out)
        appendHex(q.supported.rawValue, to: &out)
        append(#"","refused":""#, to: &out)
        appendHex(q.refused.rawValue, to: &out)
        append(#"","disabled":""#, to: &out)
        appendHex(q.disabled.rawValue, to: &out)
        append(#"","enable_cap":{"cap":"KVM_CAP_DISABLE_QUIRKS2","mask":""#, to: &out)
        appendHex(q.requested.rawValue, to: &out)
        append(q.enableCapFails ? #"","error":"EINVAL","mask_to_apply":""# : #"","error":null,"mask_to_apply":""#, to: &out)
        appendHex(q.applicableRequest.rawValue, to: &out)
        append(#""},"states":{""#, to: &out)
        q.ignoreGuestPAT.quirk.name.withUTF8Bytes { out.append(contentsOf: $0) }
        append(#"":"#, to: &out)
        out.append(contentsOf: first)
        append(#",""#, to: &out)
        q.cdNwCleared.quirk.name.withUTF8Bytes { out.append(contentsOf: $0) }
        append(#"":"#, to: &out)
        out.append(contentsOf: second)
        append("}}", to: &out)
        return out
    }

    /// Appends a literal's UTF-8 (a `String.UTF8View` append is generic and slow).
    private static func append(_ literal: StaticString, to out: inout [UInt8]) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// `0x` and lowercase hex digits, as `JSONWriter.hex(_:)` writes them (without quotes).
    private static func appendHex(_ value: UInt64, to out: inout [UInt8]) {
        appendWritten(maxBytes: 18, to: &out) { JSONWriter.writeHex(value, to: $0) }
    }

    /// Appends what `write` puts in a scratch buffer of `maxBytes`.
    private static func appendWritten(maxBytes: Int, to out: inout [UInt8],
                                      _ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxBytes) { buffer in
            let n = write(buffer.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<n]))
        }
    }

    /// The RAM-is-uncached warnings, the ones a decision on a slow-UC host
    /// carries, encoded for every memory type and each CPU model that can
    /// raise them (their messages name family and model, not stepping).
    /// nil for any other warning (then: the writer).
    static func warning(_ warning: DecisionWarning) -> [UInt8]? {
        switch warning {
        case .uncachedRAM(let type):
            return nonEmpty(uncachedRAMWarnings[Int(type.rawValue)])
        case .slowUncachedRAM(let type, let cpu):
            guard cpu.family == 6, let slot = slowUCModels.firstIndex(of: cpu.model) else { return nil }
            return nonEmpty(slowUncachedRAMWarnings[slot][Int(type.rawValue)])
        default:
            return nil
        }
    }

    private static func nonEmpty(_ bytes: [UInt8]) -> [UInt8]? { bytes.isEmpty ? nil : bytes }

    /// Models (family 6) for which `CPUModel.hasKnownSlowUC` can hold.
    private static let slowUCModels = [0x8F, 0x6A, 0x55]

    /// By memory type code; empty for the codes no type has.
    private static let uncachedRAMWarnings: [[UInt8]] = (0...7).map { code in
        MemoryType(rawValue: UInt8(code)).map { encode(DecisionWarning.uncachedRAM($0).write) } ?? []
    }

    private static let slowUncachedRAMWarnings: [[[UInt8]]] = slowUCModels.map { model in
        (0...7).map { code in
            MemoryType(rawValue: UInt8(code)).map {
                encode(DecisionWarning.slowUncachedRAM($0, CPUModel(family: 6, model: model, stepping: nil)).write)
            } ?? []
        }
    }

    /// A decision's `model` object: the model's constant members encoded
    /// once, then the kernel version (digits, dots and `-rc`: nothing to
    /// escape) written in place. Equal to `KVMModel.write(to:kernel:)`'s
    /// compact output (EncodedTests).
    static func model(_ model: KVMModel, kernel: KernelVersion?) -> [UInt8] {
        var out = modelPrefixes[modelSlot(model)]
        out.reserveCapacity(out.count + 40)  // the one copy: the prefix is shared
        if let kernel {
            out.append(contentsOf: #","kernel":""#.utf8)
            appendDecimal(kernel.major, to: &out)
            out.append(UInt8(ascii: "."))
            appendDecimal(kernel.minor, to: &out)
            if kernel.patch != 0 {
                out.append(UInt8(ascii: "."))
                appendDecimal(kernel.patch, to: &out)
            }
            if let rc = kernel.rc {
                out.append(contentsOf: "-rc".utf8)
                appendDecimal(rc, to: &out)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Each model's object without `kernel` and without its closing brace.
    private static let modelPrefixes: [[UInt8]] = KVMModel.allCases.map { model in
        var bytes = encode { model.write(to: &$0) }
        bytes.removeLast()
        return bytes
    }

    /// The model's index in `allCases` (a switch: comparing raw-value enums compares their strings).
    private static func modelSlot(_ model: KVMModel) -> Int {
        switch model {
        case .a: 0
        case .b: 1
        case .c: 2
        case .d: 3
        case .e: 4
        }
    }

    /// Appends a non-negative integer's decimal digits (kernel version parts).
    private static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        appendWritten(maxBytes: 21, to: &out) { JSONWriter.writeDecimal(UInt64(value), negative: false, to: $0) }
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
