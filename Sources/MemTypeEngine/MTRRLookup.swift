/// Which MTRR rule produced a page's type, mirroring the branches of KVM's
/// `kvm_mtrr_get_guest_memory_type()` (arch/x86/kvm/mtrr.c, v4.2 to v6.10).
/// Range numbers are register numbers (PhysBase_n/PhysMask_n).
public enum MTRRSource: Sendable, Hashable {
    /// MTRRdefType.E clear: UC when the guest's CPUID has MTRR, else WB (KVM's
    /// choice; the SDM says UC). `mtrr_disabled_type()`.
    case disabled(cpuidMTRR: Bool)
    /// FE set and the page below 1 MiB: a byte of a fixed-range MSR; variable
    /// ranges are not consulted.
    case fixed(msr: Int, byte: Int)
    /// One variable range matched (or several, all of the same type).
    case variable(first: Int)
    /// After the first match (`first`), a UC range (`range`) met later in
    /// KVM's walk: UC at once.
    case variableUCWins(first: Int, range: Int)
    /// A UC range (`first`) met first in KVM's walk, then a range of another
    /// type (`range`): KVM's undefined-mix branch returns WB at once. The
    /// UC rule only looks at the range being visited.
    case variableUCMetFirst(first: Int, range: Int)
    /// WT and WB ranges overlap: WT (`range` is the first that mixed them).
    case variableWTOverWB(first: Int, range: Int)
    /// Any other mix, undefined in the SDM: KVM returns WB at once.
    case variableUndefinedMix(first: Int, range: Int)
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

/// KVM's pairwise precedence: what `kvm_mtrr_get_guest_memory_type()` does
/// when a range of type `current` matches after the first match set `type`.
/// The one home of the rule; the lookup and the resolve walk both use it.
public enum KVMPrecedence: String, Sendable, Hashable {
    /// `current == type`: keep it.
    case same = "same_type"
    /// `current` is UC: return UC at once (whatever `type` is).
    case ucWins = "uc_returns_uc"
    /// `type` is UC and `current` is not: the undefined-mix branch, WB at once.
    case ucMetFirst = "uc_met_first_returns_wb"
    /// Both in {WT, WB}: WT, and the walk goes on.
    case wtOverWB = "wt_over_wb"
    /// Any other pair: WB at once ("We use WB for this undefined behavior").
    case undefinedMix = "undefined_mix_returns_wb"

    public init(type: MemoryType, current: MemoryType) {
        if current == type {
            self = .same
        } else if current == .uc {
            self = .ucWins
        } else if (type == .wt || type == .wb) && (current == .wt || current == .wb) {
            self = .wtOverWB
        } else {
            // Includes type == UC: KVM tests only `current` for UC.
            self = type == .uc ? .ucMetFirst : .undefinedMix
        }
    }
}

/// One entry of KVM's range list as a lookup met it (`POST /v1/mtrr/resolve`).
public struct KVMWalkStep: Sendable, Hashable {
    public let range: Int
    public let type: MemoryType
    /// `var_mtrr_range()`'s interval.
    public let start: UInt64
    public let end: UInt64
    public let effect: Effect

    public enum Effect: Sendable, Hashable {
        case noMatch
        case firstMatch
        case precedence(KVMPrecedence)
        /// KVM returned before reaching this entry.
        case notVisited
    }
}

extension MTRRState {
    /// Register numbers in the order KVM's list holds them (see `kvmListOrder`).
    public var kvmListRegisters: [Int] {
        (0..<kvmListCount).map { Int(kvmList >> (3 * UInt32($0)) & 7) }
    }

    /// The type KVM gives the 4 KiB guest page containing `gpa`
    /// (`kvm_mtrr_get_guest_memory_type()`): the variable ranges are visited
    /// in KVM's list order, by descending PhysBase, not in register order,
    /// with KVM's asymmetric precedence (`KVMPrecedence`). Allocation-free.
    public func kvmLookup(gpa: UInt64, cpuidMTRR: Bool) -> MTRRLookup {
        // 1. MTRRs disabled.
        guard enabled else {
            return MTRRLookup(type: cpuidMTRR ? .uc : .wb, source: .disabled(cpuidMTRR: cpuidMTRR))
        }
        // 2. Fixed ranges take precedence below 1 MiB.
        if fixedEnabled, let (msr, byte) = MTRRState.fixedSlot(gpa) {
            return MTRRLookup(type: fixedType(msr: msr, byte: byte), source: .fixed(msr: msr, byte: byte))
        }
        // 3. The list walk, with KVM's early returns.
        var type: MemoryType?
        var first = 0
        var wtOverWB: Int?
        var list = kvmList
        for _ in 0..<kvmListCount {
            let n = Int(list & 7)
            list >>= 3
            let range = variable[n]
            let (start, end) = range.kvmInterval(maxPhysAddr: maxPhysAddr)
            guard gpa >= start && gpa < end else { continue }
            let current = range.type!
            guard let seen = type else {
                type = current
                first = n
                continue
            }
            switch KVMPrecedence(type: seen, current: current) {
            case .same: continue
            case .ucWins: return MTRRLookup(type: .uc, source: .variableUCWins(first: first, range: n))
            case .ucMetFirst: return MTRRLookup(type: .wb, source: .variableUCMetFirst(first: first, range: n))
            case .undefinedMix: return MTRRLookup(type: .wb, source: .variableUndefinedMix(first: first, range: n))
            case .wtOverWB:
                type = .wt
                wtOverWB = wtOverWB ?? n
            }
        }
        if let type {
            if let wtOverWB { return MTRRLookup(type: type, source: .variableWTOverWB(first: first, range: wtOverWB)) }
            return MTRRLookup(type: type, source: .variable(first: first))
        }
        // 4. Nothing matched.
        return MTRRLookup(type: defaultType, source: .defaultType)
    }

    /// Every entry of KVM's list with what it did for the page at `gpa`, for
    /// the resolve route's trace. Empty when the variable ranges are not
    /// consulted (MTRRs disabled, or a fixed range below 1 MiB).
    public func kvmWalk(gpa: UInt64) -> [KVMWalkStep] {
        guard enabled, !(fixedEnabled && MTRRState.fixedSlot(gpa) != nil) else { return [] }
        var steps: [KVMWalkStep] = []
        var type: MemoryType?
        var returned = false
        for n in kvmListRegisters {
            let range = variable[n]
            let (start, end) = range.kvmInterval(maxPhysAddr: maxPhysAddr)
            let current = range.type!
            let effect: KVMWalkStep.Effect
            if returned {
                effect = .notVisited
            } else if !(gpa >= start && gpa < end) {
                effect = .noMatch
            } else if let seen = type {
                let step = KVMPrecedence(type: seen, current: current)
                effect = .precedence(step)
                switch step {
                case .same: break
                case .wtOverWB: type = .wt
                case .ucWins, .ucMetFirst, .undefinedMix: returned = true
                }
            } else {
                type = current
                effect = .firstMatch
            }
            steps.append(KVMWalkStep(range: n, type: current, start: start, end: end, effect: effect))
        }
        return steps
    }

    /// Byte `byte` of fixed-range MSR `msr` as a type (validated, so valid).
    func fixedType(msr: Int, byte: Int) -> MemoryType {
        MemoryType(code: (fixed[msr] >> (8 * UInt64(byte))) & 0xFF)!
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
    static func fixedGranuleShift(_ gpa: UInt64) -> UInt64 {
        gpa < 0x80000 ? 16 : gpa < 0xC0000 ? 14 : 12
    }

    /// KVM's huge-page test (`kvm_mtrr_check_gfn_range_consistency()`) for
    /// the block [start, start + 2^shift): it walks the same entries as the
    /// lookup, over the whole block, and asks that every fixed sub-range
    /// and variable range overlapping it have one type, and, where the
    /// ranges leave part of the block uncovered, that this type be the
    /// default. It compares raw range types, not the precedence's result
    /// (a UC hole inside a WB range is two types even where each page
    /// resolves WB), and its coverage test assumes ascending bases on a
    /// list held descending: a block covered by two ranges the higher of
    /// which starts inside it counts as partly uncovered. Both make KVM
    /// refuse huge leaves that page-by-page uniformity would allow, never
    /// the reverse. Exact, bounded (88 fixed sub-ranges and 8 ranges at
    /// most), allocation-free.
    public func kvmRangeConsistent(blockStart start: UInt64, shift: UInt64) -> Bool {
        guard enabled else { return true }
        let end = start + (1 << shift)
        var type: MemoryType?
        func same(_ t: MemoryType) -> Bool {
            if let type { return type == t }
            type = t
            return true
        }
        if fixedEnabled && start < 0x100000 {
            // `mtrr_lookup_fixed_next()`: sub-ranges from the one holding
            // `start` until one ends at or past `end`; past the last one the
            // walk goes on to the variable ranges, over the whole block.
            var address = start
            while address < 0x100000 {
                let (msr, byte) = MTRRState.fixedSlot(address)!
                guard same(fixedType(msr: msr, byte: byte)) else { return false }
                address = (address >> MTRRState.fixedGranuleShift(address) + 1) << MTRRState.fixedGranuleShift(address)
                if address >= end { return true }
            }
        }
        // `match_var_range()`: overlap with the block, and KVM's coverage bookkeeping.
        var startMax = start
        var partial = false
        var list = kvmList
        for _ in 0..<kvmListCount {
            let range = variable[Int(list & 7)]
            list >>= 3
            let (rangeStart, rangeEnd) = range.kvmInterval(maxPhysAddr: maxPhysAddr)
            guard rangeStart < end && rangeEnd > start else { continue }
            partial = partial || startMax < rangeStart
            startMax = Swift.max(startMax, rangeEnd)
            guard same(range.type!) else { return false }
        }
        partial = partial || startMax < end
        guard partial, let type else { return true }
        return type == defaultType
    }

    /// The largest EPT level (up to `requested`) KVM would map at `gpa` while
    /// it honored guest MTRRs: `kvm_tdp_page_fault()` lowers the level until
    /// `kvm_mtrr_check_gfn_range_consistency()` accepts the aligned block
    /// (1 GiB -> 2 MiB -> 4 KiB).
    public func maxMappingLevel(gpa: UInt64, requested: PageLevel) -> PageLevel {
        var level = requested
        while level > .size4K {
            let start = gpa & ~((1 << level.shift) - 1)
            if kvmRangeConsistent(blockStart: start, shift: level.shift) { return level }
            level = PageLevel(rawValue: level.rawValue - 1)!
        }
        return .size4K
    }

    /// Maximal runs of one KVM type over [start, end) (4 KiB aligned, end
    /// exclusive), or nil if there are more than `maxRuns`. Exact for any
    /// register values: KVM's ranges are intervals, so the type can only
    /// change at a range's start or end or at a fixed sub-range boundary,
    /// and one lookup per piece between those points decides it.
    public func kvmRuns(from start: UInt64, to end: UInt64, cpuidMTRR: Bool, maxRuns: Int = 4096) -> [MTRRRun]? {
        var cuts: [UInt64] = [start, end]
        if enabled {
            for n in kvmListRegisters {
                let (s, e) = variable[n].kvmInterval(maxPhysAddr: maxPhysAddr)
                cuts.append(s)
                cuts.append(e)
            }
            if fixedEnabled {
                var address: UInt64 = 0
                while address <= 0x100000 {
                    cuts.append(address)
                    address += address < 0x100000 ? 1 << MTRRState.fixedGranuleShift(address) : 1
                }
            }
        }
        let points = Set(cuts.filter { $0 >= start && $0 <= end }).sorted()
        var runs: [MTRRRun] = []
        for (from, to) in zip(points, points.dropFirst()) {
            let type = kvmLookup(gpa: from, cpuidMTRR: cpuidMTRR).type
            if let last = runs.last, last.type == type {
                runs[runs.count - 1] = MTRRRun(start: last.start, end: to, type: type)
            } else {
                guard runs.count < maxRuns else { return nil }
                runs.append(MTRRRun(start: from, end: to, type: type))
            }
        }
        return runs
    }
}
