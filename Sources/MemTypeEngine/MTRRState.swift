/// A vCPU's MTRRs as raw MSR values, validated the way KVM's `kvm_mtrr_valid()`
/// (arch/x86/kvm/mtrr.c) validates a WRMSR. Only models A and B read them:
/// KVM stopped virtualizing guest MTRRs in 6.11 (0a7b73559b39).
///
/// KVM reports MTRRcap 0x508: eight variable ranges, fixed ranges and WC supported.
public struct MTRRState: Sendable, Hashable {
    /// The fixed-range MSRs in the order the SDM lists them (and this type stores them).
    public static let fixedMSRs: [UInt32] = [0x250, 0x258, 0x259, 0x268, 0x269, 0x26A, 0x26B, 0x26C, 0x26D, 0x26E, 0x26F]
    /// The SDM's names for the fixed-range MSRs, same order.
    public static let fixedMSRNames: [String] = [
        "MTRRfix64K_00000", "MTRRfix16K_80000", "MTRRfix16K_A0000",
        "MTRRfix4K_C0000", "MTRRfix4K_C8000", "MTRRfix4K_D0000", "MTRRfix4K_D8000",
        "MTRRfix4K_E0000", "MTRRfix4K_E8000", "MTRRfix4K_F0000", "MTRRfix4K_F8000",
    ]
    /// MTRRcap.VCNT as KVM reports it.
    public static let variableCount = 8
    /// MTRRdefType bit 11.
    public static let enableBit: UInt64 = 1 << 11
    /// MTRRdefType bit 10.
    public static let fixedEnableBit: UInt64 = 1 << 10

    /// MSR 0x2FF: type in bits 7:0, FE bit 10, E bit 11.
    public let defType: UInt64
    /// The 11 fixed-range MSRs, in `fixedMSRs` order.
    public let fixed: [UInt64]
    /// PhysBase/PhysMask pairs in register order (at most eight).
    public let variable: [VariableMTRR]
    /// The guest's MAXPHYADDR: bits at and above it are reserved in PhysBase/PhysMask.
    public var maxPhysAddr: Int { Int(packed >> 32) }
    /// KVM's list of the valid variable ranges (`set_var_mtrr_msr()`): the
    /// register numbers three bits each, first visited in the low bits.
    /// Derived from `variable` once, in init, so a lookup walks the list
    /// without sorting or allocating.
    var kvmList: UInt32 { UInt32(truncatingIfNeeded: packed) & 0xFF_FFFF }
    /// How many valid ranges the list holds.
    var kvmListCount: Int { Int(packed >> 24 & 0xF) }
    /// MAXPHYADDR in bits 39:32, the list's count in bits 27:24 and its
    /// order in bits 23:0: one word, so the state stays four words (passed
    /// in registers; every request copies it).
    private let packed: UInt64

    /// The state at vCPU reset: every MSR zero, so MTRRs are disabled.
    public static func reset(maxPhysAddr: Int = 46) -> MTRRState {
        maxPhysAddr == 46 ? resetState46
            : MTRRState(unchecked: 0, fixed: Array(repeating: 0, count: 11), variable: [], maxPhysAddr: maxPhysAddr)
    }

    /// The common default, built once: a request without MTRRs then costs no allocation.
    private static let resetState46 = MTRRState(unchecked: 0, fixed: Array(repeating: 0, count: 11), variable: [], maxPhysAddr: 46)

    private init(unchecked defType: UInt64, fixed: [UInt64], variable: [VariableMTRR], maxPhysAddr: Int) {
        self.defType = defType
        self.fixed = fixed
        self.variable = variable
        let (order, count) = MTRRState.kvmListOrder(variable)
        packed = UInt64(maxPhysAddr) << 32 | UInt64(count) << 24 | UInt64(order)
    }

    /// The order KVM v4.2-v6.10 visits the valid variable ranges in
    /// (arch/x86/kvm/mtrr.c): `set_var_mtrr_msr()` inserts a range that
    /// becomes valid before the first list entry whose PhysBase is less than
    /// or equal to its own, so the list runs by descending PhysBase. KVM
    /// compares the whole MSR value, base address and type byte together,
    /// so ranges with one base address are ordered by type code (WB 6
    /// first, UC 0 last), whatever order the guest wrote them in.
    ///
    /// Only identical PhysBase values (same base, same type) tie; there the
    /// register written last comes first. The request does not say which
    /// that was: registers are taken as written in ascending order (as
    /// firmware programs them, each pair base then mask), so the higher
    /// register comes first. The tie cannot change a type, since the tied
    /// ranges have the same one; only which register an answer names.
    static func kvmListOrder(_ variable: [VariableMTRR]) -> (UInt32, Int) {
        var packed: UInt32 = 0, count = 0
        for (n, range) in variable.enumerated() where range.valid {
            // Position of the first entry whose PhysBase is <= this one's.
            var position = 0
            while position < count, variable[Int(packed >> (3 * UInt32(position)) & 7)].physBase > range.physBase {
                position += 1
            }
            let shift = 3 * UInt32(position)
            let below = packed & ((1 << shift) - 1)
            let above = shift >= 24 ? 0 : packed >> shift
            packed = below | UInt32(n) << shift | above << (shift + 3)
            count += 1
        }
        return (packed, count)
    }

    /// Validates every MSR as KVM's WRMSR path would.
    ///
    /// - Parameters:
    ///   - fixed: the 11 fixed-range MSRs (fewer: the rest are zero, as at reset).
    ///   - variable: at most eight PhysBase/PhysMask pairs.
    public init(defType: UInt64, fixed: [UInt64] = [], variable: [VariableMTRR] = [], maxPhysAddr: Int = 46) throws(MTRRError) {
        guard MTRRState.maxPhysAddrRange.contains(maxPhysAddr) else {
            throw MTRRError(field: .maxPhysAddr, message: "MAXPHYADDR must be between \(MTRRState.maxPhysAddrRange.lowerBound) and \(MTRRState.maxPhysAddrRange.upperBound), got \(maxPhysAddr)")
        }
        // MTRRdefType: only bits 7:0, 10 and 11 are defined (`data & ~0xcff`).
        if defType & ~0xCFF != 0 {
            throw MTRRError(field: .defType, message: String(format0x: defType) + " sets reserved bits (only 7:0, 10 and 11 are defined)")
        }
        if let bad = MTRRState.invalidType(defType & 0xFF) {
            throw MTRRError(field: .defType, message: "default type \(bad)")
        }
        guard fixed.count <= 11 else {
            throw MTRRError(field: .fixedCount, message: "there are 11 fixed-range MSRs, got \(fixed.count)")
        }
        for (i, value) in fixed.enumerated() {
            for byte in 0..<8 {
                if let bad = MTRRState.invalidType((value >> (8 * UInt64(byte))) & 0xFF) {
                    throw MTRRError(field: .fixed(i), message: "byte \(byte) of \(MTRRState.fixedMSRNames[i]) is \(bad)")
                }
            }
        }
        guard variable.count <= MTRRState.variableCount else {
            throw MTRRError(field: .variableCount, message: "KVM reports \(MTRRState.variableCount) variable ranges (MTRRcap 0x508), got \(variable.count)")
        }
        let reservedGPA: UInt64 = maxPhysAddr >= 64 ? 0 : ~((1 << UInt64(maxPhysAddr)) - 1)
        for (n, range) in variable.enumerated() {
            // PhysBase: bits 11:8 and bits >= MAXPHYADDR are reserved; the type must be valid.
            if let bad = MTRRState.invalidType(range.physBase & 0xFF) {
                throw MTRRError(field: .physBase(n), message: "type \(bad)")
            }
            if range.physBase & (reservedGPA | 0xF00) != 0 {
                throw MTRRError(field: .physBase(n), message: String(format0x: range.physBase)
                    + " sets reserved bits (11:8, or at or above MAXPHYADDR \(maxPhysAddr))")
            }
            // PhysMask: bits 10:0 and bits >= MAXPHYADDR are reserved.
            if range.physMask & (reservedGPA | 0x7FF) != 0 {
                throw MTRRError(field: .physMask(n), message: String(format0x: range.physMask)
                    + " sets reserved bits (10:0, or at or above MAXPHYADDR \(maxPhysAddr))")
            }
        }
        self.init(unchecked: defType, fixed: fixed + Array(repeating: 0, count: 11 - fixed.count), variable: variable, maxPhysAddr: maxPhysAddr)
    }

    /// nil if `code` is a valid MTRR type, else a description of what is wrong with it.
    private static func invalidType(_ code: UInt64) -> String? {
        if let type = MemoryType(code: code) {
            return type.isValidMTRRType ? nil : "7 (UC-), which is not a valid MTRR type"
        }
        return "\(code), which is reserved (valid MTRR types: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB)"
    }

    /// MTRRdefType.E.
    public var enabled: Bool { defType & MTRRState.enableBit != 0 }
    /// MTRRdefType.FE.
    public var fixedEnabled: Bool { defType & MTRRState.fixedEnableBit != 0 }
    /// MTRRdefType bits 7:0 (validated, so never UC- or reserved).
    public var defaultType: MemoryType { MemoryType(code: defType & 0xFF)! }

    /// The physical-address bits a PhysMask compares: 12 .. MAXPHYADDR-1.
    var addressMask: UInt64 { ((1 << UInt64(maxPhysAddr)) - 1) & ~0xFFF }
}

/// One variable-range MTRR pair.
public struct VariableMTRR: Sendable, Hashable {
    /// PhysBase_n (MSR 0x200+2n): base in bits MAXPHYADDR-1:12, type in bits 7:0.
    public let physBase: UInt64
    /// PhysMask_n (MSR 0x201+2n): mask in bits MAXPHYADDR-1:12, valid in bit 11.
    public let physMask: UInt64

    public init(physBase: UInt64, physMask: UInt64) {
        self.physBase = physBase
        self.physMask = physMask
    }

    /// The friendly form: a naturally aligned power-of-two range.
    ///
    /// Throws with `.physBase(index)`/`.physMask(index)` when `size` is not a
    /// power of two of at least 4 KiB, `base` is not aligned to it, or the
    /// range does not fit below 2^MAXPHYADDR.
    public init(index: Int, base: UInt64, size: UInt64, type: MemoryType, maxPhysAddr: Int) throws(MTRRError) {
        guard type.isValidMTRRType else {
            throw MTRRError(field: .physBase(index), message: "type UC- is not a valid MTRR type")
        }
        guard size >= 4096, size & (size - 1) == 0 else {
            throw MTRRError(field: .physMask(index), message: "size \(String(format0x: size)) is not a power of two of at least 4 KiB")
        }
        guard base & (size - 1) == 0 else {
            throw MTRRError(field: .physBase(index), message: "base \(String(format0x: base)) is not aligned to its size \(String(format0x: size))")
        }
        let limit: UInt64 = 1 << UInt64(maxPhysAddr)
        guard size <= limit, base <= limit - size else {
            throw MTRRError(field: .physBase(index), message: "range \(String(format0x: base)) + \(String(format0x: size)) ends above MAXPHYADDR \(maxPhysAddr)")
        }
        physBase = base | UInt64(type.rawValue)
        physMask = (~(size - 1) & (limit - 1)) | (1 << 11)
    }

    /// PhysMask bit 11.
    public var valid: Bool { physMask & (1 << 11) != 0 }

    /// The guest-physical interval [start, end) KVM gives this range
    /// (`var_mtrr_range()` in arch/x86/kvm/mtrr.c): the base with bits 11:0
    /// cleared, to `(start | ~mask) + 1`, the mask taken with bits 11:0
    /// cleared and every bit at and above MAXPHYADDR set (`set_var_mtrr_msr()`
    /// extends it so). KVM reads the mask as if contiguous and does not
    /// align the base: a mask with holes or a base with bits below the
    /// mask's lowest set bit gives an interval the SDM's
    /// `(address & mask) == (base & mask)` test would not. `end` is at most
    /// 2^MAXPHYADDR for validated values, so it cannot overflow.
    public func kvmInterval(maxPhysAddr: Int) -> (start: UInt64, end: UInt64) {
        let start = physBase & ~0xFFF
        let mask = (physMask | ~((1 << UInt64(maxPhysAddr)) - 1)) & ~0xFFF
        return (start, (start | ~mask) &+ 1)
    }

    /// The SDM's test (Vol. 3A 11.11.2.3): a page at `address` is in the
    /// range when `(address & mask) == (base & mask)` over bits
    /// 12..MAXPHYADDR-1. What the hardware and the guest's own kernel use.
    public func sdmContains(_ address: UInt64, maxPhysAddr: Int) -> Bool {
        let mask = physMask & ((1 << UInt64(maxPhysAddr)) - 1) & ~0xFFF
        return address & mask == physBase & mask
    }
    /// PhysBase bits 7:0 (validated when part of an `MTRRState`).
    public var type: MemoryType? { MemoryType(code: physBase & 0xFF) }
}

/// Which MTRR input a validation error is about.
public enum MTRRField: Sendable, Hashable {
    case defType
    case fixedCount
    case fixed(Int)
    case variableCount
    case physBase(Int)
    case physMask(Int)
    case maxPhysAddr
}

/// An MTRR value KVM would refuse (its WRMSR fails, injecting #GP).
public struct MTRRError: Error, Sendable, Hashable, CustomStringConvertible {
    public let field: MTRRField
    public let message: String
    public var description: String { message }
}

extension String {
    /// `0x` followed by lowercase hex digits.
    public init(format0x value: UInt64) {
        // Written in place: values up to 13 hex digits fit a small string and never allocate.
        let digits = Swift.max(1, (64 - value.leadingZeroBitCount + 3) / 4)
        self.init(unsafeUninitializedCapacity: 2 + digits) { buffer in
            buffer[0] = UInt8(ascii: "0")
            buffer[1] = UInt8(ascii: "x")
            var v = value
            for i in stride(from: digits + 1, through: 2, by: -1) {
                let nibble = UInt8(v & 0xF)
                buffer[i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                v >>= 4
            }
            return 2 + digits
        }
    }
}
