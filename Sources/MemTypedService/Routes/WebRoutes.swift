import HTTPServer

/// The web page: `GET /` and the script and style sheet it loads from
/// `/web/{file}`, all embedded in the binary at build time from
/// `Resources/web/` (readable source, no build step, nothing fetched from
/// elsewhere). The page is a client of the public API like any other: it
/// calls the same routes with `fetch`, so it decides nothing itself.
extension MemTypedService {
    static let webRoutes: [Route] = [
        Route("GET", "/") { _, c throws(Problem) in WebAsset.page.response(c.request) },
        Route("GET", "/web/{file}") { _, c throws(Problem) in
            let name = c.capture("file")
            guard let asset = WebAsset.files.first(where: { $0.name == name }) else {
                throw MemTypedService.notFound("web page file \(name)")
            }
            return asset.response(c.request)
        },
    ]
}

/// One embedded file of the web page, with what is sent beside it.
struct WebAsset: Sendable {
    let name: String
    let contentType: String
    let body: [UInt8]
    /// A strong tag derived from the bytes, so a browser revalidates for
    /// free (304) and a new build's page is never taken from its cache.
    let etag: String

    init(_ name: String, _ contentType: String, _ body: [UInt8]) {
        self.name = name
        self.contentType = contentType
        self.body = body
        self.etag = "\"w" + String(WebAsset.fnv1a(body), radix: 16) + "\""
    }

    static let page = WebAsset("index.html", "text/html; charset=utf-8", PackageResources.index_html)
    /// What `/web/{file}` serves (openapi.yaml lists the same names).
    static let files = [
        WebAsset("memtyped.js", "text/javascript; charset=utf-8", PackageResources.memtyped_js),
        WebAsset("memtyped-plans.js", "text/javascript; charset=utf-8", PackageResources.memtyped_plans_js),
        WebAsset("memtyped.css", "text/css; charset=utf-8", PackageResources.memtyped_css),
    ]

    /// The page needs its own script, style sheet and API (same origin),
    /// and nothing else: no inline script or style, no other origin, no
    /// plugins, no framing, no form posts, no `<base>`. Its one image is
    /// the empty `data:` icon that keeps browsers from asking for /favicon.ico.
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// `no-cache` is "revalidate first", not "never store": with the ETag a
    /// reload costs a 304, and a rebuilt server's page is seen at once.
    var headers: [(name: String, value: String)] {
        [("Content-Type", contentType), ("ETag", etag), ("Cache-Control", "no-cache"),
         ("Content-Security-Policy", WebAsset.contentSecurityPolicy),
         ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
    }

    /// 200 with the file, or 304 without it when `If-None-Match` names our
    /// tag (RFC 9110 13.1.2: weak comparison, `*` matches any current file).
    func response(_ request: HTTPRequest) -> HTTPResponse {
        let conditions = request.headers.values("If-None-Match")
        let matched = conditions.contains { value in
            value.split(separator: ",").contains { raw in
                let tag = String(raw).trimmingSpaces()
                return tag == "*" || tag == etag || tag == "W/" + etag
            }
        }
        return matched ? HTTPResponse(status: 304, headers: headers.filter { $0.name != "Content-Type" })
            : HTTPResponse(status: 200, headers: headers, body: body)
    }

    /// 64-bit FNV-1a: not a security hash, only a cheap change detector for a cache tag.
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return hash
    }
}
