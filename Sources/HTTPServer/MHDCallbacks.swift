internal import CMicroHTTPD
internal import CMicroHTTPDShim
import ASCII

// The libmicrohttpd callbacks: global `let` C function pointers made from
// non-capturing closures in this library module (nonisolated; never in a
// main.swift, whose top-level code is main-actor isolated and traps when a
// worker thread runs it). `cls` is the ServerCore, retained by DaemonControl
// while the daemon runs.
//
// Every callback passes through the C guard first (mhd_guard.c: deadlines,
// connection limit).
//
// Per-request protocol (MHD_AccessHandlerCallback):
//   1st call  (*con_cls == NULL): the head is in, no byte of the body has
//             been read. Allocate RequestState and store it in *con_cls. Then
//             the checks, each answered at once if it fails: a header value
//             cut at a NUL or a folded line (400), Host (400),
//             framing (400: Content-Length twice, or with Transfer-Encoding;
//             501: a coding other than chunked), head size (431), declared
//             length (413), the handler's `admit` (route, method, auth, media
//             type: its own answer), the in-flight body budget (503). An
//             answer queued now makes MHD skip "100 Continue", never read
//             the body, and close the connection after the response. If all
//             pass, build the HTTPRequest's head and return MHD_YES without a
//             response: MHD then sends "100 Continue" if asked and reads on.
//   Nth call  (*upload_data_size > 0): append to the body, set
//             *upload_data_size = 0. A chunked body that outgrows the cap or
//             the budget is freed and the rest discarded (MHD 0.9.75 accepts
//             no response mid-body), up to max(cap, 64 KiB) more bytes;
//             beyond that MHD_NO drops the connection.
//   last call (*upload_data_size == 0): attach the body, call the handler,
//             queue the response.
//   NOTIFY_COMPLETED: give back the body budget and free RequestState,
//             whether the request was answered, aborted mid-upload or cut by
//             MHD_stop_daemon.

/// Per-request state, stored in `*con_cls` from the first handler call to
/// NOTIFY_COMPLETED.
struct RequestState {
    /// The head, built in the first call (its body stays empty).
    var request = HTTPRequest(method: "", path: "")
    var body: [UInt8] = []
    /// Bytes of `maxBodyBytesInFlight` this request holds.
    var reserved = 0
    /// Non-zero: the body outgrew the cap (413) or the budget (503); it is
    /// no longer buffered and this status is the answer.
    var discardStatus = 0
    /// Bytes discarded since then (chunked bodies only).
    var discarded = 0
    /// A response has been queued; later calls only drain input.
    var responded = false
    /// The handler's `admit` has passed it (in the first call).
    var admitted = false
    /// The response an offload thread left for the poll thread to queue
    /// once the connection is resumed (see `Offload.swift`).
    var pending: HTTPResponse?
}

let accessHandlerCallback: MHD_AccessHandlerCallback = {
    cls, connection, url, method, version, uploadData, uploadDataSize, conCls in
    guard let cls, let connection, let uploadDataSize, let conCls else { return .NO }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()

    guard let raw = conCls.pointee else {
        return core.beginRequest(connection, conCls, url: url, method: method, version: version)
    }
    let state = raw.assumingMemoryBound(to: RequestState.self)
    let size = uploadDataSize.pointee
    if size != 0 {
        uploadDataSize.pointee = 0
        return core.receiveBody(connection, state, UnsafeRawBufferPointer(start: uploadData, count: size))
    }
    return core.finishRequest(connection, state)
}

let requestCompletedCallback: MHD_RequestCompletedCallback = { cls, _, conCls, _ in
    guard let cls, let conCls, let raw = conCls.pointee else { return }
    conCls.pointee = nil
    let state = raw.assumingMemoryBound(to: RequestState.self)
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    if state.pointee.reserved != 0 { core.add(.bodyBytesInFlight, -state.pointee.reserved) }
    state.deinitialize(count: 1)
    state.deallocate()
    core.add(.inFlight, -1)
}

let connectionNotifyCallback: MHD_NotifyConnectionCallback = { cls, _, _, code in
    guard let cls else { return }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    if code == .CONNECTION_NOTIFY_STARTED {
        core.add(.openConnections, 1)
        core.add(.acceptedConnections, 1)
    } else {
        core.add(.openConnections, -1)
    }
}

/// Where `writeHeaderCallback` puts the next header record.
struct HeaderCursor {
    let buffer: UnsafeMutableRawBufferPointer
    var offset = 0
    var count = 0
}

/// MHD_KeyValueIteratorN adding each header's record size to the Int that
/// `cls` points to (the first of the two passes that collect headers).
let sizeHeaderCallback: MHD_KeyValueIteratorN = { cls, _, key, keySize, value, valueSize in
    let size = cls.unsafelyUnwrapped.assumingMemoryBound(to: Int.self)
    size.pointee += HTTPHeaders.recordSize(name: key == nil ? 0 : keySize, value: value == nil ? 0 : valueSize)
    return .YES
}

/// MHD_KeyValueIteratorN writing each header's record at the `HeaderCursor`
/// that `cls` points to (the second pass).
let writeHeaderCallback: MHD_KeyValueIteratorN = { cls, _, key, keySize, value, valueSize in
    let cursor = cls.unsafelyUnwrapped.assumingMemoryBound(to: HeaderCursor.self)
    let name = UnsafeRawBufferPointer(start: key, count: key == nil ? 0 : keySize)
    let value = UnsafeRawBufferPointer(start: value, count: value == nil ? 0 : valueSize)
    // The list cannot change between the passes; never write past the buffer regardless.
    guard cursor.pointee.offset + HTTPHeaders.recordSize(name: name.count, value: value.count)
        <= cursor.pointee.buffer.count else { return .NO }
    cursor.pointee.offset = HTTPHeaders.writeRecord(name, value, to: cursor.pointee.buffer, at: cursor.pointee.offset)
    cursor.pointee.count += 1
    return .YES
}

/// MHD_KeyValueIteratorN appending query arguments to the
/// `[(name: String, value: String)]` that `cls` points to, with the decoding
/// the C unescape callback leaves to this side ("%2F" to "/", "%25" to "%").
let collectQueryPairCallback: MHD_KeyValueIteratorN = { cls, _, key, keySize, value, valueSize in
    let pairs = cls.unsafelyUnwrapped.assumingMemoryBound(to: [(name: String, value: String)].self)
    pairs.pointee.append((name: finishQueryDecoding(key, keySize), value: finishQueryDecoding(value, valueSize)))
    return .YES
}

/// Decodes the escapes `unescape_keeping_nul` keeps for query arguments:
/// "%2F"/"%2f" to "/" and "%25" to "%" ("%00" stays literal). One pass, so
/// "%252F" (which the C side turned into "%252F" unchanged) becomes "%2F".
private func finishQueryDecoding(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> String {
    guard let pointer, count > 0 else { return "" }
    let bytes = UnsafeRawBufferPointer(start: pointer, count: count)
    guard bytes.contains(UInt8(ascii: "%")) else { return String(decoding: bytes, as: UTF8.self) }
    var out: [UInt8] = []
    out.reserveCapacity(count)
    var i = 0
    while i < count {
        if bytes[i] == UInt8(ascii: "%"), i + 2 < count {
            let decoded: UInt8? = switch (bytes[i + 1], bytes[i + 2]) {
            case (UInt8(ascii: "2"), UInt8(ascii: "F")), (UInt8(ascii: "2"), UInt8(ascii: "f")): UInt8(ascii: "/")
            case (UInt8(ascii: "2"), UInt8(ascii: "5")): UInt8(ascii: "%")
            default: nil
            }
            if let decoded {
                out.append(decoded)
                i += 3
                continue
            }
        }
        out.append(bytes[i])
        i += 1
    }
    return String(decoding: out, as: UTF8.self)
}

extension ServerCore {
    @inline(__always)
    func beginRequest(
        _ connection: OpaquePointer, _ conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
        url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?, version: UnsafePointer<CChar>?
    ) -> MHD_Result {
        let state = UnsafeMutablePointer<RequestState>.allocate(capacity: 1)
        state.initialize(to: RequestState())
        conCls.pointee = UnsafeMutableRawPointer(state)
        add(.inFlight, 1)

        // libmicrohttpd 0.9.75 hands out header values cut at a NUL
        // ("Bearer TOKEN\0junk" reads as "Bearer TOKEN") and mangles a folded
        // line; the head it parsed in place still shows both (mhd_head.c).
        // RFC 9110 section 5.5 allows no NUL in a field value; RFC 9112
        // section 5.2 lets a server refuse obs-fold with 400.
        var faultName: UnsafePointer<CChar>?
        var faultNameSize = 0
        switch mhd_shim_request_head_fault(connection, method, &faultName, &faultNameSize) {
        case MHD_SHIM_HEAD_OK:
            break
        case MHD_SHIM_HEAD_NUL:
            let name = String(decoding: UnsafeRawBufferPointer(start: faultName, count: faultNameSize), as: UTF8.self)
            return refuse(connection, state, 400, "The \(name) header holds a NUL byte.")
        default:
            return refuse(connection, state, 400, "A header line is folded onto the next (obs-fold), which is not accepted.")
        }
        // RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400
        // (libmicrohttpd lets it through unless in its strict mode).
        if isHTTP11(version), MHD_lookup_connection_value(connection, .HEADER_KIND, "Host") == nil {
            return refuse(connection, state, 400, "The HTTP/1.1 request has no Host header.")
        }
        // RFC 9112 section 6.3: a request whose framing two parties could
        // read differently is how requests are smuggled; refuse and close
        // (libmicrohttpd 0.9.75 takes the first Content-Length, prefers
        // chunked over a Content-Length, and waits for the end of the
        // connection on an unknown coding).
        var declared: UInt64 = 0
        let framing = mhd_shim_request_framing(connection, &declared)
        switch framing {
        case MHD_SHIM_FRAMING_NONE, MHD_SHIM_FRAMING_LENGTH, MHD_SHIM_FRAMING_CHUNKED:
            break
        case MHD_SHIM_FRAMING_DUPLICATE_LENGTH:
            return refuse(connection, state, 400, "The request has more than one Content-Length header.")
        case MHD_SHIM_FRAMING_AMBIGUOUS:
            return refuse(connection, state, 400, "The request has both Content-Length and Transfer-Encoding headers.")
        case MHD_SHIM_FRAMING_UNSUPPORTED_CODING:
            return refuse(connection, state, 501, "Transfer-Encoding other than chunked is not supported.")
        default:
            return refuse(connection, state, 400, "The Content-Length header is not a decimal number.")
        }
        if mhd_shim_request_header_size(connection) > maxRequestHeaderBytes {
            let detail = "The request line and headers exceed the limit of \(maxRequestHeaderBytes) bytes."
            guard !tls else { return refuse(connection, state, 431, detail) }
            // Plain HTTP: written past libmicrohttpd, which may have too little
            // of the pool left to build any response's headers (see
            // HTTPServerConfiguration.maxRequestHeaderBytes); then closed.
            state.pointee.responded = true
            let raw = rawErrorResponse(431, detail)
            _ = raw.withUnsafeBytes { mhd_shim_send_raw(connection, $0.baseAddress, $0.count) }
            return .NO
        }
        let length = framing == MHD_SHIM_FRAMING_LENGTH ? Int(clamping: declared) : 0

        state.pointee.request = HTTPRequest(
            method: makeMethod(method),
            path: makePath(url),
            query: collectQuery(connection),
            headers: collectHeaders(connection),
            body: []
        )
        // A request without a body is admitted in the last call, which
        // follows at once: answered then, a refusal keeps the connection
        // alive (an answer queued in this first call makes MHD close it).
        guard framing != MHD_SHIM_FRAMING_NONE else { return .YES }
        state.pointee.admitted = true
        if let refusal = handler.admit(&state.pointee.request) {
            state.pointee.responded = true
            return queueHandlerResponse(connection, refusal)
        }
        if length > maxBodyBytes {
            return refuse(connection, state, 413, bodyTooLargeDetail)
        }
        if length > 0 {
            guard reserveBody(state, length) else {
                return refuse(connection, state, 503, bodyBudgetDetail)
            }
            state.pointee.body.reserveCapacity(length)
        }
        return .YES
    }

    /// Takes `bytes` more of the in-flight body budget for the request, or
    /// nothing and false if that would go past it.
    @inline(__always)
    private func reserveBody(_ state: UnsafeMutablePointer<RequestState>, _ bytes: Int) -> Bool {
        guard addAndLoad(.bodyBytesInFlight, bytes) <= maxBodyBytesInFlight else {
            add(.bodyBytesInFlight, -bytes)
            return false
        }
        state.pointee.reserved += bytes
        return true
    }

    private func refuse(
        _ connection: OpaquePointer, _ state: UnsafeMutablePointer<RequestState>, _ status: Int, _ detail: String
    ) -> MHD_Result {
        state.pointee.responded = true
        return queueError(connection, status, detail)
    }

    @inline(__always)
    func receiveBody(
        _ connection: OpaquePointer, _ state: UnsafeMutablePointer<RequestState>, _ data: UnsafeRawBufferPointer
    ) -> MHD_Result {
        if state.pointee.responded && state.pointee.discardStatus == 0 {
            return .YES  // discard
        }
        if state.pointee.discardStatus != 0 {
            // Discard the rest so the answer can be sent when the body ends,
            // but not forever: past the drain limit, drop the connection.
            state.pointee.discarded &+= data.count
            return state.pointee.discarded > drainLimit ? .NO : .YES
        }
        let total = state.pointee.body.count &+ data.count
        if total > state.pointee.reserved {
            // Only a chunked body gets here (a declared length was checked
            // and reserved in beginRequest). Stop buffering and free what we
            // have when it outgrows the cap or the budget. Try to answer now;
            // libmicrohttpd 0.9.75 refuses a response while the body is being
            // received, in which case the rest is discarded and
            // finishRequest answers.
            let status = total > maxBodyBytes ? 413 : (reserveBody(state, total - state.pointee.reserved) ? 0 : 503)
            if status != 0 {
                state.pointee.discardStatus = status
                state.pointee.body = []
                add(.bodyBytesInFlight, -state.pointee.reserved)
                state.pointee.reserved = 0
                state.pointee.discarded = data.count
                if queueError(connection, status, status == 413 ? bodyTooLargeDetail : bodyBudgetDetail) == .YES {
                    state.pointee.responded = true
                }
                return .YES
            }
        }
        state.pointee.body.append(contentsOf: data)
        return .YES
    }

    @inline(__always)
    func finishRequest(_ connection: OpaquePointer, _ state: UnsafeMutablePointer<RequestState>) -> MHD_Result {
        if state.pointee.pending != nil {
            // Resumed after its handler ran on the offload pool.
            var response: HTTPResponse? = nil
            swap(&response, &state.pointee.pending)
            return queueHandlerResponse(connection, response!)
        }
        if state.pointee.responded {
            return .YES
        }
        state.pointee.responded = true
        if state.pointee.discardStatus != 0 {
            let status = state.pointee.discardStatus
            return queueError(connection, status, status == 413 ? bodyTooLargeDetail : bodyBudgetDetail)
        }

        var request = HTTPRequest(method: "", path: "")
        swap(&request, &state.pointee.request)
        if !state.pointee.admitted, let refusal = handler.admit(&request) {
            return queueHandlerResponse(connection, refusal)
        }
        swap(&request.body, &state.pointee.body)
        if request.admission.offload, let offload {
            self.offload(connection, state, request, to: offload)
            return .YES
        }
        return queueHandlerResponse(connection, handler.handle(request))
    }

    @inline(__always)
    func queueHandlerResponse(_ connection: OpaquePointer, _ response: HTTPResponse) -> MHD_Result {
        guard (200...999).contains(response.status) else {
            return queueError(
                connection, 500, "The request handler returned the invalid status \(response.status).")
        }
        return queue(connection, response.status, response)
    }

    /// How much of an oversized chunked body is read and discarded before the
    /// connection is dropped without an answer.
    var drainLimit: Int { max(maxBodyBytes, 64 * 1024) }

    var bodyTooLargeDetail: String {
        "The request body exceeds the limit of \(maxBodyBytes) bytes."
    }

    var bodyBudgetDetail: String {
        "The server is receiving too many request bodies at once; retry shortly."
    }

    func queueError(_ connection: OpaquePointer, _ status: Int, _ detail: String) -> MHD_Result {
        queue(connection, status, errorResponse(status, detail))
    }

    /// The layer's own error response: the errorResponder's, with the status
    /// forced and, for 503, a Retry-After.
    func errorResponse(_ status: Int, _ detail: String) -> HTTPResponse {
        var response = errorResponder(status, detail)
        response.status = status
        if status == 503, !response.headers.contains(where: { $0.name.equalsIgnoringASCIICase("Retry-After") }) {
            response.headers.append((name: "Retry-After", value: "1"))
        }
        return response
    }

    /// An error response as the bytes of a whole HTTP/1.1 message that closes
    /// the connection (sent by the C guard, outside libmicrohttpd).
    func rawErrorResponse(_ status: Int, _ detail: String) -> [UInt8] {
        let response = errorResponse(status, detail)
        let reason = switch status {
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Error"
        }
        var head = "HTTP/1.1 \(status) \(reason)\r\n"
        for header in response.headers
        where !header.name.equalsIgnoringASCIICase("Content-Length")
            && !header.name.equalsIgnoringASCIICase("Connection") {
            head += "\(header.name): \(header.value)\r\n"
        }
        head += "Connection: close\r\nContent-Length: \(response.body.count)\r\n\r\n"
        return Array(head.utf8) + response.body
    }

    @inline(__always)
    private func collectQuery(_ connection: OpaquePointer) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        let count = MHD_get_connection_values_n(connection, .GET_ARGUMENT_KIND, nil, nil)
        guard count > 0 else { return pairs }
        pairs.reserveCapacity(Int(count))
        withUnsafeMutablePointer(to: &pairs) { pointer in
            _ = MHD_get_connection_values_n(connection, .GET_ARGUMENT_KIND, collectQueryPairCallback, pointer)
        }
        return pairs
    }

    /// Two passes over the headers, sizing then writing, so that they land
    /// in one exact allocation.
    @inline(__always)
    private func collectHeaders(_ connection: OpaquePointer) -> HTTPHeaders {
        var size = 0
        withUnsafeMutablePointer(to: &size) { pointer in
            _ = MHD_get_connection_values_n(connection, .HEADER_KIND, sizeHeaderCallback, pointer)
        }
        return HTTPHeaders(recordBytes: size) { buffer in
            var cursor = HeaderCursor(buffer: buffer)
            withUnsafeMutablePointer(to: &cursor) { pointer in
                _ = MHD_get_connection_values_n(connection, .HEADER_KIND, writeHeaderCallback, pointer)
            }
            return (cursor.offset, cursor.count)
        }
    }

    private func queue(_ connection: OpaquePointer, _ status: Int, _ response: HTTPResponse) -> MHD_Result {
        let mhdResponse = response.body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for header in response.headers {
            // MHD computes Content-Length and refuses a handler-supplied one.
            if header.name.equalsIgnoringASCIICase("Content-Length") { continue }
            // MHD refuses names/values with CR or LF (response splitting);
            // such a header is dropped. withCString lends the string's own
            // bytes; passing a String as a C pointer would copy it to an array.
            _ = header.name.withCString { name in
                header.value.withCString { value in MHD_add_response_header(mhdResponse, name, value) }
            }
        }
        if load(.draining) != 0 {
            // Stopping: tell keep-alive clients not to reuse this connection.
            _ = MHD_add_response_header(mhdResponse, "Connection", "close")
        }
        return MHD_queue_response(connection, UInt32(status), mhdResponse)
    }
}

/// The request method: the common ones as literals (no string to build
/// and validate), anything else as sent.
@inline(__always)
private func makeMethod(_ method: UnsafePointer<CChar>?) -> String {
    guard let m = method else { return "" }
    // Each && stops at the first mismatch, so no byte past the NUL is read.
    if m[0] == 0x47 && m[1] == 0x45 && m[2] == 0x54 && m[3] == 0 { return "GET" }
    if m[0] == 0x50 && m[1] == 0x4F && m[2] == 0x53 && m[3] == 0x54 && m[4] == 0 { return "POST" }
    return String(cString: m)
}

/// The request path: MHD's (already unescaped) URL, with the scheme and
/// authority of an absolute-form target ("http://host/p" -> "/p") removed.
@inline(__always)
private func makePath(_ url: UnsafePointer<CChar>?) -> String {
    guard let url, url.pointee != 0 else { return "/" }
    if url.pointee == 0x2F {  // "/": origin-form, the common case
        return String(cString: url)
    }
    // Absolute-form: skip "scheme://authority"; "*" and the like stay as is.
    var p = url
    while p.pointee != 0 {
        if p.pointee == 0x3A, p[1] == 0x2F, p[2] == 0x2F {  // "://"
            var q = p + 3
            while q.pointee != 0 && q.pointee != 0x2F { q += 1 }
            return q.pointee == 0 ? "/" : String(cString: q)
        }
        if p.pointee == 0x2F { break }
        p += 1
    }
    return String(cString: url)
}

/// True for exactly "HTTP/1.1".
@inline(__always)
private func isHTTP11(_ version: UnsafePointer<CChar>?) -> Bool {
    guard let v = version else { return false }
    return v[0] == 0x48 && v[1] == 0x54 && v[2] == 0x54 && v[3] == 0x50 && v[4] == 0x2F
        && v[5] == 0x31 && v[6] == 0x2E && v[7] == 0x31 && v[8] == 0
}
