import Foundation
import HTTPServer
import HTTPTestSupport
import JSON
import Testing
import VMStore

@Suite struct VMRecordRouteTests {
    @Test func createReadReplacePatchDeleteWithETags() throws {
        let s = try StoreServer()
        // Create: 201, Location, ETag, every quirk stated.
        let created = try s.request("PUT", "/v1/vms/web-1", json: vmJSON())
        #expect(created.status == 201, "\(created.bodyText)")
        #expect(created.header("Location") == "/v1/vms/web-1")
        #expect(created.header("ETag") == "\"r1\"")
        let j = try created.json()
        #expect(j["id"] == "web-1")
        #expect(j["baseline"] == "legacy-ignore-guest-pat")
        #expect(j["disabled_quirks"] == "0x0")
        #expect(j["quirks"]?.objectValue?.count == 12)
        #expect(j["quirks", "IGNORE_GUEST_PAT"] == "keep_enabled")
        #expect(j["host", "cpu", "model"] == 143)
        #expect(j["host", "kernel"] == "6.16")
        #expect(j["host_profile"] == .null)
        #expect(j["labels", "env"] == "prod")
        #expect(j["revision"] == 1)
        #expect(j["created_at"]?.stringValue?.hasSuffix("Z") == true)

        // Read: same representation, same ETag; a matching If-None-Match is 304.
        let read = try s.getVM("web-1")
        #expect(read.status == 200)
        #expect(read.header("ETag") == "\"r1\"")
        #expect(try read.json() == j.removing("risks"))  // a write's response adds its risks
        let notModified = try s.request("GET", "/v1/vms/web-1", token: nil, headers: [("If-None-Match", "\"r1\"")])
        #expect(notModified.status == 304)
        #expect(notModified.header("ETag") == "\"r1\"")
        #expect(notModified.body.isEmpty)
        #expect(try s.request("GET", "/v1/vms/web-1", token: nil, headers: [("If-None-Match", "\"r9\"")]).status == 200)

        // Replace under If-Match: 200 and the next revision; a stale tag is 412.
        let replaced = try s.request("PUT", "/v1/vms/web-1", json: vmJSON(extra: #""noncoherent_dma": true"#),
                                     headers: [("If-Match", "\"r1\"")])
        #expect(replaced.status == 200, "\(replaced.bodyText)")
        #expect(replaced.header("ETag") == "\"r2\"")
        #expect(replaced.header("Location") == nil)
        #expect(try replaced.json()["noncoherent_dma"] == true)
        let stale = try s.request("PUT", "/v1/vms/web-1", json: vmJSON(), headers: [("If-Match", "\"r1\"")])
        #expect(stale.status == 412)
        #expect(stale.header("Content-Type") == "application/problem+json")
        #expect(stale.bodyText.contains("revision 2"))
        // A weak tag never matches If-Match (strong comparison).
        #expect(try s.request("PUT", "/v1/vms/web-1", json: vmJSON(), headers: [("If-Match", "W/\"r2\"")]).status == 412)

        // Merge patch: null removes, objects merge, quirks by name.
        let patched = try s.request("PATCH", "/v1/vms/web-1",
                                    json: #"{"labels": {"env": null, "team": "gfx"}, "guest_kernel": null, "quirks": {"IGNORE_GUEST_PAT": "disable"}}"#,
                                    headers: [("Content-Type", "application/merge-patch+json"), ("If-Match", "\"r2\"")])
        #expect(patched.status == 200, "\(patched.bodyText)")
        #expect(patched.header("ETag") == "\"r3\"")
        let p = try patched.json()
        #expect(p["labels"] == ["team": "gfx"])
        #expect(p["guest_kernel"] == .null)
        #expect(p["disabled_quirks"] == "0x200")
        #expect(p["quirks", "IGNORE_GUEST_PAT"] == "disable")
        #expect(p["baseline"] == "legacy-ignore-guest-pat")
        #expect(p["noncoherent_dma"] == true)
        #expect(p["host", "cpu", "model"] == 143)

        // A quirk set to null reverts to the baseline's choice; host fields merge.
        let reverted = try s.request("PATCH", "/v1/vms/web-1",
                                     json: #"{"quirks": {"IGNORE_GUEST_PAT": null}, "host": {"kernel": "6.15"}}"#)
        #expect(reverted.status == 200, "\(reverted.bodyText)")
        let rj = try reverted.json()
        #expect(rj["disabled_quirks"] == "0x0")
        #expect(rj["host", "kernel"] == "6.15")
        #expect(rj["host", "cpu", "family"] == 6)
        #expect(rj["revision"] == 4)

        // A patch that changes nothing keeps the revision.
        let same = try s.request("PATCH", "/v1/vms/web-1", json: #"{"labels": {"team": "gfx"}}"#)
        #expect(same.status == 200)
        #expect(same.header("ETag") == "\"r4\"")

        #expect(try s.request("PATCH", "/v1/vms/web-1", json: "{}", headers: [("If-Match", "\"r3\"")]).status == 412)
        #expect(try s.request("PATCH", "/v1/vms/web-1", json: "[]", headers: [("Content-Type", "application/json-patch+json")]).status == 415)

        // Delete: stale tag 412, then 204, then 404 everywhere.
        #expect(try s.request("DELETE", "/v1/vms/web-1", headers: [("If-Match", "\"r3\"")]).status == 412)
        let deleted = try s.request("DELETE", "/v1/vms/web-1", headers: [("If-Match", "\"r4\"")])
        #expect(deleted.status == 204)
        #expect(try s.getVM("web-1").status == 404)
        #expect(try s.request("DELETE", "/v1/vms/web-1").status == 404)
        #expect(try s.request("PATCH", "/v1/vms/web-1", json: "{}").status == 404)
        // If-Match on a VM that does not exist: PUT is 412 (it would otherwise create).
        #expect(try s.request("PUT", "/v1/vms/web-1", json: vmJSON(), headers: [("If-Match", "\"r4\"")]).status == 412)
        #expect(try s.request("PUT", "/v1/vms/web-1", json: vmJSON(), headers: [("If-Match", "*")]).status == 412)
        // Re-created, the revision continues after the deleted incarnation's, so old ETags stay stale.
        let again = try s.request("PUT", "/v1/vms/web-1", json: vmJSON())
        #expect(again.status == 201)
        #expect(again.header("ETag") == "\"r6\"")
        // History survives the delete.
        let actions = try s.history("web-1").map { $0["action"]?.stringValue ?? "" }
        #expect(actions == ["create", "delete", "patch", "patch", "replace", "create"])
    }

    @Test func ifMatchStarAndTagLists() throws {
        let s = try StoreServer()
        try s.createVM("a", vmJSON())
        let star = try s.request("PUT", "/v1/vms/a", json: vmJSON(labels: #"{"x": "1"}"#, extra: #""type": "regular""#),
                                 headers: [("If-Match", "*")])
        #expect(star.status == 200, "\(star.bodyText)")
        #expect(star.header("ETag") == "\"r2\"")
        let list = try s.request("PATCH", "/v1/vms/a", json: #"{"labels": {"y": "2"}}"#, headers: [("If-Match", "\"r1\", \"r2\"")])
        #expect(list.status == 200, "\(list.bodyText)")
        #expect(try s.request("PATCH", "/v1/vms/a", json: #"{"labels": {"z": "3"}}"#, headers: [("If-Match", "\"r1\", \"r2\"")]).status == 412)
        #expect(try s.request("DELETE", "/v1/vms/a", headers: [("If-Match", "\"nonsense\"")]).status == 412)
        #expect(try s.request("DELETE", "/v1/vms/a", headers: [("If-Match", "*")]).status == 204)
        #expect(try s.request("DELETE", "/v1/vms/a", headers: [("If-Match", "*")]).status == 404)
    }

    @Test func createOnlyTwiceIs412AndLeavesTheFirst() throws {
        let s = try StoreServer()
        let first = try s.request("PUT", "/v1/vms/once", json: vmJSON(), headers: [("If-None-Match", "*")])
        #expect(first.status == 201)
        let second = try s.request("PUT", "/v1/vms/once", json: vmJSON(extra: #""type": "tdx""#), headers: [("If-None-Match", "*")])
        #expect(second.status == 412)
        #expect(second.header("Content-Type") == "application/problem+json")
        let now = try s.getVM("once").json()
        #expect(now["revision"] == 1)
        #expect(now["type"] == "regular")
        #expect(try s.history("once").count == 1)
    }

    @Test func racingWritersWithTheSameIfMatch() throws {
        let s = try StoreServer()
        try s.createVM("race", vmJSON())
        let port = s.server.port
        for round in 1...12 {
            let etag = "\"r\(round)\""
            let statuses = Mutex2<[Int]>([])
            let start = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for writer in 0..<2 {
                group.enter()
                Thread {
                    start.wait()
                    let status = (try? rawRequest(
                        port: port, "PATCH", "/v1/vms/race", json: #"{"labels": {"writer": "\#(writer)-\#(round)"}}"#,
                        headers: [bearer(writer == 0 ? Tokens.alice : Tokens.bob), ("If-Match", etag)]).status) ?? -1
                    statuses.with { $0.append(status) }
                    group.leave()
                }.start()
            }
            start.signal()
            start.signal()
            group.wait()
            #expect(statuses.value.sorted() == [200, 412], "round \(round): \(statuses.value)")
            #expect(try s.getVM("race").header("ETag") == "\"r\(round + 1)\"")
        }
        #expect(try s.history("race").count == 13)
    }

    @Test func listFiltersAndPagination() throws {
        let s = try StoreServer()
        #expect(try s.request("PUT", "/v1/hosts/spr", json: #"{"cpu": {"family": 6, "model": 143}, "kernel": "6.16"}"#).status == 201)
        for i in 0..<25 {
            let id = "vm-" + (i < 10 ? "0\(i)" : "\(i)")
            let host = i % 5 == 0 ? #""host_profile": "spr""# : #""host": \#(sprHost)"#
            let baseline = i % 3 == 0 ? #", "baseline": "honor-guest-pat-2025""# : ""
            let quirk = i % 4 == 0 ? #", "quirks": {"CD_NW_CLEARED": "disable"}"# : ""
            try s.createVM(id, #"{\#(host)\#(baseline)\#(quirk), "labels": {"env": "\#(i % 2 == 0 ? "prod" : "dev")", "rack": "r\#(i % 3)"}}"#)
        }
        // Pages of 10 walk every VM exactly once, in id order.
        var ids: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let target = "/v1/vms?limit=10" + (cursor.map { "&cursor=\($0)" } ?? "")
            let r = try s.request("GET", target, token: nil)
            #expect(r.status == 200, "\(r.bodyText)")
            let j = try r.json()
            ids += (j["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            cursor = j["next_cursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3)
        #expect(ids.count == 25)
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == 25)

        func list(_ query: String) throws -> [String] {
            let r = try s.request("GET", "/v1/vms?" + query, token: nil)
            #expect(r.status == 200, "\(query): \(r.bodyText)")
            return try (r.json()["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        }
        #expect(try list("baseline=honor-guest-pat-2025") == ["vm-00", "vm-03", "vm-06", "vm-09", "vm-12", "vm-15", "vm-18", "vm-21", "vm-24"])
        #expect(try list("quirk=IGNORE_GUEST_PAT:disable&quirk=CD_NW_CLEARED:disable") == ["vm-00", "vm-12", "vm-24"])
        #expect(try list("quirk=ignore_guest_pat:keep_enabled&label=env=prod&label=rack=r1") == ["vm-04", "vm-10", "vm-16", "vm-22"])
        #expect(try list("host_profile=spr") == ["vm-00", "vm-05", "vm-10", "vm-15", "vm-20"])
        #expect(try list("host_profile=spr&label=env=dev") == ["vm-05", "vm-15"])
        #expect(try list("label=env=nowhere").isEmpty)

        // Bad query values: 422 pointing at the parameter.
        for (query, pointer) in [
            ("limit=0", "/query/limit"), ("limit=1001", "/query/limit"), ("limit=ten", "/query/limit"),
            ("quirk=NOPE:disable", "/query/quirk"), ("quirk=IGNORE_GUEST_PAT", "/query/quirk"),
            ("quirk=IGNORE_GUEST_PAT:disable&quirk=IGNORE_GUEST_PAT:keep_enabled", "/query/quirk"),
            ("label=novalue", "/query/label"), ("label=bad%20key=1", "/query/label"),
            ("cursor=zzz", "/query/cursor"), ("colour=blue", "/query/colour"),
            ("baseline=a&baseline=b", "/query/baseline"), ("baseline=no%20such", "/query/baseline"),
        ] {
            let r = try s.request("GET", "/v1/vms?" + query, token: nil)
            #expect(r.status == 422, "\(query): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(query)")
        }
    }

    /// Issue 16 item 12: the contract says at most 12 `quirk=` (one per quirk)
    /// and 16 `label=`; repeats of the same filter count, as in `maxItems`.
    @Test func repeatedFiltersAreCountedAgainstTheContract() throws {
        let s = try StoreServer()
        try s.createVM("q1", vmJSON())
        func get(_ name: String, _ value: String, times: Int) throws -> RawHTTPResponse {
            try s.request("GET", "/v1/vms?" + Array(repeating: "\(name)=\(value)", count: times).joined(separator: "&"), token: nil)
        }
        let twelve = try get("quirk", "IGNORE_GUEST_PAT:keep_enabled", times: 12)
        #expect(twelve.status == 200, "\(twelve.bodyText)")
        let thirteen = try get("quirk", "IGNORE_GUEST_PAT:keep_enabled", times: 13)
        #expect(thirteen.status == 422, "\(thirteen.bodyText)")
        #expect(thirteen.header("Content-Type") == "application/problem+json")
        #expect(try thirteen.json()["pointer"]?.stringValue == "/query/quirk")
        #expect(try get("label", "env=prod", times: 16).status == 200)
        let seventeen = try get("label", "env=prod", times: 17)
        #expect(seventeen.status == 422, "\(seventeen.bodyText)")
        #expect(try seventeen.json()["pointer"]?.stringValue == "/query/label")
    }

    @Test func historyRecordsActorsAndChanges() throws {
        let s = try StoreServer()
        try s.createVM("h", vmJSON())
        #expect(try s.request("PATCH", "/v1/vms/h", json: #"{"labels": {"env": "dev"}}"#, token: Tokens.bob).status == 200)
        #expect(try s.request("PATCH", "/v1/vms/h", json: #"{"quirks": {"IGNORE_GUEST_PAT": "disable"}}"#).status == 200)
        let entries = try s.history("h")
        #expect(entries.count == 3)
        #expect(entries.map { $0["actor"]?.stringValue } == ["alice", "bob", "alice"])
        #expect(entries.map { $0["action"]?.stringValue } == ["patch", "patch", "create"])
        #expect(entries.map { $0["revision"]?.intValue } == [3, 2, 1])
        let seqs = entries.compactMap { $0["sequence"]?.intValue }
        #expect(seqs == seqs.sorted(by: >))
        #expect(entries[1]["changes"] == [["field": "/labels/env", "old": "prod", "new": "dev"]])
        #expect(entries[0]["changes"] == [["field": "/quirks/IGNORE_GUEST_PAT", "old": "keep_enabled", "new": "disable"]])
        #expect(entries[2]["changes"]?.arrayValue?.contains { $0["field"] == "/host/cpu/model" && $0["new"] == "143" && $0["old"] == .null } == true)
        #expect(entries[2]["at"]?.stringValue?.hasSuffix("Z") == true)

        // Paging through history.
        let first = try s.request("GET", "/v1/vms/h/history?limit=2", token: nil).json()
        #expect(first["items"]?.arrayValue?.count == 2)
        let cursor = try #require(first["next_cursor"]?.stringValue)
        let rest = try s.request("GET", "/v1/vms/h/history?limit=2&cursor=\(cursor)", token: nil).json()
        #expect(rest["items", 0, "action"] == "create")
        #expect(rest["next_cursor"] == .null)
        #expect(try s.request("GET", "/v1/vms/nobody/history", token: nil).status == 404)
        #expect(try s.request("GET", "/v1/vms/h/history?limit=0", token: nil).json()["pointer"] == "/query/limit")

        // An encoded slash stays inside the id segment: no route to the
        // history (or a delete of it) by smuggling "/" through "%2F".
        #expect(try s.request("GET", "/v1/vms/h%2Fhistory", token: nil).status == 404)
        #expect(try s.request("DELETE", "/v1/vms/h%2F").status == 404)
        #expect(try s.getVM("h").status == 200)
        // A label filter whose key holds a slash still decodes in the query.
        try s.createVM("l", vmJSON(labels: #"{"team.example.com/owner": "x"}"#))
        let byLabel = try s.request("GET", "/v1/vms?label=team.example.com%2Fowner%3Dx", token: nil).json()
        #expect(byLabel["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["l"])
    }

    @Test func invalidInputsAre422AndChangeNothing() throws {
        let s = try StoreServer()
        try s.createVM("v", vmJSON())
        let before = try s.getVM("v").json()
        let historyBefore = try s.history("v").count
        for (body, pointer) in [
            (vmJSON(host: #"{"kernel": "six"}"#), "/host/kernel"),
            (vmJSON(host: #"{"vendor": "via"}"#), "/host/vendor"),
            (vmJSON(host: #"{"cpu": {"family": 6}}"#), "/host/cpu/model"),
            (vmJSON(host: #"{"cpu": {"family": 0, "model": 1}}"#), "/host/cpu/family"),
            (vmJSON(labels: #"{"bad key!": "x"}"#), "/labels/bad key!"),
            (vmJSON(labels: #"{"k": 5}"#), "/labels/k"),
            (vmJSON(extra: #""quirks": {"NOPE": "disable"}"#), "/quirks/NOPE"),
            (vmJSON(extra: #""quirks": {"IGNORE_GUEST_PAT": "off"}"#), "/quirks/IGNORE_GUEST_PAT"),
            (vmJSON(extra: #""baseline": "nope""#), "/baseline"),
            (vmJSON(extra: #""colour": "red""#), "/colour"),
            (vmJSON(extra: #""revision": 7"#), "/revision"),
            (vmJSON(extra: #""disabled_quirks": "0x200""#), "/disabled_quirks"),
            (vmJSON(extra: #""host_profile": "spr""#), "/host_profile"),
            (#"{"host": \#(sprHost), "display_devices": ["VGA", "bad device"]}"#, "/display_devices/1"),
            (#"{"host": \#(sprHost), "guest_kernel": "latest"}"#, "/guest_kernel"),
            (vmJSON(extra: #""type": "sev""#), "/type"),
            (vmJSON(extra: #""id": "other""#), "/id"),
            (#"{"host_profile": "missing"}"#, "/host_profile"),
            (#"{"labels": {}}"#, "/host"),
            ("[1]", ""),
        ] {
            let r = try s.request("PUT", "/v1/vms/v", json: body)
            #expect(r.status == 422, "\(body): \(r.bodyText)")
            #expect(r.header("Content-Type") == "application/problem+json")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(body): \(r.bodyText)")
        }
        for (patch, pointer) in [
            (#"{"baseline": null}"#, "/baseline"),
            (#"{"baseline": "honor-guest-pat-2024"}"#, "/baseline"),
            (#"{"host": {"vendor": "via"}}"#, "/host/vendor"),
            (#"{"host": {"cpu": {"model": null}}}"#, "/host/cpu/model"),
            (#"{"host": null}"#, "/host"),
            (#"{"host_profile": "spr"}"#, "/host_profile"),
            (#"{"labels": {"env": 1}}"#, "/labels/env"),
            (#"{"labels": {"": "x"}}"#, "/labels/"),
            (#"{"display_devices": "VGA"}"#, "/display_devices"),
            (#"{"quirks": {"IGNORE_GUEST_PAT": true}}"#, "/quirks/IGNORE_GUEST_PAT"),
            (#"{"created_at": "2025-01-01T00:00:00Z"}"#, "/created_at"),
            (#"{"id": "w"}"#, "/id"),
            ("7", ""),
        ] {
            let r = try s.request("PATCH", "/v1/vms/v", json: patch)
            #expect(r.status == 422, "\(patch): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(patch): \(r.bodyText)")
        }
        let malformed = try s.request("PUT", "/v1/vms/v", json: "{\"host\": ")
        #expect(malformed.status == 400)
        #expect(try s.request("PUT", "/v1/vms/v", json: vmJSON(), headers: [("Content-Type", "text/plain")]).status == 415)
        let badID = try s.request("PUT", "/v1/vms/-bad", json: vmJSON())
        #expect(badID.status == 422)
        #expect(try badID.json()["pointer"] == "/path/id")
        #expect(try s.getVM("-bad").status == 404)

        let after = try s.getVM("v")
        #expect(after.header("ETag") == "\"r1\"")
        #expect(try after.json() == before)
        #expect(try s.history("v").count == historyBefore)
        #expect(try s.request("GET", "/v1/vms?limit=1000", token: nil).json()["items"]?.arrayValue?.count == 1)
    }

    @Test func putRoundTripsTheReadRepresentationMinusReadOnlyFields() throws {
        let s = try StoreServer()
        let created = try s.createVM("rt", vmJSON(extra: #""quirks": {"KVM_X86_QUIRK_CD_NW_CLEARED": "disable"}"#))
        #expect(created["quirks", "CD_NW_CLEARED"] == "disable")
        guard case .object(var o) = created else { Issue.record("not an object"); return }
        o.members.removeAll { ["revision", "created_at", "updated_at", "disabled_quirks", "applied_revision", "applied_at", "restart_required", "risks"].contains($0.key) }
        let body = String(decoding: JSONValue.object(o).encoded(), as: UTF8.self)
        let r = try s.request("PUT", "/v1/vms/rt", json: body, headers: [("If-Match", "\"r1\"")])
        #expect(r.status == 200, "\(r.bodyText)")
        #expect(r.header("ETag") == "\"r1\"")  // nothing changed: no new revision
    }
}

/// A value behind a lock, for collecting results from threads.
final class Mutex2<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    func with(_ body: (inout T) -> Void) { lock.lock(); body(&stored); lock.unlock() }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
}
