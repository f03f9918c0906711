/*
 * orc8r plan - what a change does to the network, before it is applied:
 * every object created, changed or destroyed, field by field, and which
 * gateways receive how many records.
 */
#include "cmds.h"

#include <argp.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "plan_run.h"

enum { OPT_BASE = 1000, OPT_HEAD, OPT_DETAILED, OPT_COMMENT, OPT_PR, OPT_API,
       OPT_FORGE, OPT_NO_CACHE, OPT_MAX_LINES };

struct args {
	const char *dir;
	int out;
	bool detailed, comment, no_cache;
	struct o8_forge_opts forge;
	size_t max_lines;
	struct plan_run run;
};

static const struct argp_option options[] = {
	{ "directory", 'C', "DIR", 0, "the repository (default: current directory)", 0 },
	{ "base", OPT_BASE, "REV", 0, "what is deployed now (default: the branch's upstream, else HEAD)", 0 },
	{ "head", OPT_HEAD, "REV", 0, "what it becomes (default: the work tree)", 0 },
	{ "output", 'o', "FORMAT", 0, "text (default), json or markdown", 0 },
	{ "detailed-exitcode", OPT_DETAILED, NULL, 0, "exit 2 when the plan has changes", 0 },
	{ "comment", OPT_COMMENT, NULL, 0, "post (or update) the plan as a pull-request comment", 0 },
	{ "pr", OPT_PR, "N", 0, "the pull/merge request (default: from the CI environment)", 0 },
	{ "forge", OPT_FORGE, "NAME", 0, "github or gitlab (default: from the CI environment)", 0 },
	{ "api-url", OPT_API, "URL", 0, "the forge's API (GitHub Enterprise, tests)", 0 },
	{ "max-lines", OPT_MAX_LINES, "N", 0, "markdown: at most N change lines (300)", 0 },
	{ "no-cache", OPT_NO_CACHE, NULL, 0, "neither read nor write .git/orc8r/", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;
	char *end;

	switch (key) {
	case 'C':
		a->dir = arg;
		break;
	case OPT_BASE:
		a->run.base_rev = arg;
		break;
	case OPT_HEAD:
		a->run.head_rev = arg;
		break;
	case 'o':
		if ((a->out = o8_cli_parse_output(arg, true)) < 0)
			argp_error(state, "unknown output format '%s' (use text, json or markdown)", arg);
		break;
	case OPT_DETAILED:
		a->detailed = true;
		break;
	case OPT_COMMENT:
		a->comment = true;
		break;
	case OPT_NO_CACHE:
		a->run.no_cache = true;
		break;
	case OPT_PR:
		a->forge.pr = strtol(arg, &end, 10);
		if (*end || a->forge.pr <= 0)
			argp_error(state, "--pr takes a pull request number, not '%s'", arg);
		break;
	case OPT_FORGE:
		if (strcmp(arg, "github") && strcmp(arg, "gitlab"))
			argp_error(state, "--forge is github or gitlab, not '%s'", arg);
		a->forge.kind = arg;
		break;
	case OPT_API:
		a->forge.api_url = arg;
		break;
	case OPT_MAX_LINES:
		a->max_lines = strtoul(arg, &end, 10);
		if (*end || !a->max_lines)
			argp_error(state, "--max-lines takes a positive number, not '%s'", arg);
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
	"Show what a change does before it is applied: each object to create "
	"(+), update in place (~, field by field), destroy (-) or replace (-/+, "
	"its key changed), and which gateways receive how many records. Secrets "
	"show as (sensitive) with a short fingerprint, never their value. The "
	"head is validated first; when it is invalid the errors are shown "
	"instead of a plan."
	"\v"
	"Examples:\n"
	"  orc8r plan                               # work tree vs the upstream\n"
	"  orc8r plan --base HEAD~1 --head HEAD     # the last commit\n"
	"  orc8r plan -o markdown --comment         # in CI: comment on the PR\n"
	"  orc8r plan --detailed-exitcode || echo \"changes or error: $?\"\n"
	"\n"
	"The plan cache in .git/orc8r/ makes a second plan of a large repository\n"
	"parse only the changed files; it is safe to delete.\n"
	"\n"
	"Exit status: 0 no changes (or changes without --detailed-exitcode),\n"
	"2 changes with --detailed-exitcode, 3 the head is invalid, 1 failure.";

static const struct argp argp = { options, parse_opt, NULL, doc, NULL, NULL, NULL };

enum { MD_MAX_ERRORS = 50 };

/* An invalid head, for a pull request: the errors instead of a plan. */
static void invalid_markdown(FILE *f, const struct o8_diags *d)
{
	size_t i;

	fprintf(f, "### orc8r plan\n\n**The configuration is invalid** (%zu error%s): no plan until it validates.\n\n```\n",
		d->n, d->n == 1 ? "" : "s");
	for (i = 0; i < d->n && i < MD_MAX_ERRORS; i++) {
		const struct o8_diag *x = &d->v[i];
		fprintf(f, "%s:%u:%u: ", x->file, x->line, x->col);
		if (x->kind)
			fprintf(f, "%s/%s: ", x->kind, x->name ? x->name : "?");
		fprintf(f, "%s\n", x->msg);
	}
	if (d->n > MD_MAX_ERRORS)
		fprintf(f, "... and %zu more (orc8r validate lists them all)\n", d->n - MD_MAX_ERRORS);
	fputs("```\n", f);
}

static int post_markdown(struct args *a, const char *md);

static int post_invalid(struct args *a, const struct o8_diags *d)
{
	char *md = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&md, &len);
	int rc;

	if (!m)
		return O8_EXIT_FAIL;
	invalid_markdown(m, d);
	if (fclose(m)) {
		free(md);
		return O8_EXIT_FAIL;
	}
	rc = post_markdown(a, md);
	free(md);
	return rc;
}

static int post_comment(struct args *a, const struct o8_plan *p)
{
	char *md = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&md, &len);
	int rc;

	if (!m || o8_plan_render_markdown(m, p, a->max_lines) || fclose(m)) {
		o8_cli_errorf("cannot render the plan comment");
		free(md);
		return O8_EXIT_FAIL;
	}
	rc = post_markdown(a, md);
	free(md);
	return rc;
}

static int post_markdown(struct args *a, const char *md)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_forge *f = NULL;
	char *url = NULL;
	int rc = O8_EXIT_OK;

	if (o8_forge_new(&f, &a->forge, &err) ||
	    o8_forge_upsert_comment(f, md, &url, &err)) {
		o8_cli_error(&err);
		rc = O8_EXIT_FAIL;
	} else {
		fprintf(stderr, "orc8r: plan posted on %s pull request %ld%s%s\n",
			o8_forge_kind(f), o8_forge_pr(f), url ? ": " : "", url ? url : "");
	}
	o8_forge_free(f);
	free(url);
	return rc;
}

int cmd_plan(int argc, char **argv, struct o8_cli *cli)
{
	struct args a = { .dir = cli->dir, .out = O8_OUT_TEXT, .max_lines = 300,
			  .forge = O8_FORGE_OPTS_INIT };
	struct o8_err err = O8_ERR_INIT;
	struct o8_git *g = NULL;
	const struct o8_plan *p;
	int rc;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (o8_git_open(&g, a.dir ? a.dir : ".", &err) || plan_run(&a.run, g, &err)) {
		o8_cli_error(&err);
		rc = O8_EXIT_FAIL;
		goto out;
	}
	if (!a.run.plan) {
		o8_diags_sort(&a.run.diags);
		rc = O8_EXIT_INVALID;
		if (a.out == O8_OUT_MARKDOWN || a.comment) {
			/* the PR must not keep showing an older, valid plan */
			if (a.out == O8_OUT_MARKDOWN)
				invalid_markdown(stdout, &a.run.diags);
			if (a.comment && post_invalid(&a, &a.run.diags))
				rc = O8_EXIT_FAIL;
			if (a.out == O8_OUT_MARKDOWN)
				goto out;
		}
		o8_cli_report_validation(&a.run.counts, &a.run.diags, a.run.head_files,
					 a.out == O8_OUT_JSON ? O8_OUT_JSON : O8_OUT_TEXT,
					 false, cli->color);
		goto out;
	}
	p = a.run.plan;
	if (a.out == O8_OUT_JSON)
		o8_plan_render_json(stdout, p);
	else if (a.out == O8_OUT_MARKDOWN)
		o8_plan_render_markdown(stdout, p, a.max_lines);
	else
		o8_plan_render_text(stdout, p, cli->color);
	rc = O8_EXIT_OK;
	if (a.comment)
		rc = post_comment(&a, p);
	if (rc == O8_EXIT_OK && a.detailed && (p->nchanges || p->ngateways))
		rc = O8_EXIT_CHANGES;
out:
	plan_run_done(&a.run);
	o8_git_free(g);
	return rc;
}
