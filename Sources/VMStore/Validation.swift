import JSON
import MemTypeEngine

/// The field rules every backend applies. Failures name the field as a JSON pointer.
public enum Validation {
    public static let maxIDLength = 64
    public static let maxLabels = 64
    public static let maxLabelKeyLength = 128
    public static let maxLabelValueLength = 256
    public static let maxDisplayDevices = 32
    public static let maxDisplayDeviceLength = 64
    public static let maxKernelLength = 64
    public static let maxActorLength = 128

    private static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// `[A-Za-z0-9][A-Za-z0-9._-]*`, 1...maxLength bytes; `extra` admits more non-leading bytes.
    static func isToken(_ s: String, maxLength: Int, extra: UInt8? = nil) -> Bool {
        var count = 0
        for b in s.utf8 {
            if count == 0 {
                guard isAlnum(b) else { return false }
            } else {
                guard isAlnum(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == extra
                else { return false }
            }
            count += 1
            if count > maxLength { return false }
        }
        return count > 0
    }

    /// A VM id, host profile name or baseline name: 1-64 chars, `[A-Za-z0-9][A-Za-z0-9._-]*`.
    public static func identifier(_ s: String, field: String) throws(StoreError) {
        guard isToken(s, maxLength: maxIDLength) else {
            throw .invalid(field: field, message: "must be 1-\(maxIDLength) characters of [A-Za-z0-9._-], starting with a letter or digit")
        }
    }

    public static func actor(_ s: String) throws(StoreError) {
        let n = s.utf8.count
        guard n >= 1, n <= maxActorLength, !s.unicodeScalars.contains(where: isControl) else {
            throw .invalid(field: "/actor", message: "must be 1-\(maxActorLength) bytes without control characters")
        }
    }

    private static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0)
    }

    /// A label key: 1-128 chars of `[A-Za-z0-9._/-]`, starting with a letter
    /// or digit (`env`, `team.example.com/owner`).
    public static func labelKey(_ key: String, field: String) throws(StoreError) {
        guard isToken(key, maxLength: maxLabelKeyLength, extra: UInt8(ascii: "/")) else {
            throw .invalid(field: field, message: "label keys must be 1-\(maxLabelKeyLength) characters of [A-Za-z0-9._/-], starting with a letter or digit")
        }
    }

    /// A label value: 0-256 UTF-8 bytes, no control characters.
    public static func labelValue(_ value: String, field: String) throws(StoreError) {
        guard value.utf8.count <= maxLabelValueLength, !value.unicodeScalars.contains(where: isControl) else {
            throw .invalid(field: field, message: "label values must be at most \(maxLabelValueLength) bytes without control characters")
        }
    }

    public static func labels(_ labels: [String: String], field: String = "/labels") throws(StoreError) {
        guard labels.count <= maxLabels else {
            throw .invalid(field: field, message: "at most \(maxLabels) labels")
        }
        for key in labels.keys.sorted() {
            let pointer = "\(field)/\(JSONPointer.escape(key))"
            try labelKey(key, field: pointer)
            try labelValue(labels[key]!, field: pointer)
        }
    }

    public static func displayDevices(_ devices: [String]) throws(StoreError) {
        guard devices.count <= maxDisplayDevices else {
            throw .invalid(field: "/display_devices", message: "at most \(maxDisplayDevices) display devices")
        }
        for (i, d) in devices.enumerated() where !isToken(d, maxLength: maxDisplayDeviceLength) {
            throw .invalid(field: "/display_devices/\(i)",
                           message: "device names are 1-\(maxDisplayDeviceLength) characters of [A-Za-z0-9._-], starting with a letter or digit")
        }
    }

    public static func kernel(_ text: String, field: String) throws(StoreError) {
        guard text.utf8.count <= maxKernelLength, KernelVersion(text) != nil else {
            throw .invalid(field: field, message: "not a kernel version (e.g. 6.12, v6.11-rc3, 6.8.0-45-generic)")
        }
    }

    public static func quirkMask(_ mask: QuirkMask, field: String = "/quirks") throws(StoreError) {
        guard mask.unknownBits == 0 else {
            throw .invalid(field: field, message: "unknown quirk bits 0x\(String(mask.unknownBits, radix: 16))")
        }
    }

    public static func hostSpec(_ spec: HostSpec, field: String = "/host") throws(StoreError) {
        if let cpu = spec.cpu {
            guard CPUModel.familyRange.contains(cpu.family) else {
                throw .invalid(field: "\(field)/cpu/family", message: "must be \(CPUModel.familyRange) (display family)")
            }
            guard CPUModel.modelRange.contains(cpu.model) else {
                throw .invalid(field: "\(field)/cpu/model", message: "must be \(CPUModel.modelRange) (display model)")
            }
            if let stepping = cpu.stepping, !CPUModel.steppingRange.contains(stepping) {
                throw .invalid(field: "\(field)/cpu/stepping", message: "must be \(CPUModel.steppingRange)")
            }
        }
        if let kernel = spec.kernel { try Validation.kernel(kernel, field: "\(field)/kernel") }
    }

    public static func hostRef(_ ref: HostRef) throws(StoreError) {
        switch ref {
        case .inline(let spec): try hostSpec(spec)
        case .profile(let name): try identifier(name, field: "/host_profile")
        }
    }

    /// Everything in a record that does not need the store (baseline
    /// existence and host profile existence are checked by the store).
    public static func record(_ r: VMRecord) throws(StoreError) {
        try identifier(r.id, field: "/id")
        try identifier(r.baseline, field: "/baseline")
        try quirkMask(r.disabledQuirks)
        try hostRef(r.host)
        try displayDevices(r.displayDevices)
        if let g = r.guestKernel { try kernel(g, field: "/guest_kernel") }
        try labels(r.labels)
    }

    /// A page size: 1...1000; nil means the default.
    public static func limit(_ limit: Int, field: String = "/limit") throws(StoreError) {
        guard (1...VMQuery.maxLimit).contains(limit) else {
            throw .invalid(field: field, message: "must be 1...\(VMQuery.maxLimit)")
        }
    }
}
