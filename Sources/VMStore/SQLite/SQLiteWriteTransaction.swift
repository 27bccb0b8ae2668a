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
            Self.bindVM(s, r)
            try s.run()
        }
    }

    func updateVMRow(_ r: VMRecord, previousRevision: Int) throws(StoreError) {
        try c.withStatement(Self.updateVMSQL) { s throws(StoreError) in
            Self.bindVM(s, r)
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
        typealias C = HostProfileColumn
        try c.withStatement(sql) { s throws(StoreError) in
            s.bind(C.name.parameter, r.name)
            Self.bindHostSpec(s, r.spec, at: C.host)
            s.bind(C.revision.parameter, r.revision)
            s.bind(C.createdAt.parameter, r.createdAt.millisSinceEpoch)
            s.bind(C.updatedAt.parameter, r.updatedAt.millisSinceEpoch)
            try s.run()
        }
    }

    /// Binds a host spec's columns (`HostColumn`).
    private static func bindHostSpec(_ s: Statement, _ h: HostSpec, at c: HostColumns) {
        s.bind(c.parameter(.vendor), h.vendor.rawValue)
        s.bind(c.parameter(.selfSnoop), h.selfSnoop)
        s.bind(c.parameter(.tdp), h.tdp)
        s.bind(c.parameter(.cpuFamily), h.cpu?.family)
        s.bind(c.parameter(.cpuModel), h.cpu?.model)
        s.bind(c.parameter(.cpuStepping), h.cpu?.stepping)
        s.bind(c.parameter(.kernel), h.kernel)
        s.bind(c.parameter(.kvmModel), h.kvmModel?.rawValue)
    }

    /// Binds every `VMColumn` (unbound ones are NULL: the host profile of an
    /// inline host, the inline host of a profile reference).
    private static func bindVM(_ s: Statement, _ r: VMRecord) {
        typealias C = VMColumn
        s.bind(C.id.parameter, r.id)
        s.bind(C.baseline.parameter, r.baseline)
        s.bind(C.disabledQuirks.parameter, Int64(bitPattern: r.disabledQuirks.rawValue))
        switch r.host {
        case .profile(let name): s.bind(C.hostProfile.parameter, name)
        case .inline(let h): bindHostSpec(s, h, at: C.host)
        }
        s.bind(C.vmType.parameter, r.type.rawValue)
        s.bind(C.noncoherentDMA.parameter, r.noncoherentDMA)
        s.bind(C.displayDevices.parameter, PackedStrings.encode(r.displayDevices))
        s.bind(C.guestKernel.parameter, r.guestKernel)
        s.bind(C.labels.parameter, RowDecoding.packLabels(r.labels))
        s.bind(C.revision.parameter, r.revision)
        s.bind(C.createdAt.parameter, r.createdAt.millisSinceEpoch)
        s.bind(C.updatedAt.parameter, r.updatedAt.millisSinceEpoch)
    }
}
