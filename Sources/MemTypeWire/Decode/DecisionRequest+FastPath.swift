import MemTypeEngine

/// The common case of `DecisionRequest(json:)` read straight from the bytes,
/// without building a `JSONValue` tree first (which, with the field-by-field
/// decode over it, is most of a decision request's cost).
///
/// It accepts a deliberately small subset: compact or spaced JSON whose
/// strings are printable ASCII without escapes, whose numbers are
/// non-negative integers below 10^19, with no `null`, no duplicate or unknown
/// key, no `vcpu.mtrr`, and values the full decoder would accept. For
/// anything else it returns nil and the caller takes the full path, which
/// then answers exactly as before, including every error with its JSON
/// pointer. For every input it accepts, it returns what the full path
/// returns; `FastPathTests` checks that on generated and mutated bodies.
enum DecisionFastPath {
    static func decode(_ body: [UInt8]) -> DecisionRequest? {
        body.withUnsafeBufferPointer { bytes in
            var scanner = Scanner(bytes: bytes)
            guard let request = scanner.request(), scanner.atEnd() else { return nil }
            do { try request.validate() } catch { return nil }
            return request
        }
    }

    /// The names of `WireNames`' choices (same order, so an index picks the value).
    enum Names {
        static let models = ByteTable(WireNames.models.map(\.0))
        static let vendors = ByteTable(WireNames.vendors.map(\.0))
        static let vmTypes = ByteTable(WireNames.vmTypes.map(\.0))
        static let patPresets = ByteTable(PAT.presets.map(\.0))
    }

    /// A cursor over the body. Every method returns nil (or false) as soon as
    /// the input leaves the subset; nothing is thrown.
    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        // MARK: JSON subset

        mutating func skipSpace() {
            while i < bytes.count {
                switch bytes[i] {
                case 0x20, 0x09, 0x0A, 0x0D: i += 1
                default: return
                }
            }
        }

        mutating func atEnd() -> Bool {
            skipSpace()
            return i == bytes.count
        }

        @inline(__always)
        mutating func take(_ byte: UInt8) -> Bool {
            // Compact JSON has no space here: test the byte before skipping.
            if i < bytes.count, bytes[i] == byte {
                i += 1
                return true
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == byte else { return false }
            i += 1
            return true
        }

        /// A string of printable ASCII without escapes: its characters,
        /// quotes excluded, in place.
        mutating func string() -> UnsafeBufferPointer<UInt8>? {
            guard take(UInt8(ascii: "\"")), let base = bytes.baseAddress else { return nil }
            let start = i
            let end = bytes.count
            var j = start
            // Eight bytes at a time while eight remain, then one at a time.
            while end - j >= 8 {
                let flags = Scanner.stringStops(UnsafeRawPointer(base + j).loadUnaligned(as: UInt64.self))
                if flags != 0 {
                    j += flags.trailingZeroBitCount &>> 3
                    break
                }
                j += 8
            }
            while j < end {
                let b = base[j]
                if b == UInt8(ascii: "\"") {
                    i = j + 1
                    return UnsafeBufferPointer(start: base + start, count: j - start)
                }
                guard b >= 0x20, b < 0x7F, b != UInt8(ascii: "\\") else { return nil }
                j += 1
            }
            return nil
        }

        /// The high bit of each byte of `nativeWord` (8 bytes in memory
        /// order) that ends or leaves the subset: `"`, `\`, a control
        /// character or a byte from 0x7F up. Exact up to the first such byte,
        /// which is all `string()` reads.
        @inline(__always)
        static func stringStops(_ nativeWord: UInt64) -> UInt64 {
            let word = UInt64(littleEndian: nativeWord)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let high = ones &* 0x80
            let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
            let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
            // A byte is zero after the XOR exactly where it matched; bytes
            // below 0x20 borrow in `word - 0x20..`; 0x7F and up set bit 7 after `+ 1`.
            let zeroQuote = (quote &- ones) & ~quote
            let zeroBackslash = (backslash &- ones) & ~backslash
            let control = (word &- (ones &* 0x20)) & ~word
            let highOrDelete = word | (word &+ ones)
            return (zeroQuote | zeroBackslash | control | highOrDelete) & high
        }

        /// The key at the cursor and its index in `allCases`, compared as
        /// bytes where it stands (no scan for its end first). An unknown key,
        /// or one with an escape, matches nothing, as `string()` would refuse it.
        mutating func key<K>(_ keys: WireKeyTable<K>) -> (key: K, index: Int)? {
            guard take(UInt8(ascii: "\"")), let base = bytes.baseAddress,
                  let found = keys.match(base + i, available: bytes.count - i) else { return nil }
            i += found.length
            return (found.key, found.index)
        }

        /// `0` or `[1-9][0-9]{0,18}`, not followed by a fraction or exponent.
        mutating func integer() -> UInt64? {
            skipSpace()
            let start = i
            var value: UInt64 = 0
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                value = value &* 10 &+ UInt64(bytes[i] - UInt8(ascii: "0"))
                i += 1
            }
            let digits = i - start
            guard digits >= 1, digits <= 19, !(digits > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") || bytes[i] | 0x20 == UInt8(ascii: "e") { return nil }
            return value
        }

        mutating func bool() -> Bool? {
            skipSpace()
            if literal("true") { return true }
            if literal("false") { return false }
            return nil
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard bytes.count - i >= n else { return false }
            for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
            i += n
            return true
        }

        mutating func peek() -> UInt8? {
            skipSpace()
            return i < bytes.count ? bytes[i] : nil
        }

        /// Reads `{ "key": value, ... }`, calling `member` with each key
        /// (the scanner then at its value). Fails on a duplicate key:
        /// `keys` lists the allowed ones; any other fails too.
        mutating func object<K>(_ keys: WireKeyTable<K>, _ member: (inout Scanner, K) -> Bool) -> Bool {
            guard take(UInt8(ascii: "{")) else { return false }
            if take(UInt8(ascii: "}")) { return true }
            var seen: UInt64 = 0
            repeat {
                guard let k = key(keys), seen & (1 << k.index) == 0,
                      take(UInt8(ascii: ":")) else { return false }
                seen |= 1 << k.index
                guard member(&self, k.key) else { return false }
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}"))
        }

        /// A 64-bit value as the full decoder takes it: a JSON integer, or a
        /// string of `0x` hex or decimal digits.
        mutating func uint64() -> UInt64? {
            if peek() == UInt8(ascii: "\"") { return string().flatMap(Field.parseUInt64(utf8:)) }
            return integer()
        }

        mutating func int(in range: ClosedRange<Int>) -> Int? {
            guard let v = uint64(), v <= UInt64(range.upperBound), range.contains(Int(v)) else { return nil }
            return Int(v)
        }

        /// The choice whose name (`names[i]` names `choices[i]`) is the string
        /// at the cursor, ignoring ASCII case.
        mutating func oneOf<T>(_ names: ByteTable, _ choices: [(String, T)]) -> T? {
            guard let s = string(), let k = names.index(ofCaseInsensitive: s) else { return nil }
            return choices[k].1
        }

        // MARK: The request

        mutating func request() -> DecisionRequest? {
            var r = DecisionRequest()
            var kernel: KernelSelection?
            let ok = object(RequestKey.table) { s, k in
                switch k {
                case .kernel:
                    guard kernel == nil, let text = s.string(), let v = KernelVersion(utf8: text) else { return false }
                    kernel = .version(v)
                case .model:
                    guard kernel == nil, let m = s.oneOf(Names.models, WireNames.models) else { return false }
                    kernel = .model(m)
                case .host: guard let host = s.host() else { return false }; r.host = host
                case .vm: guard let vm = s.vm() else { return false }; r.vm = vm
                case .vcpu: guard let vcpu = s.vcpu() else { return false }; r.vcpu = vcpu
                case .access: guard let access = s.access() else { return false }; r.access = access
                }
                return true
            }
            guard ok else { return nil }
            r.kernel = kernel ?? .model(.newest)
            return r
        }

        mutating func host() -> HostProfile? {
            var h = HostProfile()
            let ok = object(HostKey.table) { s, k in
                switch k {
                case .vendor: guard let v = s.oneOf(Names.vendors, WireNames.vendors) else { return false }; h.vendor = v
                case .selfSnoop: guard let b = s.bool() else { return false }; h.selfSnoop = b
                case .tdp: guard let b = s.bool() else { return false }; h.tdp = b
                case .cpu: guard let cpu = s.cpu() else { return false }; h.cpu = cpu
                }
                return true
            }
            return ok ? h : nil
        }

        mutating func cpu() -> CPUModel? {
            var family: Int?, model: Int?, stepping: Int?
            let ok = object(CPUKey.table) { s, k in
                switch k {
                case .family: family = s.int(in: CPUModel.familyRange); return family != nil
                case .model: model = s.int(in: CPUModel.modelRange); return model != nil
                case .stepping: stepping = s.int(in: CPUModel.steppingRange); return stepping != nil
                }
            }
            guard ok, let family, let model else { return nil }
            return CPUModel(family: family, model: model, stepping: stepping)
        }

        mutating func vm() -> VMConfig? {
            var v = VMConfig()
            let ok = object(VMKey.table) { s, k in
                switch k {
                case .type: guard let t = s.oneOf(Names.vmTypes, WireNames.vmTypes) else { return false }; v.type = t
                case .disabledQuirks: guard let m = s.quirkMask() else { return false }; v.disabledQuirks = m
                case .noncoherentDMA: guard let b = s.bool() else { return false }; v.noncoherentDMA = b
                }
                return true
            }
            return ok ? v : nil
        }

        mutating func quirkMask() -> QuirkMask? {
            var mask = QuirkMask()
            if take(UInt8(ascii: "[")) {
                if !take(UInt8(ascii: "]")) {
                    var count = 0
                    repeat {
                        count += 1
                        guard count <= QuirkMask.maxNames, let name = string(), let quirk = Quirk(utf8: name) else { return nil }
                        mask.insert(quirk.mask)
                    } while take(UInt8(ascii: ","))
                    guard take(UInt8(ascii: "]")) else { return nil }
                }
            } else {
                guard let raw = uint64() else { return nil }
                mask = QuirkMask(rawValue: raw)
            }
            return mask.unknownBits == 0 ? mask : nil
        }

        mutating func vcpu() -> VCPUState? {
            var v = VCPUState()
            var maxPhysAddr = MTRRState.defaultMaxPhysAddr
            let ok = object(VCPUKey.table) { s, k in
                switch k {
                case .cr0CD: guard let b = s.bool() else { return false }; v.cr0CD = b
                case .pat: guard let pat = s.pat() else { return false }; v.pat = pat
                case .mtrr: return false  // the full path reads MTRRs
                case .cpuidMTRR: guard let b = s.bool() else { return false }; v.cpuidMTRR = b
                case .maxPhysAddr: guard let n = s.int(in: MTRRState.maxPhysAddrRange) else { return false }; maxPhysAddr = n
                }
                return true
            }
            guard ok else { return nil }
            v.mtrr = .reset(maxPhysAddr: maxPhysAddr)
            return v
        }

        mutating func pat() -> PAT? {
            if peek() == UInt8(ascii: "\"") {
                let start = i
                guard let s = string() else { return nil }
                if let k = Names.patPresets.index(ofCaseInsensitive: s) { return PAT.presets[k].1 }
                i = start
            }
            guard let raw = uint64() else { return nil }
            do { return try PAT(raw: raw) } catch { return nil }
        }

        mutating func access() -> GuestAccess? {
            var a = GuestAccess()
            var pte: PATIndexSource?, patIndex: PATIndexSource?
            let ok = object(AccessKey.table) { s, k in
                switch k {
                case .gpa: guard let g = s.uint64() else { return false }; a.gpa = g
                case .mmio: guard let b = s.bool() else { return false }; a.mmio = b
                case .pte:  // {pwt, pcd, pat} or a raw entry
                    if s.peek() == UInt8(ascii: "{") {
                        var pwt = false, pcd = false, pat = false
                        let ok = s.object(PTEKey.table) { s, k in
                            guard let b = s.bool() else { return false }
                            switch k {
                            case .pwt: pwt = b
                            case .pcd: pcd = b
                            case .pat: pat = b
                            }
                            return true
                        }
                        guard ok else { return false }
                        pte = .pteBits(pwt: pwt, pcd: pcd, pat: pat)
                    } else {
                        guard let e = s.uint64() else { return false }
                        pte = .pteEntry(e)
                    }
                case .patIndex:
                    guard let n = s.int(in: PATIndex.range) else { return false }
                    patIndex = .index(PATIndex(n)!)
                case .level:
                    guard let name = s.string(), let l = PageLevel(name: String(decoding: name, as: UTF8.self)) else { return false }
                    a.level = l
                case .tdxPrivate: guard let b = s.bool() else { return false }; a.tdxPrivate = b
                }
                return true
            }
            guard ok else { return nil }
            // Both: the full path names the error. As there, the level is
            // known before a raw entry's PAT bit is read.
            do throws(Conflict) {
                if let (_, source) = try PATIndexSource.given(pte: pte, patIndex: patIndex, conflict: { _ in Conflict() }) {
                    a.setPATIndex(source)
                }
            } catch {
                return nil
            }
            return a
        }

        /// `pte` and `pat_index` together, left to the full path.
        struct Conflict: Error {}
    }
}

extension DecisionFastPath {
    /// `{"requests": [...]}` whose every item the fast path takes (and the
    /// full decoder would accept): the items' requests, in order. nil for
    /// anything else, including more than `maxCount` items and any item the
    /// full path must answer, so that the caller's full path gives every
    /// item its own answer or error.
    static func decodeBatch(_ body: [UInt8], maxCount: Int) -> [DecisionRequest]? {
        body.withUnsafeBufferPointer { bytes in
            var scanner = Scanner(bytes: bytes)
            guard let requests = scanner.batch(maxCount: maxCount), scanner.atEnd() else { return nil }
            return requests
        }
    }
}

extension DecisionFastPath.Scanner {
    /// `{"requests": [item, ...]}`, every item a request the fast path takes.
    mutating func batch(maxCount: Int) -> [DecisionRequest]? {
        var items: [DecisionRequest] = []
        var present = false  // `{}` is the full path's error to report
        let ok = object(BatchKey.table) { s, _ in
            present = true
            guard s.take(UInt8(ascii: "[")) else { return false }
            if s.take(UInt8(ascii: "]")) { return true }
            repeat {
                guard items.count < maxCount, let request = s.request() else { return false }
                do { try request.validate() } catch { return false }
                items.append(request)
            } while s.take(UInt8(ascii: ","))
            return s.take(UInt8(ascii: "]"))
        }
        return ok && present ? items : nil
    }
}
