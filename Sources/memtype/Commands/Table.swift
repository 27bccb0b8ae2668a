import ArgumentParser
import MemTypeWire

struct Table: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print SDM Table 11-7, the effective memory type of MTRR (or EPT) type x PAT type.",
        discussion: "Offline, or from the server (GET /v1/effective-types) when one is named."
    )

    @OptionGroup(title: "Output")
    var output: OutputOptions

    @OptionGroup(title: "Server")
    var server: ServerOptions

    func run() throws {
        let body = try server.client()?.call(.effectiveTypeTable).body
            ?? ReferenceWire.json(ReferenceWire.writeEffectiveTypeTable)
        try output.emit(body, text: ReferenceText.table)
    }
}
