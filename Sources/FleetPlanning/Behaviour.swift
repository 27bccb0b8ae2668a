import MemTypeEngine

/// Where a VM runs, as far as KVM's memory-type behaviour goes: the host as
/// KVM sees it and the kernel (version or model) that selects the rules.
public struct Placement: Sendable, Hashable {
    public var host: HostProfile
    public var kernel: KernelSelection

    public init(host: HostProfile, kernel: KernelSelection) {
        self.host = host
        self.kernel = kernel
    }

    public var model: KVMModel { kernel.model }

    /// What KVM does with `vm`'s KVM_CAP_DISABLE_QUIRKS2 mask here: the one
    /// evaluation `GET /v1/vms/{id}/kvm-quirks` reports, so a plan and that
    /// route cannot disagree.
    public func quirks(for vm: VMConfig) -> QuirkEvaluation {
        QuirkEvaluator.evaluate(model: kernel.model, kernel: kernel.version, host: host, vm: vm)
    }

    /// The engine request for `vm` at `probe` here.
    public func request(_ vm: VMConfig, _ probe: Probe) -> DecisionRequest {
        DecisionRequest(kernel: kernel, host: host, vm: vm, vcpu: probe.vcpu, access: probe.access)
    }
}

/// What KVM decides for one probe: who sets the type, the EPT fields, and the
/// type the CPU ends up using.
public struct ProbeOutcome: Sendable, Hashable, CustomStringConvertible {
    public let applicability: Applicability
    public let ept: EPTMemoryType?
    public let effective: MemoryType?

    public init(_ d: Decision) {
        applicability = d.applicability
        ept = d.ept
        effective = d.effective
    }

    public var description: String {
        let ept = self.ept.map { "EPT \($0.type.name) IPAT=\($0.ipat ? 1 : 0)" } ?? "no EPT type (\(applicability.rawValue))"
        return "\(ept) -> \(effective?.name ?? "not modelled")"
    }
}

/// The behaviour of one VM config on one placement: the
/// KVM_CAP_DISABLE_QUIRKS2 outcome and the decision at every probe.
public struct Behaviour: Sendable, Hashable {
    public let vm: VMConfig
    public let placement: Placement
    public let quirks: QuirkEvaluation
    /// Why the VM cannot run on this placement at all (a TDX VM on a host
    /// without TDX's prerequisites), or nil.
    public let refusal: String?
    /// The probes (`ProbeSet.probes(for:)`) and their outcomes, in order; empty when refused.
    public let outcomes: [ProbeOutcome]

    public init(vm: VMConfig, on placement: Placement) {
        self.vm = vm
        self.placement = placement
        quirks = placement.quirks(for: vm)
        let probes = ProbeSet.probes(for: vm.type)
        do {
            // The probes' accesses are all valid; only the VM's fit to the host can fail.
            try placement.request(vm, probes[0]).validate()
            refusal = nil
            outcomes = probes.map { ProbeOutcome(DecisionEngine.decide(placement.request(vm, $0))) }
        } catch {
            refusal = error.message
            outcomes = []
        }
    }

    /// KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, mask) fails with EINVAL.
    public var enableCapFails: Bool { quirks.enableCapFails }

    /// The bochs probe's outcome (nil when the VM cannot run here).
    public var bochs: ProbeOutcome? { outcomes.first }

    /// The probes whose outcome differs from `other`'s (both over the same VM type).
    public func differences(from other: Behaviour) -> [(probe: Probe, here: ProbeOutcome, there: ProbeOutcome)] {
        guard refusal == nil, other.refusal == nil, vm.type == other.vm.type else { return [] }
        let probes = ProbeSet.probes(for: vm.type)
        return probes.indices.compactMap { i in
            outcomes[i] == other.outcomes[i] ? nil : (probes[i], outcomes[i], other.outcomes[i])
        }
    }

    /// The same memory types at every probe (and both runnable, or both not).
    public func sameMemoryTypes(as other: Behaviour) -> Bool {
        refusal == other.refusal && outcomes == other.outcomes
    }

    /// Both match: the enable-cap outcome and every probe.
    public func behavesLike(_ other: Behaviour) -> Bool {
        sameMemoryTypes(as: other) && enableCapFails == other.enableCapFails
    }
}

/// What differs between a VM's behaviour before and after a change of placement.
public enum BehaviourChange: String, Sendable, CaseIterable, Comparable {
    /// Some probe gets another EPT type, IPAT or effective type (or the VM
    /// cannot run after).
    case memoryTypes = "memory_types"
    /// The VMM's KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2) fails after, but not before.
    case enableCapFails = "enable_cap_fails"

    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

    /// The changes from `before` to `after`, in `allCases` order; empty when nothing changes.
    public static func between(_ before: Behaviour, _ after: Behaviour) -> [BehaviourChange] {
        var out: [BehaviourChange] = []
        if !before.sameMemoryTypes(as: after) { out.append(.memoryTypes) }
        if after.enableCapFails && !before.enableCapFails { out.append(.enableCapFails) }
        return out
    }
}
