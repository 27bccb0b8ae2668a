import HTTPServer
import JSON
import MemTypeEngine
import MemTypeWire

/// The stateless engine over HTTP: each handler decodes, calls the engine,
/// encodes. Request and response shapes are in openapi.yaml.
extension MemTypedService {
    static let engineRoutes: [Route] = [
        Route("POST", "/v1/decisions", json: true) { s, c throws(Problem) in try s.postDecision(c) },
        Route("POST", "/v1/decisions/batch", json: true) { s, c throws(Problem) in try s.postBatch(c) },
        Route("POST", "/v1/quirks/evaluate", json: true) { s, c throws(Problem) in try s.postQuirks(c) },
        Route("POST", "/v1/effective-type", json: true) { s, c throws(Problem) in try s.postEffectiveType(c) },
        Route("GET", "/v1/effective-types") { s, c throws(Problem) in s.getEffectiveTypes() },
        Route("POST", "/v1/mtrr/resolve", json: true) { s, c throws(Problem) in try s.postMTRRResolve(c) },
        Route("GET", "/v1/models") { s, c throws(Problem) in s.getModels() },
    ]

    /// Parses a body, or throws the 400 problem saying where it broke.
    static func parse(_ body: [UInt8]) throws(Problem) -> JSONValue {
        do {
            return try RequestError.parse(body)
        } catch {
            throw Problem(error)
        }
    }

    func postDecision(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        do {
            let request = try DecisionRequest(json: c.request.body)
            return .json(DecisionEngine.decide(request).json())
        } catch {
            throw Problem(error)
        }
    }

    func postBatch(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let items: [Result<DecisionRequest, InvalidField>]
        do {
            items = try DecisionBatch.decode(json: c.request.body, maxCount: configuration.maxBatchSize)
        } catch {
            throw Problem(error)
        }
        var w = JSONWriter(capacity: 2048 * max(1, items.count))
        w.beginObject()
        w.key("results")
        w.beginArray()
        for item in items {
            // One bad item is a problem object in its slot, not a failed batch.
            switch item {
            case .success(let request): DecisionEngine.decide(request).write(to: &w)
            case .failure(let error): Problem(invalid: error).write(to: &w)
            }
        }
        w.endArray()
        w.endObject()
        return .json(w.bytes)
    }

    func postQuirks(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let body = try Self.parse(c.request.body)
        let request: DecisionRequest
        do {
            request = try DecisionRequest(vmOnly: Field(body))
        } catch {
            throw Problem(invalid: error)
        }
        let model = request.kernel.model
        let q = QuirkEvaluator.evaluate(model: model, kernel: request.kernel.version, host: request.host, vm: request.vm)
        return .json { w in
            w.beginObject()
            w.key("model")
            model.write(to: &w, kernel: request.kernel.version)
            w.key("quirks")
            q.write(to: &w)
            w.endObject()
        }
    }

    func postEffectiveType(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let body = try Self.parse(c.request.body)
        let cell: EffectiveCell
        do throws(InvalidField) {
            let m = try Field(body).object(EffectiveTypeKey.self)
            var rowField: Field?, patField: Field?
            m.each(EffectiveTypeKey.self) { key, f in
                switch key {
                case .row: rowField = f
                case .pat: patField = f
                }
            }
            guard let rowField else { throw m.missing(EffectiveTypeKey.row.rawValue) }
            let row = try rowField.memoryType()
            guard let patField else { throw m.missing(EffectiveTypeKey.pat.rawValue) }
            guard let found = EffectiveTypeTable.cell(row: row, pat: try patField.memoryType()) else {
                throw rowField.invalid("UC- is not an MTRR or EPT type, so it has no row; rows are UC, WC, WT, WB, WP")
            }
            cell = found
        } catch {
            throw Problem(invalid: error)
        }
        return .json { cell.write(to: &$0) }
    }

    func getEffectiveTypes() -> HTTPResponse {
        .json(capacity: 8192) { ReferenceWire.writeEffectiveTypeTable(to: &$0) }
    }

    func getModels() -> HTTPResponse {
        .json { ReferenceWire.writeModels(to: &$0) }
    }

    func postMTRRResolve(_ c: RequestContext) throws(Problem) -> HTTPResponse {
        let body = try Self.parse(c.request.body)
        do {
            let resolve = try MTRRResolveRequest(Field(body))
            return .json { resolve.answer(to: &$0) }
        } catch {
            throw Problem(invalid: error)
        }
    }
}
