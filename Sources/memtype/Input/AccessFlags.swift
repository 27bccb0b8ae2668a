import ArgumentParser
import JSON
import MemTypeWire

/// One guest access and the guest's PAT: `decide`'s `access` and
/// `vcpu.pat`, and the query of `vm decision`. The names are the wire's
/// (`AccessKey`, `VCPUKey`), the same in a body and in the query.
struct AccessFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Guest-physical address, e.g. 0xfd000000.", valueName: "address"))
    var gpa: String?

    @Option(help: ArgumentHelp("Guest PAT index, 0-7.", valueName: "index"))
    var patIndex: Int?

    @Option(help: ArgumentHelp("The raw paging entry instead of --pat-index (its PWT, PCD and PAT bits).", valueName: "entry"))
    var pte: String?

    @Option(help: ArgumentHelp("Mapping level: 4K, 2M or 1G.", valueName: "level"))
    var level: String?

    @Flag(help: "The host PFN is MMIO.")
    var mmio = false

    @Flag(name: .customLong("private"), help: "A TDX private GPA.")
    var tdxPrivate = false

    @Option(help: ArgumentHelp("The guest's IA32_PAT: a value or reset, linux, linux-errata.", valueName: "pat"))
    var pat: String?

    /// The members as (wire name, value) pairs, the access's first.
    var access: [(key: AccessKey, value: JSONValue)] {
        var out: [(AccessKey, JSONValue)] = []
        if let gpa { out.append((.gpa, .scalar(gpa))) }
        if let patIndex { out.append((.patIndex, .number(JSONNumber(Int64(patIndex))))) }
        if let pte { out.append((.pte, .scalar(pte))) }
        if let level { out.append((.level, .string(level))) }
        if mmio { out.append((.mmio, .bool(true))) }
        if tdxPrivate { out.append((.tdxPrivate, .bool(true))) }
        return out
    }

    var isEmpty: Bool { access.isEmpty && pat == nil }

    /// The query of `GET /v1/vms/{id}/decision` (`DecisionQueryKey`).
    var query: [(name: String, value: String)] {
        var out = access.map { (name: DecisionQueryKey.access($0.key).rawValue, value: $0.value.text) }
        if let pat { out.append((DecisionQueryKey.pat.rawValue, pat)) }
        return out
    }

    /// Which flag sets the member at a pointer, for error messages.
    static let flags: [(pointer: String, flag: String)] = [
        (AccessKey.gpa, "--gpa"), (.patIndex, "--pat-index"), (.pte, "--pte"), (.level, "--level"),
        (.mmio, "--mmio"), (.tdxPrivate, "--private"),
    ].map { ("/\(RequestKey.access.rawValue)/\($0.0.rawValue)", $0.1) }
        + [("/\(RequestKey.vcpu.rawValue)/\(VCPUKey.pat.rawValue)", "--pat")]
}
