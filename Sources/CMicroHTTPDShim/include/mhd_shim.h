#ifndef MEMTYPED_MHD_SHIM_H
#define MEMTYPED_MHD_SHIM_H

/*
 * Thin C helpers between libmicrohttpd and the Swift HTTPServer module.
 *
 * Everything that is variadic, platform-specific (sockets, clocks, locks,
 * atomics) or awkward to express in Swift lives here, so the Swift side
 * needs neither Glibc nor Foundation.
 */

#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- daemon */

struct mhd_shim_guard;

/** Everything mhd_shim_start_daemon turns into MHD flags and options. */
struct mhd_shim_config {
  /**
   * Listening socket created by mhd_shim_listen. MHD gets a duplicate
   * (MHD_OPTION_LISTEN_SOCKET); this descriptor stays the caller's to close,
   * whether the start succeeds or fails. After MHD_quiesce_daemon (which
   * returns MHD's duplicate) and MHD_stop_daemon, close both.
   */
  int listen_fd;
  /** Non-zero when listen_fd is an AF_INET6 socket. */
  int ipv6;
  /** Non-zero: one thread per connection; zero: internal polling thread(s). */
  int thread_per_connection;
  /** Pool mode only: MHD_OPTION_THREAD_POOL_SIZE (0 or 1 = a single thread). */
  unsigned int thread_pool_size;
  /** MHD_OPTION_CONNECTION_LIMIT (0 = MHD default). */
  unsigned int connection_limit;
  /** MHD_OPTION_PER_IP_CONNECTION_LIMIT (0 = no per-address limit). */
  unsigned int per_ip_connection_limit;
  /** MHD_OPTION_CONNECTION_MEMORY_LIMIT in bytes (0 = MHD default). */
  size_t connection_memory_limit;
  /** MHD_OPTION_CONNECTION_TIMEOUT in seconds (0 = none). */
  unsigned int connection_timeout;
  /** NUL-terminated PEM buffers; both NULL for plain HTTP. */
  const char *tls_cert_pem;
  const char *tls_key_pem;
  /** Non-zero: MHD_USE_ERROR_LOG (MHD writes its diagnostics to stderr). */
  int log_errors;
  /**
   * Seconds a new connection has to deliver its first request head, and a
   * request its body once the head is in (0 = no deadline). Unlike
   * connection_timeout, bytes do not restart them; a kept-alive connection
   * has connection_timeout seconds from a response to the next head.
   * See mhd_guard.c.
   */
  unsigned int header_timeout;
  unsigned int body_timeout;
  /**
   * Sent as is to a plain-HTTP connection past connection_limit when no
   * connection waiting for a head can be evicted for it (then it is shut
   * down); NULL: shut down only. Copied.
   */
  const char *overflow_response;
  size_t overflow_response_len;
  /**
   * Non-zero: MHD_ALLOW_SUSPEND_RESUME, so that the access handler may
   * suspend a connection while its request runs on the offload pool.
   */
  int allow_suspend;
  /**
   * Non-zero: MHD gets no listening socket (MHD_USE_NO_LISTEN_SOCKET); the
   * caller accepts on listen_fd through mhd_shim_acceptor_start, which
   * spreads connections over the pool threads (by descriptor number, not
   * evenly) and holds the hard connection limit (mhd_accept.c).
   */
  int own_accept;
};

/** The connection count at which MHD itself refuses (MHD_OPTION_CONNECTION_LIMIT), 0 = MHD's default. */
unsigned int mhd_shim_hard_connection_limit (const struct mhd_shim_config *cfg);

struct mhd_shim_acceptor;

/**
 * Starts the thread that accepts on @a listen_fd (a daemon started with
 * own_accept, and its @a guard) and hands connections to @a daemon, pausing
 * while the connections it holds and those handed over but not yet started
 * (@a guard's started count) reach @a hard_limit (0: never). NULL on failure.
 */
struct mhd_shim_acceptor *
mhd_shim_acceptor_start (struct MHD_Daemon *daemon, struct mhd_shim_guard *guard,
                         int listen_fd, unsigned int hard_limit);

/**
 * Stops accepting (new connections are refused) and joins the thread.
 * Returns how many connections it handed over (NULL is fine: 0). Until
 * mhd_shim_guard_started reaches that number, some are still queued for a
 * poll thread, neither open nor in flight yet.
 */
intptr_t mhd_shim_acceptor_stop (struct mhd_shim_acceptor *acceptor);

/**
 * Starts a daemon. The notify callbacks are passed as typed arguments (not
 * through the intptr_t of an MHD_OptionItem), everything else through an
 * MHD_OPTION_ARRAY built from @a cfg. @a cls goes to all three callbacks.
 * URLs and query arguments are unescaped like MHD's default except that
 * "%00" is left as is. Returns NULL on failure.
 */
struct MHD_Daemon *
mhd_shim_start_daemon (const struct mhd_shim_config *cfg,
                       MHD_AccessHandlerCallback handler,
                       MHD_RequestCompletedCallback completed,
                       MHD_NotifyConnectionCallback connection_notify,
                       void *cls,
                       struct mhd_shim_guard **guard);

/* ----------------------------------------------------------------- guard */

/**
 * The connection guard (mhd_guard.c): deadlines for a request's head and
 * body that bytes do not restart, and eviction or refusal past the
 * connection limit. mhd_shim_start_daemon creates it (*guard); after
 * MHD_stop_daemon, mhd_shim_guard_destroy it.
 */
struct mhd_shim_guard *
mhd_shim_guard_create (const struct mhd_shim_config *cfg,
                       MHD_AccessHandlerCallback handler,
                       MHD_RequestCompletedCallback completed,
                       MHD_NotifyConnectionCallback notify,
                       void *cls);
/** Stops the watchdog thread (idempotent). */
void mhd_shim_guard_stop (struct mhd_shim_guard *guard);
void mhd_shim_guard_destroy (struct mhd_shim_guard *guard);
/** Connections libmicrohttpd has started (MHD_CONNECTION_NOTIFY_STARTED) so far. */
intptr_t mhd_shim_guard_started (struct mhd_shim_guard *guard);
/** Connections shut down for a missed deadline, evicted, refused at the limit. */
void mhd_shim_guard_counts (struct mhd_shim_guard *guard, intptr_t *expired,
                            intptr_t *evicted, intptr_t *refused);
MHD_AccessHandlerCallback mhd_shim_guard_access_handler (void);
MHD_RequestCompletedCallback mhd_shim_guard_completed_handler (void);
MHD_NotifyConnectionCallback mhd_shim_guard_notify_handler (void);

/* --------------------------------------------------------------- offload */

/** How an offloaded item reaches the run callback (mhd_offload.c). */
enum mhd_shim_offload_how {
  MHD_SHIM_OFFLOAD_RUN = 0,      /* a thread took it in time: run it */
  MHD_SHIM_OFFLOAD_EXPIRED = 1,  /* it waited in the queue past max_wait_ns */
  MHD_SHIM_OFFLOAD_STOPPING = 2  /* the pool stopped before a thread took it */
};

/** Called on a pool thread exactly once per submitted item. */
typedef void (*mhd_shim_offload_fn) (void *cls, void *item, enum mhd_shim_offload_how how);

struct mhd_shim_offload;

/** The pool threads' scheduling: SCHED_IDLE, or SCHED_OTHER at a nice value. */
enum mhd_shim_offload_policy
{
  MHD_SHIM_OFFLOAD_SCHED_NICE = 0,
  MHD_SHIM_OFFLOAD_SCHED_IDLE = 1
};

/**
 * Starts @a threads threads (each under @a policy; with _SCHED_NICE at nice
 * value @a nice when non-zero) and a FIFO queue of at most @a queue_limit
 * items. Items that waited longer than @a max_wait_ns (0: no limit) reach
 * @a fn as _EXPIRED. Returns once every thread has set its priority; NULL
 * on failure.
 */
struct mhd_shim_offload *
mhd_shim_offload_start (unsigned int threads, unsigned int queue_limit,
                        int64_t max_wait_ns,
                        enum mhd_shim_offload_policy policy, int nice,
                        mhd_shim_offload_fn fn, void *cls);

/** Non-zero when called on one of the offload pools' threads. */
int mhd_shim_on_offload_thread (void);

/** 0 if every thread took the configured priority, else the first errno. */
int mhd_shim_offload_priority_errno (struct mhd_shim_offload *pool);

/** Queues @a item; 0 (and nothing queued) when the queue is full or the pool stopping. */
int mhd_shim_offload_submit (struct mhd_shim_offload *pool, void *item);

/**
 * Stops taking items, hands every queued one to fn as _STOPPING, waits for
 * the running ones and joins the threads. Idempotent.
 */
void mhd_shim_offload_stop (struct mhd_shim_offload *pool);
void mhd_shim_offload_destroy (struct mhd_shim_offload *pool);

/* --------------------------------------------------------------- framing */

/** How a request's body is framed (RFC 9112 section 6), from its headers. */
enum mhd_shim_framing {
  MHD_SHIM_FRAMING_NONE = 0,              /* neither header: no body */
  MHD_SHIM_FRAMING_LENGTH = 1,            /* one valid Content-Length */
  MHD_SHIM_FRAMING_CHUNKED = 2,           /* Transfer-Encoding: chunked */
  MHD_SHIM_FRAMING_BAD_LENGTH = 3,        /* Content-Length not 1*DIGIT */
  MHD_SHIM_FRAMING_DUPLICATE_LENGTH = 4,  /* Content-Length more than once */
  MHD_SHIM_FRAMING_AMBIGUOUS = 5,         /* Content-Length and Transfer-Encoding */
  MHD_SHIM_FRAMING_UNSUPPORTED_CODING = 6 /* a Transfer-Encoding other than chunked */
};

/**
 * Scans the request headers once. For MHD_SHIM_FRAMING_LENGTH, *length is
 * the value (UINT64_MAX if it overflows).
 */
enum mhd_shim_framing
mhd_shim_request_framing (struct MHD_Connection *connection, uint64_t *length);

/** What mhd_shim_request_head_fault finds wrong with a request head. */
enum mhd_shim_head_fault {
  MHD_SHIM_HEAD_OK = 0,
  MHD_SHIM_HEAD_NUL = 1,    /* a header value libmicrohttpd cut at a NUL */
  MHD_SHIM_HEAD_FOLDED = 2  /* a header line folded onto the next (obs-fold) */
};

/**
 * Checks the request head for what libmicrohttpd 0.9.75 hides from the
 * access handler (mhd_head.c): a header value cut at a NUL (*name and
 * *name_size are then that header's name as libmicrohttpd lists it), or a
 * folded line. @a method is the access handler's method argument, the start
 * of the head. Reads only inside the head; allocates nothing.
 */
enum mhd_shim_head_fault
mhd_shim_request_head_fault (struct MHD_Connection *connection, const char *method,
                             const char **name, size_t *name_size);

/**
 * Writes a whole response straight to a plain-HTTP connection's socket and
 * shuts its sending side down; the access handler then returns MHD_NO, so
 * libmicrohttpd closes the connection. For answers libmicrohttpd 0.9.75
 * cannot send: it builds a response's headers in what the request left of
 * the connection's pool, and a large request head leaves too little.
 * Returns non-zero if every byte was handed to the kernel.
 */
int mhd_shim_send_raw (struct MHD_Connection *connection, const void *bytes, size_t len);

/** MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE (request line and headers, bytes). */
size_t mhd_shim_request_header_size (struct MHD_Connection *connection);

/** Non-zero if libmicrohttpd was built with TLS support. */
int mhd_shim_tls_supported (void);

/* ------------------------------------------------------------- sockets */

enum mhd_shim_listen_stage {
  MHD_SHIM_LISTEN_OK = 0,
  MHD_SHIM_LISTEN_BAD_HOST = 1,   /* not an IPv4/IPv6 literal */
  MHD_SHIM_LISTEN_SOCKET = 2,     /* socket() / fcntl() / setsockopt() */
  MHD_SHIM_LISTEN_BIND = 3,
  MHD_SHIM_LISTEN_LISTEN = 4,
  MHD_SHIM_LISTEN_GETSOCKNAME = 5
};

/**
 * Creates a non-blocking, close-on-exec TCP socket bound to @a host
 * (IPv4 or IPv6 literal) and @a port (0 = ephemeral) and listening.
 * Returns the descriptor, or -1 with *stage and *err_no set.
 */
int mhd_shim_listen (const char *host, int port, int backlog,
                     int *bound_port, int *is_ipv6,
                     int *stage, int *err_no);

/**
 * Makes a listening socket refuse new connections without closing the
 * descriptor (Linux: shutdown(SHUT_RD) on a listener resets the queue and
 * unhashes it, so SYNs are answered with RST). Harmless elsewhere.
 */
void mhd_shim_refuse_connections (int listen_fd);

void mhd_shim_close (int fd);

/** strerror(err_no) copied into @a buf. */
void mhd_shim_strerror (int err_no, char *buf, size_t len);

/* ---------------------------------------------------------------- files */

/**
 * Reads a whole (small, <= 1 MiB) file into a NUL-terminated malloc'd
 * buffer. Returns NULL with *err_no set (EFBIG for too large).
 */
char *mhd_shim_read_file (const char *path, size_t *len, int *err_no);

/** Zeroes @a len bytes of @a p, then frees it (for private keys). */
void mhd_shim_free_secret (char *p, size_t len);

/* ---------------------------------------------------- time and threads */

int mhd_shim_cpu_count (void);
int64_t mhd_shim_monotonic_ns (void);
void mhd_shim_sleep_ns (int64_t ns);

struct mhd_shim_lock;
struct mhd_shim_lock *mhd_shim_lock_create (void);
void mhd_shim_lock_destroy (struct mhd_shim_lock *lock);
void mhd_shim_lock_acquire (struct mhd_shim_lock *lock);
void mhd_shim_lock_release (struct mhd_shim_lock *lock);

/* -------------------------------------------------------------- atomics */

static inline intptr_t
mhd_shim_atomic_load (intptr_t *p)
{
  return __atomic_load_n (p, __ATOMIC_SEQ_CST);
}

static inline void
mhd_shim_atomic_store (intptr_t *p, intptr_t v)
{
  __atomic_store_n (p, v, __ATOMIC_SEQ_CST);
}

/** Adds @a delta and returns the new value. */
static inline intptr_t
mhd_shim_atomic_add (intptr_t *p, intptr_t delta)
{
  return __atomic_add_fetch (p, delta, __ATOMIC_SEQ_CST);
}

#ifdef __cplusplus
}
#endif

#endif
