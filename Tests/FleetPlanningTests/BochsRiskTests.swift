import FleetPlanning
import MemTypeEngine
import Testing

@Suite struct BochsRiskTests {
    static let legacy = (name: "legacy-ignore-guest-pat", mask: QuirkMask())
    static let spr616 = Placement(host: HostProfile(cpu: CPUModel(family: 6, model: 0x8F)), kernel: .version(KernelVersion("6.16")!))
    static let skx616 = Placement(host: HostProfile(cpu: CPUModel(family: 6, model: 0x55, stepping: 4)), kernel: .version(KernelVersion("6.16")!))
    static let honor = VMConfig(disabledQuirks: .ignoreGuestPAT)

    static func assess(_ vm: VMConfig, _ devices: [String], _ kernel: String?, fix: Bool? = nil,
                       on placement: Placement = spr616) -> BochsRisk? {
        BochsRisk.assess(vm, guest: GuestDisplay(displayDevices: devices, guestKernel: kernel, bochsFix: fix), on: placement, legacy: legacy)
    }

    /// Issue 14's new user: VGA, guest 6.1, honor-guest-pat, Sapphire Rapids on 6.16.
    @Test func theNewUsersVM() throws {
        let risk = try #require(Self.assess(Self.honor, ["VGA"], "6.1"))
        #expect(risk.severity == .high)
        #expect(risk.devices == ["VGA"])
        #expect(risk.probe.effective == .uc)
        #expect(risk.fixes == [.baseline("legacy-ignore-guest-pat"), .upgradeGuestKernel])
        #expect(risk.reasons.count == 4)
    }

    @Test func mediumWithoutKnownSlowUC() throws {
        #expect(try #require(Self.assess(Self.honor, ["bochs-display"], nil, on: Self.skx616)).severity == .medium)
    }

    /// A guest kernel new enough has the fix; so does one the record declares fixed.
    @Test(arguments: ["6.13", "6.13.2", "v6.18.1", "7.0"])
    func newEnoughGuest(kernel: String) {
        #expect(Self.assess(Self.honor, ["VGA"], kernel) == nil)
    }

    @Test(arguments: ["5.14.0-427.el9.x86_64", "6.8.0-45-generic", "6.12.40", "6.13-rc7"])
    func vendorAndOldGuestsPredateTheFix(kernel: String) throws {
        let risk = try #require(Self.assess(Self.honor, ["VGA"], kernel))
        guard case .predatesFix = risk.driver else { Issue.record("\(risk.driver)"); return }
    }

    @Test func theRecordOverridesTheVersion() {
        #expect(Self.assess(Self.honor, ["VGA"], "5.14.0-427.el9.x86_64", fix: true) == nil)
        #expect(Self.assess(Self.honor, ["VGA"], "6.14", fix: false) != nil)
    }

    /// No bochs device, or a legacy VM on a host that ignores guest PAT: no risk.
    @Test func noRisk() {
        #expect(Self.assess(Self.honor, ["virtio-gpu", "cirrus-vga"], "6.1") == nil)
        #expect(Self.assess(VMConfig(), ["VGA"], "6.1") == nil)
    }

    /// Device names as libvirt and QEMU spell them.
    @Test func deviceNames() {
        #expect(BochsDevices.matching(["vga", "secondary-vga", "std", "Bochs", "virtio-vga", "isa-vga"]) == ["vga", "secondary-vga", "std", "Bochs"])
    }

    /// Non-coherent DMA honors guest PAT whatever the baseline: the legacy
    /// baseline is then no fix, only the guest kernel is.
    @Test func noncoherentDMAOnTheLegacyBaseline() throws {
        let risk = try #require(Self.assess(VMConfig(noncoherentDMA: true), ["VGA"], "6.1"))
        #expect(risk.fixes == [.upgradeGuestKernel])
    }

    /// A TDX VM on 6.16 honors guest PAT for shared memory: at risk.
    @Test func tdxVM() throws {
        let risk = try #require(Self.assess(VMConfig(type: .tdx), ["VGA"], nil))
        #expect(risk.driver == .unknown)
        #expect(risk.fixes == [.upgradeGuestKernel])
    }
}
