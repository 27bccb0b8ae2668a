import ArgumentParser

struct VMGet: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a VM record (GET /v1/vms/{id}).")

    @Argument(help: "The VM's id.") var id: String
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        try output.emit(try server.requireClient().call(.getVM, id).body, text: RecordText.vm)
    }
}

/// `--limit` and `--cursor` of the listings.
struct PageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("At most this many items (1-1000, default 100).", valueName: "n"))
    var limit: Int?

    @Option(help: ArgumentHelp("The next_cursor of the previous page.", valueName: "cursor"))
    var cursor: String?

    var query: [(name: String, value: String)] {
        (limit.map { [("limit", String($0))] } ?? []) + (cursor.map { [("cursor", $0)] } ?? [])
    }
}

struct VMList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List VMs, filtered (GET /v1/vms).")

    @Option(help: ArgumentHelp("Only VMs on this baseline.", valueName: "name")) var baseline: String?
    @Option(help: ArgumentHelp("Only VMs on this host profile.", valueName: "name")) var hostProfile: String?
    @Option(name: .customLong("quirk"), help: ArgumentHelp("Only VMs with this choice (repeatable), e.g. IGNORE_GUEST_PAT:disable.", valueName: "name:choice"))
    var quirks: [String] = []
    @Option(name: .customLong("label"), help: ArgumentHelp("Only VMs with this label (repeatable).", valueName: "key=value"))
    var labels: [String] = []
    @Flag(inversion: .prefixedNo, help: "Only VMs whose quirks changed since their last start (or, with --no-, those that did not).")
    var restartRequired: Bool?
    @OptionGroup var page: PageOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        var query: [(name: String, value: String)] = []
        if let baseline { query.append(("baseline", baseline)) }
        if let hostProfile { query.append(("host_profile", hostProfile)) }
        if let restartRequired { query.append(("restart_required", restartRequired ? "true" : "false")) }
        query += quirks.map { ("quirk", $0) } + labels.map { ("label", $0) } + page.query
        try output.emit(try server.requireClient().call(.listVMs, query: query).body, text: RecordText.vmList)
    }
}

struct VMHistory: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "A VM's change history, newest first (GET /v1/vms/{id}/history).")

    @Argument(help: "The VM's id.") var id: String
    @OptionGroup var page: PageOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        try output.emit(try server.requireClient().call(.getVMHistory, id, query: page.query).body, text: RecordText.history)
    }
}
