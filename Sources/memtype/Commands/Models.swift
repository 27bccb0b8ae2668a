import ArgumentParser
import MemTypeWire

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List KVM's memory-type behaviour models with their kernel ranges and commits.",
        discussion: "Offline, or from the server (GET /v1/models) when one is named."
    )

    @OptionGroup(title: "Output")
    var output: OutputOptions

    @OptionGroup(title: "Server")
    var server: ServerOptions

    func run() throws {
        let body = try server.client()?.call(.listModels).body ?? ReferenceWire.json(ReferenceWire.writeModels)
        try output.emit(body, text: ReferenceText.models)
    }
}
