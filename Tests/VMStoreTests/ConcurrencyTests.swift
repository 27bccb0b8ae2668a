import Foundation
import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

@Suite struct ConcurrencyTests {
    @Test(arguments: Backend.enabled) func racingWritersWithTheSameRevisionExactlyOneWins(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(), actor: "t")
        for round in 1...5 {
            let wins = Collector<Int>()
            let losses = Collector<StoreError>()
            runConcurrently(8) { i in
                do throws(StoreError) {
                    let r = try store.updateVM("vm", expectedRevision: round, actor: "w\(i)") { r throws(StoreError) in
                        r.labels["winner"] = "w\(i)-r\(round)"
                    }
                    wins.append(r.revision)
                } catch {
                    losses.append(error)
                }
            }
            #expect(wins.all == [round + 1])
            #expect(losses.all.count == 7)
            #expect(losses.all.allSatisfy { $0 == .revisionMismatch(current: round + 1) })
        }
        #expect(try store.history("vm").entries.count == 6)
    }

    /// Two store instances on one file: each has its own write connection and
    /// mutex, so only SQLite's write lock (BEGIN IMMEDIATE) and the in-transaction
    /// revision check keep this correct.
    @Test(arguments: Backend.enabled) func racingStoresOnTheSameFileExactlyOneWins(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let a = try openStore(dir)
        let b = try openStore(dir)
        _ = try a.createVM("vm", spec(), actor: "t")
        for round in 1...5 {
            let wins = Collector<String>()
            let losses = Collector<StoreError>()
            runConcurrently(6) { i in
                let store = i % 2 == 0 ? a : b
                do throws(StoreError) {
                    _ = try store.replaceVM("vm", with: spec(labels: ["w": "\(i)-r\(round)"]), expectedRevision: round, actor: "w\(i)")
                    wins.append("\(i)-r\(round)")
                } catch {
                    losses.append(error)
                }
            }
            #expect(wins.all.count == 1)
            #expect(losses.all.count == 5)
            #expect(losses.all.allSatisfy { $0 == .revisionMismatch(current: round + 1) })
            #expect(try b.getVM("vm")?.labels["w"] == wins.all.first)
        }
        // Concurrent creates of one id: one succeeds, the rest see alreadyExists.
        let created = Collector<Bool>()
        runConcurrently(6) { i in
            created.append((try? (i % 2 == 0 ? a : b).createVM("fresh", spec(), actor: "t")) != nil)
        }
        #expect(created.all.filter { $0 }.count == 1)
        #expect(try a.history("fresh").entries.count == 1)
    }

    /// Readers on other threads always see a whole record: labels, revision and
    /// guest kernel written by one update appear together.
    @Test(arguments: Backend.enabled) func readersSeeConsistentRecordsWhileAWriterRuns(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.createVM("vm", spec(labels: ["gen": "1"]), actor: "t")
        let done = FailSwitch()
        let problems = Collector<String>()
        let reads = Collector<Int>()
        runConcurrently(4) { i in
            if i == 0 {
                for gen in 2...150 {
                    do {
                        _ = try store.updateVM("vm", expectedRevision: gen - 1, actor: "w") { r throws(StoreError) in
                            r.labels["gen"] = String(gen)
                            r.guestKernel = "6.\(gen)"
                        }
                    } catch { problems.append("write \(gen): \(error)") }
                }
                done.on = true
            } else {
                var n = 0
                while !done.on || n < 10 {
                    do {
                        guard let r = try store.getVM("vm") else { problems.append("missing"); return }
                        if r.labels["gen"] != String(r.revision) { problems.append("torn: \(r)") }
                        if r.revision > 1 && r.guestKernel != "6.\(r.revision)" { problems.append("torn kernel: \(r)") }
                        let listed = try store.listVMs(VMQuery(labels: ["gen": String(r.revision)]))
                        if listed.items.first.map({ $0.revision < r.revision }) ?? false { problems.append("went back") }
                    } catch { problems.append("read: \(error)") }
                    n += 1
                }
                reads.append(n)
            }
        }
        #expect(problems.all.isEmpty, "\(problems.all.prefix(3))")
        #expect(try store.getVM("vm")?.revision == 150)
        #expect(reads.all.count == 3)
    }
}
