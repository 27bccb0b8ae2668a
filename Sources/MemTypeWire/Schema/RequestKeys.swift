import MemTypeEngine

/// The keys of each JSON object in a decision request (openapi.yaml,
/// schema `DecisionRequest` and the schemas it references): the one list
/// of them. The JSON-tree decoder (`DecisionRequest+Wire.swift`), the byte
/// scanner (`DecisionRequest+FastPath.swift`, whose key tables are built
/// from `allCases`) and the per-VM query decoder (`DecisionQueryKey`) each
/// `switch` exhaustively over these enums, so a new key does not compile
/// until every decoder reads it.
package protocol WireKey: RawRepresentable<String>, CaseIterable, Sendable, Hashable where AllCases == [Self] {
    /// The keys laid out for matching, built once from `allCases`; each
    /// enum stores it (`static let table = WireKeyTable<Self>()`), since a
    /// protocol extension cannot.
    static var table: WireKeyTable<Self> { get }
}

/// `DecisionRequest`.
package enum RequestKey: String, WireKey {
    case kernel, model, host, vm, vcpu, access
    package static let table = WireKeyTable<Self>()

    /// The keys a request that only describes a VM (quirk evaluation) may have.
    package static let vmOnlyNames = [RequestKey.kernel, .model, .host, .vm].map(\.rawValue)
}

/// `HostProfile`.
package enum HostKey: String, WireKey {
    case vendor, selfSnoop = "self_snoop", tdp, cpu
    package static let table = WireKeyTable<Self>()
}

/// `CPUModel`.
package enum CPUKey: String, WireKey {
    case family, model, stepping
    package static let table = WireKeyTable<Self>()
}

/// `VMConfig`.
package enum VMKey: String, WireKey {
    case type, disabledQuirks = "disabled_quirks", noncoherentDMA = "noncoherent_dma"
    package static let table = WireKeyTable<Self>()
}

/// `VCPUState`.
package enum VCPUKey: String, WireKey {
    case cr0CD = "cr0_cd", pat, mtrr, cpuidMTRR = "cpuid_mtrr", maxPhysAddr = "maxphyaddr"
    package static let table = WireKeyTable<Self>()
}

/// `GuestAccess`.
package enum AccessKey: String, WireKey {
    case gpa, mmio, pte, patIndex = "pat_index", level, tdxPrivate = "private"
    package static let table = WireKeyTable<Self>()
}

/// `GuestAccess.pte` given as bits.
package enum PTEKey: String, WireKey {
    case pwt, pcd, pat
    package static let table = WireKeyTable<Self>()
}

/// `MTRRState`.
package enum MTRRKey: String, WireKey {
    case enabled, fixedEnabled = "fixed_enabled", defaultType = "default", defType = "def_type", fixed, variable
    case procMTRR = "proc_mtrr"
    package static let table = WireKeyTable<Self>()
}

/// One variable range of `MTRRState.variable`.
package enum MTRRRangeKey: String, WireKey {
    case base, size, type, physBase = "phys_base", physMask = "phys_mask"
    package static let table = WireKeyTable<Self>()
}

/// `BatchRequest`.
package enum BatchKey: String, WireKey {
    case requests
    package static let table = WireKeyTable<Self>()
}

/// `VMDecisionRequest`: the body of `POST /v1/vms/{id}/decisions`, the
/// vCPU and the access of a decision whose VM-level inputs are stored.
package enum VMDecisionKey: String, WireKey {
    case vcpu, access
    package static let table = WireKeyTable<Self>()
}

/// The query of `GET /v1/vms/{id}/decision`: the access's keys and the
/// vCPU's PAT, each under the name it has in the JSON body.
package enum DecisionQueryKey: WireKey {
    case access(AccessKey)
    case pat
    package static let table = WireKeyTable<Self>()

    package static let allCases: [DecisionQueryKey] = AccessKey.allCases.map(DecisionQueryKey.access) + [.pat]

    package init?(rawValue: String) {
        if let key = AccessKey(rawValue: rawValue) {
            self = .access(key)
        } else if rawValue == VCPUKey.pat.rawValue {
            self = .pat
        } else {
            return nil
        }
    }

    package var rawValue: String {
        switch self {
        case .access(let key): key.rawValue
        case .pat: VCPUKey.pat.rawValue
        }
    }
}

extension WireKey {
    /// The key named `name`, compared as bytes in `table` (not
    /// `init(rawValue:)`, whose generic string switch costs several times
    /// as much on the request path).
    @inline(__always)
    package static func key(_ name: String) -> Self? {
        name.withUTF8Bytes { table.key(named: $0) }
    }

    /// The keys as a list for messages: `gpa, mmio, pte, ...`.
    package static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The position of the key in `allCases`, for sets of seen keys.
    package var bit: UInt64 { 1 << UInt64(Self.table.index(of: self)) }
}

/// The request rule "pte or pat_index, not both", stated once for the three
/// decoders: how a guest access's PAT index may be given.
package enum PATIndexSource: Sendable {
    /// `pte` as `{"pwt", "pcd", "pat"}`.
    case pteBits(pwt: Bool, pcd: Bool, pat: Bool)
    /// `pte` as a raw paging-structure entry: where its PAT bit is depends on the level.
    case pteEntry(UInt64)
    /// `pat_index`.
    case index(PATIndex)

    /// The message for both at once.
    package static let conflict = "give either \(AccessKey.pte.rawValue) or \(AccessKey.patIndex.rawValue), not both"

    /// Which of `pte` and `pat_index` a request gives, nil for neither;
    /// both: the error `conflict` makes from the message.
    package static func given<T, E: Error>(pte: T?, patIndex: T?, conflict: (String) -> E) throws(E) -> (key: AccessKey, value: T)? {
        switch (pte, patIndex) {
        case (let v?, nil): return (.pte, v)
        case (nil, let v?): return (.patIndex, v)
        case (nil, nil): return nil
        case (_?, _?): throw conflict(Self.conflict)
        }
    }
}

extension GuestAccess {
    /// Sets the PAT index from `source`; a raw entry is read at `level`,
    /// so the level must be set first.
    package mutating func setPATIndex(_ source: PATIndexSource) {
        switch source {
        case .pteBits(let pwt, let pcd, let pat):
            patIndexFromEntry = true
            patIndex = PATIndex(pwt: pwt, pcd: pcd, pat: pat)
        case .pteEntry(let entry):
            patIndexFromEntry = true
            patIndex = PATIndex(entry: entry, level: level)
        case .index(let index):
            patIndex = index
        }
    }
}
