/* pool: every item once, the first failure stops the rest, thread choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/pool.h"

enum { N = 100000 };

struct count {
	atomic_uint *seen;      /* shared: how often each item ran */
	size_t items;           /* this worker's */
	size_t fail_at;         /* item that fails, or N */
	atomic_size_t *after;   /* items started after the failure was returned */
	atomic_int *failed;
};

static int count_item(void *ctx, size_t i)
{
	struct count *c = ctx;

	if (atomic_load(c->failed)) {
		/* let the failing thread reach the pool's stop flag, even
		   when it was preempted right after its call returned */
		sched_yield();
		atomic_fetch_add(c->after, 1);
	}
	atomic_fetch_add(&c->seen[i], 1);
	c->items++;
	if (i == c->fail_at) {
		atomic_store(c->failed, 1);
		return 7;
	}
	return 0;
}

static size_t run(unsigned threads, size_t fail_at, atomic_uint *seen,
		  int *code, struct o8_pool_failure *fail, size_t *after_out)
{
	struct count c[O8_POOL_MAX_THREADS];
	atomic_size_t after = 0;
	atomic_int failed = 0;
	size_t total = 0;
	unsigned t;

	for (t = 0; t < O8_POOL_MAX_THREADS; t++)
		c[t] = (struct count){ seen, 0, fail_at, &after, &failed };
	*code = o8_pool_run(threads, N, count_item, c, sizeof(*c), fail);
	for (t = 0; t < O8_POOL_MAX_THREADS; t++) {
		if (t >= threads)
			assert_int_equal(c[t].items, 0);        /* no worker past threads */
		total += c[t].items;
	}
	if (after_out)
		*after_out = atomic_load(&after);
	return total;
}

static void every_item_once(unsigned threads)
{
	atomic_uint *seen = calloc(N, sizeof(*seen));
	struct o8_pool_failure fail = { 0, 0, 0 };
	size_t i;
	int code;

	assert_non_null(seen);
	assert_int_equal(run(threads, N, seen, &code, &fail, NULL), N);
	assert_int_equal(code, 0);
	for (i = 0; i < N; i++)
		assert_int_equal(atomic_load(&seen[i]), 1);
	free(seen);
}

static void pool__every_item_once_on_one_thread(void **state)
{
	(void)state;
	every_item_once(1);
}

static void pool__every_item_once_on_many_threads(void **state)
{
	(void)state;
	every_item_once(8);
	every_item_once(O8_POOL_MAX_THREADS);
	every_item_once(1000);                  /* capped, not overrun */
}

static void pool__first_failure_stops_and_is_reported(void **state)
{
	unsigned threads[] = { 1, 4 };
	size_t k, i, ran, after;

	(void)state;
	for (k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		atomic_uint *seen = calloc(N, sizeof(*seen));
		struct o8_pool_failure fail = { 0, 0, 0 };
		int code;

		assert_non_null(seen);
		ran = run(threads[k], 10, seen, &code, &fail, &after);
		assert_int_equal(code, 7);
		assert_int_equal(fail.code, 7);
		assert_int_equal(fail.item, 10);
		assert_true(fail.worker < threads[k]);
		/* the others stop: the run ends long before the items do */
		assert_true(after < N - 11);
		assert_true(ran < N);
		for (i = 0; i < N; i++)
			assert_true(atomic_load(&seen[i]) <= 1);
		if (threads[k] == 1) {
			assert_int_equal(ran, 11);      /* in order, nothing after */
			assert_int_equal(fail.worker, 0);
		}
		free(seen);
	}
}

static int fail_all(void *ctx, size_t i)
{
	(void)ctx;
	return (int)i + 1;
}

static void pool__failure_is_one_of_the_calls(void **state)
{
	struct o8_pool_failure fail = { 0, 0, 0 };
	int code;

	(void)state;
	code = o8_pool_run(4, 1000, fail_all, NULL, 0, &fail);
	assert_int_equal(code, (int)fail.item + 1);
	assert_int_equal(fail.code, code);
	assert_int_equal(o8_pool_run(4, 1000, fail_all, NULL, 0, NULL) > 0, 1);
}

static void pool__nothing_to_do(void **state)
{
	(void)state;
	assert_int_equal(o8_pool_run(4, 0, fail_all, NULL, 0, NULL), 0);
}

static int shared_ctx(void *ctx, size_t i)
{
	atomic_uint *v = ctx;

	atomic_fetch_add(&v[i], 1);
	return 0;
}

static void pool__zero_stride_shares_the_context(void **state)
{
	atomic_uint v[16] = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(o8_pool_run(4, 16, shared_ctx, v, 0, NULL), 0);
	for (i = 0; i < 16; i++)
		assert_int_equal(atomic_load(&v[i]), 1);
}

static void pool__thread_choice(void **state)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned all = cpus < 1 ? 1 : cpus > (long)O8_POOL_MAX_THREADS ?
		       O8_POOL_MAX_THREADS : (unsigned)cpus;

	(void)state;
	assert_int_equal(o8_pool_threads(4, 1000, 1), 4);
	assert_int_equal(o8_pool_threads(0, 1000000, 1), all);
	assert_int_equal(o8_pool_threads(0, 0, 0), all);
	/* small inputs: no more threads than items, never none */
	assert_int_equal(o8_pool_threads(8, 3, 1), 3);
	assert_int_equal(o8_pool_threads(8, 0, 1), 1);
	assert_int_equal(o8_pool_threads(8, 1, 1), 1);
	/* one thread per min_items_per_thread items */
	assert_int_equal(o8_pool_threads(8, 4095, 4096), 1);
	assert_int_equal(o8_pool_threads(8, 3 * 4096, 4096), 3);
	assert_int_equal(o8_pool_threads(8, 100 * 4096, 4096), 8);
	/* never more than the pool runs */
	assert_int_equal(o8_pool_threads(1000, 1000000, 1), O8_POOL_MAX_THREADS);
	assert_int_equal(o8_pool_threads(1000, 5, 0), O8_POOL_MAX_THREADS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pool__every_item_once_on_one_thread),
		cmocka_unit_test(pool__every_item_once_on_many_threads),
		cmocka_unit_test(pool__first_failure_stops_and_is_reported),
		cmocka_unit_test(pool__failure_is_one_of_the_calls),
		cmocka_unit_test(pool__nothing_to_do),
		cmocka_unit_test(pool__zero_stride_shares_the_context),
		cmocka_unit_test(pool__thread_choice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
