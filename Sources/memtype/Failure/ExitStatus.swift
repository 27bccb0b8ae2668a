/// The exit codes a script can rely on (`memtype --help` and the README list
/// them). Every failure maps to one of these, and this is the one place
/// that says which.
enum ExitStatus: Int32, CaseIterable {
    case ok = 0
    /// The answer could not be written out (stdout full, failing or closed):
    /// whatever the server said, the caller did not get it.
    case outputFailed = 1
    /// A bad argument, request body or token: nothing a retry would fix.
    case badInput = 2
    /// The VM, host profile or baseline does not exist (404).
    case notFound = 3
    /// The stored state refused the request: a conflict (409), a failed
    /// precondition such as creating a VM that exists (412), or a VM whose
    /// pinned quirk mask its host's KVM would refuse.
    case conflict = 4
    /// The server could not be reached or failed (5xx); a retry may work.
    case unavailable = 5

    /// The status for an HTTP error answer.
    init(httpStatus status: Int) {
        switch status {
        case 404: self = .notFound
        case 409, 412: self = .conflict
        // A timeout or a rate limit (from a proxy in front: memtyped sends
        // neither) passes like a busy server: a retry may work.
        case 408, 429, 500...: self = .unavailable
        default: self = .badInput  // 400, 401, 403, 405, 413, 415, 422, a redirect, ...
        }
    }

    /// One line each, for `--help` and the README.
    static let legend = """
        Exit status: 0 ok; 1 the output could not be written; 2 bad input (arguments, request body, or a token \
        the server refuses: 400, 401, 403, 413, 415, 422); 3 not found (404); \
        4 conflict or failed precondition (409, 412, or a pinned quirk mask \
        the host's KVM would refuse); 5 server unreachable, timed out or \
        failing (5xx, 408, 429).
        """
}
