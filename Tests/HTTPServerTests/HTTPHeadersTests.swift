import Testing
@testable import HTTPServer

/// `HTTPHeaders` keeps the fields as bytes and makes strings on demand; these
/// hold it to the plain list-of-pairs behaviour it replaced.
@Suite struct HTTPHeadersTests {
    static let pairs: [(name: String, value: String)] = [
        ("Host", "127.0.0.1:8080"), ("Content-Type", "application/merge-patch+json"), ("X-One", "1"),
        ("x-one", ""), ("If-Match", #""r1", "r2""#), ("X-Long-Header-Name-Over-Fifteen", "é ü"),
    ]

    @Test func lookupIsCaseInsensitiveAndFirstWins() {
        let h = HTTPHeaders(Self.pairs)
        #expect(h["content-type"] == "application/merge-patch+json")
        #expect(h["CONTENT-TYPE"] == "application/merge-patch+json")
        #expect(h["X-ONE"] == "1")
        #expect(h.values("x-One") == ["1", ""])
        #expect(h["x-long-header-name-over-fifteen"] == "é ü")
        #expect(h["Content-Typ"] == nil)
        #expect(h["Content-Types"] == nil)
        #expect(h["Content_Type"] == nil)
        #expect(h.values("Accept") == [])
        #expect(h.contains("if-match"))
        #expect(!h.contains("if-none-match"))
        #expect(h.count == 6)
        #expect(h.firstValue("content-TYPE") { Array($0) == Array("application/merge-patch+json".utf8) } == true)
        #expect(h.firstValue("x-ONE") { Array($0) == Array("1".utf8) } == true)
        #expect(h.firstValue("x-one") { $0.isEmpty } == false)
        #expect(h.firstValue("Accept") { _ in true } == nil)
    }

    @Test func pairsRoundTripInOrder() {
        var h = HTTPHeaders(Self.pairs)
        #expect(h.pairs.map(\.name) == Self.pairs.map(\.name))
        #expect(h.pairs.map(\.value) == Self.pairs.map(\.value))
        h.append(name: "Accept", value: "*/*")
        #expect(h.pairs.last?.name == "Accept")
        #expect(h["accept"] == "*/*")
        h.pairs = [("A", "b")]
        #expect(h.count == 1)
        #expect(h["a"] == "b")
        #expect(h["Host"] == nil)
        let empty = HTTPHeaders()
        #expect(empty.count == 0 && empty.pairs.isEmpty && empty["Host"] == nil)
        let literal: HTTPHeaders = ["X-A": "1", "x-b": "2"]
        #expect(literal.pairs.map(\.name) == ["X-A", "x-b"])
        #expect(literal["X-B"] == "2")
    }

    /// The server's path: records written from raw bytes into one exact
    /// buffer; invalid UTF-8 is repaired only when a string is made, as
    /// `String(decoding:as:)` did when fields were collected as strings.
    @Test func rawRecordsBecomeStringsOnDemand() {
        let fields: [([UInt8], [UInt8])] = [(Array("X-Bin".utf8), [0x61, 0xFF, 0x62]), ([], []), (Array("Host".utf8), Array("h".utf8))]
        let size = fields.reduce(0) { $0 + HTTPHeaders.recordSize(name: $1.0.count, value: $1.1.count) }
        let h = HTTPHeaders(recordBytes: size) { buffer in
            var offset = 0
            for (name, value) in fields {
                offset = name.withUnsafeBytes { n in value.withUnsafeBytes { v in HTTPHeaders.writeRecord(n, v, to: buffer, at: offset) } }
            }
            return (offset, fields.count)
        }
        #expect(size == 8 + 5 + 3 + 8 + 8 + 4 + 1)
        #expect(h["x-bin"] == "a\u{FFFD}b")
        #expect(h[""] == "")
        #expect(h["HOST"] == "h")
        #expect(h.count == 3)
        #expect(h.pairs.map(\.name) == ["X-Bin", "", "Host"])
        #expect(HTTPHeaders(recordBytes: 0) { _ in (0, 0) }.pairs.isEmpty)
    }
}
