/// A backend whose writes are `StoreWrites` run through its own SQL: it says
/// which `WriteTransaction` it hands out and how it runs one write
/// transaction, and gets `VMStore`'s write methods from the extension below,
/// once for every backend (they were one-line forwarders restated per backend).
///
/// Internal: callers see only `VMStore`. The extension's methods are `public`
/// because they are the public store types' witnesses for `VMStore`.
protocol TransactingStore: VMStore {
    associatedtype Transaction: WriteTransaction

    /// What the writes compute, with this store's baseline, catalogue and clock.
    var writes: StoreWrites { get }

    /// One write transaction around `body` (`StoreWrites.Transact`): it
    /// begins, commits if `body` returns, rolls back if it throws, and may run
    /// `body` again on a fresh transaction (PostgreSQL, after a lost key race).
    func transact<R: Sendable>(_ body: (Transaction) throws(StoreError) -> R) throws(StoreError) -> R
}

extension TransactingStore {
    public func createVM(_ id: String, _ spec: VMSpec, actor: String) throws(StoreError) -> VMRecord {
        try writes.createVM(id, spec, actor: actor, in: transact)
    }

    public func replaceVM(_ id: String, with spec: VMSpec, expectedRevision: Int?, actor: String)
        throws(StoreError) -> (record: VMRecord, created: Bool)
    {
        try writes.replaceVM(id, with: spec, expectedRevision: expectedRevision, actor: actor, in: transact)
    }

    public func updateVM(_ id: String, expectedRevision: Int?, actor: String,
                         _ change: (inout VMRecord) throws(StoreError) -> Void) throws(StoreError) -> VMRecord
    {
        try writes.updateVM(id, expectedRevision: expectedRevision, actor: actor, change, in: transact)
    }

    @discardableResult
    public func deleteVM(_ id: String, expectedRevision: Int?, actor: String) throws(StoreError) -> VMRecord {
        try writes.deleteVM(id, expectedRevision: expectedRevision, actor: actor, in: transact)
    }

    @discardableResult
    public func recordApplied(_ id: String, revision: Int, expectedRevision: Int?) throws(StoreError) -> VMRecord {
        try writes.recordApplied(id, revision: revision, expectedRevision: expectedRevision, in: transact)
    }

    public func putHost(_ name: String, _ spec: HostSpec, expectedRevision: Int?, actor: String)
        throws(StoreError) -> (record: HostProfileRecord, created: Bool)
    {
        try writes.putHost(name, spec, expectedRevision: expectedRevision, actor: actor, in: transact)
    }

    @discardableResult
    public func deleteHost(_ name: String, expectedRevision: Int?, actor: String) throws(StoreError) -> HostProfileRecord {
        try writes.deleteHost(name, expectedRevision: expectedRevision, actor: actor, in: transact)
    }
}
