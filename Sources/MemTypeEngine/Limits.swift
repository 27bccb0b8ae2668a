/// The ranges the engine's inputs can take: one home for each bound, which
/// the request decoders (tree, byte scanner, query), the VM store's wire
/// layer and validation, and openapi.yaml all follow (`LimitsTests`
/// compares openapi.yaml's bounds with these constants).

extension CPUModel {
    /// The display family CPUID leaf 1 reports (SDM Vol. 2A, CPUID, "Version
    /// Information": EAX[11:8] is the family ID; only when it is 0xF is the
    /// extended family EAX[27:20], 8 bits, added to it). So the largest is
    /// 0xF + 0xFF = 0x10E (270). No CPU with CPUID reports family 0 (the
    /// 486 was the first, family 4), so 0 is refused as a typo. The
    /// `0x10FF`/`0xFFFF` bounds this replaces had no such source: they read
    /// the two fields as if concatenated.
    public static let familyRange: ClosedRange<Int> = 1...0x10E
    /// The display model: EAX[7:4], with the extended model EAX[19:16] as
    /// its high nibble for families 6 and 0xF.
    public static let modelRange: ClosedRange<Int> = 0...0xFF
    /// EAX[3:0].
    public static let steppingRange: ClosedRange<Int> = 0...0xF
}

extension MTRRState {
    /// MAXPHYADDR (CPUID 0x80000008 EAX[7:0]) the engine models: 36 bits on
    /// the oldest x86-64 parts, 52 the architectural maximum (SDM Vol. 3A,
    /// 4.1.4).
    public static let maxPhysAddrRange: ClosedRange<Int> = 36...52
    /// What a request that does not say gets: 46, common on server parts.
    public static let defaultMaxPhysAddr = 46
}

extension PATIndex {
    /// The eight PAT entries, selected by PAT:PCD:PWT.
    public static let range: ClosedRange<Int> = 0...7
}

extension QuirkMask {
    /// The most quirk names a mask given as a list may hold (one per bit
    /// of the 64-bit mask).
    public static let maxNames = 64
}
