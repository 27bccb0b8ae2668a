import HTTPServer

/// A request's id, for the access log and problem bodies: the caller's
/// `X-Request-Id` when it is usable, else the trace id of its W3C
/// `traceparent` (Trace Context, section 3.2), else one memtyped makes.
///
/// An id the caller sent is echoed in an `X-Request-Id` response header.
/// One is made only where it is used (a problem body, an access-log line):
/// the decision path neither draws random numbers nor adds a header for
/// callers that sent none.
enum RequestID {
    /// The caller's id, if it sent one this service can repeat safely:
    /// 1-128 visible ASCII characters (no spaces, no control characters, so
    /// it cannot break a log line or a header).
    static func incoming(_ request: HTTPRequest) -> String? {
        if let id = request.headers["X-Request-Id"], (1...128).contains(id.utf8.count),
           id.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            return id
        }
        if let parent = request.headers["traceparent"] { return traceID(parent) }
        return nil
    }

    /// The trace-id field of a traceparent header:
    /// `VERSION-TRACEID-PARENTID-FLAGS`, 2-32-16-2 lowercase hex digits, the
    /// version not `ff`, the trace id not all zeros.
    static func traceID(_ header: String) -> String? {
        let fields = header.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 4, fields[0].utf8.count == 2, fields[0] != "ff",
              fields[1].utf8.count == 32, fields[2].utf8.count == 16, fields[3].utf8.count == 2,
              fields.prefix(4).allSatisfy({ $0.utf8.allSatisfy(isLowerHex) }),
              fields[1].utf8.contains(where: { $0 != UInt8(ascii: "0") }) else { return nil }
        return String(fields[1])
    }

    /// 32 random lowercase hex digits (the shape of a trace id).
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(32)
        for _ in 0..<2 {
            var word = generator.next() as UInt64
            for _ in 0..<16 {
                out.append(digits[Int(word & 0xF)])
                word >>= 4
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isLowerHex(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x61...0x66).contains(b)
    }
}

/// One request's id as `admit`, `handle` and the access log share it: the
/// caller's, or one made on first use and the same after.
struct RequestIDSlot {
    let incoming: String?
    private var made: String?

    init(_ request: HTTPRequest) {
        incoming = RequestID.incoming(request)
    }

    mutating func value() -> String {
        if let id = incoming ?? made { return id }
        let id = RequestID.make()
        made = id
        return id
    }

    /// Echoes the caller's id in an `X-Request-Id` response header.
    func echo(in response: inout HTTPResponse) {
        if let incoming { response.headers.append(("X-Request-Id", incoming)) }
    }
}
