import Testing
import MemTypeEngine
@_spi(Testing) import VMStore

@Suite struct ValidationTests {
    @Test(arguments: ["", "-vm", ".vm", "_vm", "vm 1", "vm/1", "vé", String(repeating: "a", count: 65), "a\n", "a:b"])
    func invalidIDs(_ id: String) throws {
        let dir = TempDir()
        let store = try openStore(dir)
        #expect(storeError { try store.createVM(id, spec(), actor: "t") }?.invalidField == "/id")
        #expect(storeError { try store.getVM(id) }?.invalidField == "/id")
        #expect(storeError { try store.replaceVM(id, with: spec(), expectedRevision: nil, actor: "t") }?.invalidField == "/id")
        #expect(try store.listVMs(VMQuery()).items.isEmpty)
    }

    @Test(arguments: ["a", "A-1", "vm.example_01", "0", String(repeating: "z", count: 64)])
    func validIDs(_ id: String) throws {
        let dir = TempDir()
        let store = try openStore(dir)
        _ = try store.createVM(id, spec(), actor: "t")
        #expect(try store.getVM(id)?.id == id)
    }

    @Test(arguments: Backend.enabled) func invalidFieldsNameTheirPointer(_ backend: Backend) throws {
        let dir = try StoreSite(backend)
        let store = try openStore(dir)
        func field(_ s: VMSpec, actor: String = "t") -> String? {
            storeError { try store.createVM("vm", s, actor: actor) }?.invalidField
        }
        #expect(field(spec(labels: ["bad key": "v"])) == "/labels/bad key")
        #expect(field(spec(labels: ["a/b": "line\nbreak"])) == "/labels/a~1b")
        #expect(field(spec(labels: ["-lead": "v"])) == "/labels/-lead")
        #expect(field(spec(labels: ["k": String(repeating: "v", count: 257)])) == "/labels/k")
        #expect(field(spec(labels: [String(repeating: "k", count: 129): "v"])) != nil)
        #expect(field(spec(labels: Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") }))) == "/labels")
        #expect(field(spec(devices: ["VGA", "bad device"])) == "/display_devices/1")
        #expect(field(spec(devices: Array(repeating: "VGA", count: 33))) == "/display_devices")
        #expect(field(spec(guestKernel: "banana")) == "/guest_kernel")
        #expect(field(spec(host: .inline(HostSpec(kernel: "six")))) == "/host/kernel")
        #expect(field(spec(host: .inline(HostSpec(cpu: CPUModel(family: 0, model: 1))))) == "/host/cpu/family")
        #expect(field(spec(host: .inline(HostSpec(cpu: CPUModel(family: 6, model: 0x8F, stepping: 16))))) == "/host/cpu/stepping")
        #expect(field(spec(host: .profile("no such"))) == "/host_profile")
        #expect(field(spec(baseline: "pc-q35-9.2")) == "/baseline")
        #expect(field(spec(), actor: "") == "/actor")
        #expect(field(spec(), actor: "a\u{7}b") == "/actor")
        // Nothing was written by any of them.
        #expect(try store.getVM("vm") == nil)
        #expect(storeError { try store.history("vm") } == .notFound)
        // Boundary values are accepted.
        let ok = try store.createVM("vm", spec(labels: [String(repeating: "k", count: 128): String(repeating: "v", count: 256),
                                                        "team.example.com/owner": ""],
                                               devices: Array(repeating: "virtio-gpu", count: 32), guestKernel: "v6.11-rc3"),
                                    actor: String(repeating: "a", count: 128))
        #expect(ok.labels.count == 2)
    }

    @Test func timestampsRenderAsRFC3339UTC() {
        #expect(Timestamp(millisSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(millisSinceEpoch: 1_700_000_000_123).rfc3339 == "2023-11-14T22:13:20.123Z")
        #expect(Timestamp(millisSinceEpoch: 951_782_400_000).rfc3339 == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp(millisSinceEpoch: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp(millisSinceEpoch: 4_102_444_799_999).rfc3339 == "2099-12-31T23:59:59.999Z")
    }

    @Test func catalogue() {
        #expect(Baseline.named("legacy-ignore-guest-pat") == .legacyIgnoreGuestPAT)
        #expect(Baseline.named("honor-guest-pat-2025")?.disabledQuirks == .ignoreGuestPAT)
        #expect(Baseline.named("nope") == nil)
        #expect(Baseline.current == .legacyIgnoreGuestPAT)
        #expect(Baseline.legacyIgnoreGuestPAT.choice(for: .ignoreGuestPAT) == .keepEnabled)
        #expect(Baseline.legacyIgnoreGuestPAT.choice(for: .cdNwCleared) == .keepEnabled)
        #expect(Baseline.honorGuestPAT2025.choice(for: .cdNwCleared) == .keepEnabled)
        #expect(Set(Baseline.catalogue.map(\.name)).count == Baseline.catalogue.count)
        #expect(Baseline.catalogue.allSatisfy { $0.disabledQuirks.unknownBits == 0 })
    }
}
