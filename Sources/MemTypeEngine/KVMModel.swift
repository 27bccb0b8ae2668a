/// One generation of KVM's EPT memory-type policy (`vmx_get_mt_mask()` in
/// arch/x86/kvm/vmx/vmx.c). Each generation is a rule set the engine applies;
/// the kernel version only selects one.
public enum KVMModel: String, Sendable, CaseIterable, Comparable {
    /// Up to v6.6: guest MTRRs and CR0.CD honored when the VM has non-coherent DMA.
    case a = "A"
    /// v6.7 to v6.10: as A, but CR0.CD=1 with CD_NW_CLEARED gives WB without IPAT.
    case b = "B"
    /// v6.11-rc1 to -rc7: guest MTRRs gone; guest PAT honored on self-snoop CPUs.
    case c = "C"
    /// v6.11 to v6.15: the revert; guest PAT honored only with non-coherent DMA.
    case d = "D"
    /// v6.16 and later, and 6.12.78 and later 6.12.y: KVM_X86_QUIRK_IGNORE_GUEST_PAT decides.
    case e = "E"

    /// The newest model, used when a request names no kernel.
    public static let newest: KVMModel = .e

    /// The first 6.12.y release with the IGNORE_GUEST_PAT backport (see `init(kernel:)`).
    public static let stableBackport612 = KernelVersion(major: 6, minor: 12, patch: 78)

    /// The model a kernel version runs.
    ///
    /// Assumptions, documented in the README: versions before 6.6 are modelled
    /// as A (the decision order is the same back to 5.x, but this service does
    /// not claim more). The 6.12 stable series took IGNORE_GUEST_PAT with
    /// supported_quirks, inapplicable_quirks and cumulative disabling
    /// (9966b7822b3f) in its queue of 2026-03-20; 6.12.78 is the first
    /// release a user project's changelog names with it, so 6.12.78 and
    /// later 6.12.y run E and earlier 6.12.y run D. A vendor kernel with its
    /// own backports names its model directly.
    public init(kernel: KernelVersion) {
        if kernel.isAtLeast(6, 16) || kernel >= KVMModel.stableBackport612 && (kernel.major, kernel.minor) == (6, 12) {
            self = .e
        } else if kernel.isAtLeast(6, 11) {
            // 377b2f359d1f landed in 6.11-rc1; its revert 9d70f3fec144 after -rc7.
            self = (kernel.major, kernel.minor) == (6, 11) && kernel.rc != nil ? .c : .d
        } else if kernel.isAtLeast(6, 7) {
            self = .b
        } else {
            self = .a
        }
    }

    public var title: String {
        switch self {
        case .a: "Guest MTRRs and CR0.CD honored with non-coherent DMA"
        case .b: "As A; CR0.CD=1 with CD_NW_CLEARED drops IPAT"
        case .c: "Guest PAT honored on self-snoop CPUs"
        case .d: "Guest PAT honored only with non-coherent DMA (the revert)"
        case .e: "IGNORE_GUEST_PAT quirk decides"
        }
    }

    /// The kernels this model covers, as a human reads it.
    public var kernels: String {
        switch self {
        case .a: "up to v6.6"
        case .b: "v6.7 to v6.10"
        case .c: "v6.11-rc1 to v6.11-rc7"
        case .d: "v6.11 to v6.15 (6.12.y before 6.12.78)"
        case .e: "v6.16 and later, and 6.12.78 and later 6.12.y (stable backport)"
        }
    }

    /// The first and last kernel of the range (nil: open-ended).
    public var firstKernel: KernelVersion? {
        switch self {
        case .a: nil
        case .b: KernelVersion(major: 6, minor: 7, rc: 1)
        case .c: KernelVersion(major: 6, minor: 11, rc: 1)
        case .d: KernelVersion(major: 6, minor: 11)
        case .e: KernelVersion(major: 6, minor: 16, rc: 1)
        }
    }

    /// The upstream commits that define this model: "id title" where the id is
    /// known, the title alone where it is not, a description in parentheses
    /// where only the id is.
    public var commits: [String] {
        switch self {
        case .a: []
        case .b: ["KVM: VMX: drop IPAT in memtype when CD=1 for KVM_X86_QUIRK_CD_NW_CLEARED"]
        case .c: [
            "0a7b73559b39 (guest MTRR virtualization removed)",
            "e1548088ff54 (CR0.CD memory-type emulation removed)",
            "377b2f359d1f KVM: VMX: Always honor guest PAT on CPUs that support self-snoop",
        ]
        case .d: ["9d70f3fec144 Revert \"KVM: VMX: Always honor guest PAT on CPUs that support self-snoop\""]
        case .e: [
            "c9c1e20b4c7d KVM: x86: Introduce Intel specific quirk KVM_X86_QUIRK_IGNORE_GUEST_PAT",
            "9966b7822b3f (disabling quirks made cumulative; with supported_quirks and inapplicable_quirks, in 6.12.78 and later 6.12.y)",
        ]
        }
    }

    /// Whether KVM_CAP_DISABLE_QUIRKS2 adds to the disabled set rather than
    /// replacing it (9966b7822b3f, which came with the IGNORE_GUEST_PAT
    /// plumbing: v6.16, and 6.12.78 and later 6.12.y).
    public var disablingQuirksIsCumulative: Bool {
        // A switch: `==` on a String-backed enum compares raw strings.
        switch self {
        case .e: true
        case .a, .b, .c, .d: false
        }
    }

    /// Whether this model consults guest MTRRs and CR0.CD (removed in 6.11).
    public var honorsGuestMTRRs: Bool { self <= .b }

    public static func < (a: KVMModel, b: KVMModel) -> Bool { a.rawValue < b.rawValue }
}
