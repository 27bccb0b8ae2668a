import HTTPServer

/// A route: a method, a path pattern whose `{name}` segments capture, and
/// the handler. The table is explicit and small; matching is a linear scan
/// over pre-split patterns, which is faster than anything clever at this size.
/// A class: taking one from the table to match it is then one retain, not a
/// copy of every field.
final class Route: Sendable {
    let method: String
    /// The pattern as written, also the metrics label: `/v1/vms/{id}`.
    let pattern: String
    /// Needs a JSON body (POST/PUT/PATCH).
    let takesJSON: Bool
    /// The token access it needs (nil: none), checked by the pipeline
    /// before the body is read; the handler gets the token's name as
    /// `RequestContext.actor`.
    let access: TokenAuth.Access?
    /// It calls the store (which may wait on a database): the pipeline has
    /// the server run it on its store threads, off the poll threads that
    /// serve the stateless routes (`HTTPAdmission.offload`).
    let usesStore: Bool
    let handler: Handler

    typealias Handler = @Sendable (MemTypedService, RequestContext) throws(Problem) -> HTTPResponse

    /// Per pattern segment, where its literal is in `literalBytes`, or a
    /// count of -1 for a capture. Plain integers, so a scan over the table
    /// touches no reference counts.
    private let segments: [(offset: Int, count: Int)]
    private let literalBytes: [UInt8]
    /// The names of the `{name}` segments, in order.
    private let captureNames: [String]

    var segmentCount: Int { segments.count }

    init(_ method: String, _ pattern: String, json: Bool = false, auth access: TokenAuth.Access? = nil,
         store usesStore: Bool = false, _ handler: @escaping Handler) {
        self.method = method
        self.pattern = pattern
        var segments: [(offset: Int, count: Int)] = []
        var literalBytes: [UInt8] = []
        var captureNames: [String] = []
        for s in Route.split(pattern) {
            if s.hasPrefix("{") && s.hasSuffix("}") {
                segments.append((0, -1))
                captureNames.append(String(s.dropFirst().dropLast()))
            } else {
                segments.append((literalBytes.count, s.utf8.count))
                literalBytes.append(contentsOf: s.utf8)
            }
        }
        self.segments = segments
        self.literalBytes = literalBytes
        self.captureNames = captureNames
        self.takesJSON = json
        self.access = access
        self.usesStore = usesStore
        self.handler = handler
    }

    /// The non-empty `/`-separated segments of a path (`//a/` is `["a"]`).
    static func split(_ path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map { Substring($0) }
    }

    /// The captures if the path (its UTF-8, with `segmentCount` segments as
    /// `split` counts them) matches, else nil. Compares the literals first;
    /// strings (and the array) are made only for the captures of a match.
    func match(_ path: UnsafeBufferPointer<UInt8>, segmentCount: Int) -> [(name: String, value: String)]? {
        guard segmentCount == segments.count else { return nil }
        var k = 0
        for s in segments.indices {
            let (start, end) = Route.nextSegment(path, from: &k)
            let literal = segments[s]
            guard literal.count >= 0 else { continue }
            guard end - start == literal.count else { return nil }
            for i in 0..<literal.count where path[start + i] != literalBytes[literal.offset + i] { return nil }
        }
        guard !captureNames.isEmpty else { return [] }
        var captures: [(name: String, value: String)] = []
        captures.reserveCapacity(captureNames.count)
        k = 0
        for s in segments.indices {
            let (start, end) = Route.nextSegment(path, from: &k)
            guard segments[s].count < 0 else { continue }
            let value = String(decoding: UnsafeBufferPointer(rebasing: path[start..<end]), as: UTF8.self)
            captures.append((captureNames[captures.count], value))
        }
        return captures
    }

    /// The bounds of the next non-empty segment at or after `k`, which moves past it.
    @inline(__always)
    private static func nextSegment(_ path: UnsafeBufferPointer<UInt8>, from k: inout Int) -> (Int, Int) {
        while k < path.count && path[k] == UInt8(ascii: "/") { k += 1 }
        let start = k
        while k < path.count && path[k] != UInt8(ascii: "/") { k += 1 }
        return (start, k)
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

/// What a route handler sees: the request, its path captures and the
/// caller's token name ("anonymous" where the route needs none or reads are open).
struct RequestContext: Sendable {
    let request: HTTPRequest

    var captures: [(name: String, value: String)] { request.admission.parameters }
    var actor: String { request.admission.principal ?? "anonymous" }

    func capture(_ name: String) -> String {
        captures.first { $0.name == name }!.value
    }
}

/// Finds the route for a request: 404 when no pattern matches the path,
/// 405 (with `Allow`) when patterns match but not for this method.
struct Router: Sendable {
    let routes: [Route]
    /// Indexes into `routes` by segment count, in table order: a path is
    /// matched only against the patterns that have as many segments.
    private let bySegmentCount: [[Int]]

    init(routes: [Route]) {
        self.routes = routes
        var table = [[Int]](repeating: [], count: (routes.map(\.segmentCount).max() ?? 0) + 1)
        for (i, route) in routes.enumerated() { table[route.segmentCount].append(i) }
        bySegmentCount = table
    }

    enum Outcome {
        /// `route` indexes `routes` (and the metrics series).
        case found(route: Int, captures: [(name: String, value: String)])
        case notFound
        case methodNotAllowed(allowed: [String])
    }

    func resolve(method: String, path: String) -> Outcome {
        var path = path
        return path.withUTF8 { bytes in
            let count = Route.segmentCount(bytes)
            guard count < bySegmentCount.count else { return .notFound }
            var allowed: [String] = []
            for i in bySegmentCount[count] {
                guard let captures = routes[i].match(bytes, segmentCount: count) else { continue }
                if routes[i].method == method || (method == "HEAD" && routes[i].method == "GET") {
                    return .found(route: i, captures: captures)
                }
                if !allowed.contains(routes[i].method) { allowed.append(routes[i].method) }
            }
            return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
        }
    }
}
