import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

@Suite struct ListTests {
    /// 120 VMs: ids vm-000..vm-119; every 3rd under honor-guest-pat-2025;
    /// every 4th with IGNORE_GUEST_PAT explicitly disabled; env label
    /// prod/dev alternating; tier=gold on multiples of 5; multiples of 7
    /// on host profile "rack1".
    private func populated(_ dir: StoreSite) throws -> any VMStore {
        let store = try openStore(dir)
        _ = try store.putHost("rack1", spr, expectedRevision: nil, actor: "t")
        for i in 0..<120 {
            var labels = ["env": i % 2 == 0 ? "prod" : "dev"]
            if i % 5 == 0 { labels["tier"] = "gold" }
            let s = spec(labels: labels,
                         baseline: i % 3 == 0 ? "honor-guest-pat-2025" : nil,
                         quirks: i % 4 == 0 ? [.ignoreGuestPAT: .disable] : [:],
                         host: i % 7 == 0 ? .profile("rack1") : .inline(spr))
            _ = try store.createVM(id(i), s, actor: "t")
        }
        return store
    }

    private func id(_ i: Int) -> String { "vm-" + String(repeating: "0", count: 3 - String(i).count) + String(i) }

    /// Walks every page; fails on duplicates or disorder.
    private func all(_ store: any VMStore, _ query: VMQuery) throws -> [String] {
        var q = query
        var ids: [String] = []
        while true {
            let page = try store.listVMs(q)
            #expect(page.items.count <= q.limit)
            ids += page.items.map(\.id)
            guard let next = page.nextCursor else { break }
            #expect(page.items.count == q.limit)
            q.cursor = next
        }
        #expect(ids == ids.sorted(), "pages are in id order")
        #expect(Set(ids).count == ids.count, "no duplicates")
        return ids
    }

    @Test(arguments: Backend.enabled) func everyFilterAcrossPages(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try populated(dir)
        let everything = (0..<120).map(id)
        #expect(try all(store, VMQuery(limit: 7)) == everything)
        #expect(try all(store, VMQuery(limit: 1000)) == everything)
        #expect(try all(store, VMQuery(limit: 120)) == everything)
        #expect(try all(store, VMQuery(limit: 1)).count == 120)
        #expect(try store.listVMs(VMQuery()).items.count == 100)

        #expect(try all(store, VMQuery(baseline: "honor-guest-pat-2025", limit: 6))
                == (0..<120).filter { $0 % 3 == 0 }.map(id))
        #expect(try all(store, VMQuery(baseline: "legacy-ignore-guest-pat", limit: 9))
                == (0..<120).filter { $0 % 3 != 0 }.map(id))

        // IGNORE_GUEST_PAT disabled: the honor baseline's VMs plus the explicit legacy ones.
        #expect(try all(store, VMQuery(quirks: [.ignoreGuestPAT: .disable], limit: 5))
                == (0..<120).filter { $0 % 3 == 0 || $0 % 4 == 0 }.map(id))
        #expect(try all(store, VMQuery(quirks: [.ignoreGuestPAT: .keepEnabled], limit: 5))
                == (0..<120).filter { !($0 % 3 == 0 || $0 % 4 == 0) }.map(id))
        #expect(try all(store, VMQuery(quirks: [.ignoreGuestPAT: .disable, .cdNwCleared: .keepEnabled], limit: 50))
                == (0..<120).filter { $0 % 3 == 0 || $0 % 4 == 0 }.map(id))
        #expect(try all(store, VMQuery(quirks: [.cdNwCleared: .disable])) == [])

        #expect(try all(store, VMQuery(labels: ["env": "prod"], limit: 8)) == (0..<120).filter { $0 % 2 == 0 }.map(id))
        #expect(try all(store, VMQuery(labels: ["env": "prod", "tier": "gold"], limit: 4))
                == (0..<120).filter { $0 % 10 == 0 }.map(id))
        #expect(try all(store, VMQuery(labels: ["env": "staging"])) == [])

        #expect(try all(store, VMQuery(hostProfile: "rack1", limit: 3)) == (0..<120).filter { $0 % 7 == 0 }.map(id))

        // Everything at once.
        #expect(try all(store, VMQuery(baseline: "honor-guest-pat-2025", quirks: [.ignoreGuestPAT: .disable],
                                       labels: ["env": "prod"], hostProfile: "rack1", limit: 2))
                == (0..<120).filter { $0 % 3 == 0 && $0 % 2 == 0 && $0 % 7 == 0 }.map(id))
    }

    @Test(arguments: Backend.enabled) func paginationIsStableUnderInsertsAndDeletes(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try populated(dir)
        var q = VMQuery(labels: ["env": "prod"], limit: 10)
        var seen: [String] = []
        var round = 0
        while true {
            let page = try store.listVMs(q)
            seen += page.items.map(\.id)
            // Between pages: insert matching VMs before and after the cursor,
            // and delete one not yet seen.
            _ = try store.createVM("vm-000-\(round)", spec(labels: ["env": "prod"]), actor: "t")
            _ = try store.createVM("zz-\(round)", spec(labels: ["env": "prod"]), actor: "t")
            if round == 1 { try store.deleteVM("vm-118", expectedRevision: nil, actor: "t") }
            round += 1
            guard let next = page.nextCursor else { break }
            q.cursor = next
        }
        #expect(Set(seen).count == seen.count, "no duplicates")
        let original = Set((0..<120).filter { $0 % 2 == 0 }.map(id)).subtracting(["vm-118"])
        #expect(original.isSubset(of: Set(seen)), "no gaps: every VM that existed throughout was listed")
        #expect(!seen.contains("vm-118"))
        #expect(seen == seen.sorted())
        // Inserts after the cursor show up; inserts before it do not.
        #expect(seen.contains("zz-0"))
        #expect(!seen.contains { $0.hasPrefix("vm-000-") })
    }

    @Test(arguments: Backend.enabled) func badQueriesAreInvalid(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try populated(dir)
        #expect(storeError { try store.listVMs(VMQuery(limit: 0)) }?.invalidField == "/limit")
        #expect(storeError { try store.listVMs(VMQuery(limit: 1001)) }?.invalidField == "/limit")
        #expect(storeError { try store.listVMs(VMQuery(cursor: "not-a-cursor")) }?.invalidField == "/cursor")
        #expect(storeError { try store.listVMs(VMQuery(cursor: "k4")) }?.invalidField == "/cursor")
        #expect(storeError { try store.listVMs(VMQuery(labels: ["bad key": "x"])) }?.invalidField == "/labels/bad key")
        #expect(storeError { try store.listVMs(VMQuery(baseline: "no such/thing")) }?.invalidField == "/baseline")
        #expect(storeError { try store.listVMs(VMQuery(hostProfile: "")) }?.invalidField == "/host_profile")
        // A well-formed cursor past the end is an empty last page.
        let page = try store.listVMs(VMQuery(limit: 120))
        #expect(page.nextCursor == nil)
        let past = try store.listVMs(VMQuery(limit: 119))
        let last = try store.listVMs(VMQuery(limit: 5, cursor: past.nextCursor))
        #expect(last.items.map(\.id) == ["vm-119"])
        #expect(last.nextCursor == nil)
    }
}
