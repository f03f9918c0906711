/*
 * test_bootstrap.c - syncd's enrolment port (syncd/bootstrap.h) on
 * 127.0.0.1, port 0, its loop in a thread, libcurl as the gateway: a token
 * from `orc8r pki enroll-token` and a CSR become a certificate for the
 * token's identity with the CA alongside; a used, unknown, wrong or
 * malformed token and a bad CSR get the statuses of api.md and never see
 * the token echoed; renewal needs the current certificate (not revoked,
 * from this CA) and keeps its identity; every outcome reaches the events
 * hook without the token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "bootstrap.h"
#include "proto/pki.h"
#include "util/fileio.h"

#define EVENTS_MAX 32

struct ev {
	char action[16], network[64], gateway[64], serial[80], result[16], detail[600];
	unsigned status;
};

struct fx {
	char dir[64], pki[128], key[160], crt[160], ca[160];
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	struct syncd_bootstrap *b;
	char url[64];
	pthread_mutex_t mu;
	struct ev ev[EVENTS_MAX];
	size_t nev;
};

struct reply {
	long status;
	char body[1 << 16];
	size_t len;
};

static void on_event(const struct syncd_bootstrap_event *e, void *payload)
{
	struct fx *fx = payload;
	struct ev *r;

	pthread_mutex_lock(&fx->mu);
	if (fx->nev < EVENTS_MAX) {
		r = &fx->ev[fx->nev++];
		snprintf(r->action, sizeof(r->action), "%s", e->action);
		snprintf(r->network, sizeof(r->network), "%s", e->network ? e->network : "");
		snprintf(r->gateway, sizeof(r->gateway), "%s", e->gateway ? e->gateway : "");
		snprintf(r->serial, sizeof(r->serial), "%s", e->serial ? e->serial : "");
		snprintf(r->result, sizeof(r->result), "%s", e->result);
		snprintf(r->detail, sizeof(r->detail), "%s", e->detail ? e->detail : "");
		r->status = e->status;
	}
	pthread_mutex_unlock(&fx->mu);
}

static void on_stop(uv_async_t *a)
{
	struct fx *fx = a->data;

	syncd_bootstrap_free(fx->b);
	uv_close((uv_handle_t *)a, NULL);
}

static void *run_loop(void *arg)
{
	uv_run(&((struct fx *)arg)->loop, UV_RUN_DEFAULT);
	return NULL;
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
	static const char *const hosts[] = { "127.0.0.1" };
	struct syncd_bootstrap_opts o = SYNCD_BOOTSTRAP_OPTS_INIT;
	struct fx *fx = calloc(1, sizeof(*fx));
	struct o8_err err = O8_ERR_INIT;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/o8-bootstrap-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->pki, sizeof(fx->pki), "%s/pki", fx->dir);
	snprintf(fx->key, sizeof(fx->key), "%s/agw.key", fx->dir);
	snprintf(fx->crt, sizeof(fx->crt), "%s/agw.crt", fx->dir);
	snprintf(fx->ca, sizeof(fx->ca), "%s/ca.crt", fx->pki);
	if (o8_pki_init(fx->pki, hosts, 1, NULL, &err))
		fail_msg("pki init: %s", err.msg);
	pthread_mutex_init(&fx->mu, NULL);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	o.listen = "127.0.0.1:0";
	o.pki = fx->pki;
	o.event = on_event;
	o.payload = fx;
	if (syncd_bootstrap_start(&fx->b, &fx->loop, &o, &err))
		fail_msg("start: %s", err.msg);
	snprintf(fx->url, sizeof(fx->url), "https://127.0.0.1:%u", syncd_bootstrap_port(fx->b));
	assert_int_equal(uv_async_init(&fx->loop, &fx->stop, on_stop), 0);
	fx->stop.data = fx;
	assert_int_equal(pthread_create(&fx->thread, NULL, run_loop, fx), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	uv_async_send(&fx->stop);
	pthread_join(fx->thread, NULL);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	pthread_mutex_destroy(&fx->mu);
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

	if (len < room)
		room = len;
	memcpy(r->body + r->len, p, room);
	r->len += room;
	r->body[r->len] = '\0';
	return len;
}

/* POSTs body to path over HTTPS trusting ca.crt, with cert/key when given. */
static void post(struct fx *fx, const char *method, const char *path, const char *body,
		 const char *cert, const char *key, struct reply *r)
{
	CURL *c = curl_easy_init();
	char url[256];
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", fx->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_CAINFO, fx->ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	}
	if ((cc = curl_easy_perform(c)) != CURLE_OK)
		fail_msg("%s %s: %s", method, url, curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
}

static char *csr_for(const char *key)
{
	struct o8_err err = O8_ERR_INIT;
	char *csr = NULL;

	if (o8_pki_make_csr(key, "whoever/i-claim", &csr, &err))
		fail_msg("csr: %s", err.msg);
	return csr;
}

static char *token_for(struct fx *fx, const char *gateway)
{
	struct o8_err err = O8_ERR_INIT;
	char *tok = NULL;

	if (o8_pki_enroll_token(&tok, NULL, fx->pki, "lab", gateway, 0, &err))
		fail_msg("token: %s", err.msg);
	return tok;
}

/* {"token": token, "csr": csr}, without "token" when it is NULL. */
static char *request_body(const char *token, const char *csr)
{
	json_t *j = json_pack("{s:s*, s:s}", "token", token, "csr", csr);
	char *s = json_dumps(j, 0);

	json_decref(j);
	return s;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, (1 << 16) - 1, f) > 0);
	fclose(f);
	return buf;
}

/* Checks a 200 reply: a certificate for lab/gateway that verifies, and ca.crt. */
static void assert_issued(struct fx *fx, const struct reply *r, const char *gateway,
			  char serial_out[80])
{
	json_t *j = json_loads(r->body, 0, NULL);
	const char *pem = json_string_value(json_object_get(j, "certificate"));
	char *network = NULL, *gw = NULL, *ca = slurp(fx->ca);
	struct o8_err err = O8_ERR_INIT;
	char crl[200];

	if (r->status != 200 || !pem)
		fail_msg("expected 200 with a certificate, got %ld %s", r->status, r->body);
	assert_string_equal(json_string_value(json_object_get(j, "ca")), ca);
	snprintf(crl, sizeof(crl), "%s/crl.pem", fx->pki);
	if (o8_pki_verify_peer(fx->ca, crl, pem, strlen(pem), 0, &network, &gw, &err))
		fail_msg("issued certificate does not verify: %s", err.msg);
	assert_string_equal(network, "lab");
	assert_string_equal(gw, gateway);
	assert_int_equal(o8_fileio_write_atomic(fx->crt, pem, strlen(pem), 0600, true, &err), O8_OK);
	pthread_mutex_lock(&fx->mu);
	assert_true(fx->nev > 0);
	assert_string_equal(fx->ev[fx->nev - 1].result, "ok");
	assert_string_equal(fx->ev[fx->nev - 1].gateway, gateway);
	assert_int_equal(strlen(fx->ev[fx->nev - 1].serial), 32);
	snprintf(serial_out, 80, "%s", fx->ev[fx->nev - 1].serial);
	pthread_mutex_unlock(&fx->mu);
	free(network);
	free(gw);
	free(ca);
	json_decref(j);
}

static void assert_refused(const struct reply *r, long status, const char *part,
			   const char *token)
{
	json_t *j = json_loads(r->body, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));

	if (r->status != status || !msg || !strstr(msg, part))
		fail_msg("expected %ld {\"error\": \"...%s...\"}, got %ld %s", status, part,
			 r->status, r->body);
	/* neither the token's id nor its secret */
	if (token) {
		char id[17];

		memcpy(id, token + 5, 16);
		id[16] = '\0';
		assert_null(strstr(r->body, id));
		assert_null(strstr(r->body, token + 22));
	}
	json_decref(j);
}

static void events_never_hold(struct fx *fx, const char *token)
{
	size_t i;

	pthread_mutex_lock(&fx->mu);
	for (i = 0; i < fx->nev; i++) {
		assert_null(strstr(fx->ev[i].detail, token + 22));     /* the secret */
		assert_null(strstr(fx->ev[i].serial, token + 22));
	}
	pthread_mutex_unlock(&fx->mu);
}

static void enroll__token_and_csr_give_a_certificate_once(void **state)
{
	struct fx *fx = *state;
	char *tok = token_for(fx, "agw-1"), *csr = csr_for(fx->key), *body = request_body(tok, csr);
	char serial[80];
	struct reply r;

	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_issued(fx, &r, "agw-1", serial);
	pthread_mutex_lock(&fx->mu);
	assert_string_equal(fx->ev[0].action, "enroll");
	assert_string_equal(fx->ev[0].network, "lab");
	assert_int_equal(fx->ev[0].status, 200);
	pthread_mutex_unlock(&fx->mu);

	/* the same token again: used */
	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_refused(&r, 403, "already used", tok);
	pthread_mutex_lock(&fx->mu);
	assert_int_equal(fx->nev, 2);
	assert_string_equal(fx->ev[1].result, "refused");
	assert_int_equal(fx->ev[1].status, 403);
	assert_string_equal(fx->ev[1].network, "");
	pthread_mutex_unlock(&fx->mu);
	events_never_hold(fx, tok);
	free(body);
	free(csr);
	free(tok);
}

static void enroll__refusals_and_their_statuses(void **state)
{
	struct fx *fx = *state;
	char *tok = token_for(fx, "agw-2"), *csr = csr_for(fx->key), *body, wrong[200], *bad;
	struct reply r;
	size_t i;

	/* a wrong secret for a real id */
	snprintf(wrong, sizeof(wrong), "%s", tok);
	for (i = 22; wrong[i]; i++)
		wrong[i] = wrong[i] == 'a' ? 'b' : 'a';
	body = request_body(wrong, csr);
	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_refused(&r, 403, "wrong or expired", wrong);
	free(body);

	/* an unknown id */
	memcpy(wrong + 5, "0123456789abcdef", 16);
	body = request_body(wrong, csr);
	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_refused(&r, 404, "unknown enrolment token", wrong);
	free(body);

	/* malformed token, bad CSR, not JSON, missing fields, wrong method */
	body = request_body("o8e1.nope", csr);
	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_refused(&r, 400, "malformed enrolment token", NULL);
	free(body);
	bad = strdup(csr);
	bad[strlen(bad) / 2] ^= 1;
	body = request_body(tok, bad);
	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_refused(&r, 400, "certificate request", tok);
	free(body);
	body = request_body(tok, "hello");
	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_refused(&r, 400, "not a PEM certificate request", tok);
	free(body);
	post(fx, "POST", "/v1/enroll", "{\"token\": 1", NULL, NULL, &r);
	assert_refused(&r, 400, "not a JSON object", NULL);
	post(fx, "POST", "/v1/enroll", "{\"csr\": \"x\"}", NULL, NULL, &r);
	assert_refused(&r, 400, "expected {\"token\"", NULL);
	post(fx, "GET", "/v1/enroll", NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 405);

	/* none of that burnt the token */
	body = request_body(tok, csr);
	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	{
		char serial[80];

		assert_issued(fx, &r, "agw-2", serial);
	}
	events_never_hold(fx, tok);
	free(body);
	free(bad);
	free(csr);
	free(tok);
}

static void renew__with_the_current_certificate_only(void **state)
{
	struct fx *fx = *state;
	char *tok = token_for(fx, "agw-3"), *csr = csr_for(fx->key), *body = request_body(tok, csr);
	char *renew = request_body(NULL, csr), first[80], second[80], okey[200], ocrt[200], other[200];
	struct o8_err err = O8_ERR_INIT;
	struct reply r;

	post(fx, "POST", "/v1/enroll", body, NULL, NULL, &r);
	assert_issued(fx, &r, "agw-3", first);

	/* no certificate: 401 */
	post(fx, "POST", "/v1/renew", renew, NULL, NULL, &r);
	assert_refused(&r, 401, "current client certificate", NULL);

	/* with it: a new certificate, same identity, new serial */
	post(fx, "POST", "/v1/renew", renew, fx->crt, fx->key, &r);
	assert_issued(fx, &r, "agw-3", second);
	assert_string_not_equal(first, second);
	pthread_mutex_lock(&fx->mu);
	assert_string_equal(fx->ev[fx->nev - 1].action, "renew");
	pthread_mutex_unlock(&fx->mu);

	/* a body that is not a CSR, with a good certificate: 400 */
	post(fx, "POST", "/v1/renew", "{\"csr\": 7}", fx->crt, fx->key, &r);
	assert_refused(&r, 400, "expected {\"csr\"", NULL);

	/* a certificate from another CA: 401 */
	{
		static const char *const hosts[] = { "127.0.0.1" };
		char *pem = NULL;

		snprintf(other, sizeof(other), "%s/other", fx->dir);
		snprintf(okey, sizeof(okey), "%s/other.key", fx->dir);
		snprintf(ocrt, sizeof(ocrt), "%s/other.crt", fx->dir);
		assert_int_equal(o8_pki_init(other, hosts, 1, NULL, &err), O8_OK);
		free(csr);
		csr = csr_for(okey);
		assert_int_equal(o8_pki_issue(other, "lab", "agw-3", csr, strlen(csr), 0, 0, &pem,
					      &err), O8_OK);
		assert_int_equal(o8_fileio_write_atomic(ocrt, pem, strlen(pem), 0600, true, &err), O8_OK);
		free(pem);
	}
	post(fx, "POST", "/v1/renew", renew, ocrt, okey, &r);
	assert_refused(&r, 401, "current client certificate", NULL);

	/* revoked: the CRL is re-read, the renewal refused */
	assert_int_equal(o8_pki_revoke(fx->pki, "lab", "agw-3", NULL, NULL, &err), O8_OK);
	post(fx, "POST", "/v1/renew", renew, fx->crt, fx->key, &r);
	assert_refused(&r, 401, "revoked", NULL);
	pthread_mutex_lock(&fx->mu);
	assert_string_equal(fx->ev[fx->nev - 1].result, "refused");
	assert_int_equal(fx->ev[fx->nev - 1].status, 401);
	pthread_mutex_unlock(&fx->mu);
	free(renew);
	free(body);
	free(csr);
	free(tok);
}

static void start__missing_pki_file_is_named(void **state)
{
	struct fx *fx = *state;
	struct syncd_bootstrap_opts o = SYNCD_BOOTSTRAP_OPTS_INIT;
	struct syncd_bootstrap *b = NULL;
	struct o8_err err = O8_ERR_INIT;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	o.listen = "127.0.0.1:0";
	o.pki = fx->dir;        /* no ca.crt there */
	assert_int_not_equal(syncd_bootstrap_start(&b, &loop, &o, &err), O8_OK);
	assert_null(b);
	assert_non_null(strstr(err.msg, "ca.crt"));
	assert_non_null(strstr(err.msg, "bootstrap port"));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(enroll__token_and_csr_give_a_certificate_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(enroll__refusals_and_their_statuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(renew__with_the_current_certificate_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(start__missing_pki_file_is_named, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
