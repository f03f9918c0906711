/*
 * api.c - syncd's HTTP API (the JSON shapes are a contract: orc8r status,
 * orc8r diff and apply --wait read them, and so do operators' scripts;
 * man/orc8r.1 describes them).  Handlers run on the loop thread and read
 * syncd's state directly.
 */
#include "syncd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define DIFF_LIST_MAX 1000      /* entries of a diff listed by name */

static json_t *time_json(int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0)
		return json_null();
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *time_ms_json(int64_t ms)
{
	char buf[40], out[48];
	struct tm tm;
	time_t tt = (time_t)(ms / 1000);

	if (ms <= 0)
		return json_null();
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof(out), "%s.%03dZ", buf, (int)(ms % 1000));
	return json_string(out);
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* One gateway's row of /v1/status. */
static json_t *gateway_row(struct syncd *s, const char *network, const char *name,
			   const struct syncd_agent *a)
{
	const char *commit = s->cur ? o8_desired_commit(s->cur->d) : NULL;
	json_t *j = json_object();

	json_object_set_new(j, "network", json_string(network));
	json_object_set_new(j, "name", json_string(name));
	json_object_set_new(j, "desired_version",
			    json_integer(s->cur ? (json_int_t)s->cur->version : 0));
	json_object_set_new(j, "desired_commit", str_or_null(commit));
	json_object_set_new(j, "applied_version",
			    json_integer(a ? (json_int_t)a->applied_version : 0));
	json_object_set_new(j, "applied_commit", str_or_null(a ? a->applied_commit : NULL));
	json_object_set_new(j, "state", json_string(syncd_agent_state(s, a)));
	json_object_set_new(j, "connected", json_boolean(a && a->link && a->hello_done));
	json_object_set_new(j, "last_seen", time_json(a ? a->last_seen : 0));
	json_object_set_new(j, "acked_at", time_ms_json(a ? a->acked_at_ms : 0));
	json_object_set_new(j, "last_error", str_or_null(a ? a->last_error : NULL));
	return j;
}

struct counts {
	size_t total, in_sync, pending, drifted, offline, failed;
};

static void count(struct counts *c, const char *state)
{
	c->total++;
	if (!strcmp(state, "in-sync")) c->in_sync++;
	else if (!strcmp(state, "pending")) c->pending++;
	else if (!strcmp(state, "drifted")) c->drifted++;
	else if (!strcmp(state, "offline")) c->offline++;
	else c->failed++;
}

static void status(struct o8_httpd_req *req, void *payload)
{
	struct syncd *s = payload;
	const char *net = o8_httpd_req_query(req, "network");
	json_t *j = json_object(), *rows = json_array(), *sum;
	struct counts c = { 0 };
	size_t n = s->cur ? o8_desired_gateway_count(s->cur->d) : 0;

	for (size_t i = 0; i < n; i++) {
		const struct o8_desired_gateway *g = o8_desired_gateway_at(s->cur->d, i);
		struct syncd_agent *a;

		if (net && strcmp(net, g->network) != 0)
			continue;
		a = syncd_agent_find(s, g->network, g->name);
		count(&c, syncd_agent_state(s, a));
		json_array_append_new(rows, gateway_row(s, g->network, g->name, a));
	}
	json_object_set_new(j, "version", json_integer(s->cur ? (json_int_t)s->cur->version : 0));
	json_object_set_new(j, "commit", str_or_null(s->cur ? o8_desired_commit(s->cur->d) : NULL));
	json_object_set_new(j, "fetched_at", time_json(s->fetched_at));
	if (s->rejected_commit[0])
		json_object_set_new(j, "rejected", json_pack("{s:s,s:s}",
			"commit", s->rejected_commit,
			"reason", s->rejected_reason ? s->rejected_reason : ""));
	else
		json_object_set_new(j, "rejected", json_null());
	sum = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "total", (json_int_t)c.total,
			"in_sync", (json_int_t)c.in_sync, "pending", (json_int_t)c.pending,
			"drifted", (json_int_t)c.drifted, "offline", (json_int_t)c.offline,
			"failed", (json_int_t)c.failed);
	json_object_set_new(j, "summary", sum);
	json_object_set_new(j, "gateways", rows);
	o8_httpd_reply_json(req, 200, j);
}

/* The agent named by the path, or NULL after a 404 reply. */
static bool known(struct syncd *s, struct o8_httpd_req *req, const char **net,
		  const char **name, struct syncd_agent **a)
{
	*net = o8_httpd_req_param(req, "network");
	*name = o8_httpd_req_param(req, "name");
	*a = syncd_agent_find(s, *net, *name);
	if (*a || (s->cur && o8_desired_find(s->cur->d, *net, *name)))
		return true;
	o8_httpd_reply_error(req, 404, "no gateway %s/%s: not in the desired commit "
			     "and never connected", *net, *name);
	return false;
}

static void gateway(struct o8_httpd_req *req, void *payload)
{
	struct syncd *s = payload;
	struct syncd_agent *a;
	const char *net, *name;
	json_t *j, *kpis;

	if (!known(s, req, &net, &name, &a))
		return;
	j = gateway_row(s, net, name, a);
	kpis = a && a->kpis ? json_loads(a->kpis, 0, NULL) : NULL;
	json_object_set_new(j, "kpis", kpis ? kpis : json_object());
	json_object_set_new(j, "report_at", time_json(a ? a->report_at : 0));
	json_object_set_new(j, "status", str_or_null(a ? a->report_status : NULL));
	json_object_set_new(j, "cert_serial", str_or_null(a ? a->cert_serial : NULL));
	json_object_set_new(j, "bytes_sent", json_integer(a ? (json_int_t)a->bytes_sent : 0));
	json_object_set_new(j, "failed_version",
			    json_integer(a ? (json_int_t)a->failed_version : 0));
	o8_httpd_reply_json(req, 200, j);
}

static json_t *record_list(const struct o8_record *const *recs, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n && i < DIFF_LIST_MAX; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s}",
			"kind", o8_rec_kind_name(recs[i]->kind), "key", recs[i]->key,
			"name", recs[i]->name ? recs[i]->name : recs[i]->key));
	return arr;
}

static json_t *key_list(const struct o8_wire_key *keys, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n && i < DIFF_LIST_MAX; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s}",
			"kind", o8_rec_kind_name(keys[i].kind), "key", keys[i].key));
	return arr;
}

static void gateway_diff(struct o8_httpd_req *req, void *payload)
{
	struct syncd *s = payload;
	struct syncd_agent *a;
	const char *net, *name;
	struct o8_desired_delta dd = { 0 };
	struct o8_err err = O8_ERR_INIT;
	json_t *j, *kinds = json_array();
	bool exact = true;

	if (!known(s, req, &net, &name, &a))
		return;
	if (!s->cur || !o8_desired_find(s->cur->d, net, name)) {
		json_decref(kinds);
		o8_httpd_reply_error(req, 404, "%s/%s is not in the desired commit", net, name);
		return;
	}
	j = json_pack("{s:s,s:s,s:I,s:I}", "network", net, "name", name,
		      "desired_version", (json_int_t)s->cur->version,
		      "applied_version", (json_int_t)(a ? a->applied_version : 0));
	if (a && a->base && a->base->version == a->applied_version) {
		o8_desired_diff(a->base->d, s->cur->d, net, name, &dd, &err);
	} else if (!a || a->applied_version == 0) {
		o8_desired_diff(NULL, s->cur->d, net, name, &dd, &err);
	} else {
		uint32_t mask = a->kd_known ?
			o8_desired_kinds_differing(s->cur->d, net, name, &a->kd) : ~0u;

		exact = false;
		for (unsigned k = 1; k < O8_REC__COUNT; k++)
			if (mask & (1u << k))
				json_array_append_new(kinds, json_string(o8_rec_kind_name(k)));
	}
	if (err.rc) {
		json_decref(j);
		json_decref(kinds);
		o8_httpd_reply_error(req, 500, "%s", err.msg);
		return;
	}
	if (exact) {
		bool seen[O8_REC__COUNT] = { false };

		for (size_t i = 0; i < dd.nupserts; i++)
			seen[dd.upserts[i]->kind] = true;
		for (size_t i = 0; i < dd.ndeletes; i++)
			seen[dd.deletes[i].kind] = true;
		for (unsigned k = 1; k < O8_REC__COUNT; k++)
			if (seen[k])
				json_array_append_new(kinds, json_string(o8_rec_kind_name(k)));
	}
	json_object_set_new(j, "exact", json_boolean(exact));
	json_object_set_new(j, "upserts", record_list(dd.upserts, dd.nupserts));
	json_object_set_new(j, "deletes", key_list(dd.deletes, dd.ndeletes));
	json_object_set_new(j, "upserts_total", json_integer((json_int_t)dd.nupserts));
	json_object_set_new(j, "deletes_total", json_integer((json_int_t)dd.ndeletes));
	json_object_set_new(j, "kinds_differing", kinds);
	o8_desired_delta_done(&dd);
	o8_httpd_reply_json(req, 200, j);
}

static enum o8_rc event_json(const struct o8_store_event *ev, void *payload)
{
	json_array_append_new(payload, json_pack("{s:I,s:o,s:s,s:s,s:o,s:o,s:o,s:s}",
		"id", (json_int_t)ev->id, "time", time_json(ev->time),
		"actor", ev->who ? ev->who : "", "action", ev->what ? ev->what : "",
		"commit", str_or_null(ev->commit), "network", str_or_null(ev->network),
		"gateway", str_or_null(ev->gateway), "result", ev->result ? ev->result : ""));
	return O8_OK;
}

static void events(struct o8_httpd_req *req, void *payload)
{
	struct syncd *s = payload;
	struct o8_store_event_filter f = O8_STORE_EVENT_FILTER_INIT;
	const char *limit = o8_httpd_req_query(req, "limit");
	struct o8_err err = O8_ERR_INIT;
	json_t *arr = json_array();

	if (limit) {
		char *end;
		unsigned long v = strtoul(limit, &end, 10);

		if (*end || v == 0 || v > 10000) {
			json_decref(arr);
			o8_httpd_reply_error(req, 400, "limit: a number from 1 to 10000");
			return;
		}
		f.limit = (unsigned)v;
	}
	f.network = o8_httpd_req_query(req, "network");
	f.gateway = o8_httpd_req_query(req, "gateway");
	if (o8_store_events_list(s->store, &f, event_json, arr, &err)) {
		json_decref(arr);
		o8_httpd_reply_error(req, 500, "%s", err.msg);
		return;
	}
	o8_httpd_reply_json(req, 200, json_pack("{s:o}", "events", arr));
}

static void webhook(struct o8_httpd_req *req, void *payload)
{
	if (!syncd_webhook(payload, o8_httpd_req_header(req, "X-GitHub-Delivery"))) {
		o8_httpd_reply_json(req, 200, json_pack("{s:s}", "fetch",
							"replayed delivery: ignored"));
		return;
	}
	o8_httpd_reply_json(req, 202, json_pack("{s:s}", "fetch", "queued"));
}

static void refresh(struct o8_httpd_req *req, void *payload)
{
	char actor[80];
	const char *who = o8_httpd_req_token_name(req);

	snprintf(actor, sizeof(actor), "api:%s", who ? who : "?");
	syncd_fetch(payload, actor);
	o8_httpd_reply_json(req, 202, json_pack("{s:s}", "fetch", "queued"));
}

static void healthz(struct o8_httpd_req *req, void *payload)
{
	(void)payload;
	o8_httpd_reply_text(req, 200, "text/plain", "ok\n");
}

static void readyz(struct o8_httpd_req *req, void *payload)
{
	struct syncd *s = payload;

	if (s->ready && !s->stopping)
		o8_httpd_reply_text(req, 200, "text/plain", "ready\n");
	else
		o8_httpd_reply_text(req, 503, "text/plain",
				    s->stopping ? "stopping\n" : "no commit compiled yet\n");
}

static void metrics(struct o8_httpd_req *req, void *payload)
{
	struct syncd *s = payload;
	struct o8_err err = O8_ERR_INIT;
	const char *key;
	void *val;
	size_t it = 0, connected = 0, in_sync = 0;
	char *text = NULL;

	while (o8_strmap_next(&s->agents, &it, &key, &val)) {
		struct syncd_agent *a = val;

		connected += a->link && a->hello_done;
		in_sync += !strcmp(syncd_agent_state(s, a), "in-sync");
	}
	o8_metrics_set(s->m.connected, (double)connected);
	o8_metrics_set(s->m.in_sync, (double)in_sync);
	if (o8_metrics_render(s->metrics, &text, &err)) {
		o8_httpd_reply_error(req, 500, "%s", err.msg);
		return;
	}
	o8_httpd_reply_text(req, 200, "text/plain; version=0.0.4", text);
	free(text);
}

static const struct o8_httpd_route routes[] = {
	{ "GET", "/v1/status", O8_HTTPD_READ, status },
	{ "GET", "/v1/gateways/{network}/{name}", O8_HTTPD_READ, gateway },
	{ "GET", "/v1/gateways/{network}/{name}/diff", O8_HTTPD_READ, gateway_diff },
	{ "GET", "/v1/events", O8_HTTPD_READ, events },
	{ "POST", "/v1/webhook", O8_HTTPD_HMAC, webhook },
	{ "POST", "/v1/refresh", O8_HTTPD_WRITE, refresh },
	{ "GET", "/healthz", O8_HTTPD_PUBLIC, healthz },
	{ "GET", "/readyz", O8_HTTPD_PUBLIC, readyz },
	{ "GET", "/metrics", O8_HTTPD_PUBLIC, metrics },
};

static void log_request(const struct o8_httpd_log *e, void *payload)
{
	struct syncd *s = payload;

	/* every request at debug; the refused ones always */
	syncd_log(s, e->status >= 400 ? O8_LOG_WARN : O8_LOG_DEBUG, "api: %s %s %u %.1f ms %s%s%s", e->method, e->path, e->status,
			  e->ms, e->peer, e->token_name ? " as " : "",
			  e->token_name ? e->token_name : "");
}

/* httpd's cert_auth: an operator's certificate, against the CRL as it is now. */
static bool operator_cert(const void *der, size_t len, char **name, void *payload)
{
	struct syncd *s = payload;
	struct o8_err err = O8_ERR_INIT;

	/* A failed refresh keeps the revocations already known: still safe. */
	o8_pki_trust_refresh(s->trust, &err);   /* `orc8r pki revoke` applies now */
	o8_err_clear(&err);
	if (o8_pki_trust_verify_operator(s->trust, der, len, 0, name, &err) == O8_OK)
		return true;
	syncd_log(s, O8_LOG_WARN, "api: operator certificate refused: %s", err.msg);
	return false;
}

enum o8_rc syncd_api_start(struct syncd *s, struct o8_err *err)
{
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	char crt[4096], key[4096], ca[4096];

	if (s->opts.api_tokens_file &&
	    o8_apitoken_load(&s->tokens, s->opts.api_tokens_file, err))
		return err->rc;
	o8_pki_path(crt, sizeof(crt), s->opts.pki, O8_PKI_SERVER_CRT, NULL);
	o8_pki_path(key, sizeof(key), s->opts.pki, O8_PKI_SERVER_KEY, NULL);
	o8_pki_path(ca, sizeof(ca), s->opts.pki, O8_PKI_CA_CRT, NULL);
	o.listen = s->opts.api;
	if (s->opts.api_tls) {
		o.tls_cert = crt;
		o.tls_key = key;
		/* operators' client certificates, next to bearer tokens */
		o.tls_trust = ca;
		o.cert_auth = operator_cert;
	}
	o.routes = routes;
	o.nroutes = sizeof(routes) / sizeof(routes[0]);
	o.tokens = s->tokens;
	o.log = log_request;
	o.payload = s;
	if (o8_httpd_start(&s->api, s->loop, &o, err))
		return err->rc;
	if (s->opts.webhook_secret)
		o8_httpd_set_hmac_key(s->api, s->opts.webhook_secret,
				      s->opts.webhook_secret_len, err);
	return err->rc;
}
