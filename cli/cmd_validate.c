/*
 * orc8r validate - load every YAML file of the repository and report every
 * problem at once.
 */
#include "cmds.h"

#include <argp.h>
#include <stdlib.h>
#include <string.h>

#include "repo/model.h"
#include "repo/validate.h"
#include "repocfg.h"

struct args {
	const char *dir;
	int out;
	unsigned threads;
	bool quiet;
};

static const struct argp_option options[] = {
	{ "directory", 'C', "DIR", 0, "the repository root (default: current directory)", 0 },
	{ "output", 'o', "FORMAT", 0, "text (default) or json", 0 },
	{ "threads", 'j', "N", 0, "parser threads (default: one per CPU)", 0 },
	{ "quiet", 'q', NULL, 0, "print errors only, no summary", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;
	char *end;
	long n;

	switch (key) {
	case 'C':
		a->dir = arg;
		break;
	case 'o':
		if ((a->out = o8_cli_parse_output(arg, false)) < 0)
			argp_error(state, "unknown output format '%s' (use text or json)", arg);
		break;
	case 'j':
		n = strtol(arg, &end, 10);
		if (*end || n < 1 || n > 64)
			argp_error(state, "--threads takes a number from 1 to 64, not '%s'", arg);
		a->threads = (unsigned)n;
		break;
	case 'q':
		a->quiet = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char doc[] =
	"Check every *.yaml file of the repository: YAML syntax, kinds and "
	"fields, types, ranges and formats, references between objects, and "
	"network-wide conflicts (duplicate IMSIs, PCI collisions, overlapping "
	"IP blocks). Every problem is reported at once as "
	"FILE:LINE:COL: KIND/NAME: message, sorted by file and line."
	"\v"
	"Examples:\n"
	"  orc8r validate                     # the repository in the current directory\n"
	"  orc8r validate -C ~/lte-config     # another one\n"
	"  orc8r validate -o json | jq .counts\n"
	"\n"
	"Exit status: 0 valid, 3 invalid, 1 the repository could not be read.";

static const struct argp argp = { options, parse_opt, NULL, doc, NULL, NULL, NULL };

int cmd_validate(int argc, char **argv, struct o8_cli *cli)
{
	struct args a = { .dir = cli->dir, .out = O8_OUT_TEXT };
	struct o8_load_opts lo = O8_LOAD_OPTS_INIT;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_counts c = { 0 };
	struct o8_model *m = NULL;
	int rc;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	lo.threads = a.threads;
	/* the CLI's own settings: a pull request that breaks them must fail too */
	if (o8_validate_dir(&m, a.dir ? a.dir : ".", &lo, &c, &d, &err) ||
	    o8_repocfg_check(a.dir ? a.dir : ".", &d, &err)) {
		o8_cli_error(&err);
		o8_model_free(m);
		o8_diags_free(&d);
		return O8_EXIT_FAIL;
	}
	o8_diags_sort(&d);
	o8_cli_report_validation(&c, &d, o8_model_nfiles(m), a.out, a.quiet, cli->color);
	rc = d.n ? O8_EXIT_INVALID : O8_EXIT_OK;
	o8_model_free(m);
	o8_diags_free(&d);
	return rc;
}
