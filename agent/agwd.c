/*
 * agwd.c - the agent on an AGW: keeps one mTLS connection to syncd, applies
 * the config deltas it receives atomically (lib/agstate), acks them, and
 * reports its state every checkin.  Offline it serves its last good config
 * (the files on disk do not change) and reconnects with exponential backoff
 * and jitter.
 *
 * --simulate N runs N such agents in one process and one loop, each with
 * its own state directory, key, certificate and connection, for demos and
 * benchmarks: syncd cannot tell them from N real AGWs.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "agent.h"
#include "agstate.h"
#include "proto/conn.h"
#include "proto/pki.h"
#include "proto/wire.h"
#include "util/pool.h"
#include "util/log.h"
#include "wire.pb-c.h"

#ifndef O8_VERSION
#define O8_VERSION "0.0.0"
#endif

#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 30000u
#define MAX_KPIS 16

struct agwd;

struct agent {
	struct agwd *d;
	unsigned idx;
	char dir[PATH_MAX];
	char *network, *gateway;
	char id[O8_PKI_GATEWAY_ID_MAX]; /* "network/gateway", for logs */
	gnutls_certificate_credentials_t creds;
	gnutls_certificate_credentials_t old_creds;     /* the live connection's,
							   after a renewal */
	struct o8_agstate *st;
	struct o8_conn *conn;
	uv_timer_t retry, checkin, renew;
	unsigned backoff_ms;
	unsigned seed;
	bool welcomed, was_offline, renewing, stopping;
	uv_work_t renew_work;
	struct o8_err renew_err;
	/* frames of a ConfigDelta that has more to come */
	struct Orc8r__V1__Envelope **staged;
	size_t nstaged;
	/* complete versions waiting for the thread pool, and the one on it:
	   simulated AGWs apply in parallel as real ones do, and the loop
	   never waits for a disk */
	struct apply_job *jobs, **jobs_tail;
	bool applying, hello_deferred;
	struct Orc8r__V1__Envelope *digest_deferred;
	unsigned epoch;                 /* connections opened so far */
};

struct agwd {
	uv_loop_t *loop;
	struct o8_conn_ctx ctx;
	const char *server_host;
	uint16_t server_port;
	const char *bootstrap;          /* https://host:port */
	const char *ca;
	const char *state_dir;
	const char *enroll_token;
	const char *enroll_file;
	const char *reload_hook;
	unsigned checkin_s;
	unsigned renew_in_s;            /* tests: first renewal this soon */
	unsigned simulate;
	bool sim_kpis;
	enum o8_log_level level;        /* --log-level, -q (error), -v (debug) */
	struct o8_log *log;
	struct agent *agents;
	size_t nagents;
	uv_signal_t sigterm, sigint;
	bool stopping;
};

/* "agwd[network/gateway]: ..." (util/log.h) */
static void logf_(const struct agent *a, enum o8_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void logf_(const struct agent *a, enum o8_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	o8_logv(a->d->log, level, a->id, NULL, fmt, ap);
	va_end(ap);
}

struct apply_job {
	uv_work_t work;
	struct agent *a;
	unsigned epoch;                 /* the connection it came on */
	struct Orc8r__V1__Envelope **frames;
	size_t nframes;
	size_t nups, ndels;
	struct o8_err err;
	struct apply_job *next;
};

static void connect_agent(struct agent *a);
static void send_hello(struct agent *a);
static void on_digest_request(struct agent *a,
			      const struct Orc8r__V1__Envelope *env);
static void send_report(struct agent *a, enum o8_wire_status status,
			const char *msg);

/* --- connection --------------------------------------------------------- */

static void retry_fired(uv_timer_t *t)
{
	connect_agent(t->data);
}

static void schedule_retry(struct agent *a)
{
	unsigned ms, cap;

	if (a->stopping)
		return;
	cap = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (cap > BACKOFF_MAX_MS)
		cap = BACKOFF_MAX_MS;
	a->backoff_ms = cap;
	/* jitter: AGWs cut off together do not all come back together */
	ms = cap / 2 + (unsigned)rand_r(&a->seed) % (cap / 2 + 1);
	uv_timer_start(&a->retry, retry_fired, ms, 0);
}

static void drop_staged(struct agent *a)
{
	for (size_t i = 0; i < a->nstaged; i++)
		o8_wire_decoded_free(a->staged[i]);
	free(a->staged);
	a->staged = NULL;
	a->nstaged = 0;
}

static void send_hello(struct agent *a)
{
	struct o8_conn *c = a->conn;
	struct Orc8r__V1__Envelope *env = NULL;
	struct o8_err err = O8_ERR_INIT;

	if (!c)
		return;
	if (o8_wire_build_hello(&env, a->id, O8_VERSION, o8_agstate_version(a->st),
				o8_agstate_commit(a->st),
				o8_agstate_kind_digests(a->st), &err) == O8_OK)
		o8_conn_send(c, env, &err);
	o8_wire_built_free(env);
	if (err.rc)
		logf_(a, O8_LOG_ERROR, "hello: %s", err.msg);
}

static void jobs_free(struct apply_job *j)
{
	while (j) {
		struct apply_job *next = j->next;

		for (size_t i = 0; i < j->nframes; i++)
			o8_wire_decoded_free(j->frames[i]);
		free(j->frames);
		free(j);
		j = next;
	}
}

static void on_opened(struct o8_conn *c)
{
	struct agent *a = o8_conn_data(c);

	a->epoch++;
	/* the state is on the thread pool: say Hello once it is back */
	if (a->applying)
		a->hello_deferred = true;
	else
		send_hello(a);
}

static void on_closed(struct o8_conn *c, const char *why)
{
	struct agent *a = o8_conn_data(c);

	a->conn = NULL;
	if (a->old_creds) {
		gnutls_certificate_free_credentials(a->old_creds);
		a->old_creds = NULL;
	}
	drop_staged(a);
	/* versions of that connection not applied yet: syncd decides anew
	   from the next Hello */
	jobs_free(a->jobs);
	a->jobs = NULL;
	a->jobs_tail = &a->jobs;
	a->hello_deferred = false;
	o8_wire_decoded_free(a->digest_deferred);
	a->digest_deferred = NULL;
	uv_timer_stop(&a->checkin);
	if (a->welcomed)
		a->was_offline = true;
	a->welcomed = false;
	if (!a->stopping)
		logf_(a, O8_LOG_WARN, "disconnected from syncd: %s; serving version %llu offline",
		      why ? why : "closed",
		      (unsigned long long)o8_agstate_version(a->st));
	schedule_retry(a);
}

static void checkin_fired(uv_timer_t *t)
{
	send_report(t->data, O8_WIRE_STATUS_OK, NULL);
}

static void send_report(struct agent *a, enum o8_wire_status status,
			const char *msg)
{
	struct o8_wire_kpi kpis[MAX_KPIS];
	size_t n = agent_kpis(kpis, MAX_KPIS, a->d->sim_kpis, &a->seed);
	struct Orc8r__V1__Envelope *env = NULL;
	struct o8_err err = O8_ERR_INIT;

	if (!a->conn || !a->welcomed)
		return;
	if (o8_wire_build_state(&env, o8_agstate_version(a->st), status, kpis, n,
				msg, &err) == O8_OK)
		o8_conn_send(a->conn, env, &err);
	o8_wire_built_free(env);
	if (o8_log_enabled(a->d->log, O8_LOG_DEBUG)) {
		char v[24], k[24];

		snprintf(v, sizeof(v), "%llu", (unsigned long long)o8_agstate_version(a->st));
		snprintf(k, sizeof(k), "%zu", n);
		o8_log(a->d->log, O8_LOG_DEBUG, a->id, (const struct o8_log_kv[]){
			{ "version", v }, { "kpis", k }, { "detail", msg },
			{ "error", err.rc ? err.msg : NULL }, { NULL, NULL } },
		       "state report");
	}
}

static void on_welcome(struct agent *a, const Orc8r__V1__Welcome *w)
{
	a->welcomed = true;
	a->backoff_ms = 0;
	logf_(a, O8_LOG_INFO, "connected to syncd %s (version %llu applied, %llu desired)",
	      w->server_version, (unsigned long long)o8_agstate_version(a->st),
	      (unsigned long long)w->desired_version);
	send_report(a, a->was_offline ? O8_WIRE_STATUS_OFFLINE_RECOVERED :
		    O8_WIRE_STATUS_OK, NULL);
	a->was_offline = false;
	uv_timer_start(&a->checkin, checkin_fired, a->d->checkin_s * 1000ull,
		       a->d->checkin_s * 1000ull);
}

/* --- applying ------------------------------------------------------------- */

static void answer(struct agent *a, uint64_t version, const char *commit,
		   const char *nack_reason)
{
	struct Orc8r__V1__Envelope *env = NULL;
	struct o8_err err = O8_ERR_INIT;

	if (nack_reason)
		o8_wire_build_nack(&env, version, nack_reason, &err);
	else
		o8_wire_build_ack(&env, version, commit, &err);
	if (env)
		o8_conn_send(a->conn, env, &err);
	o8_wire_built_free(env);
}

static void hook_exited(uv_process_t *p, int64_t status, int sig)
{
	struct agent *a = p->data;

	if (status != 0 || sig != 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "reload hook %s %lld",
			 sig ? "killed by signal" : "exited with status",
			 sig ? (long long)sig : (long long)status);
		logf_(a, O8_LOG_WARN, "%s", msg);
		send_report(a, O8_WIRE_STATUS_FAILED, msg);
	}
	uv_close((uv_handle_t *)p, (uv_close_cb)free);
}

/* The hook runs with the new generation in place; its failure is
 * reported, not fatal (the config on disk is what syncd asked for). */
static void run_hook(struct agent *a)
{
	char version[32], current[PATH_MAX + 32];
	char *args[] = { "/bin/sh", "-c", (char *)a->d->reload_hook, NULL };
	char *envv[] = { version, current, NULL, NULL };
	char path_env[PATH_MAX + 8];
	uv_process_options_t o = { 0 };
	uv_process_t *p;
	int r;

	if (!a->d->reload_hook)
		return;
	snprintf(version, sizeof(version), "ORC8R_VERSION=%llu",
		 (unsigned long long)o8_agstate_version(a->st));
	snprintf(current, sizeof(current), "ORC8R_CONFIG_DIR=%s/current", a->dir);
	snprintf(path_env, sizeof(path_env), "PATH=%s",
		 getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	envv[2] = path_env;
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->data = a;
	o.file = args[0];
	o.args = args;
	o.env = envv;
	o.exit_cb = hook_exited;
	r = uv_spawn(a->d->loop, p, &o);
	if (r < 0) {
		logf_(a, O8_LOG_ERROR, "reload hook: %s", uv_strerror(r));
		free(p);
	}
}

/* On the thread pool: the staged frames of one version, applied. */
static void apply_work(uv_work_t *w)
{
	struct apply_job *j = w->data;
	struct agent *a = j->a;
	const Orc8r__V1__ConfigDelta *d0 = j->frames[0]->delta;
	struct o8_agstate_change ch = { 0 };
	struct o8_record *ups;
	struct o8_wire_key *dels;
	size_t iu = 0, id = 0;

	for (size_t i = 0; i < j->nframes; i++) {
		j->nups += j->frames[i]->delta->n_upserts;
		j->ndels += j->frames[i]->delta->n_deletes;
	}
	ups = calloc(j->nups ? j->nups : 1, sizeof(*ups));
	dels = calloc(j->ndels ? j->ndels : 1, sizeof(*dels));
	if (!ups || !dels) {
		o8_err_set(&j->err, O8_ERR, NULL, 0, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < j->nframes && !j->err.rc; i++) {
		const Orc8r__V1__ConfigDelta *d = j->frames[i]->delta;

		for (size_t k = 0; k < d->n_upserts && !j->err.rc; k++)
			o8_wire_record_view(&ups[iu++], d->upserts[k], &j->err);
		for (size_t k = 0; k < d->n_deletes; k++)
			dels[id++] = (struct o8_wire_key){
				(enum o8_rec_kind)d->deletes[k]->kind,
				d->deletes[k]->key };
	}
	if (j->err.rc)
		goto out;
	ch.from_version = d0->from_version;
	ch.to_version = d0->to_version;
	ch.commit = d0->commit;
	ch.full = d0->full;
	ch.upserts = ups;
	ch.nupserts = j->nups;
	ch.deletes = dels;
	ch.ndeletes = j->ndels;
	ch.network = a->network;
	ch.gateway = a->gateway;
	o8_agstate_apply(a->st, &ch, &j->err);
out:
	free(ups);
	free(dels);
}

static void start_next(struct agent *a);

/* Back on the loop: answer syncd on the connection the version came on. */
static void apply_done(uv_work_t *w, int status)
{
	struct apply_job *j = w->data;
	struct agent *a = j->a;
	const Orc8r__V1__ConfigDelta *d0 = j->frames[0]->delta;
	bool same = a->conn && a->epoch == j->epoch;

	a->applying = false;
	if (status < 0)
		o8_err_set(&j->err, O8_ERR, NULL, 0, 0, "not applied: %s", uv_strerror(status));
	if (j->err.rc) {
		logf_(a, O8_LOG_WARN, "version %llu refused: %s", (unsigned long long)d0->to_version,
		      j->err.msg);
		if (same)
			answer(a, d0->to_version, NULL, j->err.msg);
	} else {
		logf_(a, O8_LOG_INFO, "applied version %llu (%s, %zu upserts, %zu deletes)",
		      (unsigned long long)d0->to_version, d0->full ? "full" : "delta",
		      j->nups, j->ndels);
		if (same) {
			answer(a, d0->to_version, d0->commit, NULL);
			send_report(a, O8_WIRE_STATUS_OK, NULL);
		}
		run_hook(a);
	}
	j->next = NULL;
	jobs_free(j);
	if (a->hello_deferred) {
		a->hello_deferred = false;
		send_hello(a);
	}
	if (a->digest_deferred) {
		struct Orc8r__V1__Envelope *env = a->digest_deferred;

		a->digest_deferred = NULL;
		on_digest_request(a, env);
		o8_wire_decoded_free(env);
	}
	start_next(a);
}

static void start_next(struct agent *a)
{
	struct apply_job *j = a->jobs;

	if (!j || a->applying || a->stopping)
		return;
	a->jobs = j->next;
	if (!a->jobs)
		a->jobs_tail = &a->jobs;
	a->applying = true;
	j->work.data = j;
	if (uv_queue_work(a->d->loop, &j->work, apply_work, apply_done) < 0) {
		a->applying = false;
		j->next = NULL;
		jobs_free(j);
	}
}

static void on_delta(struct agent *a, struct Orc8r__V1__Envelope *env)
{
	struct Orc8r__V1__Envelope **ns;
	struct apply_job *j;

	ns = realloc(a->staged, (a->nstaged + 1) * sizeof(*ns));
	if (!ns) {
		o8_wire_decoded_free(env);
		o8_conn_close(a->conn, "out of memory staging a delta");
		return;
	}
	a->staged = ns;
	a->staged[a->nstaged++] = env;
	if (env->delta->more)
		return;
	j = calloc(1, sizeof(*j));
	if (!j) {
		o8_conn_close(a->conn, "out of memory staging a delta");
		return;
	}
	j->a = a;
	j->epoch = a->epoch;
	j->frames = a->staged;
	j->nframes = a->nstaged;
	a->staged = NULL;
	a->nstaged = 0;
	*a->jobs_tail = j;
	a->jobs_tail = &j->next;
	start_next(a);
}

static void on_digest_request(struct agent *a,
			      const struct Orc8r__V1__Envelope *env)
{
	struct o8_wire_digests src = { 0 };
	struct o8_err err = O8_ERR_INIT;

	src.kd = o8_agstate_kind_digests(a->st);
	src.recs = o8_agstate_records(a->st);
	src.n = o8_agstate_count(a->st);
	src.kinds = o8_wire_request_kinds(env);
	o8_conn_send_digests(a->conn, &src, &err);
}

static void on_message(struct o8_conn *c, struct Orc8r__V1__Envelope *env)
{
	struct agent *a = o8_conn_data(c);

	switch (o8_wire_msg_type(env)) {
	case O8_WIRE_WELCOME:
		on_welcome(a, env->welcome);
		break;
	case O8_WIRE_DELTA:
		on_delta(a, env);
		return;         /* staged: freed after applying */
	case O8_WIRE_DIGEST_REQUEST:
		if (a->applying) {      /* answer about the state once it is back */
			o8_wire_decoded_free(a->digest_deferred);
			a->digest_deferred = env;
			return;
		}
		on_digest_request(a, env);
		break;
	case O8_WIRE_CONFIRM:
		/* commit-confirmed rollback comes later; nothing to undo yet */
		break;
	default:
		break;
	}
	o8_wire_decoded_free(env);
}

static const struct o8_conn_ops agent_ops = {
	.opened = on_opened,
	.message = on_message,
	.closed = on_closed,
};

static void connect_agent(struct agent *a)
{
	struct o8_err err = O8_ERR_INIT;

	if (a->stopping || a->conn)
		return;
	if (o8_conn_connect(&a->conn, &a->d->ctx, a->d->server_host,
			    a->d->server_port, NULL, a->creds, &agent_ops, a,
			    &err)) {
		logf_(a, O8_LOG_WARN, "connect: %s", err.msg);
		schedule_retry(a);
	}
}

/* --- certificates ----------------------------------------------------------- */

static enum o8_rc load_creds(struct agent *a, struct o8_err *err)
{
	char cert[PATH_MAX + 16], key[PATH_MAX + 16];
	gnutls_certificate_credentials_t creds;

	o8_pki_path(cert, sizeof(cert), a->dir, O8_PKI_AGENT_CRT, NULL);
	o8_pki_path(key, sizeof(key), a->dir, O8_PKI_AGENT_KEY, NULL);
	if (o8_conn_client_creds(&creds, a->d->ca, cert, key, err))
		return err->rc;
	/* a live connection keeps using the old credentials until it ends */
	if (a->creds && a->conn && !a->old_creds) {
		a->old_creds = a->creds;        /* the connection's: freed with it */
	} else if (a->creds) {                  /* no connection uses these */
		gnutls_certificate_free_credentials(a->creds);
	}
	a->creds = creds;
	return O8_OK;
}

static void schedule_renewal(struct agent *a);
static void renew_fired(uv_timer_t *t);

static void renew_work(uv_work_t *w)
{
	struct agent *a = w->data;

	o8_err_clear(&a->renew_err);
	agent_renew(a->d->bootstrap, a->d->ca, a->dir, &a->renew_err);
}

static void renew_done(uv_work_t *w, int status)
{
	struct agent *a = w->data;

	a->renewing = false;
	if (status == 0 && a->renew_err.rc == O8_OK &&
	    load_creds(a, &a->renew_err) == O8_OK) {
		logf_(a, O8_LOG_INFO, "certificate renewed");
		schedule_renewal(a);
		return;
	}
	logf_(a, O8_LOG_WARN, "renewal failed: %s; retrying in 60 s", a->renew_err.msg);
	uv_timer_start(&a->renew, renew_fired, 60000, 0);
}

static void renew_fired(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->renewing || a->stopping || !a->d->bootstrap)
		return;
	a->renewing = true;
	a->renew_work.data = a;
	uv_queue_work(a->d->loop, &a->renew_work, renew_work, renew_done);
}

static void schedule_renewal(struct agent *a)
{
	struct o8_err err = O8_ERR_INIT;
	time_t nb, na, at, now = time(NULL);
	uint64_t ms;

	if (agent_identity(a->dir, NULL, NULL, &nb, &na, &err))
		return;
	at = o8_pki_renew_at(nb, na);
	ms = at > now ? (uint64_t)(at - now) * 1000u : 60000u;
	uv_timer_start(&a->renew, renew_fired, ms, 0);
}

/* --- set-up ------------------------------------------------------------------- */

/* The idx-th line of the tokens file (the token is never logged). */
static char *token_line(const char *path, unsigned idx, struct o8_err *err)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = -1;

	if (!f) {
		o8_err_set(err, O8_ERR, path, 0, 0, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (unsigned i = 0; i <= idx; i++)
		if ((n = getline(&line, &cap, f)) < 0)
			break;
	fclose(f);
	if (n <= 0) {
		free(line);
		o8_err_set(err, O8_EINVALID, path, 0, 0,
			   "%s: no token on line %u", path, idx + 1);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

/* Its directory and certificate (enrolling if needed): safe on any thread. */
static enum o8_rc agent_prepare(struct agwd *d, struct agent *a, unsigned idx,
				struct o8_err *err)
{
	char path[PATH_MAX + 16];
	struct stat st;

	a->d = d;
	a->idx = idx;
	a->jobs_tail = &a->jobs;
	a->seed = (unsigned)time(NULL) ^ (idx * 2654435761u) ^ (unsigned)getpid();
	if (d->simulate)
		snprintf(a->dir, sizeof(a->dir), "%s/agw-%04u", d->state_dir, idx);
	else
		snprintf(a->dir, sizeof(a->dir), "%s", d->state_dir);
	if (mkdir(a->dir, 0700) != 0 && errno != EEXIST)
		return o8_err_set(err, O8_ERR, a->dir, 0, 0, "%s: %s", a->dir,
				  strerror(errno));
	snprintf(a->id, sizeof(a->id), "#%u", idx);
	o8_pki_path(path, sizeof(path), a->dir, O8_PKI_AGENT_CRT, NULL);
	if (stat(path, &st) != 0) {
		char *tok = NULL;

		if (d->enroll_file)
			tok = token_line(d->enroll_file, idx, err);
		else if (d->enroll_token)
			tok = strdup(d->enroll_token);
		else
			return o8_err_set(err, O8_ENOTFOUND, path, 0, 0,
					  "%s: no certificate; enrol with --enroll TOKEN", path);
		if (!tok)
			return err->rc ? err->rc :
			       o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
		if (!d->bootstrap)
			o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				   "enrolment needs --bootstrap https://HOST:PORT");
		else
			agent_enroll(d->bootstrap, d->ca, a->dir, tok, err);
		explicit_bzero(tok, strlen(tok));
		free(tok);
		if (err->rc)
			return err->rc;
	}
	return O8_OK;
}

/* The rest, on the loop's thread. */
static enum o8_rc agent_setup(struct agwd *d, struct agent *a, struct o8_err *err)
{
	if (agent_identity(a->dir, &a->network, &a->gateway, NULL, NULL, err))
		return err->rc;
	snprintf(a->id, sizeof(a->id), "%s/%s", a->network, a->gateway);
	if (o8_agstate_open(&a->st, a->dir, err)) {
		o8_err_prefix(err, "%s", a->id);
		return err->rc;
	}
	if (load_creds(a, err))
		return err->rc;
	uv_timer_init(d->loop, &a->retry);
	uv_timer_init(d->loop, &a->checkin);
	uv_timer_init(d->loop, &a->renew);
	a->retry.data = a->checkin.data = a->renew.data = a;
	if (d->renew_in_s)
		uv_timer_start(&a->renew, renew_fired, d->renew_in_s * 1000ull, 0);
	else
		schedule_renewal(a);
	return O8_OK;
}

/* Enrolling a fleet one by one waits on round trips and disk syncs;
 * a few threads overlap them. */
enum { PREP_THREADS = 8 };

struct prep {
	struct agwd *d;
	struct o8_err err;              /* this thread's failure */
};

static int prep_one(void *ctx, size_t i)
{
	struct prep *p = ctx;

	return agent_prepare(p->d, &p->d->agents[i], (unsigned)i, &p->err) ? -1 : 0;
}

static enum o8_rc prepare_all(struct agwd *d, struct o8_err *err)
{
	struct prep p[PREP_THREADS];
	struct o8_pool_failure fail;
	unsigned t, n = o8_pool_threads(PREP_THREADS, d->nagents, 1);

	for (t = 0; t < n; t++)
		p[t] = (struct prep){ .d = d, .err = O8_ERR_INIT };
	if (o8_pool_run(n, d->nagents, prep_one, p, sizeof(*p), &fail)) {
		*err = p[fail.worker].err;
		o8_err_prefix(err, "%s", d->agents[fail.item].id);
		return err->rc;
	}
	return O8_OK;
}

static void stop_all(struct agwd *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	for (size_t i = 0; i < d->nagents; i++) {
		struct agent *a = &d->agents[i];

		a->stopping = true;
		uv_timer_stop(&a->retry);
		uv_timer_stop(&a->checkin);
		uv_timer_stop(&a->renew);
		if (a->conn)
			o8_conn_close(a->conn, "agwd is stopping");
	}
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct agwd *d = s->data;

	o8_log(d->log, O8_LOG_INFO, NULL, NULL, "%s, stopping", strsignal(signum));
	stop_all(d);
}

/* --- command line ------------------------------------------------------------- */

enum { OPT_BOOTSTRAP = 256, OPT_ENROLL_FILE, OPT_SIM_KPIS, OPT_HOOK,
       OPT_MAX_FRAME, OPT_RENEW_IN, OPT_LOG_LEVEL };

static const struct argp_option options[] = {
	{ "server", 's', "HOST:PORT", 0, "syncd's AGW port (mutual TLS)", 0 },
	{ "bootstrap", OPT_BOOTSTRAP, "URL", 0,
	  "syncd's bootstrap port, https://HOST:PORT (enrolment and renewal)", 0 },
	{ "ca", 'c', "FILE", 0, "the orc8r CA certificate (pki/ca.crt)", 0 },
	{ "state-dir", 'd', "DIR", 0,
	  "where the key, certificate and applied config live (default /var/lib/agwd)", 0 },
	{ "enroll", 'e', "TOKEN", 0,
	  "enrol first with this one-time token (orc8r pki enroll-token)", 0 },
	{ "enroll-file", OPT_ENROLL_FILE, "FILE", 0,
	  "with --simulate: line i holds the token of simulated AGW i", 0 },
	{ "reload-hook", OPT_HOOK, "CMD", 0,
	  "run CMD (sh -c) after each applied version; ORC8R_CONFIG_DIR is set", 0 },
	{ "checkin", 'i', "SECONDS", 0, "state report interval (default 60)", 0 },
	{ "simulate", 'n', "N", 0,
	  "run N simulated AGWs in this process (state in DIR/agw-NNNN)", 0 },
	{ "sim-kpis", OPT_SIM_KPIS, NULL, 0,
	  "add made-up radio KPIs to the reports (demos)", 0 },
	{ "max-frame", OPT_MAX_FRAME, "BYTES", 0, "largest frame accepted (default 16 MiB)", 0 },
	{ "quiet", 'q', NULL, 0, "log only errors", 0 },
	{ "verbose", 'v', NULL, 0, "log debug detail too (--log-level debug)", 0 },
	{ "log-level", OPT_LOG_LEVEL, "LEVEL", 0,
	  "debug, info (default), warn or error: the least severe lines logged", 0 },
	{ "renew-in", OPT_RENEW_IN, "SECONDS", 0,
	  "renew the certificate this soon after start, then at 2/3 of its life "
	  "as usual (to check renewal end to end)", 0 },
	{ 0 }
};

static const char doc[] =
	"agwd -- the orc8r agent on an Access Gateway\v"
	"agwd keeps one mutual-TLS connection to syncd, applies each config "
	"version atomically under --state-dir (current -> gen/VERSION, with "
	"gateway.mconfig for Magma's services), acks it, and reports KPIs every "
	"checkin.  Without syncd it keeps serving its last good config and "
	"reconnects with backoff.\n\n"
	"Examples:\n"
	"  agwd --bootstrap https://orc8r:7444 -s orc8r:7443 -c ca.crt \\\n"
	"       -d /var/lib/agwd --enroll o8e1.XXXX    first start\n"
	"  agwd -s orc8r:7443 -c ca.crt -d /var/lib/agwd     afterwards\n"
	"  agwd -n 50 --enroll-file tokens.txt ...           50 simulated AGWs\n\n"
	"Exit status: 0 after SIGTERM, 1 when it cannot start.";

static int parse_hostport(const char *s, const char **host, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long p;
	char *h;

	if (!colon || colon == s)
		return -1;
	p = strtoul(colon + 1, &end, 10);
	if (*end || p == 0 || p > 65535)
		return -1;
	h = strndup(s, (size_t)(colon - s));
	if (!h)
		return -1;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		memmove(h, h + 1, strlen(h));
		h[strlen(h) - 1] = '\0';
	}
	*host = h;
	*port = (uint16_t)p;
	return 0;
}

static unsigned long parse_num(struct argp_state *st, const char *arg,
			       unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || v < min || v > max)
		argp_error(st, "'%s' is not a number from %lu to %lu", arg, min, max);
	return v;
}

static error_t parse_opt(int key, char *arg, struct argp_state *st)
{
	struct agwd *d = st->input;

	switch (key) {
	case 's':
		if (parse_hostport(arg, &d->server_host, &d->server_port))
			argp_error(st, "--server: expected HOST:PORT, got '%s'", arg);
		break;
	case OPT_BOOTSTRAP: d->bootstrap = arg; break;
	case 'c': d->ca = arg; break;
	case 'd': d->state_dir = arg; break;
	case 'e': d->enroll_token = arg; break;
	case OPT_ENROLL_FILE: d->enroll_file = arg; break;
	case OPT_HOOK: d->reload_hook = arg; break;
	case 'i': d->checkin_s = (unsigned)parse_num(st, arg, 1, 86400); break;
	case 'n': d->simulate = (unsigned)parse_num(st, arg, 1, 100000); break;
	case OPT_SIM_KPIS: d->sim_kpis = true; break;
	case OPT_MAX_FRAME: d->ctx.max_frame = parse_num(st, arg, 1024, 0xffffffffu); break;
	case 'q': d->level = O8_LOG_ERROR; break;
	case 'v': d->level = O8_LOG_DEBUG; break;
	case OPT_LOG_LEVEL:
		if (o8_log_level_parse(arg, &d->level))
			argp_error(st, "--log-level: '%s' is not debug, info, warn or error", arg);
		break;
	case OPT_RENEW_IN: d->renew_in_s = (unsigned)parse_num(st, arg, 1, 86400); break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	case ARGP_KEY_END:
		if (!d->server_host)
			argp_error(st, "--server HOST:PORT is required");
		if (!d->ca)
			argp_error(st, "--ca FILE is required (there is no insecure mode)");
		if (d->enroll_file && !d->simulate)
			argp_error(st, "--enroll-file goes with --simulate");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const char *argp_program_version = "agwd " O8_VERSION;

int main(int argc, char **argv)
{
	static const struct argp argp = { options, parse_opt, NULL, doc, NULL, NULL, NULL };
	struct o8_log_opts lo = O8_LOG_OPTS_INIT;
	struct agwd d = { 0 };
	struct o8_err err = O8_ERR_INIT;
	uv_loop_t loop;
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	/* keys, certificates and subscribers' Ki/OPc: nobody else's to read */
	umask(077);
	d.state_dir = "/var/lib/agwd";
	d.checkin_s = 60;
	d.level = O8_LOG_INFO;
	uv_loop_init(&loop);
	d.loop = &loop;
	o8_conn_ctx_init(&d.ctx, &loop);
	argp_parse(&argp, argc, argv, 0, NULL, &d);
	/* stderr, no timestamps: as agwd has always logged */
	lo.name = "agwd";
	lo.level = d.level;
	lo.timestamps = false;
	if (o8_log_new(&d.log, &lo, &err)) {
		fprintf(stderr, "agwd: %s\n", err.msg);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (mkdir(d.state_dir, 0700) != 0 && errno != EEXIST) {
		o8_log(d.log, O8_LOG_ERROR, NULL, NULL, "%s: %s", d.state_dir, strerror(errno));
		return 1;
	}
	d.nagents = d.simulate ? d.simulate : 1;
	/* simulated AGWs write their generations in parallel, as real ones
	   do on their own disks (set before the pool's first use) */
	if (!getenv("UV_THREADPOOL_SIZE")) {
		char n[16];

		snprintf(n, sizeof(n), "%zu", d.nagents < 4 ? 4 : d.nagents > 128 ? 128 : d.nagents);
		setenv("UV_THREADPOOL_SIZE", n, 1);
	}
	d.agents = calloc(d.nagents, sizeof(*d.agents));
	if (!d.agents)
		return 1;
	if (prepare_all(&d, &err)) {
		o8_log(d.log, O8_LOG_ERROR, NULL, NULL, "%s", err.msg);
		return 1;
	}
	for (size_t i = 0; i < d.nagents; i++) {
		if (agent_setup(&d, &d.agents[i], &err)) {
			o8_log(d.log, O8_LOG_ERROR, d.agents[i].id, NULL, "%s", err.msg);
			return 1;
		}
	}
	uv_signal_init(&loop, &d.sigterm);
	uv_signal_init(&loop, &d.sigint);
	d.sigterm.data = d.sigint.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	o8_log(d.log, O8_LOG_INFO, NULL, NULL, "%zu AGW%s, syncd at %s:%u", d.nagents,
	       d.nagents == 1 ? "" : "s", d.server_host, d.server_port);
	for (size_t i = 0; i < d.nagents; i++)
		connect_agent(&d.agents[i]);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (size_t i = 0; i < d.nagents; i++) {
		struct agent *a = &d.agents[i];

		uv_close((uv_handle_t *)&a->retry, NULL);
		uv_close((uv_handle_t *)&a->checkin, NULL);
		uv_close((uv_handle_t *)&a->renew, NULL);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	for (size_t i = 0; i < d.nagents; i++) {
		struct agent *a = &d.agents[i];

		jobs_free(a->jobs);
		drop_staged(a);
		o8_wire_decoded_free(a->digest_deferred);
		o8_agstate_free(a->st);
		if (a->creds)
			gnutls_certificate_free_credentials(a->creds);
		free(a->network);
		free(a->gateway);
	}
	free(d.agents);
	free((char *)d.server_host);
	rc = uv_loop_close(&loop) == 0 ? 0 : 1;
	curl_global_cleanup();
	o8_log_free(d.log);
	return rc;
}
