import HTTPTestSupport
import JSON
import Testing

/// The README's example: the bochs framebuffer access on a Sapphire Rapids
/// host under 6.16 with IGNORE_GUEST_PAT disabled.
let bochsBody = #"{"kernel":"6.16","host":{"cpu":{"family":6,"model":"0x8f"}},"vm":{"disabled_quirks":["IGNORE_GUEST_PAT"]},"vcpu":{"pat":"linux"},"access":{"gpa":"0xfd000000","pat_index":2}}"#

@Suite struct EngineRouteTests {
    @Test func decision() throws {
        let s = try TestServer()
        let r = try s.request("POST", "/v1/decisions", json: bochsBody)
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "application/json")
        let j = try r.json()
        #expect(j["ept", "type"] == "WB")
        #expect(j["ept", "ipat"] == false)
        #expect(j["ept", "bits"] == "0x30")
        #expect(j["guest_pat", "type"] == "UC-")
        #expect(j["effective"] == "UC")
        #expect(j["model", "id"] == "E")
        #expect(j["quirks", "states", "IGNORE_GUEST_PAT", "state"] == "disabled")
        #expect(j["warnings", 0, "code"] == "slow_uncached_ram")
        #expect(j["trace", 0, "rule"] == "E.honor-pat")
    }

    @Test func emptyObjectTakesTheDefaults() throws {
        let s = try TestServer()
        let j = try s.request("POST", "/v1/decisions", json: "{}").json()
        #expect(j["model", "id"] == "E")
        #expect(j["ept", "bits"] == "0x70")
        #expect(j["effective"] == "WB")
    }

    @Test func batchKeepsOrderAndPutsProblemsInTheirSlots() throws {
        let s = try TestServer()
        let body = #"{"requests":[{"kernel":"6.11-rc1","vcpu":{"pat":"linux"},"access":{"pat_index":2}},{"vcpu":{"pat":"0x2"}},{"kernel":"6.11","vcpu":{"pat":"linux"},"access":{"pat_index":2}}]}"#
        let r = try s.request("POST", "/v1/decisions/batch", json: body)
        #expect(r.status == 200)
        let results = try #require(try r.json()["results"]?.arrayValue)
        #expect(results.count == 3)
        #expect(results[0]["effective"] == "UC")
        #expect(results[1]["status"] == 422)
        #expect(results[1]["pointer"] == "/requests/1/vcpu/pat")
        #expect(results[2]["effective"] == "WB")
    }

    @Test func batchLimitIsEnforced() throws {
        let s = try TestServer { $0.maxBatchSize = 2 }
        let r = try s.request("POST", "/v1/decisions/batch", json: #"{"requests":[{},{},{}]}"#)
        #expect(r.status == 422)
        #expect(try r.json()["pointer"] == "/requests")
    }

    @Test func quirkEvaluation() throws {
        let s = try TestServer()
        let r = try s.request("POST", "/v1/quirks/evaluate",
                              json: #"{"kernel":"6.16","host":{"self_snoop":false},"vm":{"disabled_quirks":"0x200"}}"#)
        #expect(r.status == 200)
        let q = try #require(try r.json()["quirks"])
        #expect(q["enable_cap", "error"] == "EINVAL")
        #expect(q["refused"] == "0x200")
        #expect(q["supported"] == "0x1ff")
        #expect(q["states", "IGNORE_GUEST_PAT", "state"] == "forced_on")
        // vCPU state has no place in a quirk question.
        let bad = try s.request("POST", "/v1/quirks/evaluate", json: #"{"vcpu":{}}"#)
        #expect(bad.status == 422)
        #expect(try bad.json()["pointer"] == "/vcpu")
    }

    @Test func effectiveTypeCellAndTable() throws {
        let s = try TestServer()
        let cell = try s.request("POST", "/v1/effective-type", json: #"{"row":"WP","pat":"UC-"}"#).json()
        #expect(cell["type"] == "WC")
        #expect(cell["footnotes", 0, "number"] == 3)
        let noRow = try s.request("POST", "/v1/effective-type", json: #"{"row":"UC-","pat":"WB"}"#)
        #expect(noRow.status == 422)
        #expect(try noRow.json()["pointer"] == "/row")
        let table = try s.request("GET", "/v1/effective-types").json()
        #expect(table["cells"]?.arrayValue?.count == 30)
    }

    @Test func mtrrResolve() throws {
        let s = try TestServer()
        let mtrr = #"{"enabled":true,"fixed_enabled":true,"default":"WB","fixed":{"0x259":"WC"},"variable":[{"base":"0xc0000000","size":"0x40000000","type":"UC"}]}"#
        let page = try s.request("POST", "/v1/mtrr/resolve", json: #"{"mtrr":\#(mtrr),"gpa":"0xa0000"}"#).json()
        #expect(page["type"] == "WC")
        #expect(page["rule", "rule"] == "MTRR.fixed")
        #expect(page["detail", "msr_name"] == "MTRRfix16K_A0000")
        let runs = try s.request("POST", "/v1/mtrr/resolve",
                                 json: #"{"mtrr":\#(mtrr),"range":{"start":"0xbfe00000","end":"0xc0200000"}}"#).json()
        #expect(runs["runs"]?.arrayValue?.count == 2)
        #expect(runs["runs", 1, "type"] == "UC")
        #expect(runs["runs", 1, "start"] == "0xc0000000")
        let bad = try s.request("POST", "/v1/mtrr/resolve", json: #"{"mtrr":{"def_type":"0x100"},"gpa":0}"#)
        #expect(bad.status == 422)
        #expect(try bad.json()["pointer"] == "/mtrr/def_type")
    }

    /// Worked examples 12 and 31 through the route: the walk in KVM's order
    /// names what decided, and the SDM's reading is given beside it.
    @Test func mtrrResolveTracesKVMsWalk() throws {
        let s = try TestServer()
        func resolve(_ low: String, _ high: String) throws -> JSONValue {
            let mtrr = #"{"enabled":true,"default":"WB","variable":[{"base":0,"size":"0x100000000","type":"\#(low)"},{"base":"0xc0000000","size":"0x40000000","type":"\#(high)"}]}"#
            return try s.request("POST", "/v1/mtrr/resolve", json: #"{"mtrr":\#(mtrr),"gpa":"0xc0000000"}"#).json()
        }
        // 12: WB 0-4 GiB (reg 0), UC 3-4 GiB (reg 1). UC met first, WB next returns WB.
        let ex12 = try resolve("WB", "UC")
        #expect(ex12["type"] == "WB")
        #expect(ex12["rule", "rule"] == "MTRR.uc-first-then-wb")
        #expect(ex12["detail", "first"] == 1)
        #expect(ex12["detail", "range"] == 0)
        #expect(ex12["walk", 0, "range"] == 1)
        #expect(ex12["walk", 0, "effect"] == "first_match")
        #expect(ex12["walk", 1, "range"] == 0)
        #expect(ex12["walk", 1, "effect"] == "uc_met_first_returns_wb")
        #expect(ex12["sdm_type"] == "UC")
        #expect(ex12["warnings", 0, "code"] == "mtrr_differs_from_sdm")
        // KVM's huge-page check sees a UC and a WB range in every huge block here.
        #expect(ex12["max_level"] == "4K")
        // 31: UC 0-4 GiB (reg 0), WB 3-4 GiB (reg 1). WB met first, UC next returns UC.
        let ex31 = try resolve("UC", "WB")
        #expect(ex31["type"] == "UC")
        #expect(ex31["rule", "rule"] == "MTRR.uc-wins")
        #expect(ex31["walk", 1, "effect"] == "uc_returns_uc")
        #expect(ex31["sdm_type"] == "UC")
        #expect(ex31["warnings"]?.arrayValue?.isEmpty == true)
        // The same access as a model A decision: EPT WB for example 12, warned.
        let d = try s.request("POST", "/v1/decisions", json: """
            {"kernel":"6.6","vm":{"noncoherent_dma":true},"vcpu":{"pat":"linux","mtrr":{"enabled":true,"default":"WB","variable":[{"base":0,"size":"0x100000000","type":"WB"},{"base":"0xc0000000","size":"0x40000000","type":"UC"}]}},"access":{"gpa":"0xc0000000","pat_index":1}}
            """).json()
        #expect(d["ept", "type"] == "WB")
        #expect(d["effective"] == "WC")
        #expect(d["trace", 1, "rule"] == "MTRR.uc-first-then-wb")
        #expect(d["warnings", 0, "code"] == "mtrr_differs_from_sdm")
    }

    /// Raw PhysBase/PhysMask values KVM's WRMSR accepts, with a base below its
    /// mask's size: accepted, and resolved as KVM's interval from the base.
    @Test func rawUnalignedRangesResolveAsKVMDoes() throws {
        let s = try TestServer()
        let mtrr = #"{"def_type":"0x806","variable":[{"phys_base":"0xc0001000","phys_mask":"0x3fc0000800"}]}"#
        // MAXPHYADDR 38: the mask's ones end at bit 37, KVM sets the bits above.
        let below = try s.request("POST", "/v1/mtrr/resolve", json: #"{"maxphyaddr":38,"mtrr":\#(mtrr),"gpa":"0xc0000000"}"#)
        #expect(below.status == 200)
        #expect(try below.json()["type"] == "WB")
        #expect(try below.json()["sdm_type"] == "UC")
        #expect(try below.json()["walk", 0, "start"] == "0xc0001000")
        #expect(try below.json()["walk", 0, "end"] == "0x100000000")
        let inside = try s.request("POST", "/v1/mtrr/resolve", json: #"{"maxphyaddr":38,"mtrr":\#(mtrr),"gpa":"0xc0001000"}"#).json()
        #expect(inside["type"] == "UC")
    }

    @Test func models() throws {
        let s = try TestServer()
        let j = try s.request("GET", "/v1/models").json()
        #expect(j["models"]?.arrayValue?.map { $0["id"]?.stringValue ?? "" } == ["A", "B", "C", "D", "E"])
        #expect(j["models", 2, "first_kernel"] == "6.11-rc1")
    }
}
