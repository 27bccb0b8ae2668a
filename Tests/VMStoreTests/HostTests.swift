import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

@Suite struct HostTests {
    @Test(arguments: Backend.enabled) func putGetListDelete(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        let (h, created) = try store.putHost("rack1", spr, expectedRevision: 0, actor: "ops")
        #expect(created && h.revision == 1 && h.spec == spr)
        #expect(try store.getHost("rack1") == h)
        #expect(storeError { try store.putHost("rack1", spr, expectedRevision: 0, actor: "ops") } == .revisionMismatch(current: 1))
        let (same, c2) = try store.putHost("rack1", spr, expectedRevision: 1, actor: "ops")
        #expect(!c2 && same == h)
        var upgraded = spr
        upgraded.kernel = "6.17.2"
        let (h2, _) = try store.putHost("rack1", upgraded, expectedRevision: 1, actor: "ops")
        #expect(h2.revision == 2 && h2.spec.kernel == "6.17.2")
        #expect(storeError { try store.putHost("rack1", spr, expectedRevision: 1, actor: "ops") } == .revisionMismatch(current: 2))
        let hist = try store.hostHistory("rack1", limit: 10, cursor: nil)
        #expect(hist.entries.map(\.action) == [.replace, .create])
        #expect(hist.entries[0].changes == [FieldChange(field: "/kernel", old: "6.16", new: "6.17.2")])
        #expect(hist.entries[0].subject == .host)

        for name in ["rack3", "rack2", "amd-1"] {
            _ = try store.putHost(name, HostSpec(vendor: .amd), expectedRevision: nil, actor: "ops")
        }
        let p1 = try store.listHosts(limit: 2, cursor: nil)
        let p2 = try store.listHosts(limit: 2, cursor: p1.nextCursor)
        #expect(p1.items.map(\.name) == ["amd-1", "rack1"])
        #expect(p2.items.map(\.name) == ["rack2", "rack3"])
        #expect(p2.nextCursor == nil)

        try store.deleteHost("rack3", expectedRevision: 1, actor: "ops")
        #expect(try store.getHost("rack3") == nil)
        #expect(storeError { try store.deleteHost("rack3", expectedRevision: nil, actor: "ops") } == .notFound)
        #expect(storeError { try store.putHost("bad name", spr, expectedRevision: nil, actor: "ops") }?.invalidField == "/name")
        #expect(storeError { try store.putHost("h", HostSpec(kernel: "linux"), expectedRevision: nil, actor: "ops") }?.invalidField == "/kernel")
    }

    @Test(arguments: Backend.enabled) func aReferencedProfileCannotBeDeleted(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        _ = try store.putHost("rack1", spr, expectedRevision: nil, actor: "ops")
        _ = try store.createVM("vm-a", spec(host: .profile("rack1")), actor: "t")
        _ = try store.createVM("vm-b", spec(host: .profile("rack1")), actor: "t")
        let error = storeError { try store.deleteHost("rack1", expectedRevision: nil, actor: "ops") }
        guard case .conflict(let message)? = error else {
            Issue.record("expected conflict, got \(String(describing: error))")
            return
        }
        #expect(message.contains("2 VM(s)") && message.contains("vm-a"))
        #expect(try store.getHost("rack1") != nil)
        #expect(try store.hostHistory("rack1", limit: 10, cursor: nil).entries.count == 1)

        // A VM cannot reference a missing profile.
        #expect(storeError { try store.createVM("vm-c", spec(host: .profile("rack9")), actor: "t") }?.invalidField == "/host_profile")

        // The profile resolves for decisions, and follows host upgrades.
        let a = try #require(try store.getVM("vm-a"))
        #expect(try store.resolveHost(of: a)?.kernelSelection == .version(KernelVersion(major: 6, minor: 16)))

        _ = try store.updateVM("vm-a", expectedRevision: nil, actor: "t") { r throws(StoreError) in r.host = .inline(spr) }
        try store.deleteVM("vm-b", expectedRevision: nil, actor: "t")
        try store.deleteHost("rack1", expectedRevision: nil, actor: "ops")
        #expect(try store.getHost("rack1") == nil)
        #expect(try store.hostHistory("rack1", limit: 10, cursor: nil).entries.map(\.action) == [.delete, .create])
    }
}
