import JSON
import MemTypeEngine

/// Guest MTRRs on the wire: the friendly form (`enabled`, `fixed_enabled`,
/// `default`) or the raw MTRRdefType (`def_type`), fixed-range MSRs by
/// address or SDM name, and variable ranges as `base`/`size`/`type` or raw
/// `phys_base`/`phys_mask` pairs, or pasted from `/proc/mtrr` (`proc_mtrr`).
extension MTRRState {
    public init(_ field: Field, maxPhysAddr: Int) throws(InvalidField) {
        let m = try field.object(MTRRKey.self)
        var defType: UInt64
        if let raw = m[MTRRKey.defType] {
            for key in [MTRRKey.enabled, .fixedEnabled, .defaultType] where m.contains(key) {
                throw m[key]!.invalid("give either def_type or enabled/fixed_enabled/default, not both")
            }
            defType = try raw.uint64()
        } else {
            defType = 0
            if try m[MTRRKey.enabled]?.bool() ?? false { defType |= 1 << 11 }
            if try m[MTRRKey.fixedEnabled]?.bool() ?? false { defType |= 1 << 10 }
            if let f = m[MTRRKey.defaultType] {
                let t = try f.memoryType()
                guard t.isValidMTRRType else { throw f.invalid("UC- is not a valid MTRR type") }
                defType |= UInt64(t.rawValue)
            }
        }

        var fixed = [UInt64](repeating: 0, count: 11)
        if let f = m[MTRRKey.fixed] {
            guard case .object(let object) = f.value else { throw f.invalid("expected an object keyed by MSR (\"0x250\" or \"MTRRfix64K_00000\")") }
            for (key, value) in object {
                let item = Field(value, parent: f.pointer, key: key)
                guard let i = MTRRState.fixedIndex(key) else {
                    throw item.invalid("not a fixed-range MTRR; expected one of " + MTRRState.fixedMSRs.map { String(format0x: UInt64($0)) }.joined(separator: ", "))
                }
                if case .string(let s) = value, let t = MemoryType(name: s) {
                    // A type name fills all eight sub-ranges of the MSR.
                    fixed[i] = (0..<8).reduce(0) { $0 | UInt64(t.rawValue) << (8 * UInt64($1)) }
                } else {
                    fixed[i] = try item.uint64()
                }
            }
        }

        var variable: [VariableMTRR] = []
        if let f = m[MTRRKey.procMTRR] {
            if m.contains(MTRRKey.variable) { throw f.invalid("give either variable or proc_mtrr, not both") }
            let text = try f.string()
            do throws(KernelTextFormats.LineError) {
                variable = try KernelTextFormats.procMTRR(text, maxPhysAddr: maxPhysAddr)
            } catch {
                throw f.invalid("/proc/mtrr \(error)")
            }
        }
        if let f = m[MTRRKey.variable] {
            for (n, item) in try f.array(maxCount: MTRRState.variableCount).enumerated() {
                let r = try item.object(MTRRRangeKey.self)
                if r.contains(MTRRRangeKey.physBase) || r.contains(MTRRRangeKey.physMask) {
                    for key in [MTRRRangeKey.base, .size, .type] where r.contains(key) {
                        throw r[key]!.invalid("give either phys_base/phys_mask or base/size/type, not both")
                    }
                    variable.append(VariableMTRR(physBase: try r.required(MTRRRangeKey.physBase).uint64(), physMask: try r.required(MTRRRangeKey.physMask).uint64()))
                } else {
                    let typeField = try r.required(MTRRRangeKey.type)
                    let type = try typeField.memoryType()
                    guard type.isValidMTRRType else { throw typeField.invalid("UC- is not a valid MTRR type") }
                    do {
                        variable.append(try VariableMTRR(index: n, base: try r.required(MTRRRangeKey.base).uint64(), size: try r.required(MTRRRangeKey.size).uint64(),
                                                         type: type, maxPhysAddr: maxPhysAddr))
                    } catch let e as MTRRError {
                        throw InvalidField(pointer: MTRRState.pointer(for: e.field, in: m.pointer, friendly: true), message: e.message)
                    } catch {
                        throw error as! InvalidField
                    }
                }
            }
        }

        do {
            self = try MTRRState(defType: defType, fixed: fixed, variable: variable, maxPhysAddr: maxPhysAddr)
        } catch {
            let friendly = !m.contains(MTRRKey.defType)
            throw InvalidField(pointer: MTRRState.pointer(for: error.field, in: m.pointer, friendly: friendly, members: m), message: error.message)
        }
    }

    /// Which field of the request an engine-side MTRR error is about.
    static func pointer(for field: MTRRField, in base: String, friendly: Bool, members: Members? = nil) -> String {
        switch field {
        case .defType: return base + (friendly ? "/default" : "/def_type")
        case .fixedCount: return base + "/fixed"
        case .fixed(let i):
            // Name the key the user wrote for this MSR, if any.
            if let members, case .object(let o)? = members["fixed"]?.value,
               let key = o.keys.first(where: { MTRRState.fixedIndex($0) == i }) {
                return JSONPointer.appending(key, to: base + "/fixed")
            }
            return base + "/fixed"
        case .variableCount: return base + "/variable"
        case .physBase(let n):
            return base + "/variable/\(n)" + (isFriendly(members, n) ? "/base" : "/phys_base")
        case .physMask(let n):
            return base + "/variable/\(n)" + (isFriendly(members, n) ? "/size" : "/phys_mask")
        case .maxPhysAddr: return base
        }
    }

    private static func isFriendly(_ members: Members?, _ n: Int) -> Bool {
        guard let members, case .array(let items)? = members["variable"]?.value, n < items.count,
              case .object(let o) = items[n] else { return true }
        return o["phys_base"] == nil && o["phys_mask"] == nil
    }

    /// The index into `fixed` for `"0x250"`, `"592"` or `"MTRRfix64K_00000"`.
    static func fixedIndex(_ key: String) -> Int? {
        if let i = fixedMSRNames.firstIndex(where: { $0.lowercased() == key.lowercased() }) { return i }
        guard let address = Field.parseUInt64(key), address <= UInt64(UInt32.max) else { return nil }
        return fixedMSRs.firstIndex(of: UInt32(address))
    }
}
