// Release-mode micro-benchmarks for the decision path (not a test).
//
//   swift run -c release memtype-bench [iterations]
//   bash bench/instructions.sh      (instructions per operation, under callgrind)
//   memtype-bench seed-store PATH N / memtype-bench quick-check PATH (memtyped's start-up check)
//   memtype-bench seed-plan PATH N: N VMs on one host profile, for bench/plan-bench.sh
//
// Prints ns per operation for: a model E decision; a model A decision with
// non-coherent DMA and eight variable MTRRs (the slowest lookup, also
// checking the 2 MiB leaf); and the whole wire path (parse JSON, validate,
// decide, write JSON) for the README's example body.

import Clock
import JSON
import MemTypeEngine
import MemTypeWire
@_spi(Testing) import VMStore

#if canImport(Glibc)
import Glibc
#endif

if CommandLine.arguments.count == 4 && CommandLine.arguments[1] == "seed-store" {
    let count = Int(CommandLine.arguments[3]) ?? 100_000
    switch StoreLocation(CommandLine.arguments[2]) {
    case .sqlite(let path): seedStore(path: path, count: count)
    case .postgres(let url): seedPostgresStore(url: url, count: count)
    }
    exit(0)
}

if CommandLine.arguments.count == 4 && CommandLine.arguments[1] == "seed-plan" {
    seedPlanStore(path: CommandLine.arguments[2], count: Int(CommandLine.arguments[3]) ?? 100_000)
    exit(0)
}

if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "lookup-sql" {
    print(PostgresVMStore.decisionInputsSQL)  // the per-VM lookup's statement, for pgbench
    exit(0)
}
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "quick-check" {
    quickCheckStore(path: CommandLine.arguments[2], rounds: 5)
    exit(0)
}

let iterations = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 2_000_000

/// Keeps results alive so the optimizer cannot drop the work.
nonisolated(unsafe) var sink: UInt64 = 0

func nowNanoseconds() -> UInt64 { UInt64(MonotonicClock.nanoseconds()) }

/// `MEMTYPE_BENCH_ONLY=text`: run only the cases whose name contains it.
/// `MEMTYPE_BENCH_ROUNDS=n`: rounds per case (default 5). With one case and
/// one round, `bench/instructions.sh` counts instructions per operation
/// under callgrind, a figure that does not move with the machine's load.
let only = getenv("MEMTYPE_BENCH_ONLY").map { String(cString: $0) }
let rounds = getenv("MEMTYPE_BENCH_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 5

/// Runs `body` `n` times, best of `rounds` rounds, and prints ns per call.
func measure(_ name: String, _ n: Int, _ body: (Int) -> UInt64) {
    if let only, !name.contains(only) { return }
    let n = max(n, 1)
    var best = Double.infinity
    for _ in 0..<rounds {
        let start = nowNanoseconds()
        for i in 0..<n { sink &+= body(i) }
        let ns = Double(nowNanoseconds() - start) / Double(n)
        best = min(best, ns)
    }
    let padded = name + String(repeating: " ", count: max(0, 52 - name.count))
    print("\(padded) \(String(format1: best)) ns/op  (\(n) ops x \(rounds) rounds, best)")
}

extension String {
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}

// Model E: the bochs access on a Sapphire Rapids host with the quirk disabled.
var e = DecisionRequest(kernel: .version(KernelVersion("6.16")!),
                        host: HostProfile(cpu: .sapphireRapids),
                        vm: VMConfig(disabledQuirks: .ignoreGuestPAT),
                        vcpu: VCPUState(pat: .linux),
                        access: GuestAccess(gpa: 0xFD00_0000, patIndex: PATIndex(2)!))
let gpasE: [UInt64] = (0..<1024).map { UInt64($0) << 21 }
measure("decide, model E", iterations) { i in
    e.access.gpa = gpasE[i & 1023]
    let d = DecisionEngine.decide(e)
    return UInt64(d.effective?.rawValue ?? 0) &+ UInt64(d.trace.count)
}

// Model A: non-coherent DMA, eight overlapping variable MTRRs, fixed ranges on.
let variable: [VariableMTRR] = try! [
    VariableMTRR(index: 0, base: 0, size: 1 << 32, type: .wb, maxPhysAddr: 46),
    VariableMTRR(index: 1, base: 1 << 32, size: 1 << 32, type: .wb, maxPhysAddr: 46),
    VariableMTRR(index: 2, base: 0x8000_0000, size: 1 << 31, type: .wb, maxPhysAddr: 46),
    VariableMTRR(index: 3, base: 0xC000_0000, size: 1 << 30, type: .uc, maxPhysAddr: 46),
    VariableMTRR(index: 4, base: 0xD000_0000, size: 1 << 28, type: .wc, maxPhysAddr: 46),
    VariableMTRR(index: 5, base: 0xE000_0000, size: 1 << 24, type: .wp, maxPhysAddr: 46),
    VariableMTRR(index: 6, base: 0x1_0000_0000, size: 1 << 30, type: .wt, maxPhysAddr: 46),
    VariableMTRR(index: 7, base: 0x2_0000_0000, size: 1 << 33, type: .wb, maxPhysAddr: 46),
]
let mtrr = try! MTRRState(defType: 1 << 11 | 1 << 10 | 6, fixed: Array(repeating: 0x0606_0606_0606_0606, count: 11), variable: variable)
var a = DecisionRequest(kernel: .version(KernelVersion("6.6")!), vm: VMConfig(noncoherentDMA: true),
                        vcpu: VCPUState(pat: .linux, mtrr: mtrr), access: GuestAccess(gpa: 0xC000_0000, patIndex: PATIndex(1)!))
let gpasA: [UInt64] = (0..<1024).map { 0x1_0000_0000 + (UInt64($0) << 22) }
measure("decide, model A, 8 variable MTRRs, 4K", iterations) { i in
    a.access.gpa = gpasA[i & 1023]
    let d = DecisionEngine.decide(a)
    return UInt64(d.effective?.rawValue ?? 0) &+ UInt64(d.trace.count)
}
a.access.level = .size2M
measure("decide, model A, 8 variable MTRRs, 2M leaf check", iterations / 4) { i in
    a.access.gpa = gpasA[i & 1023]
    let d = DecisionEngine.decide(a)
    return UInt64(d.effective?.rawValue ?? 0) &+ UInt64(d.maxMappingLevel?.rawValue ?? 0)
}

// The wire path: what POST /v1/decisions does per request, minus HTTP.
let body = Array(#"{"kernel":"6.16","host":{"vendor":"intel","self_snoop":true,"cpu":{"family":6,"model":"0x8f"}},"vm":{"disabled_quirks":["IGNORE_GUEST_PAT"]},"vcpu":{"pat":"0x0407050600070106"},"access":{"gpa":"0xfd000000","pat_index":2}}"#.utf8)
measure("wire: parse + validate + decide + write JSON", iterations / 20) { _ in
    let request = try! DecisionRequest(json: body)
    return UInt64(DecisionEngine.decide(request).json().count)
}
measure("wire: decode request only", iterations / 20) { _ in
    (try! DecisionRequest(json: body)).access.gpa
}
measure("wire: parse JSON only", iterations / 20) { _ in
    if case .object(let o) = try! JSONParser.parse(body) { return UInt64(o.count) }
    return 0
}
let decision = DecisionEngine.decide(try! DecisionRequest(json: body))
measure("wire: write decision JSON only", iterations / 20) { _ in UInt64(decision.json().count) }
print("(sink \(sink & 1))")
let parsed = try! JSONParser.parse(body)
measure("wire: decode + validate (parsed JSON)", iterations / 20) { _ in
    let r = try! DecisionRequest(Field(parsed))
    return r.access.gpa
}
let fullRequest = try! DecisionRequest(Field(parsed))
measure("decide the wire example", iterations / 20) { _ in
    UInt64(DecisionEngine.decide(fullRequest).trace.count)
}

/// The `i`-th seeded VM: on two host profiles (every third inline), half of
/// them created under each baseline, for the per-VM lookup benchmark.
func seedSpec(_ i: Int) -> VMSpec {
    VMSpec(host: i % 3 == 0 ? .inline(HostSpec(kernel: "6.16")) : .profile(i % 2 == 0 ? "spr-6-16" : "icx-6-11"),
           baseline: i % 2 == 0 ? Baseline.legacyIgnoreGuestPAT.name : Baseline.honorGuestPAT2025.name,
           displayDevices: ["VGA"], labels: ["fleet": "f\(i % 10)"])
}

func seedHosts(_ store: some VMStore) throws(StoreError) {
    _ = try store.putHost("spr-6-16", HostSpec(cpu: .sapphireRapids, kernel: "6.16"), expectedRevision: nil, actor: "seed")
    _ = try store.putHost("icx-6-11", HostSpec(cpu: .iceLakeSP, kernel: "6.11"), expectedRevision: nil, actor: "seed")
}

/// Fills a SQLite store with `count` VMs `vm-0` ... (`seedSpec`).
/// Uses synchronous=NORMAL: seeding is not what is measured.
func seedStore(path: String, count: Int) {
    do {
        let store = try SQLiteVMStore(path: path, options: SQLiteVMStore.Options(synchronous: .normal))
        try seedHosts(store)
        let start = nowNanoseconds()
        for i in 0..<count {
            let id = "vm-\(i)"
            if try store.getVM(id) != nil { continue }
            _ = try store.createVM(id, seedSpec(i), actor: "seed")
        }
        print("seeded \(count) VMs into \(path) in \(Double(nowNanoseconds() - start) / 1e9) s")
    } catch {
        print("seed-store: \(error)")
        exit(1)
    }
}

/// Times what memtyped does at start before it serves: open the store and
/// run `PRAGMA quick_check`. Each round opens the file afresh (the OS page
/// cache stays warm after the first). Prints every round and the median.
func quickCheckStore(path: String, rounds: Int) {
    var millis: [Double] = []
    for _ in 0..<rounds {
        let start = nowNanoseconds()
        do {
            let store = try SQLiteVMStore(path: path)
            try store.quickCheck()
        } catch {
            print("quick-check: \(error)")
            exit(1)
        }
        millis.append(Double(nowNanoseconds() - start) / 1e6)
    }
    let sorted = millis.sorted()
    print("open + quick_check of \(path): median \(sorted[rounds / 2]) ms, min \(sorted[0]) ms, max \(sorted[rounds - 1]) ms over \(rounds) rounds")
}

/// The same VMs into a PostgreSQL store, a thousand per transaction.
func seedPostgresStore(url: String, count: Int) {
    do {
        let store = try PostgresVMStore(conninfo: url, options: PostgresVMStore.Options(timeoutMillis: 600_000))
        try seedHosts(store)
        let start = nowNanoseconds()
        var i = 0
        while i < count {
            let batch = (i..<min(count, i + 1000)).map { (id: "vm-\($0)", spec: seedSpec($0)) }
            try store.seed(batch, actor: "seed")
            i += batch.count
        }
        try store.unsafeExecute("VACUUM ANALYZE")
        print("seeded \(count) VMs into \(StoreLocation(url)) in \(Double(nowNanoseconds() - start) / 1e9) s")
    } catch {
        print("seed-store: \(error)")
        exit(1)
    }
}

/// The `i`-th VM of the planning benchmark, all on host profile
/// `spr-6-16`: both baselines, every 7th a TDX VM, every 11th with
/// non-coherent DMA, two in three with VGA, guest kernels 6.1, 6.8 and 6.13
/// (so some are at risk, some not), and ten label values.
func planSpec(_ i: Int) -> VMSpec {
    VMSpec(host: .profile("spr-6-16"),
           baseline: i % 2 == 0 ? Baseline.legacyIgnoreGuestPAT.name : Baseline.honorGuestPAT2025.name,
           type: i % 7 == 0 ? .tdx : .regular, noncoherentDMA: i % 11 == 0,
           displayDevices: i % 3 == 0 ? ["virtio-gpu"] : ["VGA"],
           guestKernel: ["6.1", "6.8.0-45-generic", "6.13"][i % 3 == 1 ? 0 : (i % 5 == 0 ? 2 : 1)],
           labels: ["fleet": "f\(i % 10)"])
}

/// The id of the `i`-th planning VM: zero-padded, so id order is creation order.
func planID(_ i: Int) -> String { "vm-" + String(repeating: "0", count: max(0, 6 - String(i).count)) + String(i) }

/// Fills a store with `count` VMs `vm-000000` ... on one profile (`planSpec`):
/// SQLite one VM per transaction (as memtyped writes them) with
/// synchronous=NORMAL; PostgreSQL in batches of 1000 (`seed`), then ANALYZE.
func seedPlanStore(path: String, count: Int) {
    if case .postgres(let url) = StoreLocation(path) {
        do {
            let store = try PostgresVMStore(conninfo: url, options: PostgresVMStore.Options(timeoutMillis: 600_000))
            if try store.getHost("spr-6-16") == nil {
                _ = try store.putHost("spr-6-16", HostSpec(cpu: .sapphireRapids, kernel: "6.16"), expectedRevision: nil, actor: "seed")
            }
            var i = 0
            while i < count {
                let batch = (i..<min(count, i + 1000)).map { (id: planID($0), spec: planSpec($0)) }
                if try store.getVM(batch[batch.count - 1].id) == nil { try store.seed(batch, actor: "seed") }
                i += batch.count
            }
            try store.unsafeExecute("VACUUM ANALYZE")
            print("seeded \(count) VMs on spr-6-16 into PostgreSQL")
        } catch {
            print("seed-plan: \(error)")
            exit(1)
        }
        return
    }
    do {
        let store = try SQLiteVMStore(path: path, options: SQLiteVMStore.Options(synchronous: .normal))
        if try store.getHost("spr-6-16") == nil {
            _ = try store.putHost("spr-6-16", HostSpec(cpu: .sapphireRapids, kernel: "6.16"), expectedRevision: nil, actor: "seed")
        }
        let start = nowNanoseconds()
        for i in 0..<count {
            let id = planID(i)
            if try store.getVM(id) != nil { continue }
            _ = try store.createVM(id, planSpec(i), actor: "seed")
        }
        print("seeded \(count) VMs on spr-6-16 into \(path) in \(Double(nowNanoseconds() - start) / 1e9) s")
    } catch {
        print("seed-plan: \(error)")
        exit(1)
    }
}
