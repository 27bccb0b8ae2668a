/// What sets the memory type of this access.
public enum Applicability: String, Sendable {
    /// Intel with EPT: KVM picks an EPT memory type and IPAT.
    case ept
    /// AMD with NPT: KVM sets no memory type; guest PAT is honored.
    case npt
    /// EPT/NPT off: shadow paging; no EPT type, guest PAT ignored.
    case shadowPaging = "shadow_paging"
    /// A TDX VM's private GPA: the TDX module forces WB.
    case tdxPrivate = "tdx_private"
}

/// The EPT leaf's memory-type fields.
public struct EPTMemoryType: Sendable, Hashable {
    /// Bits 5:3. KVM only ever sets UC or WB.
    public let type: MemoryType
    /// Bit 6: ignore guest PAT.
    public let ipat: Bool

    /// The raw leaf bits: `type << 3 | ipat << 6` (0x00, 0x40, 0x30 or 0x70 from KVM).
    public var bits: UInt64 { UInt64(type.rawValue) << 3 | (ipat ? 1 << 6 : 0) }
}

/// Something a user should know about a decision.
public enum DecisionWarning: Sendable, Hashable {
    /// RAM-backed memory ends up UC/WT/WP on a host whose UC is known to be
    /// an order of magnitude slower (the bochs/GDM failure).
    case slowUncachedRAM(MemoryType, CPUModel)
    /// RAM-backed memory ends up UC/WT/WP; slow on some hosts (Sapphire Rapids, Cascade Lake).
    case uncachedRAM(MemoryType)
    /// KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2) would fail with EINVAL.
    case quirkRequestRefused(refused: QuirkMask)
    /// Linux clears self-snoop on this CPU model for errata, yet self_snoop is true.
    case selfSnoopErratum(CPUModel)
    /// The kernel is older than the oldest modelled generation (v6.6).
    case kernelOlderThanModels(KernelVersion)
    /// While guest MTRRs were honored, KVM maps this access with a smaller leaf.
    case hugePageSplit(requested: PageLevel, mapped: PageLevel)
    /// KVM's walk of the guest MTRRs (models A and B) gave `kvm`; the SDM's
    /// precedence over the same MTRRs, which the guest kernel and the
    /// hardware follow, gives `sdm`.
    case mtrrDiffersFromSDM(kvm: MemoryType, sdm: SDMMTRRAnswer)

    /// A stable identifier for clients.
    public var code: String {
        switch self {
        case .slowUncachedRAM: "slow_uncached_ram"
        case .uncachedRAM: "uncached_ram"
        case .quirkRequestRefused: "quirk_request_refused"
        case .selfSnoopErratum: "self_snoop_erratum"
        case .kernelOlderThanModels: "kernel_older_than_models"
        case .hugePageSplit: "huge_page_split"
        case .mtrrDiffersFromSDM: "mtrr_differs_from_sdm"
        }
    }

    public var message: String {
        switch self {
        case let .slowUncachedRAM(type, cpu):
            // One interpolation per message: its literal segments size the
            // buffer once, where a `+` chain copies the text at every step.
            "RAM-backed memory is \(type.name) on a CPU (family \(cpu.family), model \(String(format0x: UInt64(cpu.model)))) whose UC accesses are known to be ~20x slower than WB: this is the bochs framebuffer / GDM restart failure. Keep IGNORE_GUEST_PAT enabled for this VM, or fix the guest driver (9388ccf69925, Linux 6.13)."
        case let .uncachedRAM(type):
            "RAM-backed memory is \(type.name): on Sapphire Rapids and Cascade Lake hosts UC is ~20x slower than WB (set host.cpu to know)."
        case let .quirkRequestRefused(refused):
            "\(Self.refusedText.beforeBits)\(String(format0x: refused.rawValue))\(Self.refusedText.beforeNames)\(refused.quirks.map(\.name).joined(separator: ", "))\(Self.refusedText.after)"
        case let .selfSnoopErratum(cpu):
            "Linux clears self-snoop on family \(cpu.family) model \(String(format0x: UInt64(cpu.model))) for errata; host.self_snoop=true is unlikely."
        case let .kernelOlderThanModels(version):
            "kernel \(version) predates the modelled range (v6.6 and later); it is answered with model A."
        case let .hugePageSplit(requested, mapped):
            "the \(requested.name) range spans two guest MTRR types: KVM maps it with \(mapped.name) EPT leaves."
        case let .mtrrDiffersFromSDM(kvm, .type(sdm)):
            "KVM's guest MTRR walk (descending PhysBase, asymmetric precedence) gives \(kvm.name) here; the SDM's precedence over the same MTRRs gives \(sdm.name), which is what the guest's own kernel and the hardware see."
        case let .mtrrDiffersFromSDM(kvm, .undefined):
            "KVM's guest MTRR walk gives \(kvm.name) here; the SDM leaves this overlap of variable ranges undefined (the guest's Linux kernel takes UC)."
        }
    }
}

extension DecisionWarning {
    /// The constant text of the `quirkRequestRefused` message, around the
    /// refused bits (hex) and the quirks' names (joined by ", "). Shared
    /// with the response encoder, which writes the message in place: per-VM
    /// lookups meet it for every VM whose baseline asks more than its
    /// host's KVM supports.
    package static let refusedText: (beforeBits: String, beforeNames: String, after: String) = (
        "KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2) fails with EINVAL: bits ",
        " (",
        ") are not supported here, so no quirk in the request is disabled."
    )
}

/// The kinds of `DecisionWarning`, as bits.
struct WarningSet: OptionSet, Sendable, Hashable {
    let rawValue: UInt8
    static let uncachedRAM = WarningSet(rawValue: 1 << 0)
    static let quirkRequestRefused = WarningSet(rawValue: 1 << 1)
    static let selfSnoopErratum = WarningSet(rawValue: 1 << 2)
    static let kernelOlderThanModels = WarningSet(rawValue: 1 << 3)
    static let hugePageSplit = WarningSet(rawValue: 1 << 4)
    static let mtrrDiffersFromSDM = WarningSet(rawValue: 1 << 5)
}

/// The answer for one guest access.
public struct Decision: Sendable, Hashable {
    public let model: KVMModel
    /// The kernel version the model was chosen from, if one was given.
    public let kernel: KernelVersion?
    public let applicability: Applicability
    /// The EPT memory-type fields KVM sets, or nil where there is no EPT decision.
    public let ept: EPTMemoryType?
    public let patIndex: PATIndex
    public let patType: MemoryType
    /// The memory type the CPU uses, or nil where it is not modelled (shadow
    /// paging; MMIO on AMD, which depends on host MTRRs).
    public let effective: MemoryType?
    /// The Table 11-7 cell, when the table decided.
    public let cell: EffectiveCell?
    /// With guest MTRRs honored (A/B with non-coherent DMA): the largest EPT
    /// level KVM maps here. Nil otherwise (KVM maps as the host allows).
    public let maxMappingLevel: PageLevel?
    public let quirks: QuirkEvaluation
    public let trace: RuleTrace
    /// Which warnings apply, as bits; `warnings` rebuilds them with their
    /// details, so the decision itself never allocates.
    let warningSet: WarningSet
    /// The host CPU and the requested page size, kept for the warnings' text.
    let cpu: CPUModel?
    let requestedLevel: PageLevel
    /// The SDM's reading of the guest MTRRs where it differs from KVM's (models A and B).
    let sdmMTRR: SDMMTRRAnswer?

    /// Things a user should know about this decision, most important first.
    public var warnings: [DecisionWarning] {
        guard !warningSet.isEmpty else { return [] }
        var out: [DecisionWarning] = []
        forEachWarning { out.append($0) }
        return out
    }

    /// Calls `body` with each of `warnings` in order, without building the
    /// array (the response encoder visits them twice per request).
    package func forEachWarning(_ body: (DecisionWarning) -> Void) {
        guard !warningSet.isEmpty else { return }
        if warningSet.contains(.uncachedRAM), let effective {
            if let cpu, cpu.hasKnownSlowUC { body(.slowUncachedRAM(effective, cpu)) } else { body(.uncachedRAM(effective)) }
        }
        if warningSet.contains(.quirkRequestRefused) { body(.quirkRequestRefused(refused: quirks.refused)) }
        if warningSet.contains(.mtrrDiffersFromSDM), let sdmMTRR, let ept {
            body(.mtrrDiffersFromSDM(kvm: ept.type, sdm: sdmMTRR))
        }
        if warningSet.contains(.hugePageSplit), let maxMappingLevel {
            body(.hugePageSplit(requested: requestedLevel, mapped: maxMappingLevel))
        }
        if warningSet.contains(.selfSnoopErratum), let cpu { body(.selfSnoopErratum(cpu)) }
        if warningSet.contains(.kernelOlderThanModels), let kernel { body(.kernelOlderThanModels(kernel)) }
    }

    /// Assumptions this answer rests on, for the user to judge.
    public var assumptions: [String] {
        switch applicability {
        case .npt:
            return [
                "AMD: KVM sets no memory type in NPT leaves; they select host PAT entry 0, which KVM requires to be WB, so the guest PAT type is reported as the effective type. The AMD guest-by-host PAT combination table was not verified.",
            ] + (effective == nil ? ["MMIO on AMD takes the host MTRR/PAT type of the range, which this service does not model."] : [])
        case .shadowPaging:
            return ["Shadow paging: KVM's shadow PTEs carry the host's choice and guest PAT is ignored; this service does not model the host side."]
        case .tdxPrivate:
            return ["TDX private memory: the TDX module forces WB; the Secure EPT bits are not visible to KVM."]
        case .ept:
            return []
        }
    }
}
