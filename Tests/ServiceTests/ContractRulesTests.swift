import HTTPTestSupport
import JSON
import Testing

/// The rules openapi.yaml states only in words since it was rewritten for
/// client generators (swift-openapi-generator and openapi-python-client read
/// no `not`, no `null` branch of a `oneOf`/`anyOf`, no `oneOf` of `required`
/// lists and no 2^64-1 literal). schemathesis used to check them through
/// those constructs; these tests hold the server to them instead, over HTTP
/// against a real server.
@Suite struct ContractRulesTests {
    /// Request rules: each is a 422 naming the field, as the schema
    /// descriptions say.
    @Test func requestAlternativesAndBoundsAre422() throws {
        let s = try TestServer()
        let cases: [(path: String, body: String, pointer: String)] = [
            // DecisionRequest, QuirkRequest: kernel and model are alternatives.
            ("/v1/decisions", #"{"kernel": "6.16", "model": "E"}"#, "/model"),
            ("/v1/quirks/evaluate", #"{"kernel": "6.16", "model": "E"}"#, "/model"),
            ("/v1/guest/memtype", #"{"calls": [], "kvm": {"kernel": "6.16", "model": "E"}}"#, "/kvm/model"),
            // GuestAccess: pte and pat_index are alternatives.
            ("/v1/decisions", #"{"access": {"pte": {"pat": true}, "pat_index": 1}}"#, "/access/pat_index"),
            // MTRRInput: variable and proc_mtrr are alternatives, in both forms.
            ("/v1/mtrr/resolve", #"{"mtrr": {"enabled": true, "variable": [], "proc_mtrr": ""}, "gpa": 0}"#, "/mtrr/proc_mtrr"),
            ("/v1/mtrr/resolve", #"{"mtrr": {"def_type": "0x806", "variable": [], "proc_mtrr": ""}, "gpa": 0}"#, "/mtrr/proc_mtrr"),
            // UInt64: the integer form stops at 2^64-1.
            ("/v1/decisions", #"{"access": {"gpa": 18446744073709551616}}"#, "/access/gpa"),
            ("/v1/mtrr/resolve", #"{"mtrr": {}, "gpa": 18446744073709551616}"#, "/gpa"),
        ]
        for c in cases {
            let r = try s.request("POST", c.path, json: c.body)
            #expect(r.status == 422, "\(c.path) \(c.body): \(r.bodyText)")
            #expect(try r.json()["pointer"] == .string(c.pointer), "\(c.path) \(c.body)")
        }
        // MTRRResolveRequest: exactly one of gpa and range; GuestCall: end or size.
        for body in [#"{"mtrr": {}}"#, #"{"mtrr": {}, "gpa": 0, "range": {"start": 0, "end": 4096}}"#] {
            let r = try s.request("POST", "/v1/mtrr/resolve", json: body)
            #expect(r.status == 422, "\(body): \(r.bodyText)")
        }
        for body in [#"{"calls": [{"call": "ioremap", "start": 0}]}"#,
                     #"{"calls": [{"call": "ioremap", "start": 0, "end": 4096, "size": 4096}]}"#] {
            let r = try s.request("POST", "/v1/guest/memtype", json: body)
            #expect(r.status == 422, "\(body): \(r.bodyText)")
            #expect(try r.json()["pointer"] == "/calls/0/size", "\(body)")
        }
        // 2^64-1 itself is a value.
        #expect(try s.request("POST", "/v1/mtrr/resolve", json: #"{"mtrr": {}, "gpa": 18446744073709551615, "maxphyaddr": 52}"#).status == 422)
        #expect(try s.request("POST", "/v1/decisions", json: #"{"vcpu": {"pat": 18446744073709551615}}"#).status == 422)
        #expect(try s.request("POST", "/v1/decisions", json: #"{"access": {"pte": 18446744073709551615}}"#).status == 200)
    }

    /// VMInput and VMPatch: exactly one of `host` and `host_profile`.
    @Test func vmNamesExactlyOneHost() throws {
        let s = try StoreServer()
        #expect(try s.request("PUT", "/v1/hosts/spr", json: #"{"kernel": "6.16"}"#).status == 201)
        for body in [#"{}"#, #"{"host": null, "host_profile": null}"#, #"{"host": {}, "host_profile": "spr"}"#] {
            let r = try s.request("PUT", "/v1/vms/vm-1", json: body)
            #expect(r.status == 422, "\(body): \(r.bodyText)")
        }
        #expect(try s.request("PUT", "/v1/vms/vm-1", json: #"{"host_profile": "spr"}"#).status == 201)
        let both = try s.request("PATCH", "/v1/vms/vm-1", json: #"{"host": {"vendor": "amd"}, "host_profile": "spr"}"#)
        #expect(both.status == 422, "\(both.bodyText)")
        let neither = try s.request("PATCH", "/v1/vms/vm-1", json: #"{"host_profile": null}"#)
        #expect(neither.status == 422, "\(neither.bodyText)")
    }

    /// VM: the host is inline or a profile, and the other is null, through
    /// create, a switch by PATCH and back.
    @Test func storedVMHasExactlyOneHost() throws {
        let s = try StoreServer()
        #expect(try s.request("PUT", "/v1/hosts/spr", json: #"{"kernel": "6.16"}"#).status == 201)
        func expectOneHost(_ r: RawHTTPResponse, inline: Bool, _ step: String) throws {
            #expect(r.status == 200 || r.status == 201, "\(step): \(r.bodyText)")
            let vm = try r.json()
            #expect((vm["host"]?.objectValue != nil) == inline, "\(step)")
            #expect((vm["host"] == .null) == !inline, "\(step)")
            #expect((vm["host_profile"]?.stringValue != nil) == !inline, "\(step)")
            #expect((vm["host_profile"] == .null) == inline, "\(step)")
        }
        try expectOneHost(s.request("PUT", "/v1/vms/a", json: #"{"host": {"kernel": "6.12"}}"#), inline: true, "create inline")
        try expectOneHost(s.request("PUT", "/v1/vms/b", json: #"{"host_profile": "spr"}"#), inline: false, "create on a profile")
        try expectOneHost(s.request("PATCH", "/v1/vms/a", json: #"{"host": null, "host_profile": "spr"}"#), inline: false, "to a profile")
        try expectOneHost(s.request("PATCH", "/v1/vms/a", json: #"{"host": {"vendor": "amd"}, "host_profile": null}"#), inline: true, "back inline")
        try expectOneHost(s.request("GET", "/v1/vms/b"), inline: false, "read")
        let kvm = try s.request("GET", "/v1/vms/b/kvm-quirks").json()
        #expect(kvm["host"]?.objectValue != nil)  // VMKVMQuirks.host is never null
        #expect(kvm["host_profile"] == "spr")
    }

    /// GuestCallResult: each outcome's members, and only those; `requested`
    /// exactly for the calls that reserve.
    @Test func guestCallResultMembersFollowTheOutcome() throws {
        let s = try TestServer()
        let j = try s.request("POST", "/v1/guest/memtype", json: """
            {"ram": [{"start": 0, "end": "0x10000"}],
             "reservations": [{"start": "0xe0000000", "end": "0xe0001000", "type": "WB"}],
             "calls": [{"call": "ioremap", "start": "0xfd000000", "size": "0x1000"},
                       {"call": "ioremap_wc", "start": "0xe0000000", "size": "0x1000"},
                       {"call": "set_memory_uc", "start": 0, "size": "0x1000"},
                       {"call": "set_memory_wc", "start": 0, "size": "0x1000"},
                       {"call": "ioremap", "start": 0, "size": "0x1000"},
                       {"call": "iounmap", "start": "0xfd000000", "size": "0x1000"},
                       {"call": "set_memory_wb", "start": 0, "size": "0x1000"}],
             "kvm": {"kernel": "6.16"}}
            """).json()
        let common: Set = ["call", "start", "end", "outcome", "rules"]
        let own: [String: Set<String>] = [
            "mapped": ["type", "substituted", "linux_pat_index", "kvm"],
            "ebusy": ["existing"], "refused": ["offered"], "einval": ["reason"], "released": [],
        ]
        let results = try #require(j["results"]?.arrayValue)
        #expect(results.map { $0["outcome"]?.stringValue } == ["mapped", "refused", "mapped", "ebusy", "einval", "released", "released"])
        for (i, result) in results.enumerated() {
            let object = try #require(result.objectValue)
            let outcome = try #require(object["outcome"]?.stringValue)
            let call = try #require(object["call"]?.stringValue)
            let frees = call == "iounmap" || call == "set_memory_wb"
            let expected = common.union(own[outcome] ?? []).union(frees ? [] : ["requested"])
            #expect(Set(object.keys) == expected, "result \(i) (\(call), \(outcome)): \(object.keys)")
        }
    }
}
