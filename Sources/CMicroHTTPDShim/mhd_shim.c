#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "mhd_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- daemon */

static int
hex_value (char c)
{
  if ( (c >= '0') && (c <= '9') )
    return c - '0';
  if ( (c >= 'a') && (c <= 'f') )
    return c - 'a' + 10;
  if ( (c >= 'A') && (c <= 'F') )
    return c - 'A' + 10;
  return -1;
}

/**
 * MHD_OPTION_UNESCAPE_CALLBACK: like MHD's default (decode "%HH", leave
 * malformed escapes alone) except that three escapes are kept literally:
 * - "%00": the URL reaches the access handler as a C string, so a decoded
 *   NUL would silently cut the path short ("/admin%00.json" would route as
 *   "/admin");
 * - "%2F": a decoded slash would split a path segment, so
 *   "/v1/vms/web-01%2Fhistory" would route as the history of "web-01";
 * - "%25": kept so that the Swift side can finish decoding query arguments
 *   ("%2F" to "/", "%25" to "%") in one unambiguous pass; left alone, "%252F"
 *   would become "%2F" here and "/" there.
 * MHD applies this to the path and to each query name and value alike;
 * the path keeps the three escapes, query arguments lose the last two in
 * HTTPServer's collectQueryPairCallback.
 */
static size_t
unescape_keeping_nul (void *cls, struct MHD_Connection *connection, char *s)
{
  char *r = s;
  char *w = s;
  (void) cls;
  (void) connection;
  while ('\0' != *r)
  {
    if ('%' == r[0])
    {
      int hi = hex_value (r[1]);
      int lo = (hi >= 0) ? hex_value (r[2]) : -1;
      int v = (lo >= 0) ? hi * 16 + lo : -1;
      if ( (v > 0) && ('/' != v) && ('%' != v) )
      {
        *w++ = (char) v;
        r += 3;
        continue;
      }
    }
    *w++ = *r++;
  }
  *w = '\0';
  return (size_t) (w - s);
}

struct MHD_Daemon *
mhd_shim_start_daemon (const struct mhd_shim_config *cfg,
                       MHD_AccessHandlerCallback handler,
                       MHD_RequestCompletedCallback completed,
                       MHD_NotifyConnectionCallback connection_notify,
                       void *cls,
                       struct mhd_shim_guard **guard)
{
  /* MHD_USE_ITC: MHD_quiesce_daemon needs it with internal threads, and it
     is how a pool thread learns of a connection MHD_add_connection queued
     for it (own_accept). */
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
  struct MHD_OptionItem items[12];
  size_t n = 0;
  struct MHD_Daemon *daemon;
  struct mhd_shim_guard *g;
  int mhd_fd;

  *guard = NULL;
  /* Every callback goes through the guard (mhd_guard.c) first. */
  g = mhd_shim_guard_create (cfg, handler, completed, connection_notify, cls);
  if (NULL == g)
    return NULL;

  /* poll(), not epoll, in both modes. poll() has no FD_SETSIZE limit like
     select(). And libmicrohttpd 0.9.75's edge-triggered epoll loses a client's
     FIN that arrives together with request data (a partial upload, then
     close): the read that drains the data does not see the EOF, the edge is
     spent, and the connection and its request stay until the idle timeout,
     holding a body buffer and counting as in flight, which also holds up a
     graceful stop. Level-triggered poll() sees the EOF on the next pass. With
     64 keep-alive clients both cost the same CPU per request; with ~800, poll
     costs up to ~30% more. */
  if (MHD_YES == MHD_is_feature_supported (MHD_FEATURE_POLL))
    flags |= MHD_USE_POLL;
  else
    flags |= MHD_USE_AUTO;
  if (cfg->thread_per_connection)
  {
    flags |= MHD_USE_THREAD_PER_CONNECTION;
  }
  else
  {
    if (cfg->thread_pool_size > 1)
    {
      items[n].option = MHD_OPTION_THREAD_POOL_SIZE;
      items[n].value = (intptr_t) cfg->thread_pool_size;
      items[n].ptr_value = NULL;
      n++;
    }
  }
  if (cfg->allow_suspend)
    flags |= MHD_ALLOW_SUSPEND_RESUME;
  if (cfg->ipv6)
    flags |= MHD_USE_IPv6;
  if (cfg->log_errors)
    flags |= MHD_USE_ERROR_LOG;

  if (cfg->own_accept)
  {
    /* The caller accepts (mhd_accept.c) and adds each connection. With a
       thread pool too: microhttpd.h still says MHD_USE_NO_LISTEN_SOCKET
       ignores MHD_OPTION_THREAD_POOL_SIZE, but the ChangeLog of 0.9.72 fixed
       that ("Sun 25 Oct 2020: Fixed broken MHD with thread-pool and without
       listening socket ... Re-implemented scheme of handling of externally
       added connections"): MHD_add_connection queues the connection for a
       pool thread and wakes it through the ITC. */
    flags |= MHD_USE_NO_LISTEN_SOCKET;
    mhd_fd = -1;
  }
  else
  {
    /* MHD gets its own descriptor for the socket: on some failure paths
       MHD_start_daemon closes the listen socket it was given, on others not,
       so the caller's descriptor must stay the caller's. */
    mhd_fd = fcntl (cfg->listen_fd, F_DUPFD_CLOEXEC, 0);
    if (mhd_fd < 0)
    {
      mhd_shim_guard_destroy (g);
      return NULL;
    }
    items[n].option = MHD_OPTION_LISTEN_SOCKET;
    items[n].value = (intptr_t) mhd_fd;
    items[n].ptr_value = NULL;
    n++;
  }
  if (0 != cfg->connection_limit)
  {
    /* With our acceptor, the hard limit is its own (mhd_accept.c). MHD
       divides its limit evenly over the poll threads, and a thread closes,
       unanswered, a connection handed to it past its share; the share is
       made the whole hard limit, so that only the acceptor's pause counts. */
    uint64_t limit = mhd_shim_hard_connection_limit (cfg);
    if (cfg->own_accept)  /* set only with more than one poll thread */
      limit *= cfg->thread_pool_size;
    items[n].option = MHD_OPTION_CONNECTION_LIMIT;
    items[n].value = (intptr_t) ((limit > INT32_MAX) ? INT32_MAX : limit);
    items[n].ptr_value = NULL;
    n++;
  }
  if (0 != cfg->per_ip_connection_limit)
  {
    items[n].option = MHD_OPTION_PER_IP_CONNECTION_LIMIT;
    items[n].value = (intptr_t) cfg->per_ip_connection_limit;
    items[n].ptr_value = NULL;
    n++;
  }
  if (0 != cfg->connection_memory_limit)
  {
    items[n].option = MHD_OPTION_CONNECTION_MEMORY_LIMIT;
    items[n].value = (intptr_t) cfg->connection_memory_limit;
    items[n].ptr_value = NULL;
    n++;
  }
  items[n].option = MHD_OPTION_CONNECTION_TIMEOUT;
  items[n].value = (intptr_t) cfg->connection_timeout;
  items[n].ptr_value = NULL;
  n++;
  if ( (NULL != cfg->tls_cert_pem) && (NULL != cfg->tls_key_pem) )
  {
    flags |= MHD_USE_TLS;
    items[n].option = MHD_OPTION_HTTPS_MEM_CERT;
    items[n].value = 0;
    items[n].ptr_value = (void *) cfg->tls_cert_pem;
    n++;
    items[n].option = MHD_OPTION_HTTPS_MEM_KEY;
    items[n].value = 0;
    items[n].ptr_value = (void *) cfg->tls_key_pem;
    n++;
  }
  items[n].option = MHD_OPTION_END;
  items[n].value = 0;
  items[n].ptr_value = NULL;

  daemon = MHD_start_daemon (flags, 0,
                             NULL, NULL,
                             mhd_shim_guard_access_handler (), g,
                             MHD_OPTION_NOTIFY_COMPLETED, mhd_shim_guard_completed_handler (), g,
                             MHD_OPTION_NOTIFY_CONNECTION, mhd_shim_guard_notify_handler (), g,
                             MHD_OPTION_UNESCAPE_CALLBACK, unescape_keeping_nul, NULL,
                             MHD_OPTION_ARRAY, items,
                             MHD_OPTION_END);
  if (NULL == daemon)
  {
    /* Close MHD's descriptor unless MHD already did. It is safe to tell:
       the caller's descriptor keeps the socket (and so its inode) alive, so
       a descriptor number reused by another thread has a different inode. */
    struct stat ours;
    struct stat theirs;
    if ( (mhd_fd >= 0) &&
         (0 == fstat (cfg->listen_fd, &ours)) &&
         (0 == fstat (mhd_fd, &theirs)) &&
         (ours.st_dev == theirs.st_dev) &&
         (ours.st_ino == theirs.st_ino) )
      (void) close (mhd_fd);
    mhd_shim_guard_destroy (g);
    return NULL;
  }
  *guard = g;
  return daemon;
}

unsigned int
mhd_shim_hard_connection_limit (const struct mhd_shim_config *cfg)
{
  /* Spare slots above the limit: at its limit libmicrohttpd (or the
     acceptor) stops accepting and new clients wait in the backlog; below
     it, the guard sees each connection past the limit at once and evicts or
     refuses. */
  if (0 == cfg->connection_limit)
    return 0;
  return cfg->connection_limit + 64 + cfg->connection_limit / 8;
}

int
mhd_shim_tls_supported (void)
{
  return MHD_YES == MHD_is_feature_supported (MHD_FEATURE_TLS);
}

/* ------------------------------------------------------------- sockets */

int
mhd_shim_listen (const char *host, int port, int backlog,
                 int *bound_port, int *is_ipv6,
                 int *stage, int *err_no)
{
  struct addrinfo hints;
  struct addrinfo *res = NULL;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int fd;
  int one = 1;
  int rc;

  *stage = MHD_SHIM_LISTEN_OK;
  *err_no = 0;
  memset (&hints, 0, sizeof (hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  rc = getaddrinfo (host, NULL, &hints, &res);
  if ( (0 != rc) || (NULL == res) ||
       ( (AF_INET != res->ai_family) && (AF_INET6 != res->ai_family) ) ||
       (res->ai_addrlen > sizeof (addr)) )
  {
    if (NULL != res)
      freeaddrinfo (res);
    *stage = MHD_SHIM_LISTEN_BAD_HOST;
    *err_no = EINVAL;
    return -1;
  }
  memset (&addr, 0, sizeof (addr));
  memcpy (&addr, res->ai_addr, res->ai_addrlen);
  addr_len = (socklen_t) res->ai_addrlen;
  freeaddrinfo (res);
  if (AF_INET == addr.ss_family)
  {
    ((struct sockaddr_in *) &addr)->sin_port = htons ((uint16_t) port);
    *is_ipv6 = 0;
  }
  else
  {
    ((struct sockaddr_in6 *) &addr)->sin6_port = htons ((uint16_t) port);
    *is_ipv6 = 1;
  }

  fd = socket (addr.ss_family, SOCK_STREAM, 0);
  if (fd < 0)
  {
    *stage = MHD_SHIM_LISTEN_SOCKET;
    *err_no = errno;
    return -1;
  }
  if ( (0 != fcntl (fd, F_SETFD, FD_CLOEXEC)) ||
       (0 != fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK)) ||
       (0 != setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one))) ||
       ( *is_ipv6 &&
         (0 != setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof (one))) ) )
  {
    *stage = MHD_SHIM_LISTEN_SOCKET;
    *err_no = errno;
    close (fd);
    return -1;
  }
  if (0 != bind (fd, (struct sockaddr *) &addr, addr_len))
  {
    *stage = MHD_SHIM_LISTEN_BIND;
    *err_no = errno;
    close (fd);
    return -1;
  }
  if (0 != listen (fd, backlog))
  {
    *stage = MHD_SHIM_LISTEN_LISTEN;
    *err_no = errno;
    close (fd);
    return -1;
  }
  addr_len = sizeof (addr);
  if (0 != getsockname (fd, (struct sockaddr *) &addr, &addr_len))
  {
    *stage = MHD_SHIM_LISTEN_GETSOCKNAME;
    *err_no = errno;
    close (fd);
    return -1;
  }
  if (AF_INET == addr.ss_family)
    *bound_port = ntohs (((struct sockaddr_in *) &addr)->sin_port);
  else
    *bound_port = ntohs (((struct sockaddr_in6 *) &addr)->sin6_port);
  return fd;
}

void
mhd_shim_refuse_connections (int listen_fd)
{
  if (listen_fd >= 0)
    (void) shutdown (listen_fd, SHUT_RD);
}

void
mhd_shim_close (int fd)
{
  if (fd >= 0)
    (void) close (fd);
}

void
mhd_shim_strerror (int err_no, char *buf, size_t len)
{
  if (0 == len)
    return;
  /* strerror() returns static strings for known codes in glibc >= 2.32. */
  snprintf (buf, len, "%s", strerror (err_no));
}

/* ---------------------------------------------------------------- files */

char *
mhd_shim_read_file (const char *path, size_t *len, int *err_no)
{
  const size_t max_size = 1024 * 1024;
  struct stat st;
  char *buf;
  size_t got = 0;
  int fd;

  *len = 0;
  *err_no = 0;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
  {
    *err_no = errno;
    return NULL;
  }
  if (0 != fstat (fd, &st))
  {
    *err_no = errno;
    close (fd);
    return NULL;
  }
  if (! S_ISREG (st.st_mode))
  {
    *err_no = S_ISDIR (st.st_mode) ? EISDIR : EINVAL;
    close (fd);
    return NULL;
  }
  if ((size_t) st.st_size > max_size)
  {
    *err_no = EFBIG;
    close (fd);
    return NULL;
  }
  buf = malloc ((size_t) st.st_size + 1);
  if (NULL == buf)
  {
    *err_no = ENOMEM;
    close (fd);
    return NULL;
  }
  while (got < (size_t) st.st_size)
  {
    ssize_t r = read (fd, buf + got, (size_t) st.st_size - got);
    if (r < 0)
    {
      if (EINTR == errno)
        continue;
      *err_no = errno;
      mhd_shim_free_secret (buf, got);
      close (fd);
      return NULL;
    }
    if (0 == r)
      break;
    got += (size_t) r;
  }
  close (fd);
  buf[got] = '\0';
  *len = got;
  return buf;
}

void
mhd_shim_free_secret (char *p, size_t len)
{
  if (NULL == p)
    return;
  volatile char *v = p;
  for (size_t i = 0; i < len; i++)
    v[i] = 0;
  free (p);
}

/* ---------------------------------------------------- time and threads */

int
mhd_shim_cpu_count (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return (n < 1) ? 1 : (int) n;
}

int64_t
mhd_shim_monotonic_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
mhd_shim_sleep_ns (int64_t ns)
{
  struct timespec req;
  struct timespec rem;
  if (ns <= 0)
    return;
  req.tv_sec = (time_t) (ns / 1000000000);
  req.tv_nsec = (long) (ns % 1000000000);
  while (0 != nanosleep (&req, &rem) && EINTR == errno)
    req = rem;
}

struct mhd_shim_lock {
  pthread_mutex_t mutex;
};

struct mhd_shim_lock *
mhd_shim_lock_create (void)
{
  struct mhd_shim_lock *lock = malloc (sizeof (*lock));
  if (NULL == lock)
    abort ();
  pthread_mutex_init (&lock->mutex, NULL);
  return lock;
}

void
mhd_shim_lock_destroy (struct mhd_shim_lock *lock)
{
  if (NULL == lock)
    return;
  pthread_mutex_destroy (&lock->mutex);
  free (lock);
}

void
mhd_shim_lock_acquire (struct mhd_shim_lock *lock)
{
  pthread_mutex_lock (&lock->mutex);
}

void
mhd_shim_lock_release (struct mhd_shim_lock *lock)
{
  pthread_mutex_unlock (&lock->mutex);
}
