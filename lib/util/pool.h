/*
 * pool.h - run fn(i) for every i in [0, n) on a few threads.
 *
 * One way to spread independent items over the cores: the caller's thread
 * is worker 0 (a single-thread run starts no thread at all), the others
 * take the next item from one shared atomic counter, so a slow item never
 * holds up a queue behind it, and nothing is allocated or locked per item.
 * Each worker owns one context, so that what it builds (arenas, findings,
 * handles) needs no lock either; the caller merges the contexts afterwards.
 */
#ifndef O8_POOL_H
#define O8_POOL_H

#include <stddef.h>

/* More threads than this never pay on the machines orc8r runs on. */
#define O8_POOL_MAX_THREADS 64u

/*
 * How many threads to run nitems items on: want, or the online processors
 * when want is 0, at most O8_POOL_MAX_THREADS, and at most one thread per
 * min_items_per_thread items (0: no such bound); always at least 1.
 */
unsigned o8_pool_threads(unsigned want, size_t nitems, size_t min_items_per_thread);

/* The first call of fn that failed, as o8_pool_run reports it. */
struct o8_pool_failure {
	int code;               /* what fn returned (nonzero) */
	size_t item;
	unsigned worker;
};

/*
 * Calls fn(ctx + t * ctx_size, i) once for every i in [0, n), worker t
 * being one of `threads` threads (capped at O8_POOL_MAX_THREADS; the
 * calling thread is worker 0).  fn returns 0, or nonzero to stop: the
 * items not yet started are then skipped.  Threads that cannot be started
 * leave their share to the others.  Returns 0 when every call returned 0,
 * else the first failing call's code, with the call in *fail (may be NULL).
 * ctx_size 0 hands every worker ctx itself (item i then names its own
 * context, as in ctx[i]).  ctx is borrowed.
 */
int o8_pool_run(unsigned threads, size_t n, int (*fn)(void *wctx, size_t i),
		void *ctx, size_t ctx_size, struct o8_pool_failure *fail);

#endif
