#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "mhd_shim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * The offload pool: a few threads apart from libmicrohttpd's poll threads
 * that run the handler for requests which may block (store calls), and a
 * bounded FIFO queue in front of them.
 *
 * Why: each libmicrohttpd pool thread polls its own connections, so a
 * handler that waits on a database round trip on a poll thread stalls every
 * connection that thread owns, stateless ones included. The access handler
 * suspends such a request's connection (MHD_suspend_connection), submits it
 * here, and returns; a pool thread runs the handler and resumes the
 * connection, whose poll thread then queues the response.
 *
 * The queue is bounded (submit fails when it is full: the caller answers 503
 * at once), an item that waited longer than max_wait_ns is not run, and the
 * threads run at a lower scheduling priority than the poll threads, so that
 * the stateless requests win the CPU when both kinds compete for it: either
 * SCHED_IDLE (they run on CPU time nothing else at normal priority wants,
 * sched(7)) or SCHED_OTHER at a higher nice value (setpriority on the thread:
 * Linux's nice is per thread). Neither needs a privilege. The risk is
 * priority inversion: a pool thread preempted inside a short locked section
 * it shares with the poll threads (this queue's lock, and libmicrohttpd's
 * per-thread cleanup mutex that MHD_resume_connection takes) holds up the
 * poll thread waiting for it until it runs again. A blocked poll thread
 * frees its CPU, but other work at normal priority on that CPU may take it
 * first; the sections are a few instructions long, so this is rare, and not
 * measured beside a CPU hog in another cgroup.
 *
 * Every submitted item reaches the run callback exactly once, with how:
 * MHD_SHIM_OFFLOAD_RUN, _EXPIRED (waited too long) or _STOPPING (the pool
 * stopped before a thread took it). The caller resumes the connection in
 * every case; mhd_shim_offload_stop returns only after the last callback,
 * so MHD_stop_daemon never meets a suspended connection.
 */

struct offload_item {
  void *item;
  int64_t enqueued_ns;
};

struct mhd_shim_offload {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t *threads;
  unsigned int thread_count;
  unsigned int started;
  struct offload_item *ring;
  unsigned int capacity;
  unsigned int head;
  unsigned int count;
  int stopping;
  enum mhd_shim_offload_policy policy;
  int nice;
  unsigned int ready;         /* threads past their priority change */
  int priority_errno;         /* the first failure, else 0 */
  int64_t max_wait_ns;
  mhd_shim_offload_fn fn;
  void *cls;
};

/* Lowers the calling thread's priority as configured: 0, or the errno of
   the call that failed (the thread then keeps the process's priority). */
static int
lower_priority (const struct mhd_shim_offload *p)
{
  if (MHD_SHIM_OFFLOAD_SCHED_IDLE == p->policy)
  {
    /* Linux: pid 0 is the calling thread; an unprivileged thread may switch
       itself to SCHED_IDLE (sched_setscheduler(2), since 2.6.39). */
    struct sched_param param = { .sched_priority = 0 };
    return (0 == sched_setscheduler (0, SCHED_IDLE, &param)) ? 0 : errno;
  }
  if (0 != p->nice)
  {
    /* Linux: nice values are per thread, and PRIO_PROCESS with who = 0 is
       the calling thread (setpriority(2), NOTES). Raising it needs no
       privilege. */
    return (0 == setpriority (PRIO_PROCESS, 0, p->nice)) ? 0 : errno;
  }
  return 0;
}

/** Non-zero on the pool's threads (mhd_shim_on_offload_thread). */
static __thread int on_offload_thread;

int
mhd_shim_on_offload_thread (void)
{
  return on_offload_thread;
}

static void *
offload_main (void *arg)
{
  struct mhd_shim_offload *p = arg;
  int err = lower_priority (p);
  on_offload_thread = 1;
  /* Named apart from libmicrohttpd's "MHD-worker" poll threads, for top -H
     and the benchmark's CPU split (15 characters at most). */
  (void) pthread_setname_np (pthread_self (), "memtyped-store");
  pthread_mutex_lock (&p->lock);
  if ( (0 != err) && (0 == p->priority_errno) )
    p->priority_errno = err;
  p->ready++;
  pthread_cond_broadcast (&p->wake);
  while (1)
  {
    struct offload_item it;
    enum mhd_shim_offload_how how;
    while ( (0 == p->count) && (! p->stopping) )
      pthread_cond_wait (&p->wake, &p->lock);
    if (0 == p->count)
      break; /* stopping and nothing left */
    it = p->ring[p->head];
    p->head = (p->head + 1) % p->capacity;
    p->count--;
    if (p->stopping)
      how = MHD_SHIM_OFFLOAD_STOPPING;
    else if ( (0 != p->max_wait_ns) &&
              (mhd_shim_monotonic_ns () - it.enqueued_ns > p->max_wait_ns) )
      how = MHD_SHIM_OFFLOAD_EXPIRED;
    else
      how = MHD_SHIM_OFFLOAD_RUN;
    pthread_mutex_unlock (&p->lock);
    p->fn (p->cls, it.item, how);
    pthread_mutex_lock (&p->lock);
  }
  pthread_mutex_unlock (&p->lock);
  return NULL;
}

struct mhd_shim_offload *
mhd_shim_offload_start (unsigned int threads, unsigned int queue_limit,
                        int64_t max_wait_ns,
                        enum mhd_shim_offload_policy policy, int nice,
                        mhd_shim_offload_fn fn, void *cls)
{
  struct mhd_shim_offload *p;
  if ( (0 == threads) || (0 == queue_limit) )
    return NULL;
  p = calloc (1, sizeof (*p));
  if (NULL == p)
    return NULL;
  p->threads = calloc (threads, sizeof (pthread_t));
  p->ring = calloc (queue_limit, sizeof (struct offload_item));
  if ( (NULL == p->threads) || (NULL == p->ring) )
  {
    free (p->threads);
    free (p->ring);
    free (p);
    return NULL;
  }
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->wake, NULL);
  p->thread_count = threads;
  p->capacity = queue_limit;
  p->max_wait_ns = max_wait_ns;
  p->policy = policy;
  p->nice = nice;
  p->fn = fn;
  p->cls = cls;
  for (unsigned int i = 0; i < threads; i++)
  {
    if (0 != pthread_create (&p->threads[i], NULL, offload_main, p))
    {
      mhd_shim_offload_stop (p);
      mhd_shim_offload_destroy (p);
      return NULL;
    }
    p->started++;
  }
  /* Return once every thread has set its priority, so that the caller can
     report a failure (mhd_shim_offload_priority_errno) as it starts. */
  pthread_mutex_lock (&p->lock);
  while (p->ready < p->started)
    pthread_cond_wait (&p->wake, &p->lock);
  pthread_mutex_unlock (&p->lock);
  return p;
}

int
mhd_shim_offload_priority_errno (struct mhd_shim_offload *p)
{
  int err;
  pthread_mutex_lock (&p->lock);
  err = p->priority_errno;
  pthread_mutex_unlock (&p->lock);
  return err;
}

int
mhd_shim_offload_submit (struct mhd_shim_offload *p, void *item)
{
  int ok = 0;
  pthread_mutex_lock (&p->lock);
  if ( (! p->stopping) && (p->count < p->capacity) )
  {
    unsigned int tail = (p->head + p->count) % p->capacity;
    p->ring[tail].item = item;
    p->ring[tail].enqueued_ns = mhd_shim_monotonic_ns ();
    p->count++;
    ok = 1;
    pthread_cond_signal (&p->wake);
  }
  pthread_mutex_unlock (&p->lock);
  return ok;
}

void
mhd_shim_offload_stop (struct mhd_shim_offload *p)
{
  if (NULL == p)
    return;
  pthread_mutex_lock (&p->lock);
  p->stopping = 1;
  pthread_cond_broadcast (&p->wake);
  /* What is still queued is answered now, on this thread, not after the
     running items (which may take as long as the handler's timeouts). */
  while (0 != p->count)
  {
    struct offload_item it = p->ring[p->head];
    p->head = (p->head + 1) % p->capacity;
    p->count--;
    pthread_mutex_unlock (&p->lock);
    p->fn (p->cls, it.item, MHD_SHIM_OFFLOAD_STOPPING);
    pthread_mutex_lock (&p->lock);
  }
  pthread_mutex_unlock (&p->lock);
  /* The threads finish what they run and exit. */
  for (unsigned int i = 0; i < p->started; i++)
    pthread_join (p->threads[i], NULL);
  p->started = 0;
}

void
mhd_shim_offload_destroy (struct mhd_shim_offload *p)
{
  if (NULL == p)
    return;
  mhd_shim_offload_stop (p);
  pthread_cond_destroy (&p->wake);
  pthread_mutex_destroy (&p->lock);
  free (p->threads);
  free (p->ring);
  free (p);
}
