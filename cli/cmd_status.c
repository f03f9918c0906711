/*
 * orc8r status - every gateway's desired and applied commit as syncd sees
 * it, one row each, and whether syncd rejected a commit.
 *
 * The text is rendered by render_status() from syncd's JSON and a "now"
 * alone, so the golden tests (test/golden/status/) feed it a saved status
 * through the hidden --input and --now options, without a server.
 *
 * Also here: the options and the opening of the syncd client that status,
 * diff and apply --wait share.
 */
#include "cmds.h"

#include <argp.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- reaching syncd (shared) ---- */

enum { OPT_SERVER = 0x100, OPT_CA, OPT_TOKEN_FILE, OPT_CERT, OPT_KEY };

static const struct argp_option api_options[] = {
	{ "server", OPT_SERVER, "URL", 0,
	  "syncd's API URL (default: ORC8R_SERVER, else 'server' in .orc8r/config.yaml)", 0 },
	{ "ca", OPT_CA, "FILE", 0,
	  "the CA that signed syncd's certificate, pki/ca.crt (default: ORC8R_CA, else 'ca', else the system's)", 0 },
	{ "token-file", OPT_TOKEN_FILE, "FILE", 0,
	  "file holding the API token (default: the token in ORC8R_TOKEN, else 'token_file')", 0 },
	{ "cert", OPT_CERT, "FILE", 0, "a client certificate (PEM) instead of a token", 0 },
	{ "key", OPT_KEY, "FILE", 0, "its private key (default: in the --cert file)", 0 },
	{ 0 }
};

static error_t parse_api_opt(int key, char *arg, struct argp_state *state)
{
	struct o8_api_opts *o = state->input;

	switch (key) {
	case OPT_SERVER:
		o->server = arg;
		break;
	case OPT_CA:
		o->ca = arg;
		break;
	case OPT_TOKEN_FILE:
		o->token_file = arg;
		break;
	case OPT_CERT:
		o->cert = arg;
		break;
	case OPT_KEY:
		o->key = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp o8_cli_api_argp = { api_options, parse_api_opt, NULL, NULL, NULL, NULL, NULL };

static const struct argp_option query_options[] = {
	{ "directory", 'C', "DIR", 0, "the repository whose .orc8r/config.yaml counts", 0 },
	{ "output", 'o', "FORMAT", 0, "text (default) or json (syncd's answer as is)", 0 },
	{ 0 }
};

static error_t parse_query_opt(int key, char *arg, struct argp_state *state)
{
	struct o8_cli_query *q = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &q->api;
		break;
	case 'C':
		q->api.dir = arg;
		break;
	case 'o':
		if ((q->out = o8_cli_parse_output(arg, false)) < 0)
			argp_error(state, "unknown output format '%s' (use text or json)", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child query_children[] = {
	{ &o8_cli_api_argp, 0, "Reaching syncd:", 0 },
	{ 0 }
};

const struct argp o8_cli_query_argp = {
	query_options, parse_query_opt, NULL, NULL, query_children, NULL, NULL
};

struct o8_api *o8_cli_api_open(struct o8_api_opts *o, const char *dir)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_api *c;

	if (!o->dir)
		o->dir = dir;
	if (o8_api_new(&c, o, &err)) {
		o8_cli_error(&err);
		return NULL;
	}
	return c;
}

/* ---- rendering ---- */

enum { NCOLS = 6, SHORT_COMMIT = 12, MAX_ERROR_LINES = 20 };

static const char *const headings[NCOLS] = {
	"NETWORK", "NAME", "DESIRED", "APPLIED", "STATE", "LAST-SEEN",
};

/* The states in the order the summary counts them, with their colour. */
static const struct state_def {
	const char *name;
	const char *color;
} states[] = {
	{ "in-sync", "\033[32m" },
	{ "pending", "\033[33m" },
	{ "drifted", "\033[35m" },
	{ "offline", "\033[90m" },
	{ "failed", "\033[31m" },
};

enum { NSTATES = sizeof(states) / sizeof(states[0]), MAX_TALLY = NSTATES + 8 };

struct row {
	const char *col[NCOLS];
	char desired[SHORT_COMMIT + 1], applied[SHORT_COMMIT + 1], seen[32];
};

/* Names and messages come from a server: no control sequences reach the
 * terminal.  A newline continues on a line that starts with indent. */
static void put_text(FILE *f, const char *s, const char *indent)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\n')
			fprintf(f, "\n%s", indent);
		else
			fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, f);
	}
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void short_commit(char *out, const char *commit)
{
	snprintf(out, SHORT_COMMIT + 1, "%s", commit ? commit : "-");
}

/*
 * "2026-11-25T12:00:00Z" (fractions and offsets allowed) -> seconds since
 * the epoch; -1 when it is not such a time.
 */
static time_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	int n = 0, sign, oh, om;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((t = timegm(&tm)) == -1)
		return -1;
	s += n;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	if (!strcmp(s, "Z") || !strcmp(s, "z"))
		return t;
	if ((*s != '+' && *s != '-') || sscanf(s + 1, "%2d:%2d", &oh, &om) != 2 ||
	    strlen(s) != 6)
		return -1;
	sign = *s == '-' ? 1 : -1;
	return t + sign * (oh * 3600 + om * 60);
}

/* "12s ago", "3m ago", "5h ago", "2d ago", "never" (NULL), "?" (garbled). */
static void ago(char *out, size_t size, const char *when, time_t now)
{
	static const struct { long secs; char unit; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	time_t t = parse_time(when);
	long d;
	size_t i;

	if (!when) {
		snprintf(out, size, "never");
		return;
	}
	if (t == -1) {
		snprintf(out, size, "?");
		return;
	}
	d = now > t ? (long)(now - t) : 0;      /* a clock ahead of ours: now */
	for (i = 0; units[i].secs > 1 && d < units[i].secs; i++)
		;
	snprintf(out, size, "%ld%c ago", d / units[i].secs, units[i].unit);
}

static const char *state_color(const char *state)
{
	size_t i;

	for (i = 0; i < NSTATES; i++)
		if (!strcmp(state, states[i].name))
			return states[i].color;
	return "";
}

static void fill_row(struct row *r, const json_t *g, time_t now)
{
	short_commit(r->desired, str(g, "desired_commit"));
	short_commit(r->applied, str(g, "applied_commit"));
	ago(r->seen, sizeof(r->seen), str(g, "last_seen"), now);
	r->col[0] = str(g, "network") ? str(g, "network") : "?";
	r->col[1] = str(g, "name") ? str(g, "name") : "?";
	r->col[2] = r->desired;
	r->col[3] = r->applied;
	r->col[4] = str(g, "state") ? str(g, "state") : "unknown";
	r->col[5] = r->seen;
}

static void print_cell(FILE *f, const char *s, size_t width, bool last,
		       const char *color)
{
	size_t n = strlen(s);

	fputs(color, f);
	put_text(f, s, "");
	fputs(*color ? "\033[0m" : "", f);
	if (last) {
		fputc('\n', f);
		return;
	}
	for (; n < width + 2; n++)
		fputc(' ', f);
}

static void print_table(FILE *f, const struct row *rows, size_t n, bool color)
{
	size_t w[NCOLS], i, k;

	for (k = 0; k < NCOLS; k++) {
		w[k] = strlen(headings[k]);
		for (i = 0; i < n; i++)
			if (strlen(rows[i].col[k]) > w[k])
				w[k] = strlen(rows[i].col[k]);
	}
	for (k = 0; k < NCOLS; k++)
		print_cell(f, headings[k], w[k], k == NCOLS - 1, "");
	for (i = 0; i < n; i++)
		for (k = 0; k < NCOLS; k++)
			print_cell(f, rows[i].col[k], w[k], k == NCOLS - 1,
				   k == 4 && color ? state_color(rows[i].col[4]) : "");
}

struct tally {
	const char *name[MAX_TALLY];
	size_t n[MAX_TALLY], used, total;
};

/* Known states keep their order; others follow as they first appear. */
static void tally_add(struct tally *t, const char *state)
{
	size_t i;

	if (!t->used)
		for (; t->used < NSTATES; t->used++)
			t->name[t->used] = states[t->used].name;
	t->total++;
	for (i = 0; i < t->used; i++)
		if (!strcmp(t->name[i], state)) {
			t->n[i]++;
			return;
		}
	if (t->used == MAX_TALLY)
		i = t->used - 1;        /* a server inventing states: lump them */
	else
		t->name[t->used++] = state;
	t->n[i]++;
}

static void print_summary(FILE *f, const struct tally *t)
{
	const char *sep = ": ";
	size_t i;

	if (!t->total) {
		fputs("no gateways\n", f);
		return;
	}
	fprintf(f, "%zu gateway%s", t->total, t->total == 1 ? "" : "s");
	for (i = 0; i < t->used; i++) {
		if (!t->n[i])
			continue;
		fprintf(f, "%s%zu ", sep, t->n[i]);
		put_text(f, t->name[i], "");
		sep = ", ";
	}
	fputc('\n', f);
}

static void print_desired(FILE *f, const json_t *st, time_t now)
{
	const char *commit = str(st, "commit");
	json_t *version = json_object_get(st, "version");
	char when[32];

	if (!commit) {
		fputs("desired: syncd has no commit yet\n", f);
		return;
	}
	fputs("desired: commit ", f);
	put_text(f, commit, "");
	if (json_is_integer(version))
		fprintf(f, " (version %" JSON_INTEGER_FORMAT ")", json_integer_value(version));
	if (str(st, "fetched_at")) {
		ago(when, sizeof(when), str(st, "fetched_at"), now);
		fprintf(f, ", fetched %s", when);
	}
	fputc('\n', f);
}

static void print_rejected(FILE *f, const json_t *st, bool color)
{
	const json_t *rej = json_object_get(st, "rejected");
	const char *commit = str(rej, "commit"), *reason = str(rej, "reason");
	char shortc[SHORT_COMMIT + 1];

	if (!json_is_object(rej))
		return;
	short_commit(shortc, commit);
	fprintf(f, "%ssyncd rejected commit ", color ? "\033[31m" : "");
	put_text(f, shortc, "");
	fprintf(f, "%s: ", color ? "\033[0m" : "");
	put_text(f, reason ? reason : "no reason given", "  ");
	fputc('\n', f);
}

static void print_errors(FILE *f, const json_t *gws)
{
	size_t i, shown = 0, more = 0;
	const json_t *g;

	json_array_foreach(gws, i, g) {
		const char *e = str(g, "last_error");

		if (!e)
			continue;
		if (shown == MAX_ERROR_LINES) {
			more++;
			continue;
		}
		fputs(shown++ ? "  " : "\nlast errors:\n  ", f);
		put_text(f, str(g, "network") ? str(g, "network") : "?", "");
		fputc('/', f);
		put_text(f, str(g, "name") ? str(g, "name") : "?", "");
		fputs(": ", f);
		put_text(f, e, "    ");
		fputc('\n', f);
	}
	if (more)
		fprintf(f, "  ... and %zu more (orc8r status -o json lists them all)\n", more);
}

/*
 * The text of a status: a table of the gateways, a blank line, the count
 * by state, the desired commit, a rejected commit, the gateways' last
 * errors.  Depends on st and now only.
 */
static int render_status(FILE *f, const json_t *st, time_t now, bool color)
{
	const json_t *gws = json_object_get(st, "gateways"), *g;
	struct tally t = { 0 };
	struct row *rows;
	size_t n = json_array_size(gws), i;

	if (!(rows = calloc(n ? n : 1, sizeof(*rows))))
		return -1;
	json_array_foreach(gws, i, g) {
		fill_row(&rows[i], g, now);
		tally_add(&t, rows[i].col[4]);
	}
	if (n) {
		print_table(f, rows, n, color);
		fputc('\n', f);
	}
	print_summary(f, &t);
	print_desired(f, st, now);
	print_rejected(f, st, color);
	print_errors(f, gws);
	free(rows);
	return ferror(f) ? -1 : 0;
}

/* Every gateway in sync and no commit rejected: what --check asks. */
static bool all_in_sync(const json_t *st)
{
	const json_t *g;
	size_t i;

	if (json_is_object(json_object_get(st, "rejected")))
		return false;
	json_array_foreach(json_object_get(st, "gateways"), i, g)
		if (!str(g, "state") || strcmp(str(g, "state"), "in-sync"))
			return false;
	return true;
}

/* ---- the command ---- */

enum { OPT_NETWORK = 0x200, OPT_CHECK, OPT_INPUT, OPT_NOW };

struct args {
	struct o8_cli_query q;
	const char *network;
	const char *input;              /* hidden: a saved status (golden tests) */
	const char *now;                /* hidden: the time "ago" counts from */
	bool check;
};

static const struct argp_option options[] = {
	{ "network", OPT_NETWORK, "NAME", 0, "only the gateways of this network", 0 },
	{ "check", OPT_CHECK, NULL, 0, "exit 5 unless every gateway is in sync and no commit is rejected", 0 },
	{ "input", OPT_INPUT, "FILE", OPTION_HIDDEN, "render a saved status instead of asking syncd", 0 },
	{ "now", OPT_NOW, "TIME", OPTION_HIDDEN, "count \"ago\" from TIME (RFC 3339)", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->q;
		break;
	case OPT_NETWORK:
		a->network = arg;
		break;
	case OPT_CHECK:
		a->check = true;
		break;
	case OPT_INPUT:
		a->input = arg;
		break;
	case OPT_NOW:
		if (parse_time(arg) == -1)
			argp_error(state, "--now takes a time like 2026-11-25T12:00:00Z, not '%s'", arg);
		a->now = arg;
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
	"Show every gateway as syncd sees it: the commit it should run "
	"(DESIRED), the one it runs (APPLIED), its state and when syncd last "
	"heard from it; then the count by state and the commit syncd has. "
	"States: in-sync, pending (applying a newer commit), drifted (its "
	"records differ from what it acknowledged), offline, failed (it "
	"refused or rolled back the desired commit; see its last error)."
	"\v"
	"Examples:\n"
	"  orc8r status\n"
	"  orc8r status --network lab -o json | jq .summary\n"
	"  orc8r status --check || alert 'configuration not deployed'\n"
	"\n"
	"Exit status: 0 when syncd answered, whatever the states; with --check\n"
	"5 when a gateway is not in sync or syncd rejected a commit; 1 when\n"
	"syncd cannot be reached or refuses the request.";

static const struct argp_child children[] = {
	{ &o8_cli_query_argp, 0, NULL, 0 },
	{ 0 }
};

static const struct argp argp = { options, parse_opt, NULL, doc, children, NULL, NULL };

static json_t *fetch_status(struct args *a)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_api *c;
	json_t *st = NULL;
	char *path = NULL, *net = NULL;

	if (!(c = o8_cli_api_open(&a->q.api, ".")))
		return NULL;
	if (a->network && !(net = o8_api_escape(c, a->network)))
		o8_err_set(&err, O8_ERR, NULL, 0, 0, "out of memory");
	else if (asprintf(&path, "/v1/status%s%s", net ? "?network=" : "", net ? net : "") < 0)
		o8_err_set(&err, O8_ERR, NULL, 0, 0, "out of memory");
	else
		o8_api_get(c, path, &st, &err);
	if (err.rc)
		o8_cli_error(&err);
	free(path);
	free(net);
	o8_api_free(c);
	return st;
}

static json_t *read_input(const char *file)
{
	json_error_t jerr;
	json_t *st = !strcmp(file, "-") ? json_loadf(stdin, 0, &jerr)
					: json_load_file(file, 0, &jerr);

	if (!st)
		o8_cli_errorf("%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
	return st;
}

int cmd_status(int argc, char **argv, struct o8_cli *cli)
{
	struct args a = { .q.api.dir = cli->dir };
	json_t *st;
	int ret = O8_EXIT_FAIL;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	st = a.input ? read_input(a.input) : fetch_status(&a);
	if (!st)
		return O8_EXIT_FAIL;
	if (!json_is_object(st)) {
		o8_cli_errorf("syncd's status is not a JSON object");
		goto out;
	}
	if (a.q.out == O8_OUT_JSON) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	} else if (render_status(stdout, st, a.now ? parse_time(a.now) : time(NULL),
				 cli->color)) {
		o8_cli_errorf("cannot write the status: out of memory or output closed");
		goto out;
	}
	ret = a.check && !all_in_sync(st) ? O8_EXIT_NOT_IN_SYNC : O8_EXIT_OK;
out:
	json_decref(st);
	return ret;
}
