#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "mhd_shim.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * The acceptor: one thread that accepts on the listening socket and hands
 * each connection to libmicrohttpd with MHD_add_connection, which gives it
 * to pool thread (fd + i) % pool size, the first with room. So placement
 * follows the descriptor number: a burst of connections (consecutive
 * descriptors) alternates over the poll threads. With churn the kernel
 * reuses the lowest free descriptor, so it is a spread, not a balance.
 *
 * Why: when the pool threads accept for themselves (each polls the listening
 * socket), whichever is awake takes the next connection, and a client that
 * opens its connections in a burst (wrk, a VMM's connection pool at start)
 * can land them all on one poll thread, which then serves them alone. With
 * remote clients that leaves cores idle. On the 2-vCPU benchmark host, where
 * wrk needs the other core, it was the faster mode, and healthz swung
 * between ~95k and ~160k requests/s from one run to the next with nothing
 * else changed (BENCHMARKS.md, "Session 7").
 *
 * Cost: connection set-up goes through this one thread and a wake-up of the
 * chosen poll thread (libmicrohttpd's ITC); per request nothing changes.
 *
 * The acceptor is the hard connection limit (mhd_shim_hard_connection_limit):
 * when the connections libmicrohttpd holds plus those handed over but not
 * yet started reach it, it stops accepting (new clients wait in the backlog,
 * as they did when MHD accepted itself) and looks again every 10 ms. The
 * handovers count because MHD_add_connection only queues a connection for
 * its poll thread (internal_add_connection, libmicrohttpd 0.9.75 daemon.c);
 * the thread counts it (MHD_DAEMON_INFO_CURRENT_CONNECTIONS) when it takes
 * it, in new_connection_process_, and there closes it unanswered if its own
 * share of MHD's limit is full by then. So a burst read against the count
 * alone was all accepted and queued, and the excess closed with no response
 * (not even the guard's 503: the guard never saw it). "Started" is the
 * guard's count of MHD_CONNECTION_NOTIFY_STARTED, which comes right after
 * that check. MHD's own limit is set far above this one in this mode
 * (mhd_shim.c), since MHD divides it evenly over the poll threads and the
 * placement by descriptor is uneven.
 *
 * mhd_shim_acceptor_stop shuts the socket's receive side (a blocked accept()
 * returns, and new connections are refused rather than left in the backlog),
 * joins the thread and returns the number of handovers, so that a graceful
 * stop waits for the ones still queued (HTTPServer.swift, DaemonControl.stop)
 * instead of MHD_stop_daemon closing them unread.
 */

struct mhd_shim_acceptor {
  struct MHD_Daemon *daemon;
  struct mhd_shim_guard *guard;
  int listen_fd;
  unsigned int hard_limit;
  pthread_t thread;
  int stopping;
  /** Connections MHD_add_connection took: the acceptor thread's alone (stop
      reads it after joining that thread), so plain accesses. */
  intptr_t handed;
};

static unsigned int
current_connections (struct MHD_Daemon *d)
{
  const union MHD_DaemonInfo *info =
    MHD_get_daemon_info (d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
  return (NULL == info) ? 0 : info->num_connections;
}

static void *
acceptor_main (void *arg)
{
  struct mhd_shim_acceptor *a = arg;
  (void) pthread_setname_np (pthread_self (), "memtyped-accept");
  while (! __atomic_load_n (&a->stopping, __ATOMIC_SEQ_CST))
  {
    struct sockaddr_storage addr;
    socklen_t len = sizeof (addr);
    int fd;
    if ( (0 != a->hard_limit) &&
         ((intptr_t) current_connections (a->daemon)
          + a->handed
          - mhd_shim_guard_started (a->guard) >= (intptr_t) a->hard_limit) )
    {
      /* A started connection counts in both terms until the guard's
         notification (just after MHD counts it): a moment's overcount. */
      mhd_shim_sleep_ns (10000000);
      continue;
    }
    fd = accept4 (a->listen_fd, (struct sockaddr *) &addr, &len,
                  SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
    {
      if ( (EAGAIN == errno) || (EWOULDBLOCK == errno) )
      {
        /* The listening socket is non-blocking: wait for the next client
           (the shutdown in mhd_shim_acceptor_stop wakes the poll too). */
        struct pollfd p = { .fd = a->listen_fd, .events = POLLIN };
        (void) poll (&p, 1, 1000);
        continue;
      }
      if ( (EINTR == errno) || (ECONNABORTED == errno) )
        continue;
      /* The EINVAL after mhd_shim_acceptor_stop's shutdown ends the loop
         through `stopping`. Anything else (out of descriptors or memory, a
         network error accept(2) says to retry, a security module's refusal)
         must not end accepting while the server looks healthy: the backlog
         holds the clients, and the next try comes 10 ms later. */
      mhd_shim_sleep_ns (10000000);
      continue;
    }
    /* On failure (the per-address limit, out of memory) MHD closes the
       socket itself and nothing was queued. A queued connection whose start
       fails on its poll thread (out of memory for its pool) is never
       started, so it counts against the limit until the server stops, and
       a graceful stop waits for it until the grace period ends. */
    if (MHD_YES == MHD_add_connection (a->daemon, fd, (const struct sockaddr *) &addr, len))
      a->handed++;
  }
  return NULL;
}

struct mhd_shim_acceptor *
mhd_shim_acceptor_start (struct MHD_Daemon *daemon, struct mhd_shim_guard *guard,
                         int listen_fd, unsigned int hard_limit)
{
  struct mhd_shim_acceptor *a = calloc (1, sizeof (*a));
  if (NULL == a)
    return NULL;
  a->daemon = daemon;
  a->guard = guard;
  a->listen_fd = listen_fd;
  a->hard_limit = hard_limit;
  if (0 != pthread_create (&a->thread, NULL, acceptor_main, a))
  {
    free (a);
    return NULL;
  }
  return a;
}

intptr_t
mhd_shim_acceptor_stop (struct mhd_shim_acceptor *a)
{
  intptr_t handed;
  if (NULL == a)
    return 0;
  __atomic_store_n (&a->stopping, 1, __ATOMIC_SEQ_CST);
  (void) shutdown (a->listen_fd, SHUT_RD);
  pthread_join (a->thread, NULL);
  handed = a->handed;
  free (a);
  return handed;
}
