import ArgumentParser
import JSON
import MemTypeEngine
import MemTypeWire

struct Decide: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide one guest access: effective type, EPT type and IPAT, guest PAT, the Table 11-7 cell, the rules, the warnings.",
        discussion: """
            The request comes from flags, from a JSON file (--file; - is stdin), or from \
            JSON on stdin; flags are set over the file's members. With a server named \
            (--server or MEMTYPE_SERVER) memtyped decides (POST /v1/decisions), otherwise \
            the engine in this binary: both answer the same JSON.

            Example (the bochs framebuffer under Linux 6.16 with guest PAT honored):
              memtype decide --kernel 6.16 --pat linux --pat-index 2 --gpa 0xfd000000 \\
                  --disable IGNORE_GUEST_PAT
            """
    )

    @OptionGroup(title: "Request")
    var request: DecisionFlags

    @Option(name: .shortAndLong, help: ArgumentHelp("Read the request (JSON, schema DecisionRequest) from this file; - is stdin.", valueName: "path"))
    var file: String?

    @OptionGroup(title: "Output")
    var output: OutputOptions

    @OptionGroup(title: "Server")
    var server: ServerOptions

    func run() throws {
        let body = try requestBody()
        if let client = try server.client() {
            let response: HTTPResponse
            do throws(Failure) {
                response = try client.call(.decide, body: body.bytes)
            } catch {
                throw Self.namingFlag(error)
            }
            try output.emit(response.body, text: DecisionText.render)
        } else {
            try output.emit(try Self.decideHere(body.bytes), text: DecisionText.render)
        }
    }

    /// The request from the file, stdin or nothing, with the flags set over it.
    func requestBody() throws(Failure) -> JSONInput {
        var body: JSONInput
        if let file {
            body = try FileInput.json(path: file)
        } else if !request.isEmpty {
            body = JSONInput()
        } else if Terminal.stdinIsTerminal {
            // Nothing to read but a person's typing: say what is expected rather than wait.
            throw Failure.badInput("""
                decide needs a request: flags (memtype decide --kernel 6.16 --pat linux --pat-index 2 \
                --gpa 0xfd000000), a JSON file (--file req.json), or JSON on stdin; see memtype decide --help
                """)
        } else {
            guard let bytes = FileInput.read(fd: 0) else {
                throw .badInput("stdin: cannot read it (\(FileInput.lastError))")
            }
            body = try JSONInput(bytes: bytes, origin: "stdin")
        }
        try request.apply(to: &body)
        return body
    }

    /// The engine's answer, as the JSON memtyped would send.
    static func decideHere(_ body: [UInt8]) throws(Failure) -> [UInt8] {
        do throws(RequestError) {
            return DecisionEngine.decide(try DecisionRequest(json: body)).json()
        } catch {
            switch error {
            case .malformed(let e): throw Failure.badInput("not JSON: \(e.description)")
            case .invalid(let e): throw namingFlag(Failure(status: .badInput, summary: "invalid request", detail: e.message, pointer: e.pointer))
            }
        }
    }

    /// The failure with the flag that set the member it points at, if a flag did.
    static func namingFlag(_ failure: Failure) -> Failure {
        guard let pointer = failure.pointer, let flag = DecisionFlags.flag(for: pointer) else { return failure }
        var named = failure
        named.pointer = "\(pointer), \(flag)"
        return named
    }
}
