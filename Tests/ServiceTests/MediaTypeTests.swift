import HTTPServer
import Testing
@testable import MemTypedService

/// `requireJSON` reads the Content-Type bytes in place; these hold it to the
/// plain String reading (cut at ";", trim spaces and tabs, lowercase ASCII,
/// then compare) and to the exact 415 problems.
@Suite struct MediaTypeTests {
    static func check(_ contentType: String?) -> Problem? {
        var headers = HTTPHeaders()
        if let contentType { headers.append(name: "Content-Type", value: contentType) }
        do throws(Problem) {
            try MemTypedService.requireJSON(HTTPRequest(method: "POST", path: "/v1/decisions", headers: headers))
            return nil
        } catch {
            return error
        }
    }

    /// The String reading the byte check replaced.
    static func reference(_ type: String) -> Bool {
        let essence = String(decoding: type.utf8.prefix { $0 != UInt8(ascii: ";") }, as: UTF8.self)
        let trimmed = String(essence.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        let lower = String(decoding: trimmed.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        return lower == "application/json" || (lower.hasPrefix("application/") && lower.hasSuffix("+json"))
    }

    @Test func acceptsJSONWithParametersCaseAndSpaces() {
        for type in ["application/json", "Application/JSON", "APPLICATION/JSON", "application/json; charset=utf-8",
                     "application/json;charset=UTF-8", "application/json;", " \tapplication/json\t ",
                     "  application/json  ; x=y", "application/merge-patch+json", "application/problem+JSON; a=b",
                     "application/vnd.api+json", "application/+json", "\tAPPLICATION/X+JSON\t;",
                     "application/é+json"] {
            #expect(Self.check(type) == nil, "\(type)")
        }
    }

    @Test func refusesEverythingElseWithThe415Problem() {
        for type in ["", " ", ";", "text/plain", "application/jsonx", "application/json x", "application/ json",
                     "application /json", "xapplication/json", "application/xml", "json", "+json",
                     "application+json", "application/json+xml", "application/jsön", "application/js", "application",
                     "application/", "application/+jso", "text/x+json", "; application/json", "application/json\u{0B}",
                     "application/jsonp; charset=utf-8"] {
            #expect(Self.check(type) == Problem.unsupportedMediaType(type), "\(type)")
            #expect(Self.check(type)?.detail == "send the body as Content-Type: application/json (got \(type))")
            #expect(Self.check(type)?.status == 415)
        }
        #expect(Self.check(nil) == Problem.unsupportedMediaType(nil))
        #expect(Self.check(nil)?.detail == "send the body as Content-Type: application/json (no Content-Type given)")
    }

    @Test func agreesWithTheStringReading() {
        let pads = ["", " ", "\t", " \t ", "\n"]
        let essences = ["application/json", "APPLICATION/Json", "application/jsonx", "application/x+json",
                        "application/+json", "application/json+", "application/x+jsoN", "application/x+json5",
                        "applicatio/x+json", "text/json", "application/x+jsom", "Application/Problem+Json", ""]
        let tails = ["", ";", "; charset=utf-8", " ;q=1", ";+json"]
        for a in pads {
            for e in essences {
                for b in pads {
                    for t in tails {
                        let type = a + e + b + t
                        #expect((Self.check(type) == nil) == Self.reference(type), "\(type)")
                    }
                }
            }
        }
    }
}
