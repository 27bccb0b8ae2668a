import ArgumentParser

struct Baselines: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The baseline catalogue: each baseline's quirk mask, and the current one (GET /v1/baselines)."
    )

    @OptionGroup(title: "Output")
    var output: OutputOptions

    @OptionGroup(title: "Server")
    var server: ServerOptions

    func run() throws {
        try output.emit(try server.requireClient().call(.listBaselines).body, text: RecordText.baselines)
    }
}
