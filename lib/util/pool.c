/*
 * pool.c - a few threads over one atomic work index (pool.h).
 */
#include "util/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct run {
	size_t n;
	int (*fn)(void *wctx, size_t i);
	char *ctx;
	size_t ctx_size;
	atomic_size_t next;
	atomic_int failed;      /* 1 once some call failed: the others stop */
	struct o8_pool_failure first;   /* written by the one that set failed */
};

struct worker {
	struct run *run;
	unsigned idx;
	pthread_t tid;
};

unsigned o8_pool_threads(unsigned want, size_t nitems, size_t min_items_per_thread)
{
	long n = want ? (long)want : sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > (long)O8_POOL_MAX_THREADS)
		n = O8_POOL_MAX_THREADS;
	if (min_items_per_thread && (size_t)n > nitems / min_items_per_thread)
		n = nitems / min_items_per_thread ? (long)(nitems / min_items_per_thread) : 1;
	return (unsigned)n;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	void *ctx = r->ctx + (size_t)w->idx * r->ctx_size;
	size_t i;
	int code, expect = 0;

	while (!atomic_load_explicit(&r->failed, memory_order_relaxed) &&
	       (i = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed)) < r->n) {
		if (!(code = r->fn(ctx, i)))
			continue;
		/* the joins publish first to the caller */
		if (atomic_compare_exchange_strong(&r->failed, &expect, 1))
			r->first = (struct o8_pool_failure){ code, i, w->idx };
		break;
	}
	return NULL;
}

int o8_pool_run(unsigned threads, size_t n, int (*fn)(void *wctx, size_t i),
		void *ctx, size_t ctx_size, struct o8_pool_failure *fail)
{
	struct worker w[O8_POOL_MAX_THREADS];
	struct run r = { .n = n, .fn = fn, .ctx = ctx, .ctx_size = ctx_size };
	unsigned t, started = 0;

	if (threads < 1)
		threads = 1;
	if (threads > O8_POOL_MAX_THREADS)
		threads = O8_POOL_MAX_THREADS;
	atomic_init(&r.next, 0);
	atomic_init(&r.failed, 0);
	for (t = 0; t < threads; t++)
		w[t] = (struct worker){ .run = &r, .idx = t };
	for (t = 1; t < threads; t++, started++)
		if (pthread_create(&w[t].tid, NULL, work, &w[t]))
			break;
	work(&w[0]);
	for (t = 1; t <= started; t++)
		pthread_join(w[t].tid, NULL);
	if (!atomic_load(&r.failed))
		return 0;
	if (fail)
		*fail = r.first;
	return r.first.code;
}
