import FleetPlanning
import MemTypeEngine
import Testing

/// The kernel-plan cases issue 14 names, each with its expected `changes`,
/// from the engine alone (the routes' tests repeat some over HTTP).
@Suite struct KernelPlanTests {
    static let spr = HostProfile(cpu: CPUModel(family: 6, model: 0x8F))
    static let noSelfSnoop = HostProfile(selfSnoop: false, cpu: CPUModel(family: 6, model: 0x2D))
    static let baselines: [(name: String, mask: QuirkMask)] = [("legacy-ignore-guest-pat", []), ("honor-guest-pat-2025", .ignoreGuestPAT)]
    static let legacy = VMConfig()
    static let honor = VMConfig(disabledQuirks: .ignoreGuestPAT)

    static func planner(_ host: HostProfile, _ from: String, _ to: String) -> KernelPlanner {
        KernelPlanner(host: host, from: .version(KernelVersion(from)!), to: .version(KernelVersion(to)!), baselines: baselines)
    }

    /// 6.15 -> 6.16 on a self-snoop host: a VM whose mask disables
    /// IGNORE_GUEST_PAT starts honoring guest PAT (its call used to fail
    /// with EINVAL and now succeeds); the legacy baseline keeps the old types.
    @Test func upgradeTo616() {
        var p = Self.planner(Self.spr, "6.15", "6.16")
        let item = p.plan(Self.honor)
        #expect(item.changes == [.memoryTypes])
        #expect(item.before.enableCapFails && !item.after.enableCapFails)
        #expect(item.before.bochs == item.before.outcomes[0])
        #expect(item.before.bochs?.ept?.type == .wb && item.before.bochs?.ept?.ipat == true && item.before.bochs?.effective == .wb)
        #expect(item.after.bochs?.ept?.type == .wb && item.after.bochs?.ept?.ipat == false && item.after.bochs?.effective == .uc)
        #expect(item.action == .baselineMove(baseline: "legacy-ignore-guest-pat", mask: []))
        // A legacy VM does not notice.
        let legacy = p.plan(Self.legacy)
        #expect(legacy.changes.isEmpty)
        #expect(legacy.action == .none)
    }

    /// 6.16 -> 6.15: the honor-guest-pat VM loses its memory types and its
    /// VMM's call starts failing; no 6.15 mask can bring guest PAT back.
    @Test func downgradeTo615() {
        var p = Self.planner(Self.spr, "6.16", "6.15")
        let item = p.plan(Self.honor)
        #expect(item.changes == [.memoryTypes, .enableCapFails])
        #expect(item.after.quirks.refused == .ignoreGuestPAT)
        guard case .cannotKeep(let why) = item.action else { Issue.record("expected cannot_keep, got \(item.action)"); return }
        #expect(why.contains("no IGNORE_GUEST_PAT quirk"))
        #expect(p.plan(Self.legacy).changes.isEmpty)
    }

    /// A host without self-snoop: IGNORE_GUEST_PAT is forced on, so the
    /// honor-guest-pat VM's call fails with EINVAL before and after the
    /// upgrade (no change), and the legacy baseline is the mask that succeeds.
    @Test func hostWithoutSelfSnoop() {
        var p = Self.planner(Self.noSelfSnoop, "6.15", "6.16")
        let item = p.plan(Self.honor)
        #expect(item.changes.isEmpty)
        #expect(item.after.enableCapFails)
        #expect(item.after.quirks.ignoreGuestPAT.state == .forcedOn)
        #expect(item.after.bochs?.effective == .wb)
        #expect(item.action == .baselineMove(baseline: "legacy-ignore-guest-pat", mask: []))
    }

    /// A TDX VM: tdx_vm_init() force-disables IGNORE_GUEST_PAT on 6.16, so
    /// shared memory starts honoring guest PAT and no mask prevents it.
    @Test func tdxVM() {
        var p = Self.planner(Self.spr, "6.15", "6.16")
        let item = p.plan(VMConfig(type: .tdx))
        #expect(item.changes == [.memoryTypes])
        #expect(item.after.bochs?.effective == .uc)
        // Private GPAs stay WB either way; they are probed too.
        #expect(item.after.outcomes.contains { $0.applicability == .tdxPrivate })
        guard case .cannotKeep(let why) = item.action else { Issue.record("expected cannot_keep, got \(item.action)"); return }
        #expect(why.contains("tdx_vm_init"))
    }

    /// Non-coherent DMA honors guest PAT on 6.15 and on 6.16 alike: no change.
    /// From 6.10 (guest MTRRs and CR0.CD honored) it changes.
    @Test func noncoherentDMA() {
        let vm = VMConfig(noncoherentDMA: true)
        var p = Self.planner(Self.spr, "6.15", "6.16")
        let item = p.plan(vm)
        #expect(item.changes.isEmpty)
        #expect(item.after.bochs?.effective == .uc)
        var fromB = Self.planner(Self.spr, "6.10", "6.16")
        let b = fromB.plan(vm)
        #expect(b.changes == [.memoryTypes])
        #expect(b.action.kind == "cannot_keep")
    }

    /// One planner answers each distinct config once.
    @Test func plansAreMemoized() {
        var p = Self.planner(Self.spr, "6.15", "6.16")
        let a = p.plan(Self.honor), b = p.plan(Self.honor)
        #expect(a.changes == b.changes && a.before == b.before && a.after == b.after)
    }

    /// A VM that cannot run on the placement (TDX without self-snoop) is refused, not decided.
    @Test func refusedPlacement() {
        let b = Behaviour(vm: VMConfig(type: .tdx), on: Placement(host: Self.noSelfSnoop, kernel: .model(.e)))
        #expect(b.refusal != nil && b.outcomes.isEmpty)
    }

    /// The probe set: RAM and MMIO, six PAT types, CR0.CD clear and set; TDX adds private RAM.
    @Test func probeSet() {
        let regular = ProbeSet.probes(for: .regular)
        #expect(regular.count == 24)
        #expect(regular[0] == BochsProbe.probe)
        #expect(Set(regular.map { $0.vcpu.pat[$0.access.patIndex] }).count == 6)
        #expect(Set(regular.map(\.access.mmio)) == [false, true])
        #expect(Set(regular.map(\.vcpu.cr0CD)) == [false, true])
        #expect(ProbeSet.probes(for: .tdx).count == 36)
    }

    /// CR0.CD matters on models A/B with non-coherent DMA: the probe set sees
    /// a CD_NW_CLEARED change there that a CR0.CD-clear probe would miss.
    @Test func cr0CDProbesCatchCDNWCleared() {
        let host = Placement(host: Self.spr, kernel: .version(KernelVersion("6.6")!))
        let on = Behaviour(vm: VMConfig(noncoherentDMA: true), on: host)
        let off = Behaviour(vm: VMConfig(disabledQuirks: .cdNwCleared, noncoherentDMA: true), on: host)
        #expect(!on.sameMemoryTypes(as: off))
        #expect(on.differences(from: off).allSatisfy { $0.probe.vcpu.cr0CD })
    }
}

extension PlanAction: CustomStringConvertible {
    public var description: String { kind + ": " + detail }
}
