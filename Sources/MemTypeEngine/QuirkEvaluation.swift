/// Whether a quirk's legacy behaviour is in force for a VM.
///
/// KVM itself offers no query for this (there is only the supported mask);
/// reporting the state with its reason is one of the gaps this service fills.
public enum QuirkState: String, Sendable {
    /// The legacy behaviour is in force; userspace could disable it.
    case enabled
    /// Disabled: at userspace's request or by KVM itself (see the reason).
    case disabled
    /// In force and cannot be disabled: KVM removed it from the supported set.
    case forcedOn = "forced_on"
    /// Has no effect on this host, VM or kernel.
    case inapplicable
}

/// Why a quirk is in the state it is. Each case names the kernel code it mirrors.
public enum QuirkReason: String, Sendable, CaseIterable {
    case defaultOn = "default"
    case disabledOnRequest = "requested"
    /// KVM_ENABLE_CAP would fail with EINVAL, so nothing in the request was disabled.
    case requestRefused = "request_refused"
    /// `vmx_hardware_setup()`: without self-snoop honoring guest PAT is unsafe.
    case noSelfSnoop = "no_self_snoop"
    /// `vmx_hardware_setup()`: shadow paging always ignores guest PAT.
    case shadowPaging = "shadow_paging"
    /// `tdx_vm_init()`: TDX VMs always honor guest PAT.
    case tdxForcesDisabled = "tdx_vm"
    /// SVM: NPT always honors guest PAT; KVM disables the quirk at VM creation.
    case amdHonorsGuestPAT = "amd_npt"
    /// The kernel predates the quirk (IGNORE_GUEST_PAT arrived in 6.16, c9c1e20b4c7d).
    case notInKernel = "not_in_kernel"
    /// Since 6.11 VMX no longer emulates CR0.CD through the EPT memory type
    /// (e1548088ff54); the quirk only acts on SVM's CR0 handling.
    case noCR0CDEmulation = "no_cr0_cd_emulation"

    public var explanation: String {
        switch self {
        case .defaultOn: "enabled by default; not in the requested disable mask"
        case .disabledOnRequest: "disabled by KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2)"
        case .requestRefused: "the disable request would fail with EINVAL, so KVM disables nothing"
        case .noSelfSnoop: "the host lacks self-snoop: vmx_hardware_setup() drops the quirk from the supported set, so it cannot be disabled"
        case .shadowPaging: "EPT is off: shadow paging always ignores guest PAT and the quirk is not supported"
        case .tdxForcesDisabled: "tdx_vm_init() force-disables it: TDX VMs always honor guest PAT"
        case .amdHonorsGuestPAT: "AMD NPT always honors guest PAT; KVM disables the quirk at VM creation (a no-op)"
        case .notInKernel: "this kernel predates the quirk (c9c1e20b4c7d, v6.16); the model's fixed rules apply"
        case .noCR0CDEmulation: "since v6.11 VMX does not emulate guest CR0.CD through EPT memory types; the quirk only affects SVM"
        }
    }
}

/// One quirk's state and the reason for it.
public struct QuirkStatus: Sendable, Hashable {
    public let quirk: Quirk
    public let state: QuirkState
    public let reason: QuirkReason

    public init(quirk: Quirk, state: QuirkState, reason: QuirkReason) {
        self.quirk = quirk
        self.state = state
        self.reason = reason
    }
}

/// What KVM would do with a VM's quirk request, at VM creation.
public struct QuirkEvaluation: Sendable, Hashable {
    /// `KVM_CHECK_EXTENSION(KVM_CAP_DISABLE_QUIRKS2)`: the quirks this host's KVM lets userspace disable.
    public let supported: QuirkMask
    /// The mask userspace asks to disable.
    public let requested: QuirkMask
    /// Requested bits outside `supported`; any makes KVM_ENABLE_CAP fail with EINVAL.
    public let refused: QuirkMask
    /// The quirks disabled once the VM exists and the request (if accepted) is applied.
    public let disabled: QuirkMask
    public let ignoreGuestPAT: QuirkStatus
    public let cdNwCleared: QuirkStatus

    /// KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, requested) fails with EINVAL.
    /// (The legacy KVM_CAP_DISABLE_QUIRKS would instead drop unsupported bits silently.)
    public var enableCapFails: Bool { !refused.isEmpty }

    /// The mask a VMM should pass: the request minus what KVM would refuse.
    public var applicableRequest: QuirkMask { requested.subtracting(refused) }

    /// Whether the quirk's legacy behaviour is in force for the decision rules.
    public func isInForce(_ quirk: Quirk) -> Bool { !disabled.contains(quirk) }
}

/// KVM's quirk plumbing (`kvm_x86_vendor_init()`, `vmx_hardware_setup()`,
/// `svm_hardware_setup()`, `kvm_arch_init_vm()`, `tdx_vm_init()`,
/// `kvm_vm_ioctl_enable_cap()`), reduced to a pure function.
public enum QuirkEvaluator {
    /// One `KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, mask)` on a VM whose
    /// disabled set is `disabled` (`kvm_vm_ioctl_enable_cap()` in
    /// arch/x86/kvm/x86.c): nil when it fails with EINVAL (a bit outside
    /// `supported`), else the new disabled set. Since 9966b7822b3f
    /// ("disabled_quirks |= args[0]", with supported_quirks and
    /// inapplicable_quirks; in model E's kernels, 6.12.78 included) each
    /// call adds to the set, so a later call cannot re-enable a quirk, nor
    /// undo what KVM disabled at VM creation. Before it the call replaced
    /// the set.
    public static func disableQuirks2(_ mask: QuirkMask, disabled: QuirkMask, supported: QuirkMask,
                                      cumulative: Bool) -> QuirkMask? {
        guard mask.isSubset(of: supported) else { return nil }
        return cumulative ? disabled.union(mask) : mask
    }

    /// Evaluates a VM's quirk request.
    ///
    /// `kernel` refines the supported set within a model. Assumption (not in
    /// the reference): SLOT_ZAP_ALL and STUFF_FEATURE_MSRS are valid from
    /// v6.12; the 2026 quirks (bits 10 and 11) are in no modelled release.
    /// Without a version, a model is taken at its first kernel.
    public static func evaluate(
        model: KVMModel, kernel: KernelVersion?, host: HostProfile, vm: VMConfig
    ) -> QuirkEvaluation {
        let requested = vm.disabledQuirks
        let version = kernel ?? model.firstKernel ?? KernelVersion(major: 6, minor: 6)

        // KVM_X86_VALID_QUIRKS as the kernel defines it.
        var supported = QuirkMask(rawValue: 0x7F)  // LINT0_REENABLED .. MWAIT_NEVER_UD_FAULTS
        if version.isAtLeast(6, 12) || model == .e { supported.formUnion([Quirk.slotZapAll.mask, Quirk.stuffFeatureMSRs.mask]) }

        // Gen E: KVM_X86_CONDITIONAL_QUIRKS start "inapplicable"; each vendor
        // claims the ones it implements; kvm_arch_init_vm() disables the rest.
        var disabledAtCreation: QuirkMask = []
        if model == .e {
            switch host.vendor {
            case .intel:
                if host.tdp && host.selfSnoop { supported.insert(.ignoreGuestPAT) }
                disabledAtCreation = .cdNwCleared
            case .amd:
                supported.insert(.ignoreGuestPAT)
                disabledAtCreation = .ignoreGuestPAT
            }
            if vm.type == .tdx { disabledAtCreation.insert(.ignoreGuestPAT) }
        }

        let refused = requested.subtracting(supported)
        let disabled = disableQuirks2(requested, disabled: disabledAtCreation, supported: supported,
                                      cumulative: model.disablingQuirksIsCumulative) ?? disabledAtCreation

        func requestedState(_ quirk: Quirk) -> (QuirkState, QuirkReason) {
            if disabled.contains(quirk) { return (.disabled, .disabledOnRequest) }
            return requested.contains(quirk) ? (.enabled, .requestRefused) : (.enabled, .defaultOn)
        }

        let igp: (QuirkState, QuirkReason)
        if model < .e {
            igp = (.inapplicable, .notInKernel)
        } else if host.vendor == .amd {
            igp = (.inapplicable, .amdHonorsGuestPAT)
        } else if vm.type == .tdx {
            igp = (.disabled, .tdxForcesDisabled)
        } else if !host.tdp {
            igp = (.forcedOn, .shadowPaging)
        } else if !host.selfSnoop {
            igp = (.forcedOn, .noSelfSnoop)
        } else {
            igp = requestedState(.ignoreGuestPAT)
        }

        let cdnw: (QuirkState, QuirkReason)
        if host.vendor == .intel && model >= .c {
            cdnw = (.inapplicable, .noCR0CDEmulation)
        } else {
            cdnw = requestedState(.cdNwCleared)
        }

        return QuirkEvaluation(
            supported: supported,
            requested: requested,
            refused: refused,
            disabled: disabled,
            ignoreGuestPAT: QuirkStatus(quirk: .ignoreGuestPAT, state: igp.0, reason: igp.1),
            cdNwCleared: QuirkStatus(quirk: .cdNwCleared, state: cdnw.0, reason: cdnw.1)
        )
    }
}
