internal import CMicroHTTPD
internal import CMicroHTTPDShim
import ASCII

// Offloading: `handle(_:)` for requests whose admission says `offload` runs
// on a small pool of threads apart from the poll threads (mhd_offload.c),
// so that a handler waiting on a database stalls no other connection.
//
// The life of an offloaded request, all from the last access handler call:
//   poll thread:    MHD_suspend_connection, then submit the job. (Suspend
//                   first: a pool thread may resume the connection before
//                   the submit returns.) A full queue or a stopping pool
//                   refuses the job: the handler's `unavailable` answer is
//                   left in `RequestState.pending` and the connection
//                   resumed at once.
//   offload thread: `handle(_:)` (or `unavailable` if the job waited past
//                   the queue timeout or the pool is stopping), the response
//                   left in `RequestState.pending`, MHD_resume_connection.
//                   Nothing touches the connection or its state after that.
//   poll thread:    libmicrohttpd calls the access handler again for the
//                   resumed request; `finishRequest` queues `pending`.
// Every suspend meets exactly one resume, and `DaemonControl.stop` stops the
// pool (which runs or answers every job it holds) before MHD_stop_daemon,
// which must not meet a suspended connection.

/// One offloaded request, owned by the pool from submit to its callback.
final class OffloadJob {
    let connection: OpaquePointer
    let state: UnsafeMutablePointer<RequestState>
    let request: HTTPRequest

    init(_ connection: OpaquePointer, _ state: UnsafeMutablePointer<RequestState>, _ request: HTTPRequest) {
        self.connection = connection
        self.state = state
        self.request = request
    }
}

/// The pool's run callback: `cls` is the ServerCore, `item` a retained OffloadJob.
let offloadCallback: mhd_shim_offload_fn = { cls, item, how in
    guard let cls, let item else { return }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    let job = Unmanaged<OffloadJob>.fromOpaque(item).takeRetainedValue()
    core.add(.offloadQueued, -1)
    core.add(.offloadRunning, 1)
    let response: HTTPResponse
    switch how {
    case MHD_SHIM_OFFLOAD_RUN:
        response = core.handler.handle(job.request)
    case MHD_SHIM_OFFLOAD_EXPIRED:
        core.add(.offloadExpired, 1)
        response = core.unavailableResponse(job.request, .queueTimeout)
    default:
        response = core.unavailableResponse(job.request, .stopping)
    }
    job.state.pointee.pending = response
    MHD_resume_connection(job.connection)
    core.add(.offloadRunning, -1)
}

extension ServerCore {
    /// Suspends the connection and hands its request to the offload pool
    /// (or, if the pool refuses it, answers 503 through a resume).
    func offload(
        _ connection: OpaquePointer, _ state: UnsafeMutablePointer<RequestState>, _ request: HTTPRequest,
        to pool: OpaquePointer
    ) {
        state.pointee.responded = true  // answered when resumed
        MHD_suspend_connection(connection)
        let job = Unmanaged.passRetained(OffloadJob(connection, state, request))
        add(.offloadQueued, 1)  // before the submit: a pool thread may take it at once
        guard mhd_shim_offload_submit(pool, job.toOpaque()) == 0 else { return }
        add(.offloadQueued, -1)
        add(.offloadRejected, 1)
        job.release()
        state.pointee.pending = unavailableResponse(request, load(.draining) != 0 ? .stopping : .queueFull)
        MHD_resume_connection(connection)
    }

    /// The handler's answer for a request it will not run, else the layer's
    /// own 503; a 503 always carries Retry-After.
    func unavailableResponse(_ request: HTTPRequest, _ why: HTTPUnavailable) -> HTTPResponse {
        let detail = switch why {
        case .queueFull: "Too many requests are waiting for a worker that may block; retry shortly."
        case .queueTimeout: "The request waited more than \(offloadQueueTimeoutMillis) ms for a worker; retry shortly."
        case .stopping: "The server is stopping; retry on another instance."
        }
        guard var response = handler.unavailable(request, why: why, detail: detail) else { return errorResponse(503, detail) }
        if response.status == 503, !response.headers.contains(where: { $0.name.equalsIgnoringASCIICase("Retry-After") }) {
            response.headers.append((name: "Retry-After", value: "1"))
        }
        return response
    }
}
