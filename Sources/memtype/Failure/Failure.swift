import JSON

/// Why a command failed: what to print (one line on stderr) and the exit
/// status. Server problems (RFC 9457) are reduced to their `detail` and
/// `pointer`; local errors (a bad flag value, an invalid request decided
/// offline) take the same shape, so a script sees one format.
struct Failure: Error {
    var status: ExitStatus
    /// `422 Invalid field value`, `cannot reach http://...`: what kind of failure.
    var summary: String
    var detail: String?
    var pointer: String?

    /// The line printed on stderr: `memtype: 422 Invalid field value: "x" is not ... (at /access/gpa)`.
    var line: String {
        var text = "memtype: " + summary
        if let detail, !detail.isEmpty { text += ": " + detail }
        if let pointer { text += " (at \(pointer.isEmpty ? "the whole body" : pointer))" }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func badInput(_ detail: String, pointer: String? = nil) -> Failure {
        Failure(status: .badInput, summary: "invalid input", detail: detail, pointer: pointer)
    }

    /// A server's error answer: its problem's `title`, `detail` and `pointer`
    /// when the body is one, else the status and the start of the body.
    init(httpStatus: Int, body: [UInt8]) {
        status = ExitStatus(httpStatus: httpStatus)
        if let problem = try? JSONParser.parse(body), case .object = problem {
            summary = "\(httpStatus) " + (problem["title"]?.stringValue ?? "error")
            detail = problem["detail"]?.stringValue
            pointer = problem["pointer"]?.stringValue
            // The server's detail may start with the pointer ("/query/gpa: expected ..."); say it once.
            if let pointer, let d = detail, d.hasPrefix(pointer + ": ") { detail = String(d.dropFirst(pointer.count + 2)) }
            if let line = problem["line"]?.int64Value, let column = problem["column"]?.int64Value {
                detail = (detail ?? "") + " (line \(line), column \(column))"
            }
        } else {
            summary = "\(httpStatus) error"
            let text = String(decoding: body.prefix(200), as: UTF8.self)
            detail = text.isEmpty ? nil : text
        }
    }

    init(status: ExitStatus, summary: String, detail: String? = nil, pointer: String? = nil) {
        self.status = status
        self.summary = summary
        self.detail = detail
        self.pointer = pointer
    }
}
