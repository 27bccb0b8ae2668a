/// One backend's write transaction, as the shared write logic (`StoreWrites`)
/// sees it: the rows it reads and writes, each one statement in the backend's
/// SQL, inside a transaction the backend opened and will commit. What each
/// call locks is the backend's business (PostgreSQL locks the rows it reads;
/// SQLite holds the whole file's write lock already).
protocol WriteTransaction {
    /// The VM row, as the rest of the transaction will see it.
    func loadVM(_ id: String) throws(StoreError) -> VMRecord?
    /// The host profile row, as the rest of the transaction will see it.
    func loadHost(_ name: String) throws(StoreError) -> HostProfileRecord?
    /// Whether the profile a VM is about to name exists, and will until COMMIT.
    func hostProfileExists(_ name: String) throws(StoreError) -> Bool
    /// The revision of the last history entry for `id` (a deleted incarnation's tombstone included).
    func lastRevision(_ subject: HistorySubject, _ id: String) throws(StoreError) -> Int?
    func insertVMRow(_ r: VMRecord) throws(StoreError)
    /// Overwrites the row `r.id`, which was at `previousRevision` when read.
    func updateVMRow(_ r: VMRecord, previousRevision: Int) throws(StoreError)
    func deleteVMRow(_ id: String) throws(StoreError)
    /// Adds `r.labels` to `vm_labels`.
    func insertLabels(_ r: VMRecord) throws(StoreError)
    /// Removes every `vm_labels` row of `id`.
    func deleteLabels(_ id: String) throws(StoreError)
    func insertHostRow(_ r: HostProfileRecord) throws(StoreError)
    /// Overwrites the row `r.name`, which was at `previousRevision` when read.
    func updateHostRow(_ r: HostProfileRecord, previousRevision: Int) throws(StoreError)
    func deleteHostRow(_ name: String) throws(StoreError)
    /// How many VMs name profile `name`, and the first few of their ids in id order.
    func vmsReferencing(_ name: String) throws(StoreError) -> (count: Int, sample: [String])
    func appendHistory(_ subject: HistorySubject, id: String, revision: Int, action: HistoryAction,
                       actor: String, at: Timestamp, changes: [FieldChange]) throws(StoreError)
}

/// What every write computes, for both backends: the revision checks, the
/// next revision and timestamp, the history entry and the answers on
/// conflict, after validating the inputs (before any transaction). The
/// backends keep only their SQL (`WriteTransaction`) and the transaction
/// around it (`Transact`); `TransactingStore` joins the three into their
/// `VMStore` write methods.
struct StoreWrites {
    let currentBaseline: Baseline
    let catalogue: [Baseline]
    /// The wall clock, read once a write's inputs are valid, before its transaction.
    let clock: @Sendable () -> Timestamp

    /// A backend's write transaction around `body`: it begins, commits if
    /// `body` returns, rolls back if it throws (and may run it again).
    typealias Transact<T, R> = ((T) throws(StoreError) -> R) throws(StoreError) -> R

    /// A new record for `spec` (validated and resolved; its revision is set on insert).
    func newRecord(id: String, spec: VMSpec, now: Timestamp) throws(StoreError) -> VMRecord {
        try Resolution.newRecord(id: id, spec: spec, current: currentBaseline, catalogue: catalogue, revision: 1, now: now)
    }

    func createVM<T: WriteTransaction>(_ id: String, _ spec: VMSpec, actor: String,
                                       in transact: Transact<T, VMRecord>) throws(StoreError) -> VMRecord {
        try Validation.actor(actor)
        let record = try newRecord(id: id, spec: spec, now: clock())
        return try transact { t throws(StoreError) in
            if try t.loadVM(record.id) != nil { throw .alreadyExists }
            var r = record
            try insertVM(t, &r, actor: actor)
            return r
        }
    }

    func replaceVM<T: WriteTransaction>(_ id: String, with spec: VMSpec, expectedRevision: Int?, actor: String,
                                        in transact: Transact<T, (record: VMRecord, created: Bool)>)
        throws(StoreError) -> (record: VMRecord, created: Bool)
    {
        try Validation.identifier(id, field: "/id")
        try Validation.actor(actor)
        let now = clock()
        return try transact { t throws(StoreError) -> (record: VMRecord, created: Bool) in
            let existing = try t.loadVM(id)
            try Resolution.checkRevision(expected: expectedRevision, stored: existing?.revision)
            guard let existing else {
                var record = try newRecord(id: id, spec: spec, now: now)
                try insertVM(t, &record, actor: actor)
                return (record, true)
            }
            var record = try Resolution.replacement(of: existing, spec: spec, catalogue: catalogue)
            try writeUpdate(t, from: existing, to: &record, action: .replace, actor: actor, now: now)
            return (record, false)
        }
    }

    func updateVM<T: WriteTransaction>(_ id: String, expectedRevision: Int?, actor: String,
                                       _ change: (inout VMRecord) throws(StoreError) -> Void,
                                       in transact: Transact<T, VMRecord>) throws(StoreError) -> VMRecord {
        try Validation.identifier(id, field: "/id")
        try Validation.actor(actor)
        let now = clock()
        // Swift refuses `change` inside a closure handed to another non-escaping
        // closure (re-entrance); `transact` runs its body before it returns, one
        // attempt after another (PostgreSQL may retry), each on a fresh read.
        return try withoutActuallyEscaping(change) { (change) throws(StoreError) -> VMRecord in
            return try transact { t throws(StoreError) in
                guard let existing = try t.loadVM(id) else { throw .notFound }
                try Resolution.checkRevision(expected: expectedRevision, stored: existing.revision)
                var record = existing
                try change(&record)
                record.revision = existing.revision
                record.createdAt = existing.createdAt
                record.updatedAt = existing.updatedAt
                record.applied = existing.applied
                try Resolution.checkUpdate(from: existing, to: record, catalogue: catalogue)
                let action: HistoryAction = record.baseline != existing.baseline ? .baselineMove : .patch
                try writeUpdate(t, from: existing, to: &record, action: action, actor: actor, now: now)
                return record
            }
        }
    }

    func deleteVM<T: WriteTransaction>(_ id: String, expectedRevision: Int?, actor: String,
                                       in transact: Transact<T, VMRecord>) throws(StoreError) -> VMRecord {
        try Validation.identifier(id, field: "/id")
        try Validation.actor(actor)
        let now = clock()
        return try transact { t throws(StoreError) in
            guard let existing = try t.loadVM(id) else { throw .notFound }
            try Resolution.checkRevision(expected: expectedRevision, stored: existing.revision)
            try t.deleteVMRow(id)
            try appendDeletion(t, .vm, id: id, of: existing.revision, updatedAt: existing.updatedAt,
                               fields: existing.flattenedFields, actor: actor, now: now)
            return existing
        }
    }

    func recordApplied<T: WriteTransaction>(_ id: String, revision: Int, expectedRevision: Int?,
                                            in transact: Transact<T, VMRecord>) throws(StoreError) -> VMRecord {
        try Validation.identifier(id, field: "/id")
        guard revision >= 1 else { throw .invalid(field: "/revision", message: "must be a revision (1 or more)") }
        let now = clock()
        return try transact { t throws(StoreError) in
            guard let existing = try t.loadVM(id) else { throw .notFound }
            try Resolution.checkRevision(expected: expectedRevision, stored: existing.revision)
            guard revision == existing.revision else {
                throw .conflict("VM '\(id)' is at revision \(existing.revision), not \(revision): it changed after its quirks were read; read them again (GET /v1/vms/\(id)/kvm-quirks) and apply that revision")
            }
            // Every start is recorded, a repeated revision too: its time is
            // the news. Like updatedAt, it never goes backwards.
            let at = existing.applied?.at.map { Resolution.nextTimestamp(after: $0, now: now) } ?? now
            var record = existing
            record.applied = VMRecord.AppliedState(revision: revision, disabledQuirks: existing.disabledQuirks, at: at)
            // The whole row in one statement, revision unchanged (PostgreSQL's guard still holds).
            try t.updateVMRow(record, previousRevision: existing.revision)
            return record
        }
    }

    func putHost<T: WriteTransaction>(_ name: String, _ spec: HostSpec, expectedRevision: Int?, actor: String,
                                      in transact: Transact<T, (record: HostProfileRecord, created: Bool)>)
        throws(StoreError) -> (record: HostProfileRecord, created: Bool)
    {
        try Validation.identifier(name, field: "/name")
        try Validation.hostSpec(spec, field: "")
        try Validation.actor(actor)
        let now = clock()
        return try transact { t throws(StoreError) -> (record: HostProfileRecord, created: Bool) in
            let existing = try t.loadHost(name)
            try Resolution.checkRevision(expected: expectedRevision, stored: existing?.revision)
            if let existing {
                // `changes` compares stored bytes (sameBytes); `!=` on strings is canonical equivalence.
                let changes = fieldChanges(from: existing.spec.flattenedFields(), to: spec.flattenedFields())
                guard existing.spec != spec || !changes.isEmpty else { return (existing, false) }
                var record = existing
                record.spec = spec
                record.revision = existing.revision + 1
                record.updatedAt = Resolution.nextTimestamp(after: existing.updatedAt, now: now)
                try t.updateHostRow(record, previousRevision: existing.revision)
                try t.appendHistory(
                    .host, id: name, revision: record.revision, action: .replace, actor: actor, at: record.updatedAt,
                    changes: changes)
                return (record, false)
            }
            let revision = (try t.lastRevision(.host, name) ?? 0) + 1
            let record = HostProfileRecord(name: name, spec: spec, revision: revision, createdAt: now, updatedAt: now)
            try t.insertHostRow(record)
            try t.appendHistory(
                .host, id: name, revision: revision, action: .create, actor: actor, at: now,
                changes: fieldChanges(from: nil, to: spec.flattenedFields()))
            return (record, true)
        }
    }

    func deleteHost<T: WriteTransaction>(_ name: String, expectedRevision: Int?, actor: String,
                                         in transact: Transact<T, HostProfileRecord>) throws(StoreError) -> HostProfileRecord {
        try Validation.identifier(name, field: "/name")
        try Validation.actor(actor)
        let now = clock()
        return try transact { t throws(StoreError) in
            guard let existing = try t.loadHost(name) else { throw .notFound }
            try Resolution.checkRevision(expected: expectedRevision, stored: existing.revision)
            let (count, sample) = try t.vmsReferencing(name)
            guard count == 0 else {
                throw .conflict("host profile '\(name)' is referenced by \(count) VM(s): \(sample.joined(separator: ", "))\(count > sample.count ? ", ..." : "")")
            }
            try t.deleteHostRow(name)
            try appendDeletion(t, .host, id: name, of: existing.revision, updatedAt: existing.updatedAt,
                               fields: existing.spec.flattenedFields(), actor: actor, now: now)
            return existing
        }
    }

    /// Inserts a new record; its revision continues after any deleted incarnation's.
    func insertVM<T: WriteTransaction>(_ t: T, _ record: inout VMRecord, actor: String) throws(StoreError) {
        try checkHostReference(t, record.host)
        record.revision = (try t.lastRevision(.vm, record.id) ?? 0) + 1
        let r = record
        try t.insertVMRow(r)
        try t.insertLabels(r)
        try t.appendHistory(.vm, id: r.id, revision: r.revision, action: .create, actor: actor, at: r.createdAt,
                            changes: fieldChanges(from: nil, to: r.flattenedFields))
    }

    /// Writes `record` over `old` if anything changed, bumping revision and updatedAt.
    private func writeUpdate<T: WriteTransaction>(_ t: T, from old: VMRecord, to record: inout VMRecord,
                                                  action: HistoryAction, actor: String, now: Timestamp) throws(StoreError) {
        // `changes` compares stored bytes (sameBytes); `!=` on strings is canonical equivalence,
        // so a value changed only in its Unicode form is a change only there.
        let changes = fieldChanges(from: old.flattenedFields, to: record.flattenedFields)
        guard record != old || !changes.isEmpty else { return }
        if record.host != old.host { try checkHostReference(t, record.host) }
        record.revision = old.revision + 1
        record.updatedAt = Resolution.nextTimestamp(after: old.updatedAt, now: now)
        let r = record
        try t.updateVMRow(r, previousRevision: old.revision)
        if !sameBytes(r.labels, old.labels) {
            try t.deleteLabels(r.id)
            try t.insertLabels(r)
        }
        try t.appendHistory(.vm, id: r.id, revision: r.revision, action: action, actor: actor, at: r.updatedAt,
                            changes: changes)
    }

    /// A delete's history entry (its tombstone): the revision after the deleted
    /// one, so a later create continues past it; every field removed.
    private func appendDeletion<T: WriteTransaction>(_ t: T, _ subject: HistorySubject, id: String, of revision: Int,
                                                     updatedAt: Timestamp, fields: [(field: String, value: String)],
                                                     actor: String, now: Timestamp) throws(StoreError) {
        try t.appendHistory(subject, id: id, revision: revision + 1, action: .delete, actor: actor,
                            at: Resolution.nextTimestamp(after: updatedAt, now: now),
                            changes: fieldChanges(from: fields, to: nil))
    }

    private func checkHostReference<T: WriteTransaction>(_ t: T, _ host: HostRef) throws(StoreError) {
        guard let name = host.profileName else { return }
        guard try t.hostProfileExists(name) else {
            throw .invalid(field: "/host_profile", message: "no host profile named '\(name)'")
        }
    }
}
