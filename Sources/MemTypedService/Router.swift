import HTTPServer

/// A route: a method, a path pattern whose `{name}` segments capture, and
/// the handler. The table is explicit and small; matching is a linear scan
/// over pre-split patterns, which is faster than anything clever at this size.
struct Route: Sendable {
    let method: String
    /// The pattern as written, also the metrics label: `/v1/vms/{id}`.
    let pattern: String
    let segments: [Segment]
    /// Needs a JSON body (POST/PUT/PATCH).
    let takesJSON: Bool
    let handler: Handler

    typealias Handler = @Sendable (MemTypedService, RequestContext) throws(Problem) -> HTTPResponse

    enum Segment: Sendable, Equatable {
        case literal(String)
        case capture(String)
    }

    init(_ method: String, _ pattern: String, json: Bool = false,
         _ handler: @escaping Handler) {
        self.method = method
        self.pattern = pattern
        self.segments = Route.split(pattern).map { s in
            s.hasPrefix("{") && s.hasSuffix("}") ? .capture(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
        self.takesJSON = json
        self.handler = handler
    }

    static func split(_ path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map { Substring($0) }
    }

    /// The captures if `path` matches, else nil.
    func match(_ parts: [Substring]) -> [(String, String)]? {
        guard parts.count == segments.count else { return nil }
        var captures: [(String, String)] = []
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let s): if s != part { return nil }
            case .capture(let name): captures.append((name, String(part)))
            }
        }
        return captures
    }
}

/// What a route handler sees: the request plus its path captures.
struct RequestContext: Sendable {
    let request: HTTPRequest
    let route: Route
    let captures: [(String, String)]

    func capture(_ name: String) -> String {
        captures.first { $0.0 == name }!.1
    }
}

/// Finds the route for a request: 404 when no pattern matches the path,
/// 405 (with `Allow`) when patterns match but not for this method.
struct Router: Sendable {
    let routes: [Route]

    enum Outcome {
        case found(Route, [(String, String)])
        case notFound
        case methodNotAllowed(allowed: [String])
    }

    func resolve(method: String, path: String) -> Outcome {
        let parts = Route.split(path)
        var allowed: [String] = []
        for route in routes {
            guard let captures = route.match(parts) else { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") { return .found(route, captures) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }
}
