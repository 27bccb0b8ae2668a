import ASCII
import MemTypeEngine

/// The QEMU display devices Linux's bochs DRM driver drives.
///
/// QEMU's `VGA` (`-vga std`), `secondary-vga` and `bochs-display` all
/// present PCI 1234:1111 (hw/display/vga-pci.c, hw/display/bochs-display.c),
/// the id drivers/gpu/drm/tiny/bochs.c binds to. Names compare without case
/// (libvirt writes `vga`); `std` (QEMU's `-vga std`) and `bochs` (libvirt's
/// `<model type='bochs'/>`) are accepted as the same devices.
public enum BochsDevices {
    public static let names = ["VGA", "bochs-display", "secondary-vga", "std", "bochs"]

    /// The devices of `displayDevices` the bochs driver binds to, as stored.
    public static func matching(_ displayDevices: [String]) -> [String] {
        displayDevices.filter { d in names.contains { $0.equalsIgnoringASCIICase(d) } }
    }
}

/// Whether a guest's bochs driver has the fix, and how we know.
///
/// The fix is 9388ccf69925 ("drm/bochs: use devm_ioremap_wc() to map
/// framebuffer"), first released in Linux 6.13. Assumption: a guest kernel
/// string is read as the upstream version it starts with (`5.14.0-427.el9`
/// is 5.14, `6.8.0-45-generic` is 6.8); a vendor kernel that backported the
/// fix is therefore taken to lack it, which errs toward warning. The VM
/// record's `guest_bochs_fix` overrides the inference either way.
public enum GuestDriverStatus: Sendable, Hashable {
    /// The guest kernel is 6.13 or later.
    case fixedByVersion(KernelVersion)
    /// The guest kernel predates 6.13.
    case predatesFix(KernelVersion)
    /// No (parsable) guest kernel is recorded: taken to lack the fix.
    case unknown
    /// The VM record says so (`guest_bochs_fix`).
    case declared(Bool)

    public static let fixedIn = KernelVersion(major: 6, minor: 13)
    public static let fixCommit = "9388ccf69925 drm/bochs: use devm_ioremap_wc() to map framebuffer (Linux 6.13)"

    public init(guestKernel: String?, declaredFix: Bool?) {
        if let declaredFix {
            self = .declared(declaredFix)
        } else if let text = guestKernel, let version = KernelVersion(text) {
            self = version >= Self.fixedIn ? .fixedByVersion(version) : .predatesFix(version)
        } else {
            self = .unknown
        }
    }

    public var hasFix: Bool {
        switch self {
        case .fixedByVersion: true
        case .predatesFix, .unknown: false
        case .declared(let fixed): fixed
        }
    }

    public var explanation: String {
        switch self {
        case .fixedByVersion(let v): "guest kernel \(v) has the bochs driver fix \(Self.fixCommit)"
        case .predatesFix(let v):
            "guest kernel \(v) predates the bochs driver fix \(Self.fixCommit): its framebuffer is mapped UC- (vendor kernels are read by their upstream version; set guest_bochs_fix: true if this one carries a backport)"
        case .unknown:
            "the guest kernel is not recorded, so its bochs driver is taken to predate \(Self.fixCommit) (set guest_kernel, or guest_bochs_fix)"
        case .declared(true): "the VM record says the guest's bochs driver has \(Self.fixCommit) (guest_bochs_fix: true)"
        case .declared(false): "the VM record says the guest's bochs driver lacks \(Self.fixCommit) (guest_bochs_fix: false)"
        }
    }
}

/// What a VM record says about its guest's display, as the bochs risk reads it.
public struct GuestDisplay: Sendable, Hashable {
    public var displayDevices: [String]
    public var guestKernel: String?
    public var bochsFix: Bool?

    public init(displayDevices: [String], guestKernel: String?, bochsFix: Bool?) {
        self.displayDevices = displayDevices
        self.guestKernel = guestKernel
        self.bochsFix = bochsFix
    }
}

/// The bochs risk of one VM on its placement: a display device the bochs
/// driver drives, a guest driver without the fix, and a host and config
/// under which the framebuffer access (`BochsProbe`) is anything but WB.
public struct BochsRisk: Sendable, Hashable {
    public enum Severity: String, Sendable {
        /// The host CPU is one with known slow UC (`CPUModel.hasKnownSlowUC`).
        case high
        case medium
    }

    /// A way out, in preference order.
    public enum Fix: Sendable, Hashable {
        /// Keep or restore a baseline that ignores guest PAT for this VM.
        case baseline(String)
        /// Upgrade the guest kernel to one with the driver fix.
        case upgradeGuestKernel

        public var kind: String {
            switch self {
            case .baseline: "baseline"
            case .upgradeGuestKernel: "upgrade_guest_kernel"
            }
        }

        public var detail: String {
            switch self {
            case .baseline(let name):
                "keep or restore baseline \(name): KVM then ignores guest PAT for this VM's RAM and the framebuffer is WB"
            case .upgradeGuestKernel:
                "upgrade the guest kernel to \(GuestDriverStatus.fixedIn) or later (or one carrying \(GuestDriverStatus.fixCommit), then set guest_bochs_fix: true)"
            }
        }
    }

    public let severity: Severity
    public let devices: [String]
    public let driver: GuestDriverStatus
    public let probe: ProbeOutcome
    public let reasons: [String]
    public let fixes: [Fix]

    public static let code = "bochs_uc_framebuffer"

    /// The risk of `vm` with `guest` on `placement`, or nil when there is
    /// none. `legacy` is the baseline (name, mask) that ignores guest PAT,
    /// offered as a fix when it makes the probe WB.
    public static func assess(_ vm: VMConfig, guest: GuestDisplay, on placement: Placement,
                              legacy: (name: String, mask: QuirkMask)) -> BochsRisk? {
        let devices = BochsDevices.matching(guest.displayDevices)
        guard !devices.isEmpty else { return nil }
        let driver = GuestDriverStatus(guestKernel: guest.guestKernel, declaredFix: guest.bochsFix)
        guard !driver.hasFix else { return nil }
        let request = placement.request(vm, BochsProbe.probe)
        guard (try? request.validate()) != nil else { return nil }
        let decision = DecisionEngine.decide(request)
        guard let effective = decision.effective, effective != .wb else { return nil }
        let probe = ProbeOutcome(decision)

        let cpu = placement.host.cpu
        let severity: Severity = cpu?.hasKnownSlowUC == true ? .high : .medium
        let kernel = placement.kernel.version.map { "kernel \($0), " } ?? ""
        var reasons = [
            "display device \(devices.joined(separator: ", ")) is driven by Linux's bochs DRM driver (QEMU VGA, secondary-vga and bochs-display are all PCI 1234:1111)",
            driver.explanation,
            "on its host (\(kernel)model \(placement.model.rawValue)) the \(BochsProbe.description) gets \(probe): \(why(decision))",
        ]
        if let cpu, severity == .high {
            reasons.append("the host CPU (family \(cpu.family), model \(String(format0x: UInt64(cpu.model)))) has known slow UC: stores ~20x slower than WB, the GDM restart loop")
        } else {
            reasons.append(cpu == nil ? "the host CPU is not recorded, so its UC speed is unknown" : "the host CPU has no known slow UC, but a UC framebuffer is still slower than WB")
        }

        var fixes: [Fix] = []
        var onLegacy = vm
        onLegacy.disabledQuirks = legacy.mask
        let legacyRequest = placement.request(onLegacy, BochsProbe.probe)
        if DecisionEngine.decide(legacyRequest).effective == .wb { fixes.append(.baseline(legacy.name)) }
        fixes.append(.upgradeGuestKernel)
        return BochsRisk(severity: severity, devices: devices, driver: driver, probe: probe, reasons: reasons, fixes: fixes)
    }

    /// Which rule made the probe honor the guest's UC-.
    private static func why(_ d: Decision) -> String {
        if d.quirks.ignoreGuestPAT.state == .disabled {
            return "IGNORE_GUEST_PAT is disabled (" + d.quirks.ignoreGuestPAT.reason.explanation + ")"
        }
        if d.applicability == .npt { return "AMD NPT always honors guest PAT" }
        let step = d.trace.first { ![.patIndex4K, .patIndexHuge, .ipatIdentity, .table11_7].contains($0) }
        return "KVM honors guest PAT here (" + (step?.summary ?? d.model.title) + ")"
    }
}
