/*
 * orc8r apply - validate, show the plan, commit the work tree's
 * configuration and push it to the upstream, where syncd picks it up.
 */
#include "cmds.h"

#include <argp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan_run.h"

struct args {
	const char *dir;
	const char *msg;
	bool yes;
};

static const struct argp_option options[] = {
	{ "directory", 'C', "DIR", 0, "the repository (default: current directory)", 0 },
	{ "message", 'm', "MSG", 0, "the commit message (default: the plan's summary)", 0 },
	{ "yes", 'y', NULL, 0, "apply without asking (required when stdin is not a terminal)", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;

	switch (key) {
	case 'C':
		a->dir = arg;
		break;
	case 'm':
		a->msg = arg;
		break;
	case 'y':
		a->yes = true;
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
	"Apply the work tree's configuration: validate it, show the plan against "
	"the upstream branch, ask, commit the changed configuration files (author "
	"from git config) and push to the upstream, never forced. If the remote "
	"moved, apply fetches and replays the commit on top; if that conflicts it "
	"stops and changes nothing. Nothing is committed when validation fails."
	"\v"
	"Examples:\n"
	"  orc8r apply                         # asks before committing\n"
	"  orc8r apply -m 'add APN voice' --yes\n"
	"\n"
	"Credentials: ssh keys through ssh-agent or ~/.ssh; for https set\n"
	"ORC8R_GIT_TOKEN (and ORC8R_GIT_USER).\n"
	"\n"
	"Exit status: 0 applied or nothing to apply, 3 invalid configuration,\n"
	"1 failure (nothing pushed).";

static const struct argp argp = { options, parse_opt, NULL, doc, NULL, NULL, NULL };

/* Only "yes" counts, as with terraform: a stray Enter must not push. */
static bool confirm(void)
{
	char line[64];

	fputs("\nApply these changes? Only 'yes' is accepted: ", stdout);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return !strcmp(line, "yes");
}

int cmd_apply(int argc, char **argv, struct o8_cli *cli)
{
	struct args a = { .dir = cli->dir };
	struct plan_run run = { 0 };
	struct o8_git_push_info info;
	struct o8_err err = O8_ERR_INIT;
	struct o8_git *g = NULL;
	char oid[41] = "", msg[256];
	const struct o8_plan *p;
	enum o8_rc rc;
	int ret = O8_EXIT_FAIL;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (o8_git_open(&g, a.dir ? a.dir : ".", &err) || plan_run(&run, g, &err)) {
		o8_cli_error(&err);
		goto out;
	}
	if (!run.plan) {
		o8_diags_sort(&run.diags);
		o8_cli_report_validation(&run.counts, &run.diags, run.head_files,
					 O8_OUT_TEXT, false, cli->color);
		fputs("orc8r: nothing committed: fix the errors above first\n", stderr);
		ret = O8_EXIT_INVALID;
		goto out;
	}
	p = run.plan;
	o8_plan_render_text(stdout, p, cli->color);
	if (!p->nchanges) {
		/* the upstream already has this configuration: nothing to ask */
		printf("\nNothing to apply.\n");
		ret = O8_EXIT_OK;
		goto out;
	}
	if (!a.yes) {
		if (!isatty(STDIN_FILENO)) {
			o8_cli_errorf("stdin is not a terminal: pass --yes to apply without asking");
			goto out;
		}
		if (!confirm()) {
			fputs("Apply cancelled: nothing committed.\n", stdout);
			ret = O8_EXIT_OK;
			goto out;
		}
	}
	if (!a.msg) {
		snprintf(msg, sizeof(msg), "orc8r apply: %zu to add, %zu to change, %zu to destroy",
			 p->add, p->change, p->destroy);
		a.msg = msg;
	}
	rc = o8_git_commit_all(oid, g, a.msg, &err);
	if (rc == O8_ENOTFOUND) {
		o8_err_clear(&err);     /* nothing new: maybe commits to push */
		oid[0] = '\0';
	} else if (rc) {
		o8_cli_error(&err);
		goto out;
	}
	if (o8_git_push(&info, g, &err)) {
		o8_cli_error(&err);
		if (oid[0])
			fprintf(stderr, "orc8r: committed %.12s locally, not pushed\n", oid);
		goto out;
	}
	if (info.up_to_date && !oid[0])
		printf("\nNothing to push: %s already has this commit.\n", info.url);
	else
		printf("\nApplied: %.12s pushed to %s (%s)%s.\n", info.new_oid, info.url,
		       info.branch, info.rebased ? ", replayed on the remote's newer commits" : "");
	ret = O8_EXIT_OK;
out:
	plan_run_done(&run);
	o8_git_free(g);
	return ret;
}
