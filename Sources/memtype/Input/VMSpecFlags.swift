import ArgumentParser
import JSON

/// A VM record's members as flags (schemas `VMInput` and `VMPatch`), for
/// `vm create` and `vm patch`. Anything else goes in a JSON file; flags are
/// set over it. These member names are held to openapi.yaml by
/// tests/cli_test.py, which sends every one of them through a proxy that
/// validates the body against the schema (closed objects: a misspelt key
/// fails there, and at the server with 422).
struct VMSpecFlags: ParsableArguments {
    @Option(help: ArgumentHelp("The host profile the VM runs on (memtype host put NAME ...).", valueName: "name"))
    var hostProfile: String?

    @OptionGroup(title: "Inline host (instead of --host-profile)")
    var host: HostFlags

    @Option(help: ArgumentHelp("The inline host's kernel version.", valueName: "version"))
    var hostKernel: String?

    @Option(help: ArgumentHelp("The baseline whose quirk mask the VM takes (default: the server's current one); another one moves the VM.", valueName: "name"))
    var baseline: String?

    @Option(name: .customLong("display"), help: ArgumentHelp("An emulated display device (repeatable): VGA, bochs-display, virtio-gpu, ...", valueName: "device"))
    var displays: [String] = []

    @Option(help: ArgumentHelp("The guest's kernel version, e.g. 6.1.", valueName: "version"))
    var guestKernel: String?

    @Option(name: .customLong("label"), help: ArgumentHelp("A label KEY=VALUE (repeatable).", valueName: "key=value"))
    var labels: [String] = []

    @Option(name: .customLong("type"), help: ArgumentHelp("VM type: regular or tdx.", valueName: "type"))
    var vmType: String?

    @Flag(inversion: .prefixedNo, help: "A device does non-coherent DMA (kvm-vfio).")
    var noncoherentDMA: Bool?

    @Option(name: .customLong("disable"), help: ArgumentHelp("Disable this quirk for the VM (repeatable), e.g. IGNORE_GUEST_PAT.", valueName: "quirk"))
    var disable: [String] = []

    @Option(name: .customLong("keep-enabled"), help: ArgumentHelp("Keep this quirk enabled for the VM (repeatable).", valueName: "quirk"))
    var keepEnabled: [String] = []

    var isEmpty: Bool {
        hostProfile == nil && host.isEmpty && hostKernel == nil && baseline == nil && displays.isEmpty && guestKernel == nil
            && labels.isEmpty && vmType == nil && noncoherentDMA == nil && disable.isEmpty && keepEnabled.isEmpty
    }

    func apply(to body: inout JSONInput) throws(Failure) {
        body.set(["host_profile"], hostProfile.map(JSONValue.string))
        try host.apply(to: &body, at: ["host"])
        body.set(["host", "kernel"], hostKernel.map(JSONValue.string))
        body.set(["baseline"], baseline.map(JSONValue.string))
        if !displays.isEmpty { body.set(["display_devices"], .array(displays.map(JSONValue.string))) }
        body.set(["guest_kernel"], guestKernel.map(JSONValue.string))
        for label in labels {
            guard let eq = label.firstIndex(of: "="), eq != label.startIndex else {
                throw .badInput("--label \(label): expected KEY=VALUE")
            }
            body.set(["labels", String(label[..<eq])], .string(String(label[label.index(after: eq)...])))
        }
        body.set(["type"], vmType.map(JSONValue.string))
        body.set(["noncoherent_dma"], noncoherentDMA.map(JSONValue.bool))
        for quirk in disable { body.set(["quirks", quirk], .string("disable")) }
        for quirk in keepEnabled { body.set(["quirks", quirk], .string("keep_enabled")) }
    }
}

/// `--if-match`: a revision (`7`) or an entity tag (`"r7"`, `r7`), sent as `If-Match`.
struct PreconditionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Only if the record is at this revision (else exit 4).", valueName: "revision"))
    var ifMatch: String?

    func headers() throws(Failure) -> [(name: String, value: String)] {
        guard let given = ifMatch else { return [] }
        var tag = given
        if tag.hasPrefix("\"") && tag.hasSuffix("\"") && tag.count >= 2 { tag = String(tag.dropFirst().dropLast()) }
        if tag.hasPrefix("r") { tag.removeFirst() }
        guard UInt64(tag) != nil else {  // ASCII digits only (`isNumber` takes '½')
            throw .badInput("--if-match \(given): expected a revision such as 7 (or the ETag \"r7\")")
        }
        return [("If-Match", "\"r\(tag)\"")]
    }
}
