import HTTPServer
import HTTPTestSupport
import JSON
import Testing
import VMStore

@Suite struct BaselineMoveTests {
    @Test func catalogue() throws {
        let s = try StoreServer()
        let r = try s.request("GET", "/v1/baselines", token: nil)
        #expect(r.status == 200)
        let j = try r.json()
        #expect(j["current"] == "legacy-ignore-guest-pat")
        let items = try #require(j["items"]?.arrayValue)
        #expect(items.map { $0["name"]?.stringValue } == ["legacy-ignore-guest-pat", "honor-guest-pat-2025"])
        #expect(items[0]["current"] == true)
        #expect(items[1]["current"] == false)
        #expect(items[1]["disabled_quirks"] == "0x200")
        #expect(items[1]["disabled_quirk_names"] == ["IGNORE_GUEST_PAT"])
        #expect(items[0]["disabled_quirk_names"] == [])
        #expect(items[1]["deprecated"] == false)
        #expect(items[1]["description"]?.stringValue?.isEmpty == false)
    }

    @Test func singleMoveDryRunThenReal() throws {
        let s = try StoreServer()
        try s.createVM("m", vmJSON(extra: #""quirks": {"CD_NW_CLEARED": "disable"}"#))
        let body = #"{"baseline": "honor-guest-pat-2025", "dry_run": true}"#

        let dry = try s.request("POST", "/v1/vms/m/baseline-move", json: body)
        #expect(dry.status == 200, "\(dry.bodyText)")
        let d = try dry.json()
        #expect(d["dry_run"] == true)
        #expect(d["result"] == "would_move")
        #expect(d["from"] == ["baseline": "legacy-ignore-guest-pat", "disabled_quirks": "0x2", "disabled_quirk_names": ["CD_NW_CLEARED"]])
        #expect(d["to"] == ["baseline": "honor-guest-pat-2025", "disabled_quirks": "0x200", "disabled_quirk_names": ["IGNORE_GUEST_PAT"]])
        #expect(d["vm", "revision"] == 1)
        #expect(d["effect", "model"] == "E")
        #expect(d["effect", "memory_types_change"] == true)
        #expect(d["effect", "quirk_states", "IGNORE_GUEST_PAT", "before", "state"] == "enabled")
        #expect(d["effect", "quirk_states", "IGNORE_GUEST_PAT", "after", "state"] == "disabled")
        #expect(d["effect", "probe", "before", "effective"] == "WB")
        #expect(d["effect", "probe", "after", "effective"] == "UC")
        let fields = (d["changes"]?.arrayValue ?? []).compactMap { $0["field"]?.stringValue }
        #expect(Set(fields) == ["/baseline", "/quirks/CD_NW_CLEARED", "/quirks/IGNORE_GUEST_PAT"])
        // Nothing written.
        #expect(try s.getVM("m").header("ETag") == "\"r1\"")
        #expect(try s.history("m").count == 1)

        // A stale If-Match fails, dry or not.
        #expect(try s.request("POST", "/v1/vms/m/baseline-move", json: body, headers: [("If-Match", "\"r7\"")]).status == 412)
        let realBody = #"{"baseline": "honor-guest-pat-2025"}"#
        #expect(try s.request("POST", "/v1/vms/m/baseline-move", json: realBody, headers: [("If-Match", "\"r7\"")]).status == 412)
        #expect(try s.history("m").count == 1)

        let real = try s.request("POST", "/v1/vms/m/baseline-move", json: realBody, token: Tokens.bob, headers: [("If-Match", "\"r1\"")])
        #expect(real.status == 200, "\(real.bodyText)")
        #expect(real.header("ETag") == "\"r2\"")
        let m = try real.json()
        #expect(m["result"] == "moved")
        #expect(m["dry_run"] == false)
        #expect(m["vm"] == ["id": "m", "revision": 2, "baseline": "honor-guest-pat-2025"])
        let stored = try s.getVM("m").json()
        #expect(stored["baseline"] == "honor-guest-pat-2025")
        #expect(stored["disabled_quirks"] == "0x200")  // the override was dropped with the move
        let top = try #require(try s.history("m").first)
        #expect(top["action"] == "baseline_move")
        #expect(top["actor"] == "bob")
        #expect(try s.request("GET", "/v1/vms/m/decision?gpa=0xfd000000&pat_index=2&pat=linux", token: nil).json()["effective"] == "UC")

        // Moving again changes nothing.
        let again = try s.request("POST", "/v1/vms/m/baseline-move", json: realBody)
        #expect(try again.json()["result"] == "unchanged")
        #expect(again.header("ETag") == "\"r2\"")
        #expect(try s.history("m").count == 2)

        for (bad, pointer) in [(#"{"baseline": "nope"}"#, "/baseline"), (#"{}"#, "/baseline"),
                               (#"{"baseline": "honor-guest-pat-2025", "dry_run": "yes"}"#, "/dry_run"),
                               (#"{"baseline": "honor-guest-pat-2025", "force": true}"#, "/force")] {
            let r = try s.request("POST", "/v1/vms/m/baseline-move", json: bad)
            #expect(r.status == 422, "\(bad)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(bad)")
        }
        #expect(try s.request("POST", "/v1/vms/nobody/baseline-move", json: realBody).status == 404)
    }

    @Test func bulkMoveDryRunThenPages() throws {
        let s = try StoreServer()
        for i in 1...5 { try s.createVM("fleet-\(i)", vmJSON(labels: #"{"fleet": "a"}"#)) }
        try s.createVM("fleet-6", vmJSON(labels: #"{"fleet": "a"}"#, extra: #""baseline": "honor-guest-pat-2025""#))
        try s.createVM("other", vmJSON(labels: #"{"fleet": "b"}"#))

        let dry = try s.request("POST", "/v1/baseline-moves", json: """
            {"to": "honor-guest-pat-2025", "filter": {"labels": {"fleet": "a"}}, "dry_run": true}
            """)
        #expect(dry.status == 200, "\(dry.bodyText)")
        let d = try dry.json()
        #expect(d["summary"] == ["matched": 6, "would_move": 5, "moved": 0, "unchanged": 1, "failed": 0])
        let items = try #require(d["items"]?.arrayValue)
        #expect(items.map { $0["id"]?.stringValue } == ["fleet-1", "fleet-2", "fleet-3", "fleet-4", "fleet-5", "fleet-6"])
        #expect(items[0]["result"] == "would_move")
        #expect(items[0]["effect", "memory_types_change"] == true)
        #expect(items[5]["result"] == "unchanged")
        #expect(d["next_cursor"] == .null)
        for i in 1...5 {
            #expect(try s.getVM("fleet-\(i)").header("ETag") == "\"r1\"")
            #expect(try s.history("fleet-\(i)").count == 1)
        }

        // Real, in pages of 3 of the VMs still on the legacy baseline.
        let body = #"{"to": "honor-guest-pat-2025", "filter": {"baseline": "legacy-ignore-guest-pat", "labels": {"fleet": "a"}, "quirks": {"IGNORE_GUEST_PAT": "keep_enabled"}}, "limit": 3}"#
        let first = try s.request("POST", "/v1/baseline-moves", json: body).json()
        #expect(first["summary", "moved"] == 3)
        #expect(first["items", 0, "revision_before"] == 1)
        #expect(first["items", 0, "revision"] == 2)
        #expect(first["next_cursor"]?.stringValue != nil)
        let second = try s.request("POST", "/v1/baseline-moves", json: body).json()
        #expect(second["summary"] == ["matched": 2, "would_move": 0, "moved": 2, "unchanged": 0, "failed": 0])
        #expect(second["next_cursor"] == .null)
        let third = try s.request("POST", "/v1/baseline-moves", json: body).json()
        #expect(third["summary", "matched"] == 0)

        for i in 1...5 {
            let vm = try s.getVM("fleet-\(i)").json()
            #expect(vm["baseline"] == "honor-guest-pat-2025")
            #expect(try s.history("fleet-\(i)").first?["action"] == "baseline_move")
        }
        #expect(try s.getVM("other").json()["baseline"] == "legacy-ignore-guest-pat")
        #expect(try s.getVM("fleet-6").header("ETag") == "\"r1\"")

        for (bad, pointer) in [
            (#"{"to": "nope"}"#, "/to"), (#"{"filter": {}}"#, "/to"),
            (#"{"to": "honor-guest-pat-2025", "filter": {"quirks": {"NOPE": "disable"}}}"#, "/filter/quirks/NOPE"),
            (#"{"to": "honor-guest-pat-2025", "filter": {"quirks": {"kvm_x86_quirk_ignore_guest_pat": null}}}"#, "/filter/quirks/kvm_x86_quirk_ignore_guest_pat"),
            (#"{"to": "honor-guest-pat-2025", "filter": {"labels": {"bad key": "x"}}}"#, "/filter/labels/bad key"),
            (#"{"to": "honor-guest-pat-2025", "filter": {"colour": "x"}}"#, "/filter/colour"),
            (#"{"to": "honor-guest-pat-2025", "limit": 0}"#, "/limit"),
            (#"{"to": "honor-guest-pat-2025", "cursor": "zzz"}"#, "/cursor"),
        ] {
            let r = try s.request("POST", "/v1/baseline-moves", json: bad)
            #expect(r.status == 422, "\(bad): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(bad)")
        }
    }
}

@Suite struct HostRouteTests {
    @Test func hostProfileLifecycle() throws {
        let s = try StoreServer()
        let created = try s.request("PUT", "/v1/hosts/spr-616", json: #"{"cpu": {"family": 6, "model": "0x8f"}, "kernel": "6.16"}"#,
                                    headers: [("If-None-Match", "*")])
        #expect(created.status == 201, "\(created.bodyText)")
        #expect(created.header("Location") == "/v1/hosts/spr-616")
        #expect(created.header("ETag") == "\"r1\"")
        let h = try created.json()
        #expect(h["name"] == "spr-616")
        #expect(h["vendor"] == "intel")
        #expect(h["self_snoop"] == true)
        #expect(h["cpu"] == ["family": 6, "model": 143, "stepping": .null])
        #expect(try s.request("PUT", "/v1/hosts/spr-616", json: "{}", headers: [("If-None-Match", "*")]).status == 412)
        #expect(try s.request("GET", "/v1/hosts/spr-616", token: nil).json() == h)
        #expect(try s.request("GET", "/v1/hosts/spr-616", token: nil, headers: [("If-None-Match", "\"r1\"")]).status == 304)

        try s.createVM("uses-it", #"{"host_profile": "spr-616"}"#)
        let conflict = try s.request("DELETE", "/v1/hosts/spr-616")
        #expect(conflict.status == 409)
        #expect(conflict.bodyText.contains("uses-it"))
        #expect(try s.request("GET", "/v1/hosts/spr-616", token: nil).status == 200)

        let replaced = try s.request("PUT", "/v1/hosts/spr-616", json: #"{"cpu": {"family": 6, "model": 143}, "kernel": "6.17"}"#,
                                     headers: [("If-Match", "\"r1\"")])
        #expect(replaced.status == 200)
        #expect(replaced.header("ETag") == "\"r2\"")
        #expect(try s.request("PUT", "/v1/hosts/spr-616", json: "{}", headers: [("If-Match", "\"r1\"")]).status == 412)

        let history = try s.request("GET", "/v1/hosts/spr-616/history", token: nil).json()
        #expect(history["items", 0, "action"] == "replace")
        #expect(history["items", 0, "changes"] == [["field": "/kernel", "old": "6.16", "new": "6.17"]])
        #expect(history["items", 1, "actor"] == "alice")

        #expect(try s.request("PUT", "/v1/hosts/amd", json: #"{"vendor": "amd"}"#).status == 201)
        let list = try s.request("GET", "/v1/hosts?limit=1", token: nil).json()
        #expect(list["items", 0, "name"] == "amd")
        let cursor = try #require(list["next_cursor"]?.stringValue)
        #expect(try s.request("GET", "/v1/hosts?limit=1&cursor=\(cursor)", token: nil).json()["items", 0, "name"] == "spr-616")

        #expect(try s.request("DELETE", "/v1/vms/uses-it").status == 204)
        #expect(try s.request("DELETE", "/v1/hosts/spr-616", headers: [("If-Match", "\"r1\"")]).status == 412)
        #expect(try s.request("DELETE", "/v1/hosts/spr-616", headers: [("If-Match", "\"r2\"")]).status == 204)
        #expect(try s.request("GET", "/v1/hosts/spr-616", token: nil).status == 404)

        for (body, pointer) in [(#"{"kernel": "x"}"#, "/kernel"), (#"{"vendor": "via"}"#, "/vendor"),
                                (#"{"cpu": {"family": 999, "model": 1}}"#, "/cpu/family"), (#"{"name": "other"}"#, "/name"),
                                (#"{"revision": 2}"#, "/revision"), (#"{"host": {}}"#, "/host")] {
            let r = try s.request("PUT", "/v1/hosts/h", json: body)
            #expect(r.status == 422, "\(body): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(body)")
        }
        #expect(try s.request("GET", "/v1/hosts/h", token: nil).status == 404)
        #expect(try s.request("PUT", "/v1/hosts/bad%20name", json: "{}").status == 422)
    }
}

@Suite struct VMAuthTests {
    @Test func writesNeedAWriteToken() throws {
        let s = try StoreServer()
        try s.createVM("a", vmJSON())
        let writes: [(String, String, String?)] = [
            ("PUT", "/v1/vms/b", vmJSON()), ("PATCH", "/v1/vms/a", "{}"), ("DELETE", "/v1/vms/a", nil),
            ("POST", "/v1/vms/a/baseline-move", #"{"baseline": "honor-guest-pat-2025", "dry_run": true}"#),
            ("POST", "/v1/baseline-moves", #"{"to": "honor-guest-pat-2025", "dry_run": true}"#),
            ("PUT", "/v1/hosts/h", "{}"), ("DELETE", "/v1/hosts/h", nil),
        ]
        for (method, path, body) in writes {
            let none = try s.request(method, path, json: body, token: nil)
            #expect(none.status == 401, "\(method) \(path)")
            #expect(none.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(none.header("Content-Type") == "application/problem+json")
            #expect(try s.request(method, path, json: body, token: "not-a-token-at-all-xx").status == 401)
            let readOnly = try s.request(method, path, json: body, token: Tokens.reader)
            #expect(readOnly.status == 403, "\(method) \(path)")
        }
        // Nothing changed.
        #expect(try s.getVM("a").header("ETag") == "\"r1\"")
        #expect(try s.getVM("b").status == 404)
        #expect(try s.history("a").count == 1)
        // Reads, including the per-VM decision POST, need no token by default.
        #expect(try s.request("POST", "/v1/vms/a/decisions", json: "{}", token: nil).status == 200)
        #expect(try s.request("GET", "/v1/vms", token: Tokens.reader).status == 200)
    }

    @Test func readAuthMakesReadsNeedAToken() throws {
        let s = try StoreServer(readAuth: true)
        try s.createVM("a", vmJSON())
        for target in ["/v1/vms/a", "/v1/vms", "/v1/vms/a/history", "/v1/vms/a/decision", "/v1/vms/a/kvm-quirks", "/v1/hosts"] {
            #expect(try s.request("GET", target, token: nil).status == 401, "\(target)")
            #expect(try s.request("GET", target, token: Tokens.reader).status == 200, "\(target)")
        }
        #expect(try s.request("POST", "/v1/vms/a/decisions", json: "{}", token: nil).status == 401)
        #expect(try s.request("POST", "/v1/vms/a/decisions", json: "{}", token: Tokens.reader).status == 200)
    }

    @Test func withoutAStoreTheRoutesAre503() throws {
        let s = try TestServer()
        let r = try s.request("GET", "/v1/vms/a")
        #expect(r.status == 503)
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(try s.request("GET", "/v1/baselines").status == 200)
    }
}
