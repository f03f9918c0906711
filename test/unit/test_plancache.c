/* plancache: a snapshot's gateways survive a store + load, and anything
 * stale or damaged is ignored rather than trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "repo/compile.h"
#include "repo/model.h"
#include "plancache.h"
#include "repo/validate.h"

struct fx {
	char dir[64];
	struct o8_model *m;
	struct o8_records *r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err e = O8_ERR_INIT;
	char ex[4096];

	snprintf(ex, sizeof(ex), "%s/examples/networks", getenv("O8_SOURCE_DIR"));
	strcpy(f->dir, "/tmp/o8-plancache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(o8_validate_dir(&f->m, ex, NULL, NULL, &d, &e), O8_OK);
	assert_int_equal(d.n, 0);
	assert_int_equal(o8_compile(&f->r, f->m, &e), O8_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	o8_records_free(f->r);
	o8_model_free(f->m);
	free(f);
	return 0;
}

static const char *field(const struct o8_record *r, const char *path)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		if (!strcmp(r->fields[i].path, path))
			return r->fields[i].value;
	return NULL;
}

static void plancache__round_trip(void **state)
{
	struct fx *f = *state;
	struct o8_gwdir *d = NULL, *back = NULL;
	struct o8_plan_gws a, b;
	struct o8_err e = O8_ERR_INIT;
	size_t i;

	assert_int_equal(o8_gwdir_from_records(&d, f->r, &e), O8_OK);
	assert_int_equal(o8_plancache_store(d, f->dir, "abc123", "1.0", &e), O8_OK);
	assert_int_equal(o8_plancache_load(&back, f->dir, "abc123", "1.0", &e), O8_OK);
	assert_int_equal(o8_gwdir_gws(&a, d, NULL, 0, &e), O8_OK);
	assert_int_equal(o8_gwdir_gws(&b, back, NULL, 0, &e), O8_OK);
	assert_int_equal(a.n, 3);               /* the example's gateways */
	assert_int_equal(b.n, a.n);
	for (i = 0; i < a.n; i++) {
		assert_string_equal(a.v[i]->network, b.v[i]->network);
		assert_string_equal(a.v[i]->key, b.v[i]->key);
		assert_string_equal(field(a.v[i], "tier"), field(b.v[i], "tier"));
		assert_string_equal(field(a.v[i], "enodebs[0]"), field(b.v[i], "enodebs[0]"));
	}
	free((void *)a.v);
	free((void *)b.v);
	o8_gwdir_free(back);
	o8_gwdir_free(d);
}

static void plancache__skip_files(void **state)
{
	struct fx *f = *state;
	const char *skip[] = { "networks/lab/gateways.yaml" };
	struct o8_gwdir *d = NULL;
	struct o8_plan_gws g;
	struct o8_err e = O8_ERR_INIT;

	assert_int_equal(o8_gwdir_from_records(&d, f->r, &e), O8_OK);
	assert_int_equal(o8_gwdir_gws(&g, d, skip, 1, &e), O8_OK);
	assert_int_equal(g.n, 0);               /* all three live in that file */
	free((void *)g.v);
	o8_gwdir_free(d);
}

static void plancache__stale_or_damaged_is_a_miss(void **state)
{
	struct fx *f = *state;
	struct o8_gwdir *d = NULL, *back = NULL;
	struct o8_err e = O8_ERR_INIT;
	char path[256];
	FILE *fp;

	assert_int_equal(o8_gwdir_from_records(&d, f->r, &e), O8_OK);
	assert_int_equal(o8_plancache_store(d, f->dir, "s1", "1.0", &e), O8_OK);
	o8_err_clear(&e);
	/* another orc8r version wrote it */
	assert_int_equal(o8_plancache_load(&back, f->dir, "s1", "2.0", &e), O8_ENOTFOUND);
	assert_null(back);
	o8_err_clear(&e);
	/* never written */
	assert_int_equal(o8_plancache_load(&back, f->dir, "s2", "1.0", &e), O8_ENOTFOUND);
	o8_err_clear(&e);
	/* cut short by a crash of something else */
	snprintf(path, sizeof(path), "%s/orc8r/v1/snapshots/s1.json", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"format\":2,\"orc8r\":\"1.0\",\"snapsh", fp);
	fclose(fp);
	assert_int_equal(o8_plancache_load(&back, f->dir, "s1", "1.0", &e), O8_ENOTFOUND);
	assert_null(back);
	o8_gwdir_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plancache__round_trip),
		cmocka_unit_test(plancache__skip_files),
		cmocka_unit_test(plancache__stale_or_damaged_is_a_miss),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
