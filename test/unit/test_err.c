/*
 * test_err.c - the error struct keeps the first cause, prefixes add context,
 * and the diagnostic list sorts, dedupes and moves findings (lib/util/err.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "util/err.h"

static void err__first_error_is_kept(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	enum o8_rc rc;

	(void)state;
	rc = o8_err_set(&err, O8_EINVALID, "networks/lab/gateways.yaml", 14, 3,
			"unknown eNodeB '%s'", "ENB-7");
	assert_int_equal(rc, O8_EINVALID);
	/* A later error returns its own code for chaining but changes nothing. */
	rc = o8_err_set(&err, O8_ERR, "other.yaml", 1, 1, "out of memory");
	assert_int_equal(rc, O8_ERR);
	assert_int_equal(err.rc, O8_EINVALID);
	assert_string_equal(err.path, "networks/lab/gateways.yaml");
	assert_int_equal(err.line, 14);
	assert_int_equal(err.col, 3);
	assert_string_equal(err.msg, "unknown eNodeB 'ENB-7'");
	assert_non_null(err.src_file);
	assert_true(err.src_line > 0);
}

static void err__null_path_and_null_err(void **state)
{
	struct o8_err err = O8_ERR_INIT;

	(void)state;
	assert_int_equal(o8_err_set(NULL, O8_ENOTFOUND, "x", 0, 0, "nothing"),
			 O8_ENOTFOUND);
	o8_err_set(&err, O8_ELIMIT, NULL, 0, 0, "too many files");
	assert_int_equal(err.rc, O8_ELIMIT);
	assert_string_equal(err.path, "");
	assert_int_equal(err.line, 0);
}

static void err__prefix_adds_context(void **state)
{
	struct o8_err err = O8_ERR_INIT;

	(void)state;
	/* No error recorded: prefixing must not invent one. */
	o8_err_prefix(&err, "loading '%s'", "lab");
	assert_int_equal(err.rc, O8_OK);
	assert_string_equal(err.msg, "");

	o8_err_set(&err, O8_ERR, "a.yaml", 0, 0, "permission denied");
	o8_err_prefix(&err, "cannot open '%s'", "a.yaml");
	o8_err_prefix(&err, "loading");
	assert_string_equal(err.msg, "loading: cannot open 'a.yaml': permission denied");
	assert_int_equal(err.rc, O8_ERR);
	o8_err_prefix(NULL, "ignored");
}

static void err__prefix_truncates_safely(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	char big[400];
	int i;

	(void)state;
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	o8_err_set(&err, O8_ERR, NULL, 0, 0, "cause");
	for (i = 0; i < 5; i++)
		o8_err_prefix(&err, "%s", big);
	assert_true(strlen(err.msg) < sizeof(err.msg));
	assert_int_equal(err.msg[0], 'p');
}

static void err__clear_resets(void **state)
{
	struct o8_err err = O8_ERR_INIT;

	(void)state;
	o8_err_set(&err, O8_ECONFLICT, "x.yaml", 2, 5, "clash");
	o8_err_clear(&err);
	assert_int_equal(err.rc, O8_OK);
	assert_string_equal(err.msg, "");
	assert_string_equal(err.path, "");
	/* Usable again: the next error is recorded. */
	o8_err_set(&err, O8_EINVALID, "y.yaml", 1, 1, "bad");
	assert_string_equal(err.path, "y.yaml");
}

static void diags__add_copies_strings(void **state)
{
	struct o8_diags d = O8_DIAGS_INIT;
	char file[32], kind[32], name[32];

	(void)state;
	snprintf(file, sizeof(file), "gw.yaml");
	snprintf(kind, sizeof(kind), "Gateway");
	snprintf(name, sizeof(name), "agw-1");
	assert_int_equal(o8_diags_add(&d, file, 4, 9, kind, name, "pci %d out of range", 999),
			 O8_OK);
	assert_int_equal(o8_diags_add(&d, NULL, 0, 0, NULL, NULL, "syntax"), O8_OK);
	/* The list owns copies: the caller's buffers may change. */
	memset(file, 0, sizeof(file));
	memset(kind, 0, sizeof(kind));
	memset(name, 0, sizeof(name));
	assert_int_equal(d.n, 2);
	assert_string_equal(d.v[0].file, "gw.yaml");
	assert_string_equal(d.v[0].kind, "Gateway");
	assert_string_equal(d.v[0].name, "agw-1");
	assert_string_equal(d.v[0].msg, "pci 999 out of range");
	assert_int_equal(d.v[0].line, 4);
	assert_int_equal(d.v[0].col, 9);
	assert_string_equal(d.v[1].file, "");
	assert_null(d.v[1].kind);
	assert_null(d.v[1].name);
	o8_diags_free(&d);
	assert_null(d.v);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.cap, 0);
}

static void diags__grow_many(void **state)
{
	struct o8_diags d = O8_DIAGS_INIT;
	unsigned i;

	(void)state;
	for (i = 0; i < 5000; i++)
		assert_int_equal(o8_diags_add(&d, "f.yaml", i + 1, 1, NULL, NULL, "n%u", i),
				 O8_OK);
	assert_int_equal(d.n, 5000);
	assert_true(d.cap >= d.n);
	assert_string_equal(d.v[4999].msg, "n4999");
	o8_diags_free(&d);
}

static void diags__sort_orders_and_dedupes(void **state)
{
	struct o8_diags d = O8_DIAGS_INIT;

	(void)state;
	o8_diags_add(&d, "b.yaml", 1, 1, NULL, NULL, "b1");
	o8_diags_add(&d, "a.yaml", 10, 2, "Gateway", "g", "later line");
	o8_diags_add(&d, "a.yaml", 2, 7, "Gateway", "g", "same line, right");
	o8_diags_add(&d, "a.yaml", 2, 3, "Gateway", "g", "same line, left");
	o8_diags_add(&d, "a.yaml", 2, 3, "Gateway", "g", "a same spot, other message");
	/* exact duplicate of an earlier finding: must disappear */
	o8_diags_add(&d, "a.yaml", 10, 2, "Gateway", "g", "later line");
	/* same text and spot but another object: not a duplicate */
	o8_diags_add(&d, "a.yaml", 10, 2, "Gateway", "h", "later line");
	/* numeric, not textual, line order: 9 before 10 */
	o8_diags_add(&d, "a.yaml", 9, 1, NULL, NULL, "line nine");
	o8_diags_sort(&d);

	assert_int_equal(d.n, 7);
	assert_string_equal(d.v[0].msg, "a same spot, other message");
	assert_string_equal(d.v[1].msg, "same line, left");
	assert_string_equal(d.v[2].msg, "same line, right");
	assert_string_equal(d.v[3].msg, "line nine");
	assert_string_equal(d.v[4].msg, "later line");
	assert_string_equal(d.v[5].msg, "later line");
	assert_string_not_equal(d.v[4].name, d.v[5].name);
	assert_string_equal(d.v[6].file, "b.yaml");
	o8_diags_sort(&d);      /* idempotent */
	assert_int_equal(d.n, 7);
	o8_diags_free(&d);
}

static void diags__sort_small_lists(void **state)
{
	struct o8_diags d = O8_DIAGS_INIT;

	(void)state;
	o8_diags_sort(&d);
	assert_int_equal(d.n, 0);
	o8_diags_add(&d, "x.yaml", 1, 1, NULL, NULL, "one");
	o8_diags_sort(&d);
	assert_int_equal(d.n, 1);
	o8_diags_add(&d, "x.yaml", 1, 1, NULL, NULL, "one");
	o8_diags_sort(&d);
	assert_int_equal(d.n, 1);
	o8_diags_free(&d);
}

static void diags__move_appends_and_empties(void **state)
{
	struct o8_diags dst = O8_DIAGS_INIT, src = O8_DIAGS_INIT;
	unsigned i;

	(void)state;
	o8_diags_add(&dst, "a.yaml", 1, 1, NULL, NULL, "first");
	for (i = 0; i < 40; i++)
		o8_diags_add(&src, "b.yaml", i + 1, 1, "APN", "x", "moved %u", i);
	assert_int_equal(o8_diags_move(&dst, &src), O8_OK);
	assert_int_equal(dst.n, 41);
	assert_string_equal(dst.v[0].msg, "first");
	assert_string_equal(dst.v[1].msg, "moved 0");
	assert_string_equal(dst.v[40].msg, "moved 39");
	assert_string_equal(dst.v[40].kind, "APN");
	assert_int_equal(src.n, 0);
	assert_null(src.v);
	/* Moving an empty list is a no-op, and src stays usable. */
	assert_int_equal(o8_diags_move(&dst, &src), O8_OK);
	assert_int_equal(dst.n, 41);
	o8_diags_add(&src, "c.yaml", 1, 1, NULL, NULL, "again");
	assert_int_equal(o8_diags_move(&dst, &src), O8_OK);
	assert_int_equal(dst.n, 42);
	assert_string_equal(dst.v[41].file, "c.yaml");
	o8_diags_free(&src);
	o8_diags_free(&dst);
}

static void diags__move_into_empty(void **state)
{
	struct o8_diags dst = O8_DIAGS_INIT, src = O8_DIAGS_INIT;

	(void)state;
	o8_diags_add(&src, "a.yaml", 3, 4, NULL, NULL, "x");
	assert_int_equal(o8_diags_move(&dst, &src), O8_OK);
	assert_int_equal(dst.n, 1);
	assert_int_equal(dst.v[0].line, 3);
	o8_diags_free(&dst);
	o8_diags_free(&src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(err__first_error_is_kept),
		cmocka_unit_test(err__null_path_and_null_err),
		cmocka_unit_test(err__prefix_adds_context),
		cmocka_unit_test(err__prefix_truncates_safely),
		cmocka_unit_test(err__clear_resets),
		cmocka_unit_test(diags__add_copies_strings),
		cmocka_unit_test(diags__grow_many),
		cmocka_unit_test(diags__sort_orders_and_dedupes),
		cmocka_unit_test(diags__sort_small_lists),
		cmocka_unit_test(diags__move_appends_and_empties),
		cmocka_unit_test(diags__move_into_empty),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
