import Foundation
import HTTPServer
import HTTPTestSupport
import JSON
import Testing
import VMStore

/// `PUT /v1/vms/{id}/applied`, the record's `applied_revision` and
/// `restart_required`, and the list filter, over real HTTP.
@Suite struct AppliedRouteTests {
    @Test func applyingARevisionKeepsTheETagAndTheHistory() throws {
        let s = try StoreServer()
        let created = try s.createVM("vm-1", vmJSON())
        #expect(created["applied_revision"] == .null)
        #expect(created["restart_required"] == false)

        let applied = try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 1}"#)
        #expect(applied.status == 200, "\(applied.bodyText)")
        #expect(applied.header("ETag") == "\"r1\"")
        let a = try applied.json()
        #expect(a["applied_revision"] == 1)
        #expect(a["restart_required"] == false)
        #expect(a["revision"] == 1)
        #expect(a["updated_at"] == created["updated_at"])
        #expect(try s.getVM("vm-1").json() == a)
        #expect(try s.history("vm-1").count == 1)
        // Conditional like the other writes: the VM's ETag.
        #expect(try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 1}"#,
                              headers: [("If-Match", "\"r1\"")]).status == 200)
        let stale = try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 1}"#, headers: [("If-Match", "\"r7\"")])
        #expect(stale.status == 412, "\(stale.bodyText)")
    }

    /// `applied_at` is the store clock's time of the last `PUT .../applied`
    /// (null before it), in the format of `updated_at`; like
    /// `applied_revision` it is outside the revision, the ETag and the history.
    @Test func appliedAtIsTheTimeOfTheLastStart() throws {
        let clock = TestClock(startMillis: 1_756_720_800_000)  // 2025-09-01T10:00:00.000Z
        let s = try StoreServer(clock: { clock.next() })
        let created = try s.createVM("vm-1", vmJSON())
        #expect(created["applied_at"] == .null)
        #expect(created["created_at"] == "2025-09-01T10:00:01.000Z")
        let patched = try s.request("PATCH", "/v1/vms/vm-1", json: #"{"labels": {"team": "web"}}"#)
        #expect(patched.status == 200, "\(patched.bodyText)")
        #expect(try patched.json()["applied_at"] == .null)
        #expect(try s.getVM("vm-1").json()["applied_at"] == .null)
        let etag = patched.header("ETag")
        #expect(etag == "\"r2\"")

        let first = try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 2}"#)
        #expect(first.status == 200, "\(first.bodyText)")
        #expect(first.header("ETag") == etag)
        let a = try first.json()
        #expect(a["applied_at"] == "2025-09-01T10:00:03.000Z")
        #expect(a["applied_revision"] == 2)
        #expect(a["revision"] == 2)
        #expect(a["updated_at"] == "2025-09-01T10:00:02.000Z")
        let got = try s.getVM("vm-1")
        #expect(got.header("ETag") == etag)
        #expect(try got.json() == a)
        let listed = try s.request("GET", "/v1/vms", token: nil).json()["items"]?.arrayValue
        #expect(listed == [a])
        // The ETag still matches: a 304 does not say the applied state is unchanged.
        #expect(try s.request("GET", "/v1/vms/vm-1", token: nil, headers: [("If-None-Match", etag ?? "")]).status == 304)

        // The next start of the same revision moves only applied_at.
        let second = try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 2}"#, headers: [("If-Match", etag ?? "")])
        #expect(second.status == 200, "\(second.bodyText)")
        #expect(second.header("ETag") == etag)
        guard case .object(var members) = a else { Issue.record("not an object: \(a)"); return }
        members["applied_at"] = "2025-09-01T10:00:04.000Z"
        let expected = JSONValue.object(members)
        #expect(try second.json() == expected)
        #expect(try s.history("vm-1").count == 2)

        // Read-only in a VM write, as applied_revision is.
        for (method, body) in [("PATCH", #"{"applied_at": "2025-09-01T10:00:00.000Z"}"#),
                               ("PUT", #"{"host_profile": null, "host": {"vendor": "intel"}, "applied_at": null}"#)] {
            let r = try s.request(method, "/v1/vms/vm-1", json: body)
            #expect(r.status == 422, "\(method): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == "/applied_at", "\(method): \(r.bodyText)")
            #expect(r.bodyText.contains("read-only"))
        }
        #expect(try s.getVM("vm-1").json() == expected)
    }

    @Test func aQuirkChangeShowsRestartRequiredUntilTheNextStart() throws {
        let s = try StoreServer()
        try s.createVM("vm-1", vmJSON())
        try s.createVM("vm-2", vmJSON())
        try s.createVM("vm-3", vmJSON())
        for id in ["vm-1", "vm-2"] {
            #expect(try s.request("PUT", "/v1/vms/\(id)/applied", json: #"{"revision": 1}"#).status == 200)
        }
        let patched = try s.request("PATCH", "/v1/vms/vm-1", json: #"{"quirks": {"IGNORE_GUEST_PAT": "disable"}}"#)
        #expect(patched.status == 200, "\(patched.bodyText)")
        let p = try patched.json()
        #expect(p["revision"] == 2)
        #expect(p["applied_revision"] == 1)
        #expect(p["restart_required"] == true)

        func listed(_ query: String) throws -> [String] {
            let r = try s.request("GET", "/v1/vms?" + query, token: nil)
            #expect(r.status == 200, "\(r.bodyText)")
            return try r.json()["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        #expect(try listed("restart_required=true") == ["vm-1"])
        #expect(try listed("restart_required=false") == ["vm-2", "vm-3"])
        #expect(try listed("restart_required=true&label=env=prod") == ["vm-1"])

        // The hook's stale revision is a conflict naming the current one.
        let conflict = try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 1}"#)
        #expect(conflict.status == 409, "\(conflict.bodyText)")
        #expect(conflict.header("Content-Type") == "application/problem+json")
        #expect(conflict.bodyText.contains("revision 2, not 1"))
        // The restart applies revision 2.
        let restarted = try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 2}"#)
        #expect(try restarted.json()["restart_required"] == false)
        #expect(try listed("restart_required=true") == [])
    }

    @Test func badRequestsNameTheField() throws {
        let s = try StoreServer()
        try s.createVM("vm-1", vmJSON())
        for (body, pointer) in [
            (#"{}"#, "/revision"),
            (#"{"revision": 0}"#, "/revision"),
            (#"{"revision": "1"}"#, "/revision"),
            (#"{"revision": 2147483648}"#, "/revision"),
            (#"{"revision": 1, "mask": "0x0"}"#, "/mask"),
            (#"[1]"#, ""),
        ] {
            let r = try s.request("PUT", "/v1/vms/vm-1/applied", json: body)
            #expect(r.status == 422, "\(body): \(r.bodyText)")
            #expect(try r.json()["pointer"]?.stringValue == pointer, "\(body): \(r.bodyText)")
        }
        #expect(try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 0}"#).bodyText.contains("from 1 to 2147483647, got 0"))
        #expect(try s.request("PUT", "/v1/vms/nope/applied", json: #"{"revision": 1}"#).status == 404)
        #expect(try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 1}"#, token: nil).status == 401)
        #expect(try s.request("PUT", "/v1/vms/vm-1/applied", json: #"{"revision": 1}"#, token: Tokens.reader).status == 403)
        // The record's members are read-only in a write.
        for key in ["applied_revision", "applied_at", "restart_required"] {
            let r = try s.request("PATCH", "/v1/vms/vm-1", json: #"{"\#(key)": 1}"#)
            #expect(r.status == 422)
            #expect(try r.json()["pointer"]?.stringValue == "/" + key)
            #expect(r.bodyText.contains("read-only"))
        }
        let filter = try s.request("GET", "/v1/vms?restart_required=maybe", token: nil)
        #expect(filter.status == 422)
        #expect(try filter.json()["pointer"]?.stringValue == "/query/restart_required")
        #expect(try s.getVM("vm-1").json()["applied_revision"] == .null)
    }
}

/// A store clock that advances 1 s per reading.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var millis: Int64
    init(startMillis: Int64) { millis = startMillis }
    func next() -> Timestamp {
        lock.lock(); defer { lock.unlock() }
        millis += 1000
        return Timestamp(millisSinceEpoch: millis)
    }
}
