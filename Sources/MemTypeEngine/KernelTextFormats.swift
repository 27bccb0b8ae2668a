/// Parsers for what a guest's Linux prints about memory types, so users can
/// paste it instead of transcribing registers.
public enum KernelTextFormats {
    /// A line that could not be read, 1-based.
    public struct LineError: Error, Sendable, Hashable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// `/proc/mtrr`: one variable range per line, in either form Linux has printed
    ///
    ///     reg01: base=0x0c0000000 ( 3072MB), size= 1024MB, count=1: uncachable
    ///     reg00: base=0x00000000 (   0MB), size= 128MB: write-back, count=1
    ///
    /// (size in KB or MB, type names in any case). The register number sets
    /// the position: the result has an entry per register up to the highest,
    /// with absent registers invalid (valid bit clear), so KVM's order-dependent
    /// lookup sees the same order. /proc/mtrr shows neither MTRRdefType nor the
    /// fixed ranges: give those separately.
    public static func procMTRR(_ text: String, maxPhysAddr: Int) throws(LineError) -> [VariableMTRR] {
        var byRegister: [Int: VariableMTRR] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(" \t\r")
            if line.isEmpty { continue }
            func fail(_ message: String) -> LineError { LineError(line: n + 1, message: message) }
            guard line.hasPrefix("reg"), let colon = line.firstIndex(of: ":"),
                  let reg = Int(line[line.index(line.startIndex, offsetBy: 3)..<colon]),
                  (0..<MTRRState.variableCount).contains(reg) else {
                throw fail("expected \"regNN: base=0x... (...), size= ...MB, count=N: type\" with NN below \(MTRRState.variableCount)")
            }
            guard byRegister[reg] == nil else { throw fail("reg\(reg) appears twice") }
            guard let base = value(after: "base=", in: line).flatMap({ parseHex($0) }) else { throw fail("no base=0x... value") }
            guard let sizeText = value(after: "size=", in: line) else { throw fail("no size= value in KB or MB") }
            let size: UInt64
            switch parseSize(sizeText) {
            case .size(let s): size = s
            case .malformed: throw fail("no size= value in KB or MB")
            case .tooLarge: throw fail("size \(sizeText) is too large for 64 bits")
            }
            // The type is the word after the last ':' (current form) or after "size=...:" (older form).
            let typeName = line.split(separator: ":").dropFirst(1).map { $0.trimmingCharacters(" ") }
                .compactMap { part in part.split(separator: ",").first.map { String($0).trimmingCharacters(" ") } }
                .first { MemoryType(name: $0) != nil }
            guard let typeName, let type = MemoryType(name: typeName) else {
                throw fail("no memory type (uncachable, write-combining, write-through, write-protect, write-back)")
            }
            do {
                byRegister[reg] = try VariableMTRR(index: reg, base: base, size: size, type: type, maxPhysAddr: maxPhysAddr)
            } catch {
                throw fail(error.message)
            }
        }
        guard let highest = byRegister.keys.max() else { return [] }
        return (0...highest).map { byRegister[$0] ?? VariableMTRR(physBase: 0, physMask: 0) }
    }

    /// `/sys/kernel/debug/x86/pat_memtype_list`: a `PAT memtype list:` line,
    /// then `PAT: [mem 0x...-0x...] type` (end exclusive) or the older
    /// `type @ 0x...-0x...`. Types: uncached, uncached-minus, write-back,
    /// write-combining, write-through, write-protected.
    public static func patMemtypeList(_ text: String) throws(LineError) -> [MemtypeReservation] {
        var out: [MemtypeReservation] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(" \t\r")
            if line.isEmpty || line.lowercased() == "pat memtype list:" { continue }
            func fail(_ message: String) -> LineError { LineError(line: n + 1, message: message) }
            let typeText: String, rangeText: String
            if line.hasPrefix("PAT: [mem "), let close = line.firstIndex(of: "]") {
                rangeText = String(line[line.index(line.startIndex, offsetBy: 10)..<close])
                typeText = String(line[line.index(after: close)...]).trimmingCharacters(" ")
            } else if let at = line.range(of: " @ ") {
                typeText = String(line[..<at.lowerBound]).trimmingCharacters(" ")
                rangeText = String(line[at.upperBound...]).trimmingCharacters(" ")
            } else {
                throw fail("expected \"PAT: [mem 0x...-0x...] type\" or \"type @ 0x...-0x...\"")
            }
            let bounds = rangeText.split(separator: "-")
            guard bounds.count == 2, let start = parseHex(String(bounds[0])), let end = parseHex(String(bounds[1])), start < end else {
                throw fail("bad range \"\(rangeText)\"")
            }
            guard let type = MemoryType(name: typeText) else { throw fail("unknown type \"\(typeText)\"") }
            out.append(MemtypeReservation(start: start, end: end, type: type))
        }
        return out
    }

    private static func value(after key: String, in line: String) -> String? {
        guard let r = line.range(of: key) else { return nil }
        let rest = line[r.upperBound...].drop { $0 == " " }
        return String(rest.prefix { $0 != " " && $0 != "," && $0 != "(" && $0 != ":" })
    }

    private static func parseHex(_ s: String) -> UInt64? {
        var t = Substring(s)
        guard t.hasPrefix("0x") || t.hasPrefix("0X") else { return nil }
        t = t.dropFirst(2)
        guard !t.isEmpty, t.count <= 16 else { return nil }
        return UInt64(t, radix: 16)
    }

    private enum ParsedSize { case size(UInt64), malformed, tooLarge }

    /// `NNNKB`, `NNNMB` or `NNNGB`, refusing (rather than wrapping) a size past 2^64.
    private static func parseSize(_ s: String) -> ParsedSize {
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        let shift: UInt64
        switch s.dropFirst(digits.count).uppercased() {
        case "KB": shift = 10
        case "MB": shift = 20
        case "GB": shift = 30
        default: return .malformed
        }
        guard !digits.isEmpty else { return .malformed }
        // All ASCII digits, so UInt64() fails only when the number itself is past 2^64.
        guard let n = UInt64(digits) else { return .tooLarge }
        guard n > 0 else { return .malformed }
        guard n >> (64 - shift) == 0 else { return .tooLarge }
        return .size(n << shift)
    }
}

extension StringProtocol {
    func trimmingCharacters(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// A plain substring search (the engine does without Foundation).
    func range(of needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
