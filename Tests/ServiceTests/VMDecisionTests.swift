import HTTPServer
import HTTPTestSupport
import JSON
import Testing
import VMStore

@Suite struct VMDecisionTests {
    /// The same decision three ways: POST per VM, GET per VM, and the stateless /v1/decisions.
    @Test func perVMDecisionEqualsTheFullRequest() throws {
        let s = try StoreServer()
        try s.createVM("bochs", vmJSON(extra: #""baseline": "honor-guest-pat-2025""#))
        let post = try s.request("POST", "/v1/vms/bochs/decisions", json: #"{"vcpu": {"pat": "linux"}, "access": {"gpa": "0xfd000000", "pat_index": 2}}"#, token: nil)
        #expect(post.status == 200, "\(post.bodyText)")
        let get = try s.request("GET", "/v1/vms/bochs/decision?gpa=0xfd000000&pat_index=2&pat=linux", token: nil)
        #expect(get.status == 200, "\(get.bodyText)")
        let full = try s.server.request("POST", "/v1/decisions", json: """
            {"kernel": "6.16", "host": {"vendor": "intel", "self_snoop": true, "tdp": true, "cpu": {"family": 6, "model": "0x8f"}},
             "vm": {"type": "regular", "disabled_quirks": "0x200", "noncoherent_dma": false},
             "vcpu": {"pat": "linux"}, "access": {"gpa": "0xfd000000", "pat_index": 2}}
            """)
        #expect(full.status == 200)
        let p = try post.json(), g = try get.json(), f = try full.json()
        #expect(p.removing("vm").removing("risks") == f)
        #expect(g.removing("vm").removing("risks") == f)
        // VGA, guest 6.1, honor-guest-pat, Sapphire Rapids on 6.16: the bochs warning.
        #expect(p["risks", 0, "code"] == "bochs_uc_framebuffer")
        #expect(p["risks", 0, "severity"] == "high")
        #expect(g["risks"] == p["risks"])
        #expect(p["vm"] == ["id": "bochs", "revision": 1, "baseline": "honor-guest-pat-2025"])
        #expect(g["vm"] == p["vm"])
        #expect(f["effective"] == "UC")
        #expect(f["warnings", 0, "code"] == "slow_uncached_ram")
    }

    @Test func getDecisionOptionsMatchTheirBodyForms() throws {
        let s = try StoreServer()
        try s.createVM("opts", vmJSON(extra: #""baseline": "honor-guest-pat-2025""#))
        let pairs: [(String, String)] = [
            ("gpa=0x1000&pte=0x1000&level=2M&pat=0x0007040600070406", #"{"vcpu": {"pat": "0x0007040600070406"}, "access": {"gpa": "0x1000", "pte": "0x1000", "level": "2M"}}"#),
            ("gpa=0xfebc0000&mmio=true&pat_index=3", #"{"access": {"gpa": "0xfebc0000", "mmio": true, "pat_index": 3}}"#),
            ("", "{}"),
        ]
        for (query, body) in pairs {
            let g = try s.request("GET", "/v1/vms/opts/decision?" + query, token: nil)
            let p = try s.request("POST", "/v1/vms/opts/decisions", json: body, token: nil)
            #expect(g.status == 200, "\(query): \(g.bodyText)")
            #expect(try g.json() == p.json(), "\(query)")
        }
    }

    @Test func hostProfilesAndKernelsSelectTheModel() throws {
        let s = try StoreServer()
        #expect(try s.request("PUT", "/v1/hosts/old", json: #"{"kernel": "6.11", "cpu": {"family": 6, "model": 143}}"#).status == 201)
        try s.createVM("on-profile", #"{"host_profile": "old", "baseline": "honor-guest-pat-2025"}"#)
        try s.createVM("no-kernel", #"{"host": {"vendor": "intel"}, "baseline": "honor-guest-pat-2025"}"#)
        let q = "gpa=0xfd000000&pat_index=2&pat=linux"
        let d = try s.request("GET", "/v1/vms/on-profile/decision?" + q, token: nil).json()
        #expect(d["model", "id"] == "D")
        #expect(d["effective"] == "WB")
        let n = try s.request("GET", "/v1/vms/no-kernel/decision?" + q, token: nil).json()
        #expect(n["model", "id"] == "E")
        #expect(n["effective"] == "UC")
        // The profile changes; the VM's decisions follow it.
        #expect(try s.request("PUT", "/v1/hosts/old", json: #"{"kernel": "6.16", "cpu": {"family": 6, "model": 143}}"#).status == 200)
        let d2 = try s.request("GET", "/v1/vms/on-profile/decision?" + q, token: nil).json()
        #expect(d2["model", "id"] == "E")
        #expect(d2["effective"] == "UC")
    }

    @Test func decisionErrors() throws {
        let s = try StoreServer()
        try s.createVM("e", vmJSON())
        for (query, pointer) in [
            ("gpa=zz", "/query/gpa"), ("pat_index=8", "/query/pat_index"), ("level=4M", "/query/level"),
            ("mmio=yes", "/query/mmio"), ("pat=0x2", "/query/pat"), ("gpa=0x1&gpa=0x2", "/query/gpa"),
            ("pte=0x10&pat_index=1", "/query/pte"), ("colour=1", "/query/colour"),
            ("gpa=0xffffffffffffffff", "/query/gpa"), ("private=true", "/query/private"),
        ] {
            let r = try s.request("GET", "/v1/vms/e/decision?" + query, token: nil)
            #expect(r.status == 422, "\(query): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(query)")
        }
        for (body, pointer) in [
            (#"{"kernel": "6.16"}"#, "/kernel"), (#"{"access": {"pat_index": 9}}"#, "/access/pat_index"),
            (#"{"vcpu": {"pat": "0x0007040600070402"}}"#, "/vcpu/pat"), (#"{"access": {"gpa": "0xffffffffffffffff"}}"#, "/access/gpa"),
        ] {
            let r = try s.request("POST", "/v1/vms/e/decisions", json: body, token: nil)
            #expect(r.status == 422, "\(body): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(body)")
        }
        #expect(try s.request("GET", "/v1/vms/missing/decision", token: nil).status == 404)
        #expect(try s.request("POST", "/v1/vms/missing/decisions", json: "{}", token: nil).status == 404)
        // A stored TDX VM on a host without self-snoop: the record is the problem, not the request.
        try s.createVM("tdx", #"{"host": {"self_snoop": false}, "type": "tdx"}"#)
        #expect(try s.request("GET", "/v1/vms/tdx/decision", token: nil).status == 409)
    }

    @Test func kvmQuirks() throws {
        let s = try StoreServer()
        try s.createVM("honor", vmJSON(extra: #""baseline": "honor-guest-pat-2025""#))
        let r = try s.request("GET", "/v1/vms/honor/kvm-quirks", token: nil)
        #expect(r.status == 200, "\(r.bodyText)")
        let j = try r.json()
        #expect(j["vm", "id"] == "honor")
        #expect(j["model", "id"] == "E")
        #expect(j["disable_quirks2"] == [
            "mask": "0x200", "names": ["IGNORE_GUEST_PAT"], "call_needed": true, "would_fail": false, "error": .null,
            "refused": "0x0", "refused_names": [], "mask_to_apply": "0x200", "names_to_apply": ["IGNORE_GUEST_PAT"],
        ])
        #expect(j["quirks", "states", "IGNORE_GUEST_PAT", "state"] == "disabled")
        #expect(j["host", "kernel"] == "6.16")

        // The same VM on 6.15: the quirk is not in the kernel, so KVM would refuse the mask.
        let old = try s.request("GET", "/v1/vms/honor/kvm-quirks?kernel=6.15", token: nil).json()
        #expect(old["model", "id"] == "D")
        #expect(old["disable_quirks2", "would_fail"] == true)
        #expect(old["disable_quirks2", "error"] == "EINVAL")
        #expect(old["disable_quirks2", "refused"] == "0x200")
        #expect(old["disable_quirks2", "mask_to_apply"] == "0x0")
        #expect(old["disable_quirks2", "call_needed"] == false)
        #expect(try s.request("GET", "/v1/vms/honor/kvm-quirks?model=e", token: nil).json()["model", "id"] == "E")

        // No self-snoop: IGNORE_GUEST_PAT is forced on and the request fails.
        try s.createVM("nosnoop", #"{"host": {"self_snoop": false, "kernel": "6.16"}, "baseline": "honor-guest-pat-2025"}"#)
        let ns = try s.request("GET", "/v1/vms/nosnoop/kvm-quirks", token: nil).json()
        #expect(ns["disable_quirks2", "would_fail"] == true)
        #expect(ns["quirks", "states", "IGNORE_GUEST_PAT", "state"] == "forced_on")

        for (query, pointer) in [("kernel=six", "/query/kernel"), ("model=F", "/query/model"),
                                 ("kernel=6.16&model=E", "/query/model"), ("gpa=1", "/query/gpa")] {
            let bad = try s.request("GET", "/v1/vms/honor/kvm-quirks?" + query, token: nil)
            #expect(bad.status == 422, "\(query)")
            #expect(try bad.json()["pointer"]?.stringValue == pointer, "\(query)")
        }

        // kernel=/model= are read by the decision request's rule: the same
        // messages as a quirk evaluation's body gives, at the query's pointers.
        for (query, body) in [("kernel=6.16&model=E", #"{"kernel": "6.16", "model": "E"}"#),
                              ("kernel=six", #"{"kernel": "six"}"#), ("model=F", #"{"model": "F"}"#)] {
            let fromQuery = try s.request("GET", "/v1/vms/honor/kvm-quirks?" + query, token: nil).json()
            let fromBody = try s.request("POST", "/v1/quirks/evaluate", json: body).json()
            let message = { (j: JSONValue) in j["detail"]?.stringValue?.split(separator: ":", maxSplits: 1).last }
            #expect(message(fromQuery) != nil && message(fromQuery) == message(fromBody), "\(query)")
            #expect(fromQuery["pointer"]?.stringValue == "/query" + (fromBody["pointer"]?.stringValue ?? "-"), "\(query)")
        }
    }

    /// A store opened with another current baseline leaves existing VMs (and their decisions) alone.
    @Test func restartWithAnotherCurrentBaseline() throws {
        let dir = VMTempDir()
        let bochs = "gpa=0xfd000000&pat_index=2&pat=linux"
        var recordA: JSONValue
        do {
            let first = try StoreServer(baseline: .legacyIgnoreGuestPAT, dir: dir)
            recordA = try first.createVM("a", vmJSON())
            #expect(recordA["baseline"] == "legacy-ignore-guest-pat")
            #expect(try first.request("GET", "/v1/vms/a/decision?" + bochs, token: nil).json()["effective"] == "WB")
            first.stop()
        }
        let second = try StoreServer(baseline: .honorGuestPAT2025, dir: dir)
        #expect(try second.request("GET", "/v1/baselines", token: nil).json()["current"] == "honor-guest-pat-2025")
        let b = try second.createVM("b", vmJSON())
        #expect(b["baseline"] == "honor-guest-pat-2025")
        #expect(b["quirks", "IGNORE_GUEST_PAT"] == "disable")

        let a = try second.getVM("a")
        #expect(a.header("ETag") == "\"r1\"")
        #expect(try a.json() == recordA.removing("risks"))  // a write's response adds its risks
        let da = try second.request("GET", "/v1/vms/a/decision?" + bochs, token: nil).json()
        #expect(da["effective"] == "WB")
        #expect(da["ept", "ipat"] == true)
        let db = try second.request("GET", "/v1/vms/b/decision?" + bochs, token: nil).json()
        #expect(db["model", "id"] == "E")
        #expect(db["effective"] == "UC")
        #expect(db["ept", "ipat"] == false)
        #expect(db["vm", "baseline"] == "honor-guest-pat-2025")
        #expect(try second.history("a").count == 1)
    }
}
