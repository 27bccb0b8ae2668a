import CCurl
import CCurlShim

/// One HTTP exchange over libcurl: the request `memtype` sends and what came
/// back. libcurl rather than Foundation's URLSession: URLSession on Linux is
/// libcurl underneath too (FoundationNetworking links the system's
/// libcurl.so.4), so this is the same runtime dependency without linking
/// Foundation and its ICU data into a static `memtype`; HTTPS and HTTP/1.1
/// framing come from libcurl either way.
struct HTTPRequest {
    var method: String
    var url: String
    var headers: [(name: String, value: String)] = []
    var body: [UInt8]?
}

struct HTTPResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first header of that name (case-insensitive), without surrounding blanks.
    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// What can go wrong before an HTTP status arrives.
enum TransportError: Error {
    /// The URL cannot be used (libcurl's CURLE_URL_MALFORMAT, an unsupported scheme).
    case badURL(String)
    /// No answer: connection refused, name not resolved, TLS failure, timeout.
    case unreachable(String)
}

struct HTTPTransport {
    /// Seconds to wait for the connection, and for the whole exchange.
    var connectTimeout = 5
    var timeout = 30
    /// A PEM bundle of CA certificates to verify an HTTPS server against
    /// (a self-signed memtyped); nil: the system's.
    var caFile: String?

    func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
        guard let curl = curl_easy_init() else { throw .unreachable("libcurl could not start a transfer") }
        defer { curl_easy_cleanup(curl) }
        let sink = ResponseSink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // "Expect:" stops libcurl from waiting for 100 Continue before larger bodies.
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            headerList = curl_slist_append(headerList, line)
        }
        let body = request.body ?? []
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errors in
            body.withUnsafeBytes { bodyBytes in
                var rc = memtype_curl_set_error_buffer(curl, errors.baseAddress)
                func set(_ next: @autoclosure () -> CURLcode) { if rc == CURLE_OK { rc = next() } }
                set(memtype_curl_set_string(curl, CURLOPT_URL, request.url))
                set(memtype_curl_set_string(curl, CURLOPT_CUSTOMREQUEST, request.method))
                // Only the service's own schemes; no redirects (the API has none).
                set(memtype_curl_set_string(curl, CURLOPT_PROTOCOLS_STR, "http,https"))
                set(memtype_curl_set_long(curl, CURLOPT_NOSIGNAL, 1))
                set(memtype_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT, connectTimeout))
                set(memtype_curl_set_long(curl, CURLOPT_TIMEOUT, timeout))
                set(memtype_curl_set_headers(curl, headerList))
                if let caFile { set(memtype_curl_set_string(curl, CURLOPT_CAINFO, caFile)) }
                if request.body != nil {
                    set(memtype_curl_set_body(curl, bodyBytes.baseAddress, bodyBytes.count))
                } else if request.method == "HEAD" {
                    set(memtype_curl_set_long(curl, CURLOPT_NOBODY, 1))
                }
                set(memtype_curl_set_body_sink(curl, { data, size, count, context in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
                    sink.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
                    return size * count
                }, context))
                set(memtype_curl_set_header_sink(curl, { data, size, count, context in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
                    sink.header(UnsafeRawBufferPointer(start: data, count: size * count))
                    return size * count
                }, context))
                if rc == CURLE_OK { rc = curl_easy_perform(curl) }
                return rc
            }
        }
        guard code == CURLE_OK else {
            let reason = errorBuffer[0] != 0
                ? String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                : String(cString: curl_easy_strerror(code))
            switch code {
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: throw .badURL(reason)
            default: throw .unreachable(reason)
            }
        }
        return HTTPResponse(status: memtype_curl_status(curl), headers: sink.headers, body: sink.body)
    }
}

/// Collects the body and the header lines libcurl hands over.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []

    func header(_ line: UnsafeRawBufferPointer) {
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            headers = []  // a new response (after a 100 Continue): its headers only
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = String(text[..<colon])
        let value = text[text.index(after: colon)...].strippingBlanks()
        headers.append((name, value))
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, CR and LF. (`isNewline`, not `== "\r"`:
    /// a header line's CR LF is one Character, equal to neither.)
    func strippingBlanks() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0.isNewline }
        return String(drop(while: blank).reversed().drop(while: blank).reversed())
    }
}
