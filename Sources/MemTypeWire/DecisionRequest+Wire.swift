import JSON
import MemTypeEngine

/// Reading a decision request from JSON (the contract in openapi.yaml,
/// schema `DecisionRequest`). Every field is optional and takes the default
/// `DecisionRequest()` documents.
extension DecisionRequest {
    static let topLevelKeys = ["kernel", "model", "host", "vm", "vcpu", "access"]

    /// Decodes and validates a request body: the common shapes straight
    /// from the bytes (`DecisionFastPath`), everything else, and every error,
    /// through the JSON tree.
    public init(json body: [UInt8]) throws(RequestError) {
        if let request = DecisionFastPath.decode(body) {
            self = request
            return
        }
        let value = try RequestError.parse(body)
        do {
            self = try DecisionRequest(Field(value))
        } catch {
            throw .invalid(error)
        }
    }

    /// Decodes and validates a parsed request.
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(allowed: DecisionRequest.topLevelKeys)
        try self.init(members: m, allowVCPUAndAccess: true)
    }

    /// Decodes the parts present in `m`; `allowVCPUAndAccess` is false for
    /// requests that only describe a VM (quirk evaluation).
    public init(members m: Members, allowVCPUAndAccess: Bool) throws(InvalidField) {
        self.init()
        kernel = try KernelSelection(members: m)
        if let f = m["host"] { host = try HostProfile(f) }
        if let f = m["vm"] { vm = try VMConfig(f) }
        if allowVCPUAndAccess {
            if let f = m["vcpu"] { vcpu = try VCPUState(f) }
            if let f = m["access"] { access = try GuestAccess(f) }
        }
        do {
            try validate()
        } catch {
            let pointer = switch error.field {
            case .vmType: m.pointer + "/vm/type"
            case .accessPrivate: m.pointer + "/access/private"
            case .accessGPA: m.pointer + "/access/gpa"
            case .disabledQuirks: m.pointer + "/vm/disabled_quirks"
            }
            throw InvalidField(pointer: pointer, message: error.message)
        }
    }
}

extension KernelSelection {
    /// `kernel` (a version string) or `model` (A-E), not both; neither: the newest model.
    public init(members m: Members) throws(InvalidField) {
        switch (m["kernel"], m["model"]) {
        case (let k?, nil):
            let text = try k.string()
            guard let version = KernelVersion(text) else {
                throw k.fail("\"\(text.prefix(40))\" is not a kernel version; expected e.g. \"6.6\", \"v6.10.3\", \"6.11-rc2\", \"6.16\"")
            }
            self = .version(version)
        case (nil, let f?):
            self = .model(try f.oneOf(WireNames.models))
        case (nil, nil):
            self = .model(.newest)
        case (_?, let f?):
            throw f.fail("give either kernel (a version) or model (A-E), not both")
        }
    }
}

extension HostProfile {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(allowed: WireNames.hostKeys)
        self.init()
        if let f = m["vendor"] { vendor = try f.oneOf(WireNames.vendors) }
        if let f = m["self_snoop"] { selfSnoop = try f.bool() }
        if let f = m["tdp"] { tdp = try f.bool() }
        if let f = m["cpu"], f.value != .null { cpu = try CPUModel(f) }
    }
}

extension CPUModel {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(allowed: WireNames.cpuKeys)
        self.init(
            family: try m.required("family").int(in: 0...0x10FF),
            model: try m.required("model").int(in: 0...0xFF),
            stepping: try m["stepping"]?.int(in: 0...0xF)
        )
    }
}

extension VMConfig {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(allowed: WireNames.vmKeys)
        self.init()
        if let f = m["type"] { type = try f.oneOf(WireNames.vmTypes) }
        if let f = m["disabled_quirks"] { disabledQuirks = try QuirkMask(f) }
        if let f = m["noncoherent_dma"] { noncoherentDMA = try f.bool() }
    }
}

extension QuirkMask {
    /// A mask as an integer, a `"0x..."` string, or a list of quirk names.
    public init(_ field: Field) throws(InvalidField) {
        if case .array = field.value {
            var mask = QuirkMask()
            for item in try field.array(maxCount: 64) {
                let name = try item.string()
                guard let quirk = Quirk(name: name) else {
                    throw item.fail("unknown quirk \"\(name.prefix(40))\"; known: " + Quirk.allCases.map(\.name).joined(separator: ", "))
                }
                mask.insert(quirk.mask)
            }
            self = mask
        } else {
            self.init(rawValue: try field.uint64())
        }
        if unknownBits != 0 {
            throw field.fail("bits \(String(format0x: unknownBits)) name no KVM quirk (known: bits 0-11)")
        }
    }
}

extension PAT {
    /// A 64-bit MSR value, or a preset name: `reset`, `linux`, `linux-errata`.
    public init(_ field: Field) throws(InvalidField) {
        if case .string(let s) = field.value, let preset = PAT.presets.first(where: { $0.0.equalsIgnoringASCIICase(s) }) {
            self = preset.1
            return
        }
        do {
            try self.init(raw: try field.uint64())
        } catch let error as InvalidPATEntry {
            throw field.fail(error.description)
        } catch {
            throw error as! InvalidField
        }
    }

    public static let presets: [(String, PAT)] = [("reset", .reset), ("linux", .linux), ("linux-errata", .linuxErrata)]
}

extension VCPUState {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(allowed: WireNames.vcpuKeys)
        self.init()
        let maxPhysAddr = try m["maxphyaddr"]?.int(in: 36...52) ?? 46
        if let f = m["cr0_cd"] { cr0CD = try f.bool() }
        if let f = m["pat"] { pat = try PAT(f) }
        if let f = m["cpuid_mtrr"] { cpuidMTRR = try f.bool() }
        mtrr = try m["mtrr"].map { f throws(InvalidField) in try MTRRState(f, maxPhysAddr: maxPhysAddr) } ?? .reset(maxPhysAddr: maxPhysAddr)
    }
}

extension GuestAccess {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(allowed: WireNames.accessKeys)
        self.init()
        if let f = m["gpa"] { gpa = try f.uint64() }
        if let f = m["mmio"] { mmio = try f.bool() }
        if let f = m["private"] { tdxPrivate = try f.bool() }
        if let f = m["level"] {
            let name = try f.string()
            guard let l = PageLevel(name: name) else { throw f.fail("unknown level \"\(name.prefix(20))\"; expected 4K, 2M or 1G") }
            level = l
        }
        switch (m["pte"], m["pat_index"]) {
        case (let f?, nil):
            patIndexFromEntry = true
            if case .object = f.value {
                let bits = try f.object(allowed: WireNames.pteKeys)
                patIndex = PATIndex(pwt: try bits["pwt"]?.bool() ?? false,
                                    pcd: try bits["pcd"]?.bool() ?? false,
                                    pat: try bits["pat"]?.bool() ?? false)
            } else {
                // A raw paging-structure entry: the PAT bit's position depends on the level.
                patIndex = PATIndex(entry: try f.uint64(), level: level)
            }
        case (nil, let f?):
            patIndex = PATIndex(try f.int(in: 0...7))!
        case (nil, nil):
            break
        case (_?, let f?):
            throw f.fail("give either pte or pat_index, not both")
        }
    }
}

/// Name tables for `Field.oneOf` and the allowed keys of each object, built
/// once (an array literal at the call site would allocate on every request).
enum WireNames {
    static let models = KVMModel.allCases.map { ($0.rawValue, $0) }
    static let vendors = Vendor.allCases.map { ($0.rawValue, $0) }
    static let vmTypes = VMType.allCases.map { ($0.rawValue, $0) }
    static let hostKeys = ["vendor", "self_snoop", "tdp", "cpu"]
    static let cpuKeys = ["family", "model", "stepping"]
    static let vmKeys = ["type", "disabled_quirks", "noncoherent_dma"]
    static let vcpuKeys = ["cr0_cd", "pat", "mtrr", "cpuid_mtrr", "maxphyaddr"]
    static let accessKeys = ["gpa", "mmio", "pte", "pat_index", "level", "private"]
    static let pteKeys = ["pwt", "pcd", "pat"]
    static let mtrrKeys = ["enabled", "fixed_enabled", "default", "def_type", "fixed", "variable", "proc_mtrr"]
    static let rangeKeys = ["base", "size", "type", "phys_base", "phys_mask"]
}
