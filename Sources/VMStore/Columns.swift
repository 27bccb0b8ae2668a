/// The column tables of the stored rows, on both backends (PostgresVMStore
/// takes the same statements with `$N` for `?N`): for each row kind, the one list
/// of its columns and their order, from which the SQL text (SELECT lists,
/// INSERT placeholders, UPDATE assignments), the binding and the decoding
/// are all derived. A column is read or bound by name (`VMColumn.revision`),
/// never by a position written out by hand.

/// A host's eight columns, inline in `vms` (as `host_*`) and in `host_profiles`.
enum HostColumn: Int32, CaseIterable {
    case vendor, selfSnoop, tdp, cpuFamily, cpuModel, cpuStepping, kernel, kvmModel

    var name: String {
        switch self {
        case .vendor: "vendor"
        case .selfSnoop: "self_snoop"
        case .tdp: "tdp"
        case .cpuFamily: "cpu_family"
        case .cpuModel: "cpu_model"
        case .cpuStepping: "cpu_stepping"
        case .kernel: "kernel"
        case .kvmModel: "kvm_model"
        }
    }

    /// `a, b, ...` with each name prefixed (`v.host_`, `h.`).
    static func list(prefix: String) -> String {
        allCases.map { prefix + $0.name }.joined(separator: ", ")
    }
}

/// Where a row's block of host columns starts, for reading and binding them.
struct HostColumns {
    /// The result-column index of `vendor`.
    let base: Int32

    func index(_ c: HostColumn) -> Int32 { base + c.rawValue }
    func parameter(_ c: HostColumn) -> Int32 { base + c.rawValue + 1 }
}

/// A table's columns in statement order: the result index of a column in
/// `SELECT <list>` and its `?N` parameter in INSERT and UPDATE.
protocol ColumnTable: RawRepresentable<Int32>, CaseIterable where AllCases == [Self] {
    /// The column's name, a host block's member named by its `HostColumn`.
    var name: String { get }
}

extension ColumnTable {
    var index: Int32 { rawValue }
    var parameter: Int32 { rawValue + 1 }

    static func list(prefix: String = "") -> String {
        allCases.map { prefix + $0.name }.joined(separator: ", ")
    }

    /// `INSERT INTO table (columns) VALUES (?1, ..., ?N)`.
    static func insert(into table: String) -> String {
        "INSERT INTO \(table) (\(list())) VALUES (" + allCases.map { "?\($0.parameter)" }.joined(separator: ", ") + ")"
    }

    /// `UPDATE table SET column = ?N, ... WHERE key = ?1` (`key` the first column).
    static func update(_ table: String) -> String {
        let assignments = allCases.dropFirst().map { "\($0.name) = ?\($0.parameter)" }.joined(separator: ", ")
        return "UPDATE \(table) SET \(assignments) WHERE \(allCases[0].name) = ?1"
    }
}

/// `vms`.
enum VMColumn: Int32, ColumnTable {
    case id, baseline, disabledQuirks, hostProfile
    case hostVendor, hostSelfSnoop, hostTDP, hostCPUFamily, hostCPUModel, hostCPUStepping, hostKernel, hostKVMModel
    case vmType, noncoherentDMA, displayDevices, guestKernel, labels, revision, createdAt, updatedAt
    /// Added by migration 2 (so last): `VMRecord.applied`, both NULL or neither.
    case appliedRevision, appliedQuirks
    /// Added by migration 3 (issue 14), so after migration 2's.
    case guestBochsFix
    /// Added by migration 4: `VMRecord.AppliedState.at`, NULL when `appliedRevision` is.
    case appliedAt

    /// The inline host's columns (`host_vendor` ... `host_kvm_model`).
    static let host = HostColumns(base: VMColumn.hostVendor.rawValue)

    var name: String {
        switch self {
        case .id: "id"
        case .baseline: "baseline"
        case .disabledQuirks: "disabled_quirks"
        case .hostProfile: "host_profile"
        case .hostVendor, .hostSelfSnoop, .hostTDP, .hostCPUFamily, .hostCPUModel, .hostCPUStepping, .hostKernel, .hostKVMModel:
            "host_" + HostColumn(rawValue: rawValue - VMColumn.host.base)!.name
        case .vmType: "vm_type"
        case .noncoherentDMA: "noncoherent_dma"
        case .displayDevices: "display_devices"
        case .guestKernel: "guest_kernel"
        case .labels: "labels"
        case .revision: "revision"
        case .createdAt: "created_at"
        case .updatedAt: "updated_at"
        case .appliedRevision: "applied_revision"
        case .appliedQuirks: "applied_quirks"
        case .guestBochsFix: "guest_bochs_fix"
        case .appliedAt: "applied_at"
        }
    }
}

/// `host_profiles`.
enum HostProfileColumn: Int32, ColumnTable {
    case name
    case vendor, selfSnoop, tdp, cpuFamily, cpuModel, cpuStepping, kernel, kvmModel
    case revision, createdAt, updatedAt

    static let host = HostColumns(base: HostProfileColumn.vendor.rawValue)

    var name: String {
        switch self {
        case .name: "name"
        case .vendor, .selfSnoop, .tdp, .cpuFamily, .cpuModel, .cpuStepping, .kernel, .kvmModel:
            HostColumn(rawValue: rawValue - HostProfileColumn.host.base)!.name
        case .revision: "revision"
        case .createdAt: "created_at"
        case .updatedAt: "updated_at"
        }
    }
}

/// The row behind `decisionInputs`: a VM's decision columns, then its
/// inline host's and its profile's (NULL when the VM has an inline host, or
/// names a profile that does not exist), in one statement.
enum DecisionInputsColumn: Int32, CaseIterable {
    case baseline, disabledQuirks, vmType, noncoherentDMA, revision, hostProfile
    /// The guest's display, for the bochs warning on per-VM decisions.
    case displayDevices, guestKernel, guestBochsFix

    /// The `vms` column each is.
    var column: VMColumn {
        switch self {
        case .baseline: .baseline
        case .disabledQuirks: .disabledQuirks
        case .vmType: .vmType
        case .noncoherentDMA: .noncoherentDMA
        case .revision: .revision
        case .hostProfile: .hostProfile
        case .displayDevices: .displayDevices
        case .guestKernel: .guestKernel
        case .guestBochsFix: .guestBochsFix
        }
    }

    var index: Int32 { rawValue }

    static let inlineHost = HostColumns(base: Int32(allCases.count))
    static let profileHost = HostColumns(base: Int32(allCases.count + HostColumn.allCases.count))

    /// The statement, for VM `?1`.
    static let select = "SELECT " + allCases.map { "v." + $0.column.name }.joined(separator: ", ")
        + ", " + HostColumn.list(prefix: "v.host_") + ", " + HostColumn.list(prefix: "h.")
        + " FROM vms v LEFT JOIN host_profiles h ON h.name = v.host_profile WHERE v.id = ?1"
}

/// The grouped read behind `vmConfigCounts`, for profile `?1`: the engine
/// config columns and their count (served by the `vms_host_profile_config` index).
enum VMConfigCountColumn: Int32, CaseIterable {
    case disabledQuirks, vmType, noncoherentDMA, count

    static let select: String = {
        let config = [VMColumn.disabledQuirks, .vmType, .noncoherentDMA].map(\.name).joined(separator: ", ")
        return "SELECT \(config), count(*) FROM vms WHERE host_profile = ?1 GROUP BY \(config) ORDER BY \(config)"
    }()
}

/// Test hook: the column tables' names in order, for checking each backend's
/// schema against them (the migrations are frozen text; these are the home).
@_spi(Testing) public enum ColumnTables {
    public static let vms = VMColumn.allCases.map(\.name)
    public static let hostProfiles = HostProfileColumn.allCases.map(\.name)
}
