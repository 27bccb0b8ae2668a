import MemTypeEngine

/// A named, versioned set of quirk defaults, like a QEMU versioned machine
/// type (`pc-q35-9.2`). A VM is created under one baseline and its record
/// keeps that baseline's name *and* the resolved quirk mask, so neither a new
/// default nor a later edit of this catalogue changes an existing VM. Moving a
/// VM to another baseline is an explicit, recorded change (`HistoryAction.baselineMove`).
///
/// Catalogue rules (the same ones QEMU follows for machine types):
/// - a published entry's mask never changes: a new default is a new entry;
/// - old entries are marked `deprecated` (no new VMs, no moves onto them) and
///   are not removed while records may name them. Records load without the
///   catalogue anyway, since each stores its mask.
public struct Baseline: Sendable, Hashable, Identifiable, CustomStringConvertible {
    /// Stable identifier stored in VM records (same charset as VM ids).
    public let name: String
    public let description: String
    /// The quirks a VM created under this baseline asks KVM to disable
    /// (`KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, mask)`). A quirk not in the
    /// mask is kept enabled: its legacy behaviour stays in force.
    public let disabledQuirks: QuirkMask
    /// Deprecated baselines cannot be chosen for new VMs or moved onto.
    public let deprecated: Bool

    public var id: String { name }

    public init(name: String, description: String, disabledQuirks: QuirkMask, deprecated: Bool = false) {
        self.name = name
        self.description = description
        self.disabledQuirks = disabledQuirks
        self.deprecated = deprecated
    }

    /// What this baseline asks for `quirk`.
    public func choice(for quirk: Quirk) -> QuirkChoice {
        disabledQuirks.contains(quirk) ? .disable : .keepEnabled
    }

    /// Guest PAT ignored (EPT WB with IPAT for ordinary memory), as every VM
    /// behaved before Linux 6.16 made it a quirk: IGNORE_GUEST_PAT and
    /// CD_NW_CLEARED both kept enabled, nothing disabled.
    public static let legacyIgnoreGuestPAT = Baseline(
        name: "legacy-ignore-guest-pat",
        description: "Guest PAT ignored, as every VM before 6.16 behaved: IGNORE_GUEST_PAT and CD_NW_CLEARED kept enabled",
        disabledQuirks: []
    )

    /// Honors guest PAT where the host allows it (Intel with EPT and
    /// self-snoop, kernel 6.16+ or the 6.12.y backport): disables
    /// IGNORE_GUEST_PAT; CD_NW_CLEARED kept enabled. Only for guests whose
    /// drivers map framebuffers correctly (bochs fix 9388ccf69925, Linux 6.13+).
    public static let honorGuestPAT2025 = Baseline(
        name: "honor-guest-pat-2025",
        description: "Guest PAT honored where the host allows it: IGNORE_GUEST_PAT disabled, CD_NW_CLEARED kept enabled",
        disabledQuirks: .ignoreGuestPAT
    )

    /// Every baseline this build knows, oldest first. Append only.
    public static let catalogue: [Baseline] = [legacyIgnoreGuestPAT, honorGuestPAT2025]

    /// The baseline new VMs get when the request names none.
    ///
    /// It is the legacy one because existing behaviour is the safe default:
    /// it is what KVM itself does with no request (the quirk is on by
    /// default), and honoring guest PAT breaks guests that predate the bochs
    /// fix (Linux < 6.13 maps the `-device VGA`/`bochs-display` framebuffer
    /// UC-, which becomes UC and ~23x slower stores on Sapphire Rapids and
    /// Cascade Lake; GDM restarts endlessly). Honoring guest PAT is an explicit
    /// per-VM choice (`honor-guest-pat-2025`) by someone who knows the guest.
    public static let current: Baseline = legacyIgnoreGuestPAT

    /// The catalogue entry with this name.
    public static func named(_ name: String) -> Baseline? {
        catalogue.first { $0.name == name }
    }
}

/// A per-VM quirk decision, stored explicitly: never "whatever today's default is".
public enum QuirkChoice: String, Sendable, Hashable, CaseIterable {
    /// Leave the quirk enabled: the legacy behaviour stays in force.
    case keepEnabled = "keep_enabled"
    /// Ask KVM to disable it (a bit in the KVM_CAP_DISABLE_QUIRKS2 mask).
    case disable
}
