import JSON
import MemTypeEngine
import MemTypeWire

/// `POST /v1/mtrr/resolve`: an MTRR set plus one GPA (the page's type as
/// KVM's walk gives it, the rule, the walk itself, the SDM's reading of the
/// same MTRRs, and the largest EPT level KVM would map there) or a range
/// (the maximal runs of one KVM type). KVM's reading (models A and B), not
/// the guest kernel's.
struct MTRRResolveRequest {
    let mtrr: MTRRState
    let cpuidMTRR: Bool
    let target: Target

    enum Target {
        case gpa(UInt64)
        case range(start: UInt64, end: UInt64, runs: [MTRRRun])
    }

    /// The most runs one answer lists; a range that breaks into more is refused (422).
    static let maxRuns = 4096

    init(_ field: Field) throws(InvalidField) {
        let m = try field.object(MTRRResolveKey.self)
        var mtrrField: Field?, maxPhysAddrField: Field?, cpuidField: Field?, gpaField: Field?, rangeField: Field?
        // Collected first, read below in a fixed order: the MTRRs need MAXPHYADDR.
        m.each(MTRRResolveKey.self) { key, f in
            switch key {
            case .mtrr: mtrrField = f
            case .maxPhysAddr: maxPhysAddrField = f
            case .cpuidMTRR: cpuidField = f
            case .gpa: gpaField = f
            case .range: rangeField = f
            }
        }
        let maxPhysAddr = try maxPhysAddrField?.int(in: MTRRState.maxPhysAddrRange) ?? MTRRState.defaultMaxPhysAddr
        guard let mtrrField else { throw m.missing(MTRRResolveKey.mtrr.rawValue) }
        mtrr = try MTRRState(mtrrField, maxPhysAddr: maxPhysAddr)
        cpuidMTRR = try cpuidField?.bool() ?? true
        let limit: UInt64 = 1 << UInt64(maxPhysAddr)
        switch (gpaField, rangeField) {
        case (let f?, nil):
            let gpa = try f.uint64()
            guard gpa < limit else { throw f.invalid("GPA \(String(format0x: gpa)) is at or above 2^MAXPHYADDR") }
            target = .gpa(gpa)
        case (nil, let f?):
            let (startField, endField) = try RangeKey.fields(f)
            let start = try startField.uint64(), end = try endField.uint64()
            guard start & 0xFFF == 0 else { throw startField.invalid("must be 4 KiB aligned") }
            guard end & 0xFFF == 0 else { throw endField.invalid("must be 4 KiB aligned (the end is exclusive)") }
            guard start < end else { throw endField.invalid("must be above start") }
            guard end <= limit else { throw endField.invalid("must not exceed 2^MAXPHYADDR") }
            // KVM's ranges are intervals: at most 16 range ends and 88 fixed
            // sub-ranges cut any span, so this never trips; the bound stays
            // as the answer's size limit.
            guard let runs = mtrr.kvmRuns(from: start, to: end, cpuidMTRR: cpuidMTRR, maxRuns: MTRRResolveRequest.maxRuns) else {
                throw f.invalid("the range holds more than \(MTRRResolveRequest.maxRuns) runs; ask for a smaller range")
            }
            target = .range(start: start, end: end, runs: runs)
        case (nil, nil):
            throw InvalidField(pointer: m.pointer + "/" + MTRRResolveKey.gpa.rawValue, message: "give gpa (one page) or range ({start, end})")
        case (_?, let f?):
            throw f.invalid("give either gpa or range, not both")
        }
    }

    func answer(to w: inout JSONWriter) {
        w.beginObject()
        w.member("enabled", mtrr.enabled)
        w.member("fixed_enabled", mtrr.fixedEnabled)
        w.member("default", mtrr.defaultType.name)
        switch target {
        case .gpa(let gpa):
            let lookup = mtrr.kvmLookup(gpa: gpa, cpuidMTRR: cpuidMTRR)
            w.member("gpa", hex: gpa)
            w.member("type", lookup.type.name)
            w.key("rule")
            DecisionEngine.rule(for: lookup.source).write(to: &w)
            w.key("detail")
            w.beginObject()
            switch lookup.source {
            case .disabled(let cpuid): w.member("cpuid_mtrr", cpuid)
            case .fixed(let msr, let byte):
                w.member("msr", hex: UInt64(MTRRState.fixedMSRs[msr]))
                w.member("msr_name", MTRRState.fixedMSRNames[msr])
                w.member("byte", byte)
            case .variable(let n):
                w.member("range", n)
            case .variableUCWins(let first, let n), .variableUCMetFirst(let first, let n),
                 .variableWTOverWB(let first, let n), .variableUndefinedMix(let first, let n):
                w.member("first", first)
                w.member("range", n)
            case .defaultType: break
            }
            w.endObject()
            writeWalk(mtrr.kvmWalk(gpa: gpa), to: &w)
            let sdm = mtrr.sdmLookup(gpa: gpa)
            w.key("sdm_type")
            if case .type(let t) = sdm { w.string(t.name) } else { w.null() }
            w.key("warnings")
            w.beginArray()
            if let other = mtrr.sdmDisagreement(gpa: gpa, kvm: lookup) {
                DecisionWarning.mtrrDiffersFromSDM(kvm: lookup.type, sdm: other).write(to: &w)
            }
            w.endArray()
            w.member("max_level", mtrr.maxMappingLevel(gpa: gpa, requested: .size1G).name)
        case .range(let start, let end, let runs):
            w.member("start", hex: start)
            w.member("end", hex: end)
            w.key("runs")
            w.beginArray()
            for run in runs {
                w.beginObject()
                w.member("start", hex: run.start)
                w.member("end", hex: run.end)
                w.member("type", run.type.name)
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
    }

    /// KVM's list in visiting order, each entry with its interval and what
    /// it did for this page (`KVMWalkStep`): the trace of what decided.
    private func writeWalk(_ steps: [KVMWalkStep], to w: inout JSONWriter) {
        w.key("walk")
        w.beginArray()
        for step in steps {
            w.beginObject()
            w.member("range", step.range)
            w.member("type", step.type.name)
            w.member("start", hex: step.start)
            w.member("end", hex: step.end)
            let effect = switch step.effect {
            case .noMatch: "no_match"
            case .firstMatch: "first_match"
            case .precedence(let p): p.rawValue
            case .notVisited: "not_visited"
            }
            w.member("effect", effect)
            w.endObject()
        }
        w.endArray()
    }
}
