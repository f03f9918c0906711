/*
 * test_httpd.c - the HTTP server on a libuv loop (syncd/httpd.h), against a
 * real listener on 127.0.0.1 (port 0) whose loop runs in a thread, with
 * libcurl as the client: routing with {params} and queries, 404/405 with
 * Allow, bearer auth 401/403 by role (and a token made while running),
 * 413 above max_body whether announced or chunked, the GitHub webhook
 * HMAC, a handler that forgets to reply, Cache-Control on every answer,
 * the access log (no query, no token), HTTPS with an optional client
 * certificate that is only handed over when it verifies, operators'
 * client certificates as credentials (the role from the tokens file's
 * "ROLE NAME cert" line, 401 without one or when the owner refuses the
 * certificate, 403 below the route's role, a bearer token winning over a
 * certificate), address parsing and start-up errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <uv.h>

#include "proto/apitoken.h"
#include "httpd.h"
#include "proto/pki.h"
#include "util/fileio.h"

#define LOGS_MAX 64

struct logrec {
	char method[16], path[256], token[O8_APITOKEN_NAME_MAX + 1], peer[64];
	unsigned status;
	double ms;
};

struct fx {
	char dir[64], tokens_path[128];
	char *read_tok, *write_tok;
	struct o8_apitoken_set *tokens;
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	bool running;
	struct o8_httpd *h;
	char base[64];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct logrec logs[LOGS_MAX];
	size_t nlogs;
	char notes[2048];
	struct o8_pki_trust *trust;     /* for cert_auth */
	unsigned cert_auth_calls;
};

struct resp {
	long status;
	char body[1 << 16];
	size_t len;
	char headers[8192];
};

/* --- the server side ----------------------------------------------------- */

static void h_health(struct o8_httpd_req *req, void *payload)
{
	(void)payload;
	o8_httpd_reply_text(req, 200, "text/plain; charset=utf-8", "ok\n");
}

static void h_gateway(struct o8_httpd_req *req, void *payload)
{
	const char *x = o8_httpd_req_query(req, "x");

	(void)payload;
	o8_httpd_reply_json(req, 200, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s}",
		"network", o8_httpd_req_param(req, "network"),
		"name", o8_httpd_req_param(req, "name"),
		"x", x, "nope", o8_httpd_req_param(req, "nope"),
		"token", o8_httpd_req_token_name(req),
		"role", o8_apitoken_role_name(o8_httpd_req_role(req))));
}

static void h_queued(struct o8_httpd_req *req, void *payload)
{
	(void)payload;
	o8_httpd_reply_json(req, 202, json_pack("{s:s}", "fetch", "queued"));
	/* a second reply is ignored */
	o8_httpd_reply_error(req, 500, "second reply");
}

static void h_echo(struct o8_httpd_req *req, void *payload)
{
	size_t len;
	const char *body = o8_httpd_req_body(req, &len);

	(void)payload;
	o8_httpd_reply_json(req, 200, json_pack("{s:I, s:b, s:s}", "len", (json_int_t)len,
						"terminated", body[len] == '\0',
						"method", o8_httpd_req_method(req)));
}

static void h_silent(struct o8_httpd_req *req, void *payload)
{
	(void)req;
	(void)payload;
}

static void h_whoami(struct o8_httpd_req *req, void *payload)
{
	size_t len = 0;
	const void *der = o8_httpd_req_peer_cert(req, &len);
	char *network = NULL, *gateway = NULL;
	struct o8_err err = O8_ERR_INIT;

	(void)payload;
	if (der)
		o8_pki_cert_identity(der, len, &network, &gateway, NULL, NULL, &err);
	o8_httpd_reply_json(req, 200, json_pack("{s:b, s:s?, s:s?}", "cert", der != NULL,
						"network", network, "gateway", gateway));
	free(network);
	free(gateway);
}

static const struct o8_httpd_route routes[] = {
	{ "GET", "/healthz", O8_HTTPD_PUBLIC, h_health },
	{ "GET", "/v1/gateways/{network}/{name}", O8_HTTPD_READ, h_gateway },
	{ "POST", "/v1/refresh", O8_HTTPD_WRITE, h_queued },
	{ "POST", "/v1/webhook", O8_HTTPD_HMAC, h_queued },
	{ "POST", "/v1/echo", O8_HTTPD_PUBLIC, h_echo },
	{ "PUT", "/v1/echo", O8_HTTPD_PUBLIC, h_echo },
	{ "GET", "/v1/silent", O8_HTTPD_PUBLIC, h_silent },
	{ "GET", "/whoami", O8_HTTPD_PUBLIC, h_whoami },
};

static void on_log(const struct o8_httpd_log *e, void *payload)
{
	struct fx *fx = payload;
	struct logrec *r;

	pthread_mutex_lock(&fx->mu);
	if (fx->nlogs < LOGS_MAX) {
		r = &fx->logs[fx->nlogs++];
		snprintf(r->method, sizeof(r->method), "%s", e->method);
		snprintf(r->path, sizeof(r->path), "%s", e->path);
		snprintf(r->token, sizeof(r->token), "%s", e->token_name ? e->token_name : "");
		snprintf(r->peer, sizeof(r->peer), "%s", e->peer);
		r->status = e->status;
		r->ms = e->ms;
	}
	pthread_cond_broadcast(&fx->cv);
	pthread_mutex_unlock(&fx->mu);
}

static void on_note(const char *msg, void *payload)
{
	struct fx *fx = payload;

	pthread_mutex_lock(&fx->mu);
	snprintf(fx->notes + strlen(fx->notes), sizeof(fx->notes) - strlen(fx->notes), "%s\n",
		 msg);
	pthread_mutex_unlock(&fx->mu);
}

static void on_stop(uv_async_t *a)
{
	struct fx *fx = a->data;

	o8_httpd_free(fx->h);
	fx->h = NULL;
	uv_close((uv_handle_t *)a, NULL);
}

static void *run_loop(void *arg)
{
	struct fx *fx = arg;

	uv_run(&fx->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* Starts the server with o (routes, tokens, log and note are filled in). */
static enum o8_rc serve(struct fx *fx, struct o8_httpd_opts *o, const char *hmac_key,
			struct o8_err *err)
{
	enum o8_rc rc;

	o->routes = routes;
	o->nroutes = sizeof(routes) / sizeof(routes[0]);
	o->tokens = fx->tokens;
	o->log = on_log;
	o->note = on_note;
	o->payload = fx;
	if (!o->listen)
		o->listen = "127.0.0.1:0";
	if ((rc = o8_httpd_start(&fx->h, &fx->loop, o, err)))
		return rc;
	if (hmac_key)
		assert_int_equal(o8_httpd_set_hmac_key(fx->h, hmac_key, strlen(hmac_key), err),
				 O8_OK);
	snprintf(fx->base, sizeof(fx->base), "%s://127.0.0.1:%u", o->tls_cert ? "https" : "http",
		 o8_httpd_port(fx->h));
	assert_int_equal(uv_async_init(&fx->loop, &fx->stop, on_stop), 0);
	fx->stop.data = fx;
	assert_int_equal(pthread_create(&fx->thread, NULL, run_loop, fx), 0);
	fx->running = true;
	return O8_OK;
}

static void serve_ok(struct fx *fx, struct o8_httpd_opts *o, const char *hmac_key)
{
	struct o8_err err = O8_ERR_INIT;

	if (serve(fx, o, hmac_key, &err))
		fail_msg("start: %s", err.msg);
	assert_true(o8_httpd_port(fx->h) > 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct o8_err err = O8_ERR_INIT;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/o8-httpd-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->tokens_path, sizeof(fx->tokens_path), "%s/api-tokens", fx->dir);
	assert_int_equal(o8_apitoken_create(&fx->read_tok, fx->tokens_path, "grafana",
					    O8_APITOKEN_READ, &err), O8_OK);
	assert_int_equal(o8_apitoken_create(&fx->write_tok, fx->tokens_path, "ci",
					    O8_APITOKEN_WRITE, &err), O8_OK);
	assert_int_equal(o8_apitoken_load(&fx->tokens, fx->tokens_path, &err), O8_OK);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	pthread_mutex_init(&fx->mu, NULL);
	pthread_cond_init(&fx->cv, NULL);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->running) {
		uv_async_send(&fx->stop);
		pthread_join(fx->thread, NULL);
	} else {
		uv_run(&fx->loop, UV_RUN_DEFAULT);      /* a failed start's handles */
	}
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	o8_apitoken_free(fx->tokens);
	o8_pki_trust_free(fx->trust);
	free(fx->read_tok);
	free(fx->write_tok);
	pthread_mutex_destroy(&fx->mu);
	pthread_cond_destroy(&fx->cv);
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Waits (at most 10 s) until n requests were logged. */
static void wait_logs(struct fx *fx, size_t n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&fx->mu);
	while (fx->nlogs < n)
		if (pthread_cond_timedwait(&fx->cv, &fx->mu, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&fx->mu);
	assert_true(fx->nlogs >= n);
}

/* --- the client side ----------------------------------------------------- */

struct req_opts {
	const char *token;
	const char *body;
	size_t body_len;                /* 0: strlen(body) */
	bool chunked;
	const char *const *headers;     /* NULL-terminated */
	const char *cert, *key, *ca;    /* files */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = size * n, have = strlen(r->headers);

	if (have + len < sizeof(r->headers)) {
		memcpy(r->headers + have, p, len);
		r->headers[have + len] = '\0';
	}
	return len;
}

struct chunked {
	const char *p;
	size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	struct chunked *c = ud;
	size_t len = size * n < c->left ? size * n : c->left;

	if (len > 100)
		len = 100;      /* many chunks */
	memcpy(buf, c->p, len);
	c->p += len;
	c->left -= len;
	return len;
}

static void request(struct fx *fx, const char *method, const char *path,
		    const struct req_opts *o, struct resp *r)
{
	static const struct req_opts none = { 0 };
	struct curl_slist *hl = NULL;
	struct chunked ck = { 0 };
	char url[512], auth[256];
	CURL *c = curl_easy_init();
	CURLcode cc;
	size_t i;

	if (!o)
		o = &none;
	memset(r, 0, sizeof(*r));
	assert_non_null(c);
	snprintf(url, sizeof(url), "%s%s", fx->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (o->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		hl = curl_slist_append(hl, auth);
	}
	for (i = 0; o->headers && o->headers[i]; i++)
		hl = curl_slist_append(hl, o->headers[i]);
	if (o->chunked) {
		ck.p = o->body;
		ck.left = o->body_len ? o->body_len : strlen(o->body);
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &ck);
	} else if (o->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(o->body_len ? o->body_len : strlen(o->body)));
	}
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (o->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca);
	if (o->cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK)
		fail_msg("%s %s: %s", method, url, curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	/* Every answer, the server's own errors included. */
	if (!strcasestr(r->headers, "\ncache-control: no-store\r\n"))
		fail_msg("%s %s: no Cache-Control: no-store in\n%s", method, path, r->headers);
}

/* The body as JSON (asserts it is an object). */
static json_t *body_json(const struct resp *r)
{
	json_t *j = json_loads(r->body, 0, NULL);

	if (!json_is_object(j))
		fail_msg("not a JSON object: %s", r->body);
	return j;
}

static void assert_error(const struct resp *r, long status, const char *part)
{
	json_t *j = body_json(r);
	const char *msg = json_string_value(json_object_get(j, "error"));

	if (r->status != status || !msg || json_object_size(j) != 1 || !strstr(msg, part))
		fail_msg("expected %ld {\"error\": \"...%s...\"}, got %ld %s", status, part,
			 r->status, r->body);
	json_decref(j);
}

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

/* --- tests --------------------------------------------------------------- */

static void routes__params_query_404_405_head(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct req_opts ro = { .token = fx->read_tok };
	struct resp r;
	json_t *j;

	serve_ok(fx, &o, NULL);
	request(fx, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	assert_non_null(strcasestr(r.headers, "content-type: text/plain; charset=utf-8"));

	request(fx, "GET", "/v1/gateways/lab/agw-1?x=a%20b&y=2", &ro, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.headers, "content-type: application/json"));
	j = body_json(&r);
	assert_string_equal(jstr(j, "network"), "lab");
	assert_string_equal(jstr(j, "name"), "agw-1");
	assert_string_equal(jstr(j, "x"), "a b");
	assert_true(json_is_null(json_object_get(j, "nope")));
	assert_string_equal(jstr(j, "token"), "grafana");
	assert_string_equal(jstr(j, "role"), "read");
	json_decref(j);

	request(fx, "GET", "/v1/gateways/lab", &ro, &r);
	assert_error(&r, 404, "no such path: /v1/gateways/lab");
	request(fx, "GET", "/v1/gateways/lab/agw-1/extra", &ro, &r);
	assert_error(&r, 404, "no such path");
	request(fx, "GET", "/v1/gateways//agw-1", &ro, &r);     /* {param} is never empty */
	assert_error(&r, 404, "no such path");
	request(fx, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", NULL, &r);
	assert_error(&r, 404, "no such path");

	request(fx, "DELETE", "/healthz", NULL, &r);
	assert_error(&r, 405, "DELETE is not allowed on /healthz");
	assert_non_null(strcasestr(r.headers, "\nallow: GET\r\n"));
	request(fx, "GET", "/v1/echo", NULL, &r);
	assert_error(&r, 405, "allowed: POST, PUT");
	assert_non_null(strcasestr(r.headers, "\nallow: POST, PUT\r\n"));

	request(fx, "HEAD", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	request(fx, "PUT", "/v1/echo", &(struct req_opts){ .body = "abc" }, &r);
	j = body_json(&r);
	assert_string_equal(jstr(j, "method"), "PUT");
	json_decref(j);
}

static void auth__bearer_roles(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct resp r;
	char *late = NULL, bad[128];

	serve_ok(fx, &o, NULL);
	request(fx, "GET", "/v1/gateways/lab/agw-1", NULL, &r);
	assert_error(&r, 401, "Authorization: Bearer");
	assert_non_null(strcasestr(r.headers, "\nwww-authenticate: Bearer"));
	request(fx, "GET", "/v1/gateways/lab/agw-1",
		&(struct req_opts){ .headers = (const char *const[]){ "Authorization: Basic eDp5",
								      NULL } }, &r);
	assert_error(&r, 401, "Authorization: Bearer");
	snprintf(bad, sizeof(bad), "%s", fx->read_tok);
	bad[7] = bad[7] == '0' ? '1' : '0';
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .token = bad }, &r);
	assert_error(&r, 401, "unknown API token");
	assert_null(strstr(r.body, bad));

	/* read may read, not write; write may both */
	request(fx, "POST", "/v1/refresh", &(struct req_opts){ .token = fx->read_tok, .body = "" },
		&r);
	assert_error(&r, 403, "token 'grafana' has role read; POST /v1/refresh needs write");
	request(fx, "POST", "/v1/refresh", &(struct req_opts){ .token = fx->write_tok,
							       .body = "" }, &r);
	assert_int_equal(r.status, 202);
	assert_string_equal(r.body, "{\"fetch\":\"queued\"}\n");
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .token = fx->write_tok },
		&r);
	assert_int_equal(r.status, 200);

	/* a token made while the server runs works at once */
	assert_int_equal(o8_apitoken_create(&late, fx->tokens_path, "late", O8_APITOKEN_WRITE,
					    &err), O8_OK);
	request(fx, "POST", "/v1/refresh", &(struct req_opts){ .token = late, .body = "" }, &r);
	assert_int_equal(r.status, 202);
	/* and a broken tokens file refuses everybody, once noted */
	assert_int_equal(chmod(fx->tokens_path, 0644), 0);
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .token = late }, &r);
	assert_int_equal(r.status, 401);
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .token = late }, &r);
	assert_int_equal(r.status, 401);
	wait_logs(fx, 9);
	pthread_mutex_lock(&fx->mu);
	assert_non_null(strstr(fx->notes, "api tokens refused until fixed"));
	assert_null(strstr(strstr(fx->notes, "until fixed") + 1, "until fixed"));
	pthread_mutex_unlock(&fx->mu);
	assert_int_equal(chmod(fx->tokens_path, 0600), 0);
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .token = late }, &r);
	assert_int_equal(r.status, 200);
	free(late);
}

static void body__413_announced_or_chunked(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	static char big[5000];
	struct resp r;
	json_t *j;

	memset(big, 'x', sizeof(big) - 1);
	o.max_body = 1024;
	serve_ok(fx, &o, NULL);
	request(fx, "POST", "/v1/echo", &(struct req_opts){ .body = big, .body_len = 1024 }, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), 1024);
	assert_true(json_is_true(json_object_get(j, "terminated")));
	json_decref(j);
	request(fx, "POST", "/v1/echo", &(struct req_opts){ .body = big, .body_len = 1025 }, &r);
	assert_error(&r, 413, "larger than 1024 bytes");
	request(fx, "POST", "/v1/echo", &(struct req_opts){ .body = big, .body_len = 1000,
							    .chunked = true }, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), 1000);
	json_decref(j);
	request(fx, "POST", "/v1/echo", &(struct req_opts){ .body = big, .body_len = 4999,
							    .chunked = true }, &r);
	assert_error(&r, 413, "larger than 1024 bytes");
	/* the server still serves */
	request(fx, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
}

static void sign(const char *key, const char *body, char out[128])
{
	unsigned char d[32];
	size_t i;

	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, strlen(key), body,
					  strlen(body), d), 0);
	strcpy(out, "X-Hub-Signature-256: sha256=");
	for (i = 0; i < 32; i++)
		sprintf(out + strlen(out), "%02x", d[i]);
}

static void hmac__github_signature(void **state)
{
	static const char body[] = "{\"ref\":\"refs/heads/main\"}";
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char good[128], other[128], upper[128];
	struct resp r;
	size_t i;

	serve_ok(fx, &o, "s3cret");
	sign("s3cret", body, good);
	sign("wrong", body, other);
	request(fx, "POST", "/v1/webhook",
		&(struct req_opts){ .body = body, .headers = (const char *const[]){ good, NULL } },
		&r);
	assert_int_equal(r.status, 202);
	/* hex digits in either case are the same signature */
	snprintf(upper, sizeof(upper), "%s", good);
	for (i = strlen("X-Hub-Signature-256: sha256="); upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	request(fx, "POST", "/v1/webhook",
		&(struct req_opts){ .body = body, .headers = (const char *const[]){ upper, NULL } },
		&r);
	assert_int_equal(r.status, 202);
	request(fx, "POST", "/v1/webhook",
		&(struct req_opts){ .body = body, .headers = (const char *const[]){ other, NULL } },
		&r);
	assert_error(&r, 401, "does not match");
	request(fx, "POST", "/v1/webhook",
		&(struct req_opts){ .body = "{\"ref\":\"refs/heads/evil\"}",
				    .headers = (const char *const[]){ good, NULL } }, &r);
	assert_error(&r, 401, "does not match");
	request(fx, "POST", "/v1/webhook", &(struct req_opts){ .body = body }, &r);
	assert_error(&r, 401, "missing X-Hub-Signature-256");
	request(fx, "POST", "/v1/webhook",
		&(struct req_opts){ .body = body, .headers = (const char *const[]){
			"X-Hub-Signature-256: sha1=abcd", NULL } }, &r);
	assert_error(&r, 401, "does not match");
	/* a bearer token is no substitute */
	request(fx, "POST", "/v1/webhook", &(struct req_opts){ .body = body,
							       .token = fx->write_tok }, &r);
	assert_int_equal(r.status, 401);
	/* no key: webhooks are off */
	assert_int_equal(o8_httpd_set_hmac_key(fx->h, NULL, 0, &err), O8_OK);
	request(fx, "POST", "/v1/webhook",
		&(struct req_opts){ .body = body, .headers = (const char *const[]){ good, NULL } },
		&r);
	assert_error(&r, 403, "webhook_secret_file");
}

static void handler__no_reply_is_500(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct resp r;

	serve_ok(fx, &o, NULL);
	request(fx, "GET", "/v1/silent", NULL, &r);
	assert_error(&r, 500, "no reply to GET /v1/silent");
}

static void log__one_entry_per_request_without_secrets(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct resp r;
	size_t i;

	serve_ok(fx, &o, NULL);
	request(fx, "GET", "/v1/gateways/lab/agw-1?token=abc", &(struct req_opts){
		.token = fx->read_tok }, &r);
	request(fx, "POST", "/v1/refresh", &(struct req_opts){ .token = fx->read_tok,
							       .body = "secret body" }, &r);
	request(fx, "GET", "/nowhere", NULL, &r);
	wait_logs(fx, 3);
	pthread_mutex_lock(&fx->mu);
	assert_int_equal(fx->nlogs, 3);
	assert_string_equal(fx->logs[0].method, "GET");
	assert_string_equal(fx->logs[0].path, "/v1/gateways/lab/agw-1");
	assert_int_equal(fx->logs[0].status, 200);
	assert_string_equal(fx->logs[0].token, "grafana");
	assert_true(fx->logs[0].ms >= 0 && fx->logs[0].ms < 10000);
	assert_memory_equal(fx->logs[0].peer, "127.0.0.1:", 10);
	assert_string_equal(fx->logs[1].path, "/v1/refresh");
	assert_int_equal(fx->logs[1].status, 403);
	assert_string_equal(fx->logs[2].path, "/nowhere");
	assert_int_equal(fx->logs[2].status, 404);
	assert_string_equal(fx->logs[2].token, "");
	for (i = 0; i < fx->nlogs; i++) {
		assert_null(strstr(fx->logs[i].path, "abc"));
		assert_null(strstr(fx->logs[i].path, fx->read_tok + 5));
	}
	pthread_mutex_unlock(&fx->mu);
}

/*
 * CR/LF (decoded from %0d%0a) or bytes that are not UTF-8 in a path:
 * answered 400, not dropped, and handed to the log as they came (util/log
 * escapes them); the next request on the server is served.
 */
static void path__control_and_non_utf8_are_400(void **state)
{
	static const char *const bad[] = {
		"/v1/%0d%0aforged:%20line", "/v1/gateways/lab/%ff", "/%c3%28", "/a%7fb",
	};
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct resp r;
	size_t i;

	serve_ok(fx, &o, NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		request(fx, "GET", bad[i], NULL, &r);
		assert_error(&r, 400, "request path with control characters or not UTF-8");
	}
	request(fx, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	wait_logs(fx, 5);
	pthread_mutex_lock(&fx->mu);
	assert_string_equal(fx->logs[0].path, "/v1/\r\nforged: line");
	assert_int_equal(fx->logs[0].status, 400);
	pthread_mutex_unlock(&fx->mu);
}

/* A PKI in dir with a client certificate for network/gateway: DIR/NAME.{crt,key}. */
static void make_pki(const char *dir, const char *name)
{
	static const char *const hosts[] = { "127.0.0.1" };
	struct o8_err err = O8_ERR_INIT;
	char key[256], crt[256], *csr = NULL, *pem = NULL;

	if (o8_pki_init(dir, hosts, 1, NULL, &err))
		fail_msg("pki init: %s", err.msg);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	assert_int_equal(o8_pki_make_csr(key, NULL, &csr, &err), O8_OK);
	assert_int_equal(o8_pki_issue(dir, "lab", name, csr, strlen(csr), 0, 0, &pem, &err),
			 O8_OK);
	assert_int_equal(o8_fileio_write_atomic(crt, pem, strlen(pem), 0600, true, &err), O8_OK);
	free(csr);
	free(pem);
}

static void tls__optional_client_certificate(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	char pki[128], other[128], cert[160], key[160], ca[160], scrt[160], skey[160];
	char ocert[160], okey[160];
	struct resp r;
	json_t *j;

	snprintf(pki, sizeof(pki), "%s/pki", fx->dir);
	snprintf(other, sizeof(other), "%s/other", fx->dir);
	make_pki(pki, "agw-1");
	make_pki(other, "intruder");
	snprintf(cert, sizeof(cert), "%s/agw-1.crt", pki);
	snprintf(key, sizeof(key), "%s/agw-1.key", pki);
	snprintf(ocert, sizeof(ocert), "%s/intruder.crt", other);
	snprintf(okey, sizeof(okey), "%s/intruder.key", other);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(scrt, sizeof(scrt), "%s/server.crt", pki);
	snprintf(skey, sizeof(skey), "%s/server.key", pki);
	o.tls_cert = scrt;
	o.tls_key = skey;
	o.tls_trust = ca;
	serve_ok(fx, &o, NULL);

	request(fx, "GET", "/whoami", &(struct req_opts){ .ca = ca, .cert = cert, .key = key },
		&r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_true(json_is_true(json_object_get(j, "cert")));
	assert_string_equal(jstr(j, "network"), "lab");
	assert_string_equal(jstr(j, "gateway"), "agw-1");
	json_decref(j);

	request(fx, "GET", "/whoami", &(struct req_opts){ .ca = ca }, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"cert\":false"));

	/* a certificate from another CA is not handed to the handler */
	request(fx, "GET", "/whoami", &(struct req_opts){ .ca = ca, .cert = ocert, .key = okey },
		&r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"cert\":false"));

	/* auth works the same over TLS */
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca }, &r);
	assert_int_equal(r.status, 401);
}

/* An operator's client certificate from the PKI in dir: DIR/NAME.{crt,key}. */
static void make_operator(const char *dir, const char *name)
{
	struct o8_err err = O8_ERR_INIT;
	char key[256], crt[256], *csr = NULL, *pem = NULL;

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	assert_int_equal(o8_pki_make_csr(key, NULL, &csr, &err), O8_OK);
	assert_int_equal(o8_pki_issue_operator(dir, name, csr, strlen(csr), 0, 0, &pem, &err),
			 O8_OK);
	assert_int_equal(o8_fileio_write_atomic(crt, pem, strlen(pem), 0600, true, &err), O8_OK);
	free(csr);
	free(pem);
}

/* The owner's cert_auth, as syncd's: the CRL as it is now, then the operator checks. */
static bool cert_auth(const void *der, size_t len, char **name, void *payload)
{
	struct fx *fx = payload;
	struct o8_err err = O8_ERR_INIT;

	pthread_mutex_lock(&fx->mu);
	fx->cert_auth_calls++;
	pthread_mutex_unlock(&fx->mu);
	o8_pki_trust_refresh(fx->trust, &err);
	return o8_pki_trust_verify_operator(fx->trust, der, len, 0, name, &err) == O8_OK;
}

static unsigned cert_auth_calls(struct fx *fx)
{
	unsigned n;

	pthread_mutex_lock(&fx->mu);
	n = fx->cert_auth_calls;
	pthread_mutex_unlock(&fx->mu);
	return n;
}

static void auth__operator_certificates(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char pki[128], ca[160], scrt[160], skey[160], crl[160], c[5][160], k[5][160];
	static const char *const who[] = { "alice", "ops", "nobody", "agw-1", "late" };
	struct req_opts ro;
	struct resp r;
	unsigned calls;
	size_t i;
	json_t *j;

	snprintf(pki, sizeof(pki), "%s/pki", fx->dir);
	make_pki(pki, "agw-1");                 /* a gateway's certificate: lab/agw-1 */
	for (i = 0; i < 5; i++) {
		if (i != 3)
			make_operator(pki, who[i]);
		snprintf(c[i], sizeof(c[i]), "%s/%s.crt", pki, who[i]);
		snprintf(k[i], sizeof(k[i]), "%s/%s.key", pki, who[i]);
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(crl, sizeof(crl), "%s/crl.pem", pki);
	snprintf(scrt, sizeof(scrt), "%s/server.crt", pki);
	snprintf(skey, sizeof(skey), "%s/server.key", pki);
	assert_int_equal(o8_apitoken_grant_cert(fx->tokens_path, "alice", O8_APITOKEN_READ, NULL,
						&err), O8_OK);
	assert_int_equal(o8_apitoken_grant_cert(fx->tokens_path, "ops", O8_APITOKEN_WRITE, NULL,
						&err), O8_OK);
	assert_int_equal(o8_pki_trust_load(&fx->trust, ca, crl, &err), O8_OK);
	o.tls_cert = scrt;
	o.tls_key = skey;
	o.tls_trust = ca;
	o.cert_auth = cert_auth;
	serve_ok(fx, &o, NULL);

	/* the role comes from the file's line for the certificate's name */
	ro = (struct req_opts){ .ca = ca, .cert = c[0], .key = k[0] };
	request(fx, "GET", "/v1/gateways/lab/agw-1", &ro, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_string_equal(jstr(j, "token"), "alice");
	assert_string_equal(jstr(j, "role"), "read");
	json_decref(j);
	request(fx, "POST", "/v1/refresh", &ro, &r);
	assert_error(&r, 403, "certificate 'alice' has role read; POST /v1/refresh needs write");
	request(fx, "POST", "/v1/refresh", &(struct req_opts){ .ca = ca, .cert = c[1],
							       .key = k[1] }, &r);
	assert_int_equal(r.status, 202);

	/* no line for the name: 401; a gateway's certificate: refused by the owner */
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca, .cert = c[2],
									  .key = k[2] }, &r);
	assert_error(&r, 401, "certificate 'nobody' has no role");
	assert_non_null(strcasestr(r.headers, "\nwww-authenticate: Bearer"));
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca, .cert = c[3],
									  .key = k[3] }, &r);
	assert_error(&r, 401, "client certificate refused");

	/* a bearer token wins over a certificate, and the owner is not even asked */
	calls = cert_auth_calls(fx);
	request(fx, "POST", "/v1/refresh", &(struct req_opts){ .ca = ca, .cert = c[0], .key = k[0],
							       .token = fx->write_tok }, &r);
	assert_int_equal(r.status, 202);
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca, .cert = c[1],
		.key = k[1], .token = "o8a1.nope" }, &r);
	assert_error(&r, 401, "unknown API token");
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca, .cert = c[1],
		.key = k[1], .token = fx->read_tok }, &r);
	j = body_json(&r);
	assert_string_equal(jstr(j, "token"), "grafana");
	json_decref(j);
	assert_int_equal(cert_auth_calls(fx), calls);

	/* neither: 401 saying both ways in; public routes never ask */
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca }, &r);
	assert_error(&r, 401, "orc8r pki api-cert");
	request(fx, "GET", "/healthz", &(struct req_opts){ .ca = ca, .cert = c[0], .key = k[0] },
		&r);
	assert_int_equal(r.status, 200);
	assert_int_equal(cert_auth_calls(fx), calls);

	/* a line added while running counts; a revocation too */
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca, .cert = c[4],
									  .key = k[4] }, &r);
	assert_int_equal(r.status, 401);
	assert_int_equal(o8_apitoken_grant_cert(fx->tokens_path, "late", O8_APITOKEN_READ, NULL,
						&err), O8_OK);
	request(fx, "GET", "/v1/gateways/lab/agw-1", &(struct req_opts){ .ca = ca, .cert = c[4],
									  .key = k[4] }, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(o8_pki_revoke_operator(pki, "alice", NULL, &err), O8_OK);
	request(fx, "GET", "/v1/gateways/lab/agw-1", &ro, &r);
	assert_error(&r, 401, "client certificate refused");

	/* the access log names the certificate as it names a token */
	wait_logs(fx, 1);
	pthread_mutex_lock(&fx->mu);
	assert_string_equal(fx->logs[0].token, "alice");
	assert_int_equal(fx->logs[0].status, 200);
	pthread_mutex_unlock(&fx->mu);
}

static void addr__parse(void **state)
{
	static const struct { const char *s; int family; unsigned port; } good[] = {
		{ "127.0.0.1:7445", AF_INET, 7445 }, { "0.0.0.0:0", AF_INET, 0 },
		{ "[::1]:80", AF_INET6, 80 }, { "[::]:65535", AF_INET6, 65535 },
		{ "localhost:9", AF_INET, 9 },
	};
	static const char *const bad[] = {
		"127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
		"127.0.0.1:8x", "::1:80", "[::1]", "example.org:80", "[127.0.0.1]:80", "",
		"1.2.3.4.5:80",
	};
	struct sockaddr_storage ss;
	socklen_t len = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct o8_err err = O8_ERR_INIT;

		if (o8_httpd_parse_addr(good[i].s, &ss, &len, &err))
			fail_msg("'%s': %s", good[i].s, err.msg);
		assert_int_equal(ss.ss_family, good[i].family);
		assert_int_equal(ntohs(ss.ss_family == AF_INET
				       ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port), good[i].port);
		assert_true(len > 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct o8_err err = O8_ERR_INIT;

		if (o8_httpd_parse_addr(bad[i], &ss, NULL, &err) != O8_EINVALID)
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(err.msg[0]);
	}
}

static void start__errors_name_the_problem(void **state)
{
	struct fx *fx = *state;
	struct o8_httpd_opts o = O8_HTTPD_OPTS_INIT;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct o8_httpd *h = NULL;
	struct o8_err err = O8_ERR_INIT;
	char busy[64], missing[160];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* the port is taken */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(busy, sizeof(busy), "127.0.0.1:%u", ntohs(sin.sin_port));
	o.listen = busy;
	o.routes = routes;
	o.nroutes = 1;
	assert_int_equal(o8_httpd_start(&h, &fx->loop, &o, &err), O8_ERR);
	assert_null(h);
	assert_non_null(strstr(err.msg, "cannot listen on '127.0.0.1:"));
	close(fd);
	/* a missing certificate file is named */
	o8_err_clear(&err);
	snprintf(missing, sizeof(missing), "%s/nope.crt", fx->dir);
	o.listen = "127.0.0.1:0";
	o.tls_cert = missing;
	o.tls_key = missing;
	assert_int_equal(o8_httpd_start(&h, &fx->loop, &o, &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, missing));
	/* half a TLS setup, a bad address, a bad route */
	o8_err_clear(&err);
	o.tls_key = NULL;
	assert_int_equal(o8_httpd_start(&h, &fx->loop, &o, &err), O8_EINVALID);
	o8_err_clear(&err);
	o.tls_cert = NULL;
	o.listen = "nowhere";
	assert_int_equal(o8_httpd_start(&h, &fx->loop, &o, &err), O8_EINVALID);
	o8_err_clear(&err);
	o.listen = "127.0.0.1:0";
	o.routes = (const struct o8_httpd_route[]){ { "GET", "healthz", O8_HTTPD_PUBLIC,
						      h_health } };
	assert_int_equal(o8_httpd_start(&h, &fx->loop, &o, &err), O8_EINVALID);
	/* certificate auth without a CA to verify certificates against */
	o.routes = routes;
	o8_err_clear(&err);
	o.cert_auth = cert_auth;
	assert_int_equal(o8_httpd_start(&h, &fx->loop, &o, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "tls_trust"));
	o.cert_auth = NULL;
	/* and after all that, one starts and stops cleanly without ever serving */
	o8_err_clear(&err);
	assert_int_equal(o8_httpd_start(&h, &fx->loop, &o, &err), O8_OK);
	o8_httpd_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(routes__params_query_404_405_head, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__bearer_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(body__413_announced_or_chunked, setup, teardown),
		cmocka_unit_test_setup_teardown(hmac__github_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(handler__no_reply_is_500, setup, teardown),
		cmocka_unit_test_setup_teardown(log__one_entry_per_request_without_secrets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(tls__optional_client_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(auth__operator_certificates, setup, teardown),
		cmocka_unit_test_setup_teardown(path__control_and_non_utf8_are_400, setup,
						teardown),
		cmocka_unit_test(addr__parse),
		cmocka_unit_test_setup_teardown(start__errors_name_the_problem, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
