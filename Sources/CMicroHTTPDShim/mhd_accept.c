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
 * to pool thread (fd + i) % pool size, the first with room: consecutive
 * descriptors alternate, so connections spread evenly over the poll threads.
 *
 * Why: when the pool threads accept for themselves (each polls the listening
 * socket), whichever is awake takes the next connection. A client that opens
 * its connections in a burst (wrk, a VMM's connection pool at start) lands
 * them all on one poll thread when the others are slow to wake, and that
 * thread then serves them alone while other cores idle; on a 2-vCPU host the
 * same race made healthz swing between ~100k and ~160k requests/s from one
 * run to the next (BENCHMARKS.md, issue 12).
 *
 * At MHD's hard connection limit the acceptor stops accepting (new clients
 * wait in the backlog, as they did when MHD accepted itself) and looks again
 * every millisecond. mhd_shim_acceptor_stop shuts the socket's receive side
 * (a blocked accept() returns, and new connections are refused rather than
 * left in the backlog) and joins the thread.
 */

struct mhd_shim_acceptor {
  struct MHD_Daemon *daemon;
  int listen_fd;
  unsigned int hard_limit;
  pthread_t thread;
  int stopping;
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
    if ( (0 != a->hard_limit) && (current_connections (a->daemon) >= a->hard_limit) )
    {
      mhd_shim_sleep_ns (1000000);
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
      if ( (EMFILE == errno) || (ENFILE == errno) || (ENOBUFS == errno) || (ENOMEM == errno) )
      {
        mhd_shim_sleep_ns (10000000); /* out of descriptors or memory: the backlog holds them */
        continue;
      }
      break; /* EINVAL after mhd_shim_acceptor_stop's shutdown */
    }
    /* On failure (every poll thread at its share of the limit, or the
       per-address limit) MHD closes the socket itself. */
    (void) MHD_add_connection (a->daemon, fd, (const struct sockaddr *) &addr, len);
  }
  return NULL;
}

struct mhd_shim_acceptor *
mhd_shim_acceptor_start (struct MHD_Daemon *daemon, int listen_fd,
                         unsigned int hard_limit)
{
  struct mhd_shim_acceptor *a = calloc (1, sizeof (*a));
  if (NULL == a)
    return NULL;
  a->daemon = daemon;
  a->listen_fd = listen_fd;
  a->hard_limit = hard_limit;
  if (0 != pthread_create (&a->thread, NULL, acceptor_main, a))
  {
    free (a);
    return NULL;
  }
  return a;
}

void
mhd_shim_acceptor_stop (struct mhd_shim_acceptor *a)
{
  if (NULL == a)
    return;
  __atomic_store_n (&a->stopping, 1, __ATOMIC_SEQ_CST);
  (void) shutdown (a->listen_fd, SHUT_RD);
  pthread_join (a->thread, NULL);
  free (a);
}
