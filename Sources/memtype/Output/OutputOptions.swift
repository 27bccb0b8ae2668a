import ArgumentParser
import JSON

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// `--json` / `--format`: a readable summary on a terminal, the API's JSON
/// body otherwise (or when asked).
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the API's JSON body exactly as the server sent it (offline: as memtyped would send it), then a newline.")
    var json = false

    @Option(help: ArgumentHelp("text or json (default: text when stdout is a terminal, json otherwise).", valueName: "format"))
    var format: OutputFormat?

    func validate() throws {
        if json && format == .text { throw ValidationError("--json and --format text contradict each other") }
    }

    var resolved: OutputFormat { json ? .json : format ?? (Terminal.stdoutIsTerminal ? .text : .json) }

    /// Prints `body` as it is (json) or as `text` renders it.
    func emit(_ body: [UInt8], text: (JSONValue) -> String) throws(Failure) {
        try Self.emit(body, as: resolved, text: text)
    }

    static func emit(_ body: [UInt8], as format: OutputFormat, text: (JSONValue) -> String) throws(Failure) {
        emit(try parsed(body), body: body, as: format, text: text)
    }

    /// `emit` for a body already parsed (`value`).
    static func emit(_ value: JSONValue, body: [UInt8], as format: OutputFormat, text: (JSONValue) -> String) {
        switch format {
        case .json:
            Terminal.print(bytes: body)
        case .text:
            var rendered = text(value)
            while rendered.hasSuffix("\n") { rendered.removeLast() }
            Terminal.print(rendered)
        }
    }

    /// The server's answer as JSON. One that is not (an empty 204, a proxy's HTML page) is a
    /// failing server in either format: `--json` passes bodies through, but never that one.
    static func parsed(_ body: [UInt8]) throws(Failure) -> JSONValue {
        guard let value = try? JSONParser.parse(body) else {
            throw Failure(status: .unavailable, summary: "the server's answer is not JSON",
                          detail: body.isEmpty ? "(an empty body)" : String(decoding: body.prefix(120), as: UTF8.self))
        }
        return value
    }
}
