import ArgumentParser
import JSON
import MemTypeWire

/// The common fields of a decision request (schema `DecisionRequest`) as
/// flags. Everything else (guest MTRRs, a raw PTE as bits) goes in a JSON
/// file; flags are set over it. Member names are the wire's (`RequestKey`
/// and its kin in MemTypeWire), so they cannot drift from the decoder.
struct DecisionFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Host kernel version (6.16, 6.12.78, 6.11-rc1): selects the KVM model.", valueName: "version"))
    var kernel: String?

    @Option(help: ArgumentHelp("KVM behaviour model A-E instead of --kernel.", valueName: "model"))
    var model: String?

    @OptionGroup(title: "Host")
    var host: HostFlags

    @Option(help: ArgumentHelp("VM type: regular or tdx.", valueName: "type"))
    var vmType: String?

    @Option(name: .customLong("disable"), help: ArgumentHelp(
        "A quirk the VMM disables at VM creation (repeatable), e.g. IGNORE_GUEST_PAT; or one mask, e.g. 0x200.", valueName: "quirk"))
    var disabledQuirks: [String] = []

    @Flag(help: "A device does non-coherent DMA (kvm-vfio).")
    var noncoherentDMA = false

    @Flag(help: "The guest has CR0.CD set.")
    var cr0CD = false

    @Option(help: ArgumentHelp("The guest's MAXPHYADDR (default 46).", valueName: "bits"))
    var maxphyaddr: Int?

    @OptionGroup(title: "Access")
    var access: AccessFlags

    var isEmpty: Bool {
        kernel == nil && model == nil && host.isEmpty && vmType == nil && disabledQuirks.isEmpty && !noncoherentDMA
            && !cr0CD && maxphyaddr == nil && access.isEmpty
    }

    func apply(to body: inout JSONInput) throws(Failure) {
        body.set([RequestKey.kernel.rawValue], kernel.map(JSONValue.string))
        body.set([RequestKey.model.rawValue], model.map(JSONValue.string))
        try host.apply(to: &body, at: [RequestKey.host.rawValue])
        let vm = RequestKey.vm.rawValue, vcpu = RequestKey.vcpu.rawValue
        body.set([vm, VMKey.type.rawValue], vmType.map(JSONValue.string))
        if disabledQuirks.count == 1, let mask = disabledQuirks.first, mask.first?.isNumber == true {
            body.set([vm, VMKey.disabledQuirks.rawValue], .scalar(mask))
        } else if !disabledQuirks.isEmpty {
            body.set([vm, VMKey.disabledQuirks.rawValue], .array(disabledQuirks.map(JSONValue.string)))
        }
        if noncoherentDMA { body.set([vm, VMKey.noncoherentDMA.rawValue], .bool(true)) }
        if cr0CD { body.set([vcpu, VCPUKey.cr0CD.rawValue], .bool(true)) }
        body.set([vcpu, VCPUKey.maxPhysAddr.rawValue], maxphyaddr.map { .number(JSONNumber(Int64($0))) })
        body.set([vcpu, VCPUKey.pat.rawValue], access.pat.map(JSONValue.string))
        for (key, value) in access.access { body.set([RequestKey.access.rawValue, key.rawValue], value) }
    }

    /// The flag that sets the member at `pointer`, if one does.
    static func flag(for pointer: String) -> String? {
        let vm = "/\(RequestKey.vm.rawValue)/", vcpu = "/\(RequestKey.vcpu.rawValue)/", host = "/\(RequestKey.host.rawValue)/"
        let table: [(String, String)] = AccessFlags.flags + [
            ("/\(RequestKey.kernel.rawValue)", "--kernel"), ("/\(RequestKey.model.rawValue)", "--model"),
            (host + HostKey.vendor.rawValue, "--vendor"), (host + HostKey.selfSnoop.rawValue, "--self-snoop"),
            (host + HostKey.tdp.rawValue, "--tdp"), (host + HostKey.cpu.rawValue, "--cpu"),
            (vm + VMKey.type.rawValue, "--vm-type"), (vm + VMKey.disabledQuirks.rawValue, "--disable"),
            (vm + VMKey.noncoherentDMA.rawValue, "--noncoherent-dma"),
            (vcpu + VCPUKey.cr0CD.rawValue, "--cr0-cd"), (vcpu + VCPUKey.maxPhysAddr.rawValue, "--maxphyaddr"),
        ]
        return table.first { pointer == $0.0 || pointer.hasPrefix($0.0 + "/") }?.1
    }
}
