/// The operations of openapi.yaml that `memtype` calls, by `operationId`,
/// with their method, path template and request media type: the client's
/// whole view of the contract. tests/cli_test.py runs every command through
/// a recording proxy and checks each request against openapi.yaml (this
/// operation id at this method and path, declared query parameters, a body
/// valid for the request schema) and each answer against the response
/// schema of its status, so a drift on either side fails CI.
enum APIOperation: String, CaseIterable {
    case decide
    case effectiveTypeTable
    case listModels
    case getVM
    case putVM
    case patchVM
    case listVMs
    case getVMHistory
    case getVMDecision
    case getVMKVMQuirks
    case moveVMBaseline
    case listBaselines
    case getHostProfile
    case putHostProfile
    case listHostProfiles

    var method: String {
        switch self {
        case .decide, .moveVMBaseline: "POST"
        case .putVM, .putHostProfile: "PUT"
        case .patchVM: "PATCH"
        case .effectiveTypeTable, .listModels, .getVM, .listVMs, .getVMHistory, .getVMDecision, .getVMKVMQuirks,
             .listBaselines, .getHostProfile, .listHostProfiles: "GET"
        }
    }

    /// The path with `{name}` placeholders, as openapi.yaml writes it.
    var path: String {
        switch self {
        case .decide: "/v1/decisions"
        case .effectiveTypeTable: "/v1/effective-types"
        case .listModels: "/v1/models"
        case .getVM, .putVM, .patchVM: "/v1/vms/{id}"
        case .listVMs: "/v1/vms"
        case .getVMHistory: "/v1/vms/{id}/history"
        case .getVMDecision: "/v1/vms/{id}/decision"
        case .getVMKVMQuirks: "/v1/vms/{id}/kvm-quirks"
        case .moveVMBaseline: "/v1/vms/{id}/baseline-move"
        case .listBaselines: "/v1/baselines"
        case .getHostProfile, .putHostProfile: "/v1/hosts/{name}"
        case .listHostProfiles: "/v1/hosts"
        }
    }

    /// The media type of the request body, nil for operations without one.
    var bodyType: String? {
        switch self {
        case .decide, .putVM, .moveVMBaseline, .putHostProfile: "application/json"
        case .patchVM: "application/merge-patch+json"
        default: nil
        }
    }

    /// The path with each placeholder replaced, in order, by a percent-encoded argument.
    func path(_ arguments: [String]) -> String {
        var out = ""
        var rest = arguments[...]
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            out += "/"
            if segment.hasPrefix("{") {
                out += URLEncoding.component(rest.popFirst() ?? "")
            } else {
                out += segment
            }
        }
        precondition(rest.isEmpty, "\(rawValue) takes \(arguments.count - rest.count) path arguments")
        return out
    }
}

enum URLEncoding {
    /// RFC 3986 unreserved characters stay; every other byte is %XX.
    static func component(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return out
    }

    /// `a=1&b=x%3Dy`: each name and value encoded.
    static func query(_ items: [(name: String, value: String)]) -> String {
        items.map { component($0.name) + "=" + component($0.value) }.joined(separator: "&")
    }
}
