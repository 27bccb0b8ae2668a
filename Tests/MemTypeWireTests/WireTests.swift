import JSON
import Testing
@testable import MemTypeEngine
@testable import MemTypeWire

private func decode(_ text: String) throws(RequestError) -> DecisionRequest {
    try DecisionRequest(json: Array(text.utf8))
}

private func pointer(of text: String) -> String? {
    do {
        _ = try decode(text)
        return nil
    } catch {
        if case .invalid(let e) = error { return e.pointer }
        return "malformed"
    }
}

@Test func emptyRequestIsTheDocumentedDefault() throws {
    #expect(try decode("{}") == DecisionRequest())
    let d = DecisionRequest()
    #expect(d.kernel == .model(.e) && d.host == HostProfile(vendor: .intel, selfSnoop: true, tdp: true))
    #expect(d.vcpu.pat == .reset && !d.vcpu.mtrr.enabled && d.vcpu.cpuidMTRR && d.access.level == .size4K)
}

@Test func sixtyFourBitValuesAcceptIntegersAndHexStrings() throws {
    let a = try decode(#"{"vcpu":{"pat":"0x0407050600070106"},"access":{"gpa":"0xfd00_0000"}}"#)
    let b = try decode(#"{"vcpu":{"pat":290206224317088006},"access":{"gpa":4244635648}}"#)
    #expect(a == b)
    #expect(a.vcpu.pat == .linux)
    #expect(try decode(#"{"vcpu":{"pat":"linux"}}"#).vcpu.pat == .linux)
    #expect(pointer(of: #"{"access":{"gpa":"0x1_0000_0000_0000_0000"}}"#) == "/access/gpa")
    #expect(pointer(of: #"{"access":{"gpa":"fd000000"}}"#) == "/access/gpa")
    #expect(pointer(of: #"{"access":{"gpa":1.5}}"#) == "/access/gpa")
}

@Test func quirkMasksInThreeForms() throws {
    let forms = [#"512"#, #""0x200""#, #"["IGNORE_GUEST_PAT"]"#, #"["kvm_x86_quirk_ignore_guest_pat"]"#]
    for form in forms {
        #expect(try decode(#"{"vm":{"disabled_quirks":\#(form)}}"#).vm.disabledQuirks == .ignoreGuestPAT, "\(form)")
    }
    #expect(pointer(of: #"{"vm":{"disabled_quirks":"0x1000"}}"#) == "/vm/disabled_quirks")
}

@Test func pteFormsSelectTheSameIndex() throws {
    let bits = try decode(#"{"access":{"pte":{"pwt":true,"pat":true}}}"#)
    let raw4K = try decode(#"{"access":{"pte":"0x88"}}"#)           // PWT (bit 3) + PAT (bit 7)
    let raw2M = try decode(#"{"access":{"pte":"0x1088","level":"2M"}}"#)  // PWT + PAT (bit 12); bit 7 is PS
    #expect(bits.access.patIndex.value == 5)
    #expect(raw4K.access.patIndex.value == 5)
    #expect(raw2M.access.patIndex.value == 5)
    #expect(pointer(of: #"{"access":{"pte":{"pwt":true},"pat_index":1}}"#) == "/access/pat_index")
}

@Test func friendlyAndRawMTRRsAreTheSameRegisters() throws {
    let friendly = try decode(#"""
        {"vcpu":{"maxphyaddr":36,"mtrr":{"enabled":true,"fixed_enabled":true,"default":"WB",
          "fixed":{"MTRRfix16K_A0000":"WC"},
          "variable":[{"base":"0xc0000000","size":"0x40000000","type":"UC"}]}}}
        """#)
    let raw = try decode(#"""
        {"vcpu":{"maxphyaddr":36,"mtrr":{"def_type":"0xc06",
          "fixed":{"0x259":"0x0101010101010101"},
          "variable":[{"phys_base":"0xc0000000","phys_mask":"0xfc0000800"}]}}}
        """#)
    #expect(friendly.vcpu.mtrr == raw.vcpu.mtrr)
    #expect(pointer(of: #"{"vcpu":{"mtrr":{"def_type":"0xc06","default":"WB"}}}"#) == "/vcpu/mtrr/default")
    #expect(pointer(of: #"{"vcpu":{"mtrr":{"fixed":{"0x300":"WB"}}}}"#) == "/vcpu/mtrr/fixed/0x300")
    #expect(pointer(of: #"{"vcpu":{"mtrr":{"fixed":{"0x250":"0x0700000000000000"}}}}"#) == "/vcpu/mtrr/fixed/0x250")
    #expect(pointer(of: #"{"vcpu":{"mtrr":{"variable":[{"phys_base":"0x6","phys_mask":"0x801"}]}}}"#) == "/vcpu/mtrr/variable/0/phys_mask")
    #expect(pointer(of: #"{"vcpu":{"mtrr":{"variable":[{"base":"0x1000","size":"0x1000","type":"UC-"}]}}}"#) == "/vcpu/mtrr/variable/0/type")
}

@Test func kernelAndModelAreExclusive() {
    #expect(pointer(of: #"{"kernel":"6.6","model":"A"}"#) == "/model")
    #expect(pointer(of: #"{"model":"F"}"#) == "/model")
    #expect((try? decode(#"{"model":"b"}"#))?.kernel == .model(.b))
}

@Test func jsonPointersEscapeTildeAndSlash() {
    #expect(pointer(of: #"{"a/b~c":1}"#) == "/a~1b~0c")
}

@Test func decisionJSONIsValidAndCarriesEveryField() throws {
    let d = DecisionEngine.decide(try decode(#"{"kernel":"6.11-rc1","vcpu":{"pat":"linux"},"access":{"pat_index":2}}"#))
    for pretty in [false, true] {
        let j = try JSONParser.parse(d.json(pretty: pretty))
        for key in ["model", "applicability", "ept", "guest_pat", "effective", "table_cell", "max_level", "quirks", "trace", "warnings", "assumptions"] {
            #expect(j[key] != nil, "\(key) missing")
        }
        #expect(j["effective"] == "UC")
        #expect(j["trace"]?.arrayValue?.count == 2)
    }
    // Compact output splices cached fragments; it must equal a fresh encoding.
    #expect(try JSONParser.parse(d.json()) == JSONParser.parse(d.json(pretty: true)))
}
