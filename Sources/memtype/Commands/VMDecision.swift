import ArgumentParser

struct VMDecision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decision",
        abstract: "Decide one access of a stored VM (GET /v1/vms/{id}/decision).",
        discussion: """
            The VM-level inputs (quirks, type, host) come from the record; the flags \
            give the access and the guest PAT.
              memtype vm decision web-01 --gpa 0xfd000000 --pat-index 2 --pat linux
            """
    )

    @Argument(help: "The VM's id.") var id: String
    @OptionGroup(title: "Access") var access: AccessFlags
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func run() throws {
        let response: HTTPResponse
        do throws(Failure) {
            response = try server.requireClient().call(.getVMDecision, id, query: access.query)
        } catch {
            throw Self.namingFlag(error)
        }
        try output.emit(response.body, text: DecisionText.render)
    }

    /// The query pointer `/query/gpa` with its flag.
    static func namingFlag(_ failure: Failure) -> Failure {
        guard let pointer = failure.pointer, pointer.hasPrefix("/query/") else { return failure }
        let name = String(pointer.dropFirst("/query/".count))
        guard let flag = AccessFlags.flags.first(where: { $0.pointer.hasSuffix("/" + name) })?.flag else { return failure }
        var named = failure
        named.pointer = "\(pointer), \(flag)"
        return named
    }
}
