import FleetPlanning
import HTTPServer
import JSON
import MemTypeEngine
import MemTypeWire
import VMStore

/// Decisions for a stored VM: the engine's inputs come from the record (its
/// disabled-quirk mask, type, non-coherent DMA) and its host (inline or the
/// named profile; the host kernel selects the KVM model, none: the newest),
/// the request only says which access on which vCPU.
extension MemTypedService {
    static let vmDecisionRoutes: [Route] = [
        Route("GET", "/v1/vms/{id}/decision", auth: .read, store: true) { s, c throws(Problem) in try s.getVMDecision(c) },
        Route("POST", "/v1/vms/{id}/decisions", json: true, auth: .read, store: true) { s, c throws(Problem) in try s.postVMDecision(c) },
        Route("GET", "/v1/vms/{id}/kvm-quirks", auth: .read, store: true) { s, c throws(Problem) in try s.getVMKVMQuirks(c) },
    ]

    /// The host `ref` describes: inline, or the named profile (one lookup),
    /// nil when that profile does not exist. A store failure is a problem.
    func storedHost(of ref: HostRef, in store: any VMStore) throws(Problem) -> HostSpec? {
        switch ref {
        case .inline(let spec):
            return spec
        case .profile(let name):
            do { return try store.getHost(name)?.spec } catch { throw problem(error, subject: "host profile '\(name)'") }
        }
    }

    /// A stored VM's decision inputs for a read, its host resolved: 404 if the
    /// id is not valid or not stored, 409 if its host profile is gone. One store
    /// read (`VMStore.decisionInputs`), whatever the host.
    func loadDecisionInputs(_ store: any VMStore, _ id: String) throws(Problem) -> (VMDecisionInputs, HostSpec) {
        guard Self.isValidID(id) else { throw Self.notFound(Self.vmSubject(id)) }
        let found: VMDecisionInputs?
        do { found = try store.decisionInputs(id) } catch { throw problem(error, subject: Self.vmSubject(id)) }
        guard let found else { throw Self.notFound(Self.vmSubject(id)) }
        guard let host = found.host else {
            throw Problem.conflict("VM '\(id)' references host profile '\(found.hostProfile ?? "")', which does not exist")
        }
        return (found, host)
    }

    /// Cross-field checks: the access's are the client's (422 at `prefix`),
    /// the VM's are the stored record's (409: fix the record or its host).
    static func validate(_ request: DecisionRequest, id: String, gpa: String, private tdxPrivate: String) throws(Problem) {
        do {
            try request.validate()
        } catch {
            switch error.field {
            case .accessGPA: throw Problem(invalid: InvalidField(pointer: gpa, message: error.message))
            case .accessPrivate: throw Problem(invalid: InvalidField(pointer: tdxPrivate, message: error.message))
            case .vmType, .disabledQuirks:
                throw Problem.conflict("the stored VM '\(id)' cannot run on its host: \(error.message); change the VM's type or its host")
            }
        }
    }

    /// The engine's decision with `"vm": {"id", "revision", "baseline"}` and
    /// `"risks"` (the VM's bochs warning on `host`) added as its last members.
    static func decisionResponse(_ decision: Decision, inputs: VMDecisionInputs, host: HostSpec) -> HTTPResponse {
        let risks = encodedRisks(inputs.vmConfig, guest: inputs.guest, host: host)
        // Room for the encoder's bound (~4 KB before warnings): the writer
        // then never regrows its buffer.
        return .json(capacity: 8192) { w in
            w.beginObject()
            decision.writeMembers(to: &w)
            w.key("vm")
            VMWire.writeSummary(inputs, to: &w)
            w.key(ReadOnlyKey.risks.rawValue)
            w.raw(risks)
            w.endObject()
        }
    }

    /// `GET /v1/vms/{id}/decision?gpa=&pat_index=&pte=&level=&mmio=&private=&pat=`: the hot path.
    /// One store read (`decisionInputs`: the VM and its host profile in one
    /// statement), the engine's writer for the body.
    func getVMDecision(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        var access = GuestAccess()
        var vcpu = VCPUState()
        var pte: Field?, patIndex: Field?
        var seen: UInt64 = 0
        do throws(InvalidField) {
            for (name, value) in c.request.query {
                let pointer = "/query/" + JSONPointer.escape(name)
                guard let key = DecisionQueryKey(rawValue: name) else {
                    throw InvalidField(pointer: pointer, message: "unknown query parameter; expected " + DecisionQueryKey.list)
                }
                guard seen & key.bit == 0 else { throw InvalidField(pointer: pointer, message: "given more than once") }
                seen |= key.bit
                let field = Field(.string(value), pointer: pointer)
                switch key {
                case .access(.gpa): access.gpa = try field.uint64()
                case .access(.mmio): access.mmio = try Self.queryBool(value, pointer: pointer)
                case .access(.pte): pte = field  // below: a raw entry is read at the level
                case .access(.patIndex): patIndex = field
                case .access(.level): access.level = try field.pageLevel()
                case .access(.tdxPrivate): access.tdxPrivate = try Self.queryBool(value, pointer: pointer)
                case .pat: vcpu.pat = try PAT(field)
                }
            }
            if let (key, f) = try PATIndexSource.given(pte: pte, patIndex: patIndex, conflict: { pte!.invalid($0) }) {
                access.setPATIndex(key == .pte ? .pteEntry(try f.uint64()) : .index(PATIndex(try f.int(in: PATIndex.range))!))
            }
        } catch {
            throw Problem(invalid: error)
        }
        return try decide(store, c.capture("id"), vcpu: vcpu, access: access, pointers: ("/query/gpa", "/query/private"))
    }

    static func queryBool(_ value: String, pointer: String) throws(InvalidField) -> Bool {
        switch value {
        case "true", "1": true
        case "false", "0": false
        default: throw InvalidField(pointer: pointer, message: "expected true or false, got \"\(value.prefix(20))\"")
        }
    }

    /// `POST /v1/vms/{id}/decisions` with `{"vcpu": {...}, "access": {...}}` (both optional). A read.
    func postVMDecision(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let body = try Self.parse(c.request.body)
        var vcpu = VCPUState()
        var access = GuestAccess()
        do {
            let m = try Field(body).object(VMDecisionKey.self)
            try m.each(VMDecisionKey.self) { key, f throws(InvalidField) in
                switch key {
                case .vcpu: vcpu = try VCPUState(f)
                case .access: access = try GuestAccess(f)
                }
            }
        } catch {
            throw Problem(invalid: error)
        }
        return try decide(store, c.capture("id"), vcpu: vcpu, access: access, pointers: ("/access/gpa", "/access/private"))
    }

    /// The decision for stored VM `id` with the client's vCPU and access;
    /// `pointers` name where the client gave the access's GPA and private bit.
    private func decide(_ store: any VMStore, _ id: String, vcpu: VCPUState, access: GuestAccess,
                        pointers: (gpa: String, private: String)) throws(Problem) -> HTTPResponse {
        let (inputs, host) = try loadDecisionInputs(store, id)
        let request = host.decisionRequest(inputs.vmConfig, vcpu: vcpu, access: access)
        try Self.validate(request, id: inputs.id, gpa: pointers.gpa, private: pointers.private)
        return Self.decisionResponse(DecisionEngine.decide(request), inputs: inputs, host: host)
    }

    /// `kernel=` or `model=` from the query, read by the decision request's
    /// rule (`KernelSelection(kernel:model:)`), else the host's own selection.
    static func kernelSelection(_ q: QueryParameters, host: HostSpec) throws(Problem) -> KernelSelection {
        let kernel = q[RequestKey.kernel.rawValue].map { QueryParameters.field(RequestKey.kernel.rawValue, $0) }
        let model = q[RequestKey.model.rawValue].map { QueryParameters.field(RequestKey.model.rawValue, $0) }
        guard kernel != nil || model != nil else { return host.kernelSelection }
        do {
            return try KernelSelection(kernel: kernel, model: model)
        } catch {
            throw Problem(invalid: error)
        }
    }

    /// The query of `kvm-quirks`: the decision request's kernel selection.
    static let kernelQueryKeys = [RequestKey.kernel, .model].map(\.rawValue)

    /// `GET /v1/vms/{id}/kvm-quirks[?kernel=|model=]`: what the VMM does at VM
    /// creation: the KVM_CAP_DISABLE_QUIRKS2 mask, whether KVM would refuse it,
    /// and each decision-relevant quirk's resulting state.
    func getVMKVMQuirks(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let q = try QueryParameters(c.request, allowed: Self.kernelQueryKeys)
        let (inputs, hostSpec) = try loadDecisionInputs(store, c.capture("id"))
        let selection = try Self.kernelSelection(q, host: hostSpec)
        let model = selection.model
        // The evaluation kernel plans and placements compare (`Placement.quirks`).
        let eval = Placement(host: hostSpec.hostProfile, kernel: selection).quirks(for: inputs.vmConfig)
        return .json(capacity: 2048) { w in
            w.beginObject()
            w.key("vm")
            VMWire.writeSummary(inputs, to: &w)
            w.key("host")
            w.beginObject()
            VMWire.writeMembers(hostSpec, to: &w)
            w.endObject()
            w.key("host_profile")
            if let name = inputs.hostProfile { w.string(name) } else { w.null() }
            w.key("model")
            model.write(to: &w, kernel: selection.version)
            w.key("disable_quirks2")
            w.beginObject()
            VMWire.writeMask(eval.requested, key: "mask", namesKey: "names", to: &w)
            w.member("call_needed", !eval.applicableRequest.isEmpty)
            w.member("would_fail", eval.enableCapFails)
            w.key("error")
            if eval.enableCapFails { w.string("EINVAL") } else { w.null() }
            VMWire.writeMask(eval.refused, key: "refused", namesKey: "refused_names", to: &w)
            VMWire.writeMask(eval.applicableRequest, key: "mask_to_apply", namesKey: "names_to_apply", to: &w)
            w.endObject()
            w.key("quirks")
            eval.write(to: &w)
            w.endObject()
        }
    }
}
