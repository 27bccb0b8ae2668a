/// The CPU vendor, which selects VMX (EPT) or SVM (NPT).
public enum Vendor: String, Sendable, CaseIterable {
    case intel
    case amd
}

/// A CPU's family, model and (optionally) stepping, as CPUID leaf 1 reports them
/// (display family and model, extended fields folded in).
public struct CPUModel: Sendable, Hashable {
    public var family: Int
    public var model: Int
    public var stepping: Int?

    public init(family: Int, model: Int, stepping: Int? = nil) {
        self.family = family
        self.model = model
        self.stepping = stepping
    }

    public static let sapphireRapids = CPUModel(family: 6, model: 0x8F)
    public static let cascadeLake = CPUModel(family: 6, model: 0x55, stepping: 7)
    public static let iceLakeSP = CPUModel(family: 6, model: 0x6A)

    /// Platforms on which UC stores are known to be an order of magnitude slower
    /// than WB, from the bochs/GDM reports and KVM's documentation: Sapphire
    /// Rapids (6/0x8F), Cascade Lake (6/0x55 stepping 5-7; Skylake-SP shares the
    /// model with steppings 0-4 and was reported fine), Ice Lake-SP (6/0x6A).
    public var hasKnownSlowUC: Bool {
        guard family == 6 else { return false }
        switch model {
        case 0x8F, 0x6A: return true
        case 0x55:
            // Without a stepping we cannot tell Cascade Lake from Skylake-SP: stay silent.
            guard let stepping else { return false }
            return (5...7).contains(stepping)
        default: return false
        }
    }

    /// Models whose self-snoop bit Linux clears for errata (Yonah, Merom,
    /// Penryn, Dunnington, Nehalem, Westmere, Sandy Bridge; `check_memory_type_self_snoop_errata()`
    /// in arch/x86/kernel/cpu/intel.c). Ivy Bridge and later keep it.
    public var linuxClearsSelfSnoop: Bool {
        guard family == 6 else { return false }
        return [0x0E, 0x0F, 0x16, 0x17, 0x1D, 0x1A, 0x1E, 0x1F, 0x2E, 0x25, 0x2C, 0x2F, 0x2A, 0x2D].contains(model)
    }
}

/// The host as KVM sees it.
public struct HostProfile: Sendable, Hashable {
    public var vendor: Vendor
    /// CPUID.01H:EDX[27] as Linux leaves it (cleared for errata on old models).
    public var selfSnoop: Bool
    /// Two-dimensional paging on (kvm_intel.ept=1 / kvm_amd.npt=1).
    public var tdp: Bool
    public var cpu: CPUModel?

    public init(vendor: Vendor = .intel, selfSnoop: Bool = true, tdp: Bool = true, cpu: CPUModel? = nil) {
        self.vendor = vendor
        self.selfSnoop = selfSnoop
        self.tdp = tdp
        self.cpu = cpu
    }
}

/// The kind of VM, which matters for quirk defaults.
public enum VMType: String, Sendable, CaseIterable {
    /// KVM_X86_DEFAULT_VM (and SW_PROTECTED_VM, which behaves the same here).
    case regular
    /// KVM_X86_TDX_VM: `tdx_vm_init()` force-disables IGNORE_GUEST_PAT.
    case tdx
}

/// The VM-wide state the decision depends on.
public struct VMConfig: Sendable, Hashable {
    public var type: VMType
    /// The mask userspace passes to KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2).
    public var disabledQuirks: QuirkMask
    /// A device registered through the kvm-vfio device does DMA that does not snoop.
    public var noncoherentDMA: Bool

    public init(type: VMType = .regular, disabledQuirks: QuirkMask = [], noncoherentDMA: Bool = false) {
        self.type = type
        self.disabledQuirks = disabledQuirks
        self.noncoherentDMA = noncoherentDMA
    }
}
