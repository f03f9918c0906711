/*
 * orc8r pki - the certificate authority that lets syncd and the gateways
 * trust each other: `init` makes the CA and syncd's server certificate,
 * `enroll-token` a one-time token a gateway trades for its client
 * certificate, `revoke` cuts a gateway (or an operator) off, `list` shows
 * what was issued, `api-token` makes a bearer token for syncd's HTTP API
 * and `api-cert` an operator's client certificate for it.
 *
 * All the work is in lib/proto/pki.c and lib/proto/apitoken.c; this file parses
 * arguments (one argp per sub-command, dispatched from the pki_cmds[]
 * table) and prints.  The only secrets it ever prints are new tokens,
 * once, on stdout.
 */
#include "cmds.h"

#include <argp.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "proto/apitoken.h"
#include "proto/pki.h"
#include "util/fileio.h"
#include "repo/schema.h"

/* Also declared in cmds.h; repeated here so this file builds on its own. */

#define PKI_DEFAULT_DIR ".orc8r/pki"
#define PKI_MAX_HOSTS 32

/* --- shared helpers ------------------------------------------------------ */

/* The PKI directory: --dir (relative to -C, as every path is) or -C/.orc8r/pki. */
static char *pki_dir(const struct o8_cli *cli, const char *dir)
{
	char *p;

	if (!dir)
		dir = PKI_DEFAULT_DIR;
	if (!cli->dir || dir[0] == '/')
		return strdup(dir);
	return asprintf(&p, "%s/%s", cli->dir, dir) < 0 ? NULL : p;
}

static void utc(char out[32], time_t t)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "@%lld", (long long)t);
}

/* "lab/agw-1" into its two names, each a DNS-1123 label; false when malformed. */
static bool split_identity(char *s, const char **network, const char **gateway)
{
	char *slash = strchr(s, '/');

	if (!slash || strchr(slash + 1, '/'))
		return false;
	*slash = '\0';
	*network = s;
	*gateway = slash + 1;
	if (o8_schema_fmt_ok(O8_FMT_NAME, s, strlen(s)) &&
	    o8_schema_fmt_ok(O8_FMT_NAME, slash + 1, strlen(slash + 1)))
		return true;
	*slash = '/';
	return false;
}

static void identity_arg(struct argp_state *state, char *arg, const char **network,
			 const char **gateway)
{
	if (*network)
		argp_error(state, "too many arguments: '%s' (give one NETWORK/GATEWAY)", arg);
	if (!split_identity(arg, network, gateway))
		argp_error(state, "'%s' is not NETWORK/GATEWAY (each %s)", arg,
			   o8_schema_fmt_doc(O8_FMT_NAME));
}

/* "90s", "30m", "24h", "7d" or plain seconds; 0 when malformed. */
static unsigned parse_duration(const char *s)
{
	static const struct { char unit; unsigned long secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	unsigned long long v;
	unsigned long mul = 1;
	char *end;
	size_t i;

	if (!s || *s < '0' || *s > '9')
		return 0;
	v = strtoull(s, &end, 10);
	if (*end) {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].unit)
				mul = units[i].secs;
		if (mul == 1 && *end != 's')
			return 0;
		if (end[1])
			return 0;
	}
	if (!v || v > 0xffffffffull / mul)
		return 0;
	return (unsigned)(v * mul);
}

static const char *human_secs(char out[32], unsigned s)
{
	if (s % 86400 == 0 && s > 2 * 86400)
		snprintf(out, 32, "%ud", s / 86400);
	else if (s % 3600 == 0)
		snprintf(out, 32, "%uh", s / 3600);
	else if (s % 60 == 0)
		snprintf(out, 32, "%um", s / 60);
	else
		snprintf(out, 32, "%us", s);
	return out;
}

/* --- pki init ------------------------------------------------------------ */

struct init_args {
	const char *dir;
	const char *hosts[PKI_MAX_HOSTS];
	size_t nhosts;
	unsigned days, ca_days;
};

static const struct argp_option init_options[] = {
	{ "host", 'H', "HOST", 0,
	  "a DNS name or IP address gateways use to reach syncd; repeat for several "
	  "(the first is also the certificate's CN)", 0 },
	{ "days", 'd', "N", 0, "validity of syncd's server certificate (default 365)", 0 },
	{ "ca-days", 'c', "N", 0, "validity of the CA (default 3650)", 0 },
	{ 0 }
};

static unsigned parse_days(struct argp_state *state, const char *opt, const char *arg)
{
	char *end;
	unsigned long n = strtoul(arg, &end, 10);

	if (*arg < '0' || *arg > '9' || *end || n < 1 || n > 36500)
		argp_error(state, "%s takes a number of days from 1 to 36500, not '%s'", opt, arg);
	return (unsigned)n;
}

static error_t init_parse(int key, char *arg, struct argp_state *state)
{
	struct init_args *a = state->input;

	switch (key) {
	case 'H':
		if (a->nhosts == PKI_MAX_HOSTS)
			argp_error(state, "at most %d --host options", PKI_MAX_HOSTS);
		if (!o8_pki_host_ok(arg))
			argp_error(state, "--host '%s' is neither a DNS name nor an IP address", arg);
		a->hosts[a->nhosts++] = arg;
		break;
	case 'd':
		a->days = parse_days(state, "--days", arg);
		break;
	case 'c':
		a->ca_days = parse_days(state, "--ca-days", arg);
		break;
	case ARGP_KEY_ARG:
		if (a->dir)
			argp_error(state, "too many arguments: '%s' (give one DIR)", arg);
		a->dir = arg;
		break;
	case ARGP_KEY_END:
		if (!a->nhosts)
			argp_error(state, "give syncd's address with --host (DNS name or IP), "
				   "as gateways will dial it");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char init_doc[] =
	"Make a new certificate authority in DIR (default: .orc8r/pki in the\n"
	"repository): an ECDSA P-256 CA (ca.key, ca.crt, 10 years) and syncd's\n"
	"TLS server certificate (server.key, server.crt, 1 year) for every --host.\n"
	"DIR is created 0700, keys 0600; it must be new or empty: init never\n"
	"replaces a CA.  Keep DIR out of git (it holds a .gitignore that says so)\n"
	"and back up ca.key: whoever holds it can impersonate any gateway."
	"\v"
	"examples:\n"
	"  orc8r pki init --host syncd.example.org --host 203.0.113.7\n"
	"  orc8r pki init /etc/orc8r/pki --host syncd.lab.internal --days 90\n"
	"\n"
	"then, for each gateway:  orc8r pki enroll-token NETWORK/GATEWAY\n"
	"\n"
	"exit status: 0 created, 1 failure (nothing written), 64 usage error.";

static int pki_init(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = { init_options, init_parse, "[DIR]", init_doc,
					  NULL, NULL, NULL };
	struct init_args a = { 0 };
	struct o8_pki_opts o = O8_PKI_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char until[32], *dir;
	size_t i;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (!(dir = pki_dir(cli, a.dir))) {
		o8_cli_errorf("out of memory");
		return O8_EXIT_FAIL;
	}
	o.now = time(NULL);
	o.server_days = a.days;
	o.ca_days = a.ca_days;
	if (o8_pki_init(dir, a.hosts, a.nhosts, &o, &err)) {
		o8_cli_error(&err);
		free(dir);
		return O8_EXIT_FAIL;
	}
	printf("created a CA in %s/\n", dir);
	utc(until, o.now + (time_t)(a.ca_days ? a.ca_days : O8_PKI_CA_DAYS) * 86400);
	printf("  ca.crt, ca.key          the CA, valid until %s\n", until);
	utc(until, o.now + (time_t)(a.days ? a.days : O8_PKI_SERVER_DAYS) * 86400);
	printf("  server.crt, server.key  syncd's certificate for");
	for (i = 0; i < a.nhosts; i++)
		printf("%s %s", i ? "," : "", a.hosts[i]);
	printf(", valid until %s\n", until);
	printf("  crl.pem                 revoked certificates (none yet)\n");
	printf("\nnext, for each gateway:\n  orc8r pki enroll-token NETWORK/GATEWAY%s%s\n",
	       a.dir ? " --dir " : "", a.dir ? a.dir : "");
	free(dir);
	return O8_EXIT_OK;
}

/* --- pki enroll-token ---------------------------------------------------- */

struct token_args {
	const char *dir;
	const char *network, *gateway;
	unsigned ttl;
};

static const struct argp_option token_options[] = {
	{ "dir", 'd', "DIR", 0, "the PKI directory (default .orc8r/pki)", 0 },
	{ "ttl", 't', "DURATION", 0,
	  "how long the token is valid: 30m, 24h (default), 7d; at most 30d", 0 },
	{ 0 }
};

static error_t token_parse(int key, char *arg, struct argp_state *state)
{
	struct token_args *a = state->input;

	switch (key) {
	case 'd':
		a->dir = arg;
		break;
	case 't':
		a->ttl = parse_duration(arg);
		if (!a->ttl || a->ttl > O8_PKI_TOKEN_TTL_MAX)
			argp_error(state, "--ttl takes a duration from 1s to 30d such as 30m, "
				   "24h or 7d, not '%s'", arg);
		break;
	case ARGP_KEY_ARG:
		identity_arg(state, arg, &a->network, &a->gateway);
		break;
	case ARGP_KEY_END:
		if (!a->network)
			argp_error(state, "which gateway? give NETWORK/GATEWAY");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char token_doc[] =
	"Make a one-time enrolment token for the gateway NETWORK/GATEWAY and print\n"
	"it on stdout (the expiry goes to stderr).  The gateway trades it, once,\n"
	"for a client certificate whose identity is NETWORK/GATEWAY:\n"
	"agwd --enroll TOKEN.  Only a hash of the token is stored: it cannot be\n"
	"shown again, so hand it over now, over a channel you trust."
	"\v"
	"examples:\n"
	"  orc8r pki enroll-token lab/agw-1\n"
	"  orc8r pki enroll-token lab/agw-2 --ttl 2h > agw-2.token\n"
	"\n"
	"exit status: 0 printed, 1 failure (no CA?), 64 usage error.";

static int pki_enroll_token(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = { token_options, token_parse, "NETWORK/GATEWAY",
					  token_doc, NULL, NULL, NULL };
	struct token_args a = { 0 };
	struct o8_err err = O8_ERR_INIT;
	char *dir, *token = NULL, when[32], ttl[32];
	time_t expires = 0;
	int ret = O8_EXIT_OK;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (!a.ttl)
		a.ttl = O8_PKI_TOKEN_TTL;
	if (!(dir = pki_dir(cli, a.dir))) {
		o8_cli_errorf("out of memory");
		return O8_EXIT_FAIL;
	}
	if (o8_pki_enroll_token(&token, &expires, dir, a.network, a.gateway, a.ttl, &err)) {
		o8_cli_error(&err);
		free(dir);
		return O8_EXIT_FAIL;
	}
	if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
		o8_cli_errorf("cannot write the token to stdout");
		ret = O8_EXIT_FAIL;
	}
	explicit_bzero(token, strlen(token));
	free(token);
	utc(when, expires);
	if (ret == O8_EXIT_OK)
		fprintf(stderr,
			"one-time token for %s/%s, valid for %s (until %s);\n"
			"on the gateway: agwd --enroll TOKEN\n",
			a.network, a.gateway, human_secs(ttl, a.ttl), when);
	free(dir);
	return ret;
}

/* --- pki revoke ---------------------------------------------------------- */

struct revoke_args {
	const char *dir;
	const char *network, *gateway;
	const char *operator_name;
};

static const struct argp_option revoke_options[] = {
	{ "dir", 'd', "DIR", 0, "the PKI directory (default .orc8r/pki)", 0 },
	{ "operator", 'o', "NAME", 0,
	  "revoke the certificates of operator NAME (made by 'orc8r pki api-cert') "
	  "instead of a gateway's", 0 },
	{ 0 }
};

static error_t revoke_parse(int key, char *arg, struct argp_state *state)
{
	struct revoke_args *a = state->input;

	switch (key) {
	case 'd':
		a->dir = arg;
		break;
	case 'o':
		if (!o8_apitoken_name_ok(arg))
			argp_error(state, "'%s' is not an operator name: 1 to %d of "
				   "A-Z a-z 0-9 . _ @ -", arg, O8_APITOKEN_NAME_MAX);
		a->operator_name = arg;
		break;
	case ARGP_KEY_ARG:
		identity_arg(state, arg, &a->network, &a->gateway);
		break;
	case ARGP_KEY_END:
		if (a->network && a->operator_name)
			argp_error(state, "give NETWORK/GATEWAY or --operator NAME, not both");
		if (!a->network && !a->operator_name)
			argp_error(state, "which gateway? give NETWORK/GATEWAY "
				   "(or --operator NAME)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char revoke_doc[] =
	"Revoke every certificate issued to NETWORK/GATEWAY, delete its unused\n"
	"enrolment tokens and re-sign crl.pem.  syncd refuses the gateway from its\n"
	"next look at crl.pem.  To let the gateway back in later, make it a new\n"
	"token: it will get a new certificate.\n"
	"\n"
	"With --operator NAME, revoke every certificate 'orc8r pki api-cert NAME'\n"
	"made instead: syncd's API refuses it (401) from the next request.  Its\n"
	"'ROLE NAME cert' line in api-tokens stays, for a new certificate."
	"\v"
	"examples:\n"
	"  orc8r pki revoke lab/agw-1\n"
	"  orc8r pki revoke --operator alice\n"
	"\n"
	"exit status: 0 revoked, 1 failure or nothing issued to that gateway or\n"
	"operator, 64 usage error.";

static int pki_revoke(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = { revoke_options, revoke_parse,
					  "NETWORK/GATEWAY\n--operator NAME", revoke_doc,
					  NULL, NULL, NULL };
	struct revoke_args a = { 0 };
	struct o8_err err = O8_ERR_INIT;
	size_t n = 0, ntok = 0;
	char *dir;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (!(dir = pki_dir(cli, a.dir))) {
		o8_cli_errorf("out of memory");
		return O8_EXIT_FAIL;
	}
	if (a.operator_name ? o8_pki_revoke_operator(dir, a.operator_name, &n, &err)
			    : o8_pki_revoke(dir, a.network, a.gateway, &n, &ntok, &err)) {
		o8_cli_error(&err);
		free(dir);
		return O8_EXIT_FAIL;
	}
	if (a.operator_name)
		printf("revoked operator %s: %zu certificate%s added to %s/%s\n",
		       a.operator_name, n, n == 1 ? "" : "s", dir, o8_pki_file_name(O8_PKI_CRL));
	else
		printf("revoked %s/%s: %zu certificate%s added to %s/%s, %zu unused "
		       "token%s deleted\n", a.network, a.gateway, n, n == 1 ? "" : "s", dir,
		       o8_pki_file_name(O8_PKI_CRL), ntok, ntok == 1 ? "" : "s");
	free(dir);
	return O8_EXIT_OK;
}

/* --- pki list ------------------------------------------------------------ */

struct list_args {
	const char *dir;
	int out;
};

static const struct argp_option list_options[] = {
	{ "dir", 'd', "DIR", 0, "the PKI directory (default .orc8r/pki)", 0 },
	{ "output", 'o', "FORMAT", 0, "text (default) or json", 0 },
	{ 0 }
};

static error_t list_parse(int key, char *arg, struct argp_state *state)
{
	struct list_args *a = state->input;

	switch (key) {
	case 'd':
		a->dir = arg;
		break;
	case 'o':
		if ((a->out = o8_cli_parse_output(arg, false)) < 0)
			argp_error(state, "unknown output format '%s' (use text or json)", arg);
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char list_doc[] =
	"List the certificates this CA issued, oldest first: identity (NETWORK/GATEWAY\n"
	"for a gateway, operator:NAME for an operator), serial, expiry and status\n"
	"(valid, expired or revoked)."
	"\v"
	"examples:\n"
	"  orc8r pki list\n"
	"  orc8r pki list -o json | jq -r '.certificates[] | select(.status == \"valid\") | .identity'\n"
	"\n"
	"exit status: 0 listed, 1 failure, 64 usage error.";

static const char *status_of(const struct o8_pki_issued *c, time_t now)
{
	return c->revoked ? "revoked" : c->not_after <= now ? "expired" : "valid";
}

/* "network/gateway" or "operator:NAME", as `issued` and the list name it. */
static const char *ident_of(char out[2 * O8_PKI_NAME_MAX + 1], const struct o8_pki_issued *c)
{
	if (c->operator_name[0])
		snprintf(out, 2 * O8_PKI_NAME_MAX + 1, "operator:%s", c->operator_name);
	else
		snprintf(out, 2 * O8_PKI_NAME_MAX + 1, "%s/%s", c->network, c->gateway);
	return out;
}

static int list_json(const struct o8_pki_issued *v, size_t n, const char *dir, time_t now)
{
	json_t *root = json_object(), *arr = json_array(), *row, *rest;
	char ident[2 * O8_PKI_NAME_MAX + 1], nb[32], na[32];
	size_t i;
	int r;

	json_object_set_new(root, "dir", json_string(dir));
	for (i = 0; i < n; i++) {
		utc(nb, v[i].not_before);
		utc(na, v[i].not_after);
		/* A gateway's row has network and gateway, an operator's row operator. */
		row = v[i].operator_name[0]
			? json_pack("{s:s, s:s}", "identity", ident_of(ident, &v[i]),
				    "operator", v[i].operator_name)
			: json_pack("{s:s, s:s, s:s}", "identity", ident_of(ident, &v[i]),
				    "network", v[i].network, "gateway", v[i].gateway);
		rest = json_pack("{s:s, s:s, s:s, s:b, s:s}", "serial", v[i].serial,
				 "not_before", nb, "not_after", na, "revoked", v[i].revoked,
				 "status", status_of(&v[i], now));
		json_object_update(row, rest);
		json_decref(rest);
		json_array_append_new(arr, row);
	}
	json_object_set_new(root, "certificates", arr);
	r = json_dumpf(root, stdout, JSON_INDENT(2));
	json_decref(root);
	return r == 0 && putchar('\n') != EOF ? O8_EXIT_OK : O8_EXIT_FAIL;
}

static int pki_list(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = { list_options, list_parse, NULL, list_doc,
					  NULL, NULL, NULL };
	struct list_args a = { NULL, O8_OUT_TEXT };
	struct o8_err err = O8_ERR_INIT;
	struct o8_pki_issued *v = NULL;
	char ident[2 * O8_PKI_NAME_MAX + 1], na[32], *dir;
	time_t now = time(NULL);
	size_t n = 0, i;
	int ret = O8_EXIT_OK;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (!(dir = pki_dir(cli, a.dir))) {
		o8_cli_errorf("out of memory");
		return O8_EXIT_FAIL;
	}
	if (o8_pki_list(&v, &n, dir, &err)) {
		o8_cli_error(&err);
		free(dir);
		return O8_EXIT_FAIL;
	}
	if (a.out == O8_OUT_JSON) {
		ret = list_json(v, n, dir, now);
	} else if (!n) {
		printf("no certificates issued yet (orc8r pki enroll-token NETWORK/GATEWAY "
		       "makes a token, orc8r pki api-cert NAME an operator's certificate)\n");
	} else {
		printf("%-40s %-32s %-20s %s\n", "IDENTITY", "SERIAL", "NOT AFTER", "STATUS");
		for (i = 0; i < n; i++) {
			utc(na, v[i].not_after);
			printf("%-40s %-32s %-20s %s\n", ident_of(ident, &v[i]), v[i].serial, na,
			       status_of(&v[i], now));
		}
	}
	free(v);
	free(dir);
	return ret;
}

/* --- pki api-token ------------------------------------------------------- */

/* What api-token and api-cert have in common: the name, its role, the PKI. */
struct apitoken_args {
	const char *dir;
	const char *name;
	enum o8_apitoken_role role;
	const char *kind;               /* "a token", "an operator": for messages */
	const char *hint;               /* what to say when NAME is missing */
};

static const struct argp_option apitoken_options[] = {
	{ "dir", 'd', "DIR", 0, "the PKI directory (default .orc8r/pki)", 0 },
	{ "role", 'r', "ROLE", 0,
	  "read (default): GET the API; write: also POST, e.g. /v1/refresh", 0 },
	{ 0 }
};

static error_t apitoken_parse(int key, char *arg, struct argp_state *state)
{
	struct apitoken_args *a = state->input;

	switch (key) {
	case 'd':
		a->dir = arg;
		break;
	case 'r':
		if (!o8_apitoken_role_parse(arg, &a->role))
			argp_error(state, "--role is read or write, not '%s'", arg);
		break;
	case ARGP_KEY_ARG:
		if (a->name)
			argp_error(state, "too many arguments: '%s' (give one NAME)", arg);
		if (!o8_apitoken_name_ok(arg))
			argp_error(state, "'%s' is not %s name: 1 to %d of A-Z a-z 0-9 . _ @ -",
				   arg, a->kind, O8_APITOKEN_NAME_MAX);
		a->name = arg;
		break;
	case ARGP_KEY_END:
		if (!a->name)
			argp_error(state, "%s", a->hint);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char apitoken_doc[] =
	"Make a bearer token for syncd's HTTP API, named NAME, and print it once\n"
	"on stdout.  Only its SHA-256 goes into DIR/api-tokens (mode 0600), the\n"
	"file syncd reads (its api_tokens_file); syncd notices a new line without\n"
	"a restart.  To revoke a token, delete its line."
	"\v"
	"examples:\n"
	"  orc8r pki api-token grafana > grafana.token\n"
	"  orc8r pki api-token ci --role write --dir /etc/orc8r/pki\n"
	"\n"
	"then: orc8r status --token-file grafana.token (or ORC8R_TOKEN=...)\n"
	"\n"
	"exit status: 0 printed, 1 failure (name taken, no PKI directory), 64 usage error.";

static int pki_api_token(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = { apitoken_options, apitoken_parse, "NAME",
					  apitoken_doc, NULL, NULL, NULL };
	struct apitoken_args a = { NULL, NULL, O8_APITOKEN_READ, "a token",
				   "name the token, e.g. after who uses it: ci, grafana" };
	struct o8_err err = O8_ERR_INIT;
	char *dir, *path = NULL, *token = NULL;
	int ret = O8_EXIT_OK;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (!(dir = pki_dir(cli, a.dir)) ||
	    asprintf(&path, "%s/%s", dir, o8_pki_file_name(O8_PKI_API_TOKENS)) < 0) {
		o8_cli_errorf("out of memory");
		free(dir);
		return O8_EXIT_FAIL;
	}
	if (o8_apitoken_create(&token, path, a.name, a.role, &err)) {
		if (err.rc == O8_ENOTFOUND)
			o8_err_prefix(&err, "no PKI directory (run 'orc8r pki init' first)");
		o8_cli_error(&err);
		ret = O8_EXIT_FAIL;
		goto out;
	}
	if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
		o8_cli_errorf("cannot write the token to stdout; delete the line '%s %s' "
			      "from %s", o8_apitoken_role_name(a.role), a.name, path);
		ret = O8_EXIT_FAIL;
		goto out;
	}
	fprintf(stderr, "API token '%s' (role %s) added to %s;\n"
		"it is shown this once: store it now\n", a.name, o8_apitoken_role_name(a.role),
		path);
out:
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	free(path);
	free(dir);
	return ret;
}

/* --- pki api-cert -------------------------------------------------------- */

struct apicert_args {
	struct apitoken_args common;    /* first, for apitoken_parse; role NONE:
					   the name's current role, else read */
	const char *out;
	unsigned days;
};

static const struct argp_option apicert_options[] = {
	{ "dir", 'd', "DIR", 0, "the PKI directory (default .orc8r/pki)", 0 },
	{ "role", 'r', "ROLE", 0,
	  "read (default for a new name): GET the API; write: also POST, e.g. /v1/refresh", 0 },
	{ "days", 'D', "N", 0, "validity of the certificate (default 90)", 0 },
	{ "out", 'o', "DIR", 0,
	  "where NAME.key and NAME.crt go (default: DIR/operators of the PKI)", 0 },
	{ 0 }
};

static error_t apicert_parse(int key, char *arg, struct argp_state *state)
{
	struct apicert_args *a = state->input;

	switch (key) {
	case 'D':
		a->days = parse_days(state, "--days", arg);
		break;
	case 'o':
		a->out = arg;
		break;
	default:
		return apitoken_parse(key, arg, state);
	}
	return 0;
}

static const char apicert_doc[] =
	"Make a client certificate with which operator NAME uses syncd's HTTP API\n"
	"instead of a bearer token: a new ECDSA P-256 key OUT/NAME.key (0600; an\n"
	"existing one is kept) and OUT/NAME.crt, issued by the CA with subject\n"
	"CN=NAME, OU=orc8r-operator (gateways cannot use it, nor it theirs).  The\n"
	"line 'ROLE NAME cert' in DIR/api-tokens gives it its role; syncd notices\n"
	"it without a restart.  Run it again before the certificate expires to\n"
	"renew it; 'orc8r pki revoke --operator NAME' revokes it."
	"\v"
	"examples:\n"
	"  orc8r pki api-cert alice\n"
	"  orc8r pki api-cert ci --role write --days 30 --out /etc/ci/orc8r\n"
	"\n"
	"then: orc8r status --cert OUT/NAME.crt --key OUT/NAME.key, or 'cert' and\n"
	"'key' in .orc8r/config.yaml (the command prints both lines)\n"
	"\n"
	"exit status: 0 made, 1 failure (name taken by a token, no PKI), 64 usage error.";

/* The role to grant: --role, else the name's current cert grant, else read. */
static enum o8_rc apicert_role(const struct apicert_args *a, const char *tokens,
			       enum o8_apitoken_role *out, struct o8_err *err)
{
	struct o8_apitoken_set *set = NULL;

	*out = a->common.role;
	if (a->common.role != O8_APITOKEN_NONE)
		return O8_OK;
	if (o8_apitoken_load(&set, tokens, err))
		return err->rc;
	if (!o8_apitoken_check_cert(set, a->common.name, out))
		*out = O8_APITOKEN_READ;
	o8_apitoken_free(set);
	return O8_OK;
}

/* Makes the key (kept when it exists), has the CA sign it, stores the certificate. */
static enum o8_rc apicert_issue(const struct apicert_args *a, const char *dir,
				const char *key, const char *crt, struct o8_err *err)
{
	char *csr = NULL, *pem = NULL;
	enum o8_rc rc;

	if (!(rc = o8_pki_make_csr(key, a->common.name, &csr, err)) &&
	    !(rc = o8_pki_issue_operator(dir, a->common.name, csr, strlen(csr), 0,
					 a->days * 86400u, &pem, err)))
		rc = o8_fileio_write_atomic(crt, pem, strlen(pem), 0600, true, err);
	free(csr);
	free(pem);
	return rc;
}

static void apicert_print(const struct apicert_args *a, enum o8_apitoken_role role,
			  bool added, const char *tokens, const char *key, const char *crt)
{
	char kabs[PATH_MAX], cabs[PATH_MAX];

	/* Absolute: the lines below must work wherever config.yaml is. */
	if (!realpath(key, kabs))
		snprintf(kabs, sizeof(kabs), "%s", key);
	if (!realpath(crt, cabs))
		snprintf(cabs, sizeof(cabs), "%s", crt);
	printf("operator certificate for '%s' (role %s), valid for %u days:\n"
	       "  %s\n"
	       "  %s  (its private key: keep it, give it to nobody else)\n"
	       "%s '%s %s cert' %s %s\n"
	       "\n"
	       "to use it, put in .orc8r/config.yaml (instead of token_file):\n"
	       "  cert: %s\n"
	       "  key: %s\n",
	       a->common.name, o8_apitoken_role_name(role), a->days, cabs, kabs,
	       added ? "added" : "kept", o8_apitoken_role_name(role), a->common.name,
	       added ? "to" : "in", tokens, cabs, kabs);
}

static int pki_api_cert(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = { apicert_options, apicert_parse, "NAME",
					  apicert_doc, NULL, NULL, NULL };
	struct apicert_args a = { { NULL, NULL, O8_APITOKEN_NONE, "an operator",
				    "name the operator the certificate is for, e.g. alice" },
				  NULL, 0 };
	struct o8_err err = O8_ERR_INIT;
	enum o8_apitoken_role role;
	char *dir, *out = NULL, *tokens = NULL, *key = NULL, *crt = NULL;
	bool added = false;
	int ret = O8_EXIT_FAIL;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (!a.days)
		a.days = O8_PKI_OPERATOR_TTL / 86400u;
	if ((dir = pki_dir(cli, a.common.dir)) && a.out)
		out = pki_dir(cli, a.out);      /* relative to -C, as --dir is */
	else if (dir &&
		 asprintf(&out, "%s/%s", dir, o8_pki_file_name(O8_PKI_OPERATORS)) < 0)
		out = NULL;
	if (!dir || !out ||
	    asprintf(&tokens, "%s/%s", dir, o8_pki_file_name(O8_PKI_API_TOKENS)) < 0 ||
	    asprintf(&key, "%s/%s.key", out, a.common.name) < 0 ||
	    asprintf(&crt, "%s/%s.crt", out, a.common.name) < 0) {
		o8_cli_errorf("out of memory");
		goto done;
	}
	/* The grant first: a name taken by a token must not get a certificate. */
	if (apicert_role(&a, tokens, &role, &err) ||
	    o8_apitoken_grant_cert(tokens, a.common.name, role, &added, &err)) {
		if (err.rc == O8_ENOTFOUND)
			o8_err_prefix(&err, "no PKI directory (run 'orc8r pki init' first)");
		o8_cli_error(&err);
		goto done;
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		o8_cli_errorf("cannot create directory '%s': %s", out, strerror(errno));
		goto done;
	}
	if (apicert_issue(&a, dir, key, crt, &err)) {
		o8_cli_error(&err);
		goto done;
	}
	apicert_print(&a, role, added, tokens, key, crt);
	ret = O8_EXIT_OK;
done:
	free(crt);
	free(key);
	free(tokens);
	free(out);
	free(dir);
	return ret;
}

/* --- dispatch ------------------------------------------------------------ */

static const struct pki_cmd {
	const char *name;
	int (*fn)(int argc, char **argv, struct o8_cli *cli);
	const char *help;
} pki_cmds[] = {
	{ "api-cert", pki_api_cert, "make an operator's client certificate for syncd's HTTP API" },
	{ "api-token", pki_api_token, "make a bearer token for syncd's HTTP API" },
	{ "enroll-token", pki_enroll_token, "make a one-time token a gateway enrols with" },
	{ "init", pki_init, "make the CA and syncd's server certificate" },
	{ "list", pki_list, "list the gateway certificates issued" },
	{ "revoke", pki_revoke, "revoke a gateway's certificates and tokens" },
};

static void pki_usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: orc8r pki COMMAND [ARGS]\n"
		"\n"
		"The certificate authority of syncd and the gateways (ECDSA P-256).\n"
		"Gateways enrol with a one-time token and get a client certificate\n"
		"whose identity is NETWORK/GATEWAY (7 days, renewed by agwd).\n"
		"\n"
		"commands:\n");
	for (i = 0; i < sizeof(pki_cmds) / sizeof(pki_cmds[0]); i++)
		fprintf(f, "  %-13s %s\n", pki_cmds[i].name, pki_cmds[i].help);
	fprintf(f,
		"\n"
		"example:\n"
		"  orc8r pki init --host syncd.example.org\n"
		"  orc8r pki enroll-token lab/agw-1     # on the gateway: agwd --enroll TOKEN\n"
		"  orc8r pki revoke lab/agw-1\n"
		"  orc8r pki api-token ci --role write  # a token for syncd's HTTP API\n"
		"  orc8r pki api-cert alice             # or a client certificate for it\n"
		"\n"
		"The PKI lives in .orc8r/pki of the repository unless --dir says otherwise;\n"
		"'orc8r pki COMMAND --help' explains a command.\n");
}

int cmd_pki(int argc, char **argv, struct o8_cli *cli)
{
	char name[64];
	size_t i;
	int ret;

	if (argc < 2) {
		pki_usage(stderr);
		return O8_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		pki_usage(stdout);
		return O8_EXIT_OK;
	}
	for (i = 0; i < sizeof(pki_cmds) / sizeof(pki_cmds[0]); i++) {
		char *saved;

		if (strcmp(argv[1], pki_cmds[i].name))
			continue;
		/* argp names the program after argv[0]: "orc8r pki init: ..." */
		snprintf(name, sizeof(name), "orc8r pki %s", pki_cmds[i].name);
		saved = argv[1];
		argv[1] = name;
		ret = pki_cmds[i].fn(argc - 1, argv + 1, cli);
		argv[1] = saved;
		return ret;
	}
	o8_cli_errorf("'%s' is not an 'orc8r pki' command (see 'orc8r pki --help')", argv[1]);
	return O8_EXIT_USAGE;
}
