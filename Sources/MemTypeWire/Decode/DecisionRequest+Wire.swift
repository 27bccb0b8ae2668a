import JSON
import MemTypeEngine

/// Reading a decision request from JSON (the contract in openapi.yaml,
/// schema `DecisionRequest`). Every field is optional and takes the default
/// `DecisionRequest()` documents.
extension DecisionRequest {
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
        let m = try field.object(RequestKey.self)
        try self.init(members: m, allowVCPUAndAccess: true)
    }

    /// Decodes a request that only describes a VM and its kernel (quirk
    /// evaluation): `kernel`, `model`, `host` and `vm`.
    public init(vmOnly field: Field) throws(InvalidField) {
        let m = try field.object(allowed: RequestKey.vmOnlyNames)
        try self.init(members: m, allowVCPUAndAccess: false)
    }

    /// Decodes the parts present in `m`; `allowVCPUAndAccess` is false for
    /// requests that only describe a VM (quirk evaluation).
    public init(members m: Members, allowVCPUAndAccess: Bool) throws(InvalidField) {
        self.init()
        kernel = try KernelSelection(members: m)
        try m.each(RequestKey.self) { key, f throws(InvalidField) in
            switch key {
            case .kernel, .model: break  // the kernel selection, above
            case .host: host = try HostProfile(f)
            case .vm: vm = try VMConfig(f)
            case .vcpu: if allowVCPUAndAccess { vcpu = try VCPUState(f) }
            case .access: if allowVCPUAndAccess { access = try GuestAccess(f) }
            }
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
        try self.init(kernel: m[RequestKey.kernel], model: m[RequestKey.model])
    }

    /// The rule of `init(members:)` over the two fields wherever they come
    /// from (the per-VM kvm-quirks query gives them as `/query/kernel` and
    /// `/query/model`).
    public init(kernel: Field?, model: Field?) throws(InvalidField) {
        switch (kernel, model) {
        case (let k?, nil):
            let text = try k.string()
            guard let version = KernelVersion(text) else {
                throw k.invalid("\"\(text.prefix(40))\" is not a kernel version; expected e.g. \"6.6\", \"v6.10.3\", \"6.11-rc2\", \"6.16\"")
            }
            self = .version(version)
        case (nil, let f?):
            self = .model(try f.oneOf(WireNames.models))
        case (nil, nil):
            self = .model(.newest)
        case (_?, let f?):
            throw f.invalid("give either kernel (a version) or model (A-E), not both")
        }
    }
}

extension HostProfile {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(HostKey.self)
        self.init()
        try m.each(HostKey.self) { key, f throws(InvalidField) in
            switch key {
            case .vendor: vendor = try f.oneOf(WireNames.vendors)
            case .selfSnoop: selfSnoop = try f.bool()
            case .tdp: tdp = try f.bool()
            case .cpu: if f.value != .null { cpu = try CPUModel(f) }
            }
        }
    }
}

extension CPUModel {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(CPUKey.self)
        var family: Int?, model: Int?, stepping: Int?
        try m.each(CPUKey.self) { key, f throws(InvalidField) in
            switch key {
            case .family: family = try f.int(in: CPUModel.familyRange)
            case .model: model = try f.int(in: CPUModel.modelRange)
            case .stepping: stepping = try f.int(in: CPUModel.steppingRange)
            }
        }
        guard let family else { throw m.missing(CPUKey.family.rawValue) }
        guard let model else { throw m.missing(CPUKey.model.rawValue) }
        self.init(family: family, model: model, stepping: stepping)
    }
}

extension VMConfig {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(VMKey.self)
        self.init()
        try m.each(VMKey.self) { key, f throws(InvalidField) in
            switch key {
            case .type: type = try f.oneOf(WireNames.vmTypes)
            case .disabledQuirks: disabledQuirks = try QuirkMask(f)
            case .noncoherentDMA: noncoherentDMA = try f.bool()
            }
        }
    }
}

extension QuirkMask {
    /// A mask as an integer, a `"0x..."` string, or a list of quirk names.
    public init(_ field: Field) throws(InvalidField) {
        if case .array = field.value {
            var mask = QuirkMask()
            for item in try field.array(maxCount: QuirkMask.maxNames) {
                let name = try item.string()
                guard let quirk = Quirk(name: name) else {
                    throw item.invalid("unknown quirk \"\(name.prefix(40))\"; known: " + Quirk.allCases.map(\.name).joined(separator: ", "))
                }
                mask.insert(quirk.mask)
            }
            self = mask
        } else {
            self.init(rawValue: try field.uint64())
        }
        if unknownBits != 0 {
            throw field.invalid("bits \(String(format0x: unknownBits)) name no KVM quirk (known: bits 0-11)")
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
            throw field.invalid(error.description)
        } catch {
            throw error as! InvalidField
        }
    }

    public static let presets: [(String, PAT)] = [("reset", .reset), ("linux", .linux), ("linux-errata", .linuxErrata)]
}

extension VCPUState {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(VCPUKey.self)
        self.init()
        var maxPhysAddr = MTRRState.defaultMaxPhysAddr
        var mtrrField: Field?
        try m.each(VCPUKey.self) { key, f throws(InvalidField) in
            switch key {
            case .cr0CD: cr0CD = try f.bool()
            case .pat: pat = try PAT(f)
            case .mtrr: mtrrField = f  // below: it needs MAXPHYADDR
            case .cpuidMTRR: cpuidMTRR = try f.bool()
            case .maxPhysAddr: maxPhysAddr = try f.int(in: MTRRState.maxPhysAddrRange)
            }
        }
        mtrr = try mtrrField.map { f throws(InvalidField) in try MTRRState(f, maxPhysAddr: maxPhysAddr) } ?? .reset(maxPhysAddr: maxPhysAddr)
    }
}

extension GuestAccess {
    public init(_ field: Field) throws(InvalidField) {
        let m = try field.object(AccessKey.self)
        self.init()
        var pte: Field?, patIndex: Field?
        try m.each(AccessKey.self) { key, f throws(InvalidField) in
            switch key {
            case .gpa: gpa = try f.uint64()
            case .mmio: mmio = try f.bool()
            case .pte: pte = f  // below: a raw entry is read at the level
            case .patIndex: patIndex = f
            case .level: level = try f.pageLevel()
            case .tdxPrivate: tdxPrivate = try f.bool()
            }
        }
        guard let (key, f) = try PATIndexSource.given(pte: pte, patIndex: patIndex, conflict: { patIndex!.invalid($0) }) else { return }
        if key == .pte, case .object = f.value {
            let bits = try f.object(PTEKey.self)
            var pwt = false, pcd = false, pat = false
            try bits.each(PTEKey.self) { key, b throws(InvalidField) in
                switch key {
                case .pwt: pwt = try b.bool()
                case .pcd: pcd = try b.bool()
                case .pat: pat = try b.bool()
                }
            }
            setPATIndex(.pteBits(pwt: pwt, pcd: pcd, pat: pat))
        } else if key == .pte {
            setPATIndex(.pteEntry(try f.uint64()))
        } else {
            setPATIndex(.index(PATIndex(try f.int(in: PATIndex.range))!))
        }
    }
}

/// Name tables for `Field.oneOf`, built once (an array literal at the
/// call site would allocate on every request). The byte scanner's tables
/// are built from these.
package enum WireNames {
    package static let models = KVMModel.allCases.map { ($0.rawValue, $0) }
    package static let vendors = Vendor.allCases.map { ($0.rawValue, $0) }
    package static let vmTypes = VMType.allCases.map { ($0.rawValue, $0) }
}
