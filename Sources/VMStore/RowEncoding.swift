/// A value bound to one column, for either backend (SQLite binds it, the
/// PostgreSQL store sends it as text).
enum ColumnValue {
    case null, text(String), int(Int64), bool(Bool)

    init(_ s: String?) { self = s.map(ColumnValue.text) ?? .null }
    init(_ n: Int?) { self = n.map { .int(Int64($0)) } ?? .null }
}

/// The write side of `RowDecoding`: a record as the values of its row, in
/// the column table's order (a column's parameter is its index + 1). Both
/// backends bind these, so which field goes to which column is said once.
enum RowEncoding {
    /// Every `VMColumn`: NULL for the host profile of an inline host, for
    /// the inline host columns of a profile reference, and for the applied
    /// state of a VM never applied.
    static func vm(_ r: VMRecord) -> [ColumnValue] {
        typealias C = VMColumn
        var v = [ColumnValue](repeating: .null, count: C.allCases.count)
        func set(_ c: C, _ value: ColumnValue) { v[Int(c.index)] = value }
        set(.id, .text(r.id))
        set(.baseline, .text(r.baseline))
        set(.disabledQuirks, .int(Int64(bitPattern: r.disabledQuirks.rawValue)))
        switch r.host {
        case .profile(let name): set(.hostProfile, .text(name))
        case .inline(let h): hostSpec(h, at: C.host, into: &v)
        }
        set(.vmType, .text(r.type.rawValue))
        set(.noncoherentDMA, .bool(r.noncoherentDMA))
        set(.displayDevices, .text(PackedStrings.encode(r.displayDevices)))
        set(.guestKernel, ColumnValue(r.guestKernel))
        set(.guestBochsFix, r.guestBochsFix.map(ColumnValue.bool) ?? .null)
        set(.labels, .text(RowDecoding.packLabels(r.labels)))
        set(.revision, .int(Int64(r.revision)))
        set(.createdAt, .int(r.createdAt.millisSinceEpoch))
        set(.updatedAt, .int(r.updatedAt.millisSinceEpoch))
        if let applied = r.applied {
            set(.appliedRevision, .int(Int64(applied.revision)))
            set(.appliedQuirks, .int(Int64(bitPattern: applied.disabledQuirks.rawValue)))
            if let at = applied.at { set(.appliedAt, .int(at.millisSinceEpoch)) }
        }
        return v
    }

    /// Every `HostProfileColumn`.
    static func host(_ r: HostProfileRecord) -> [ColumnValue] {
        typealias C = HostProfileColumn
        var v = [ColumnValue](repeating: .null, count: C.allCases.count)
        func set(_ c: C, _ value: ColumnValue) { v[Int(c.index)] = value }
        set(.name, .text(r.name))
        hostSpec(r.spec, at: C.host, into: &v)
        set(.revision, .int(Int64(r.revision)))
        set(.createdAt, .int(r.createdAt.millisSinceEpoch))
        set(.updatedAt, .int(r.updatedAt.millisSinceEpoch))
        return v
    }

    /// A host spec's eight columns (`HostColumn`) from `h.base`.
    private static func hostSpec(_ spec: HostSpec, at h: HostColumns, into v: inout [ColumnValue]) {
        func set(_ c: HostColumn, _ value: ColumnValue) { v[Int(h.index(c))] = value }
        set(.vendor, .text(spec.vendor.rawValue))
        set(.selfSnoop, .bool(spec.selfSnoop))
        set(.tdp, .bool(spec.tdp))
        set(.cpuFamily, ColumnValue(spec.cpu?.family))
        set(.cpuModel, ColumnValue(spec.cpu?.model))
        set(.cpuStepping, ColumnValue(spec.cpu?.stepping))
        set(.kernel, ColumnValue(spec.kernel))
        set(.kvmModel, ColumnValue(spec.kvmModel?.rawValue))
    }
}
