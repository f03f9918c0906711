/*
 * core.c - syncd's job: follow the git remote, compile each new commit into
 * a generation, and bring every AGW to it by sending only what it lacks.
 *
 * What an AGW lacks is decided from the best knowledge at hand:
 * - it acked a generation still in memory (base): diff base -> current,
 *   whose network-wide half lib/desired computes once per network;
 * - it holds nothing: the full config;
 * - otherwise (syncd restarted, or it was away for several commits): the
 *   per-kind digests of its Hello name the kinds that differ, a
 *   DigestRequest gets those kinds' record digests, and it is sent exactly
 *   the records that differ.  Never a blind full resend.
 *
 * The AGW itself is the truth about what it holds (digest-checked records
 * on its disk); the store keeps versions, reports and the audit log, so a
 * restarted syncd picks up where it was without per-record rows.
 */
#include "syncd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/x509.h>
#include <jansson.h>

#include "wire.pb-c.h"

#ifndef O8_VERSION
#define O8_VERSION "0.0.0"
#endif

void syncd_log(const struct syncd *s, enum o8_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	o8_logv(s->opts.log, level, NULL, NULL, fmt, ap);
	va_end(ap);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void syncd_event(struct syncd *s, const char *network, const char *gateway,
		  const char *who, const char *commit, const char *what,
		  const char *result)
{
	struct o8_store_event ev = { 0, now_s(), network, gateway, who, commit,
				     what, result };
	struct o8_err err = O8_ERR_INIT;

	if (o8_store_event_add(s->store, &ev, NULL, &err))
		syncd_log(s, O8_LOG_ERROR, "audit log: %s", err.msg);
}

/* --- generations ---------------------------------------------------------- */

static struct syncd_gen *gen_ref(struct syncd_gen *g)
{
	if (g)
		g->refs++;
	return g;
}

static void gen_unref(struct syncd_gen **gp)
{
	struct syncd_gen *g = *gp;

	*gp = NULL;
	if (g && --g->refs == 0) {
		o8_desired_free(g->d);
		free(g);
	}
}

/* --- agents --------------------------------------------------------------- */

struct syncd_agent *syncd_agent_find(struct syncd *s, const char *network,
				     const char *gateway)
{
	char id[O8_PKI_GATEWAY_ID_MAX];

	/* longer than any agent's id: cut, it could name another one */
	if (snprintf(id, sizeof(id), "%s/%s", network, gateway) >= (int)sizeof(id))
		return NULL;
	return o8_strmap_get(&s->agents, id);
}

static struct syncd_agent *agent_get(struct syncd *s, const char *network,
				     const char *gateway)
{
	struct syncd_agent *a = syncd_agent_find(s, network, gateway);

	if (a)
		return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	snprintf(a->network, sizeof(a->network), "%s", network);
	snprintf(a->gateway, sizeof(a->gateway), "%s", gateway);
	snprintf(a->id, sizeof(a->id), "%s/%s", network, gateway);
	if (o8_strmap_put(&s->agents, a->id, a, NULL) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

static bool kd_equal(const struct o8_wire_kind_digests *a,
		     const struct o8_wire_kind_digests *b)
{
	return memcmp(a->digest[1], b->digest[1],
		      sizeof(a->digest) - sizeof(a->digest[0])) == 0;
}

const char *syncd_agent_state(const struct syncd *s, const struct syncd_agent *a)
{
	const struct o8_desired_gateway *g;

	if (!a || !a->link || !a->hello_done)
		return "offline";
	if (!s->cur)
		return "pending";        /* nothing compiled yet */
	if (a->failed_version && a->failed_version == s->cur->version)
		return "failed";
	if (a->applied_version != s->cur->version)
		return "pending";
	g = o8_desired_find(s->cur->d, a->network, a->gateway);
	if (g && a->kd_known && !kd_equal(&a->kd, &g->kd))
		return "drifted";
	return "in-sync";
}

/* --- sending ---------------------------------------------------------------- */

static void send_delta(struct syncd *s, struct syncd_agent *a,
		       struct o8_desired_delta *dd)
{
	struct o8_wire_delta wd;
	struct o8_err err = O8_ERR_INIT;
	struct o8_conn *c = a->link->conn;
	uint64_t before = o8_conn_bytes_sent(c);

	o8_desired_delta_wire(dd, &wd);
	wd.from_version = a->applied_version;
	wd.to_version = s->cur->version;
	wd.commit = o8_desired_commit(s->cur->d);
	if (o8_conn_send_delta(c, &wd, &err)) {
		syncd_log(s, O8_LOG_WARN, "%s: sending version %llu: %s", a->id,
			  (unsigned long long)wd.to_version, err.msg);
		return;
	}
	a->bytes_sent += o8_conn_bytes_sent(c) - before;
	o8_metrics_add(s->m.bytes_sent, (double)(o8_conn_bytes_sent(c) - before));
	a->inflight = gen_ref(s->cur);
	a->inflight_ns = s->cur->arrived_ns;
	syncd_log(s, O8_LOG_DEBUG, "%s: version %llu -> %llu: %zu upserts, %zu deletes%s, %llu bytes",
		  a->id, (unsigned long long)wd.from_version,
		  (unsigned long long)wd.to_version, wd.nupserts, wd.ndeletes,
		  wd.full ? " (full)" : "",
		  (unsigned long long)(o8_conn_bytes_sent(c) - before));
}

static void ask_digests(struct syncd *s, struct syncd_agent *a, uint32_t mask)
{
	enum o8_rec_kind kinds[O8_REC__COUNT];
	struct Orc8r__V1__Envelope *env = NULL;
	struct o8_err err = O8_ERR_INIT;
	size_t n = 0;

	for (unsigned k = 1; k < O8_REC__COUNT; k++)
		if (mask & (1u << k))
			kinds[n++] = (enum o8_rec_kind)k;
	if (o8_wire_build_digest_request(&env, kinds, n, &err) == O8_OK &&
	    o8_conn_send(a->link->conn, env, &err) == O8_OK) {
		a->awaiting_digests = true;
		a->digest_kinds = mask;
		a->nhave = 0;
	} else {
		syncd_log(s, O8_LOG_WARN, "%s: digest request: %s", a->id, err.msg);
	}
	o8_wire_built_free(env);
}

/*
 * a's Hello claims a version above every one syncd issued.  Only a lost
 * store explains that honestly: syncd then believes a gateway it declares
 * but knows nothing of (and renumbers above it).  Anyone else -- a gateway
 * syncd has a history with, or a number no syncd issues -- is refused, so
 * no certificate can move (or wrap) the fleet's next version.
 */
static bool claim_credible(struct syncd *s, struct syncd_agent *a)
{
	char why[200];

	if (!a->remembered && a->applied_version <= SYNCD_VERSION_MAX) {
		s->max_version = a->applied_version;
		return true;
	}
	snprintf(why, sizeof(why), "Hello claims version %llu, but syncd issued "
		 "at most %llu", (unsigned long long)a->applied_version,
		 (unsigned long long)s->max_version);
	o8_conn_reject(a->link->conn, why);
	return false;
}

/* Brings a to the current generation, if it is not there or on its way. */
static void sync_agent(struct syncd *s, struct syncd_agent *a)
{
	const struct o8_desired_gateway *g;
	struct o8_desired_delta dd = { 0 };
	struct o8_err err = O8_ERR_INIT;
	uint32_t mask;

	if (!s->cur || !a->link || !a->hello_done || a->inflight ||
	    a->awaiting_digests)
		return;
	g = o8_desired_find(s->cur->d, a->network, a->gateway);
	if (!g)
		return;         /* not declared (any more): nothing to send */
	if (a->failed_version == s->cur->version)
		return;         /* it refused this one: no push loop */
	if (a->applied_version == s->cur->version && a->kd_known &&
	    kd_equal(&a->kd, &g->kd))
		return;
	if (a->applied_version > s->max_version && !claim_credible(s, a))
		return;
	if (a->applied_version >= s->cur->version) {
		/* ahead of us (our store was lost) or drifted at this very
		 * version: versions only go up, so the current commit gets a
		 * new number above every AGW's, and the digests decide what
		 * each one is sent */
		if (!s->renumber) {
			syncd_log(s, O8_LOG_WARN, "%s holds version %llu%s: renumbering commit %.12s",
				  a->id, (unsigned long long)a->applied_version,
				  a->applied_version > s->cur->version ? ", newer than ours" :
				  " with other records", o8_desired_commit(s->cur->d));
			s->renumber = true;
			syncd_fetch(s, "renumber");
		}
		return;
	}
	if (a->base && a->base->version == a->applied_version &&
	    a->applied_version != s->cur->version) {
		if (o8_desired_diff(a->base->d, s->cur->d, a->network, a->gateway,
				    &dd, &err) == O8_OK)
			send_delta(s, a, &dd);
	} else if (a->applied_version == 0 || !a->kd_known) {
		if (o8_desired_diff(NULL, s->cur->d, a->network, a->gateway, &dd,
				    &err) == O8_OK)
			send_delta(s, a, &dd);
	} else if ((mask = o8_desired_kinds_differing(s->cur->d, a->network,
						      a->gateway, &a->kd)) != 0) {
		ask_digests(s, a, mask);
	} else {
		send_delta(s, a, &dd);  /* same records: only the version moves */
	}
	if (err.rc)
		syncd_log(s, O8_LOG_ERROR, "%s: %s", a->id, err.msg);
	o8_desired_delta_done(&dd);
}

/* --- messages ------------------------------------------------------------------ */

static void on_hello(struct syncd *s, struct syncd_agent *a,
		     const Orc8r__V1__Hello *h)
{
	struct Orc8r__V1__Envelope *env = NULL;
	struct o8_err err = O8_ERR_INIT;
	struct syncd_gen *gens[2] = { s->cur, s->prev };

	if (h->gateway_id[0] && strcmp(h->gateway_id, a->id) != 0) {
		char why[300];

		snprintf(why, sizeof(why),
			 "Hello says it is \"%.64s\" but its certificate says %s",
			 h->gateway_id, a->id);
		o8_conn_reject(a->link->conn, why);
		return;
	}
	a->hello_done = true;
	a->applied_version = h->applied_version;
	snprintf(a->applied_commit, sizeof(a->applied_commit), "%s",
		 h->applied_commit ? h->applied_commit : "");
	a->kd_known = h->n_digests > 0;
	memset(&a->kd, 0, sizeof(a->kd));
	for (size_t i = 0; i < h->n_digests; i++) {
		unsigned k = (unsigned)h->digests[i]->kind;

		if (k > 0 && k < O8_REC__COUNT && h->digests[i]->digest.len == 32)
			memcpy(a->kd.digest[k], h->digests[i]->digest.data, 32);
	}
	/* a generation in memory whose config it holds: diff from there */
	gen_unref(&a->base);
	for (int i = 0; i < 2; i++) {
		const struct o8_desired_gateway *g = gens[i] ?
			o8_desired_find(gens[i]->d, a->network, a->gateway) : NULL;

		if (g && gens[i]->version == a->applied_version && a->kd_known &&
		    kd_equal(&g->kd, &a->kd)) {
			a->base = gen_ref(gens[i]);
			break;
		}
	}
	if (o8_wire_build_welcome(&env, O8_VERSION, s->cur ? s->cur->version : 0,
				  &err) == O8_OK)
		o8_conn_send(a->link->conn, env, &err);
	o8_wire_built_free(env);
	if (err.rc)
		return;
	sync_agent(s, a);
}

static void on_ack(struct syncd *s, struct syncd_agent *a, const Orc8r__V1__Ack *ack)
{
	struct syncd_gen *g = a->inflight;
	const struct o8_desired_gateway *dg;
	struct o8_store_digest sd[O8_REC__COUNT];
	struct o8_store_ack sa = O8_STORE_ACK_INIT;
	struct o8_err err = O8_ERR_INIT;
	size_t n = 0;

	a->inflight = NULL;
	if (!g || g->version != ack->version) {
		gen_unref(&g);
		return;
	}
	dg = o8_desired_find(g->d, a->network, a->gateway);
	a->applied_version = ack->version;
	a->remembered = true;
	snprintf(a->applied_commit, sizeof(a->applied_commit), "%s", ack->commit);
	if (dg) {
		a->kd = dg->kd;
		a->kd_known = true;
		for (unsigned k = 1; k < O8_REC__COUNT; k++) {
			sd[n].kind = k;
			memcpy(sd[n++].digest, dg->kd.digest[k], 32);
		}
	}
	gen_unref(&a->base);
	a->base = g;    /* the in-flight reference moves to base */
	if (a->failed_version && a->failed_version <= ack->version) {
		a->failed_version = 0;
		set_str(&a->last_error, NULL);
	}
	a->acked_at_ms = now_ms();
	o8_metrics_observe(s->m.push_latency,
			   (double)(uv_hrtime() - a->inflight_ns) / 1e9);
	sa.version = ack->version;
	sa.commit = ack->commit;
	sa.digests = sd;
	sa.ndigests = n;
	if (o8_store_agent_ack(s->store, a->network, a->gateway, &sa, &err) &&
	    err.rc != O8_ECONFLICT)
		syncd_log(s, O8_LOG_ERROR, "%s: store: %s", a->id, err.msg);
	sync_agent(s, a);
}

static void on_nack(struct syncd *s, struct syncd_agent *a, const Orc8r__V1__Nack *nk)
{
	struct o8_err err = O8_ERR_INIT;
	char what[64];

	gen_unref(&a->inflight);
	a->failed_version = nk->version;
	set_str(&a->last_error, nk->reason);
	syncd_log(s, O8_LOG_WARN, "%s: refused version %llu: %s", a->id,
		  (unsigned long long)nk->version, nk->reason);
	if (o8_store_agent_set_failed(s->store, a->network, a->gateway, nk->version,
				      nk->reason, &err))
		syncd_log(s, O8_LOG_ERROR, "%s: store: %s", a->id, err.msg);
	snprintf(what, sizeof(what), "apply version %llu", (unsigned long long)nk->version);
	syncd_event(s, a->network, a->gateway, "agwd", a->applied_commit, what, nk->reason);
}

static void on_state(struct syncd *s, struct syncd_agent *a,
		     const Orc8r__V1__StateReport *r)
{
	static const char *const names[] = { "unspecified", "ok", "applying",
		"failed", "reverted", "offline-recovered" };
	struct o8_store_report rep = { 0 };
	struct o8_err err = O8_ERR_INIT;
	json_t *k = json_object();
	char *text;

	for (size_t i = 0; i < r->n_kpis; i++)
		json_object_set_new(k, r->kpis[i]->name, json_real(r->kpis[i]->value));
	text = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(k);
	free(a->kpis);
	a->kpis = text;
	set_str(&a->report_status, (unsigned)r->status < 6 ? names[r->status] : "unknown");
	a->report_at = now_s();
	a->last_seen = a->report_at;
	if (r->status == ORC8R__V1__AGW_STATUS__AGW_STATUS_FAILED && r->message)
		set_str(&a->last_error, r->message);
	rep.version = r->version;
	rep.received_at = a->report_at;
	rep.status = a->report_status;
	rep.kpis = a->kpis;
	if (o8_store_report_put(s->store, a->network, a->gateway, &rep, &err))
		syncd_log(s, O8_LOG_ERROR, "%s: store: %s", a->id, err.msg);
}

/* What a DigestReply left: up to the wire's limit per exchange, so it is
 * not kept for the next one. */
static void have_free(struct syncd_agent *a)
{
	for (size_t i = 0; i < a->nhave; i++)
		free((char *)a->have[i].key);
	free(a->have);
	a->have = NULL;
	a->nhave = a->caphave = 0;
}

static void on_digests(struct syncd *s, struct syncd_agent *a,
		       const Orc8r__V1__DigestReply *r)
{
	struct o8_desired_delta dd = { 0 };
	struct o8_err err = O8_ERR_INIT;

	if (!a->awaiting_digests)
		return;
	for (size_t i = 0; i < r->n_records; i++) {
		const Orc8r__V1__RecordDigest *rd = r->records[i];
		struct o8_desired_have *h;

		if (a->nhave == a->caphave) {
			size_t cap = a->caphave ? a->caphave * 2 : 64;
			struct o8_desired_have *nh = realloc(a->have, cap * sizeof(*nh));

			if (!nh) {
				o8_conn_close(a->link->conn, "out of memory");
				return;
			}
			a->have = nh;
			a->caphave = cap;
		}
		h = &a->have[a->nhave++];
		h->kind = (enum o8_rec_kind)rd->kind;
		h->key = strdup(rd->key);
		if (rd->digest.len == 32)
			memcpy(h->digest, rd->digest.data, 32);
	}
	if (r->more)
		return;
	a->awaiting_digests = false;
	if (s->cur && o8_desired_diff_digests(s->cur->d, a->network, a->gateway,
					      a->have, a->nhave, a->digest_kinds,
					      &dd, &err) == O8_OK) {
		syncd_log(s, O8_LOG_DEBUG, "%s: digests of %zu records compared: %zu to send, %zu to delete",
			  a->id, a->nhave, dd.nupserts, dd.ndeletes);
		send_delta(s, a, &dd);
	} else if (err.rc) {
		syncd_log(s, O8_LOG_ERROR, "%s: digests: %s", a->id, err.msg);
	}
	o8_desired_delta_done(&dd);
	have_free(a);
}

/* --- connections ------------------------------------------------------------- */

static void on_opened(struct o8_conn *c)
{
	struct syncd_link *l = o8_conn_data(c);
	struct syncd *s = l->s;
	const gnutls_datum_t *cert = o8_conn_peer_cert(c);
	struct o8_err err = O8_ERR_INIT;
	char *net = NULL, *gw = NULL, why[600];
	struct syncd_agent *a;

	o8_pki_trust_refresh(s->trust, &err);   /* `orc8r pki revoke` applies now */
	o8_err_clear(&err);
	if (!cert || o8_pki_trust_verify(s->trust, cert->data, cert->size, 0,
					 &net, &gw, &err)) {
		snprintf(why, sizeof(why), "client certificate refused: %s",
			 cert ? err.msg : "none");
		o8_conn_reject(c, why);
		return;
	}
	a = agent_get(s, net, gw);
	free(net);
	free(gw);
	if (!a) {
		o8_conn_close(c, "out of memory");
		return;
	}
	if (a->link) {
		snprintf(why, sizeof(why), "replaced by a new connection from %s",
			 o8_conn_peer(c));
		a->link->a = NULL;
		o8_conn_close(a->link->conn, why);
		a->link = NULL;
	}
	gen_unref(&a->inflight);
	a->awaiting_digests = false;
	a->hello_done = false;
	a->link = l;
	l->a = a;
	a->last_seen = now_s();
	{
		gnutls_x509_crt_t crt;
		char hex[64];
		size_t len = 20;
		uint8_t serial[20];

		if (gnutls_x509_crt_init(&crt) == 0) {
			if (gnutls_x509_crt_import(crt, cert, GNUTLS_X509_FMT_DER) == 0 &&
			    gnutls_x509_crt_get_serial(crt, serial, &len) == 0) {
				for (size_t i = 0; i < len; i++)
					snprintf(hex + 2 * i, 3, "%02x", serial[i]);
				set_str(&a->cert_serial, hex);
			}
			gnutls_x509_crt_deinit(crt);
		}
	}
	if (o8_store_agent_upsert_seen(s->store, a->network, a->gateway, a->last_seen,
				       a->cert_serial, &err))
		syncd_log(s, O8_LOG_ERROR, "%s: store: %s", a->id, err.msg);
}

/* --- revocation ---------------------------------------------------------------- */

void syncd_crl_check(struct syncd *s, bool force)
{
	struct o8_err err = O8_ERR_INIT;
	struct stat st;
	const char *key;
	void *val;
	size_t it = 0;

	if (stat(s->crl_path, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (!force && s->crl_seen.ino == (uint64_t)st.st_ino &&
	    s->crl_seen.size == (int64_t)st.st_size &&
	    s->crl_seen.mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 +
	    st.st_mtim.tv_nsec)
		return;
	s->crl_seen.ino = (uint64_t)st.st_ino;
	s->crl_seen.size = (int64_t)st.st_size;
	s->crl_seen.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (o8_pki_trust_refresh(s->trust, &err)) {
		syncd_log(s, O8_LOG_ERROR, "CRL: %s", err.msg);
		return;
	}
	while (o8_strmap_next(&s->agents, &it, &key, &val)) {
		struct syncd_agent *a = val;
		const gnutls_datum_t *cert;
		char why[600];

		if (!a->link || !(cert = o8_conn_peer_cert(a->link->conn)))
			continue;
		o8_err_clear(&err);
		if (o8_pki_trust_verify(s->trust, cert->data, cert->size, 0, NULL,
					NULL, &err) == O8_OK)
			continue;
		snprintf(why, sizeof(why), "certificate refused now: %s", err.msg);
		syncd_log(s, O8_LOG_WARN, "%s (%s): %s: connection closed at once",
			  a->id, o8_conn_peer(a->link->conn), why);
		syncd_event(s, a->network, a->gateway, "syncd", NULL, "disconnect", why);
		o8_conn_abort(a->link->conn, why);
	}
}

static void on_pki_changed(uv_fs_event_t *h, const char *name, int events,
			   int status)
{
	(void)name;
	(void)events;
	if (status == 0)
		syncd_crl_check(h->data, false);
}

static void on_message(struct o8_conn *c, struct Orc8r__V1__Envelope *env)
{
	struct syncd_link *l = o8_conn_data(c);
	struct syncd_agent *a = l->a;

	if (!a) {       /* a message before the certificate was accepted */
		o8_wire_decoded_free(env);
		return;
	}
	a->last_seen = now_s();
	switch (o8_wire_msg_type(env)) {
	case O8_WIRE_HELLO: on_hello(l->s, a, env->hello); break;
	case O8_WIRE_ACK: on_ack(l->s, a, env->ack); break;
	case O8_WIRE_NACK: on_nack(l->s, a, env->nack); break;
	case O8_WIRE_STATE: on_state(l->s, a, env->state); break;
	case O8_WIRE_DIGEST_REPLY: on_digests(l->s, a, env->digest_reply); break;
	default: break;
	}
	o8_wire_decoded_free(env);
}

static void on_closed(struct o8_conn *c, const char *why)
{
	struct syncd_link *l = o8_conn_data(c);
	struct syncd *s = l->s;
	struct syncd_agent *a = l->a;
	struct o8_err err = O8_ERR_INIT;

	if (o8_conn_rejected(c))
		o8_metrics_inc(s->m.frames_rejected);
	if (a) {
		a->link = NULL;
		a->hello_done = false;
		a->awaiting_digests = false;
		have_free(a);
		gen_unref(&a->inflight);
		gen_unref(&a->base);
		if (why && !s->stopping) {
			set_str(&a->last_error, why);
			o8_store_agent_set_error(s->store, a->network, a->gateway, why, &err);
		}
	}
	/* an AGW going away is routine (debug); a stranger or a refusal is not */
	if (why && !s->stopping)
		syncd_log(s, !a || o8_conn_rejected(c) ? O8_LOG_WARN : O8_LOG_DEBUG,
			  "%s (%s): connection closed: %s", a ? a->id : "?",
			  o8_conn_peer(c), why);
	free(l);
}

static const struct o8_conn_ops server_ops = {
	.opened = on_opened,
	.message = on_message,
	.closed = on_closed,
};

static void on_accept(uv_stream_t *server, int status)
{
	struct syncd *s = server->data;
	struct syncd_link *l;
	struct o8_err err = O8_ERR_INIT;

	if (status < 0 || s->stopping)
		return;
	l = calloc(1, sizeof(*l));
	if (!l)
		return;
	l->s = s;
	if (o8_conn_accept(&l->conn, &s->cctx, server, s->creds, &server_ops, l,
			   &err)) {
		syncd_log(s, O8_LOG_WARN, "accept: %s", err.msg);
		free(l);
	}
}

/* --- fetching -------------------------------------------------------------------- */

static void fetch_work(uv_work_t *w)
{
	struct syncd *s = w->data;
	struct o8_git *repo = NULL;
	struct o8_diags diags = O8_DIAGS_INIT;

	o8_err_clear(&s->work_err);
	s->work_gen = NULL;
	s->work_same = false;
	if (o8_git_fetch_remote(&repo, s->opts.repo_dir, s->opts.repo_url,
				s->opts.repo_branch, s->work_commit, &s->work_err))
		return;
	o8_git_free(s->repo);
	s->repo = repo;
	if ((strcmp(s->work_cur_commit, s->work_commit) == 0 && !s->work_renumber) ||
	    strcmp(s->work_rejected, s->work_commit) == 0) {
		s->work_same = true;
		return;
	}
	/* a restarted syncd gives the commit it served the same version */
	if (strcmp(s->restored_commit, s->work_commit) == 0 && s->restored_version &&
	    !s->work_renumber)
		s->work_version = s->restored_version;
	o8_desired_build(&s->work_gen, s->repo, s->work_commit, s->work_version,
			 &diags, &s->work_err);
	o8_diags_free(&diags);
}

static void install(struct syncd *s, struct o8_desired *d)
{
	struct syncd_gen *g = calloc(1, sizeof(*g));
	struct o8_err err = O8_ERR_INIT;
	size_t n = o8_desired_gateway_count(d);
	const char *commit = o8_desired_commit(d);
	char what[128];

	if (!g) {
		o8_desired_free(d);
		return;
	}
	g->d = d;
	g->version = o8_desired_version(d);
	g->refs = 1;
	g->arrived_ns = uv_hrtime();
	gen_unref(&s->prev);
	s->prev = s->cur;
	s->cur = g;
	if (g->version > s->max_version)
		s->max_version = g->version;
	s->rejected_commit[0] = '\0';
	set_str(&s->rejected_reason, NULL);
	o8_metrics_set(s->m.desired_version, (double)g->version);
	o8_metrics_set(s->m.agws, (double)n);
	/* one transaction: a thousand desired versions cost one disk sync */
	if (o8_store_begin(s->store, &err) == O8_OK) {
		for (size_t i = 0; i < n && !err.rc; i++) {
			const struct o8_desired_gateway *gw = o8_desired_gateway_at(d, i);

			if (o8_store_agent_set_desired(s->store, gw->network, gw->name,
						       g->version, commit, &err) == O8_ECONFLICT)
				o8_err_clear(&err);
		}
		if (err.rc)
			o8_store_rollback(s->store, NULL);
		else
			o8_store_commit(s->store, &err);
	}
	if (err.rc)
		syncd_log(s, O8_LOG_ERROR, "store: %s", err.msg);
	snprintf(what, sizeof(what), "compile version %llu for %zu gateways",
		 (unsigned long long)g->version, n);
	syncd_event(s, NULL, NULL, s->fetch_actor, commit, what, "ok");
	syncd_log(s, O8_LOG_INFO, "commit %.12s is version %llu: %zu gateways, %zu records",
		  commit, (unsigned long long)g->version, n, o8_desired_record_count(d));
	for (size_t i = 0; i < n; i++) {
		const struct o8_desired_gateway *gw = o8_desired_gateway_at(d, i);
		struct syncd_agent *a = syncd_agent_find(s, gw->network, gw->name);

		if (a)
			sync_agent(s, a);
	}
}

static void fetch_done(uv_work_t *w, int status)
{
	struct syncd *s = w->data;

	s->fetching = false;
	s->fetched_at = now_s();
	if (s->work_renumber)
		s->renumber = false;    /* done, or failed: a later Hello asks again */
	if (status == 0 && s->work_err.rc == O8_OK) {
		o8_metrics_inc(s->m.fetch_ok);
		if (s->work_gen)
			install(s, s->work_gen);
		s->work_gen = NULL;
		s->ready = s->cur != NULL;
	} else if (status == 0 && s->work_err.rc == O8_EINVALID && s->work_commit[0]) {
		/* the commit does not validate: keep serving the last good one */
		o8_metrics_inc(s->m.fetch_error);
		snprintf(s->rejected_commit, sizeof(s->rejected_commit), "%s",
			 s->work_commit);
		set_str(&s->rejected_reason, s->work_err.msg);
		syncd_log(s, O8_LOG_WARN, "commit %.12s rejected: %s", s->work_commit, s->work_err.msg);
		syncd_event(s, NULL, NULL, s->fetch_actor, s->work_commit, "compile",
		      s->work_err.msg);
	} else {
		o8_metrics_inc(s->m.fetch_error);
		syncd_log(s, O8_LOG_WARN, "fetch %s: %s", s->opts.repo_url,
			  status ? uv_strerror(status) : s->work_err.msg);
		syncd_event(s, NULL, NULL, s->fetch_actor, NULL, "fetch",
		      status ? uv_strerror(status) : s->work_err.msg);
	}
	if (s->fetch_again && !s->stopping) {
		s->fetch_again = false;
		syncd_fetch(s, s->fetch_actor);
	}
}

void syncd_fetch(struct syncd *s, const char *actor)
{
	if (s->stopping)
		return;
	if (s->fetching) {
		s->fetch_again = true;  /* a push arrived during a fetch */
		return;
	}
	if (s->max_version >= SYNCD_VERSION_MAX) {
		syncd_log(s, O8_LOG_ERROR, "version numbers exhausted at %llu: "
			  "nothing more can be issued",
			  (unsigned long long)s->max_version);
		return;
	}
	s->fetching = true;
	snprintf(s->fetch_actor, sizeof(s->fetch_actor), "%s", actor);
	s->work_version = s->max_version + 1;
	s->work_commit[0] = '\0';
	snprintf(s->work_cur_commit, sizeof(s->work_cur_commit), "%s",
		 s->cur ? o8_desired_commit(s->cur->d) : "");
	memcpy(s->work_rejected, s->rejected_commit, sizeof(s->work_rejected));
	s->work_renumber = s->renumber;
	s->work.data = s;
	if (uv_queue_work(s->loop, &s->work, fetch_work, fetch_done) < 0)
		s->fetching = false;
}

static bool delivery_seen(struct syncd *s, const char *id)
{
	size_t n = strlen(id);

	if (n > SYNCD_DELIVERY_MAX)
		return false;   /* not GitHub's: the rate bound alone applies */
	for (size_t i = 0; i < SYNCD_DELIVERIES; i++)
		if (!strcmp(s->deliveries[i], id))
			return true;
	memcpy(s->deliveries[s->delivery_next], id, n + 1);
	s->delivery_next = (s->delivery_next + 1) % SYNCD_DELIVERIES;
	return false;
}

static void webhook_fired(uv_timer_t *t)
{
	struct syncd *s = t->data;

	s->webhook_at_ms = uv_now(s->loop);
	syncd_fetch(s, "webhook");
}

bool syncd_webhook(struct syncd *s, const char *delivery)
{
	uint64_t now = uv_now(s->loop);

	if (delivery && delivery[0] && delivery_seen(s, delivery)) {
		o8_metrics_inc(s->m.webhook_replays);
		return false;
	}
	if (s->stopping || uv_is_active((uv_handle_t *)&s->webhook_timer))
		return true;    /* coalesced with the fetch pending */
	if (s->webhook_fetched && now - s->webhook_at_ms < SYNCD_WEBHOOK_INTERVAL_MS) {
		uv_timer_start(&s->webhook_timer, webhook_fired,
			       SYNCD_WEBHOOK_INTERVAL_MS - (now - s->webhook_at_ms), 0);
		return true;
	}
	s->webhook_fetched = true;
	webhook_fired(&s->webhook_timer);
	return true;
}

static void poll_fired(uv_timer_t *t)
{
	syncd_fetch(t->data, "poll");
}

/* --- start and stop ------------------------------------------------------------- */

static enum o8_rc restore_agent(const struct o8_store_agent *sa, void *payload)
{
	struct syncd *s = payload;
	struct syncd_agent *a;

	if (sa->acked_version > SYNCD_VERSION_MAX ||
	    sa->desired_version > SYNCD_VERSION_MAX)
		return O8_OK;   /* not a version syncd issues: forget the row */
	a = agent_get(s, sa->network, sa->gateway);
	if (!a)
		return O8_ERR;
	a->applied_version = sa->acked_version;
	a->remembered = true;
	snprintf(a->applied_commit, sizeof(a->applied_commit), "%s",
		 sa->acked_commit ? sa->acked_commit : "");
	a->failed_version = sa->failed_version;
	set_str(&a->last_error, sa->failed_reason ? sa->failed_reason : sa->last_error);
	a->last_seen = sa->last_seen;
	set_str(&a->cert_serial, sa->cert_serial);
	if (sa->acked_version > s->max_version)
		s->max_version = sa->acked_version;
	if (sa->desired_version > s->max_version)
		s->max_version = sa->desired_version;
	if (sa->desired_version > s->restored_version && sa->desired_commit) {
		s->restored_version = sa->desired_version;
		snprintf(s->restored_commit, sizeof(s->restored_commit), "%s",
			 sa->desired_commit);
	}
	return O8_OK;
}

/* mkdir -p with mode 0700: syncd's state is nobody else's business. */
static enum o8_rc mkdir_p(const char *dir, struct o8_err *err)
{
	char buf[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return o8_err_set(err, O8_EINVALID, dir, 0, 0, "state_dir: bad path");
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return o8_err_set(err, O8_ERR, buf, 0, 0, "%s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return o8_err_set(err, O8_ERR, buf, 0, 0, "%s: %s", buf, strerror(errno));
	return O8_OK;
}

/*
 * The state directory holds the store and the git mirror, so every Ki and
 * OPc: refused when group or others may look in, as ssh refuses a key.
 * The mode is the opened directory's, not a name's that could change.
 */
static enum o8_rc state_dir_private(const char *dir, struct o8_err *err)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0) {
		o8_err_set(err, O8_ERR, dir, 0, 0, "%s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err->rc;
	}
	close(fd);
	if (st.st_mode & 077)
		return o8_err_set(err, O8_EINVALID, dir, 0, 0, "state directory '%s' "
				  "is accessible by others (mode %04o): it holds every "
				  "subscriber's keys; run 'chmod 700 %s'", dir,
				  (unsigned)(st.st_mode & 07777), dir);
	return O8_OK;
}

static enum o8_rc listen_south(struct syncd *s, struct o8_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct sockaddr_storage bound;
	int blen = sizeof(bound), r;

	if (o8_httpd_parse_addr(s->opts.listen, &ss, &len, err))
		return err->rc;
	r = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->listener, 1024, on_accept);
	if (r < 0)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "listen on %s: %s",
				  s->opts.listen, uv_strerror(r));
	uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
	s->listen_port = ntohs(bound.ss_family == AF_INET6 ?
			       ((struct sockaddr_in6 *)&bound)->sin6_port :
			       ((struct sockaddr_in *)&bound)->sin_port);
	return O8_OK;
}

static enum o8_rc make_metrics(struct syncd *s, struct o8_err *err)
{
	static const double buckets[] = O8_METRICS_SECONDS_BUCKETS;
	static const char *const ok[] = { "result", "ok", NULL };
	static const char *const bad[] = { "result", "error", NULL };

	if (o8_metrics_new(&s->metrics, err) ||
	    o8_metrics_gauge(&s->m.connected, s->metrics, "orc8r_syncd_agws_connected",
			     "AGWs with a live connection", NULL, err) ||
	    o8_metrics_gauge(&s->m.in_sync, s->metrics, "orc8r_syncd_agws_in_sync",
			     "AGWs that hold the desired version", NULL, err) ||
	    o8_metrics_gauge(&s->m.agws, s->metrics, "orc8r_syncd_agws_desired",
			     "AGWs declared in the desired commit", NULL, err) ||
	    o8_metrics_gauge(&s->m.desired_version, s->metrics,
			     "orc8r_syncd_desired_version",
			     "version number of the desired commit", NULL, err) ||
	    o8_metrics_histogram(&s->m.push_latency, s->metrics,
				 "orc8r_syncd_push_latency_seconds",
				 "from a commit's compilation to an AGW's ack", NULL,
				 buckets, sizeof(buckets) / sizeof(buckets[0]), err) ||
	    o8_metrics_counter(&s->m.bytes_sent, s->metrics, "orc8r_syncd_bytes_sent_total",
			       "bytes sent to AGWs for config, TLS included", NULL, err) ||
	    o8_metrics_counter(&s->m.frames_rejected, s->metrics,
			       "orc8r_syncd_frames_rejected_total",
			       "connections closed for a bad frame or message", NULL, err) ||
	    o8_metrics_counter(&s->m.webhook_replays, s->metrics,
			       "orc8r_syncd_webhook_replays_total",
			       "signed webhooks refused as replays of a delivery id "
			       "seen lately", NULL, err) ||
	    o8_metrics_counter(&s->m.fetch_ok, s->metrics, "orc8r_syncd_fetches_total",
			       "fetches of the git remote", ok, err) ||
	    o8_metrics_counter(&s->m.fetch_error, s->metrics, "orc8r_syncd_fetches_total",
			       "fetches of the git remote", bad, err))
		return err->rc;
	return O8_OK;
}

enum o8_rc syncd_start(struct syncd *s, struct o8_err *err)
{
	char ca[4096], crt[4096], key[4096], crl[4096];

	o8_pki_path(ca, sizeof(ca), s->opts.pki, O8_PKI_CA_CRT, NULL);
	o8_pki_path(crt, sizeof(crt), s->opts.pki, O8_PKI_SERVER_CRT, NULL);
	o8_pki_path(key, sizeof(key), s->opts.pki, O8_PKI_SERVER_KEY, NULL);
	o8_pki_path(crl, sizeof(crl), s->opts.pki, O8_PKI_CRL, NULL);
	o8_conn_ctx_init(&s->cctx, s->loop);
	s->cctx.max_frame = s->opts.max_frame;
	/* the handles exist from here on, so syncd_stop can always close them */
	uv_tcp_init(s->loop, &s->listener);
	s->listener.data = s;
	uv_timer_init(s->loop, &s->poll);
	s->poll.data = s;
	uv_timer_init(s->loop, &s->webhook_timer);
	s->webhook_timer.data = s;
	uv_fs_event_init(s->loop, &s->pki_watch);
	s->pki_watch.data = s;
	snprintf(s->crl_path, sizeof(s->crl_path), "%s", crl);
	if (s->opts.state_dir && (mkdir_p(s->opts.state_dir, err) ||
				  state_dir_private(s->opts.state_dir, err)))
		return err->rc;
	if (make_metrics(s, err) ||
	    o8_pki_trust_load(&s->trust, ca, crl, err) ||
	    o8_conn_server_creds(&s->creds, crt, key, ca, err) ||
	    o8_store_open(&s->store, s->opts.store, err) ||
	    o8_store_agents_list(s->store, restore_agent, s, err) ||
	    listen_south(s, err) ||
	    syncd_api_start(s, err))
		return err->rc;
	if (s->opts.poll_s)
		uv_timer_start(&s->poll, poll_fired, s->opts.poll_s * 1000ull,
			       s->opts.poll_s * 1000ull);
	syncd_crl_check(s, false);      /* what is loaded now: the baseline */
	/* `orc8r pki revoke` renames a new CRL into the PKI directory */
	if (uv_fs_event_start(&s->pki_watch, on_pki_changed, s->opts.pki, 0) != 0)
		syncd_log(s, O8_LOG_WARN, "cannot watch %s: revocations apply at the "
			  "next handshake or SIGHUP", s->opts.pki);
	syncd_log(s, O8_LOG_INFO, "AGW port %s (port %u), API %s, store %s, %zu known AGWs",
		  s->opts.listen, s->listen_port, s->opts.api, s->opts.store,
		  s->agents.n);
	syncd_event(s, NULL, NULL, "syncd", NULL, "start", "ok");
	syncd_fetch(s, "start");
	return O8_OK;
}

void syncd_apply_opts(struct syncd *s)
{
	struct o8_err err = O8_ERR_INIT;

	uv_timer_stop(&s->poll);
	if (s->opts.poll_s)
		uv_timer_start(&s->poll, poll_fired, s->opts.poll_s * 1000ull,
			       s->opts.poll_s * 1000ull);
	if (s->api && s->opts.webhook_secret)
		o8_httpd_set_hmac_key(s->api, s->opts.webhook_secret,
				      s->opts.webhook_secret_len, &err);
	if (s->tokens)
		o8_apitoken_refresh(s->tokens, &err);
	syncd_crl_check(s, true);
	if (err.rc)
		syncd_log(s, O8_LOG_ERROR, "reload: %s", err.msg);
	syncd_log(s, O8_LOG_INFO, "config reloaded (poll %us); listeners and store change at restart",
		  s->opts.poll_s);
	syncd_fetch(s, "reload");
}

/* Closes the listeners and every connection; the loop then runs dry. */
void syncd_stop(struct syncd *s)
{
	const char *key;
	void *val;
	size_t it = 0;

	if (s->stopping)
		return;
	s->stopping = true;
	uv_close((uv_handle_t *)&s->listener, NULL);
	uv_close((uv_handle_t *)&s->poll, NULL);
	uv_close((uv_handle_t *)&s->webhook_timer, NULL);
	uv_close((uv_handle_t *)&s->pki_watch, NULL);
	o8_httpd_free(s->api);
	s->api = NULL;
	while (o8_strmap_next(&s->agents, &it, &key, &val)) {
		struct syncd_agent *a = val;

		if (a->link)
			o8_conn_close(a->link->conn, "syncd is stopping");
	}
}

void syncd_free(struct syncd *s)
{
	const char *key;
	void *val;
	size_t it = 0;

	while (o8_strmap_next(&s->agents, &it, &key, &val)) {
		struct syncd_agent *a = val;

		gen_unref(&a->base);
		gen_unref(&a->inflight);
		free(a->have);
		free(a->last_error);
		free(a->kpis);
		free(a->report_status);
		free(a->cert_serial);
		free(a);
	}
	o8_strmap_free(&s->agents);
	gen_unref(&s->cur);
	gen_unref(&s->prev);
	o8_desired_free(s->work_gen);
	o8_git_free(s->repo);
	free(s->rejected_reason);
	o8_store_close(s->store);
	o8_pki_trust_free(s->trust);
	if (s->creds)
		gnutls_certificate_free_credentials(s->creds);
	o8_apitoken_free(s->tokens);
	o8_metrics_free(s->metrics);
}
