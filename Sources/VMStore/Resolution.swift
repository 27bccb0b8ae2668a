import MemTypeEngine

/// Spec-to-record resolution, shared by every backend so they agree exactly.
public enum Resolution {
    /// The catalogue entry for a baseline a write is about to adopt (create,
    /// or change to): it must exist and not be deprecated.
    public static func adoptableBaseline(_ name: String, in catalogue: [Baseline]) throws(StoreError) -> Baseline {
        try Validation.identifier(name, field: "/baseline")
        guard let b = catalogue.first(where: { $0.name == name }) else {
            throw .invalid(field: "/baseline", message: "unknown baseline '\(name)'; known: \(catalogue.filter { !$0.deprecated }.map(\.name).joined(separator: ", "))")
        }
        guard !b.deprecated else {
            throw .invalid(field: "/baseline", message: "baseline '\(name)' is deprecated: existing VMs keep it, new VMs and moves cannot use it")
        }
        return b
    }

    /// A new record from a spec (create, or a replace that creates).
    public static func newRecord(id: String, spec: VMSpec, current: Baseline, catalogue: [Baseline],
                                 revision: Int, now: Timestamp) throws(StoreError) -> VMRecord {
        try Validation.identifier(id, field: "/id")
        let baseline = try adoptableBaseline(spec.baseline ?? current.name, in: catalogue)
        var record = VMRecord(
            id: id, baseline: baseline.name, disabledQuirks: baseline.disabledQuirks, host: spec.host,
            type: spec.type, noncoherentDMA: spec.noncoherentDMA, displayDevices: spec.displayDevices,
            guestKernel: spec.guestKernel, guestBochsFix: spec.guestBochsFix, labels: spec.labels,
            revision: revision, createdAt: now, updatedAt: now)
        record.apply(spec.quirks)
        try Validation.record(record)
        return record
    }

    /// The record a replace produces from an existing one (revision and
    /// timestamps untouched: the backend bumps them if anything changed).
    public static func replacement(of existing: VMRecord, spec: VMSpec, catalogue: [Baseline]) throws(StoreError) -> VMRecord {
        var record = existing
        if let name = spec.baseline, name != existing.baseline {
            record.move(to: try adoptableBaseline(name, in: catalogue))
        }
        record.apply(spec.quirks)
        record.host = spec.host
        record.type = spec.type
        record.noncoherentDMA = spec.noncoherentDMA
        record.displayDevices = spec.displayDevices
        record.guestKernel = spec.guestKernel
        record.guestBochsFix = spec.guestBochsFix
        record.labels = spec.labels
        try Validation.record(record)
        return record
    }

    /// Checks a record an `updateVM` closure produced against the stored one.
    public static func checkUpdate(from old: VMRecord, to new: VMRecord, catalogue: [Baseline]) throws(StoreError) {
        try Validation.record(new)
        if new.baseline != old.baseline { _ = try adoptableBaseline(new.baseline, in: catalogue) }
    }

    /// Checks a conditional write's expected revision against the stored one (nil: absent).
    public static func checkRevision(expected: Int?, stored: Int?) throws(StoreError) {
        guard let expected else { return }
        guard expected >= 0 else { throw .invalid(field: "/revision", message: "must be 0 (must not exist) or a revision") }
        switch stored {
        case nil:
            if expected != 0 { throw .notFound }
        case let current?:
            if expected != current { throw .revisionMismatch(current: current) }
        }
    }

    /// `updatedAt` never goes backwards, even if the wall clock does.
    public static func nextTimestamp(after previous: Timestamp, now: Timestamp) -> Timestamp {
        max(previous, now)
    }
}
