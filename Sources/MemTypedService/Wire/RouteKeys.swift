import MemTypeWire

// The keys of the request bodies the service's own routes read (openapi.yaml
// names each schema), in the style of the decision request's `RequestKeys`:
// each key is written once, each decoder reads an object with
// `Field.object(K.self)` and `switch`es exhaustively over `K` in
// `Members.each`, so a new key does not compile until its decoder reads it.
// The case order is the order of the "expected one of" lists in messages.

/// `MTRRResolveRequest` (`POST /v1/mtrr/resolve`).
enum MTRRResolveKey: String, WireKey {
    case mtrr, maxPhysAddr = "maxphyaddr", cpuidMTRR = "cpuid_mtrr", gpa, range
    static let table = WireKeyTable<Self>()
}

/// `{"start", "end"}`: an MTRR resolve range, a guest RAM range.
enum RangeKey: String, WireKey {
    case start, end
    static let table = WireKeyTable<Self>()
}

extension RangeKey {
    /// A `{"start", "end"}` object's two members, both required.
    static func fields(_ f: Field) throws(InvalidField) -> (start: Field, end: Field) {
        let r = try f.object(RangeKey.self)
        var start: Field?, end: Field?
        r.each(RangeKey.self) { key, f in
            switch key {
            case .start: start = f
            case .end: end = f
            }
        }
        guard let start else { throw r.missing(RangeKey.start.rawValue) }
        guard let end else { throw r.missing(RangeKey.end.rawValue) }
        return (start, end)
    }
}

/// `GuestMemtypeRequest` (`POST /v1/guest/memtype`).
enum GuestMemtypeKey: String, WireKey {
    case patEnabled = "pat_enabled", ram, mtrr, maxPhysAddr = "maxphyaddr", reservations
    case patMemtypeList = "pat_memtype_list", calls, kvm
    static let table = WireKeyTable<Self>()
}

/// One of `GuestMemtypeRequest.reservations`.
enum ReservationKey: String, WireKey {
    case start, end, type
    static let table = WireKeyTable<Self>()
}

/// One of `GuestMemtypeRequest.calls`.
enum IoremapCallKey: String, WireKey {
    case call, start, end, size
    static let table = WireKeyTable<Self>()
}

/// `EffectiveTypeRequest` (`POST /v1/effective-type`).
enum EffectiveTypeKey: String, WireKey {
    case row, pat
    static let table = WireKeyTable<Self>()
}

/// `BaselineMoveRequest` (`POST /v1/vms/{id}/baseline-move`).
enum BaselineMoveKey: String, WireKey {
    case baseline, dryRun = "dry_run"
    static let table = WireKeyTable<Self>()
}

/// `AppliedRequest` (`PUT /v1/vms/{id}/applied`).
enum AppliedKey: String, WireKey {
    case revision
    static let table = WireKeyTable<Self>()
}

extension AppliedKey {
    /// The revision a VMM applied: required, a JSON integer (the one the
    /// VM's representation shows) from 1 to the store's largest.
    static func revision(_ f: Field) throws(InvalidField) -> Int {
        let m = try f.object(AppliedKey.self)
        var revision: Field?
        m.each(AppliedKey.self) { key, f in
            switch key {
            case .revision: revision = f
            }
        }
        guard let revision else { throw m.missing(AppliedKey.revision.rawValue) }
        guard case .number(let n) = revision.value, let v = n.uint64, v >= 1, v <= UInt64(Int32.max) else {
            let got = if case .number(let n) = revision.value { n.literal } else { revision.value.kindName }
            throw revision.invalid("expected a revision: an integer from 1 to \(Int32.max), got \(got)")
        }
        return Int(v)
    }
}

/// `BulkBaselineMoveRequest` (`POST /v1/baseline-moves`).
enum BulkMoveKey: String, WireKey {
    case to, filter, dryRun = "dry_run", limit, cursor
    static let table = WireKeyTable<Self>()
}

/// `BulkBaselineMoveRequest.filter`.
enum MoveFilterKey: String, WireKey {
    case baseline, labels, quirks, hostProfile = "host_profile"
    static let table = WireKeyTable<Self>()
}
