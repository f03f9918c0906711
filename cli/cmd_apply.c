/*
 * orc8r apply - validate, show the plan, commit the work tree's
 * configuration and push it to the upstream, where syncd picks it up;
 * with --wait, follow syncd until every gateway runs the pushed commit.
 */
#include "cmds.h"

#include <argp.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "plan_run.h"

enum { OPT_WAIT = 0x100, OPT_TIMEOUT };

struct args {
	const char *dir;
	const char *msg;
	bool yes;
	bool wait, timeout_given;
	unsigned long timeout;          /* seconds, --wait */
	struct o8_api_opts api;
};

static const struct argp_option options[] = {
	{ "directory", 'C', "DIR", 0, "the repository (default: current directory)", 0 },
	{ "message", 'm', "MSG", 0, "the commit message (default: the plan's summary)", 0 },
	{ "yes", 'y', NULL, 0, "apply without asking (required when stdin is not a terminal)", 0 },
	{ "wait", OPT_WAIT, NULL, 0, "after the push, wait until every gateway runs the commit", 0 },
	{ "timeout", OPT_TIMEOUT, "S", 0, "with --wait: give up after S seconds (300)", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;
	char *end;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->api;
		break;
	case OPT_WAIT:
		a->wait = true;
		break;
	case OPT_TIMEOUT:
		a->timeout = strtoul(arg, &end, 10);
		if (*end || !a->timeout || a->timeout > 86400 || *arg == '-')
			argp_error(state, "--timeout takes seconds from 1 to 86400, not '%s'", arg);
		a->timeout_given = true;
		break;
	case ARGP_KEY_END:
		if (a->timeout_given && !a->wait)
			argp_error(state, "--timeout goes with --wait");
		break;
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
	"  orc8r apply --yes --wait            # and watch the gateways converge\n"
	"  git pull && orc8r apply --wait      # after CI pushed: wait for it\n"
	"\n"
	"Credentials: ssh keys through ssh-agent or ~/.ssh; for https set\n"
	"ORC8R_GIT_TOKEN (and ORC8R_GIT_USER).\n"
	"\n"
	"--wait asks syncd to fetch at once (POST /v1/refresh, which needs a\n"
	"token with the write role; without it syncd's webhook or poll will do),\n"
	"then follows GET /v1/status until syncd has the pushed commit and every\n"
	"gateway it concerns has applied it. With nothing to apply it waits for\n"
	"the upstream's commit. Progress goes to stderr.\n"
	"\n"
	"Exit status: 0 applied or nothing to apply (with --wait: and every\n"
	"gateway converged), 3 invalid configuration or syncd rejected the\n"
	"commit, 1 failure (nothing pushed; with --wait: timeout, a gateway\n"
	"failed, or syncd cannot be reached).";

static const struct argp_child children[] = {
	{ &o8_cli_api_argp, 0, "Reaching syncd (--wait):", 0 },
	{ 0 }
};

static const struct argp argp = { options, parse_opt, NULL, doc, children, NULL, NULL };

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

/* ---- --wait: follow syncd until the gateways run the commit ---- */

enum {
	POLL_MS = 300,                  /* between two GET /v1/status */
	LOG_EVERY_S = 2,                /* not a terminal: at most one line per 2 s */
	HEARTBEAT_S = 30,               /* ... and one at least every 30 s */
	NAMES_SHOWN = 5,                /* gateways named in a final message */
	DEFAULT_TIMEOUT_S = 300,
};

/* The gateways the commit concerns, as one status shows them. */
struct converge {
	size_t total, converged, failed, offline;
};

struct progress {
	bool tty;
	double t0, printed_at;
	char last[192];                 /* the last line without its clock */
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool same_commit(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

static void count(struct converge *cv, const json_t *gws, const char *commit)
{
	const json_t *g;
	size_t i;

	memset(cv, 0, sizeof(*cv));
	json_array_foreach(gws, i, g) {
		const char *state = jstr(g, "state");

		if (!same_commit(jstr(g, "desired_commit"), commit))
			continue;
		cv->total++;
		cv->converged += same_commit(jstr(g, "applied_commit"), commit);
		cv->failed += state && !strcmp(state, "failed");
		cv->offline += state && !strcmp(state, "offline");
	}
}

/*
 * One progress line on stderr: rewritten in place on a terminal; else
 * printed when it changed, at most every LOG_EVERY_S and at least every
 * HEARTBEAT_S seconds.
 */
static void progress(struct progress *p, const char *line)
{
	double t = now_s();
	bool changed = strcmp(line, p->last) != 0;

	if (p->tty) {
		fprintf(stderr, "\r\033[K%s, %.0f s", line, t - p->t0);
	} else if ((changed && t - p->printed_at >= LOG_EVERY_S) ||
		   t - p->printed_at >= HEARTBEAT_S) {
		fprintf(stderr, "%s, %.0f s\n", line, t - p->t0);
		p->printed_at = t;
	} else {
		return;
	}
	snprintf(p->last, sizeof(p->last), "%s", line);
	fflush(stderr);
}

/* Ends the progress display; the final message follows on its own line. */
static void progress_end(struct progress *p)
{
	if (p->tty)
		fputs("\r\033[K", stderr);
}

/* Server text on stderr without control sequences. */
static void put_safe(const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, stderr);
}

static void put_gateway(const json_t *g)
{
	put_safe(jstr(g, "network") ? jstr(g, "network") : "?");
	fputc('/', stderr);
	put_safe(jstr(g, "name") ? jstr(g, "name") : "?");
}

/* Names the first gateways of the commit that have not applied it. */
static void list_laggards(const json_t *gws, const char *commit)
{
	const json_t *g;
	size_t i, shown = 0;

	json_array_foreach(gws, i, g) {
		if (!same_commit(jstr(g, "desired_commit"), commit) ||
		    same_commit(jstr(g, "applied_commit"), commit))
			continue;
		if (shown++ == NAMES_SHOWN) {
			fputs(", ...", stderr);
			break;
		}
		fputs(shown > 1 ? ", " : ": ", stderr);
		put_gateway(g);
		fputs(" (", stderr);
		put_safe(jstr(g, "state") ? jstr(g, "state") : "?");
		fputc(')', stderr);
	}
	fputc('\n', stderr);
}

static void list_failed(const json_t *gws, const char *commit)
{
	const json_t *g;
	size_t i;

	json_array_foreach(gws, i, g) {
		const char *state = jstr(g, "state");

		if (!same_commit(jstr(g, "desired_commit"), commit) ||
		    !state || strcmp(state, "failed"))
			continue;
		fputs("  ", stderr);
		put_gateway(g);
		fputs(": ", stderr);
		put_safe(jstr(g, "last_error") ? jstr(g, "last_error") : "no error given");
		fputc('\n', stderr);
	}
}

/*
 * Asks syncd to fetch now.  A refusal is no reason to stop (a read-only
 * token, an older syncd): its webhook or poll brings the commit too.
 * Returns -1 only when syncd cannot be reached at all.
 */
static int refresh(struct o8_api *c)
{
	struct o8_err err = O8_ERR_INIT;

	if (!o8_api_post(c, "/v1/refresh", NULL, NULL, &err))
		return 0;
	if (!o8_api_status(c)) {
		o8_cli_error(&err);
		return -1;
	}
	fprintf(stderr, "orc8r: note: %s; waiting for syncd's webhook or poll instead\n",
		err.msg);
	return 0;
}

/*
 * What one status says about the commit: O8_EXIT_OK converged,
 * O8_EXIT_INVALID rejected, O8_EXIT_FAIL a gateway failed, -1 not yet
 * (line says how far).
 */
static int judge(const json_t *st, const char *commit, struct converge *cv,
		 char *line, size_t size)
{
	if (same_commit(jstr(json_object_get(st, "rejected"), "commit"), commit))
		return O8_EXIT_INVALID;
	if (!same_commit(jstr(st, "commit"), commit)) {
		snprintf(line, size, "waiting for syncd to fetch %.12s", commit);
		return -1;
	}
	count(cv, json_object_get(st, "gateways"), commit);
	if (cv->failed)
		return O8_EXIT_FAIL;
	if (cv->converged == cv->total)
		return O8_EXIT_OK;
	snprintf(line, size, "converged %zu/%zu, %zu failed, %zu offline",
		 cv->converged, cv->total, cv->failed, cv->offline);
	return -1;
}

/* The final line(s) for what judge() decided. */
static void report(int r, const json_t *st, const char *commit,
		   const struct converge *cv, double secs)
{
	const json_t *rej = json_object_get(st, "rejected");

	if (r == O8_EXIT_INVALID) {
		fprintf(stderr, "orc8r: syncd rejected commit %.12s: ", commit);
		put_safe(jstr(rej, "reason") ? jstr(rej, "reason") : "no reason given");
		fputc('\n', stderr);
	} else if (r == O8_EXIT_FAIL) {
		fprintf(stderr, "orc8r: %zu of %zu gateway%s failed to apply %.12s:\n",
			cv->failed, cv->total, cv->total == 1 ? "" : "s", commit);
		list_failed(json_object_get(st, "gateways"), commit);
	} else if (!cv->total) {
		fprintf(stderr, "syncd has %.12s; it changes no gateway's configuration\n", commit);
	} else {
		fprintf(stderr, "converged %zu/%zu on %.12s in %.0f s\n", cv->converged,
			cv->total, commit, secs);
	}
}

static int timed_out(const json_t *st, const char *commit, unsigned long timeout,
		     const struct converge *cv, const char *last_err)
{
	if (!st) {
		fprintf(stderr, "orc8r: timed out after %lu s: %s\n", timeout, last_err);
	} else if (!same_commit(jstr(st, "commit"), commit)) {
		fprintf(stderr, "orc8r: timed out after %lu s: syncd still has commit %.12s, not %.12s (is its webhook or poll set up?)\n",
			timeout, jstr(st, "commit") ? jstr(st, "commit") : "(none)", commit);
	} else {
		fprintf(stderr, "orc8r: timed out after %lu s: %zu of %zu gateway%s did not converge",
			timeout, cv->total - cv->converged, cv->total,
			cv->total == 1 ? "" : "s");
		list_laggards(json_object_get(st, "gateways"), commit);
	}
	return O8_EXIT_FAIL;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Polls syncd until every gateway whose desired commit is commit has
 * applied it.  Errors that may pass (no answer, 5xx) are retried until the
 * deadline; a refused request (4xx) ends the wait at once.
 */
static int wait_converged(struct o8_api *c, const char *commit, unsigned long timeout)
{
	struct progress p = { .tty = isatty(STDERR_FILENO), .t0 = now_s() };
	struct converge cv = { 0 };
	char line[sizeof(p.last)], last_err[sizeof(((struct o8_err *)0)->msg)] = "";
	json_t *st = NULL;
	int r = -1;

	p.printed_at = p.t0 - LOG_EVERY_S;
	if (refresh(c))
		return O8_EXIT_FAIL;
	for (;;) {
		struct o8_err err = O8_ERR_INIT;
		json_t *next = NULL;

		if (o8_api_get(c, "/v1/status", &next, &err)) {
			long http = o8_api_status(c);

			if (http >= 400 && http < 500) {
				progress_end(&p);
				o8_cli_error(&err);
				break;
			}
			snprintf(last_err, sizeof(last_err), "%s", err.msg);
			snprintf(line, sizeof(line), "syncd does not answer, retrying");
		} else {
			json_decref(st);
			st = next;
			if ((r = judge(st, commit, &cv, line, sizeof(line))) >= 0) {
				progress_end(&p);
				report(r, st, commit, &cv, now_s() - p.t0);
				break;
			}
		}
		if (now_s() - p.t0 >= (double)timeout) {
			progress_end(&p);
			r = timed_out(st, commit, timeout, &cv, last_err);
			break;
		}
		progress(&p, line);
		pause_ms(POLL_MS);
	}
	json_decref(st);
	return r < 0 ? O8_EXIT_FAIL : r;
}

/*
 * --wait is only worth a push when syncd answers to our credentials: ask
 * it once before anything is committed.
 */
static int preflight(struct o8_api *c)
{
	struct o8_err err = O8_ERR_INIT;
	json_t *st = NULL;

	if (!o8_api_get(c, "/v1/status", &st, &err)) {
		json_decref(st);
		return 0;
	}
	o8_cli_error(&err);
	o8_cli_errorf("nothing committed: --wait cannot follow syncd (drop --wait to push anyway)");
	return -1;
}

/* Nothing to apply: the upstream already has this configuration, so wait
 * for the upstream's commit (as last fetched), e.g. one CI pushed. */
static int wait_upstream(struct o8_api *c, const struct plan_run *run,
			 unsigned long timeout)
{
	const char *commit = o8_snapshot_commit(run->base);

	if (!commit) {
		o8_cli_errorf("nothing to wait for: '%s' names no commit", run->base_used);
		return O8_EXIT_FAIL;
	}
	fflush(stdout);
	return wait_converged(c, commit, timeout);
}

int cmd_apply(int argc, char **argv, struct o8_cli *cli)
{
	struct args a = { .dir = cli->dir, .timeout = DEFAULT_TIMEOUT_S };
	struct o8_api *api = NULL;
	struct plan_run run = { 0 };
	struct o8_git_push_info info;
	struct o8_err err = O8_ERR_INIT;
	struct o8_git *g = NULL;
	char oid[O8_OID_HEX_SIZE] = "", msg[256];
	const struct o8_plan *p;
	enum o8_rc rc;
	int ret = O8_EXIT_FAIL;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	/* before anything is committed: a --wait that cannot work says so now */
	if (a.wait && (!(api = o8_cli_api_open(&a.api, a.dir ? a.dir : ".")) ||
		       preflight(api)))
		goto out;
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
		if (a.wait)
			ret = wait_upstream(api, &run, a.timeout);
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
	if (a.wait) {
		fflush(stdout);
		ret = wait_converged(api, info.new_oid, a.timeout);
	}
out:
	o8_api_free(api);
	plan_run_done(&run);
	o8_git_free(g);
	return ret;
}
