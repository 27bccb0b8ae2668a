import FleetPlanning
import MemTypeEngine
import Testing

@Suite struct PlacementTests {
    static let spr616 = Placement(host: HostProfile(cpu: CPUModel(family: 6, model: 0x8F)), kernel: .version(KernelVersion("6.16")!))
    static let noSS616 = Placement(host: HostProfile(selfSnoop: false), kernel: .version(KernelVersion("6.16")!))
    static let spr615 = Placement(host: HostProfile(cpu: CPUModel(family: 6, model: 0x8F)), kernel: .version(KernelVersion("6.15")!))

    /// A VM honoring guest PAT cannot move to a host without self-snoop:
    /// its VMM's call fails there with EINVAL and guest PAT is ignored.
    @Test func honorGuestPATToHostWithoutSelfSnoop() {
        let vm = VMConfig(disabledQuirks: .ignoreGuestPAT)
        let v = PlacementVerdict(home: Behaviour(vm: vm, on: Self.spr616), there: Behaviour(vm: vm, on: Self.noSS616))
        #expect(!v.compatible)
        #expect(v.changes == [.memoryTypes, .enableCapFails])
        #expect(v.reasons.contains { $0.contains("EINVAL") && $0.contains("self-snoop") })
    }

    /// A legacy VM behaves the same on either.
    @Test func legacyVMMovesFreely() {
        let v = PlacementVerdict(home: Behaviour(vm: VMConfig(), on: Self.spr616), there: Behaviour(vm: VMConfig(), on: Self.noSS616))
        #expect(v.compatible)
        #expect(v.changes.isEmpty)
        #expect(v.reasons.count == 1)
    }

    /// Same memory types but a call that fails there is not compatible.
    @Test func failingCallIsIncompatible() {
        // On 6.15 the honor VM's call fails; on a 6.15 host it fails too: same behaviour, still not compatible.
        let vm = VMConfig(disabledQuirks: .ignoreGuestPAT)
        let v = PlacementVerdict(home: Behaviour(vm: vm, on: Self.spr615), there: Behaviour(vm: vm, on: Self.spr615))
        #expect(v.changes.isEmpty)
        #expect(!v.compatible)
    }
}
