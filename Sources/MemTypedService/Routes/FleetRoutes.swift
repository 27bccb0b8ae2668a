import FleetPlanning
import HTTPServer
import JSON
import Locking
import MemTypeEngine
import MemTypeWire
import VMStore

/// Fleet change planning over HTTP (issue 14): a kernel plan for a host
/// profile, where a VM can live-migrate to, and the bochs risk across the
/// fleet. The analysis is `FleetPlanning`'s; the handlers read the store,
/// call it and encode (`PlanWire`). Shapes are in openapi.yaml.
extension MemTypedService {
    static let fleetRoutes: [Route] = [
        Route("GET", "/v1/hosts/{name}/kernel-plan", auth: .read, store: true) { s, c throws(Problem) in try s.getKernelPlan(c) },
        Route("GET", "/v1/vms/{id}/placements", auth: .read, store: true) { s, c throws(Problem) in try s.getPlacements(c) },
        Route("GET", "/v1/risks", auth: .read, store: true) { s, c throws(Problem) in try s.getRisks(c) },
    ]

    /// The baseline that ignores guest PAT: the fix a bochs risk offers.
    static let legacyFix = (name: Baseline.legacyIgnoreGuestPAT.name, mask: Baseline.legacyIgnoreGuestPAT.disabledQuirks)

    /// The baselines a plan may move a VM to: the catalogue's adoptable ones, oldest first.
    static let planBaselines = Baseline.catalogue.filter { !$0.deprecated }.map { (name: $0.name, mask: $0.disabledQuirks) }

    /// The bochs risk of a VM with `guest` on `host` (nil: none), for the
    /// `risks` member of per-VM decisions and VM writes.
    static func bochsRisk(_ vm: VMConfig, guest: GuestDisplay, host: HostSpec) -> BochsRisk? {
        BochsRisk.assess(vm, guest: guest, on: host.placement, legacy: legacyFix)
    }

    /// The `risks` array of a per-VM decision, encoded: a VM without a bochs
    /// device gets `[]` at once; others are assessed once per distinct
    /// (config, host, guest display) and the bytes reused, so the hot path
    /// does not rebuild the reasons' text per request. Bounded: emptied when full.
    static func encodedRisks(_ vm: VMConfig, guest: GuestDisplay, host: HostSpec) -> [UInt8] {
        guard !BochsDevices.matching(guest.displayDevices).isEmpty else { return noRisks }
        let key = RiskKey(vm: vm, host: host, guest: guest)
        if let known = riskMemo.withLock({ $0[key] }) { return known }
        var w = JSONWriter(capacity: 2048)
        w.beginObject()
        PlanWire.writeRisks(bochsRisk(vm, guest: guest, host: host), to: &w)
        w.endObject()
        let bytes = Array(w.bytes.dropFirst(#"{"risks":"#.utf8.count).dropLast())  // the array alone
        riskMemo.withLock { memo in
            if memo.count >= riskMemoCapacity { memo = [:] }
            memo[key] = bytes
        }
        return bytes
    }

    static let noRisks = Array("[]".utf8)
    struct RiskKey: Hashable { let vm: VMConfig; let host: HostSpec; let guest: GuestDisplay }
    static let riskMemoCapacity = 4096
    static let riskMemo = Locked<[RiskKey: [UInt8]]>([:])

    // MARK: - Kernel plan

    static let kernelPlanParameters = kernelQueryKeys + pageParameters

    /// `GET /v1/hosts/{name}/kernel-plan?kernel=K|model=M&limit=&cursor=`: for
    /// each VM on the profile (id order, paged as `GET /v1/vms`), its
    /// behaviour on the profile's kernel and on K. The first page (no
    /// cursor) carries the `summary` over all of the profile's VMs, from one
    /// grouped read; later pages have none.
    func getKernelPlan(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let name = c.capture("name")
        let q = try QueryParameters(c.request, allowed: Self.kernelPlanParameters)
        let limit = try q.limit()
        guard q[RequestKey.kernel.rawValue] != nil || q[RequestKey.model.rawValue] != nil else {
            throw QueryParameters.invalid(RequestKey.kernel.rawValue, "required: the kernel to plan for (kernel=6.16), or model=A..E")
        }
        guard Self.isValidID(name) else { throw Self.notFound(Self.hostSubject(name)) }
        let profile: HostProfileRecord?
        do { profile = try store.getHost(name) } catch { throw problem(error, subject: Self.hostSubject(name)) }
        guard let profile else { throw Self.notFound(Self.hostSubject(name)) }
        let target = try Self.kernelSelection(q, host: profile.spec)

        let cursor = q["cursor"]
        let page: VMPage
        var counts: [VMConfigCount]?
        do {
            page = try store.listVMs(VMQuery(hostProfile: name, limit: limit, cursor: cursor))
            if cursor == nil { counts = try store.vmConfigCounts(hostProfile: name) }
        } catch {
            throw problem(error, subject: "the kernel plan of " + Self.hostSubject(name), pointers: QueryParameters.pointer)
        }

        var planner = KernelPlanner(host: profile.spec.hostProfile, from: profile.spec.kernelSelection, to: target,
                                    baselines: Self.planBaselines)
        var encoded: [VMConfig: [UInt8]] = [:]
        return .json(capacity: 1024 + 160 * page.items.count) { w in
            w.beginObject()
            w.member("host_profile", name)
            w.key("before")
            PlanWire.writeKernel(planner.before, to: &w)
            w.key("after")
            PlanWire.writeKernel(planner.after, to: &w)
            if let counts {
                w.key("summary")
                PlanWire.writeSummary(counts.map { (planner.plan($0.config), $0.count) }, to: &w)
            }
            w.key("items")
            w.beginArray()
            for r in page.items {
                let config = r.vmConfig
                let members: [UInt8]
                if let known = encoded[config] {
                    members = known
                } else {
                    members = PlanWire.encodedPlanMembers(planner.plan(config))
                    encoded[config] = members
                }
                w.beginObject()
                w.member("vm", r.id)
                w.rawMembers(maxBytes: members.count) { out in
                    _ = out.initialize(from: members)
                    return members.count
                }
                w.endObject()
            }
            w.endArray()
            VMWire.writeCursor(page.nextCursor, to: &w)
            w.endObject()
        }
    }

    // MARK: - Placements

    /// `GET /v1/vms/{id}/placements`: every host profile, with whether the VM
    /// keeps its behaviour there (what a scheduler asks before a live migration).
    func getPlacements(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        _ = try QueryParameters(c.request, allowed: [])
        let id = c.capture("id")
        let record = try loadVM(store, id)
        var profiles: [HostProfileRecord] = []
        let home: HostSpec?
        do {
            home = try store.resolveHost(of: record)
            var cursor: String?
            repeat {
                let page = try store.listHosts(limit: VMQuery.maxLimit, cursor: cursor)
                profiles += page.items
                cursor = page.nextCursor
            } while cursor != nil
        } catch {
            throw problem(error, subject: "the placements of " + Self.vmSubject(id))
        }
        guard let home else {
            throw Problem.conflict("VM '\(id)' references host profile '\(record.host.profileName ?? "")', which does not exist")
        }
        let vm = record.vmConfig
        let homeBehaviour = Behaviour(vm: vm, on: home.placement)
        return .json(capacity: 1024 + 1024 * profiles.count) { w in
            w.beginObject()
            w.key("vm")
            VMWire.writeSummary(record, to: &w)
            if let p = record.host.profileName { w.member("host_profile", p) }
            w.key("home")
            PlanWire.writeSide(homeBehaviour, to: &w)
            w.key("items")
            w.beginArray()
            for p in profiles {
                let verdict = PlacementVerdict(home: homeBehaviour, there: Behaviour(vm: vm, on: p.spec.placement))
                PlanWire.writeVerdict(name: p.name, current: p.name == record.host.profileName, verdict, to: &w)
            }
            w.endArray()
            w.endObject()
        }
    }

    // MARK: - Risks

    static let riskParameters = ["host_profile", "limit", "cursor"]
    static let riskRepeatable = ["label"]
    /// At most this many VMs are read per request; a page may then hold fewer
    /// than `limit` risks and still have a `next_cursor`.
    static let riskScanBudget = 20 * VMQuery.maxLimit

    /// `GET /v1/risks?label=k=v&host_profile=&limit=&cursor=`: the VMs whose
    /// stored config gives the bochs framebuffer a type other than WB, in id
    /// order. Reads the VM listing a page of 1000 at a time until `limit`
    /// risks are found, the budget is read, or the listing ends; each
    /// distinct (config, host, guest display) is assessed once per request.
    func getRisks(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let store = try requireStore()
        let q = try QueryParameters(c.request, allowed: Self.riskParameters, repeatable: Self.riskRepeatable)
        let limit = try q.limit()
        var query = VMQuery(labels: try Self.labelFilters(q), hostProfile: q["host_profile"], limit: VMQuery.maxLimit, cursor: q["cursor"])

        var assessed: [RiskKey: BochsRisk?] = [:]
        var hosts: [String: HostSpec?] = [:]
        var found: [(VMRecord, BochsRisk)] = []
        var scanned = 0
        var next: String?
        do {
            scan: while true {
                let page = try store.listVMs(query)
                for r in page.items {
                    scanned += 1
                    let host: HostSpec?
                    switch r.host {
                    case .inline(let spec): host = spec
                    case .profile(let name):
                        if let known = hosts[name] { host = known } else {
                            host = try store.getHost(name)?.spec
                            hosts[name] = host
                        }
                    }
                    if let host, BochsDevices.matching(r.displayDevices).count > 0 {
                        let key = RiskKey(vm: r.vmConfig, host: host, guest: r.guestDisplay)
                        let risk: BochsRisk?
                        if let known = assessed[key] { risk = known } else {
                            risk = Self.bochsRisk(key.vm, guest: key.guest, host: host)
                            assessed[key] = risk
                        }
                        if let risk { found.append((r, risk)) }
                    }
                    let pageEnds = r.id == page.items.last?.id
                    if found.count == limit || scanned >= Self.riskScanBudget {
                        // Stop here; more may follow unless this was the listing's last VM.
                        if !(pageEnds && page.nextCursor == nil) { next = VMQuery.cursor(after: r.id) }
                        break scan
                    }
                }
                guard let cursor = page.nextCursor else { break }
                query.cursor = cursor
            }
        } catch {
            throw problem(error, subject: "the risk listing", pointers: QueryParameters.pointer)
        }
        return .json(capacity: 512 + 1536 * found.count) { w in
            w.beginObject()
            w.member("scanned", scanned)
            w.key("items")
            w.beginArray()
            for (r, risk) in found { PlanWire.writeRiskItem(r, risk, to: &w) }
            w.endArray()
            VMWire.writeCursor(next, to: &w)
            w.endObject()
        }
    }
}
