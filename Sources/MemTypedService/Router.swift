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

    /// `segments` as bytes, for matching without building strings.
    private let literals: [[UInt8]?]

    init(_ method: String, _ pattern: String, json: Bool = false,
         _ handler: @escaping Handler) {
        self.method = method
        self.pattern = pattern
        self.segments = Route.split(pattern).map { s in
            s.hasPrefix("{") && s.hasSuffix("}") ? .capture(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
        self.literals = segments.map { if case .literal(let s) = $0 { Array(s.utf8) } else { nil } }
        self.takesJSON = json
        self.handler = handler
    }

    /// The non-empty `/`-separated segments of a path (`//a/` is `["a"]`).
    static func split(_ path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map { Substring($0) }
    }

    /// The captures if the path (its UTF-8, with `segmentCount` segments as
    /// `split` counts them) matches, else nil. Walks the bytes once; strings
    /// are made only for the captures of a match.
    func match(_ path: UnsafeBufferPointer<UInt8>, segmentCount: Int) -> [(String, String)]? {
        guard segmentCount == segments.count else { return nil }
        var captured: [Range<Int>] = []
        var k = 0
        for literal in literals {
            while k < path.count && path[k] == UInt8(ascii: "/") { k += 1 }
            let start = k
            while k < path.count && path[k] != UInt8(ascii: "/") { k += 1 }
            if let literal {
                guard k - start == literal.count else { return nil }
                for i in 0..<literal.count where path[start + i] != literal[i] { return nil }
            } else {
                captured.append(start..<k)
            }
        }
        var captures: [(String, String)] = []
        captures.reserveCapacity(captured.count)
        var next = captured.makeIterator()
        for case .capture(let name) in segments {
            let range = next.next()!
            captures.append((name, String(decoding: UnsafeBufferPointer(rebasing: path[range]), as: UTF8.self)))
        }
        return captures
    }

    /// How many segments `split` finds in `path`.
    static func segmentCount(_ path: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var inSegment = false
        for b in path {
            if b == UInt8(ascii: "/") {
                inSegment = false
            } else if !inSegment {
                inSegment = true
                count += 1
            }
        }
        return count
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
        var path = path
        return path.withUTF8 { bytes in
            let count = Route.segmentCount(bytes)
            var allowed: [String] = []
            for route in routes {
                guard let captures = route.match(bytes, segmentCount: count) else { continue }
                if route.method == method || (method == "HEAD" && route.method == "GET") { return .found(route, captures) }
                if !allowed.contains(route.method) { allowed.append(route.method) }
            }
            return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
        }
    }
}
