import FleetPlanning
import MemTypeEngine

/// A host as a VM record (or a named host profile) describes it.
public struct HostSpec: Sendable, Hashable {
    public var vendor: Vendor
    /// CPUID.01H:EDX[27] as Linux leaves it.
    public var selfSnoop: Bool
    /// Two-dimensional paging on (EPT / NPT).
    public var tdp: Bool
    public var cpu: CPUModel?
    /// The host kernel version as written (`6.8.0-45-generic`); it selects
    /// the KVM model. Validated by `KernelVersion`; nil: unknown.
    public var kernel: String?
    /// Names the KVM model directly, overriding `kernel`, for vendor kernels
    /// with backports (the 6.12.y IGNORE_GUEST_PAT backport behaves as E).
    public var kvmModel: KVMModel?

    public init(vendor: Vendor = .intel, selfSnoop: Bool = true, tdp: Bool = true,
                cpu: CPUModel? = nil, kernel: String? = nil, kvmModel: KVMModel? = nil) {
        self.vendor = vendor
        self.selfSnoop = selfSnoop
        self.tdp = tdp
        self.cpu = cpu
        self.kernel = kernel
        self.kvmModel = kvmModel
    }

    /// The engine's view of the host.
    public var hostProfile: HostProfile { HostProfile(vendor: vendor, selfSnoop: selfSnoop, tdp: tdp, cpu: cpu) }

    /// The model override, else the kernel version, else the engine's newest model.
    public var kernelSelection: KernelSelection {
        if let kvmModel { return .model(kvmModel) }
        if let kernel, let version = KernelVersion(kernel) { return .version(version) }
        return .model(.newest)
    }
}

/// Where a VM's host description comes from.
public enum HostRef: Sendable, Hashable {
    /// Described in the VM record itself.
    case inline(HostSpec)
    /// A named host profile (`putHost`); it cannot be deleted while referenced.
    case profile(String)

    public var profileName: String? {
        if case .profile(let name) = self { return name }
        return nil
    }
}

/// What a client supplies to create or replace a VM. The store resolves it
/// into a `VMRecord` with every quirk decision written out.
public struct VMSpec: Sendable, Hashable {
    /// The baseline to start from. nil: on create, the store's current
    /// baseline; on replace of an existing VM, the VM's own baseline.
    public var baseline: String?
    /// Explicit choices that override the baseline, for any quirk.
    /// A quirk not named here takes the baseline's choice on create; on
    /// replace of an existing VM it keeps its stored state (unless the
    /// replace moves the VM to another baseline, which supplies it).
    public var quirks: [Quirk: QuirkChoice]
    public var host: HostRef
    public var type: VMType
    /// A device registered through kvm-vfio does non-coherent DMA.
    public var noncoherentDMA: Bool
    /// Emulated display devices (`VGA`, `bochs-display`, `virtio-gpu`, `cirrus-vga`).
    public var displayDevices: [String]
    /// The guest kernel version if known (`6.12`, `5.14.0-427.el9`).
    public var guestKernel: String?
    /// Whether the guest's bochs DRM driver has 9388ccf69925 (Linux 6.13),
    /// overriding what `guestKernel` implies (`GuestDriverStatus`); nil: infer.
    public var guestBochsFix: Bool?
    public var labels: [String: String]

    public init(host: HostRef, baseline: String? = nil, quirks: [Quirk: QuirkChoice] = [:],
                type: VMType = .regular, noncoherentDMA: Bool = false, displayDevices: [String] = [],
                guestKernel: String? = nil, guestBochsFix: Bool? = nil, labels: [String: String] = [:]) {
        self.host = host
        self.baseline = baseline
        self.quirks = quirks
        self.type = type
        self.noncoherentDMA = noncoherentDMA
        self.displayDevices = displayDevices
        self.guestKernel = guestKernel
        self.guestBochsFix = guestBochsFix
        self.labels = labels
    }
}

/// A stored VM: its durable quirk decisions and what the decision engine needs.
///
/// `id`, `revision` and the timestamps are owned by the store: an
/// `updateVM` closure can change every other field.
public struct VMRecord: Sendable, Hashable {
    public let id: String
    /// The baseline the VM was created under (or last moved to).
    public var baseline: String
    /// Every quirk decision, explicit: a set bit is "disable", a clear bit
    /// "keep enabled". Written at create time from the baseline and the
    /// request's explicit choices; never derived from today's defaults.
    public var disabledQuirks: QuirkMask
    public var host: HostRef
    public var type: VMType
    public var noncoherentDMA: Bool
    public var displayDevices: [String]
    public var guestKernel: String?
    /// See `VMSpec.guestBochsFix`.
    public var guestBochsFix: Bool?
    public var labels: [String: String]
    /// 1 for a new id, +1 per change. A VM re-created under a deleted id
    /// continues from the deleted incarnation's last revision, so a stale
    /// `expectedRevision` can never match the new incarnation.
    public internal(set) var revision: Int
    public internal(set) var createdAt: Timestamp
    public internal(set) var updatedAt: Timestamp
    /// What the VMM side last reported applying at a VM start
    /// (`VMStore.recordApplied`); nil: never. Run-time state beside the
    /// configuration, not part of it: setting it changes neither `revision`
    /// nor the history (see `recordApplied`). Only the store sets it, and
    /// a delete forgets it with the row.
    public internal(set) var applied: AppliedState?

    /// The revision a VM was started with, and that revision's quirk mask:
    /// what KVM was told at VM creation and keeps until the VM is recreated;
    /// and when that start was recorded.
    public struct AppliedState: Sendable, Hashable {
        public let revision: Int
        public let disabledQuirks: QuirkMask
        /// The store's clock when the start was recorded (the clock of
        /// `updatedAt`). Nil only for a start recorded before the store kept
        /// this (schema migration 4), until the VM's next start.
        public let at: Timestamp?

        public init(revision: Int, disabledQuirks: QuirkMask, at: Timestamp?) {
            self.revision = revision
            self.disabledQuirks = disabledQuirks
            self.at = at
        }
    }

    /// The stored quirk mask differs from the one the running VM was created
    /// with. The VMM disables quirks when it creates the VM, and a disabled
    /// quirk cannot be enabled again (9966b7822b3f: disabling is cumulative),
    /// so the new mask takes effect only when the VM is recreated: a restart.
    /// False for a VM never applied.
    /// `VMListQuery`'s `restart_required` filter is this in SQL.
    public var restartRequired: Bool {
        guard let applied else { return false }
        return applied.disabledQuirks != disabledQuirks
    }

    /// For store backends; clients get records from a store.
    public init(id: String, baseline: String, disabledQuirks: QuirkMask, host: HostRef,
                type: VMType = .regular, noncoherentDMA: Bool = false, displayDevices: [String] = [],
                guestKernel: String? = nil, guestBochsFix: Bool? = nil, labels: [String: String] = [:],
                revision: Int, createdAt: Timestamp, updatedAt: Timestamp, applied: AppliedState? = nil) {
        self.id = id
        self.baseline = baseline
        self.disabledQuirks = disabledQuirks
        self.host = host
        self.type = type
        self.noncoherentDMA = noncoherentDMA
        self.displayDevices = displayDevices
        self.guestKernel = guestKernel
        self.guestBochsFix = guestBochsFix
        self.labels = labels
        self.revision = revision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.applied = applied
    }

    /// The stored choice for `quirk`.
    public func choice(for quirk: Quirk) -> QuirkChoice {
        disabledQuirks.contains(quirk) ? .disable : .keepEnabled
    }

    public mutating func set(_ quirk: Quirk, _ choice: QuirkChoice) {
        switch choice {
        case .disable: disabledQuirks.insert(quirk.mask)
        case .keepEnabled: disabledQuirks.remove(quirk.mask)
        }
    }

    public mutating func apply(_ choices: [Quirk: QuirkChoice]) {
        for (quirk, choice) in choices { set(quirk, choice) }
    }

    /// A baseline move: the VM takes `baseline`'s name and its whole mask
    /// (earlier explicit overrides are dropped; apply new ones afterwards).
    /// Inside `updateVM` this records a `baselineMove` history entry.
    public mutating func move(to baseline: Baseline) {
        self.baseline = baseline.name
        self.disabledQuirks = baseline.disabledQuirks
    }

    /// The engine's view of the VM.
    public var vmConfig: VMConfig {
        VMConfig(type: type, disabledQuirks: disabledQuirks, noncoherentDMA: noncoherentDMA)
    }

    /// What the record says about the guest's display (the bochs risk's input).
    public var guestDisplay: GuestDisplay {
        GuestDisplay(displayDevices: displayDevices, guestKernel: guestKernel, bochsFix: guestBochsFix)
    }
}

/// A named host profile that VMs can reference instead of describing their host inline.
public struct HostProfileRecord: Sendable, Hashable {
    public let name: String
    public var spec: HostSpec
    public internal(set) var revision: Int
    public internal(set) var createdAt: Timestamp
    public internal(set) var updatedAt: Timestamp

    /// For store backends.
    public init(name: String, spec: HostSpec, revision: Int, createdAt: Timestamp, updatedAt: Timestamp) {
        self.name = name
        self.spec = spec
        self.revision = revision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a decision for a stored VM needs, and nothing else: the VM's engine
/// inputs, its host (inline, or its profile's current spec), and the summary
/// a decision response names (id, revision, baseline). `VMStore.decisionInputs`
/// reads it; the SQLite store does so in one statement, one read transaction,
/// so the VM and its profile come from the same snapshot.
public struct VMDecisionInputs: Sendable, Hashable {
    public let id: String
    public var baseline: String
    public var revision: Int
    /// The engine's view of the VM: type, disabled-quirk mask, non-coherent DMA.
    public var vmConfig: VMConfig
    /// The profile the VM references; nil when its host is inline.
    public var hostProfile: String?
    /// The host the VM's decisions use: inline, or the profile's current spec.
    /// nil only when the referenced profile does not exist (which the store prevents).
    public var host: HostSpec?
    /// The guest's display, for the bochs warning a per-VM decision carries.
    public var guest: GuestDisplay

    public init(id: String, baseline: String, revision: Int, vmConfig: VMConfig, hostProfile: String?, host: HostSpec?,
                guest: GuestDisplay = GuestDisplay(displayDevices: [], guestKernel: nil, bochsFix: nil)) {
        self.id = id
        self.baseline = baseline
        self.revision = revision
        self.vmConfig = vmConfig
        self.hostProfile = hostProfile
        self.host = host
        self.guest = guest
    }

    /// From a whole record and its resolved host (`VMStore.resolveHost(of:)`).
    public init(_ record: VMRecord, host: HostSpec?) {
        self.init(id: record.id, baseline: record.baseline, revision: record.revision, vmConfig: record.vmConfig,
                  hostProfile: record.host.profileName, host: host, guest: record.guestDisplay)
    }
}
