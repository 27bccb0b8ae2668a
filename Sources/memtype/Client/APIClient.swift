import JSON

/// Calls operations of the memtyped API: builds the URL from the operation's
/// path template, adds the token and the body's media type, and turns every
/// outcome that is not a 2xx answer into a `Failure` with its exit status.
struct APIClient {
    let base: String
    let token: String?
    let transport: HTTPTransport
    let verbose: Bool

    func call(_ operation: APIOperation, _ pathArguments: String..., query: [(name: String, value: String)] = [],
              body: [UInt8]? = nil, headers: [(name: String, value: String)] = []) throws(Failure) -> HTTPResponse {
        var url = base + operation.path(pathArguments)
        if !query.isEmpty { url += "?" + URLEncoding.query(query) }
        var request = HTTPRequest(method: operation.method, url: url, headers: headers, body: body)
        request.headers.append(("Accept", "application/json, application/problem+json"))
        if let token { request.headers.append(("Authorization", "Bearer " + token)) }
        if body != nil, let type = operation.bodyType { request.headers.append(("Content-Type", type)) }
        if verbose { Terminal.error("memtype: \(operation.rawValue): \(request.method) \(url)") }
        let response: HTTPResponse
        do {
            response = try transport.send(request)
        } catch {
            switch error {
            case .badURL(let reason): throw Failure(status: .badInput, summary: "bad server URL \(base)", detail: reason)
            case .unreachable(let reason): throw Failure(status: .unavailable, summary: "cannot reach \(base)", detail: reason)
            }
        }
        if verbose { Terminal.error("memtype: \(operation.rawValue): \(response.status)") }
        if (300..<400).contains(response.status), let location = response.header("Location") {
            // memtyped never redirects: something in front of it does (http -> https, a moved host).
            throw Failure(status: .badInput, summary: "\(response.status) redirect to \(location)",
                          detail: "memtype does not follow redirects: use that address as --server (or MEMTYPE_SERVER)")
        }
        guard (200..<300).contains(response.status) else {
            throw Failure(httpStatus: response.status, body: response.body)
        }
        return response
    }
}
