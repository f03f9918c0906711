/*
 * orc8r diff GW - what one gateway still lacks of its desired
 * configuration, as syncd knows it: the records to upsert and to delete,
 * written like the plan's lines, or only the kinds that differ when syncd
 * knows no more than the digests.
 */
#include "cmds.h"

#include <argp.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct args {
	struct o8_cli_query q;
	const char *gw;
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->q;
		break;
	case ARGP_KEY_ARG:
		if (a->gw)
			argp_error(state, "one gateway at a time: unexpected '%s'", arg);
		a->gw = arg;
		break;
	case ARGP_KEY_END:
		if (!a->gw)
			argp_error(state, "which gateway? give NETWORK/NAME, or NAME when it is unique");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char doc[] =
	"Show what gateway GW (NETWORK/NAME, or NAME when no other network has "
	"one of that name) still lacks of its desired configuration, as syncd "
	"sees it: + a record to add or change, - a record to delete. When syncd "
	"knows only the gateway's digests, it says which kinds of records "
	"differ."
	"\v"
	"Examples:\n"
	"  orc8r diff lab/agw01\n"
	"  orc8r diff agw01 -o json | jq '.upserts | length'\n"
	"\n"
	"Exit status: 0 nothing differs, 2 something does (as plan\n"
	"--detailed-exitcode), 1 syncd cannot be reached, refuses the request or\n"
	"knows no such gateway.";

static const struct argp_child children[] = {
	{ &o8_cli_query_argp, 0, NULL, 0 },
	{ 0 }
};

static const struct argp argp = { NULL, parse_opt, "GW", doc, children, NULL, NULL };

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Server text on a terminal: control characters become '?'. */
static void put_safe(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/*
 * The network of a gateway given by name alone: the one network whose
 * gateway has that name in syncd's status.  malloc'd, NULL after printing
 * why not.
 */
static char *find_network(struct o8_api *c, const char *name)
{
	struct o8_err err = O8_ERR_INIT;
	const char *net = NULL;
	json_t *st, *g;
	size_t i, n = 0;
	char *r = NULL;

	if (o8_api_get(c, "/v1/status", &st, &err)) {
		o8_cli_error(&err);
		return NULL;
	}
	json_array_foreach(json_object_get(st, "gateways"), i, g) {
		if (!str(g, "name") || strcmp(str(g, "name"), name) || !str(g, "network"))
			continue;
		if (n++ == 0)
			net = str(g, "network");
	}
	if (n == 1 && !(r = strdup(net)))
		o8_cli_errorf("out of memory");
	else if (n == 0)
		o8_cli_errorf("syncd knows no gateway '%s' (orc8r status lists them)", name);
	else if (n > 1)
		o8_cli_errorf("%zu networks have a gateway '%s': say which, as NETWORK/%s",
			      n, name, name);
	json_decref(st);
	return r;
}

static char *diff_path(struct o8_api *c, const char *net, const char *name)
{
	char *en = o8_api_escape(c, net), *eg = o8_api_escape(c, name), *p = NULL;

	if (!en || !eg || asprintf(&p, "/v1/gateways/%s/%s/diff", en, eg) < 0)
		p = NULL;
	free(en);
	free(eg);
	return p;
}

static void print_records(FILE *f, const json_t *recs, const char *sign,
			  const char *color, bool on)
{
	const json_t *r;
	size_t i;

	json_array_foreach(recs, i, r) {
		const char *name = str(r, "name") ? str(r, "name") : str(r, "key");

		fprintf(f, "  %s%s ", on ? color : "", sign);
		put_safe(f, str(r, "kind") ? str(r, "kind") : "?");
		fputc(' ', f);
		put_safe(f, name ? name : "?");
		fprintf(f, "%s\n", on ? "\033[0m" : "");
	}
}

static void print_version(FILE *f, const char *what, const json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, "%s version %" JSON_INTEGER_FORMAT, what, json_integer_value(v));
	else
		fprintf(f, "%s nothing yet", what);
}

/* Text like the plan's; returns whether anything differs. */
static bool render_diff(FILE *f, const json_t *d, const char *net,
			const char *name, bool color)
{
	const json_t *ups = json_object_get(d, "upserts"), *dels = json_object_get(d, "deletes");
	const json_t *kinds = json_object_get(d, "kinds_differing"), *k;
	bool exact = !json_is_false(json_object_get(d, "exact"));
	size_t nu = json_array_size(ups), nd = json_array_size(dels), i;

	fputs("# gateway ", f);
	put_safe(f, net);
	fputc('/', f);
	put_safe(f, name);
	print_version(f, ":", json_object_get(d, "applied_version"));
	print_version(f, " applied,", json_object_get(d, "desired_version"));
	fputs(" desired\n", f);
	print_records(f, ups, "+", "\033[32m", color);
	print_records(f, dels, "-", "\033[31m", color);
	if (!exact && json_array_size(kinds)) {
		fputs("  syncd knows only which kinds differ: ", f);
		json_array_foreach(kinds, i, k) {
			fputs(i ? ", " : "", f);
			put_safe(f, json_string_value(k) ? json_string_value(k) : "?");
		}
		fputc('\n', f);
	}
	fputc('\n', f);
	if (!nu && !nd && !json_array_size(kinds)) {
		fputs("No differences: the gateway has its desired configuration.\n", f);
		return false;
	}
	if (exact || nu || nd)
		fprintf(f, "Diff: %zu to upsert, %zu to delete.\n", nu, nd);
	else
		fprintf(f, "Diff: %zu kind%s differ%s.\n", json_array_size(kinds),
			json_array_size(kinds) == 1 ? "" : "s",
			json_array_size(kinds) == 1 ? "s" : "");
	return true;
}

static bool differs(const json_t *d)
{
	return json_array_size(json_object_get(d, "upserts")) ||
	       json_array_size(json_object_get(d, "deletes")) ||
	       json_array_size(json_object_get(d, "kinds_differing"));
}

int cmd_diff(int argc, char **argv, struct o8_cli *cli)
{
	struct args a = { .q.api.dir = cli->dir };
	struct o8_err err = O8_ERR_INIT;
	struct o8_api *c;
	const char *slash, *name;
	char *net = NULL, *path = NULL;
	json_t *d = NULL;
	int ret = O8_EXIT_FAIL;

	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (!(c = o8_cli_api_open(&a.q.api, ".")))
		return O8_EXIT_FAIL;
	slash = strchr(a.gw, '/');
	name = slash ? slash + 1 : a.gw;
	if (slash && !(net = strndup(a.gw, (size_t)(slash - a.gw)))) {
		o8_cli_errorf("out of memory");
		goto out;
	}
	if (!slash && !(net = find_network(c, name)))
		goto out;
	if (!*net || !*name || strchr(name, '/')) {
		o8_cli_errorf("'%s' is not NETWORK/NAME", a.gw);
		goto out;
	}
	if (!(path = diff_path(c, net, name))) {
		o8_cli_errorf("out of memory");
		goto out;
	}
	if (o8_api_get(c, path, &d, &err) == O8_ENOTFOUND) {
		o8_cli_errorf("syncd knows no gateway '%s/%s' (orc8r status lists them)", net, name);
		goto out;
	} else if (err.rc) {
		o8_cli_error(&err);
		goto out;
	}
	if (a.q.out == O8_OUT_JSON) {
		json_dumpf(d, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		ret = differs(d) ? O8_EXIT_CHANGES : O8_EXIT_OK;
	} else {
		ret = render_diff(stdout, d, net, name, cli->color) ? O8_EXIT_CHANGES : O8_EXIT_OK;
	}
out:
	json_decref(d);
	free(path);
	free(net);
	o8_api_free(c);
	return ret;
}
