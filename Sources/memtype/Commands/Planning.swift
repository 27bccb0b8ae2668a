import ArgumentParser

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What a kernel change on a host profile does to each of its VMs (GET /v1/hosts/{name}/kernel-plan).",
        discussion: """
            Each VM's KVM_CAP_DISABLE_QUIRKS2 outcome and memory types before and after, \
            what changes, and what keeps the old behaviour.
              memtype plan spr --kernel 6.15
            """
    )

    @Argument(help: "The host profile.") var host: String
    @Option(help: ArgumentHelp("The host kernel to plan for.", valueName: "version")) var kernel: String?
    @Option(help: ArgumentHelp("The KVM model (A-E) to plan for instead, for a vendor kernel.", valueName: "model")) var model: String?
    @OptionGroup var page: PageOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        var query: [(name: String, value: String)] = []
        if let kernel { query.append(("kernel", kernel)) }
        if let model { query.append(("model", model)) }
        try output.emit(try server.requireClient().call(.getKernelPlan, host, query: query + page.query).body, text: PlanText.plan)
    }
}

struct Placements: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Which host profiles a VM can live-migrate to and keep its behaviour (GET /v1/vms/{id}/placements).",
        discussion: "  memtype placements web-01"
    )

    @Argument(help: "The VM's id.") var id: String
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        try output.emit(try server.requireClient().call(.getVMPlacements, id).body, text: PlanText.placements)
    }
}

struct Risks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The VMs whose bochs framebuffer is not WB, and how to fix each (GET /v1/risks).",
        discussion: "  memtype risks --host-profile spr --label team=web"
    )

    @Option(help: ArgumentHelp("Only VMs on this host profile.", valueName: "name")) var hostProfile: String?
    @Option(name: .customLong("label"), help: ArgumentHelp("Only VMs with this label (repeatable).", valueName: "key=value"))
    var labels: [String] = []
    @OptionGroup var page: PageOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        var query: [(name: String, value: String)] = []
        if let hostProfile { query.append(("host_profile", hostProfile)) }
        query += labels.map { ("label", $0) } + page.query
        try output.emit(try server.requireClient().call(.listRisks, query: query).body, text: PlanText.risks)
    }
}
