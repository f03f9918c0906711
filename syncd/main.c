/*
 * main.c - syncd's command line: every config key is also a flag (the
 * table in config.c drives both), -n checks the config and exits, SIGHUP
 * reloads it (a bad file keeps the running config), SIGTERM drains.
 */
#include <argp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "util/fileio.h"
#include "bootstrap.h"
#include "config.h"
#include "httpd.h"
#include "syncd.h"

#ifndef O8_VERSION
#define O8_VERSION "0.0.0"
#endif

#define KEY_BASE 1000

struct args {
	struct syncd_config *cfg;
	const char *path;
	bool path_given, check_only, verbose;
	int failed;
};

struct main_ctx {
	struct syncd s;
	struct syncd_config cfg;
	struct syncd_bootstrap *boot;
	struct o8_log *log;
	bool verbose;
};

/* What each log_level shows, for -n and the man page (syncd.8). */
static const struct {
	enum syncd_log_level cfg;
	enum o8_log_level level;
	const char *shows;
} levels[] = {
	{ SYNCD_LOG_DEBUG, O8_LOG_DEBUG,
	  "every push, digest comparison, API request and AGW disconnect, and all below" },
	{ SYNCD_LOG_INFO, O8_LOG_INFO,
	  "start, stop, reloads, each new version and enrolment, and all below" },
	{ SYNCD_LOG_WARN, O8_LOG_WARN,
	  "refusals (commits, fetches, versions, connections, API requests), and errors" },
	{ SYNCD_LOG_ERROR, O8_LOG_ERROR, "failures of syncd itself (store, audit log, reload)" },
};

static size_t level_row(enum syncd_log_level l)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (levels[i].cfg == l)
			return i;
	return 1;
}

static void print_diags(const struct o8_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct o8_diag *g = &d->v[i];

		if (g->line)
			fprintf(stderr, "%s:%u:%u: %s\n", g->file, g->line, g->col, g->msg);
		else
			fprintf(stderr, "%s: %s\n", g->file ? g->file : "syncd", g->msg);
	}
}

static error_t parse_opt(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;
	struct o8_err err = O8_ERR_INIT;
	const struct syncd_config_key *k = key >= KEY_BASE && key < KEY_BASE + 1000 ?
		syncd_config_key((size_t)(key - KEY_BASE)) : NULL;

	if (k) {
		if (syncd_config_set(a->cfg, k->key, arg, &err))
			argp_error(st, "--%s: %s", k->flag, err.msg);
		return 0;
	}
	switch (key) {
	case 'c': a->path = arg; a->path_given = true; break;
	case 'n': a->check_only = true; break;
	case 'v': a->verbose = true; break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char doc[] =
	"syncd -- brings every AGW to the config in git\v"
	"syncd follows a branch of the operators' repository (polling, and at "
	"once on POST /v1/webhook), compiles each new commit, and sends every "
	"connected AGW (agwd, mutual TLS) exactly the records it lacks.  Its "
	"HTTP API serves orc8r status, orc8r diff and orc8r apply --wait.\n\n"
	"Every key of the config file (YAML) is also a flag; flags win.\n\n"
	"Examples:\n"
	"  syncd -c /etc/orc8r/syncd.yaml\n"
	"  syncd -n -c /etc/orc8r/syncd.yaml          check the config, exit\n"
	"  syncd --pki pki --repo-url file:///srv/net.git --state-dir /tmp/s\n\n"
	"Signals: SIGHUP reloads the config, SIGTERM stops cleanly.\n"
	"Exit status: 0 stopped cleanly or config valid (-n), 1 error, "
	"3 invalid config.";

/* argp options: three of our own, then one per config key. */
static struct argp_option *make_options(void)
{
	static const struct argp_option own[] = {
		{ "config", 'c', "FILE", 0, "config file (default " SYNCD_CONFIG_PATH
		  " when it exists)", 0 },
		{ "check", 'n', NULL, 0, "check the config and exit", 0 },
		{ "verbose", 'v', NULL, 0, "log every push and API request", 0 },
	};
	size_t n = 0, nown = sizeof(own) / sizeof(own[0]);
	struct argp_option *o;

	while (syncd_config_key(n))
		n++;
	o = calloc(nown + n + 2, sizeof(*o));
	if (!o)
		return NULL;
	memcpy(o, own, sizeof(own));
	o[nown].doc = "Config keys (also in the file):";
	o[nown].group = 1;
	for (size_t i = 0; i < n; i++) {
		const struct syncd_config_key *k = syncd_config_key(i);

		o[nown + 1 + i] = (struct argp_option){ k->flag, KEY_BASE + (int)i,
							k->arg, 0, k->doc, 1 };
	}
	return o;
}

static void opts_from(struct syncd_opts *o, const struct syncd_config *c, bool verbose)
{
	o->listen = c->listen;
	o->api = c->api;
	o->api_tls = c->api_tls;
	o->pki = c->pki;
	o->store = c->store;
	o->state_dir = c->state_dir;
	o->repo_url = c->repo_url;
	o->repo_branch = c->repo_branch;
	o->repo_dir = c->repo_dir;
	o->poll_s = c->repo_poll;
	o->webhook_secret = c->webhook_secret;
	o->webhook_secret_len = c->webhook_secret_len;
	o->api_tokens_file = c->api_tokens_file;
	o->max_frame = c->max_frame;
	/* -v is log_level debug, whatever the file says */
	o8_log_set_level(o->log, verbose ? O8_LOG_DEBUG : levels[level_row(c->log_level)].level);
}

static void on_term(uv_signal_t *h, int signum)
{
	struct main_ctx *m = h->data;

	syncd_log(&m->s, O8_LOG_INFO, "%s: stopping", strsignal(signum));
	uv_close((uv_handle_t *)&m->s.sigterm, NULL);
	uv_close((uv_handle_t *)&m->s.sigint, NULL);
	uv_close((uv_handle_t *)&m->s.sighup, NULL);
	syncd_bootstrap_free(m->boot);
	m->boot = NULL;
	syncd_stop(&m->s);
}

static void on_hup(uv_signal_t *h, int signum)
{
	struct main_ctx *m = h->data;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;

	(void)signum;
	if (syncd_config_reload(&m->cfg, &d, &err)) {
		print_diags(&d);
		syncd_log(&m->s, O8_LOG_ERROR, "reload refused, keeping the running config: %s",
			  err.msg[0] ? err.msg : "invalid config");
		o8_diags_free(&d);
		return;
	}
	o8_diags_free(&d);
	/* the old strings are gone: every borrowed pointer is taken again */
	opts_from(&m->s.opts, &m->cfg, m->verbose);
	syncd_apply_opts(&m->s);
}

static void boot_event(const struct syncd_bootstrap_event *ev, void *payload)
{
	struct main_ctx *m = payload;
	char what[96];

	snprintf(what, sizeof(what), "%s from %s%s%s", ev->action, ev->peer,
		 ev->serial ? ", serial " : "", ev->serial ? ev->serial : "");
	syncd_log(&m->s, strcmp(ev->result, "ok") ? O8_LOG_WARN : O8_LOG_INFO, "bootstrap: %s/%s %s: %s%s%s", ev->network ? ev->network : "?",
		  ev->gateway ? ev->gateway : "?", what, ev->result,
		  ev->detail ? ": " : "", ev->detail ? ev->detail : "");
	syncd_event(&m->s, ev->network, ev->gateway, "bootstrap", NULL, what,
		    ev->detail && strcmp(ev->result, "ok") ? ev->detail : ev->result);
}

static enum o8_rc start_bootstrap(struct main_ctx *m, uv_loop_t *loop,
				  struct o8_err *err)
{
	struct syncd_bootstrap_opts o = SYNCD_BOOTSTRAP_OPTS_INIT;

	o.listen = m->cfg.bootstrap;
	o.pki = m->cfg.pki;
	o.event = boot_event;
	o.payload = m;
	return syncd_bootstrap_start(&m->boot, loop, &o, err);
}

/* "HOST:PORT" with the port the kernel gave (the one asked for, unless 0). */
static char *bound_addr(const char *addr, unsigned port)
{
	const char *colon = strrchr(addr, ':');
	char *s;

	return asprintf(&s, "%.*s:%u", (int)(colon - addr), addr, port) < 0 ? NULL : s;
}

/*
 * Once every listener is bound, tells whoever started syncd where (port 0
 * asks the kernel for a free port, which only syncd then knows).  The
 * file appears whole or not at all: a reader waits for it to exist.
 */
static enum o8_rc write_ports(const struct main_ctx *m, struct o8_err *err)
{
	const struct { const char *name, *addr; unsigned port; } l[] = {
		{ "listen", m->cfg.listen, m->s.listen_port },
		{ "bootstrap", m->cfg.bootstrap, syncd_bootstrap_port(m->boot) },
		{ "api", m->cfg.api, o8_httpd_port(m->s.api) },
	};
	const size_t n = sizeof(l) / sizeof(l[0]);
	json_t *o = json_object();
	char *json = NULL, *text = NULL, *a;
	enum o8_rc rc = O8_OK;
	bool ok = o != NULL;
	size_t i;

	for (i = 0; ok && i < n; i++) {
		a = bound_addr(l[i].addr, l[i].port);
		ok = a && !json_object_set_new(o, l[i].name, json_string(a));
		free(a);
	}
	if (!ok || !(json = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ||
	    asprintf(&text, "%s\n", json) < 0) {
		text = NULL;
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	} else if ((rc = o8_fileio_write_atomic(m->cfg.ports_file, text, strlen(text), 0644,
						 true, err))) {
		o8_err_prefix(err, "ports file");
	}
	free(text);
	free(json);
	json_decref(o);
	return rc;
}

static int run(struct main_ctx *m, bool verbose)
{
	struct o8_err err = O8_ERR_INIT;
	uv_loop_t loop;
	int rc = 0;

	uv_loop_init(&loop);
	m->s.loop = &loop;
	m->verbose = verbose;
	m->s.opts.log = m->log;
	opts_from(&m->s.opts, &m->cfg, verbose);
	if (syncd_start(&m->s, &err) ||
	    start_bootstrap(m, &loop, &err) ||
	    (m->cfg.ports_file && write_ports(m, &err))) {
		fprintf(stderr, "syncd: %s\n", err.msg);
		rc = 1;
		syncd_bootstrap_free(m->boot);
		m->boot = NULL;
		syncd_stop(&m->s);
	} else {
		uv_signal_init(&loop, &m->s.sigterm);
		uv_signal_init(&loop, &m->s.sigint);
		uv_signal_init(&loop, &m->s.sighup);
		m->s.sigterm.data = m->s.sigint.data = m->s.sighup.data = m;
		uv_signal_start(&m->s.sigterm, on_term, SIGTERM);
		uv_signal_start(&m->s.sigint, on_term, SIGINT);
		uv_signal_start(&m->s.sighup, on_hup, SIGHUP);
		syncd_log(&m->s, O8_LOG_INFO, "ready to serve (orc8r %s)", O8_VERSION);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	syncd_free(&m->s);
	if (uv_loop_close(&loop) != 0)
		uv_print_all_handles(&loop, stderr);
	return rc;
}

/* stderr, timestamped, as syncd has always logged (a service manager
 * keeps it); the level is set from the config by opts_from. */
static int start_log(struct main_ctx *m)
{
	struct o8_log_opts o = O8_LOG_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;

	o.name = "syncd";
	if (o8_log_new(&m->log, &o, &err)) {
		fprintf(stderr, "syncd: %s\n", err.msg);
		return 1;
	}
	return 0;
}

const char *argp_program_version = "syncd " O8_VERSION;

/* The config from the file and the flags, checked; 0, or the exit status. */
static int configure(struct main_ctx *m, const struct args *a)
{
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	int rc = 0;

	if ((a->path_given || access(a->path, F_OK) == 0) &&
	    syncd_config_load(&m->cfg, a->path, &d, &err))
		rc = d.n ? 3 : 1;
	else if (syncd_config_check(&m->cfg, &d, &err))
		rc = d.n ? 3 : 1;
	if (rc) {
		print_diags(&d);
		if (!d.n)
			fprintf(stderr, "syncd: %s\n", err.msg);
	}
	o8_diags_free(&d);
	return rc;
}

int main(int argc, char **argv)
{
	static struct main_ctx m;
	struct argp argp = { NULL, parse_opt, NULL, doc, NULL, NULL, NULL };
	struct args a = { &m.cfg, SYNCD_CONFIG_PATH, false, false, false, 0 };
	struct argp_option *options;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* the store and the mirror hold every Ki/OPc: nobody else's to read */
	umask(077);
	syncd_config_init(&m.cfg);
	options = make_options();
	if (!options)
		return 1;
	argp.options = options;
	argp_parse(&argp, argc, argv, 0, NULL, &a);
	rc = configure(&m, &a);
	if (rc == 0 && a.check_only) {
		size_t l = a.verbose ? 0 : level_row(m.cfg.log_level);

		printf("syncd: config OK%s%s\n", a.path_given ? " " : "",
		       a.path_given ? a.path : "");
		printf("syncd: log level %s: %s\n", syncd_config_level_name(levels[l].cfg),
		       levels[l].shows);
	} else if (rc == 0 && !(rc = start_log(&m))) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = run(&m, a.verbose);
		curl_global_cleanup();
		o8_log_free(m.log);
	}
	syncd_config_done(&m.cfg);
	free(options);
	return rc;
}
