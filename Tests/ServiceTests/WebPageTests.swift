import HTTPTestSupport
import Testing
@testable import MemTypedService

/// `GET /` and `/web/{file}` over real HTTP: the page and what it loads, the
/// headers a browser acts on, and revalidation. (tests/web_test.py drives
/// the page itself in chromium.)
@Suite struct WebPageTests {
    @Test func thePageAndEveryFileItLoadsAreServedWithTheirHeaders() throws {
        let s = try TestServer()
        let page = try s.request("GET", "/")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.bodyText.hasPrefix("<!doctype html>"))
        #expect(page.body == WebAsset.page.body)
        // Every same-origin file the page names is served, with its own type.
        let named = WebPageTests.localReferences(page.bodyText)
        #expect(Set(named) == Set(WebAsset.files.map { "/web/" + $0.name }))
        for path in named {
            let file = try s.request("GET", path)
            #expect(file.status == 200, "\(path)")
            #expect(file.header("Content-Type") == (path.hasSuffix(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8"))
            #expect(!file.body.isEmpty)
        }
        for r in [page, try s.request("GET", "/web/memtyped.js")] {
            let csp = try #require(r.header("Content-Security-Policy"))
            // No inline script or style, nothing from elsewhere, no framing.
            #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"))
            #expect(!csp.contains("unsafe-inline") && !csp.contains("http"))
            #expect(r.header("Cache-Control") == "no-cache")
            #expect(r.header("X-Content-Type-Options") == "nosniff")
        }
    }

    @Test func aTagNamingTheFileIsA304WithoutBody() throws {
        let s = try TestServer()
        let first = try s.request("GET", "/")
        let tag = try #require(first.header("ETag"))
        #expect(tag.hasPrefix("\"w") && tag.hasSuffix("\""))
        for condition in [tag, "W/" + tag, "\"other\", \(tag)", "*"] {
            let again = try s.request("GET", "/", headers: [("If-None-Match", condition)])
            #expect(again.status == 304, "\(condition)")
            #expect(again.body.isEmpty)
            #expect(again.header("ETag") == tag)
        }
        for condition in ["\"other\"", "\"r1\"", tag.dropLast() + "0\"", ""] {
            #expect(try s.request("GET", "/", headers: [("If-None-Match", String(condition))]).status == 200, "\(condition)")
        }
        // Each file has its own tag.
        let js = try #require(try s.request("GET", "/web/memtyped.js").header("ETag"))
        #expect(js != tag)
        #expect(try s.request("GET", "/web/memtyped.css", headers: [("If-None-Match", js)]).status == 200)
    }

    @Test func aFileThatIsNotOneOfThePagesIs404AndOtherMethods405() throws {
        let s = try TestServer()
        for path in ["/web/nope.js", "/web/index.html", "/web/..%2Fopenapi.yaml", "/web"] {
            let r = try s.request("GET", path)
            #expect(r.status == 404, "\(path)")
            #expect(r.header("Content-Type") == "application/problem+json")
        }
        let post = try s.request("POST", "/", json: "{}")
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET")
        #expect(try s.request("HEAD", "/").status == 200)
    }

    @Test func theTagFollowsTheBytes() {
        let a = WebAsset("a", "text/plain", Array("page".utf8))
        #expect(a.etag == WebAsset("b", "text/plain", Array("page".utf8)).etag)
        #expect(a.etag != WebAsset("a", "text/plain", Array("pagf".utf8)).etag)
        // FNV-1a 64 reference values (the empty input is the offset basis).
        #expect(WebAsset.fnv1a([]) == 0xcbf2_9ce4_8422_2325)
        #expect(WebAsset.fnv1a(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
    }

    /// The `src` and `href` values of the page that are paths on this server.
    static func localReferences(_ html: String) -> [String] {
        var found: [String] = []
        for attribute in ["src=\"", "href=\""] {
            var rest = Substring(html)
            while let start = rest.range(of: attribute) {
                rest = rest[start.upperBound...]
                guard let end = rest.firstIndex(of: "\"") else { break }
                let value = String(rest[..<end])
                if value.hasPrefix("/web/") { found.append(value) }
            }
        }
        return found
    }
}
