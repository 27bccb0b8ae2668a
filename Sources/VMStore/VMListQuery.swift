import JSON
import MemTypeEngine

/// A `VMQuery` validated and planned as one keyset-paginated SELECT, for any
/// SQL backend: `placeholder(n)` spells the n-th (1-based) parameter (`$n`
/// for PostgreSQL, `?n` for SQLite). The row columns are `vmColumns` with
/// the `v.` prefix, in the layout `RowDecoding.vm` reads.
struct VMListQuery {
    enum Bound { case text(String), int(Int64) }

    let sql: String
    let binds: [Bound]
    let limit: Int

    init(_ query: VMQuery, columns: String, placeholder: (Int) -> String) throws(StoreError) {
        try Validation.limit(query.limit)
        if let b = query.baseline { try Validation.identifier(b, field: "/baseline") }
        if let h = query.hostProfile { try Validation.identifier(h, field: "/host_profile") }
        guard query.labels.count <= VMQuery.maxLabelFilters else {
            throw .invalid(field: "/labels", message: "at most \(VMQuery.maxLabelFilters) label filters")
        }
        let labels = query.labels.sorted { $0.key < $1.key }
        for (k, v) in labels {
            let pointer = "/labels/\(JSONPointer.escape(k))"
            try Validation.labelKey(k, field: pointer)
            try Validation.labelValue(v, field: pointer)
        }
        let after = try query.cursor.map { (c: String) throws(StoreError) in try Cursor.decodeKey(c) }

        // Keyset pagination on id. With a label filter the first label drives
        // the scan through vm_labels(key, value, vm_id), already in id order.
        var binds: [Bound] = []
        func next(_ b: Bound) -> String {
            binds.append(b)
            return placeholder(binds.count)
        }
        var conditions: [String] = []
        let idColumn: String
        var sql = "SELECT \(columns) FROM "
        if let (k, v) = labels.first {
            sql += "vm_labels l0 JOIN vms v ON v.id = l0.vm_id"
            idColumn = "l0.vm_id"
            conditions.append("l0.key = \(next(.text(k))) AND l0.value = \(next(.text(v)))")
        } else {
            sql += "vms v"
            idColumn = "v.id"
        }
        for (k, v) in labels.dropFirst() {
            conditions.append("EXISTS (SELECT 1 FROM vm_labels l WHERE l.vm_id = v.id AND l.key = \(next(.text(k))) AND l.value = \(next(.text(v))))")
        }
        if let after { conditions.append("\(idColumn) > \(next(.text(after)))") }
        if let b = query.baseline { conditions.append("v.baseline = \(next(.text(b)))") }
        if let h = query.hostProfile { conditions.append("v.host_profile = \(next(.text(h)))") }
        // `VMRecord.restartRequired` in SQL: a NULL applied mask (never
        // applied) makes `<>` NULL, which WHERE takes as false. The true
        // case is exactly the partial index vms_restart_required.
        switch query.restartRequired {
        case true?: conditions.append("v.applied_quirks <> v.disabled_quirks")
        case false?: conditions.append("NOT coalesce(v.applied_quirks <> v.disabled_quirks, false)")
        case nil: break
        }
        if !query.quirks.isEmpty {
            let mask = QuirkMask(query.quirks.keys)
            let want = QuirkMask(query.quirks.filter { $0.value == .disable }.keys)
            conditions.append("(v.disabled_quirks & \(next(.int(Int64(bitPattern: mask.rawValue))))) = \(next(.int(Int64(bitPattern: want.rawValue))))")
        }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY \(idColumn) LIMIT \(next(.int(Int64(query.limit + 1))))"
        self.sql = sql
        self.binds = binds
        self.limit = query.limit
    }
}
