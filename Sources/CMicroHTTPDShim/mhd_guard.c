#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "mhd_shim.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/*
 * The connection guard: deadlines that bytes do not reset, and what happens
 * when every connection slot is taken.
 *
 * libmicrohttpd 0.9.75 has one timer per connection, the idle timeout, and
 * every byte received restarts it: a client that sends one header byte every
 * few seconds keeps its slot for ever (slowloris). And at its connection limit
 * it stops polling the listening socket, so new clients wait in the kernel's
 * backlog until a slot frees up.
 *
 * So the guard keeps its own list of the open connections (registered by the
 * connect/close notification), each with an absolute deadline:
 *   - accepted:              the first request's head must be complete
 *                            within header_timeout;
 *   - head complete:         its body within body_timeout (the first access
 *                            handler call marks the end of the head);
 *   - body complete:         none (the handler runs, the response is sent;
 *                            the idle timeout still covers a stalled reader);
 *   - response sent:         the next request's head within idle_timeout
 *                            (keep-alive), counted from the response, not
 *                            from the last byte.
 * A watchdog thread shuts the socket of a connection past its deadline down;
 * libmicrohttpd then sees end-of-stream and closes it the usual way (request
 * completed callback included). Shutting down, not closing: the descriptor
 * stays libmicrohttpd's. The list's lock is also taken by the close
 * notification, which libmicrohttpd sends before it closes the descriptor,
 * so the watchdog never touches a descriptor number that was reused.
 *
 * libmicrohttpd is given a few more slots than the configured limit, so that
 * it keeps accepting; a connection past the limit evicts the connection that
 * has waited longest for a request head (at least GUARD_EVICT_MIN_AGE_NS), or,
 * if there is none, is answered with the canned overflow response (plain
 * HTTP; with TLS it is only shut down) and shut down at once.
 */

/** A connection must have waited this long for a head to be evicted. */
#define GUARD_EVICT_MIN_AGE_NS ((int64_t) 1000000000)
/** How often the watchdog looks for expired deadlines. */
#define GUARD_TICK_NS ((int64_t) 200000000)

struct guard_conn {
  struct guard_conn *prev;
  struct guard_conn *next;
  int fd;
  /** Absolute CLOCK_MONOTONIC deadline in ns; 0 = none. Atomic. */
  int64_t deadline;
  /** When it started waiting for a request head; 0 while a request is under way. Atomic. */
  int64_t waiting_since;
};

struct mhd_shim_guard {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t thread;
  int thread_started;
  int stopping;
  struct guard_conn *head;
  unsigned int open;
  unsigned int limit;
  int64_t header_timeout_ns;
  int64_t body_timeout_ns;
  int64_t idle_timeout_ns;
  int tls;
  char *overflow_response;
  size_t overflow_response_len;
  /* Counters (atomic). */
  intptr_t started;
  intptr_t expired;
  intptr_t evicted;
  intptr_t refused;
  /* The application's callbacks, called after the guard's. */
  MHD_AccessHandlerCallback handler;
  MHD_RequestCompletedCallback completed;
  MHD_NotifyConnectionCallback notify;
  void *cls;
};

static int64_t
deadline_after (int64_t timeout_ns)
{
  return (0 == timeout_ns) ? 0 : mhd_shim_monotonic_ns () + timeout_ns;
}

static struct guard_conn *
conn_of (struct MHD_Connection *connection)
{
  const union MHD_ConnectionInfo *info =
    MHD_get_connection_info (connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return (NULL == info) ? NULL : (struct guard_conn *) info->socket_context;
}

/* Must hold g->lock. Shuts the connection down and clears its deadline. */
static void
drop_locked (struct guard_conn *c)
{
  __atomic_store_n (&c->deadline, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n (&c->waiting_since, 0, __ATOMIC_SEQ_CST);
  (void) shutdown (c->fd, SHUT_RDWR);
}

static void *
watchdog (void *arg)
{
  struct mhd_shim_guard *g = arg;
  pthread_mutex_lock (&g->lock);
  while (! g->stopping)
  {
    struct timespec until;
    int64_t now = mhd_shim_monotonic_ns ();
    for (struct guard_conn *c = g->head; NULL != c; c = c->next)
    {
      int64_t d = __atomic_load_n (&c->deadline, __ATOMIC_SEQ_CST);
      if ( (0 != d) && (now > d) )
      {
        /* Counted before the client can see the close, so that whoever
           sees it also sees the count (here and below). */
        __atomic_add_fetch (&g->expired, 1, __ATOMIC_SEQ_CST);
        drop_locked (c);
      }
    }
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_nsec += (long) GUARD_TICK_NS;
    if (until.tv_nsec >= 1000000000L)
    {
      until.tv_sec += 1;
      until.tv_nsec -= 1000000000L;
    }
    (void) pthread_cond_timedwait (&g->wake, &g->lock, &until);
  }
  pthread_mutex_unlock (&g->lock);
  return NULL;
}

static void
guard_notify (void *cls, struct MHD_Connection *connection,
              void **socket_context, enum MHD_ConnectionNotificationCode code)
{
  struct mhd_shim_guard *g = cls;
  if (MHD_CONNECTION_NOTIFY_STARTED == code)
  {
    const union MHD_ConnectionInfo *info =
      MHD_get_connection_info (connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct guard_conn *c = calloc (1, sizeof (*c));
    /* The acceptor's count of handovers still queued (mhd_accept.c). */
    __atomic_add_fetch (&g->started, 1, __ATOMIC_SEQ_CST);
    if ( (NULL != c) && (NULL != info) )
    {
      int64_t now = mhd_shim_monotonic_ns ();
      c->fd = info->connect_fd;
      c->waiting_since = now;
      c->deadline = (0 == g->header_timeout_ns) ? 0 : now + g->header_timeout_ns;
      pthread_mutex_lock (&g->lock);
      c->next = g->head;
      if (NULL != g->head)
        g->head->prev = c;
      g->head = c;
      g->open++;
      if (g->open > g->limit)
      {
        /* Over the limit: evict the longest wait for a head, else refuse. */
        struct guard_conn *victim = NULL;
        int64_t oldest = now - GUARD_EVICT_MIN_AGE_NS;
        for (struct guard_conn *v = c->next; NULL != v; v = v->next)
        {
          int64_t since = __atomic_load_n (&v->waiting_since, __ATOMIC_SEQ_CST);
          if ( (0 != since) && (since <= oldest) )
          {
            oldest = since;
            victim = v;
          }
        }
        if (NULL != victim)
        {
          __atomic_add_fetch (&g->evicted, 1, __ATOMIC_SEQ_CST);
          drop_locked (victim);
        }
        else
        {
          __atomic_add_fetch (&g->refused, 1, __ATOMIC_SEQ_CST);
          if ( (! g->tls) && (NULL != g->overflow_response) )
            (void) send (c->fd, g->overflow_response, g->overflow_response_len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
          drop_locked (c);
        }
      }
      pthread_mutex_unlock (&g->lock);
      *socket_context = c;
    }
    else
    {
      free (c);
      *socket_context = NULL;
    }
  }
  else
  {
    struct guard_conn *c = *socket_context;
    if (NULL != c)
    {
      pthread_mutex_lock (&g->lock);
      if (NULL != c->prev)
        c->prev->next = c->next;
      else
        g->head = c->next;
      if (NULL != c->next)
        c->next->prev = c->prev;
      g->open--;
      pthread_mutex_unlock (&g->lock);
      free (c);
      *socket_context = NULL;
    }
  }
  if (NULL != g->notify)
    g->notify (g->cls, connection, socket_context, code);
}

static enum MHD_Result
guard_access (void *cls, struct MHD_Connection *connection,
              const char *url, const char *method, const char *version,
              const char *upload_data, size_t *upload_data_size,
              void **con_cls)
{
  struct mhd_shim_guard *g = cls;
  struct guard_conn *c = conn_of (connection);
  if (NULL != c)
  {
    if (NULL == *con_cls)
    {
      /* First call: the head is complete; the body's clock starts. */
      __atomic_store_n (&c->waiting_since, 0, __ATOMIC_SEQ_CST);
      __atomic_store_n (&c->deadline, deadline_after (g->body_timeout_ns), __ATOMIC_SEQ_CST);
    }
    else if (0 == *upload_data_size)
    {
      /* Last call: the body is complete. */
      __atomic_store_n (&c->deadline, 0, __ATOMIC_SEQ_CST);
    }
  }
  return g->handler (g->cls, connection, url, method, version,
                     upload_data, upload_data_size, con_cls);
}

static void
guard_completed (void *cls, struct MHD_Connection *connection,
                 void **con_cls, enum MHD_RequestTerminationCode toe)
{
  struct mhd_shim_guard *g = cls;
  struct guard_conn *c = conn_of (connection);
  if ( (NULL != c) && (MHD_REQUEST_TERMINATED_COMPLETED_OK == toe) )
  {
    /* Kept alive: the next head is due within the idle timeout. */
    __atomic_store_n (&c->waiting_since, mhd_shim_monotonic_ns (), __ATOMIC_SEQ_CST);
    __atomic_store_n (&c->deadline, deadline_after (g->idle_timeout_ns), __ATOMIC_SEQ_CST);
  }
  g->completed (g->cls, connection, con_cls, toe);
}

struct mhd_shim_guard *
mhd_shim_guard_create (const struct mhd_shim_config *cfg,
                       MHD_AccessHandlerCallback handler,
                       MHD_RequestCompletedCallback completed,
                       MHD_NotifyConnectionCallback notify,
                       void *cls)
{
  struct mhd_shim_guard *g = calloc (1, sizeof (*g));
  if (NULL == g)
    return NULL;
  pthread_mutex_init (&g->lock, NULL);
  {
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&g->wake, &attr);
    pthread_condattr_destroy (&attr);
  }
  g->limit = cfg->connection_limit;
  g->header_timeout_ns = (int64_t) cfg->header_timeout * 1000000000;
  g->body_timeout_ns = (int64_t) cfg->body_timeout * 1000000000;
  g->idle_timeout_ns = (int64_t) cfg->connection_timeout * 1000000000;
  g->tls = (NULL != cfg->tls_cert_pem);
  if ( (NULL != cfg->overflow_response) && (0 != cfg->overflow_response_len) )
  {
    g->overflow_response = malloc (cfg->overflow_response_len);
    if (NULL != g->overflow_response)
    {
      memcpy (g->overflow_response, cfg->overflow_response, cfg->overflow_response_len);
      g->overflow_response_len = cfg->overflow_response_len;
    }
  }
  g->handler = handler;
  g->completed = completed;
  g->notify = notify;
  g->cls = cls;
  if ( (0 != g->header_timeout_ns) || (0 != g->body_timeout_ns) || (0 != g->idle_timeout_ns) )
  {
    if (0 != pthread_create (&g->thread, NULL, watchdog, g))
    {
      mhd_shim_guard_destroy (g);
      return NULL;
    }
    g->thread_started = 1;
  }
  return g;
}

void
mhd_shim_guard_stop (struct mhd_shim_guard *g)
{
  if ( (NULL == g) || (! g->thread_started) )
    return;
  pthread_mutex_lock (&g->lock);
  g->stopping = 1;
  pthread_cond_signal (&g->wake);
  pthread_mutex_unlock (&g->lock);
  pthread_join (g->thread, NULL);
  g->thread_started = 0;
}

void
mhd_shim_guard_destroy (struct mhd_shim_guard *g)
{
  if (NULL == g)
    return;
  mhd_shim_guard_stop (g);
  /* MHD_stop_daemon has sent every close notification: the list is empty. */
  pthread_cond_destroy (&g->wake);
  pthread_mutex_destroy (&g->lock);
  free (g->overflow_response);
  free (g);
}

void
mhd_shim_guard_counts (struct mhd_shim_guard *g, intptr_t *expired,
                       intptr_t *evicted, intptr_t *refused)
{
  *expired = (NULL == g) ? 0 : __atomic_load_n (&g->expired, __ATOMIC_SEQ_CST);
  *evicted = (NULL == g) ? 0 : __atomic_load_n (&g->evicted, __ATOMIC_SEQ_CST);
  *refused = (NULL == g) ? 0 : __atomic_load_n (&g->refused, __ATOMIC_SEQ_CST);
}

intptr_t
mhd_shim_guard_started (struct mhd_shim_guard *g)
{
  return (NULL == g) ? 0 : __atomic_load_n (&g->started, __ATOMIC_SEQ_CST);
}

MHD_AccessHandlerCallback mhd_shim_guard_access_handler (void) { return guard_access; }
MHD_RequestCompletedCallback mhd_shim_guard_completed_handler (void) { return guard_completed; }
MHD_NotifyConnectionCallback mhd_shim_guard_notify_handler (void) { return guard_notify; }

/* ------------------------------------------------------------- framing */

struct framing_scan {
  unsigned int lengths;
  unsigned int encodings;
  const char *length;
  size_t length_size;
  const char *encoding;
  size_t encoding_size;
};

static enum MHD_Result
scan_framing (void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
              const char *value, size_t value_size)
{
  struct framing_scan *s = cls;
  (void) kind;
  if ( (14 == key_size) && (0 == strncasecmp (key, "Content-Length", 14)) )
  {
    s->lengths++;
    s->length = value;
    s->length_size = (NULL == value) ? 0 : value_size;
  }
  else if ( (17 == key_size) && (0 == strncasecmp (key, "Transfer-Encoding", 17)) )
  {
    s->encodings++;
    s->encoding = value;
    s->encoding_size = (NULL == value) ? 0 : value_size;
  }
  return MHD_YES;
}

enum mhd_shim_framing
mhd_shim_request_framing (struct MHD_Connection *connection, uint64_t *length)
{
  struct framing_scan s;
  memset (&s, 0, sizeof (s));
  *length = 0;
  (void) MHD_get_connection_values_n (connection, MHD_HEADER_KIND, scan_framing, &s);
  if ( (0 != s.lengths) && (0 != s.encodings) )
    return MHD_SHIM_FRAMING_AMBIGUOUS;
  if (s.lengths > 1)
    return MHD_SHIM_FRAMING_DUPLICATE_LENGTH;
  if (s.encodings > 1)
    return MHD_SHIM_FRAMING_UNSUPPORTED_CODING;
  if (1 == s.encodings)
  {
    /* RFC 9112 section 6.1: chunked must be last; no other coding is supported. */
    if ( (7 == s.encoding_size) && (0 == strncasecmp (s.encoding, "chunked", 7)) )
      return MHD_SHIM_FRAMING_CHUNKED;
    return MHD_SHIM_FRAMING_UNSUPPORTED_CODING;
  }
  if (0 == s.lengths)
    return MHD_SHIM_FRAMING_NONE;
  /* RFC 9110 section 8.6: Content-Length = 1*DIGIT (MHD strips the OWS). */
  if (0 == s.length_size)
    return MHD_SHIM_FRAMING_BAD_LENGTH;
  {
    uint64_t v = 0;
    for (size_t i = 0; i < s.length_size; i++)
    {
      unsigned char ch = (unsigned char) s.length[i];
      if ( (ch < '0') || (ch > '9') )
        return MHD_SHIM_FRAMING_BAD_LENGTH;
      if (v > (UINT64_MAX - 9) / 10)
        v = UINT64_MAX; /* saturate: too large for any limit */
      else
        v = v * 10 + (uint64_t) (ch - '0');
    }
    *length = v;
  }
  return MHD_SHIM_FRAMING_LENGTH;
}

size_t
mhd_shim_request_header_size (struct MHD_Connection *connection)
{
  const union MHD_ConnectionInfo *info =
    MHD_get_connection_info (connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  return (NULL == info) ? 0 : info->header_size;
}

int
mhd_shim_send_raw (struct MHD_Connection *connection, const void *bytes, size_t len)
{
  const union MHD_ConnectionInfo *info =
    MHD_get_connection_info (connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  const char *p = bytes;
  if (NULL == info)
    return 0;
  while (len > 0)
  {
    ssize_t n = send (info->connect_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
    {
      if (EINTR == errno)
        continue;
      return 0;
    }
    p += n;
    len -= (size_t) n;
  }
  (void) shutdown (info->connect_fd, SHUT_WR);
  return 1;
}
