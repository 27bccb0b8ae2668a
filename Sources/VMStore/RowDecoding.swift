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

/// Decoders of the stored rows. So far the PostgreSQL backend reads through
/// these; SQLiteVMStore still has its own copies of the same decoders (left
/// alone while another change reworks its row reading), which read the same
/// column layout.
enum RowDecoding {
    /// `vmColumns`' 20 columns as a record.
    static func vm<R: StoredRow>(_ s: R) throws(StoreError) -> VMRecord {
        func corrupt(_ what: String) -> StoreError { .backend("corrupt vms row '\(s.text(0))': \(what)") }
        let host: HostRef
        if let profile = s.optionalText(3) {
            host = .profile(profile)
        } else {
            guard let spec = try hostSpec(s, at: 4, corrupt: { corrupt("host_" + $0) }) else {
                throw corrupt("host_vendor")
            }
            host = .inline(spec)
        }
        guard let type = s.withBytes(12, { VMType(utf8: $0) }) else { throw corrupt("vm_type") }
        guard let devices = s.withBytes(14, { PackedStrings.decode($0) }) else { throw corrupt("display_devices") }
        guard let labelList = s.withBytes(16, { PackedStrings.decode($0) }), labelList.count % 2 == 0 else {
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
        return VMRecord(
            id: s.text(0), baseline: s.text(1), disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(2))),
            host: host, type: type, noncoherentDMA: s.bool(13), displayDevices: devices.map { $0 ?? "" },
            guestKernel: s.optionalText(15), labels: labels, revision: s.int(17),
            createdAt: Timestamp(millisSinceEpoch: s.int64(18)), updatedAt: Timestamp(millisSinceEpoch: s.int64(19)))
    }

    /// The eight host columns starting at `base` (vendor, self_snoop, tdp,
    /// cpu_family, cpu_model, cpu_stepping, kernel, kvm_model); nil when the
    /// vendor is NULL. `corrupt` names the bad column (without its prefix).
    static func hostSpec<R: StoredRow>(_ s: R, at base: Int32,
                                       corrupt: (String) -> StoreError) throws(StoreError) -> HostSpec? {
        if s.isNull(base) { return nil }
        guard let vendor = s.withBytes(base, { Vendor(utf8: $0) }) else { throw corrupt("vendor") }
        var kvmModel: KVMModel?
        if let m = s.optionalText(base + 7) {
            guard let model = KVMModel(rawValue: m) else { throw corrupt("kvm_model") }
            kvmModel = model
        }
        return HostSpec(
            vendor: vendor, selfSnoop: s.bool(base + 1), tdp: s.bool(base + 2),
            cpu: s.isNull(base + 3) ? nil : CPUModel(family: s.int(base + 3), model: s.int(base + 4), stepping: s.optionalInt(base + 5)),
            kernel: s.optionalText(base + 6), kvmModel: kvmModel)
    }

    /// `hostColumns`' 12 columns as a profile record.
    static func host<R: StoredRow>(_ s: R) throws(StoreError) -> HostProfileRecord {
        guard let spec = try hostSpec(s, at: 1, corrupt: { _ in .backend("corrupt host_profiles row '\(s.text(0))'") })
        else { throw .backend("corrupt host_profiles row '\(s.text(0))'") }
        return HostProfileRecord(
            name: s.text(0), spec: spec, revision: s.int(9),
            createdAt: Timestamp(millisSinceEpoch: s.int64(10)), updatedAt: Timestamp(millisSinceEpoch: s.int64(11)))
    }

    /// The decision-inputs SELECT's 22 columns: 0-5 from the VM row, 6-13 its
    /// inline host, 14-21 its profile's (NULL when the host is inline).
    /// `baselineName` may share a catalogue string instead of allocating.
    static func decisionInputs<R: StoredRow>(_ s: R, id: String,
                                             baselineName: (R, Int32) -> String) throws(StoreError) -> VMDecisionInputs {
        func corrupt(_ what: String) -> StoreError { .backend("corrupt vms row '\(id)': \(what)") }
        guard let type = s.withBytes(2, { VMType(utf8: $0) }) else { throw corrupt("vm_type") }
        let profile = s.optionalText(5)
        let host: HostSpec?
        if let profile {
            host = try hostSpec(s, at: 14) { .backend("corrupt host_profiles row '\(profile)': \($0)") }
        } else {
            guard let inline = try hostSpec(s, at: 6, corrupt: { corrupt("host_" + $0) }) else {
                throw corrupt("host_vendor")
            }
            host = inline
        }
        return VMDecisionInputs(
            id: id, baseline: baselineName(s, 0), revision: s.int(4),
            vmConfig: VMConfig(type: type, disabledQuirks: QuirkMask(rawValue: UInt64(bitPattern: s.int64(1))),
                               noncoherentDMA: s.bool(3)),
            hostProfile: profile, host: host)
    }

    /// A history row: seq, revision, action, actor, at, changes.
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
}
