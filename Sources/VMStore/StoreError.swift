/// Why a store operation failed. The routes layer maps these to HTTP:
/// `revisionMismatch` -> 412, `alreadyExists` and `conflict` -> 409,
/// `invalid` -> 422, `notFound` -> 404, `backend` -> 500 (or 503).
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
    /// SQLite (or another backend) failed: I/O error, lock timeout, corrupt row.
    case backend(String)

    public var description: String {
        switch self {
        case .notFound: "not found"
        case .alreadyExists: "already exists"
        case .revisionMismatch(let current): "revision mismatch: the stored revision is \(current)"
        case .conflict(let message): "conflict: \(message)"
        case .invalid(let field, let message): "invalid \(field): \(message)"
        case .backend(let message): "store backend error: \(message)"
        }
    }
}

/// JSON pointer (RFC 6901) helpers for `StoreError.invalid` fields.
public enum JSONPointer {
    /// Escapes one reference token: `~` -> `~0`, `/` -> `~1`.
    public static func escape(_ token: String) -> String {
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return token }
        var out = ""
        for ch in token.unicodeScalars {
            switch ch {
            case "~": out += "~0"
            case "/": out += "~1"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
