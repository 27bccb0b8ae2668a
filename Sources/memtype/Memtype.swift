import ArgumentParser
import JSON
import MemTypeEngine
import MemTypeWire

#if canImport(Glibc)
import Glibc
#endif

/// `memtype`: the decision engine on the command line.
@main
struct Memtype: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "KVM guest memory-type decisions: EPT type, IPAT, guest PAT and the effective type.",
        version: memtypedVersion,
        subcommands: [Decide.self, Table.self, Models.self]
    )
}

struct Decide: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide one access: reads a decision request as JSON on stdin (or --file) and prints the decision as JSON."
    )

    @Option(name: .shortAndLong, help: "Read the request from this file instead of stdin.")
    var file: String?

    @Flag(help: "Print compact JSON instead of indented JSON.")
    var compact = false

    func run() throws {
        let body: [UInt8]
        if let file {
            guard let bytes = readAll(path: file) else { throw ValidationError("cannot read \(file)") }
            body = bytes
        } else {
            body = readAll(fd: 0)
        }
        do {
            let request = try DecisionRequest(json: body)
            let decision = DecisionEngine.decide(request)
            print(String(decoding: decision.json(pretty: !compact), as: UTF8.self))
        } catch {
            var stderr = StandardError()
            print("memtype: invalid request: \(error)", to: &stderr)
            throw ExitCode(2)
        }
    }
}

struct Table: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print SDM Table 11-7, the effective memory type of MTRR (or EPT) type x PAT type.")

    func run() {
        print("SDM Vol. 3A Table 11-7: effective page-level memory types")
        print("rows: MTRR type (under EPT with IPAT=0, the EPT type); columns: PAT type\n")
        let header = ["row \\ PAT"] + EffectiveTypeTable.columns.map(\.name)
        print(header.map { pad($0, 11) }.joined())
        for row in EffectiveTypeTable.rows {
            var line = pad(row.name, 11)
            for column in EffectiveTypeTable.columns {
                let cell = EffectiveTypeTable.cell(row: row, pat: column)!
                let notes = cell.footnotes.notes.map { String($0.rawValue) }.joined(separator: ",")
                line += pad(cell.type.name + (notes.isEmpty ? "" : " (\(notes))"), 11)
            }
            print(line)
        }
        print("")
        for note in TableFootnote.allCases { print("(\(note.rawValue)) \(note.text)") }
        print("With IPAT=1 the EPT type is the effective type.")
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List KVM's memory-type behaviour models with their kernel ranges and commits.")

    func run() {
        for model in KVMModel.allCases {
            print("\(model.rawValue)  \(model.kernels): \(model.title)")
            for commit in model.commits { print("     \(commit)") }
        }
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

func readAll(fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

func readAll(path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return readAll(fd: fd)
}
