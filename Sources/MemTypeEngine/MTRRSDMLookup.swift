/// What the SDM's MTRR precedence gives for a page (Vol. 3A 11.11.4.1):
/// every matching variable range counts, in no order.
public enum SDMMTRRAnswer: Sendable, Hashable {
    case type(MemoryType)
    /// Overlapping ranges of a mix the SDM leaves undefined (neither one UC
    /// nor only WT and WB). Linux takes UC there (`get_effective_type()` in
    /// arch/x86/kernel/cpu/mtrr/generic.c).
    case undefined
}

/// The other reading of the same MTRRs: the SDM's, which the hardware and
/// the guest's own kernel (`mtrr_type_lookup()` in
/// arch/x86/kernel/cpu/mtrr/) follow. A range matches by the SDM's mask test
/// and UC wins whatever the order. Kept apart from KVM's walk
/// (`kvmLookup`, MTRRLookup.swift), which decides EPT types in models A
/// and B; this one serves the guest-side replay (`GuestMemtypeState`) and
/// the warning that KVM's answer differs from it.
///
/// For aligned bases and contiguous masks (what firmware programs) the two
/// readings match the same pages; they can still differ in type where
/// ranges overlap, because KVM's precedence depends on its walk order.
/// Guests since Linux 6.5 size a range from its mask as KVM does; for a
/// mask with holes the SDM's test, used here, is what the hardware does.
extension MTRRState {
    /// The SDM's type for the page at `gpa`. MTRRs disabled: UC (the SDM
    /// does not look at CPUID; KVM's WB without MTRR in CPUID is its own
    /// choice). Fixed ranges as in KVM.
    public func sdmLookup(gpa: UInt64) -> SDMMTRRAnswer {
        guard enabled else { return .type(.uc) }
        if fixedEnabled, let (msr, byte) = MTRRState.fixedSlot(gpa) { return .type(fixedType(msr: msr, byte: byte)) }
        var matched: UInt8 = 0  // bit per type code
        for range in variable where range.valid && range.sdmContains(gpa, maxPhysAddr: maxPhysAddr) {
            matched |= 1 << range.type!.rawValue
        }
        let uc: UInt8 = 1 << MemoryType.uc.rawValue
        let wtwb: UInt8 = 1 << MemoryType.wt.rawValue | 1 << MemoryType.wb.rawValue
        if matched == 0 { return .type(defaultType) }
        if matched & uc != 0 { return .type(.uc) }
        if matched & (matched - 1) == 0 { return .type(MemoryType(rawValue: UInt8(matched.trailingZeroBitCount))!) }
        if matched & ~wtwb == 0 { return .type(.wt) }
        return .undefined
    }

    /// The guest kernel's type for the page: the SDM's, with Linux's UC for
    /// the undefined mixes. MTRRs disabled: not WB, reported as UC (Linux's
    /// lookup answers "invalid", which `pat_x_mtrr_type()` treats as not WB).
    public func guestKernelType(gpa: UInt64) -> MemoryType {
        switch sdmLookup(gpa: gpa) {
        case .type(let t): t
        case .undefined: .uc
        }
    }

    /// When KVM's answer for a page differs from the SDM's reading of the
    /// same MTRRs, the SDM's answer; nil when they agree or when the
    /// variable ranges were not consulted (MTRRs disabled, a fixed range).
    public func sdmDisagreement(gpa: UInt64, kvm: MTRRLookup) -> SDMMTRRAnswer? {
        switch kvm.source {
        case .disabled, .fixed: return nil
        default:
            let sdm = sdmLookup(gpa: gpa)
            return sdm == .type(kvm.type) ? nil : sdm
        }
    }

    /// How many blocks one range question may visit. Natural (contiguous)
    /// masks need a few dozen; only masks with holes in their low bits can
    /// need more, up to one block per 4 KiB page. The cap keeps every
    /// request bounded (a 64 TiB range of such a mask would otherwise walk
    /// 2^34 pages).
    public static let blockBudget = 1 << 14

    /// Maximal runs of one guest-kernel type over [start, end) (4 KiB
    /// aligned, end exclusive). Returns nil if the range breaks into more
    /// than `maxRuns` runs or needs more than `blockBudget` blocks to decide.
    public func guestKernelRuns(from start: UInt64, to end: UInt64, maxRuns: Int = 4096) -> [MTRRRun]? {
        var walker = BlockWalker(state: self, maxRuns: maxRuns, budget: MTRRState.blockBudget)
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

    /// True when every input of `sdmLookup` is constant over the block, so
    /// one lookup gives the type of all its pages. (False does not prove two
    /// types: the caller splits and merges.)
    fileprivate func sdmBlockIsUniform(start: UInt64, shift: UInt64) -> Bool {
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

/// Splits aligned blocks until each has one SDM type, appending maximal
/// runs. Every visited block costs one unit of `budget`, every new run
/// counts against `maxRuns`; running out of either stops the walk (returns false).
private struct BlockWalker {
    let state: MTRRState
    let maxRuns: Int
    var budget: Int
    var runs: [MTRRRun] = []

    init(state: MTRRState, maxRuns: Int, budget: Int) {
        self.state = state
        self.maxRuns = maxRuns
        self.budget = budget
    }

    mutating func walk(start: UInt64, shift: UInt64) -> Bool {
        budget -= 1
        if budget < 0 { return false }
        guard state.sdmBlockIsUniform(start: start, shift: shift) else {
            let half = shift - 1
            return walk(start: start, shift: half) && walk(start: start + (1 << half), shift: half)
        }
        let end = start + (1 << shift)
        let type = state.guestKernelType(gpa: start)
        if let last = runs.last, last.type == type, last.end == start {
            runs[runs.count - 1] = MTRRRun(start: last.start, end: end, type: type)
            return true
        }
        if runs.count >= maxRuns { return false }
        runs.append(MTRRRun(start: start, end: end, type: type))
        return true
    }
}
