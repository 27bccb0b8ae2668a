internal import CMicroHTTPD
internal import CMicroHTTPDShim

// The libmicrohttpd callbacks: global `let` C function pointers made from
// non-capturing closures in this library module (nonisolated; never in a
// main.swift, whose top-level code is main-actor isolated and traps when a
// worker thread runs it). `cls` is the ServerCore, retained by DaemonControl
// while the daemon runs.
//
// Per-request protocol (MHD_AccessHandlerCallback):
//   1st call  (*con_cls == NULL): headers are in. Allocate RequestState, store
//             it in *con_cls and return MHD_YES without queueing a response
//             (queueing now would make MHD close the connection afterwards;
//             not queueing is also what lets MHD send "100 Continue").
//             Exceptions, answered at once, before any of the body is read
//             (MHD then closes the connection): a Content-Length above the
//             cap (413); HTTP/1.1 without Host, or Content-Length together
//             with Transfer-Encoding (400).
//   Nth call  (*upload_data_size > 0): append to the body, set
//             *upload_data_size = 0. A chunked body that outgrows the cap is
//             freed and the rest discarded (MHD 0.9.75 accepts no response
//             mid-body), up to max(cap, 64 KiB) more bytes; beyond that
//             MHD_NO drops the connection.
//   last call (*upload_data_size == 0): build the HTTPRequest, call the
//             handler, queue the response.
//   NOTIFY_COMPLETED: free RequestState, whether the request was answered,
//             aborted mid-upload or cut by MHD_stop_daemon.

/// Per-request state, stored in `*con_cls` from the first handler call to
/// NOTIFY_COMPLETED.
struct RequestState {
    var body: [UInt8] = []
    /// The body went past `maxBodyBytes`; it is no longer buffered.
    var bodyTooLarge = false
    /// Bytes discarded since then (chunked bodies only).
    var discarded = 0
    /// A response has been queued; later calls only drain input.
    var responded = false
}

let accessHandlerCallback: MHD_AccessHandlerCallback = {
    cls, connection, url, method, version, uploadData, uploadDataSize, conCls in
    guard let cls, let connection, let uploadDataSize, let conCls else { return .NO }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()

    guard let raw = conCls.pointee else {
        return core.beginRequest(connection, conCls, version: version)
    }
    let state = raw.assumingMemoryBound(to: RequestState.self)
    let size = uploadDataSize.pointee
    if size != 0 {
        uploadDataSize.pointee = 0
        return core.receiveBody(connection, state, UnsafeRawBufferPointer(start: uploadData, count: size))
    }
    return core.finishRequest(connection, state, url: url, method: method)
}

let requestCompletedCallback: MHD_RequestCompletedCallback = { cls, _, conCls, _ in
    guard let cls, let conCls, let raw = conCls.pointee else { return }
    conCls.pointee = nil
    let state = raw.assumingMemoryBound(to: RequestState.self)
    state.deinitialize(count: 1)
    state.deallocate()
    Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue().add(.inFlight, -1)
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
        version: UnsafePointer<CChar>?
    ) -> MHD_Result {
        let state = UnsafeMutablePointer<RequestState>.allocate(capacity: 1)
        state.initialize(to: RequestState())
        conCls.pointee = UnsafeMutableRawPointer(state)
        add(.inFlight, 1)

        // RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400
        // (libmicrohttpd lets it through unless in its strict mode).
        if isHTTP11(version), MHD_lookup_connection_value(connection, .HEADER_KIND, "Host") == nil {
            state.pointee.responded = true
            return queueError(connection, 400, "The HTTP/1.1 request has no Host header.")
        }
        if let header = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length") {
            // RFC 9112 section 6.3: both framings at once is how requests are
            // smuggled past proxies; reject rather than pick one (libmicrohttpd
            // would use the chunked one and keep the connection open).
            if MHD_lookup_connection_value(connection, .HEADER_KIND, "Transfer-Encoding") != nil {
                state.pointee.responded = true
                return queueError(
                    connection, 400, "The request has both Content-Length and Transfer-Encoding headers.")
            }
            let length = parseContentLength(header)
            if length > maxBodyBytes {
                // Answer before reading the body. MHD will not send
                // "100 Continue" and closes the connection after the 413.
                state.pointee.bodyTooLarge = true
                state.pointee.responded = true
                return queueError(connection, 413, bodyTooLargeDetail)
            }
            if length > 0 {
                state.pointee.body.reserveCapacity(length)
            }
        }
        return .YES
    }

    @inline(__always)
    func receiveBody(
        _ connection: OpaquePointer, _ state: UnsafeMutablePointer<RequestState>, _ data: UnsafeRawBufferPointer
    ) -> MHD_Result {
        if state.pointee.responded {
            return .YES  // discard
        }
        if state.pointee.bodyTooLarge {
            // Discard the rest so the 413 can be sent when the body ends, but
            // not forever: past the drain limit, drop the connection.
            state.pointee.discarded &+= data.count
            return state.pointee.discarded > drainLimit ? .NO : .YES
        }
        if data.count > maxBodyBytes &- state.pointee.body.count {
            // Only a chunked body gets here (a declared length was checked in
            // beginRequest). Stop buffering and free what we have. Try to
            // answer 413 now; libmicrohttpd 0.9.75 refuses a response while
            // the body is being received, in which case the rest is discarded
            // and finishRequest answers.
            state.pointee.bodyTooLarge = true
            state.pointee.body = []
            state.pointee.discarded = data.count
            if queueError(connection, 413, bodyTooLargeDetail) == .YES {
                state.pointee.responded = true
            }
            return .YES
        }
        state.pointee.body.append(contentsOf: data)
        return .YES
    }

    @inline(__always)
    func finishRequest(
        _ connection: OpaquePointer, _ state: UnsafeMutablePointer<RequestState>,
        url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?
    ) -> MHD_Result {
        if state.pointee.responded {
            return .YES
        }
        state.pointee.responded = true
        if state.pointee.bodyTooLarge {
            return queueError(connection, 413, bodyTooLargeDetail)
        }

        var body: [UInt8] = []
        swap(&body, &state.pointee.body)
        let request = HTTPRequest(
            method: makeMethod(method),
            path: makePath(url),
            query: collectQuery(connection),
            headers: collectHeaders(connection),
            body: body
        )
        let response = handler.handle(request)
        guard (200...999).contains(response.status) else {
            return queueError(
                connection, 500, "The request handler returned the invalid status \(response.status).")
        }
        return queue(connection, response)
    }

    /// How much of an oversized chunked body is read and discarded before the
    /// connection is dropped without an answer.
    var drainLimit: Int { max(maxBodyBytes, 64 * 1024) }

    var bodyTooLargeDetail: String {
        "The request body exceeds the limit of \(maxBodyBytes) bytes."
    }

    func queueError(_ connection: OpaquePointer, _ status: Int, _ detail: String) -> MHD_Result {
        var response = errorResponder(status, detail)
        response.status = status
        return queue(connection, response)
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

    private func queue(_ connection: OpaquePointer, _ response: HTTPResponse) -> MHD_Result {
        let mhdResponse = response.body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for header in response.headers {
            // MHD computes Content-Length and refuses a handler-supplied one.
            if asciiCaseInsensitiveEquals(header.name, "Content-Length") { continue }
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
        return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
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

/// Parses a Content-Length value (MHD has already rejected malformed ones).
/// Returns Int.max on overflow and -1 if it is not a plain decimal number.
@inline(__always)
private func parseContentLength(_ text: UnsafePointer<CChar>) -> Int {
    var pointer = text
    while pointer.pointee == 0x20 || pointer.pointee == 0x09 { pointer += 1 }
    var value = 0
    var digits = 0
    while true {
        let c = UInt8(bitPattern: pointer.pointee)
        guard c >= 0x30, c <= 0x39 else { break }
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(Int(c - 0x30))
        if o1 || o2 { return Int.max }
        value = sum
        digits += 1
        pointer += 1
    }
    return digits > 0 ? value : -1
}
