import JSON
import EngineTestSupport
import Testing
@testable import MemTypeEngine
@testable import MemTypeWire

/// `DecisionEncoder` writes every decision (pretty output is its bytes
/// re-indented). The reference here is `JSONWriter` walking the same types
/// token by token (the walk the pretty form used to be written with); the
/// encoder must give its bytes exactly, for every kind of decision the
/// engine makes.
@Suite struct DecisionEncoderTests {
    /// The writer's walk of the decision, compact.
    static func reference(_ d: Decision) throws -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        d.referenceMembers(to: &w)
        w.endObject()
        return w.bytes
    }

    @Test func randomDecisionsMatchTheWriter() throws {
        var rng = SplitMix(state: 0xDEC0DE)
        var applicabilities = Set<String>(), warned = 0, assumed = 0
        for _ in 0..<4000 {
            let d = DecisionEngine.decide(randomRequest(&rng))
            let encoded = d.json()
            #expect(encoded == (try Self.reference(d)))
            applicabilities.insert(d.applicability.rawValue)
            if !d.warnings.isEmpty { warned += 1 }
            if !d.assumptions.isEmpty { assumed += 1 }
        }
        // The sample must reach every branch of the encoder.
        #expect(applicabilities.count == 4)
        #expect(warned > 100 && assumed > 100)
    }

    /// Warnings without a pre-encoded form (kernel too old, refused quirk
    /// request, self-snoop erratum, MTRRs read otherwise by the SDM) are
    /// escaped in place.
    @Test func warningsWrittenInPlaceMatchTheWriter() throws {
        let requests: [DecisionRequest] = [
            DecisionRequest(kernel: .version(KernelVersion("5.4")!)),
            DecisionRequest(kernel: .version(KernelVersion("6.6")!), vm: VMConfig(disabledQuirks: .ignoreGuestPAT)),
            // Two refused quirks: the names joined in the message.
            DecisionRequest(kernel: .version(KernelVersion("6.6")!),
                            vm: VMConfig(disabledQuirks: QuirkMask([.ignoreGuestPAT, .stuffFeatureMSRs, .slotZapAll]))),
            DecisionRequest(kernel: .version(KernelVersion("6.16")!),
                            host: HostProfile(selfSnoop: true, cpu: CPUModel(family: 6, model: 0x1A))),
            // Worked example 12: KVM's MTRR walk differs from the SDM's (both answers named).
            workedExamples.first { $0.number == 12 }!.request,
        ]
        for r in requests {
            let d = DecisionEngine.decide(r)
            #expect(d.warnings.contains { Encoded.warning($0) == nil }, "\(d.warnings)")
            #expect(d.json() == (try Self.reference(d)))
        }
        let twoRefused = DecisionEngine.decide(requests[2]).warnings.map(\.message)
        let refused = try #require(twoRefused.first { $0.hasPrefix("KVM_ENABLE_CAP") })
        // "(A, B, C) are not supported here, so ...": three names, four parts.
        #expect(refused.components(separatedBy: ", ").count == 4, "\(refused)")
    }

    /// Inside a writer (batch results, per-VM decisions): members land in
    /// the open object, commas right, and what follows is written after them.
    @Test func membersSpliceIntoAnOpenObject() throws {
        let d = DecisionEngine.decide(DecisionRequest())
        var w = JSONWriter()
        w.beginArray()
        d.write(to: &w)
        w.beginObject()
        d.writeMembers(to: &w)
        w.member("vm", "web-01")
        w.endObject()
        w.endArray()
        guard case .array(let items) = try JSONParser.parse(w.bytes), items.count == 2,
              case .object(let second) = items[1] else {
            Issue.record("not an array of two objects")
            return
        }
        #expect(items[0] == (try JSONParser.parse(d.json())))
        #expect(second.members.last?.key == "vm")
        #expect(second.members.count == 12)
    }
}

extension Decision {
    /// The decision's members written token by token through `JSONWriter`.
    fileprivate func referenceMembers(to w: inout JSONWriter) {
        w.key("model")
        model.write(to: &w, kernel: kernel)
        w.member("applicability", applicability.rawValue)

        w.key("ept")
        if let ept {
            w.beginObject()
            w.member("type", ept.type.name)
            w.member("ipat", ept.ipat)
            w.member("bits", hex: ept.bits)
            w.endObject()
        } else {
            w.null()
        }

        w.key("guest_pat")
        w.beginObject()
        w.member("index", patIndex.value)
        w.member("type", patType.name)
        w.endObject()

        w.key("effective")
        if let effective { w.string(effective.name) } else { w.null() }

        w.key("table_cell")
        if let cell { cell.write(to: &w) } else { w.null() }

        w.key("max_level")
        if let maxMappingLevel { w.string(maxMappingLevel.name) } else { w.null() }

        w.key("quirks")
        quirks.write(to: &w)

        w.key("trace")
        w.beginArray()
        for rule in trace { rule.write(to: &w) }
        w.endArray()

        w.key("warnings")
        w.beginArray()
        for warning in warnings { warning.write(to: &w) }
        w.endArray()

        w.key("assumptions")
        let assumptions = self.assumptions
        w.beginArray()
        for a in assumptions { w.string(a) }
        w.endArray()
    }
}

extension DecisionEncoder {
    /// `body`'s output as an array, for comparing fragments.
    static func bytes(maxBytes: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maxBytes) { buffer, count in
            count = body(buffer.baseAddress!)
            precondition(count <= maxBytes, "encoder overran its bound")
        }
    }
}
