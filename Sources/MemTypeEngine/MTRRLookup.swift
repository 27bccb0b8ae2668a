/// Which MTRR rule produced a page's type, mirroring the branches of KVM's
/// `kvm_mtrr_get_guest_memory_type()` (arch/x86/kvm/mtrr.c, up to v6.10).
public enum MTRRSource: Sendable, Hashable {
    /// MTRRdefType.E clear: UC when the guest's CPUID has MTRR, else WB (KVM's
    /// choice; the SDM says UC). `mtrr_disabled_type()`.
    case disabled(cpuidMTRR: Bool)
    /// FE set and the page below 1 MiB: a byte of a fixed-range MSR; variable
    /// ranges are not consulted.
    case fixed(msr: Int, byte: Int)
    /// One variable range matched (or several, all of the same type).
    case variable(first: Int)
    /// A UC range met a range of another type: UC at once.
    case variableUCWins(range: Int)
    /// WT and WB ranges overlap: WT.
    case variableWTOverWB(range: Int)
    /// Any other mix, undefined in the SDM: KVM returns WB at once (Xen keeps the last).
    case variableUndefinedMix(range: Int)
    /// No variable range matched: MTRRdefType's type.
    case defaultType
}

/// A page's guest MTRR type and the rule that gave it.
public struct MTRRLookup: Sendable, Hashable {
    public let type: MemoryType
    public let source: MTRRSource
}

/// A maximal run of pages of one MTRR type.
public struct MTRRRun: Sendable, Hashable {
    public let start: UInt64
    /// Exclusive.
    public let end: UInt64
    public let type: MemoryType
}

extension MTRRState {
    /// The type KVM gives the 4 KiB guest page containing `gpa`
    /// (`kvm_mtrr_get_guest_memory_type()`).
    public func lookup(gpa: UInt64, cpuidMTRR: Bool) -> MTRRLookup {
        // 1. MTRRs disabled.
        guard enabled else {
            return MTRRLookup(type: cpuidMTRR ? .uc : .wb, source: .disabled(cpuidMTRR: cpuidMTRR))
        }
        // 2. Fixed ranges take precedence below 1 MiB.
        if fixedEnabled, let (msr, byte) = MTRRState.fixedSlot(gpa) {
            let code = (fixed[msr] >> (8 * UInt64(byte))) & 0xFF
            return MTRRLookup(type: MemoryType(code: code)!, source: .fixed(msr: msr, byte: byte))
        }
        // 3. Variable ranges in register order, with KVM's early returns.
        let addressMask = self.addressMask
        var type: MemoryType?
        var first = 0
        var wtOverWB: Int?
        for (n, range) in variable.enumerated() where range.valid {
            let mask = range.physMask & addressMask
            guard gpa & mask == range.physBase & mask else { continue }
            let current = range.type!
            guard let seen = type else {
                type = current
                first = n
                continue
            }
            if seen == current { continue }
            if seen == .uc || current == .uc {
                return MTRRLookup(type: .uc, source: .variableUCWins(range: n))
            }
            if (seen == .wt || seen == .wb) && (current == .wt || current == .wb) {
                type = .wt
                wtOverWB = wtOverWB ?? n
                continue
            }
            return MTRRLookup(type: .wb, source: .variableUndefinedMix(range: n))
        }
        if let type {
            if let wtOverWB { return MTRRLookup(type: type, source: .variableWTOverWB(range: wtOverWB)) }
            return MTRRLookup(type: type, source: .variable(first: first))
        }
        // 4. Nothing matched.
        return MTRRLookup(type: defaultType, source: .defaultType)
    }

    /// The fixed-range MSR (index into `fixed`) and byte covering `gpa`, or nil at or above 1 MiB.
    static func fixedSlot(_ gpa: UInt64) -> (Int, Int)? {
        switch gpa {
        case ..<0x80000: (0, Int(gpa >> 16))  // 64 KiB units
        case ..<0xC0000:
            // 16 KiB units: MTRRfix16K_80000, MTRRfix16K_A0000.
            { let k = Int((gpa - 0x80000) >> 14); return (1 + k / 8, k % 8) }()
        case ..<0x100000:
            // 4 KiB units: MTRRfix4K_C0000 .. MTRRfix4K_F8000.
            { let k = Int((gpa - 0xC0000) >> 12); return (3 + k / 8, k % 8) }()
        default: nil
        }
    }

    /// The size (log2) of the fixed sub-range containing `gpa` (< 1 MiB).
    private static func fixedGranuleShift(_ gpa: UInt64) -> UInt64 {
        gpa < 0x80000 ? 16 : gpa < 0xC0000 ? 14 : 12
    }

    /// How many blocks one range question may visit. Natural (contiguous)
    /// masks need a few dozen; only masks with holes in their low bits can
    /// need more, up to one block per 4 KiB page. The cap keeps every
    /// request bounded (a 64 TiB range of such a mask would otherwise walk
    /// 2^34 pages).
    public static let blockBudget = 1 << 14

    /// The single type of every page in the naturally aligned block
    /// [start, start + 2^shift), or nil when the block holds pages of two
    /// types, or when deciding would take more than `blockBudget` blocks
    /// (only masks with holes in their low bits get there). Nil is the safe
    /// answer for its callers: a smaller EPT leaf.
    ///
    /// Exact for arbitrary masks within the budget: a variable range's
    /// match is constant over the block when the block's high address bits
    /// decide it; otherwise the block is split in halves.
    public func uniformType(blockStart start: UInt64, shift: UInt64, cpuidMTRR: Bool) -> MemoryType? {
        var walker = BlockWalker(state: self, cpuidMTRR: cpuidMTRR, stopAtSecondType: true, maxRuns: 1, budget: MTRRState.blockBudget)
        guard walker.walk(start: start, shift: shift) else { return nil }
        return walker.runs.count == 1 ? walker.runs[0].type : nil
    }

    /// The largest EPT level (up to `requested`) KVM would map at `gpa` while
    /// it honored guest MTRRs: a huge leaf must not span two MTRR types
    /// (`kvm_mtrr_check_gfn_range_consistency()`, 1 GiB -> 2 MiB -> 4 KiB).
    public func maxMappingLevel(gpa: UInt64, requested: PageLevel, cpuidMTRR: Bool) -> PageLevel {
        var level = requested
        while level > .size4K {
            let start = gpa & ~((1 << level.shift) - 1)
            if uniformType(blockStart: start, shift: level.shift, cpuidMTRR: cpuidMTRR) != nil { return level }
            level = PageLevel(rawValue: level.rawValue - 1)!
        }
        return .size4K
    }

    /// Maximal runs of one type over [start, end) (4 KiB aligned, end
    /// exclusive). Returns nil if the range breaks into more than `maxRuns`
    /// runs or needs more than `blockBudget` blocks to decide.
    public func runs(from start: UInt64, to end: UInt64, cpuidMTRR: Bool, maxRuns: Int = 4096) -> [MTRRRun]? {
        var walker = BlockWalker(state: self, cpuidMTRR: cpuidMTRR, stopAtSecondType: false, maxRuns: maxRuns, budget: MTRRState.blockBudget)
        var cursor = start
        while cursor < end {
            // The largest aligned block starting at cursor that fits below end.
            var shift = UInt64(cursor == 0 ? 63 : cursor.trailingZeroBitCount)
            while shift > 12 && (shift >= 64 || end - cursor < (1 << shift)) { shift -= 1 }
            guard walker.walk(start: cursor, shift: shift) else { return nil }
            cursor += 1 << shift
        }
        return walker.runs
    }

    /// True when every input of `lookup` is constant over the block, so one
    /// lookup gives the type of all its pages. (False does not prove two
    /// types: the caller splits and merges.)
    fileprivate func blockIsUniform(start: UInt64, shift: UInt64) -> Bool {
        if shift <= 12 || !enabled { return true }
        if fixedEnabled && start < 0x100000 {
            // Below 1 MiB the fixed sub-range decides; above it the variable ranges.
            let end = start + (1 << shift)
            return end <= 0x100000 && shift <= MTRRState.fixedGranuleShift(start)
        }
        let low: UInt64 = (1 << shift) - 1
        let addressMask = self.addressMask
        for range in variable where range.valid {
            let mask = range.physMask & addressMask
            // Bits below the block size vary inside it; if the mask looks at any
            // of them, and the high bits agree, some pages match and some don't.
            if mask & low != 0 && (start & mask & ~low) == (range.physBase & mask & ~low) { return false }
        }
        return true
    }
}

/// Splits aligned blocks until each has one type, appending maximal runs.
/// Every visited block costs one unit of `budget`, every new run counts
/// against `maxRuns`; running out of either stops the walk (returns false).
private struct BlockWalker {
    let state: MTRRState
    let cpuidMTRR: Bool
    /// Stop at the first block whose type differs from the first run's.
    let stopAtSecondType: Bool
    let maxRuns: Int
    var budget: Int
    var runs: [MTRRRun] = []

    init(state: MTRRState, cpuidMTRR: Bool, stopAtSecondType: Bool, maxRuns: Int, budget: Int) {
        self.state = state
        self.cpuidMTRR = cpuidMTRR
        self.stopAtSecondType = stopAtSecondType
        self.maxRuns = maxRuns
        self.budget = budget
    }

    mutating func walk(start: UInt64, shift: UInt64) -> Bool {
        budget -= 1
        if budget < 0 { return false }
        guard state.blockIsUniform(start: start, shift: shift) else {
            let half = shift - 1
            return walk(start: start, shift: half) && walk(start: start + (1 << half), shift: half)
        }
        let end = start + (1 << shift)
        let type = state.lookup(gpa: start, cpuidMTRR: cpuidMTRR).type
        if let last = runs.last, last.type == type, last.end == start {
            runs[runs.count - 1] = MTRRRun(start: last.start, end: end, type: type)
            return true
        }
        if !runs.isEmpty && (stopAtSecondType || runs.count >= maxRuns) { return false }
        runs.append(MTRRRun(start: start, end: end, type: type))
        return true
    }
}
