import ArgumentParser
import JSON
import MemTypeWire

/// A host described by flags (schema `HostProfile`, whose keys are `HostKey` and `CPUKey`):
/// `decide`'s inline host, `vm create`'s inline host, and `host put`.
struct HostFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Host CPU vendor: intel or amd.", valueName: "vendor"))
    var vendor: String?

    @Flag(inversion: .prefixedNo, help: "Whether the host CPU self-snoops (X86_FEATURE_SELFSNOOP).")
    var selfSnoop: Bool?

    @Flag(inversion: .prefixedNo, help: "Whether KVM uses EPT/NPT (--no-tdp: shadow paging).")
    var tdp: Bool?

    @Option(help: ArgumentHelp("Host CPU as FAMILY:MODEL[:STEPPING], e.g. 6:0x8f:8 (Sapphire Rapids).", valueName: "f:m[:s]"))
    var cpu: String?

    var isEmpty: Bool { vendor == nil && selfSnoop == nil && tdp == nil && cpu == nil }

    /// Sets the given members into the object at `path` of `body`.
    func apply(to body: inout JSONInput, at path: [String]) throws(Failure) {
        body.set(path + [HostKey.vendor.rawValue], vendor.map(JSONValue.string))
        body.set(path + [HostKey.selfSnoop.rawValue], selfSnoop.map(JSONValue.bool))
        body.set(path + [HostKey.tdp.rawValue], tdp.map(JSONValue.bool))
        if let cpu {
            let parts = cpu.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), !parts.contains(where: \.isEmpty) else {
                throw .badInput("--cpu \(cpu): expected FAMILY:MODEL or FAMILY:MODEL:STEPPING, e.g. 6:0x8f:8")
            }
            body.set(path + [HostKey.cpu.rawValue, CPUKey.family.rawValue], .scalar(parts[0]))
            body.set(path + [HostKey.cpu.rawValue, CPUKey.model.rawValue], .scalar(parts[1]))
            if parts.count == 3 { body.set(path + [HostKey.cpu.rawValue, CPUKey.stepping.rawValue], .scalar(parts[2])) }
        }
    }
}
