import HTTPServer
import HTTPTestSupport
import JSON
import Testing
import VMStore

/// Issue 14's routes over HTTP on loopback, on a SQLite store: kernel
/// plans, placements, risks, and the bochs warning on writes and decisions.
@Suite struct FleetRouteTests {
    static let spr615 = #"{"kernel": "6.15", "cpu": {"family": 6, "model": "0x8f"}}"#
    static let spr616 = #"{"kernel": "6.16", "cpu": {"family": 6, "model": "0x8f"}}"#
    static let noSS615 = #"{"kernel": "6.15", "self_snoop": false}"#
    static let noSS616 = #"{"kernel": "6.16", "self_snoop": false}"#

    func server(profiles: [(String, String)]) throws -> StoreServer {
        let s = try StoreServer()
        for (name, body) in profiles {
            let r = try s.request("PUT", "/v1/hosts/\(name)", json: body)
            #expect(r.status == 201, "\(r.bodyText)")
        }
        return s
    }

    /// All pages of a kernel plan, followed by cursor.
    func plan(_ s: StoreServer, _ host: String, _ query: String, limit: Int = 2) throws -> (first: JSONValue, items: [String: JSONValue]) {
        var items: [String: JSONValue] = [:]
        var first: JSONValue?
        var cursor: String?
        repeat {
            let target = "/v1/hosts/\(host)/kernel-plan?\(query)&limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? "")
            let r = try s.request("GET", target, token: nil)
            #expect(r.status == 200, "\(r.bodyText)")
            let page = try r.json()
            if first == nil { first = page } else { #expect(page["summary"] == nil) }
            for item in page["items"]?.arrayValue ?? [] { items[item["vm"]?.stringValue ?? ""] = item }
            cursor = page["next_cursor"]?.stringValue
        } while cursor != nil
        return (first!, items)
    }

    func changes(_ item: JSONValue?) -> [String] { item?["changes"]?.arrayValue?.compactMap(\.stringValue) ?? [] }

    /// Upgrade 6.15 -> 6.16 and downgrade 6.16 -> 6.15 on Sapphire Rapids,
    /// with a legacy VM, an honor-guest-pat VM, a TDX VM and one with
    /// non-coherent DMA; the summary counts them over all pages.
    @Test func upgradeAndDowngrade() throws {
        let s = try server(profiles: [("spr", Self.spr615)])
        try s.createVM("a-legacy", #"{"host_profile": "spr"}"#)
        try s.createVM("b-honor", #"{"host_profile": "spr", "baseline": "honor-guest-pat-2025"}"#)
        try s.createVM("c-tdx", #"{"host_profile": "spr", "type": "tdx"}"#)
        try s.createVM("d-ncdma", #"{"host_profile": "spr", "noncoherent_dma": true}"#)
        try s.createVM("e-honor", #"{"host_profile": "spr", "baseline": "honor-guest-pat-2025"}"#)

        let up = try plan(s, "spr", "kernel=6.16")
        #expect(up.items.count == 5)
        #expect(changes(up.items["a-legacy"]) == [])
        #expect(changes(up.items["b-honor"]) == ["memory_types"])
        #expect(changes(up.items["c-tdx"]) == ["memory_types"])
        #expect(changes(up.items["d-ncdma"]) == [])
        #expect(up.items["b-honor"]?["before", "enable_cap", "error"] == "EINVAL")
        #expect(up.items["b-honor"]?["after", "enable_cap", "fails"] == false)
        #expect(up.items["b-honor"]?["after", "bochs_probe"] == ["ept": "WB", "ipat": false, "effective": "UC"])
        #expect(up.items["b-honor"]?["action", "kind"] == "baseline_move")
        #expect(up.items["b-honor"]?["action", "baseline"] == "legacy-ignore-guest-pat")
        #expect(up.items["c-tdx"]?["action", "kind"] == "cannot_keep")
        #expect(up.items["a-legacy"]?["action", "kind"] == "none")
        #expect(up.first["before"] == ["model": "D", "kernel": "6.15"])
        #expect(up.first["after"] == ["model": "E", "kernel": "6.16"])
        #expect(up.first["summary", "vms"] == 5)
        #expect(up.first["summary", "unchanged"] == 2)
        #expect(up.first["summary", "changes", "memory_types"] == 3)
        #expect(up.first["summary", "changes", "enable_cap_fails"] == 0)

        // The profile moves to 6.16; planning back to 6.15 is a downgrade.
        #expect(try s.request("PUT", "/v1/hosts/spr", json: Self.spr616).status == 200)
        let down = try plan(s, "spr", "kernel=6.15")
        #expect(changes(down.items["b-honor"]) == ["memory_types", "enable_cap_fails"])
        #expect(down.items["b-honor"]?["action", "kind"] == "cannot_keep")
        #expect(down.items["b-honor"]?["action", "reason"]?.stringValue?.contains("no IGNORE_GUEST_PAT quirk") == true)
        #expect(down.items["b-honor"]?["before", "kernel"] == nil)  // the page says it once
        #expect(down.items["a-legacy"]?["action"] == ["kind": "none"])
        #expect(changes(down.items["a-legacy"]) == [])
        #expect(down.first["summary", "changes", "enable_cap_fails"] == 2)
        // model= selects the same rules as a kernel of that model.
        #expect(changes(try plan(s, "spr", "model=D").items["b-honor"]) == ["memory_types", "enable_cap_fails"])
    }

    /// A host without self-snoop: the honor-guest-pat VM's call fails with
    /// EINVAL on 6.15 and on 6.16 (no change); the plan offers the legacy baseline.
    @Test func hostWithoutSelfSnoop() throws {
        let s = try server(profiles: [("old", Self.noSS615)])
        try s.createVM("honor", #"{"host_profile": "old", "baseline": "honor-guest-pat-2025"}"#)
        let p = try plan(s, "old", "kernel=6.16")
        let item = p.items["honor"]
        #expect(changes(item) == [])
        #expect(item?["after", "enable_cap", "error"] == "EINVAL")
        #expect(item?["after", "enable_cap", "refused_names"] == ["IGNORE_GUEST_PAT"])
        #expect(item?["action", "kind"] == "baseline_move")
    }

    /// A guest kernel new enough has no risk; the new user's VM has one, on
    /// the write itself, on its decisions and in GET /v1/risks.
    @Test func risksOnWritesDecisionsAndTheListing() throws {
        let s = try server(profiles: [("spr", Self.spr616)])
        let created = try s.createVM("newuser", #"{"host_profile": "spr", "baseline": "honor-guest-pat-2025", "display_devices": ["VGA"], "guest_kernel": "6.1", "labels": {"team": "web"}}"#)
        #expect(created["risks", 0, "code"] == "bochs_uc_framebuffer")
        #expect(created["risks", 0, "severity"] == "high")
        #expect(created["risks", 0, "fix", 0, "baseline"] == "legacy-ignore-guest-pat")
        let fixed = try s.createVM("fixed", #"{"host_profile": "spr", "baseline": "honor-guest-pat-2025", "display_devices": ["VGA"], "guest_kernel": "6.13.2"}"#)
        #expect(fixed["risks"] == [])
        let rhel = try s.createVM("rhel", #"{"host_profile": "spr", "baseline": "honor-guest-pat-2025", "display_devices": ["bochs-display"], "guest_kernel": "5.14.0-427.el9.x86_64"}"#)
        #expect(rhel["risks", 0, "severity"] == "high")
        // The record overrides the version: a backport.
        let patched = try s.request("PATCH", "/v1/vms/rhel", json: #"{"guest_bochs_fix": true}"#)
        #expect(patched.status == 200, "\(patched.bodyText)")
        #expect(try patched.json()["risks"] == [])
        #expect(try patched.json()["guest_bochs_fix"] == true)
        try s.createVM("legacy", #"{"host_profile": "spr", "display_devices": ["VGA"], "guest_kernel": "6.1"}"#)

        let d = try s.request("GET", "/v1/vms/newuser/decision", token: nil).json()
        #expect(d["risks", 0, "severity"] == "high")

        let all = try s.request("GET", "/v1/risks", token: nil)
        #expect(all.status == 200, "\(all.bodyText)")
        let items = try all.json()["items"]?.arrayValue ?? []
        #expect(items.map { $0["vm"] } == ["newuser"])
        #expect(items.first?["probe", "effective"] == "UC")
        #expect(try s.request("GET", "/v1/risks?label=team=web&host_profile=spr", token: nil).json()["items"]?.arrayValue?.count == 1)
        #expect(try s.request("GET", "/v1/risks?label=team=db", token: nil).json()["items"] == [])
    }

    /// Risks page through the listing with the VM listing's cursor.
    @Test func riskPages() throws {
        let s = try server(profiles: [("spr", Self.spr616)])
        for i in 0..<5 {
            try s.createVM("vm\(i)", #"{"host_profile": "spr", "baseline": "honor-guest-pat-2025", "display_devices": ["VGA"]}"#)
        }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let r = try s.request("GET", "/v1/risks?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: nil)
            #expect(r.status == 200, "\(r.bodyText)")
            let page = try r.json()
            seen += page["items"]?.arrayValue?.compactMap { $0["vm"]?.stringValue } ?? []
            cursor = page["next_cursor"]?.stringValue
        } while cursor != nil
        #expect(seen == ["vm0", "vm1", "vm2", "vm3", "vm4"])
    }

    /// A VM honoring guest PAT on Sapphire Rapids 6.16 keeps its behaviour
    /// only on a host like it; a host without self-snoop refuses its call.
    @Test func placements() throws {
        let s = try server(profiles: [("spr", Self.spr616), ("spr-b", Self.spr616), ("nss", Self.noSS616), ("old", Self.spr615)])
        try s.createVM("honor", #"{"host_profile": "spr", "baseline": "honor-guest-pat-2025"}"#)
        let r = try s.request("GET", "/v1/vms/honor/placements", token: nil)
        #expect(r.status == 200, "\(r.bodyText)")
        let items = try r.json()["items"]?.arrayValue ?? []
        let byName = Dictionary(uniqueKeysWithValues: items.map { ($0["host_profile"]?.stringValue ?? "", $0) })
        #expect(byName.keys.sorted() == ["nss", "old", "spr", "spr-b"])
        #expect(byName["spr"]?["compatible"] == true && byName["spr"]?["current"] == true)
        #expect(byName["spr-b"]?["compatible"] == true)
        #expect(byName["nss"]?["compatible"] == false)
        #expect(byName["nss"]?["changes"] == ["memory_types", "enable_cap_fails"])
        #expect(byName["nss"]?["enable_cap", "error"] == "EINVAL")
        #expect(byName["old"]?["compatible"] == false)
        #expect((byName["nss"]?["reasons"]?.arrayValue?.count ?? 0) >= 2)
    }

    /// Every bad parameter is a 4xx problem naming it.
    @Test func badParameters() throws {
        let s = try server(profiles: [("spr", Self.spr616)])
        try s.createVM("vm", #"{"host_profile": "spr"}"#)
        let cases: [(String, Int, String)] = [
            ("/v1/hosts/spr/kernel-plan", 422, "/query/kernel"),
            ("/v1/hosts/spr/kernel-plan?kernel=six", 422, "/query/kernel"),
            ("/v1/hosts/spr/kernel-plan?model=Z", 422, "/query/model"),
            ("/v1/hosts/spr/kernel-plan?kernel=6.16&limit=0", 422, "/query/limit"),
            ("/v1/hosts/spr/kernel-plan?kernel=6.16&cursor=zz", 422, "/query/cursor"),
            ("/v1/hosts/spr/kernel-plan?kernel=6.16&nope=1", 422, "/query/nope"),
            ("/v1/hosts/spr/kernel-plan?kernel=6.16&kernel=6.15", 422, "/query/kernel"),
            ("/v1/risks?limit=5000", 422, "/query/limit"),
            ("/v1/risks?label=novalue", 422, "/query/label"),
            ("/v1/risks?host_profile=bad%20name", 422, "/query/host_profile"),
            ("/v1/risks?cursor=k0", 422, "/query/cursor"),
            ("/v1/vms/vm/placements?x=1", 422, "/query/x"),
        ]
        for (target, status, pointer) in cases {
            let r = try s.request("GET", target, token: nil)
            #expect(r.status == status, "\(target): \(r.bodyText)")
            #expect(r.header("Content-Type")?.hasPrefix("application/problem+json") == true, "\(target)")
            let body = try r.json()
            #expect(body["pointer"]?.stringValue == pointer, "\(target): \(r.bodyText)")
        }
        #expect(try s.request("GET", "/v1/hosts/nope/kernel-plan?kernel=6.16", token: nil).status == 404)
        #expect(try s.request("GET", "/v1/vms/nope/placements", token: nil).status == 404)
        #expect(try s.request("PUT", "/v1/vms/vm", json: #"{"host_profile": "spr", "guest_bochs_fix": "yes"}"#).status == 422)
    }
}
