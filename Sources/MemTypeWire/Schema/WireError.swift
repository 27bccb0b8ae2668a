import JSON

/// A request the service cannot accept, with where the problem is.
///
/// `malformed` is a body that is not JSON at all (HTTP 400); `invalid` is
/// JSON whose values are wrong (HTTP 422), with an RFC 6901 JSON pointer to
/// the field, such as `/vcpu/pat`.
public enum RequestError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(JSONParseError)
    case invalid(InvalidField)

    public var description: String {
        switch self {
        case .malformed(let e): "malformed JSON: \(e)"
        case .invalid(let e): e.description
        }
    }
}

/// A field whose value is wrong.
public struct InvalidField: Error, Sendable, Equatable, CustomStringConvertible {
    /// RFC 6901 pointer to the field (`""` is the whole document).
    public let pointer: String
    public let message: String

    public init(pointer: String, message: String) {
        self.pointer = pointer
        self.message = message
    }

    public var description: String { "\(pointer.isEmpty ? "request" : pointer): \(message)" }
}

extension RequestError {
    /// Parses a body, turning a syntax error into `.malformed`.
    public static func parse(_ body: [UInt8]) throws(RequestError) -> JSONValue {
        do {
            return try JSONParser.parse(body)
        } catch {
            throw .malformed(error)
        }
    }
}
