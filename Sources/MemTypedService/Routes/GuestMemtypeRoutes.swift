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
            let m = try Field(body).object(GuestMemtypeKey.self)
            var patEnabled: Field?, ram: Field?, mtrr: Field?, maxPhysAddrField: Field?, reservationsField: Field?
            var patMemtypeList: Field?, callsField: Field?, kvmField: Field?
            // Collected first, read below in a fixed order: the MTRRs and the
            // calls need MAXPHYADDR, the reservations come before the calls.
            m.each(GuestMemtypeKey.self) { key, f in
                switch key {
                case .patEnabled: patEnabled = f
                case .ram: ram = f
                case .mtrr: mtrr = f
                case .maxPhysAddr: maxPhysAddrField = f
                case .reservations: reservationsField = f
                case .patMemtypeList: patMemtypeList = f
                case .calls: callsField = f
                case .kvm: kvmField = f
                }
            }
            let maxPhysAddr = try maxPhysAddrField?.int(in: MTRRState.maxPhysAddrRange) ?? MTRRState.defaultMaxPhysAddr
            state = GuestMemtypeState(patEnabled: try patEnabled?.bool() ?? true)
            if let f = mtrr { state.mtrr = try MTRRState(f, maxPhysAddr: maxPhysAddr) }
            if let f = ram {
                state.ram = try f.array(maxCount: 64).map { item throws(InvalidField) in
                    let (start, end) = try Self.range(RangeKey.fields(item))
                    return start..<end
                }
            }
            var reservations: [MemtypeReservation] = []
            if let f = reservationsField {
                for item in try f.array(maxCount: 1024) { reservations.append(try Self.reservation(item)) }
            }
            if let f = patMemtypeList {
                let text = try f.string()
                do throws(KernelTextFormats.LineError) {
                    reservations += try KernelTextFormats.patMemtypeList(text)
                } catch {
                    throw f.invalid("pat_memtype_list \(error)")
                }
            }
            state = GuestMemtypeState(patEnabled: state.patEnabled, ram: state.ram, mtrr: state.mtrr, reservations: reservations)
            guard let callsField else { throw m.missing(GuestMemtypeKey.calls.rawValue) }
            for item in try callsField.array(maxCount: Self.maxGuestCalls) {
                calls.append(try Self.call(item, maxPhysAddr: maxPhysAddr))
            }
            if let f = kvmField {
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

    /// A `{"start", "end"}` range's bounds, end exclusive and above start.
    static func range(_ fields: (start: Field, end: Field)) throws(InvalidField) -> (UInt64, UInt64) {
        let start = try fields.start.uint64()
        let end = try fields.end.uint64()
        guard start < end else { throw fields.end.invalid("must be above start (end is exclusive)") }
        return (start, end)
    }

    /// `{"start", "end", "type"}`: a reservation already in place.
    static func reservation(_ item: Field) throws(InvalidField) -> MemtypeReservation {
        let r = try item.object(ReservationKey.self)
        var start: Field?, end: Field?, type: Field?
        r.each(ReservationKey.self) { key, f in
            switch key {
            case .start: start = f
            case .end: end = f
            case .type: type = f
            }
        }
        guard let start else { throw r.missing(ReservationKey.start.rawValue) }
        guard let end else { throw r.missing(ReservationKey.end.rawValue) }
        let bounds = try range((start, end))
        guard let type else { throw r.missing(ReservationKey.type.rawValue) }
        return MemtypeReservation(start: bounds.0, end: bounds.1, type: try type.memoryType())
    }

    /// `{"call", "start", "end" | "size"}`: one ioremap/set_memory call, its
    /// range below 2^MAXPHYADDR.
    static func call(_ item: Field, maxPhysAddr: Int) throws(InvalidField) -> (IoremapCall, UInt64, UInt64) {
        let r = try item.object(IoremapCallKey.self)
        var call: Field?, startField: Field?, endField: Field?, sizeField: Field?
        r.each(IoremapCallKey.self) { key, f in
            switch key {
            case .call: call = f
            case .start: startField = f
            case .end: endField = f
            case .size: sizeField = f
            }
        }
        guard let call else { throw r.missing(IoremapCallKey.call.rawValue) }
        let kind = try call.oneOf(IoremapCall.allCases.map { ($0.rawValue, $0) })
        guard let startField else { throw r.missing(IoremapCallKey.start.rawValue) }
        let start = try startField.uint64()
        let end: UInt64
        switch (endField, sizeField) {
        case (let e?, nil): end = try e.uint64()
        case (nil, let sz?):
            let size = try sz.uint64()
            guard size > 0, start <= UInt64.max - size else { throw sz.invalid("must be positive and keep start + size below 2^64") }
            end = start + size
        case (nil, nil): throw InvalidField(pointer: r.pointer + "/" + IoremapCallKey.size.rawValue, message: "give end (exclusive) or size")
        case (_?, let sz?): throw sz.invalid("give either end or size, not both")
        }
        guard start < end else { throw InvalidField(pointer: r.pointer + "/" + IoremapCallKey.end.rawValue, message: "must be above start") }
        guard end <= UInt64(1) << UInt64(maxPhysAddr) else {
            let key = sizeField != nil ? IoremapCallKey.size : .end
            throw InvalidField(pointer: r.pointer + "/" + key.rawValue, message: "the range must end at or below 2^MAXPHYADDR (\(maxPhysAddr) bits)")
        }
        return (kind, start, end)
    }
}
