import HTTPServer
import JSON
import MemTypeEngine
import MemTypeWire

/// `POST /v1/guest/memtype`: replays a guest driver's ioremap/set_memory
/// calls through Linux's memtype reservations, and (with `kvm`) what KVM then
/// makes of each mapping, so the bochs story can be checked end to end.
extension MemTypedService {
    static let guestRoutes: [Route] = [
        Route("POST", "/v1/guest/memtype", json: true) { s, c throws(Problem) in try s.postGuestMemtype(c) },
    ]

    /// The most calls one request replays.
    static let maxGuestCalls = 256

    func postGuestMemtype(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let body = try Self.parse(c.request.body)
        var state: GuestMemtypeState
        var calls: [(IoremapCall, UInt64, UInt64)] = []
        var kvm: DecisionRequest?
        do throws(InvalidField) {
            let m = try Field(body).object(allowed: ["pat_enabled", "ram", "mtrr", "maxphyaddr", "reservations", "pat_memtype_list", "calls", "kvm"])
            let maxPhysAddr = try m["maxphyaddr"]?.int(in: MTRRState.maxPhysAddrRange) ?? MTRRState.defaultMaxPhysAddr
            state = GuestMemtypeState(patEnabled: try m["pat_enabled"]?.bool() ?? true)
            if let f = m["mtrr"] { state.mtrr = try MTRRState(f, maxPhysAddr: maxPhysAddr) }
            if let f = m["ram"] {
                state.ram = try f.array(maxCount: 64).map { item throws(InvalidField) in
                    let (start, end) = try Self.range(item)
                    return start..<end
                }
            }
            var reservations: [MemtypeReservation] = []
            if let f = m["reservations"] {
                for item in try f.array(maxCount: 1024) {
                    let r = try item.object(allowed: ["start", "end", "type"])
                    let (start, end) = try Self.range(item, allowedExtra: ["type"])
                    reservations.append(MemtypeReservation(start: start, end: end, type: try r.required("type").memoryType()))
                }
            }
            if let f = m["pat_memtype_list"] {
                let text = try f.string()
                do throws(KernelTextFormats.LineError) {
                    reservations += try KernelTextFormats.patMemtypeList(text)
                } catch {
                    throw f.invalid("pat_memtype_list \(error)")
                }
            }
            state = GuestMemtypeState(patEnabled: state.patEnabled, ram: state.ram, mtrr: state.mtrr, reservations: reservations)
            for item in try m.required("calls").array(maxCount: Self.maxGuestCalls) {
                let r = try item.object(allowed: ["call", "start", "end", "size"])
                let call = try r.required("call").oneOf(IoremapCall.allCases.map { ($0.rawValue, $0) })
                let start = try r.required("start").uint64()
                let end: UInt64
                switch (r["end"], r["size"]) {
                case (let e?, nil): end = try e.uint64()
                case (nil, let sz?):
                    let size = try sz.uint64()
                    guard size > 0, start <= UInt64.max - size else { throw sz.invalid("must be positive and keep start + size below 2^64") }
                    end = start + size
                case (nil, nil): throw InvalidField(pointer: r.pointer + "/size", message: "give end (exclusive) or size")
                case (_?, let sz?): throw sz.invalid("give either end or size, not both")
                }
                guard start < end else { throw InvalidField(pointer: r.pointer + "/end", message: "must be above start") }
                guard end <= UInt64(1) << UInt64(maxPhysAddr) else { throw InvalidField(pointer: r.pointer + (r.contains("size") ? "/size" : "/end"), message: "the range must end at or below 2^MAXPHYADDR (\(maxPhysAddr) bits)") }
                calls.append((call, start, end))
            }
            if let f = m["kvm"] {
                kvm = try DecisionRequest(vmOnly: f)
            }
        } catch {
            throw Problem(invalid: error)
        }

        return .json(capacity: 512 + 512 * calls.count) { w in
            w.beginObject()
            w.key("results")
            w.beginArray()
            for (call, start, end) in calls {
                let (outcome, rules) = state.apply(call, start: start, end: end)
                w.beginObject()
                w.member("call", call.rawValue)
                w.member("start", String(format0x: start))
                w.member("end", String(format0x: end))
                if let requested = call.requested { w.member("requested", requested.name) }
                switch outcome {
                case let .mapped(type, substituted):
                    w.member("outcome", "mapped")
                    w.member("type", type.name)
                    w.member("substituted", substituted)
                    let index = IoremapRules.linuxPATIndex(for: type)
                    w.member("linux_pat_index", index.value)
                    if var request = kvm {
                        request.vcpu.pat = .linux
                        request.access = GuestAccess(gpa: start, patIndex: index)
                        let d = DecisionEngine.decide(request)
                        w.key("kvm")
                        w.beginObject()
                        w.member("model", d.model.rawValue)
                        w.key("ept")
                        if let ept = d.ept { w.string(ept.type.name + (ept.ipat ? "+IPAT" : "")) } else { w.null() }
                        w.key("effective")
                        if let e = d.effective { w.string(e.name) } else { w.null() }
                        w.endObject()
                    }
                case .conflict(let existing):
                    w.member("outcome", "ebusy")
                    w.member("existing", existing.name)
                case .downgradeRefused(let offered):
                    w.member("outcome", "refused")
                    w.member("offered", offered.name)
                case .invalid(let reason):
                    w.member("outcome", "einval")
                    w.member("reason", reason)
                case .released:
                    w.member("outcome", "released")
                }
                w.key("rules")
                w.beginArray()
                for rule in rules {
                    w.beginObject()
                    w.member("rule", rule.rawValue)
                    w.member("source", rule.source)
                    w.endObject()
                }
                w.endArray()
                w.endObject()
            }
            w.endArray()
            w.key("reservations")
            w.beginArray()
            for r in state.reservations {
                w.beginObject()
                w.member("start", String(format0x: r.start))
                w.member("end", String(format0x: r.end))
                w.member("type", r.type.name)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
    }

    /// `{"start", "end"}` with end exclusive and above start.
    static func range(_ f: Field, allowedExtra: [String] = []) throws(InvalidField) -> (UInt64, UInt64) {
        let r = try f.object(allowed: ["start", "end"] + allowedExtra)
        let start = try r.required("start").uint64()
        let endField = try r.required("end")
        let end = try endField.uint64()
        guard start < end else { throw endField.invalid("must be above start (end is exclusive)") }
        return (start, end)
    }
}
