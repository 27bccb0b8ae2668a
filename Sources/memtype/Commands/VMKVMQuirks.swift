import ArgumentParser
import JSON

enum QuirksFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, mask
}

struct VMKVMQuirks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvm-quirks",
        abstract: "The KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2) call a VM's VMM makes (GET /v1/vms/{id}/kvm-quirks).",
        discussion: """
            --format mask prints only the mask to apply, e.g. 0x200, for a script to \
            pass on. When the host's KVM would refuse the VM's pinned mask (EINVAL: a \
            bit it does not support), the mask KVM would accept is still printed, the \
            refused bits are named on stderr, and the exit status is 4.
              mask=$(memtype vm kvm-quirks web-01 --format mask) || exit
            """
    )

    @Argument(help: "The VM's id.") var id: String
    @Option(help: ArgumentHelp("Evaluate as under this host kernel instead of the host's.", valueName: "version")) var kernel: String?
    @Option(help: ArgumentHelp("Evaluate as under this KVM model (A-E) instead of the host's.", valueName: "model")) var model: String?
    @Flag(help: "Print the API's JSON body exactly as the server sent it, then a newline.") var json = false
    @Option(help: ArgumentHelp("text, json or mask (default: text when stdout is a terminal, json otherwise).", valueName: "format"))
    var format: QuirksFormat?
    @OptionGroup(title: "Server") var server: ServerOptions

    func validate() throws {
        if json, let format, format != .json { throw ValidationError("--json and --format \(format.rawValue) contradict each other") }
    }

    func run() throws {
        var query: [(name: String, value: String)] = []
        if let kernel { query.append(("kernel", kernel)) }
        if let model { query.append(("model", model)) }
        let body = try server.requireClient().call(.getVMKVMQuirks, id, query: query).body
        let value = try OutputOptions.parsed(body)
        let resolved = json ? .json : format ?? (Terminal.stdoutIsTerminal ? .text : .json)
        switch resolved {
        case .json:
            Terminal.print(bytes: body)
        case .text:
            OutputOptions.emit(value, body: body, as: .text, text: RecordText.kvmQuirks)
        case .mask:
            guard let mask = value[path: "disable_quirks2", "mask_to_apply"]?.stringValue else {
                throw Failure(status: .unavailable, summary: "the server's answer has no disable_quirks2.mask_to_apply")
            }
            Terminal.print(mask)
        }
        // The pinned mask cannot be applied as recorded: whatever was printed, a script must notice.
        if value[path: "disable_quirks2", "would_fail"]?.boolValue == true {
            let call = value["disable_quirks2"]
            throw Failure(status: .conflict, summary: "KVM on this host would refuse VM \(id)'s mask \(call["mask"].text) (EINVAL)",
                          detail: "unsupported bits \(call["refused"].text) (\(call["refused_names"].items.map(\.text).joined(separator: ", "))); it would accept \(call["mask_to_apply"].text)")
        }
    }
}

