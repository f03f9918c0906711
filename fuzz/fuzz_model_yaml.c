/*
 * fuzz_model_yaml.c - libFuzzer target for the loader and the validator.
 *
 * The input is one YAML file.  It goes through the same path as a file of
 * the operator's repository (o8_model_load_srcs, then o8_validate) on one
 * thread, so a crash reproduces deterministically.  Beyond the sanitizers,
 * the target checks invariants the loader promises: every finding names the
 * input file and has a message, and an unclassified document was reported.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "repo/model.h"
#include "repo/validate.h"

#define FUZZ_FILE "networks/fuzz/input.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct o8_model *m, const struct o8_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (!d->v[i].msg || !d->v[i].msg[0])
			abort();
		/* every finding is about the one file we loaded */
		if (!d->v[i].file || strcmp(d->v[i].file, FUZZ_FILE))
			abort();
	}
	/* a document the loader could not classify has been reported */
	for (i = 0; i < o8_model_nobjs(m); i++)
		if (o8_model_obj(m, i)->kind == O8_KIND_NONE && d->n == 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct o8_src src = { FUZZ_FILE, (const char *)data, size };
	struct o8_load_opts lopts = O8_LOAD_OPTS_INIT;
	struct o8_validate_opts vopts = O8_VALIDATE_OPTS_INIT;
	struct o8_diags diags = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_counts counts = { 0 };
	struct o8_model *m = NULL;

	lopts.threads = 1;
	vopts.threads = 1;
	if (o8_model_load_srcs(&m, &src, 1, &lopts, &diags, &err) == O8_OK) {
		if (!m)
			abort();        /* O8_OK promises a model */
		o8_validate(m, &vopts, &counts, &diags, &err);
		check(m, &diags);
	}
	o8_diags_sort(&diags);
	o8_model_free(m);
	o8_diags_free(&diags);
	return 0;
}
