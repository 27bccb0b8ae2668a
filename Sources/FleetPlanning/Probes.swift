import MemTypeEngine

/// One guest access under one vCPU state: a point at which two placements
/// of a VM are compared.
public struct Probe: Sendable, Hashable, CustomStringConvertible {
    public let vcpu: VCPUState
    public let access: GuestAccess

    public init(vcpu: VCPUState, access: GuestAccess) {
        self.vcpu = vcpu
        self.access = access
    }

    public var description: String {
        let memory = access.tdxPrivate ? "private RAM" : access.mmio ? "MMIO" : "RAM"
        let patType = vcpu.pat[access.patIndex].name
        return "\(memory) at \(String(format0x: access.gpa)) through Linux PAT entry \(access.patIndex.value) (\(patType)), CR0.CD \(vcpu.cr0CD ? "set" : "clear")"
    }
}

/// The fixed probe set over which two placements of a VM are compared.
///
/// Why these reach every rule a stored VM's config can reach: the rules of
/// `vmx_get_mt_mask()` (all models, `DecisionEngine.decide`) read, besides the
/// host and the kernel, only whether the page is MMIO, the VM's quirks,
/// non-coherent DMA and type (stored, fixed per VM), guest CR0.CD (models A
/// and B) and, for models A and B with non-coherent DMA, the guest MTRRs;
/// the effective type then reads the guest PAT entry. So: RAM and MMIO, each
/// of the six PAT types (Linux's PAT holds all six: entries 0 WB, 1 WC, 2
/// UC-, 3 UC, 5 WP, 7 WT), CR0.CD clear and set, and for a TDX VM shared
/// and private GPAs. The guest MTRRs are not stored with a VM: the probes
/// use the vCPU's reset MTRRs (disabled, which KVM reads as UC when CPUID
/// has MTRR), the state a guest has until its firmware programs them.
public enum ProbeSet {
    /// The Linux PAT entries that hold each PAT type once.
    static let patEntries: [Int] = [0, 1, 2, 3, 5, 7]

    /// The probes for a VM of `type`, in a fixed order; the first is the bochs probe.
    public static func probes(for type: VMType) -> [Probe] {
        var out = [BochsProbe.probe]
        for privateGPA in type == .tdx ? [false, true] : [false] {
            for mmio in [false, true] where !(privateGPA && mmio) {
                for cd in [false, true] {
                    for entry in patEntries {
                        var access = GuestAccess(gpa: BochsProbe.access.gpa, mmio: mmio, patIndex: PATIndex(entry)!)
                        access.tdxPrivate = privateGPA
                        let probe = Probe(vcpu: VCPUState(cr0CD: cd, pat: .linux), access: access)
                        if probe != BochsProbe.probe { out.append(probe) }
                    }
                }
            }
        }
        return out
    }
}

/// The bochs framebuffer probe: RAM-backed VRAM at 0xfd000000 (QEMU's
/// `VGA`/`bochs-display` BAR 0, 16 MiB; RAM, so not MMIO for KVM) mapped
/// through Linux PAT entry 2 (UC-), which is what a guest whose bochs DRM
/// driver predates 9388ccf69925 ("drm/bochs: use devm_ioremap_wc() to map
/// framebuffer", Linux 6.13) gets for it: its `ioremap()` reserves the BAR
/// UC-, and TTM's later `ioremap_wc()` is given that UC- reservation.
/// Anything but an effective WB here is the slow framebuffer.
public enum BochsProbe {
    public static let access = GuestAccess(gpa: 0xFD00_0000, patIndex: PATIndex(2)!)
    public static let pat = PAT.linux
    public static let probe = Probe(vcpu: VCPUState(pat: pat), access: access)
    public static let description = "bochs framebuffer: RAM at 0xfd000000 mapped through Linux PAT entry 2 (UC-)"
}
