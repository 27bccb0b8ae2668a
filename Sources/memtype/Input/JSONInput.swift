import ArgumentParser
import JSON

/// A request body being put together: parsed from a file or stdin, and/or
/// built from flags. Flags are set over what the file gives, so a file can
/// hold the rarely-changed parts (MTRRs, labels) and flags vary the rest.
struct JSONInput {
    var value: JSONValue

    init(_ value: JSONValue = .object(JSONObject())) {
        self.value = value
    }

    /// Parses `bytes`; `origin` names them in the error (`stdin`, a path).
    init(bytes: [UInt8], origin: String) throws(Failure) {
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw .badInput("\(origin): not JSON: \(error.message) (line \(error.line), column \(error.column))")
        }
        guard case .object = value else { throw .badInput("\(origin): expected a JSON object") }
    }

    /// Sets the member at `path` (`["access", "gpa"]`), making the objects on the way.
    mutating func set(_ path: [String], _ member: JSONValue) {
        Self.set(&value, path[...], member)
    }

    /// Sets it only when `member` is given.
    mutating func set(_ path: [String], _ member: JSONValue?) {
        if let member { set(path, member) }
    }

    private static func set(_ target: inout JSONValue, _ path: ArraySlice<String>, _ member: JSONValue) {
        guard let key = path.first else {
            target = member
            return
        }
        var object = target.objectValue ?? JSONObject()
        var child = object[key] ?? .object(JSONObject())
        set(&child, path.dropFirst(), member)
        object[key] = child
        target = .object(object)
    }

    var bytes: [UInt8] { value.encoded() }
}

extension JSONValue {
    /// A flag's text as the API takes it: decimal digits as a JSON integer,
    /// anything else (`0xfd000000`, `linux`) as a string the server reads.
    static func scalar(_ text: String) -> JSONValue {
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
           let n = JSONNumber(literal: text) {
            return .number(n)
        }
        return .string(text)
    }
}

/// `--file`: a JSON body to start from (`-` is stdin); flags are set over it.
struct BodyFileOption: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("Start the request body from this JSON file; - is stdin. Flags are set over it.", valueName: "path"))
    var file: String?

    /// The file's object, or an empty one.
    func body() throws(Failure) -> JSONInput {
        guard let file else { return JSONInput() }
        return try FileInput.json(path: file)
    }
}
