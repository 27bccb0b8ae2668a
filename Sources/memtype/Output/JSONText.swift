import JSON

/// Reading response members for the text renderers: a missing member or a
/// null reads as `-`, so a renderer never traps on a body it did not expect.
extension JSONValue {
    subscript(path keys: String...) -> JSONValue? {
        var v: JSONValue? = self
        for key in keys { v = v?[key] }
        return v
    }

    /// A scalar as text: strings as they are, numbers and booleans as JSON writes them, null and absence as `-`.
    var text: String {
        switch self {
        case .string(let s): s
        case .null: "-"
        case .bool(let b): b ? "true" : "false"
        case .number(let n): n.literal
        default: String(decoding: encoded(), as: UTF8.self)
        }
    }

    var items: [JSONValue] { arrayValue ?? [] }
    var members: [(key: String, value: JSONValue)] { objectValue?.members ?? [] }
}

extension Optional where Wrapped == JSONValue {
    subscript(key: String) -> JSONValue? { self?[key] }
    var text: String { self?.text ?? "-" }
    var items: [JSONValue] { self?.items ?? [] }
    var members: [(key: String, value: JSONValue)] { self?.members ?? [] }
}
