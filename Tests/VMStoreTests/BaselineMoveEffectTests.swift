import MemTypeEngine
import Testing
import VMStore

/// `BaselineMoveEffect`: what a baseline move changes for decisions, from
/// the engine alone.
@Suite struct BaselineMoveEffectTests {
    let spr616 = HostSpec(cpu: CPUModel(family: 6, model: 0x8F), kernel: "6.16")

    /// Honoring guest PAT on 6.16 (IGNORE_GUEST_PAT disabled): the bochs
    /// probe (UC- through PAT entry 2) goes from WB with IPAT to UC-.
    @Test func disablingIgnoreGuestPATOn616ChangesTheProbe() {
        let e = BaselineMoveEffect(before: VMConfig(), after: VMConfig(disabledQuirks: .ignoreGuestPAT), host: spr616)
        #expect(e.selection.model == .e)
        #expect(e.memoryTypesChange)
        #expect(e.probeBefore.ept?.type == .wb && e.probeBefore.ept?.ipat == true)
        #expect(e.probeAfter.ept?.ipat == false)
        #expect(e.probeAfter.effective != e.probeBefore.effective)
        #expect(e.quirksBefore.ignoreGuestPAT.state == .enabled)
        #expect(e.quirksAfter.ignoreGuestPAT.state == .disabled)
    }

    /// Before 6.16 there is no quirk to disable: KVM refuses the request and
    /// no memory type changes.
    @Test func theSameMoveOn66ChangesNoMemoryType() {
        let e = BaselineMoveEffect(before: VMConfig(), after: VMConfig(disabledQuirks: .ignoreGuestPAT),
                                   host: HostSpec(kernel: "6.6"))
        #expect(!e.memoryTypesChange)
        #expect(e.probeBefore.ept == e.probeAfter.ept)
        #expect(e.quirksAfter.enableCapFails)
    }

    @Test func noMoveNoChange() {
        let e = BaselineMoveEffect(before: VMConfig(), after: VMConfig(), host: spr616)
        #expect(!e.memoryTypesChange)
    }

    /// The probe is the request the effect documents.
    @Test func theProbeIsTheBochsFramebuffer() {
        let r = spr616.decisionRequest(VMConfig(), vcpu: VCPUState(pat: BaselineMoveEffect.probePAT), access: BaselineMoveEffect.probeAccess)
        #expect(r.access.gpa == 0xFD00_0000)
        #expect(r.vcpu.pat[r.access.patIndex] == .ucMinus)
    }
}
