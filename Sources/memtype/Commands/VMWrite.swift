import ArgumentParser
import JSON

struct VMCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Register a VM (PUT /v1/vms/{id} with If-None-Match: *): exit 4 if the id exists.",
        discussion: """
            The VM takes its baseline's quirk mask (default: the server's current \
            baseline), then --disable/--keep-enabled on top; the record keeps every \
            choice, so later changes of defaults never change it.
              memtype vm create web-01 --host-profile spr --display VGA \\
                  --guest-kernel 6.1 --label team=web
            """
    )

    @Argument(help: "The VM's id: 1-64 of [A-Za-z0-9._-], e.g. its libvirt UUID.") var id: String
    @OptionGroup(title: "VM") var spec: VMSpecFlags
    @OptionGroup var file: BodyFileOption
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        var body = try file.body()
        try spec.apply(to: &body)
        let response: HTTPResponse
        do throws(Failure) {
            response = try server.requireClient().call(.putVM, id, body: body.bytes, headers: [("If-None-Match", "*")])
        } catch {
            guard error.status == .conflict else { throw error }
            throw Failure(status: .conflict, summary: "VM \(id) exists already", detail: "memtype vm patch changes it")
        }
        try output.emit(response.body, text: RecordText.vm)
    }
}

struct VMPatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patch",
        abstract: "Change a VM with a JSON merge patch (PATCH /v1/vms/{id}).",
        discussion: """
            Flags and --file build one RFC 7386 merge patch: members named change, the \
            rest stay. --baseline moves the VM to another baseline's mask.
              memtype vm patch web-01 --guest-kernel 6.13 --disable IGNORE_GUEST_PAT \\
                  --if-match 1
            """
    )

    @Argument(help: "The VM's id.") var id: String
    @OptionGroup(title: "VM") var spec: VMSpecFlags
    @Option(name: .customLong("remove-label"), help: ArgumentHelp("Remove this label (repeatable).", valueName: "key"))
    var removeLabels: [String] = []
    @Option(name: .customLong("revert-quirk"), help: ArgumentHelp("Revert this quirk to its baseline's choice (repeatable).", valueName: "quirk"))
    var revertQuirks: [String] = []
    @OptionGroup var precondition: PreconditionOptions
    @OptionGroup var file: BodyFileOption
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        var body = try file.body()
        try spec.apply(to: &body)
        for key in removeLabels { body.set(["labels", key], .null) }
        for quirk in revertQuirks { body.set(["quirks", quirk], .null) }
        if file.file == nil && spec.isEmpty && removeLabels.isEmpty && revertQuirks.isEmpty {
            throw Failure.badInput("nothing to change: give flags (see memtype vm patch --help) or --file")
        }
        let response = try server.requireClient().call(.patchVM, id, body: body.bytes, headers: try precondition.headers())
        try output.emit(response.body, text: RecordText.vm)
    }
}

struct VMMove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move",
        abstract: "Move a VM to another baseline (POST /v1/vms/{id}/baseline-move).",
        discussion: """
            The VM takes the target baseline's whole quirk mask. --dry-run reports \
            what would change for its decisions and writes nothing.
              memtype vm move web-01 --to honor-guest-pat-2025 --dry-run
            """
    )

    @Argument(help: "The VM's id.") var id: String
    @Option(help: ArgumentHelp("The target baseline (memtype baselines lists them).", valueName: "baseline")) var to: String
    @Flag(help: "Report what the move would do, and write nothing.") var dryRun = false
    @OptionGroup var precondition: PreconditionOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        var body = JSONInput()
        body.set(["baseline"], .string(to))
        if dryRun { body.set(["dry_run"], .bool(true)) }
        let response = try server.requireClient().call(.moveVMBaseline, id, body: body.bytes, headers: try precondition.headers())
        try output.emit(response.body, text: RecordText.move)
    }
}
