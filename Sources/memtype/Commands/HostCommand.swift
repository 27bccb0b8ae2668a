import ArgumentParser
import JSON

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Host profiles: a named host (CPU, kernel) that VMs reference.",
        subcommands: [HostGet.self, HostPut.self, HostList.self]
    )
}

struct HostGet: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a host profile (GET /v1/hosts/{name}).")

    @Argument(help: "The profile's name.") var name: String
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        try output.emit(try server.requireClient().call(.getHostProfile, name).body, text: RecordText.host)
    }
}

struct HostPut: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Create or replace a host profile (PUT /v1/hosts/{name}).",
        discussion: """
            Members left out take the inline host's defaults. VMs on the profile see \
            the new spec at once.
              memtype host put spr --vendor intel --self-snoop --cpu 6:0x8f:8 --kernel 6.16
            """
    )

    @Argument(help: "The profile's name: 1-64 of [A-Za-z0-9._-].") var name: String
    @OptionGroup(title: "Host") var host: HostFlags
    @Option(help: ArgumentHelp("The host's kernel version: selects the KVM model.", valueName: "version")) var kernel: String?
    @Option(help: ArgumentHelp("The KVM model (A-E) instead, for vendor kernels.", valueName: "model")) var kvmModel: String?
    @OptionGroup var precondition: PreconditionOptions
    @OptionGroup var file: BodyFileOption
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        var body = try file.body()
        try host.apply(to: &body, at: [])
        body.set(["kernel"], kernel.map(JSONValue.string))
        body.set(["kvm_model"], kvmModel.map(JSONValue.string))
        let response = try server.requireClient().call(.putHostProfile, name, body: body.bytes, headers: try precondition.headers())
        try output.emit(response.body, text: RecordText.host)
    }
}

struct HostList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List host profiles (GET /v1/hosts).")

    @OptionGroup var page: PageOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        try output.emit(try server.requireClient().call(.listHostProfiles, query: page.query).body, text: RecordText.hostList)
    }
}
