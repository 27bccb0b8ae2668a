/// A named rule of the engine, each mirroring one branch of kernel code or
/// one SDM table. A decision's trace lists the rules that fired, in order.
public enum Rule: UInt8, Sendable, CaseIterable {
    // Guest PAT index.
    case patIndex4K = 1
    case patIndexHuge
    // Models, step by step (vmx_get_mt_mask()).
    case mmioUC               // every model, step 1
    case aNoNoncoherentDMA    // A/B step 2, D step 2
    case aCR0CDQuirk          // A step 3, quirk on
    case aCR0CDNoQuirk        // A/B step 3, quirk off
    case bCR0CDQuirk          // B step 3, quirk on
    case aGuestMTRR           // A/B step 4
    case cNoSelfSnoop         // C step 2
    case cHonorGuestPAT       // C step 3
    case dNoncoherentDMA      // D step 3
    case eQuirkIgnoresPAT     // E step 2
    case eHonorGuestPAT       // E step 3
    case tdxPrivateWB
    case amdNPT
    case shadowPaging
    // Guest MTRR lookup (kvm_mtrr_get_guest_memory_type()).
    case mtrrDisabled
    case mtrrFixed
    case mtrrVariable
    case mtrrUCWins
    case mtrrUCMetFirst
    case mtrrWTOverWB
    case mtrrUndefinedMix
    case mtrrDefault
    case mtrrHugePageSplit
    // Combining EPT and PAT.
    case ipatIdentity
    case table11_7

    /// A stable identifier for clients (`E.2`, `MTRR.fixed`, `SDM.11-7`).
    public var id: String {
        switch self {
        case .patIndex4K: "PAT.index-4k"
        case .patIndexHuge: "PAT.index-huge"
        case .mmioUC: "KVM.mmio"
        case .aNoNoncoherentDMA: "KVM.no-ncdma"
        case .aCR0CDQuirk: "A.cr0-cd-quirk"
        case .aCR0CDNoQuirk: "A.cr0-cd-uc"
        case .bCR0CDQuirk: "B.cr0-cd-quirk"
        case .aGuestMTRR: "A.guest-mtrr"
        case .cNoSelfSnoop: "C.no-self-snoop"
        case .cHonorGuestPAT: "C.honor-pat"
        case .dNoncoherentDMA: "D.ncdma-honor-pat"
        case .eQuirkIgnoresPAT: "E.quirk-ignore-pat"
        case .eHonorGuestPAT: "E.honor-pat"
        case .tdxPrivateWB: "TDX.private-wb"
        case .amdNPT: "AMD.npt"
        case .shadowPaging: "KVM.shadow-paging"
        case .mtrrDisabled: "MTRR.disabled"
        case .mtrrFixed: "MTRR.fixed"
        case .mtrrVariable: "MTRR.variable"
        case .mtrrUCWins: "MTRR.uc-wins"
        case .mtrrUCMetFirst: "MTRR.uc-first-then-wb"
        case .mtrrWTOverWB: "MTRR.wt-over-wb"
        case .mtrrUndefinedMix: "MTRR.undefined-mix"
        case .mtrrDefault: "MTRR.default"
        case .mtrrHugePageSplit: "MTRR.huge-page-split"
        case .ipatIdentity: "EPT.ipat"
        case .table11_7: "SDM.table-11-7"
        }
    }

    /// What the rule says.
    public var summary: String {
        switch self {
        case .patIndex4K: "PAT index = 4*PAT + 2*PCD + PWT, PAT bit 7 of the 4 KiB PTE"
        case .patIndexHuge: "PAT index = 4*PAT + 2*PCD + PWT, PAT bit 12 of the PDE/PDPTE mapping a 2 MiB/1 GiB page"
        case .mmioUC: "host PFN is MMIO: UC, IPAT=0"
        case .aNoNoncoherentDMA: "no non-coherent DMA: WB, IPAT=1 (guest PAT ignored)"
        case .aCR0CDQuirk: "guest CR0.CD=1 with CD_NW_CLEARED: WB, IPAT=1"
        case .aCR0CDNoQuirk: "guest CR0.CD=1 with CD_NW_CLEARED disabled: UC, IPAT=1"
        case .bCR0CDQuirk: "guest CR0.CD=1 with CD_NW_CLEARED: WB, IPAT=0 (guest PAT honored)"
        case .aGuestMTRR: "non-coherent DMA: the guest MTRR type of the 4 KiB page, IPAT=0"
        case .cNoSelfSnoop: "no self-snoop and no non-coherent DMA: WB, IPAT=1"
        case .cHonorGuestPAT: "self-snoop or non-coherent DMA: WB, IPAT=0 (guest PAT honored)"
        case .dNoncoherentDMA: "non-coherent DMA: WB, IPAT=0 (guest PAT honored)"
        case .eQuirkIgnoresPAT: "no non-coherent DMA and IGNORE_GUEST_PAT in force: WB, IPAT=1"
        case .eHonorGuestPAT: "non-coherent DMA or IGNORE_GUEST_PAT disabled: WB, IPAT=0 (guest PAT honored)"
        case .tdxPrivateWB: "TDX private GPA: the TDX module forces WB"
        case .amdNPT: "AMD NPT: no EPT memory type; NPT leaves select host PAT entry 0 (WB) and guest PAT is honored"
        case .shadowPaging: "EPT off: shadow paging sets no EPT memory type and ignores guest PAT"
        case .mtrrDisabled: "MTRRdefType.E clear: UC if the guest CPUID has MTRR, else WB"
        case .mtrrFixed: "FE set and the page below 1 MiB: the fixed-range byte; variable ranges not consulted"
        case .mtrrVariable: "variable range(s) of one type matched, walked in KVM's order (descending PhysBase)"
        case .mtrrUCWins: "walking by descending PhysBase, a UC range met after the first match: UC at once"
        case .mtrrUCMetFirst: "walking by descending PhysBase, a UC range was met first and the next match of another type returned WB at once (KVM checks only the range it visits for UC)"
        case .mtrrWTOverWB: "overlapping WT and WB variable ranges: WT"
        case .mtrrUndefinedMix: "overlapping variable ranges of another mix (undefined in the SDM): WB at once at the second type met"
        case .mtrrDefault: "no variable range matched: the MTRRdefType type"
        case .mtrrHugePageSplit: "the huge page spans two MTRR types: KVM maps a smaller EPT leaf"
        case .ipatIdentity: "IPAT=1: the EPT type is the effective type"
        case .table11_7: "IPAT=0: the EPT type takes the MTRR row of Table 11-7, the guest PAT type the column"
        }
    }

    /// The kernel function or SDM section the rule mirrors.
    public var source: String {
        switch self {
        case .patIndex4K, .patIndexHuge: "SDM Vol. 3A 4.9.2 and Tables 4-18 to 4-20"
        case .mmioUC, .aNoNoncoherentDMA, .aCR0CDQuirk, .aCR0CDNoQuirk, .bCR0CDQuirk, .aGuestMTRR,
             .cNoSelfSnoop, .cHonorGuestPAT, .dNoncoherentDMA, .eQuirkIgnoresPAT, .eHonorGuestPAT:
            "vmx_get_mt_mask() in arch/x86/kvm/vmx/vmx.c"
        case .tdxPrivateWB: "tdx_vm_init() and the TDX module's Secure EPT"
        case .amdNPT: "svm_hardware_setup() and NPT (arch/x86/kvm/svm)"
        case .shadowPaging: "arch/x86/kvm/mmu (shadow paging)"
        case .mtrrDisabled: "mtrr_disabled_type() in arch/x86/kvm/mtrr.c"
        case .mtrrFixed, .mtrrDefault:
            "kvm_mtrr_get_guest_memory_type() in arch/x86/kvm/mtrr.c"
        case .mtrrVariable, .mtrrUCWins, .mtrrUCMetFirst, .mtrrWTOverWB, .mtrrUndefinedMix:
            "kvm_mtrr_get_guest_memory_type() walking the list set_var_mtrr_msr() keeps, in arch/x86/kvm/mtrr.c (v4.2-v6.10)"
        case .mtrrHugePageSplit: "kvm_mtrr_check_gfn_range_consistency() in arch/x86/kvm/mtrr.c"
        case .ipatIdentity: "SDM Vol. 3C 29.3.7 (EPT memory type, IPAT)"
        case .table11_7: "SDM Vol. 3A Table 11-7"
        }
    }
}

/// The rules that fired, in order. Holds up to eight without allocating, so a
/// decision stays cheap on the hot path.
public struct RuleTrace: Sendable, Hashable, Sequence {
    private var packed: UInt64 = 0
    public private(set) var count = 0

    public init() {}

    /// The most rules a trace holds; the engine never fires more.
    public static let capacity = 8

    /// Records a rule (at most `capacity`).
    mutating func append(_ rule: Rule) {
        precondition(count < RuleTrace.capacity, "RuleTrace holds eight rules")
        packed |= UInt64(rule.rawValue) << (8 * UInt64(count))
        count += 1
    }

    public func makeIterator() -> Iterator {
        Iterator(packed: packed, remaining: count)
    }

    /// The rules in the order they fired. A concrete type, not
    /// `AnyIterator`: every response walks a trace, and a type-erased
    /// iterator costs an allocation and an indirect call per rule.
    public struct Iterator: IteratorProtocol {
        var packed: UInt64
        var remaining: Int

        public mutating func next() -> Rule? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            defer { packed >>= 8 }
            return Rule(rawValue: UInt8(truncatingIfNeeded: packed))
        }
    }

    public var rules: [Rule] { Array(self) }
}
