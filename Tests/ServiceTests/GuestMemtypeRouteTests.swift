import HTTPTestSupport
import JSON
import Testing

@Suite struct GuestMemtypeRouteTests {
    /// The whole bochs story: the old driver's ioremap() then TTM's ioremap_wc() of
    /// the framebuffer BAR gets UC-, which 6.11-rc1 turns into UC and 6.11 leaves WB.
    @Test func bochsEndToEnd() throws {
        let s = try TestServer()
        func run(_ kernel: String) throws -> JSONValue {
            try s.request("POST", "/v1/guest/memtype", json: """
                {"ram": [{"start": 0, "end": "0x80000000"}],
                 "calls": [{"call": "ioremap", "start": "0xfd000000", "size": "0x1000000"},
                           {"call": "ioremap_wc", "start": "0xfd000000", "size": "0x1000000"}],
                 "kvm": {"kernel": "\(kernel)", "host": {"cpu": {"family": 6, "model": "0x8f"}}}}
                """).json()
        }
        let rc1 = try run("6.11-rc1")
        #expect(rc1["results", 1, "type"] == "UC-")
        #expect(rc1["results", 1, "substituted"] == true)
        #expect(rc1["results", 1, "linux_pat_index"] == 2)
        #expect(rc1["results", 1, "rules", 0, "rule"] == "PAT.tree-first-entry-wins")
        #expect(rc1["results", 1, "kvm", "effective"] == "UC")
        #expect(rc1["reservations"]?.arrayValue?.count == 2)
        #expect(try run("6.11")["results", 1, "kvm", "effective"] == "WB")
    }

    /// ioremap reserves whole pages (__ioremap_caller() in arch/x86/mm/ioremap.c):
    /// two mappings sharing a page but no byte meet, iounmap of the caller's
    /// range frees the aligned reservation, results echo the caller's range
    /// and `reservations` shows the page-aligned one.
    @Test func ioremapReservesWholePages() throws {
        let s = try TestServer()
        let j = try s.request("POST", "/v1/guest/memtype", json: """
            {"calls": [{"call": "ioremap", "start": "0xfd000010", "size": "0x7f0"},
                       {"call": "ioremap_wc", "start": "0xfd000800", "end": "0xfd000900"},
                       {"call": "iounmap", "start": "0xfd000010", "size": "0x7f0"}]}
            """).json()
        #expect(j["results", 0, "start"] == "0xfd000010")
        #expect(j["results", 0, "end"] == "0xfd000800")
        #expect(j["results", 0, "type"] == "UC-")
        #expect(j["results", 1, "type"] == "UC-")
        #expect(j["results", 1, "substituted"] == true)
        #expect(j["results", 1, "rules", 0, "rule"] == "PAT.tree-first-entry-wins")
        #expect(j["results", 2, "outcome"] == "released")
        #expect(j["reservations"]?.arrayValue?.count == 1)
        #expect(j["reservations", 0, "start"] == "0xfd000000")
        #expect(j["reservations", 0, "end"] == "0xfd001000")
        #expect(j["reservations", 0, "type"] == "UC-")
    }

    @Test func pastedPATMemtypeListAndErrors() throws {
        let s = try TestServer()
        let j = try s.request("POST", "/v1/guest/memtype", json: #"""
            {"pat_memtype_list": "PAT memtype list:\nPAT: [mem 0x00000000fd000000-0x00000000fe000000] uncached-minus\n",
             "calls": [{"call": "ioremap_wt", "start": "0xfd000000", "end": "0xfe000000"},
                       {"call": "iounmap", "start": "0x1000", "end": "0x2000"}]}
            """#).json()
        #expect(j["results", 0, "outcome"] == "mapped")
        #expect(j["results", 0, "type"] == "UC-")
        #expect(j["results", 1, "outcome"] == "einval")
        let bad = try s.request("POST", "/v1/guest/memtype", json: #"{"pat_memtype_list": "PAT: [mem 0x2-0x1] uncached", "calls": []}"#)
        #expect(bad.status == 422)
        #expect(try bad.json()["pointer"] == "/pat_memtype_list")
        let badCall = try s.request("POST", "/v1/guest/memtype", json: #"{"calls": [{"call": "ioremap_nope", "start": 0, "size": 4096}]}"#)
        #expect(try badCall.json()["pointer"] == "/calls/0/call")
    }

    /// Reservations given in the body are in place before the calls, and
    /// each object of the body is closed and checked member by member.
    @Test func givenReservationsAndBodyErrors() throws {
        let s = try TestServer()
        let j = try s.request("POST", "/v1/guest/memtype", json: #"""
            {"reservations": [{"start": "0xfd000000", "end": "0xfe000000", "type": "WB"}], "calls": []}
            """#).json()
        #expect(j["reservations"]?.arrayValue?.count == 1)
        #expect(j["reservations", 0, "start"] == "0xfd000000")
        #expect(j["reservations", 0, "type"] == "WB")
        let cases: [(body: String, pointer: String, message: String)] = [
            (#"{}"#, "/calls", "required field is missing"),
            (#"{"calls": [], "bogus": 1}"#, "/bogus", "unknown field; expected one of: pat_enabled, ram, mtrr, maxphyaddr, reservations, pat_memtype_list, calls, kvm"),
            (#"{"reservations": [{"start": 0, "end": 4096}], "calls": []}"#, "/reservations/0/type", "required field is missing"),
            (#"{"reservations": [{"start": 0, "end": 4096, "type": "WB", "x": 1}], "calls": []}"#, "/reservations/0/x", "unknown field; expected one of: start, end, type"),
            (#"{"reservations": [{"start": 4096, "end": 4096, "type": "WB"}], "calls": []}"#, "/reservations/0/end", "must be above start (end is exclusive)"),
            (#"{"ram": [{"start": 4096, "end": 4096}], "calls": []}"#, "/ram/0/end", "must be above start (end is exclusive)"),
            (#"{"ram": [{"start": 0, "end": 4096, "type": "WB"}], "calls": []}"#, "/ram/0/type", "unknown field; expected one of: start, end"),
            (#"{"calls": [{"call": "ioremap", "start": 0, "end": 4096, "size": 4096}]}"#, "/calls/0/size", "give either end or size, not both"),
            (#"{"calls": [{"call": "ioremap", "start": 0}]}"#, "/calls/0/size", "give end (exclusive) or size"),
            (#"{"calls": [{"call": "ioremap", "end": 4096}]}"#, "/calls/0/start", "required field is missing"),
            (#"{"calls": [{"call": "ioremap", "start": 8192, "end": 4096}]}"#, "/calls/0/end", "must be above start"),
        ]
        for c in cases {
            let r = try s.request("POST", "/v1/guest/memtype", json: c.body)
            #expect(r.status == 422, "\(c.body)")
            #expect(try r.json()["pointer"] == .string(c.pointer), "\(c.body)")
            #expect(try r.json()["detail"] == .string(c.pointer + ": " + c.message), "\(c.body)")
        }
    }

    /// A call must end at or below 2^MAXPHYADDR: a range near 2^64 overflowed
    /// the reservation arithmetic and took the whole server down.
    @Test func callsEndAtOrBelowMaxPhysAddr() throws {
        let s = try TestServer()
        let high = try s.request("POST", "/v1/guest/memtype", json: #"{"mtrr": {}, "calls": [{"call": "ioremap_cache", "start": 0, "end": "0xffffffffffffffff"}]}"#)
        #expect(high.status == 422)
        #expect(try high.json()["pointer"] == "/calls/0/end")
        let sized = try s.request("POST", "/v1/guest/memtype", json: #"{"maxphyaddr": 36, "calls": [{"call": "ioremap", "start": "0xfff000000", "size": "0x2000000"}]}"#)
        #expect(try sized.json()["pointer"] == "/calls/0/size")
        let atLimit = try s.request("POST", "/v1/guest/memtype", json: #"{"maxphyaddr": 36, "calls": [{"call": "ioremap", "start": "0xfff000000", "size": "0x1000000"}]}"#)
        #expect(atLimit.status == 200)
    }

    /// RAM reservations cost per call, not per page: set_memory_uc over 2^46
    /// bytes used to walk and store 2^34 pages.
    @Test func hugeSetMemoryCallsOnRAM() throws {
        let s = try TestServer()
        let j = try s.request("POST", "/v1/guest/memtype", json: """
            {"maxphyaddr": 52, "ram": [{"start": 0, "end": "0x10000000000000"}],
             "calls": [{"call": "set_memory_uc", "start": 0, "size": "0x400000000000"},
                       {"call": "set_memory_wc", "start": "0x3ffffffff000", "size": "0x2000"},
                       {"call": "set_memory_wb", "start": 0, "end": "0x10000000000000"},
                       {"call": "set_memory_wc", "start": "0x3ffffffff000", "size": "0x2000"}]}
            """).json()
        #expect(j["results", 0, "outcome"] == "mapped")
        #expect(j["results", 0, "type"] == "UC-")
        #expect(j["results", 1, "outcome"] == "ebusy")
        #expect(j["results", 1, "existing"] == "UC-")
        #expect(j["results", 2, "outcome"] == "released")
        #expect(j["results", 3, "outcome"] == "mapped")
        #expect(j["results", 3, "type"] == "WC")
    }

    /// Overlapping `ram` entries count once: [0, 0x2000) twice is not [0, 0x4000).
    @Test func overlappingRAMEntriesAreMerged() throws {
        let s = try TestServer()
        let j = try s.request("POST", "/v1/guest/memtype", json: """
            {"ram": [{"start": 0, "end": "0x2000"}, {"start": 0, "end": "0x2000"}, {"start": "0x1000", "end": "0x3000"}],
             "calls": [{"call": "set_memory_uc", "start": 0, "end": "0x4000"},
                       {"call": "set_memory_uc", "start": 0, "end": "0x3000"}]}
            """).json()
        #expect(j["results", 0, "outcome"] == "einval")
        #expect(j["results", 0, "reason"] == "set_memory_* applies to RAM pages only")
        #expect(j["results", 1, "outcome"] == "mapped")
    }

    /// A /proc/mtrr size past 2^64 is a 422 naming the line, not a wrapped size
    /// ((2^34 + 1) GB used to become 1 GB).
    @Test func procMTRRSizeOverflowIs422() throws {
        let s = try TestServer()
        let bad = try s.request("POST", "/v1/decisions", json: #"""
            {"model": "A", "vm": {"noncoherent_dma": true},
             "vcpu": {"pat": "linux", "mtrr": {"enabled": true, "default": "WB",
               "proc_mtrr": "reg00: base=0x000000000 (    0MB), size= 2048MB, count=1: write-back\nreg01: base=0x0c0000000 ( 3072MB), size= 17179869185GB, count=1: uncachable"}},
             "access": {"gpa": "0xc0000000", "pat_index": 1}}
            """#)
        #expect(bad.status == 422)
        let problem = try bad.json()
        #expect(problem["pointer"] == "/vcpu/mtrr/proc_mtrr")
        #expect(problem["detail"]?.stringValue?.contains("line 2") == true)
    }

    @Test func procMTRRInADecision() throws {
        let s = try TestServer()
        let body = #"""
            {"model": "A", "vm": {"noncoherent_dma": true},
             "vcpu": {"pat": "linux", "mtrr": {"enabled": true, "default": "WB",
               "proc_mtrr": "reg00: base=0x0c0000000 ( 3072MB), size= 1024MB, count=1: uncachable"}},
             "access": {"gpa": "0xc0000000", "pat_index": 1}}
            """#
        let j = try s.request("POST", "/v1/decisions", json: body).json()
        #expect(j["ept", "type"] == "UC")
        #expect(j["effective"] == "WC")
        let bad = try s.request("POST", "/v1/decisions", json: #"{"vcpu": {"mtrr": {"proc_mtrr": "reg00: nonsense"}}}"#)
        #expect(try bad.json()["pointer"] == "/vcpu/mtrr/proc_mtrr")
    }
}
