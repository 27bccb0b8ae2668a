/// PostgresVMStore's statements for the shared write logic (`StoreWrites`),
/// inside one READ COMMITTED transaction: the rows a write reads are locked
/// `FOR UPDATE`, a profile a VM names `FOR KEY SHARE`, and the UPDATEs carry
/// the revision they read (see PostgresVMStore's comment for the races).
struct PGWriteTransaction: WriteTransaction {
    let c: PGConnection

    private static let insertVMSQL = dollars(VMColumn.insert(into: "vms"))
    /// The last parameter: the revision the transaction read; the row must still have it.
    private static let updateVMSQL = dollars(VMColumn.update("vms")) + " AND revision = $\(VMColumn.allCases.count + 1)"
    private static let insertHostSQL = dollars(HostProfileColumn.insert(into: "host_profiles"))
    private static let updateHostSQL = dollars(HostProfileColumn.update("host_profiles"))
        + " AND revision = $\(HostProfileColumn.allCases.count + 1)"

    func loadVM(_ id: String) throws(StoreError) -> VMRecord? { try PostgresVMStore.loadVM(c, id, lock: true) }

    func loadHost(_ name: String) throws(StoreError) -> HostProfileRecord? {
        try PostgresVMStore.loadHost(c, name, lock: " FOR UPDATE")
    }

    /// KEY SHARE locked until COMMIT, so a concurrent delete of the profile
    /// waits and then sees the VM naming it.
    func hostProfileExists(_ name: String) throws(StoreError) -> Bool {
        try PostgresVMStore.loadHost(c, name, lock: " FOR KEY SHARE") != nil
    }

    func lastRevision(_ subject: HistorySubject, _ id: String) throws(StoreError) -> Int? {
        let result = try c.query(
            "SELECT revision FROM history WHERE subject = $1 AND id = $2 ORDER BY seq DESC LIMIT 1",
            [PGValue(subject.rawValue), PGValue(id)])
        return result.rowCount > 0 ? result.row(0).int(0) : nil
    }

    func insertVMRow(_ r: VMRecord) throws(StoreError) {
        _ = try c.query(Self.insertVMSQL, Self.params(RowEncoding.vm(r)))
    }

    func updateVMRow(_ r: VMRecord, previousRevision: Int) throws(StoreError) {
        try update(Self.updateVMSQL, RowEncoding.vm(r), previousRevision: previousRevision, row: "vms row '\(r.id)'")
    }

    func deleteVMRow(_ id: String) throws(StoreError) {
        _ = try c.query("DELETE FROM vms WHERE id = $1", [PGValue(id)])
    }

    func insertLabels(_ r: VMRecord) throws(StoreError) {
        for (k, v) in r.labels {
            _ = try c.query("INSERT INTO vm_labels (vm_id, key, value) VALUES ($1, $2, $3)",
                            [PGValue(r.id), PGValue(k), PGValue(v)])
        }
    }

    func deleteLabels(_ id: String) throws(StoreError) {
        _ = try c.query("DELETE FROM vm_labels WHERE vm_id = $1", [PGValue(id)])
    }

    func insertHostRow(_ r: HostProfileRecord) throws(StoreError) {
        _ = try c.query(Self.insertHostSQL, Self.params(RowEncoding.host(r)))
    }

    func updateHostRow(_ r: HostProfileRecord, previousRevision: Int) throws(StoreError) {
        try update(Self.updateHostSQL, RowEncoding.host(r), previousRevision: previousRevision,
                   row: "host_profiles row '\(r.name)'")
    }

    func deleteHostRow(_ name: String) throws(StoreError) {
        _ = try c.query("DELETE FROM host_profiles WHERE name = $1", [PGValue(name)])
    }

    func vmsReferencing(_ name: String) throws(StoreError) -> (count: Int, sample: [String]) {
        let refs = try c.query(
            "SELECT count(*) OVER (), id FROM vms WHERE host_profile = $1 ORDER BY id LIMIT 5", [PGValue(name)])
        guard refs.rowCount > 0 else { return (0, []) }
        return (refs.row(0).int(0), (0..<refs.rowCount).map { refs.row($0).text(1) })
    }

    func appendHistory(_ subject: HistorySubject, id: String, revision: Int, action: HistoryAction,
                       actor: String, at: Timestamp, changes: [FieldChange]) throws(StoreError) {
        _ = try c.query(
            "INSERT INTO history (subject, id, revision, action, actor, at, changes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [PGValue(subject.rawValue), PGValue(id), PGValue(revision), PGValue(action.rawValue), PGValue(actor),
             PGValue(at.millisSinceEpoch), PGValue(RowDecoding.packChanges(changes))])
    }

    /// An UPDATE guarded by the revision the transaction read. The row is
    /// locked FOR UPDATE, so it matches; if it ever did not, the write must
    /// not commit over a revision it did not read.
    private func update(_ sql: String, _ values: [ColumnValue], previousRevision: Int, row: String) throws(StoreError) {
        let updated = try c.query(sql, Self.params(values) + [PGValue(previousRevision)])
        guard updated.affectedRows == 1 else { throw .backend("\(row) changed under its row lock") }
    }

    /// A row's values (`RowEncoding`) as the parameters $1...$N.
    private static func params(_ values: [ColumnValue]) -> [PGValue] {
        values.map { value in
            switch value {
            case .null: .null
            case .text(let t): PGValue(t)
            case .int(let n): PGValue(n)
            case .bool(let b): PGValue(b)
            }
        }
    }
}
