import Foundation
import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

/// A temporary directory removed when the value is released.
final class TempDir: @unchecked Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("vmstore-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var dbPath: String { url.appendingPathComponent("vms.sqlite").path }
}

/// A clock that advances 1 s per reading, from 2025-01-01T00:00:00Z.
final class StepClock: @unchecked Sendable {
    private let lock = NSLock()
    private var millis: Int64 = 1_735_689_600_000
    func next() -> Timestamp {
        lock.lock(); defer { lock.unlock() }
        millis += 1000
        return Timestamp(millisSinceEpoch: millis)
    }
}

func openStore(_ dir: TempDir, current: Baseline = .current, catalogue: [Baseline] = Baseline.catalogue,
               clock: StepClock? = nil,
               beforeCommit: (@Sendable () throws(StoreError) -> Void)? = nil) throws -> SQLiteVMStore {
    var options = SQLiteVMStore.Options(currentBaseline: current, catalogue: catalogue)
    if let clock { options.clock = { clock.next() } }
    options.beforeCommit = beforeCommit
    return try SQLiteVMStore(path: dir.dbPath, options: options)
}

let spr = HostSpec(vendor: .intel, selfSnoop: true, tdp: true, cpu: .sapphireRapids, kernel: "6.16")

func spec(labels: [String: String] = [:], baseline: String? = nil, quirks: [Quirk: QuirkChoice] = [:],
          host: HostRef = .inline(spr), devices: [String] = ["VGA"], guestKernel: String? = "6.1") -> VMSpec {
    VMSpec(host: host, baseline: baseline, quirks: quirks, displayDevices: devices, guestKernel: guestKernel, labels: labels)
}

/// The error `body` throws, or nil. (Closures here infer `throws(any Error)`,
/// so the typed error is recovered by a cast; anything else fails the test.)
func storeError<T>(_ body: () throws -> T) -> StoreError? {
    do {
        _ = try body()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("not a StoreError: \(error)")
        return nil
    }
}

extension StoreError {
    var invalidField: String? {
        if case .invalid(let field, _) = self { return field }
        return nil
    }
}

/// Runs `body(i)` on `count` threads released together; returns when all are done.
func runConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let start = DispatchSemaphore(value: 0)
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            start.wait()
            body(i)
            group.leave()
        }
        t.start()
    }
    for _ in 0..<count { start.signal() }
    group.wait()
}

/// A lock-protected array for collecting results from threads.
final class Collector<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}

/// A flag shared with a `@Sendable` hook.
final class FailSwitch: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var on: Bool {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
