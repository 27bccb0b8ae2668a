import JSON
import EngineTestSupport
import Testing
@testable import MemTypeEngine
@testable import MemTypeWire

/// `DecisionFastPath` must answer exactly as the full decoder (JSON tree,
/// then fields) for every body it accepts, and leave everything else to it.
@Suite struct FastPathTests {
    /// The full path alone: parse to a tree, decode the fields.
    static func full(_ body: [UInt8]) -> DecisionRequest? {
        guard let value = try? JSONParser.parse(body) else { return nil }
        return try? DecisionRequest(Field(value))
    }

    static let readmeBody = #"{"kernel":"6.16","host":{"vendor":"intel","self_snoop":true,"cpu":{"family":6,"model":"0x8f"}},"vm":{"disabled_quirks":["IGNORE_GUEST_PAT"]},"vcpu":{"pat":"0x0407050600070106"},"access":{"gpa":"0xfd000000","pat_index":2}}"#

    @Test func theREADMEBodyTakesTheFastPathAndAgrees() throws {
        let body = Array(Self.readmeBody.utf8)
        let fast = try #require(DecisionFastPath.decode(body))
        #expect(fast == Self.full(body))
        #expect(try DecisionRequest(json: body) == fast)
    }

    @Test(arguments: [
        #"{"vcpu": {"mtrr": {"enabled": true}}}"#,      // MTRRs: the full path
        #"{"kernel": "6.6", "kernel": "6.7"}"#,          // duplicate key
        #"{"host": {"cpu": null}}"#,                      // null
        #"{"access": {"gpa": 1.0}}"#,                     // not an integer
        #"{"access": {"gpa": 01}}"#,                      // leading zero
        #"{"access": {"gpa": 18446744073709551616}}"#,    // 2^64
        #"{"kernel": "6.16"} x"#,                         // trailing garbage
        #"{"kernel": "6.1\u0036"}"#,                      // an escape
        #"{"kernel": "6.16",}"#,                          // trailing comma
        #"{"vm": {"type": "tdx"}, "host": {"vendor": "amd"}}"#,  // fails validate()
        #"{"access": {"pte": {"pat": true}, "pat_index": 1}}"#,  // both
        #"{"colour": 1}"#, "", "[]", "{", "nul",
    ])
    func declinesWhatTheFullPathMustAnswer(_ text: String) {
        #expect(DecisionFastPath.decode(Array(text.utf8)) == nil)
    }

    /// Random bodies of the shapes clients send: each member present or not,
    /// in any order, numbers as integers or strings, names in any case.
    static func randomBody(_ rng: inout some RandomNumberGenerator) -> String {
        func pick<T>(_ xs: [T]) -> T { xs.randomElement(using: &rng)! }
        func maybe() -> Bool { Bool.random(using: &rng) }
        func number(_ v: UInt64) -> String { pick(["\(v)", "\"\(v)\"", "\"0x\(String(v, radix: 16))\"", "\"0X\(String(v, radix: 16, uppercase: true))\""]) }
        func object(_ members: [String]) -> String {
            let sp = pick(["", " ", "\n  "])
            return "{" + sp + members.shuffled(using: &rng).joined(separator: "," + sp) + sp + "}"
        }
        var top: [String] = []
        if maybe() { top.append(#""kernel": "\#(pick(["6.6", "v6.10.3", "6.11-rc2", "6.15", "6.16", "6.18.1", "5.4", "6.x"]))""#) }
        else if maybe() { top.append(#""model": "\#(pick(["A", "b", "C", "D", "e", "F"]))""#) }
        if maybe() {
            var h: [String] = []
            if maybe() { h.append(#""vendor": "\#(pick(["intel", "AMD", "arm"]))""#) }
            if maybe() { h.append(#""self_snoop": \#(pick(["true", "false"]))"#) }
            if maybe() { h.append(#""tdp": \#(pick(["true", "false"]))"#) }
            if maybe() {
                var c = [#""family": \#(number(pick([6, 25, 0x10FF, 0x1100])))"#]
                if maybe() { c.append(#""model": \#(number(pick([0x8F, 0x55, 0x6A, 0x100])))"#) }
                if maybe() { c.append(#""stepping": \#(number(pick([0, 7, 15, 16])))"#) }
                h.append(#""cpu": \#(object(c))"#)
            }
            top.append(#""host": \#(object(h))"#)
        }
        if maybe() {
            var v: [String] = []
            if maybe() { v.append(#""type": "\#(pick(["regular", "TDX", "sev"]))""#) }
            if maybe() {
                v.append(#""disabled_quirks": \#(pick([number(pick([0, 0x200, 0x2, 0x1000, 0x3FF])), #"["IGNORE_GUEST_PAT"]"#, #"["kvm_x86_quirk_cd_nw_cleared", "IGNORE_GUEST_PAT"]"#, "[]", #"["NOPE"]"#]))"#)
            }
            if maybe() { v.append(#""noncoherent_dma": \#(pick(["true", "false"]))"#) }
            top.append(#""vm": \#(object(v))"#)
        }
        if maybe() {
            var c: [String] = []
            if maybe() { c.append(#""cr0_cd": \#(pick(["true", "false"]))"#) }
            if maybe() { c.append(#""pat": \#(pick([#""linux""#, #""RESET""#, #""linux-errata""#, number(0x0407_0506_0007_0106), number(0x0007_0406_0007_0402)]))"#) }
            if maybe() { c.append(#""cpuid_mtrr": \#(pick(["true", "false"]))"#) }
            if maybe() { c.append(#""maxphyaddr": \#(number(pick([36, 46, 52, 53])))"#) }
            top.append(#""vcpu": \#(object(c))"#)
        }
        if maybe() {
            var a: [String] = []
            if maybe() { a.append(#""gpa": \#(number(pick([0, 0xFD00_0000, 0xA_0000, 1 << 45])))"#) }
            if maybe() { a.append(#""mmio": \#(pick(["true", "false"]))"#) }
            if maybe() { a.append(#""private": \#(pick(["true", "false"]))"#) }
            if maybe() { a.append(#""level": "\#(pick(["4K", "2m", "1G", "512G"]))""#) }
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: a.append(#""pat_index": \#(number(pick([0, 2, 7, 8])))"#)
            case 1: a.append(#""pte": {"pwt": \#(pick(["true", "false"])), "pat": \#(pick(["true", "false"]))}"#)
            case 2: a.append(#""pte": \#(number(pick([0x18, 0x80, 0x1000, 0x1098])))"#)
            default: break
            }
            top.append(#""access": \#(object(a))"#)
        }
        return object(top)
    }

    @Test func agreesWithTheFullPathOnRandomBodies() {
        var rng = SplitMix(state: 7)
        var fastHits = 0
        for _ in 0..<4000 {
            let body = Array(Self.randomBody(&rng).utf8)
            let full = Self.full(body)
            if let fast = DecisionFastPath.decode(body) {
                fastHits += 1
                #expect(fast == full, "\(String(decoding: body, as: UTF8.self))")
            }
        }
        #expect(fastHits > 1000, "the fast path took only \(fastHits) of 4000 bodies")
    }

    /// Bodies with one byte deleted, doubled or replaced: whatever the fast
    /// path accepts, the full path accepts with the same result.
    @Test func neverAcceptsWhatTheFullPathRejects() {
        var rng = SplitMix(state: 11)
        let alphabet = Array(#"{}[]":,0123456789aefnlrstux\ -."#.utf8) + [0x00, 0x09, 0xC3, 0xFF]
        var accepted = 0
        for _ in 0..<3000 {
            var body = Array(Self.randomBody(&rng).utf8)
            for _ in 0..<Int.random(in: 1...2, using: &rng) where !body.isEmpty {
                let at = Int.random(in: 0..<body.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: body.remove(at: at)
                case 1: body.insert(body[at], at: at)
                default: body[at] = alphabet.randomElement(using: &rng)!
                }
            }
            guard let fast = DecisionFastPath.decode(body) else { continue }
            accepted += 1
            #expect(Self.full(body) == fast, "\(String(decoding: body, as: UTF8.self))")
        }
        #expect(accepted > 100)
    }
}

/// PropertyTests' generator, as a RandomNumberGenerator for shuffles and picks.
extension SplitMix: RandomNumberGenerator {}

/// Pre-encoded response fragments must equal what the writer produces.
@Suite struct EncodedTests {
    @Test func quirkFragmentsMatchTheWriter() throws {
        let masks: [UInt64] = [0, 0x2, 0x200, 0x202, 0x300, 0x3FF, 0x400, 0xFFF, 0x1, 0x7F]
        let kernels: [KernelVersion?] = [nil, KernelVersion("6.6"), KernelVersion("6.12"), KernelVersion("6.16")]
        var checked = 0
        for model in KVMModel.allCases {
            for kernel in kernels {
                for vendor in Vendor.allCases {
                    for (selfSnoop, tdp) in [(true, true), (false, true), (true, false)] {
                        for type in VMType.allCases {
                            for mask in masks {
                                let q = QuirkEvaluator.evaluate(
                                    model: model, kernel: kernel, host: HostProfile(vendor: vendor, selfSnoop: selfSnoop, tdp: tdp),
                                    vm: VMConfig(type: type, disabledQuirks: QuirkMask(rawValue: mask)))
                                let encoded = DecisionEncoder.bytes(maxBytes: 2048) { DecisionEncoder.writeQuirks(q, to: $0) }
                                #expect(encoded == Encoded.encode { q.write(to: &$0) },
                                        "\(model) \(String(describing: kernel)) \(vendor) \(selfSnoop) \(tdp) \(type) \(mask)")
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(checked == 5 * 4 * 2 * 3 * 2 * 10)
    }

    @Test func warningFragmentsMatchTheWriter() throws {
        var cpus = [CPUModel(family: 6, model: 0x8F), CPUModel(family: 6, model: 0x6A, stepping: 3)]
        cpus += (4...8).map { CPUModel(family: 6, model: 0x55, stepping: $0) }
        for type in MemoryType.allCases {
            let plain = DecisionWarning.uncachedRAM(type)
            #expect(Array(try #require(Encoded.warning(plain))) == Encoded.encode(plain.write))
            for cpu in cpus {
                let slow = DecisionWarning.slowUncachedRAM(type, cpu)
                #expect(Array(try #require(Encoded.warning(slow))) == Encoded.encode(slow.write), "\(type) \(cpu)")
            }
            #expect(Encoded.warning(.slowUncachedRAM(type, CPUModel(family: 6, model: 0x8E))) == nil)
        }
        #expect(Encoded.warning(.kernelOlderThanModels(KernelVersion("5.4")!)) == nil)
    }

    @Test func modelFragmentsMatchTheWriter() {
        let kernels: [KernelVersion?] = [nil] + ["6.6", "v6.10.3", "6.11-rc2", "6.16", "6.18.1", "10.0.12-rc13", "6.12.0-45-generic"].map { KernelVersion($0)! }
        for model in KVMModel.allCases {
            for kernel in kernels {
                let written = Encoded.encode { model.write(to: &$0, kernel: kernel) }
                let encoded = DecisionEncoder.bytes(maxBytes: 1024) { DecisionEncoder.writeModel(model, kernel: kernel, to: $0) }
                #expect(encoded == written, "\(model) \(String(describing: kernel))")
            }
        }
    }
}

/// `Field.parseUInt64`, which every hex or decimal string field goes
/// through, against Swift's own integer parsing.
@Suite struct ParseUInt64Tests {
    /// What the grammar means: `0x`/`0X` and 1+ hex digits, or 1+ decimal
    /// digits; `_` after the first digit is ignored; anything past 2^64-1 is nil.
    static func reference(_ s: String) -> UInt64? {
        var text = Substring(s)
        var radix = 10
        if text.count > 2, text.hasPrefix("0x") || text.hasPrefix("0X") {
            text = text.dropFirst(2)
            radix = 16
        }
        guard let first = text.first, first != "_", first != "+", first != "-" else { return nil }
        return UInt64(text.filter { $0 != "_" }, radix: radix)
    }

    @Test func agreesWithSwiftsParsing() {
        var rng = SplitMix(state: 64)
        let alphabet = Array("0123456789abcdefABCDEFxX_g ")
        var fixed = ["0", "0x0", "0x", "x1", "18446744073709551615", "18446744073709551616", "0xffffffffffffffff",
                     "0x10000000000000000", "0x_1", "1_000", "_1", "0x0407050600070106", "00012", "0x00000000000000001"]
        for _ in 0..<20_000 {
            var s = rng.below(3) == 0 ? "0x" : ""
            for _ in 0..<(1 + rng.below(22)) { s.append(rng.below(4) == 0 ? alphabet[rng.below(alphabet.count)] : alphabet[rng.below(10)]) }
            fixed.append(s)
        }
        for s in fixed {
            #expect(Field.parseUInt64(s) == Self.reference(s), "\(s)")
        }
    }
}

/// `KeyTable` against a plain byte comparison, keys anywhere in a buffer,
/// including the last bytes (where it pads instead of loading 16).
@Suite struct KeyTableTests {
    @Test func matchesExactlyWhatABytewiseComparisonMatches() {
        let keys = ["gpa", "mmio", "pte", "pat_index", "level", "private", "disabled_quirks", "noncoherent_dma"]
            .map { Array($0.utf8) + [UInt8(ascii: "\"")] }
        let table = KeyTable(keys)
        let samples = keys + [
            Array("pat\"".utf8), Array("pat_inde\"".utf8), Array("pat_indexx\"".utf8), Array("gpa".utf8),
            Array("disabled_quirks".utf8), Array("\"".utf8), [], Array("mmio\":true}".utf8), Array("Gpa\"".utf8),
        ]
        for sample in samples {
            for padding in [0, 1, 7, 20] {  // bytes after the sample: from none to plenty
                let buffer = sample + Array(repeating: UInt8(ascii: " "), count: padding)
                let expected = keys.firstIndex { $0.count <= buffer.count && Array(buffer.prefix($0.count)) == $0 }
                let found = buffer.withUnsafeBufferPointer { b in
                    b.baseAddress.flatMap { table.match($0, available: b.count) }
                }
                #expect(found?.index == expected, "\(String(decoding: sample, as: UTF8.self)) +\(padding)")
                if let found { #expect(found.length == keys[found.index].count) }
            }
        }
    }
}
