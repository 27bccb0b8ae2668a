import CSQLite

/// SQLiteVMStore's statements for the shared write logic (`StoreWrites`),
/// on the write connection inside its `BEGIN IMMEDIATE` transaction: that
/// holds the file's write lock, so a row read here stays as read until COMMIT.
struct SQLiteWriteTransaction: WriteTransaction {
    let c: Connection

    private static let insertVMSQL = VMColumn.insert(into: "vms")
    private static let updateVMSQL = VMColumn.update("vms")
    private static let insertHostSQL = HostProfileColumn.insert(into: "host_profiles")
    private static let updateHostSQL = HostProfileColumn.update("host_profiles")

    func loadVM(_ id: String) throws(StoreError) -> VMRecord? { try SQLiteVMStore.loadVM(c, id) }

    func loadHost(_ name: String) throws(StoreError) -> HostProfileRecord? { try SQLiteVMStore.loadHost(c, name) }

    func hostProfileExists(_ name: String) throws(StoreError) -> Bool { try SQLiteVMStore.loadHost(c, name) != nil }

    func lastRevision(_ subject: HistorySubject, _ id: String) throws(StoreError) -> Int? {
        try c.withStatement(
            "SELECT revision FROM history WHERE subject = ?1 AND id = ?2 ORDER BY seq DESC LIMIT 1"
        ) { s throws(StoreError) in
            s.bind(1, subject.rawValue)
            s.bind(2, id)
            return try s.step() ? s.int(0) : nil
        }
    }

    func insertVMRow(_ r: VMRecord) throws(StoreError) {
        try c.withStatement(Self.insertVMSQL) { s throws(StoreError) in
            Self.bind(s, RowEncoding.vm(r))
            try s.run()
        }
    }

    func updateVMRow(_ r: VMRecord, previousRevision: Int) throws(StoreError) {
        try c.withStatement(Self.updateVMSQL) { s throws(StoreError) in
            Self.bind(s, RowEncoding.vm(r))
            try s.run()
        }
    }

    func deleteVMRow(_ id: String) throws(StoreError) {
        try c.withStatement("DELETE FROM vms WHERE id = ?1") { s throws(StoreError) in
            s.bind(1, id)
            try s.run()
        }
    }

    func insertLabels(_ r: VMRecord) throws(StoreError) {
        guard !r.labels.isEmpty else { return }
        try c.withStatement("INSERT INTO vm_labels (vm_id, key, value) VALUES (?1, ?2, ?3)") { s throws(StoreError) in
            for (k, v) in r.labels {
                s.bind(1, r.id)
                s.bind(2, k)
                s.bind(3, v)
                try s.run()
                sqlite3_reset(s.handle)
            }
        }
    }

    func deleteLabels(_ id: String) throws(StoreError) {
        try c.withStatement("DELETE FROM vm_labels WHERE vm_id = ?1") { s throws(StoreError) in
            s.bind(1, id)
            try s.run()
        }
    }

    func insertHostRow(_ r: HostProfileRecord) throws(StoreError) { try writeHost(r, sql: Self.insertHostSQL) }

    func updateHostRow(_ r: HostProfileRecord, previousRevision: Int) throws(StoreError) {
        try writeHost(r, sql: Self.updateHostSQL)
    }

    func deleteHostRow(_ name: String) throws(StoreError) {
        try c.withStatement("DELETE FROM host_profiles WHERE name = ?1") { s throws(StoreError) in
            s.bind(1, name)
            try s.run()
        }
    }

    func vmsReferencing(_ name: String) throws(StoreError) -> (count: Int, sample: [String]) {
        try c.withStatement(
            "SELECT count(*) OVER (), id FROM vms WHERE host_profile = ?1 ORDER BY id LIMIT 5"
        ) { s throws(StoreError) -> (count: Int, sample: [String]) in
            s.bind(1, name)
            var count = 0
            var ids: [String] = []
            while try s.step() {
                count = s.int(0)
                ids.append(s.text(1))
            }
            return (count, ids)
        }
    }

    func appendHistory(_ subject: HistorySubject, id: String, revision: Int, action: HistoryAction,
                       actor: String, at: Timestamp, changes: [FieldChange]) throws(StoreError) {
        try c.withStatement(
            "INSERT INTO history (subject, id, revision, action, actor, at, changes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ) { s throws(StoreError) in
            s.bind(1, subject.rawValue)
            s.bind(2, id)
            s.bind(3, revision)
            s.bind(4, action.rawValue)
            s.bind(5, actor)
            s.bind(6, at.millisSinceEpoch)
            s.bind(7, RowDecoding.packChanges(changes))
            try s.run()
        }
    }

    private func writeHost(_ r: HostProfileRecord, sql: String) throws(StoreError) {
        try c.withStatement(sql) { s throws(StoreError) in
            Self.bind(s, RowEncoding.host(r))
            try s.run()
        }
    }

    /// Binds a row's values (`RowEncoding`) to parameters ?1...?N.
    private static func bind(_ s: Statement, _ values: [ColumnValue]) {
        for (i, value) in values.enumerated() {
            let p = Int32(i + 1)
            switch value {
            case .null: s.bind(p, nil as String?)
            case .text(let t): s.bind(p, t)
            case .int(let n): s.bind(p, n)
            case .bool(let b): s.bind(p, b)
            }
        }
    }
}
