import FleetPlanning
import MemTypeEngine

/// A result row read by column index, as both backends deliver it: SQLite's
/// `Statement` and PostgreSQL's `PGRow` have the same accessors, and both
/// backends select the same columns in the same order, so one decoder serves
/// both (the encodings of display devices, labels and history changes are
/// `PackedStrings` on both).
protocol StoredRow {
    func isNull(_ column: Int32) -> Bool
    func withBytes<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T
    func text(_ column: Int32) -> String
    func optionalText(_ column: Int32) -> String?
    func int64(_ column: Int32) -> Int64
    func int(_ column: Int32) -> Int
    func optionalInt(_ column: Int32) -> Int?
    func bool(_ column: Int32) -> Bool
}

extension PGRow: StoredRow {}
extension Statement: StoredRow {}

/// Decoders of the stored rows, by the column tables (`VMColumn`,
/// `HostProfileColumn`, `DecisionInputsColumn`); both backends read through these.
enum RowDecoding {
    /// A `vms` row (`VMColumn`) as a record.
    static func vm<R: StoredRow>(_ s: R) throws(StoreError) -> VMRecord {
        typealias C = VMColumn
        func corrupt(_ what: String) -> StoreError { .backend("corrupt vms row '\(s.text(C.id.index))': \(what)") }
        let host: HostRef
        if let profile = s.optionalText(C.hostProfile.index) {
            host = .profile(profile)
        } else {
            guard let spec = try hostSpec(s, at: C.host.base, corrupt: { corrupt("host_" + $0) }) else {
                throw corrupt("host_vendor")
            }
            host = .inline(spec)
        }
        guard let type = s.withBytes(C.vmType.index, { VMType(utf8: $0) }) else { throw corrupt("vm_type") }
        guard let devices = s.withBytes(C.displayDevices.index, { PackedStrings.decode($0) }) else { throw corrupt("display_devices") }
        guard let labelList = s.withBytes(C.labels.index, { PackedStrings.decode($0) }), labelList.count % 2 == 0 else {
            throw corrupt("labels")
        }
        var labels: [String: String] = [:]
        if !labelList.isEmpty {
            labels.reserveCapacity(labelList.count / 2)
            var i = 0
            while i < labelList.count {
                guard let k = labelList[i], let v = labelList[i + 1] else { throw corrupt("labels") }
                labels[k] = v
                i += 2
            }
        }
        var applied: VMRecord.AppliedState?
        switch (s.optionalInt(C.appliedRevision.index), s.isNull(C.appliedQuirks.index), s.isNull(C.appliedAt.index)) {
        case (nil, true, true): applied = nil
        case (let revision?, false, let atIsNull):
            applied = VMRecord.AppliedState(
                revision: revision, disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(C.appliedQuirks.index))),
                at: atIsNull ? nil : Timestamp(millisSinceEpoch: s.int64(C.appliedAt.index)))
        default: throw corrupt("applied_revision, applied_quirks and applied_at")
        }
        return VMRecord(
            id: s.text(C.id.index), baseline: s.text(C.baseline.index),
            disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(C.disabledQuirks.index))),
            host: host, type: type, noncoherentDMA: s.bool(C.noncoherentDMA.index), displayDevices: devices.map { $0 ?? "" },
            guestKernel: s.optionalText(C.guestKernel.index),
            guestBochsFix: s.isNull(C.guestBochsFix.index) ? nil : s.bool(C.guestBochsFix.index),
            labels: labels, revision: s.int(C.revision.index),
            createdAt: Timestamp(millisSinceEpoch: s.int64(C.createdAt.index)),
            updatedAt: Timestamp(millisSinceEpoch: s.int64(C.updatedAt.index)), applied: applied)
    }

    /// The eight host columns starting at `base` (vendor, self_snoop, tdp,
    /// cpu_family, cpu_model, cpu_stepping, kernel, kvm_model); nil when the
    /// vendor is NULL. `corrupt` names the bad column (without its prefix).
    static func hostSpec<R: StoredRow>(_ s: R, at base: Int32,
                                       corrupt: (String) -> StoreError) throws(StoreError) -> HostSpec? {
        let h = HostColumns(base: base)
        if s.isNull(h.index(.vendor)) { return nil }
        guard let vendor = s.withBytes(h.index(.vendor), { Vendor(utf8: $0) }) else { throw corrupt("vendor") }
        var kvmModel: KVMModel?
        if let m = s.optionalText(h.index(.kvmModel)) {
            guard let model = KVMModel(rawValue: m) else { throw corrupt("kvm_model") }
            kvmModel = model
        }
        return HostSpec(
            vendor: vendor, selfSnoop: s.bool(h.index(.selfSnoop)), tdp: s.bool(h.index(.tdp)),
            cpu: s.isNull(h.index(.cpuFamily)) ? nil
                : CPUModel(family: s.int(h.index(.cpuFamily)), model: s.int(h.index(.cpuModel)),
                           stepping: s.optionalInt(h.index(.cpuStepping))),
            kernel: s.optionalText(h.index(.kernel)), kvmModel: kvmModel)
    }

    /// A `host_profiles` row (`HostProfileColumn`) as a profile record.
    static func host<R: StoredRow>(_ s: R) throws(StoreError) -> HostProfileRecord {
        typealias C = HostProfileColumn
        let name = s.text(C.name.index)
        guard let spec = try hostSpec(s, at: C.host.base, corrupt: { _ in .backend("corrupt host_profiles row '\(name)'") })
        else { throw .backend("corrupt host_profiles row '\(name)'") }
        return HostProfileRecord(
            name: name, spec: spec, revision: s.int(C.revision.index),
            createdAt: Timestamp(millisSinceEpoch: s.int64(C.createdAt.index)),
            updatedAt: Timestamp(millisSinceEpoch: s.int64(C.updatedAt.index)))
    }

    /// A `DecisionInputsColumn` row. `baselineName` may share a catalogue
    /// string instead of allocating.
    static func decisionInputs<R: StoredRow>(_ s: R, id: String,
                                             baselineName: (R, Int32) -> String) throws(StoreError) -> VMDecisionInputs {
        typealias C = DecisionInputsColumn
        func corrupt(_ what: String) -> StoreError { .backend("corrupt vms row '\(id)': \(what)") }
        guard let type = s.withBytes(C.vmType.index, { VMType(utf8: $0) }) else { throw corrupt("vm_type") }
        let profile = s.optionalText(C.hostProfile.index)
        let host: HostSpec?
        if let profile {
            host = try hostSpec(s, at: C.profileHost.base) { .backend("corrupt host_profiles row '\(profile)': \($0)") }
        } else {
            guard let inline = try hostSpec(s, at: C.inlineHost.base, corrupt: { corrupt("host_" + $0) }) else {
                throw corrupt("host_vendor")
            }
            host = inline
        }
        guard let devices = s.withBytes(C.displayDevices.index, { PackedStrings.decode($0) }) else { throw corrupt("display_devices") }
        let guest = GuestDisplay(displayDevices: devices.map { $0 ?? "" }, guestKernel: s.optionalText(C.guestKernel.index),
                                 bochsFix: s.isNull(C.guestBochsFix.index) ? nil : s.bool(C.guestBochsFix.index))
        return VMDecisionInputs(
            id: id, baseline: baselineName(s, C.baseline.index), revision: s.int(C.revision.index),
            vmConfig: VMConfig(type: type, disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(C.disabledQuirks.index))),
                               noncoherentDMA: s.bool(C.noncoherentDMA.index)),
            hostProfile: profile, host: host, guest: guest)
    }

    /// A `VMConfigCountColumn` row.
    static func configCount<R: StoredRow>(_ s: R) throws(StoreError) -> VMConfigCount {
        typealias C = VMConfigCountColumn
        guard let type = s.withBytes(C.vmType.rawValue, { VMType(utf8: $0) }) else { throw .backend("corrupt vms row: vm_type") }
        return VMConfigCount(
            config: VMConfig(type: type, disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(C.disabledQuirks.rawValue))),
                             noncoherentDMA: s.bool(C.noncoherentDMA.rawValue)),
            count: s.int(C.count.rawValue))
    }

    /// A history row: seq, revision, action, actor, at, changes (`PageSQL.history`).
    static func historyEntry<R: StoredRow>(_ s: R, subject: HistorySubject, id: String) throws(StoreError) -> HistoryEntry {
        guard let action = HistoryAction(rawValue: s.text(2)),
              let packed = s.withBytes(5, { PackedStrings.decode($0) }), packed.count % 3 == 0
        else { throw .backend("corrupt history row \(s.int64(0))") }
        var changes: [FieldChange] = []
        changes.reserveCapacity(packed.count / 3)
        var i = 0
        while i < packed.count {
            guard let field = packed[i] else { throw .backend("corrupt history row \(s.int64(0))") }
            changes.append(FieldChange(field: field, old: packed[i + 1], new: packed[i + 2]))
            i += 3
        }
        return HistoryEntry(
            sequence: s.int64(0), subject: subject, id: id, revision: s.int(1), action: action,
            actor: s.text(3), at: Timestamp(millisSinceEpoch: s.int64(4)), changes: changes)
    }

    /// The (field, old, new) triples of a history entry, packed for its `changes` column.
    static func packChanges(_ changes: [FieldChange]) -> String {
        var packed: [String?] = []
        packed.reserveCapacity(changes.count * 3)
        for ch in changes { packed += [ch.field, ch.old, ch.new] }
        return PackedStrings.encode(packed)
    }

    /// A record's labels as stored in `vms.labels`: key, value pairs sorted by key.
    static func packLabels(_ labels: [String: String]) -> String {
        PackedStrings.encode(labels.keys.sorted().flatMap { [$0, labels[$0]!] })
    }

    /// A baseline name, sharing the catalogue's string when it is one of them
    /// (no allocation for names longer than a small string).
    static func baselineName<R: StoredRow>(_ s: R, _ column: Int32, in catalogue: [Baseline]) -> String {
        s.withBytes(column) { bytes in
            for b in catalogue where b.name.utf8.count == bytes.count && b.name.utf8.elementsEqual(bytes) {
                return b.name
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension RawRepresentable where Self: CaseIterable, RawValue == String {
    /// The case whose raw value is `bytes` (a column's UTF-8), without making a String.
    init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        for c in Self.allCases where c.rawValue.utf8.elementsEqual(bytes) {
            self = c
            return
        }
        return nil
    }
}
