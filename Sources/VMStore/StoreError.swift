/// Why a store operation failed. The routes layer maps these to HTTP:
/// `revisionMismatch` -> 412, `alreadyExists` and `conflict` -> 409,
/// `invalid` -> 422, `notFound` -> 404, `busy` -> 503 with Retry-After,
/// `full` -> 507, `corrupt` -> 503 (and not ready), `backend` -> 500,
/// `unavailable` -> 503 with Retry-After.
///
/// Every failing call leaves the store exactly as it was: a write and its
/// history row commit together or not at all.
public enum StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The VM or host profile does not exist (for `history`: nothing was ever recorded under the id).
    case notFound
    /// `createVM` met an existing VM. (A conditional write with `expectedRevision: 0`
    /// that meets an existing record fails `revisionMismatch`, as `If-None-Match: *` gives 412.)
    case alreadyExists
    /// A conditional write's `expectedRevision` is not the stored one.
    /// `current` is the stored revision (the write did nothing).
    case revisionMismatch(current: Int)
    /// The write contradicts other stored state (a host profile still referenced by VMs).
    case conflict(String)
    /// A field failed validation. `field` is a JSON pointer into the request
    /// as the wire format spells it (`/labels/env`, `/display_devices/2`, `/host/kernel`).
    case invalid(field: String, message: String)
    /// Another writer (another process on the same file) held the database
    /// lock for longer than the store's busy timeout. Nothing was written;
    /// the same call is likely to succeed shortly.
    case busy(String)
    /// No room to write: the file system is full (ENOSPC, EDQUOT) or the
    /// database reached its page limit. Nothing was written; reads still work.
    case full(String)
    /// The database file is damaged (SQLITE_CORRUPT, SQLITE_NOTADB). Not
    /// transient: the store stays unhealthy until the file is restored.
    case corrupt(String)
    /// SQLite (or another backend) failed otherwise: an I/O error, a row this build cannot read.
    case backend(String)
    /// The store cannot be reached now but may be soon: a database server
    /// down, restarting, unreachable or too slow (a bounded wait ran out), or
    /// every connection busy past the acquire wait. The call did nothing, or
    /// (a write whose COMMIT's answer was lost) its outcome is unknown; a
    /// retry after `retryAfterSeconds` is the remedy.
    case unavailable(String, retryAfterSeconds: Int)

    /// The failure is the store's, not the request's (busy, full, corrupt,
    /// backend, unavailable): a batch stops trying further records after one.
    public var isStoreFault: Bool {
        switch self {
        case .busy, .full, .corrupt, .backend, .unavailable: true
        case .notFound, .alreadyExists, .revisionMismatch, .conflict, .invalid: false
        }
    }

    public var description: String {
        switch self {
        case .notFound: "not found"
        case .alreadyExists: "already exists"
        case .revisionMismatch(let current): "revision mismatch: the stored revision is \(current)"
        case .conflict(let message): "conflict: \(message)"
        case .invalid(let field, let message): "invalid \(field): \(message)"
        case .busy(let message): "store busy: \(message)"
        case .full(let message): "store full: \(message)"
        case .corrupt(let message): "store corrupt: \(message)"
        case .backend(let message): "store backend error: \(message)"
        case .unavailable(let message, _): "store unavailable: \(message)"
        }
    }
}

/// What readiness reports about a store. Busy is not unhealthy (it passes
/// by itself and each request says so); full and corrupt are.
public enum StoreHealth: Sendable, Hashable {
    case healthy
    /// A write failed for lack of room, and none has succeeded since.
    case full(String)
    /// The store met a damaged page; only restoring the file fixes that.
    case corrupt(String)
    /// The store's database server cannot be reached now (PostgreSQL down,
    /// restarting, or past the store timeout); passes when it answers again.
    case unavailable(String, retryAfterSeconds: Int)
}
