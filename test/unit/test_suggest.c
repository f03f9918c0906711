/* suggest + strmap: the small helpers every message and index rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/strmap.h"
#include "util/suggest.h"

static void suggest__case_only_difference_wins(void **state)
{
	const char *c[] = { "earfcnul", "earfcndl", "pci" };

	(void)state;
	assert_string_equal(o8_suggest("earfcnDl", c, 3), "earfcndl");
}

static void suggest__typo_within_distance(void **state)
{
	const char *c[] = { "Network", "Gateway", "ENodeB", NULL, "Tier" };

	(void)state;
	assert_string_equal(o8_suggest("Gatway", c, 5), "Gateway");
	assert_string_equal(o8_suggest("Teir", c, 5), "Tier");      /* transposition */
}

static void suggest__nothing_when_far(void **state)
{
	const char *c[] = { "internet", "ims" };

	(void)state;
	assert_null(o8_suggest("voicemail", c, 2));
	assert_null(o8_suggest("x", c, 0));
}

static void strmap__put_get_and_duplicates(void **state)
{
	struct o8_strmap m = O8_STRMAP_INIT;
	char keys[5000][16];
	void *old = NULL;
	size_t i, it = 0, seen = 0;
	const char *k;

	(void)state;
	assert_null(o8_strmap_get(&m, "absent"));
	for (i = 0; i < 5000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		assert_int_equal(o8_strmap_put(&m, keys[i], keys[i], NULL), 0);
	}
	assert_int_equal(o8_strmap_put(&m, "k42", "other", &old), 1);
	assert_ptr_equal(old, keys[42]);        /* the first value is kept */
	for (i = 0; i < 5000; i++)
		assert_ptr_equal(o8_strmap_get(&m, keys[i]), keys[i]);
	assert_null(o8_strmap_get(&m, "k5000"));
	while (o8_strmap_next(&m, &it, &k, NULL))
		seen++;
	assert_int_equal(seen, 5000);
	o8_strmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suggest__case_only_difference_wins),
		cmocka_unit_test(suggest__typo_within_distance),
		cmocka_unit_test(suggest__nothing_when_far),
		cmocka_unit_test(strmap__put_get_and_duplicates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
