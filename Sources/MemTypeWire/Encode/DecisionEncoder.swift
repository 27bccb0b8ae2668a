import JSON
import MemTypeEngine

/// A decision's JSON, the one encoder of it, written straight into memory
/// reserved once.
///
/// Most of a decision's ~1.6 KB is text from small fixed sets (the model,
/// the rules that fired, the table cell, the quirk states, the uncached-RAM
/// warning), which `Encoded` holds pre-encoded; the rest is a few names,
/// digits and hex values. So the encoder is a sequence of copies into one
/// buffer whose size `membersBound(_:)` bounds up front: no growth, no
/// per-token bookkeeping, no intermediate arrays. Every copy is checked
/// against the buffer's end (`ByteCursor`), in release builds too: a bound
/// that fell short stops the process instead of writing past the end.
/// Pretty (CLI) output is these bytes re-indented; `DecisionEncoderTests`
/// holds them to a token-by-token `JSONWriter` walk of the same types.
enum DecisionEncoder {
    /// Writes `d`'s members into the object `w` has open (compact `w` only).
    static func writeMembers(_ d: Decision, to w: inout JSONWriter) {
        // `assumptions` is computed: build it once for the bound and the
        // write (an empty array, so free, for EPT decisions).
        let assumptions = d.assumptions
        w.rawMembers(maxBytes: membersBound(d, assumptions)) {
            writeMembers(d, assumptions, to: $0)
        }
    }

    /// `d` as a compact JSON object.
    static func json(_ d: Decision) -> [UInt8] {
        let assumptions = d.assumptions
        let bound = membersBound(d, assumptions)
        // Through a writer sized up front: `Array(unsafeUninitializedCapacity:)`
        // reaches the standard library unspecialized, which looks up the
        // array's storage type at run time (~800 instructions a call).
        var w = JSONWriter(capacity: bound + 2)
        w.beginObject()
        w.rawMembers(maxBytes: bound) { writeMembers(d, assumptions, to: $0) }
        w.endObject()
        return w.bytes
    }

    /// Upper bound of the bytes `writeMembers` writes for `d`: what is
    /// reserved; the cursor checks each write against it all the same.
    static func membersBound(_ d: Decision, _ assumptions: [String]) -> Int {
        var bound = fixedBound
        d.forEachWarning { bound += warningBound($0) + 1 }
        for a in assumptions { bound += JSONWriter.quotedBound(a.utf8.count) + 1 }
        return bound
    }

    /// The most any decision's members take before warnings and
    /// assumptions: keys, punctuation, literals, names, digits and the six
    /// quirk hex values (under 700 bytes), plus the longest model, cell,
    /// quirk states and keys, and a full trace of the longest rule. Worked
    /// out once: a decision then only counts what varies in length.
    private static let fixedBound: Int = {
        func longest(_ t: ByteTable) -> Int { (0..<t.count).map { t[$0].count }.max() ?? 0 }
        return 512 + modelBound + longest(Encoded.cells) + quirksBound
            + RuleTrace.capacity * (longest(Encoded.rules) + 1)
    }()

    /// The most `writeQuirks` writes: constant text and six hex values
    /// (under 512 bytes), plus two quirk states and their keys.
    static let quirksBound: Int = {
        func longest(_ t: ByteTable) -> Int { (0..<t.count).map { t[$0].count }.max() ?? 0 }
        return 512 + 2 * longest(Encoded.quirkStates) + 2 * longest(Encoded.quirkKeys)
    }()

    /// The most `writeModel` writes: the longest model prefix and a kernel
    /// version's members (under 100 bytes).
    static let modelBound: Int = {
        (0..<Encoded.modelPrefixes.count).map { Encoded.modelPrefixes[$0].count }.max()! + 100
    }()

    /// Writes `d`'s members (`"model":{...},...,"assumptions":[...]`, no
    /// braces) into `out` (`membersBound` bytes); returns the count
    /// written. `assumptions` are `d`'s.
    static func writeMembers(_ d: Decision, _ assumptions: [String], to out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var o = ByteCursor(out)
        o.put(#""model":"#)
        writeModel(d.model, kernel: d.kernel, to: &o)
        o.put(#","applicability":"#)
        o.put(Encoded.applicabilities[Encoded.applicabilitySlot(d.applicability)])
        o.put(#","ept":"#)
        if let ept = d.ept {
            o.put(#"{"type":"#)
            o.put(Encoded.typeNames[Int(ept.type.rawValue)])
            o.put(ept.ipat ? #","ipat":true,"bits":""# : #","ipat":false,"bits":""#)
            o.hex(ept.bits)
            o.put(#""}"#)
        } else {
            o.put("null")
        }
        o.put(#","guest_pat":{"index":"#)
        o.decimal(UInt64(d.patIndex.value))
        o.put(#","type":"#)
        o.put(Encoded.typeNames[Int(d.patType.rawValue)])
        o.put(#"},"effective":"#)
        if let effective = d.effective { o.put(Encoded.typeNames[Int(effective.rawValue)]) } else { o.put("null") }
        o.put(#","table_cell":"#)
        if let cell = d.cell { o.put(Encoded.cell(cell)) } else { o.put("null") }
        o.put(#","max_level":"#)
        if let level = d.maxMappingLevel { o.put(Encoded.levelNames[level.rawValue]) } else { o.put("null") }
        o.put(#","quirks":"#)
        writeQuirks(d.quirks, to: &o)
        o.put(#","trace":["#)
        var first = true
        for rule in d.trace {
            if !first { o.put(UInt8(ascii: ",")) }
            first = false
            o.put(Encoded.rules[Int(rule.rawValue)])
        }
        o.put(#"],"warnings":["#)
        first = true
        d.forEachWarning { warning in
            if !first { o.put(UInt8(ascii: ",")) }
            first = false
            if let encoded = Encoded.warning(warning) {
                o.put(encoded)
            } else if case .quirkRequestRefused(let refused) = warning {
                writeRefused(refused, code: warning.code, to: &o)
            } else {
                o.put(#"{"code":"#)
                o.quoted(warning.code)
                o.put(#","message":"#)
                o.quoted(warning.message)
                o.put(UInt8(ascii: "}"))
            }
        }
        o.put(#"],"assumptions":["#)
        first = true
        for a in assumptions {
            if !first { o.put(UInt8(ascii: ",")) }
            first = false
            o.quoted(a)
        }
        o.put(UInt8(ascii: "]"))
        return o.written
    }

    private static func warningBound(_ warning: DecisionWarning) -> Int {
        if let encoded = Encoded.warning(warning) { return encoded.count }
        if case .quirkRequestRefused(let refused) = warning {
            let text = DecisionWarning.refusedText
            var bound = 40 + JSONWriter.quotedBound(warning.code.utf8.count) + 18
                + 6 * (text.beforeBits.utf8.count + text.beforeNames.utf8.count + text.after.utf8.count)
            for quirk in Quirk.allCases where refused.contains(quirk) { bound += 6 * quirk.name.utf8.count + 2 }
            return bound
        }
        return 24 + JSONWriter.quotedBound(warning.code.utf8.count) + JSONWriter.quotedBound(warning.message.utf8.count)
    }

    /// `{"code":...,"message":...}` for `quirkRequestRefused`, the message
    /// written in parts as `DecisionWarning.message` builds it, without
    /// building the string.
    private static func writeRefused(_ refused: QuirkMask, code: String, to o: inout ByteCursor) {
        let text = DecisionWarning.refusedText
        o.put(#"{"code":"#)
        o.quoted(code)
        o.put(#","message":""#)
        o.content(text.beforeBits)
        o.hex(refused.rawValue)
        o.content(text.beforeNames)
        var first = true
        for quirk in Quirk.allCases where refused.contains(quirk) {
            if !first { o.put(", ") }
            first = false
            o.content(quirk.name)
        }
        o.content(text.after)
        o.put(#""}"#)
    }

    /// `writeQuirks(_:to:)` at `out`, which has room for `quirksBound` bytes.
    static func writeQuirks(_ q: QuirkEvaluation, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var o = ByteCursor(UnsafeMutableBufferPointer(start: out, count: quirksBound))
        writeQuirks(q, to: &o)
        return o.written
    }

    /// A `QuirkEvaluation`'s object: constant text, hex digits and the two
    /// pre-encoded quirk states, as its `write(to:)` writes it in compact
    /// form (at most `quirksBound` bytes).
    @inline(__always)
    static func writeQuirks(_ q: QuirkEvaluation, to o: inout ByteCursor) {
        o.put(#"{"requested":""#)
        o.hex(q.requested.rawValue)
        o.put(#"","supported":""#)
        o.hex(q.supported.rawValue)
        o.put(#"","refused":""#)
        o.hex(q.refused.rawValue)
        o.put(#"","disabled":""#)
        o.hex(q.disabled.rawValue)
        o.put(#"","enable_cap":{"cap":"KVM_CAP_DISABLE_QUIRKS2","mask":""#)
        o.hex(q.requested.rawValue)
        o.put(q.enableCapFails ? #"","error":"EINVAL","mask_to_apply":""# : #"","error":null,"mask_to_apply":""#)
        o.hex(q.applicableRequest.rawValue)
        o.put(#""},"states":{"#)
        o.put(Encoded.quirkKeys[q.ignoreGuestPAT.quirk.rawValue])
        o.put(Encoded.quirkStates[Encoded.quirkStatusSlot(q.ignoreGuestPAT)])
        o.put(UInt8(ascii: ","))
        o.put(Encoded.quirkKeys[q.cdNwCleared.quirk.rawValue])
        o.put(Encoded.quirkStates[Encoded.quirkStatusSlot(q.cdNwCleared)])
        o.put("}}")
    }

    /// `writeModel(_:kernel:to:)` at `out`, which has room for `modelBound` bytes.
    static func writeModel(_ model: KVMModel, kernel: KernelVersion?, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var o = ByteCursor(UnsafeMutableBufferPointer(start: out, count: modelBound))
        writeModel(model, kernel: kernel, to: &o)
        return o.written
    }

    /// A decision's `model` object: the model's constant members, then the
    /// kernel version (digits, dots and `-rc`: nothing to escape), at most
    /// `modelBound` bytes.
    @inline(__always)
    static func writeModel(_ model: KVMModel, kernel: KernelVersion?, to o: inout ByteCursor) {
        o.put(Encoded.modelPrefixes[Encoded.modelSlot(model)])
        if let kernel {
            o.put(#","kernel":""#)
            o.decimal(UInt64(kernel.major))
            o.put(UInt8(ascii: "."))
            o.decimal(UInt64(kernel.minor))
            if kernel.patch != 0 {
                o.put(UInt8(ascii: "."))
                o.decimal(UInt64(kernel.patch))
            }
            if let rc = kernel.rc {
                o.put("-rc")
                o.decimal(UInt64(rc))
            }
            o.put(UInt8(ascii: "\""))
        }
        o.put(UInt8(ascii: "}"))
    }
}

/// A write position in a buffer reserved for the whole output. Every write
/// first checks that it fits before the end (one compare, in release builds
/// too): a wrong bound stops the process with a message instead of
/// corrupting the heap.
struct ByteCursor {
    private var p: UnsafeMutablePointer<UInt8>
    private let start: UnsafeMutablePointer<UInt8>
    private let end: UnsafeMutablePointer<UInt8>

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        start = buffer.baseAddress!
        p = start
        end = start + buffer.count
    }

    /// Bytes written so far.
    var written: Int { p - start }

    /// Stops unless `n` more bytes fit.
    @inline(__always)
    private func reserve(_ n: Int) {
        precondition(end - p >= n, "DecisionEncoder: a write would pass the end of its buffer (membersBound is short)")
    }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        reserve(1)
        p.initialize(to: byte)
        p += 1
    }

    /// A literal. `withUTF8Buffer`, not `utf8Start`: a one-scalar literal is
    /// not stored as a pointer.
    @inline(__always)
    mutating func put(_ literal: StaticString) {
        literal.withUTF8Buffer { put($0) }
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        reserve(bytes.count)
        p.initialize(from: base, count: bytes.count)
        p += bytes.count
    }

    /// `0x` and up to 16 digits.
    @inline(__always)
    mutating func hex(_ v: UInt64) {
        reserve(18)
        p += JSONWriter.writeHex(v, to: p)
    }

    /// Up to 20 digits.
    @inline(__always)
    mutating func decimal(_ v: UInt64) {
        reserve(20)
        p += JSONWriter.writeDecimal(v, negative: false, to: p)
    }

    /// A string's content, escaped, without quotes (at most 6 bytes a byte).
    mutating func content(_ s: String) {
        s.withUTF8Bytes { utf8 in
            reserve(JSONWriter.quotedBound(utf8.count) - 2)
            p += JSONWriter.writeStringContent(utf8, to: p)
        }
    }

    /// A string, quoted and escaped (at most `JSONWriter.quotedBound` bytes).
    mutating func quoted(_ s: String) {
        s.withUTF8Bytes { utf8 in
            reserve(JSONWriter.quotedBound(utf8.count))
            p += JSONWriter.writeQuoted(utf8, to: p)
        }
    }
}
