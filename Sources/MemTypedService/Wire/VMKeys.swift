import MemTypeWire

// The keys of the VM store's request bodies (openapi.yaml: `VMSpec`,
// `VMPatch`, `HostSpec`, `HostProfileSpec`), each written once; the decoders
// in VMWire switch over them exhaustively (see RouteKeys.swift). The case
// order is the order of the "expected one of" lists in messages.

/// The writable members of the VM representation: a PUT's spec, a PATCH's merge patch.
enum VMSpecKey: String, WireKey {
    case id, baseline, quirks, host, hostProfile = "host_profile", type, noncoherentDMA = "noncoherent_dma"
    case displayDevices = "display_devices", guestKernel = "guest_kernel", guestBochsFix = "guest_bochs_fix", labels
    static let table = WireKeyTable<Self>()
}

/// The members of a VM or host representation the store sets.
enum ReadOnlyKey: String, CaseIterable {
    case revision, createdAt = "created_at", updatedAt = "updated_at", disabledQuirks = "disabled_quirks"
    /// Set by `PUT /v1/vms/{id}/applied`, and derived from it.
    case appliedRevision = "applied_revision", appliedAt = "applied_at", restartRequired = "restart_required"
    /// The bochs warning on write responses (and per-VM decisions): computed, never stored.
    case risks
}

/// A stored host: the decision request's host (`HostKey`) and the kernel
/// that selects its KVM model.
enum HostSpecKey: WireKey {
    case host(HostKey)
    case kernel, kvmModel
    static let table = WireKeyTable<Self>()

    static let allCases: [HostSpecKey] = HostKey.allCases.map(HostSpecKey.host) + [.kernel, .kvmModel]

    init?(rawValue: String) {
        guard let key = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = key
    }

    var rawValue: String {
        switch self {
        case .host(let key): key.rawValue
        case .kernel: "kernel"
        case .kvmModel: "kvm_model"
        }
    }
}

/// A host profile: a stored host with its name.
enum HostProfileKey: WireKey {
    case name
    case spec(HostSpecKey)
    static let table = WireKeyTable<Self>()

    static let allCases: [HostProfileKey] = [.name] + HostSpecKey.allCases.map(HostProfileKey.spec)

    init?(rawValue: String) {
        guard let key = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = key
    }

    var rawValue: String {
        switch self {
        case .name: "name"
        case .spec(let key): key.rawValue
        }
    }
}

/// The members of a VM spec or merge patch, one per `VMSpecKey`, collected
/// in one pass; PUT and PATCH then read them in their own order (a PATCH
/// moves the baseline before it applies quirk choices).
struct VMSpecFields {
    var id, baseline, quirks, host, hostProfile, type, noncoherentDMA, displayDevices, guestKernel, guestBochsFix, labels: Field?

    static let hostPointer = "/" + VMSpecKey.host.rawValue
    static let hostProfilePointer = "/" + VMSpecKey.hostProfile.rawValue

    init(_ f: Field) throws(InvalidField) {
        let m = try VMWire.object(f, VMSpecKey.self)
        m.each(VMSpecKey.self) { key, f in
            switch key {
            case .id: id = f
            case .baseline: baseline = f
            case .quirks: quirks = f
            case .host: host = f
            case .hostProfile: hostProfile = f
            case .type: type = f
            case .noncoherentDMA: noncoherentDMA = f
            case .displayDevices: displayDevices = f
            case .guestKernel: guestKernel = f
            case .guestBochsFix: guestBochsFix = f
            case .labels: labels = f
            }
        }
    }
}
