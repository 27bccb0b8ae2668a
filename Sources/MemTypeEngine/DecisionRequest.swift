/// Which KVM behaviour to model: a kernel version, or a model named directly
/// (for vendor kernels with backports, such as the 6.12.y quirk backport).
public enum KernelSelection: Sendable, Hashable {
    case version(KernelVersion)
    case model(KVMModel)

    public var model: KVMModel {
        switch self {
        case .version(let v): KVMModel(kernel: v)
        case .model(let m): m
        }
    }

    public var version: KernelVersion? {
        if case .version(let v) = self { return v }
        return nil
    }
}

/// The vCPU state a decision reads.
public struct VCPUState: Sendable, Hashable {
    /// Guest CR0.CD (caching disabled). Models A and B only.
    public var cr0CD: Bool
    public var pat: PAT
    /// Guest MTRRs. Models A and B only.
    public var mtrr: MTRRState
    /// Whether the guest's CPUID advertises MTRR (decides the disabled-MTRR type).
    public var cpuidMTRR: Bool

    public init(cr0CD: Bool = false, pat: PAT = .reset, mtrr: MTRRState = .reset(), cpuidMTRR: Bool = true) {
        self.cr0CD = cr0CD
        self.pat = pat
        self.mtrr = mtrr
        self.cpuidMTRR = cpuidMTRR
    }
}

/// The guest access being decided.
public struct GuestAccess: Sendable, Hashable {
    /// The guest-physical address.
    public var gpa: UInt64
    /// The host PFN is MMIO (not RAM). RAM-backed emulated VRAM, such as the
    /// bochs framebuffer BAR, is *not* MMIO.
    public var mmio: Bool
    /// The guest PAT index of the mapping.
    public var patIndex: PATIndex
    /// How the index was given: true when derived from paging-entry bits.
    public var patIndexFromEntry: Bool
    /// The size of the guest page (and the EPT leaf KVM would like to use).
    public var level: PageLevel
    /// For TDX VMs: the GPA is private (the TDX module forces WB).
    public var tdxPrivate: Bool

    public init(gpa: UInt64 = 0, mmio: Bool = false, patIndex: PATIndex = .zero,
                patIndexFromEntry: Bool = false, level: PageLevel = .size4K, tdxPrivate: Bool = false) {
        self.gpa = gpa
        self.mmio = mmio
        self.patIndex = patIndex
        self.patIndexFromEntry = patIndexFromEntry
        self.level = level
        self.tdxPrivate = tdxPrivate
    }
}

/// Everything one decision depends on. Every field has the documented
/// default: the newest model, an Intel host with self-snoop and EPT, a
/// regular VM without non-coherent DMA, a vCPU at reset, a 4 KiB access to
/// GPA 0 through PAT entry 0.
public struct DecisionRequest: Sendable, Hashable {
    public var kernel: KernelSelection
    public var host: HostProfile
    public var vm: VMConfig
    public var vcpu: VCPUState
    public var access: GuestAccess

    public init(kernel: KernelSelection = .model(.newest), host: HostProfile = HostProfile(), vm: VMConfig = VMConfig(),
                vcpu: VCPUState = VCPUState(), access: GuestAccess = GuestAccess()) {
        self.kernel = kernel
        self.host = host
        self.vm = vm
        self.vcpu = vcpu
        self.access = access
    }

    /// Cross-field checks that no single field can make: combinations that
    /// cannot exist on real hardware. Each names the field to fix.
    public func validate() throws(DecisionInputError) {
        if vm.type == .tdx {
            if host.vendor != .intel { throw DecisionInputError(field: .vmType, message: "a TDX VM needs an Intel host (host.vendor is amd)") }
            if !host.tdp { throw DecisionInputError(field: .vmType, message: "a TDX VM needs EPT (host.tdp is false)") }
            if !host.selfSnoop { throw DecisionInputError(field: .vmType, message: "TDX requires self-snoop (host.self_snoop is false)") }
        } else if access.tdxPrivate {
            throw DecisionInputError(field: .accessPrivate, message: "only a TDX VM has private GPAs (vm.type is regular)")
        }
        let limit: UInt64 = 1 << UInt64(vcpu.mtrr.maxPhysAddr)
        if access.gpa >= limit {
            throw DecisionInputError(field: .accessGPA, message: "GPA \(String(format0x: access.gpa)) is at or above 2^MAXPHYADDR (\(vcpu.mtrr.maxPhysAddr) bits)")
        }
        let unknown = vm.disabledQuirks.unknownBits
        if unknown != 0 {
            throw DecisionInputError(field: .disabledQuirks, message: "bits \(String(format0x: unknown)) name no KVM quirk (known: bits 0-11)")
        }
    }
}

/// An input the engine cannot decide on, naming the request field.
public struct DecisionInputError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Field: Sendable, Hashable {
        case vmType, accessPrivate, accessGPA, disabledQuirks
    }
    public let field: Field
    public let message: String
    public var description: String { message }
}
