import MemTypeEngine

/// The VM-config store: durable per-VM quirk records, named host profiles,
/// and an append-only history of every change.
///
/// Contract for every backend (`SQLiteVMStore`, `PostgresVMStore`; they share
/// their write methods through `TransactingStore` and their pages through
/// `PagedReads`, and the contract tests run against both):
/// - each mutation and its history entry commit in one transaction; a call
///   that throws leaves the store exactly as it was;
/// - `expectedRevision` is checked inside that transaction, so of two writers
///   with the same expected revision exactly one succeeds and the other gets
///   `.revisionMismatch`. `expectedRevision: nil` is unconditional; `0` means
///   "must not exist" (HTTP `If-None-Match: *`);
/// - a write that changes nothing (same fields) does not bump the revision or
///   append history, and returns the stored record;
/// - ids, names and labels are validated (`Validation`); failures are
///   `.invalid(field:message:)` with a JSON pointer;
/// - `actor` is the caller's token name, recorded in history.
public protocol VMStore: Sendable {
    /// The baseline new VMs get when their spec names none.
    var currentBaseline: Baseline { get }

    func getVM(_ id: String) throws(StoreError) -> VMRecord?

    /// The decision inputs of VM `id` (nil: no such VM): the hot read behind
    /// `GET /v1/vms/{id}/decision`. Equal to `getVM` plus `resolveHost(of:)`;
    /// the default does exactly that, backends may read it in one go.
    func decisionInputs(_ id: String) throws(StoreError) -> VMDecisionInputs?

    /// Creates `id` from `spec`: the baseline (spec's, else `currentBaseline`)
    /// supplies the quirk mask, the spec's explicit choices override it, and
    /// the record names the baseline. Fails `.alreadyExists`.
    func createVM(_ id: String, _ spec: VMSpec, actor: String) throws(StoreError) -> VMRecord

    /// PUT: creates the VM if absent (as `createVM`), else replaces it. On
    /// replace, a nil baseline keeps the VM's baseline and quirks the spec
    /// does not name keep their stored state; naming another baseline is a
    /// move and takes that baseline's mask before the explicit choices.
    func replaceVM(_ id: String, with spec: VMSpec, expectedRevision: Int?, actor: String)
        throws(StoreError) -> (record: VMRecord, created: Bool)

    /// Read-modify-write in one transaction (PATCH, baseline moves). `change`
    /// runs while the store holds its write lock: it must not call the
    /// store's write methods. If it throws, nothing is written. The result is
    /// validated; a changed baseline must be in the catalogue and not
    /// deprecated, and makes the history action `baselineMove`.
    func updateVM(_ id: String, expectedRevision: Int?, actor: String,
                  _ change: (inout VMRecord) throws(StoreError) -> Void) throws(StoreError) -> VMRecord

    /// Deletes the VM; its history (with the last state) stays. Returns the deleted record.
    @discardableResult
    func deleteVM(_ id: String, expectedRevision: Int?, actor: String) throws(StoreError) -> VMRecord

    func listVMs(_ query: VMQuery) throws(StoreError) -> VMPage

    /// Records that the VMM side created VM `id` from its revision `revision`
    /// (the libvirt hook, at each start): `applied` becomes that revision, its
    /// quirk mask and the store clock's time, in one row write. `revision`
    /// must be the current one (else `.conflict` naming the current revision:
    /// the record changed after the caller read it, so it must read the mask
    /// again); `expectedRevision` as for the other writes. Not a configuration
    /// change: `revision`, `updatedAt` and the history stay as they are (the
    /// revision numbers configurations, and a start is not one; a hook that
    /// bumped it would make its own record stale). Each call records a start,
    /// so a second start of the same revision moves only `applied.at`.
    @discardableResult
    func recordApplied(_ id: String, revision: Int, expectedRevision: Int?) throws(StoreError) -> VMRecord

    /// The VMs referencing host profile `name`, counted per distinct engine
    /// config (mask, type, non-coherent DMA), in one grouped read: a kernel
    /// plan's summary evaluates each config once, not each VM.
    func vmConfigCounts(hostProfile name: String) throws(StoreError) -> [VMConfigCount]

    /// The VM's history, newest first, including entries from before a
    /// delete. `.notFound` when nothing was ever recorded under `id`.
    func history(_ id: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage

    func getHost(_ name: String) throws(StoreError) -> HostProfileRecord?

    /// Creates or replaces a host profile. VMs referencing it see the new spec.
    func putHost(_ name: String, _ spec: HostSpec, expectedRevision: Int?, actor: String)
        throws(StoreError) -> (record: HostProfileRecord, created: Bool)

    /// Fails `.conflict` while any VM references the profile.
    @discardableResult
    func deleteHost(_ name: String, expectedRevision: Int?, actor: String) throws(StoreError) -> HostProfileRecord

    /// Ordered by name; keyset pagination like `listVMs`.
    func listHosts(limit: Int, cursor: String?) throws(StoreError) -> HostPage

    func hostHistory(_ name: String, limit: Int, cursor: String?) throws(StoreError) -> HistoryPage

    /// For readiness: `.full` after a write failed for lack of room, until a
    /// write succeeds or the backend finds room again; `.corrupt` once a
    /// damaged page was met; `.unavailable` while a database server cannot
    /// be reached. SQLite: no I/O; PostgreSQL: one round trip, bounded by its
    /// timeout.
    func health() -> StoreHealth

    /// Figures for `/metrics`, taken at scrape time; nil where the backend
    /// cannot tell.
    func statistics() -> StoreStatistics
}

/// How many VMs share one engine config (`VMStore.vmConfigCounts`).
public struct VMConfigCount: Sendable, Hashable {
    public var config: VMConfig
    public var count: Int
    public init(config: VMConfig, count: Int) { self.config = config; self.count = count }
}

/// What a store reports about itself for metrics.
public struct StoreStatistics: Sendable, Equatable {
    /// Decision-input lookups answered from the in-process memo, and those that read the database.
    public var decisionMemoHits: Int?
    public var decisionMemoMisses: Int?
    /// VMs stored.
    public var vms: Int?

    public init(decisionMemoHits: Int? = nil, decisionMemoMisses: Int? = nil, vms: Int? = nil) {
        self.decisionMemoHits = decisionMemoHits
        self.decisionMemoMisses = decisionMemoMisses
        self.vms = vms
    }
}

extension VMStore {
    /// A backend that cannot tell is healthy.
    public func health() -> StoreHealth { .healthy }

    /// A backend that cannot tell reports nothing.
    public func statistics() -> StoreStatistics { StoreStatistics() }

    public func history(_ id: String) throws(StoreError) -> HistoryPage {
        try history(id, limit: VMQuery.defaultLimit, cursor: nil)
    }

    public func decisionInputs(_ id: String) throws(StoreError) -> VMDecisionInputs? {
        guard let record = try getVM(id) else { return nil }
        return VMDecisionInputs(record, host: try resolveHost(of: record))
    }

    public func listHosts() throws(StoreError) -> HostPage {
        try listHosts(limit: VMQuery.defaultLimit, cursor: nil)
    }

    /// The host spec a VM's decisions use: inline, or its profile's current spec
    /// (nil if the profile is gone, which the store prevents).
    public func resolveHost(of record: VMRecord) throws(StoreError) -> HostSpec? {
        switch record.host {
        case .inline(let spec): spec
        case .profile(let name): try getHost(name)?.spec
        }
    }
}
