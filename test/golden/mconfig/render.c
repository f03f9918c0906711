/*
 * render.c - the golden test's program: loads and validates a repository,
 * compiles it, and prints one gateway's gateway.mconfig (agent/mconfig.h)
 * on stdout, exactly the bytes agwd writes.
 *
 * usage: o8_mconfig_render REPO NETWORK GATEWAY
 * Exit 0 with the mconfig; 1 with the reason on stderr (validation
 * findings included, so a broken case input is plain to see).
 */
#include <stdio.h>
#include <stdlib.h>

#include "repo/compile.h"
#include "mconfig.h"
#include "repo/validate.h"

static int fail(const struct o8_err *err)
{
	fprintf(stderr, "o8_mconfig_render: %s%s%s\n", err->path,
		err->path[0] ? ": " : "", err->msg);
	return 1;
}

static int invalid(const struct o8_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		fprintf(stderr, "%s:%u:%u: %s\n", d->v[i].file, d->v[i].line,
			d->v[i].col, d->v[i].msg);
	return 1;
}

int main(int argc, char **argv)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_model *m = NULL;
	struct o8_records *r = NULL;
	struct o8_agw_config c = { 0 };
	char *mc = NULL;
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: %s REPO NETWORK GATEWAY\n", argv[0]);
		return 2;
	}
	if (o8_validate_dir(&m, argv[1], NULL, NULL, &d, &err))
		rc = fail(&err);
	else if (d.n)
		rc = invalid(&d);
	else if (o8_compile(&r, m, &err) ||
		 o8_compile_agw(&c, r, argv[2], argv[3], &err) ||
		 o8_mconfig_render(&mc, NULL, c.recs, c.n, argv[2], argv[3], &err))
		rc = fail(&err);
	else if (fputs(mc, stdout) == EOF || fflush(stdout))
		perror("o8_mconfig_render: stdout");
	else
		rc = 0;
	free(mc);
	o8_agw_config_done(&c);
	o8_records_free(r);
	o8_model_free(m);
	o8_diags_free(&d);
	return rc;
}
