import ASCII

/// A KVM x86 quirk: a legacy behaviour KVM keeps by default and userspace may
/// turn off with `KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2, mask)`.
/// The raw value is the bit number in `arch/x86/include/uapi/asm/kvm.h`.
public enum Quirk: Int, Sendable, CaseIterable, Comparable {
    case lint0Reenabled = 0
    case cdNwCleared = 1
    case lapicMMIOHole = 2
    case out7EIncRIP = 3
    case miscEnableNoMWAIT = 4
    case fixHypercallInsn = 5
    case mwaitNeverUDFaults = 6
    case slotZapAll = 7
    case stuffFeatureMSRs = 8
    case ignoreGuestPAT = 9
    /// A 2026 addition; the release that carries it is not pinned.
    case vmcs12AllowFreezeInSMM = 10
    /// A 2026 addition; the release that carries it is not pinned.
    case nestedSVMSharedPAT = 11

    /// The name without the `KVM_X86_QUIRK_` prefix, as in the uapi header.
    public var name: String {
        switch self {
        case .lint0Reenabled: "LINT0_REENABLED"
        case .cdNwCleared: "CD_NW_CLEARED"
        case .lapicMMIOHole: "LAPIC_MMIO_HOLE"
        case .out7EIncRIP: "OUT_7E_INC_RIP"
        case .miscEnableNoMWAIT: "MISC_ENABLE_NO_MWAIT"
        case .fixHypercallInsn: "FIX_HYPERCALL_INSN"
        case .mwaitNeverUDFaults: "MWAIT_NEVER_UD_FAULTS"
        case .slotZapAll: "SLOT_ZAP_ALL"
        case .stuffFeatureMSRs: "STUFF_FEATURE_MSRS"
        case .ignoreGuestPAT: "IGNORE_GUEST_PAT"
        case .vmcs12AllowFreezeInSMM: "VMCS12_ALLOW_FREEZE_IN_SMM"
        case .nestedSVMSharedPAT: "NESTED_SVM_SHARED_PAT"
        }
    }

    /// Accepts `IGNORE_GUEST_PAT` or `KVM_X86_QUIRK_IGNORE_GUEST_PAT`, any case.
    public init?(name: String) {
        guard let found = name.withUTF8Bytes({ Quirk(utf8: $0) }) else { return nil }
        self = found
    }

    /// `init?(name:)` over UTF-8 bytes.
    public init?(utf8 text: UnsafeBufferPointer<UInt8>) {
        let prefix: StaticString = "KVM_X86_QUIRK_"
        let p = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        var bare = text
        if text.count >= p.count, asciiCaseInsensitiveEqual(UnsafeBufferPointer(rebasing: text.prefix(p.count)), p) {
            bare = UnsafeBufferPointer(rebasing: text.dropFirst(p.count))
        }
        // Lengths first: a literal's UTF-8 count costs nothing, its bytes a call.
        for (name, quirk) in Quirk.byName where name.utf8.count == bare.count {
            if name.withUTF8Bytes({ asciiCaseInsensitiveEqual($0, bare) }) {
                self = quirk
                return
            }
        }
        return nil
    }

    /// Built once; `allCases` would build a new array on every call.
    private static let byName = Quirk.allCases.map { ($0.name, $0) }

    public var mask: QuirkMask { QuirkMask(rawValue: 1 << UInt64(rawValue)) }

    public static func < (a: Quirk, b: Quirk) -> Bool { a.rawValue < b.rawValue }
}

/// A set of quirks as the bit mask KVM's ioctls take and return.
public struct QuirkMask: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(_ quirks: some Sequence<Quirk>) {
        self.init(rawValue: quirks.reduce(0) { $0 | $1.mask.rawValue })
    }

    public static let ignoreGuestPAT = Quirk.ignoreGuestPAT.mask
    public static let cdNwCleared = Quirk.cdNwCleared.mask

    /// Every bit this service knows a quirk for (bits 0-11).
    public static let known = QuirkMask(Quirk.allCases)

    public func contains(_ quirk: Quirk) -> Bool { contains(quirk.mask) }

    /// The quirks in bit order.
    public var quirks: [Quirk] { Quirk.allCases.filter { contains($0) } }

    /// The bits no quirk is known for.
    public var unknownBits: UInt64 { rawValue & ~QuirkMask.known.rawValue }
}
