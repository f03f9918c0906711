/*
 * test_conn.c - lib/proto/conn.h on a real loop over 127.0.0.1: a gateway with
 * a certificate from our CA completes TLS 1.3 and exchanges Hello and
 * Welcome; a client without a certificate, or trusting another CA, or
 * expecting another server name, never gets a message through; a message
 * out of order closes that connection only, with the rule's reason; a big
 * delta crosses as several frames and arrives whole.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "proto/conn.h"
#include "proto/pki.h"
#include "util/fileio.h"
#include "proto/wire.h"
#include "wire.pb-c.h"

struct fx {
	char root[64];
	char pki[128], other[128];
	char key[160], crt[160];
	uv_loop_t loop;
	struct o8_conn_ctx ctx;
	uv_tcp_t server;
	uint16_t port;
	gnutls_certificate_credentials_t screds;
	/* what happened */
	int accepted, opened_server, hellos, welcomes, deltas, closed_server,
	    closed_client;
	char server_why[512], client_why[512];
	size_t delta_frames, delta_upserts;
	struct o8_conn *sconn;
};

static char *pathf(char *buf, size_t n, const char *a, const char *b)
{
	snprintf(buf, n, "%s/%s", a, b);
	return buf;
}

static int rm_entry(const char *p, const struct stat *st, int f, struct FTW *w)
{
	(void)st; (void)f; (void)w;
	return remove(p);
}

/* --- the server side ------------------------------------------------------- */

static void s_opened(struct o8_conn *c)
{
	struct fx *fx = o8_conn_data(c);

	fx->opened_server++;
	fx->sconn = c;
	assert_non_null(o8_conn_peer_cert(c));
}

static void s_message(struct o8_conn *c, struct Orc8r__V1__Envelope *env)
{
	struct fx *fx = o8_conn_data(c);
	struct Orc8r__V1__Envelope *w = NULL;
	struct o8_err err = O8_ERR_INIT;

	if (o8_wire_msg_type(env) == O8_WIRE_HELLO) {
		fx->hellos++;
		assert_string_equal(env->hello->gateway_id, "lab/agw1");
		assert_int_equal(o8_wire_build_welcome(&w, "test", 9, &err), O8_OK);
		assert_int_equal(o8_conn_send(c, w, &err), O8_OK);
		o8_wire_built_free(w);
	}
	o8_wire_decoded_free(env);
}

static void s_closed(struct o8_conn *c, const char *why)
{
	struct fx *fx = o8_conn_data(c);

	fx->closed_server++;
	snprintf(fx->server_why, sizeof(fx->server_why), "%s", why ? why : "");
	if (fx->sconn == c)
		fx->sconn = NULL;
}

static const struct o8_conn_ops server_ops = { s_opened, s_message, s_closed };

static void on_accept(uv_stream_t *srv, int status)
{
	struct fx *fx = srv->data;
	struct o8_conn *c;
	struct o8_err err = O8_ERR_INIT;

	assert_int_equal(status, 0);
	fx->accepted++;
	assert_int_equal(o8_conn_accept(&c, &fx->ctx, srv, fx->screds, &server_ops,
					fx, &err), O8_OK);
}

/* --- the client side ------------------------------------------------------- */

struct client {
	struct fx *fx;
	struct o8_conn *c;
	int mode;       /* 0: Hello; 1: Ack first (out of order) */
};

static void c_opened(struct o8_conn *c)
{
	struct client *cl = o8_conn_data(c);
	struct Orc8r__V1__Envelope *env = NULL;
	struct o8_err err = O8_ERR_INIT;

	if (cl->mode == 1) {
		/* bypass our own send check to play a broken agent: the
		 * session refuses to send it, so the server never sees it */
		assert_int_equal(o8_wire_build_ack(&env, 1, "x", &err), O8_OK);
		assert_int_not_equal(o8_conn_send(c, env, &err), O8_OK);
		assert_non_null(strstr(err.msg, "refusing to send"));
	} else {
		assert_int_equal(o8_wire_build_hello(&env, "lab/agw1", "t", 0, "",
						     NULL, &err), O8_OK);
		assert_int_equal(o8_conn_send(c, env, &err), O8_OK);
	}
	o8_wire_built_free(env);
}

static void c_message(struct o8_conn *c, struct Orc8r__V1__Envelope *env)
{
	struct client *cl = o8_conn_data(c);
	struct fx *fx = cl->fx;

	switch (o8_wire_msg_type(env)) {
	case O8_WIRE_WELCOME:
		fx->welcomes++;
		assert_int_equal(env->welcome->desired_version, 9);
		if (cl->mode == 0)
			o8_conn_close(c, NULL);
		break;
	case O8_WIRE_DELTA:
		fx->delta_frames++;
		fx->delta_upserts += env->delta->n_upserts;
		if (!env->delta->more)
			o8_conn_close(c, NULL);
		break;
	default:
		break;
	}
	o8_wire_decoded_free(env);
}

static void c_closed(struct o8_conn *c, const char *why)
{
	struct client *cl = o8_conn_data(c);

	cl->fx->closed_client++;
	snprintf(cl->fx->client_why, sizeof(cl->fx->client_why), "%s", why ? why : "");
	cl->c = NULL;
}

static const struct o8_conn_ops client_ops = { c_opened, c_message, c_closed };

/* --- fixture --------------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *hosts[] = { "127.0.0.1", "localhost" };
	struct o8_err err = O8_ERR_INIT;
	char *token = NULL, *csr = NULL, *pem = NULL, a[200], b[200], c[200];
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	assert_non_null(fx);
	snprintf(fx->root, sizeof(fx->root), "/tmp/o8conn.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	pathf(fx->pki, sizeof(fx->pki), fx->root, "pki");
	pathf(fx->other, sizeof(fx->other), fx->root, "other");
	pathf(fx->key, sizeof(fx->key), fx->root, "agw.key");
	pathf(fx->crt, sizeof(fx->crt), fx->root, "agw.crt");
	assert_int_equal(o8_pki_init(fx->pki, hosts, 2, NULL, &err), O8_OK);
	assert_int_equal(o8_pki_init(fx->other, hosts, 2, NULL, &err), O8_OK);
	assert_int_equal(o8_pki_enroll_token(&token, NULL, fx->pki, "lab", "agw1", 0,
					     &err), O8_OK);
	assert_int_equal(o8_pki_make_csr(fx->key, NULL, &csr, &err), O8_OK);
	assert_int_equal(o8_pki_redeem(fx->pki, token, csr, strlen(csr), 0, 0, &pem,
				       &err), O8_OK);
	assert_int_equal(o8_fileio_write_atomic(fx->crt, pem, strlen(pem), 0600, true, &err), O8_OK);
	free(token);
	free(csr);
	free(pem);

	assert_int_equal(uv_loop_init(&fx->loop), 0);
	o8_conn_ctx_init(&fx->ctx, &fx->loop);
	fx->ctx.max_frame = 4096;       /* small, so deltas split */
	assert_int_equal(o8_conn_server_creds(&fx->screds,
					      pathf(a, sizeof(a), fx->pki, "server.crt"),
					      pathf(b, sizeof(b), fx->pki, "server.key"),
					      pathf(c, sizeof(c), fx->pki, "ca.crt"), &err),
			 O8_OK);
	uv_tcp_init(&fx->loop, &fx->server);
	fx->server.data = fx;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&fx->server, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&fx->server, 16, on_accept), 0);
	uv_tcp_getsockname(&fx->server, (struct sockaddr *)&bound, &len);
	fx->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	uv_close((uv_handle_t *)&fx->server, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	gnutls_certificate_free_credentials(fx->screds);
	nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Runs the loop until the client connection has closed (with a deadline). */
static void run_until_closed(struct fx *fx, struct client *cl)
{
	uint64_t deadline = uv_now(&fx->loop) + 10000;

	while (cl->c && uv_now(&fx->loop) < deadline)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_null(cl->c);
	/* let the server notice too */
	deadline = uv_now(&fx->loop) + 10000;
	while (fx->closed_server < fx->accepted && uv_now(&fx->loop) < deadline)
		uv_run(&fx->loop, UV_RUN_ONCE);
}

static void connect_with(struct fx *fx, struct client *cl, const char *ca,
			 bool with_cert, const char *name)
{
	gnutls_certificate_credentials_t creds;
	struct o8_err err = O8_ERR_INIT;
	char a[200];

	assert_int_equal(o8_conn_client_creds(&creds, pathf(a, sizeof(a), ca, "ca.crt"),
					      with_cert ? fx->crt : NULL,
					      with_cert ? fx->key : NULL, &err), O8_OK);
	cl->fx = fx;
	assert_int_equal(o8_conn_connect(&cl->c, &fx->ctx, "127.0.0.1", fx->port,
					 name, creds, &client_ops, cl, &err), O8_OK);
	run_until_closed(fx, cl);
	gnutls_certificate_free_credentials(creds);
}

static void hello_welcome(void **state)
{
	struct fx *fx = *state;
	struct client cl = { 0 };

	connect_with(fx, &cl, fx->pki, true, NULL);
	assert_int_equal(fx->opened_server, 1);
	assert_int_equal(fx->hellos, 1);
	assert_int_equal(fx->welcomes, 1);
	assert_int_equal(fx->closed_client, 1);
	assert_string_equal(fx->client_why, "");
	assert_non_null(strstr(fx->server_why, "peer closed"));
}

static void client_without_certificate(void **state)
{
	struct fx *fx = *state;
	struct client cl = { 0 };

	connect_with(fx, &cl, fx->pki, false, NULL);
	assert_int_equal(fx->opened_server, 0);
	assert_int_equal(fx->hellos, 0);
	assert_int_equal(fx->closed_server, 1);
	assert_non_null(strstr(fx->server_why, "TLS handshake"));
}

static void client_trusting_another_ca(void **state)
{
	struct fx *fx = *state;
	struct client cl = { 0 };

	connect_with(fx, &cl, fx->other, true, NULL);
	assert_int_equal(fx->hellos, 0);
	assert_int_equal(fx->welcomes, 0);
	assert_non_null(strstr(fx->client_why, "TLS handshake"));
}

static void wrong_server_name(void **state)
{
	struct fx *fx = *state;
	struct client cl = { 0 };

	connect_with(fx, &cl, fx->pki, true, "syncd.example.org");
	assert_int_equal(fx->hellos, 0);
	assert_non_null(strstr(fx->client_why, "TLS handshake"));
}

static void out_of_order_refused_before_sending(void **state)
{
	struct fx *fx = *state;
	struct client cl = { .mode = 1 };

	connect_with(fx, &cl, fx->pki, true, NULL);
	assert_int_equal(fx->hellos, 0);
	assert_non_null(strstr(fx->client_why, "refusing to send"));
}

/* A delta bigger than a frame: the server splits it and the client sees
 * every record (it closes on the frame without more). */
static void big_delta(void **state)
{
	struct fx *fx = *state;
	struct client cl = { 0 };
	enum { N = 200 };
	static struct o8_record recs[N];
	static const struct o8_record *ptrs[N];
	static char keys[N][16];
	static uint8_t body[64];
	struct o8_wire_delta d = { 0 };
	struct o8_err err = O8_ERR_INIT;
	gnutls_certificate_credentials_t creds;
	char a[200];
	uint64_t deadline;

	memset(body, 'x', sizeof(body));
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%06d", i);
		recs[i] = (struct o8_record){ .kind = O8_REC_SUBSCRIBER,
			.network = "lab", .key = keys[i], .name = keys[i],
			.body = body, .len = sizeof(body) };
		gnutls_hash_fast(GNUTLS_DIG_SHA256, body, sizeof(body), recs[i].digest);
		ptrs[i] = &recs[i];
	}
	d.from_version = 0;
	d.to_version = 1;
	d.commit = "abc";
	d.upserts = ptrs;
	d.nupserts = N;
	d.full = true;
	/* mode 2: say Hello but keep the connection open for the delta */
	cl.mode = 2;
	cl.fx = fx;
	assert_int_equal(o8_conn_client_creds(&creds, pathf(a, sizeof(a), fx->pki, "ca.crt"),
					      fx->crt, fx->key, &err), O8_OK);
	assert_int_equal(o8_conn_connect(&cl.c, &fx->ctx, "127.0.0.1", fx->port, NULL,
					 creds, &client_ops, &cl, &err), O8_OK);
	deadline = uv_now(&fx->loop) + 10000;
	while (fx->welcomes == 0 && uv_now(&fx->loop) < deadline)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_int_equal(fx->welcomes, 1);
	assert_non_null(fx->sconn);
	assert_int_equal(o8_conn_send_delta(fx->sconn, &d, &err), O8_OK);
	run_until_closed(fx, &cl);
	assert_true(fx->delta_frames > 1);
	assert_int_equal(fx->delta_upserts, N);
	gnutls_certificate_free_credentials(creds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hello_welcome, setup, teardown),
		cmocka_unit_test_setup_teardown(client_without_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(client_trusting_another_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_server_name, setup, teardown),
		cmocka_unit_test_setup_teardown(out_of_order_refused_before_sending, setup, teardown),
		cmocka_unit_test_setup_teardown(big_delta, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
