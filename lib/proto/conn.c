/*
 * conn.c - TLS over libuv without threads: GnuTLS reads from and writes to
 * memory through its transport callbacks, and libuv moves those bytes.
 *
 * Reading: libuv hands a read to the loop's shared buffer; pull() serves
 * GnuTLS from it (after any bytes kept from an earlier read), and drive()
 * runs the handshake or drains records until GnuTLS wants more.  Whatever
 * GnuTLS did not take is kept in the connection (rare: GnuTLS buffers a
 * partial record itself).
 *
 * Writing: push() never blocks; it appends to an output buffer that is
 * handed to uv_write (ownership moves to the write request) after every
 * GnuTLS call, so a record is never split across our own buffers.
 */
#include "proto/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "wire.pb-c.h"
#include "util/fileio.h"

#define HANDSHAKE_MS_DEFAULT 10000
#define CLOSE_LINGER_MS 1000    /* how long a close waits for its writes */
#define PRIORITY_DEFAULT "NORMAL:-VERS-ALL:+VERS-TLS1.3"

struct o8_conn {
	struct o8_conn_ctx *ctx;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_getaddrinfo_t gai;
	gnutls_session_t tls;
	const struct o8_conn_ops *ops;
	void *data;
	enum o8_wire_role role;
	struct o8_wire_session sess;
	struct o8_wire_dec dec;

	const uint8_t *in;              /* the read being processed */
	size_t nin;
	uint8_t *keep;                  /* bytes GnuTLS left of earlier reads */
	size_t nkeep, capkeep;

	uint8_t *out;                   /* TLS records not yet given to libuv */
	size_t nout, capout;
	size_t inflight;                /* bytes in uv_write requests */

	uint64_t sent, received;
	int open_handles;
	bool handshaken, closing, resolving, finished;
	bool rejected;                  /* closed for what the peer sent */
	char *why;
	char *server_name;
	uint16_t port;
	char peer[64];
	gnutls_datum_t peer_cert;
};

struct wreq {
	uv_write_t req;
	uv_buf_t buf;
	struct o8_conn *c;
};

static void finish_close(struct o8_conn *c);

void o8_conn_ctx_init(struct o8_conn_ctx *ctx, uv_loop_t *loop)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->loop = loop;
}

/* --- credentials ---------------------------------------------------------- */

static enum o8_rc creds_new(gnutls_certificate_credentials_t *out,
			    const char *ca, struct o8_err *err)
{
	int r = gnutls_certificate_allocate_credentials(out);

	if (r < 0)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "TLS credentials: %s",
				  gnutls_strerror(r));
	r = gnutls_certificate_set_x509_trust_file(*out, ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		gnutls_certificate_free_credentials(*out);
		*out = NULL;
		return o8_err_set(err, O8_EINVALID, ca, 0, 0, "%s: %s", ca,
				  r == 0 ? "no CA certificate in the file" :
				  gnutls_strerror(r));
	}
	return O8_OK;
}

/*
 * The key is read here, not by GnuTLS, so its mode comes from the very
 * descriptor its bytes are read from: a key readable by group or others is
 * refused, as ssh refuses one (it may already have leaked).
 */
static enum o8_rc creds_key(gnutls_certificate_credentials_t *creds,
			    const char *cert, const char *key,
			    struct o8_err *err)
{
	char *kbuf = NULL, *cbuf = NULL;
	size_t klen = 0, clen = 0;
	mode_t mode = 0;
	gnutls_datum_t kd, cd;
	int r;

	if (o8_fileio_read(&kbuf, &klen, &mode, key, NULL, err) == O8_OK &&
	    (mode & 077))
		o8_err_set(err, O8_EINVALID, key, 0, 0, "private key '%s' is "
			   "accessible by others (mode %04o): run 'chmod 600 %s'",
			   key, (unsigned)mode, key);
	if (!err->rc)
		o8_fileio_read(&cbuf, &clen, NULL, cert, NULL, err);
	if (err->rc) {
		if (kbuf)
			gnutls_memset(kbuf, 0, klen);
		free(kbuf);
		free(cbuf);
		gnutls_certificate_free_credentials(*creds);
		*creds = NULL;
		return err->rc;
	}
	kd = (gnutls_datum_t){ (unsigned char *)kbuf, (unsigned)klen };
	cd = (gnutls_datum_t){ (unsigned char *)cbuf, (unsigned)clen };
	r = gnutls_certificate_set_x509_key_mem(*creds, &cd, &kd,
						GNUTLS_X509_FMT_PEM);
	gnutls_memset(kbuf, 0, klen);
	free(kbuf);
	free(cbuf);
	if (r < 0) {
		gnutls_certificate_free_credentials(*creds);
		*creds = NULL;
		/* GnuTLS does not say which of the two it could not use */
		return o8_err_set(err, O8_EINVALID, cert, 0, 0,
				  "%s with key %s: %s", cert, key,
				  gnutls_strerror(r));
	}
	return O8_OK;
}

enum o8_rc o8_conn_server_creds(gnutls_certificate_credentials_t *out,
				const char *cert, const char *key,
				const char *ca, struct o8_err *err)
{
	*out = NULL;
	if (creds_new(out, ca, err))
		return err->rc;
	return creds_key(out, cert, key, err);
}

enum o8_rc o8_conn_client_creds(gnutls_certificate_credentials_t *out,
				const char *ca, const char *cert,
				const char *key, struct o8_err *err)
{
	*out = NULL;
	if (creds_new(out, ca, err))
		return err->rc;
	if (cert && key)
		return creds_key(out, cert, key, err);
	return O8_OK;
}

/* --- the transport ---------------------------------------------------------- */

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
	struct o8_conn *c = p;
	const uint8_t *src;
	size_t *avail;

	if (c->nkeep) {
		src = c->keep;
		avail = &c->nkeep;
	} else if (c->nin) {
		src = c->in;
		avail = &c->nin;
	} else {
		gnutls_transport_set_errno(c->tls, EAGAIN);
		return -1;
	}
	if (n > *avail)
		n = *avail;
	memcpy(buf, src, n);
	*avail -= n;
	if (src == c->keep)
		memmove(c->keep, c->keep + n, c->nkeep);
	else
		c->in += n;
	return (ssize_t)n;
}

static bool grow(uint8_t **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 4096;
	uint8_t *nb;

	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	nb = realloc(*buf, ncap);
	if (!nb)
		return false;
	*buf = nb;
	*cap = ncap;
	return true;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *data, size_t n)
{
	struct o8_conn *c = p;

	if (!grow(&c->out, &c->capout, c->nout + n)) {
		gnutls_transport_set_errno(c->tls, ENOMEM);
		return -1;
	}
	memcpy(c->out + c->nout, data, n);
	c->nout += n;
	return (ssize_t)n;
}

static void written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct o8_conn *c = w->c;

	c->inflight -= w->buf.len;
	free(w->buf.base);
	free(w);
	if (status < 0 && !c->closing) {
		char why[128];

		snprintf(why, sizeof(why), "write: %s", uv_strerror(status));
		o8_conn_close(c, why);
		return;
	}
	if (c->closing && c->inflight == 0)
		finish_close(c);
}

/* Hands the output buffer to libuv; false when the write could not start. */
static bool flush(struct o8_conn *c)
{
	struct wreq *w;
	int r;

	if (!c->nout || c->finished)
		return true;
	w = malloc(sizeof(*w));
	if (!w)
		return false;
	w->c = c;
	w->buf = uv_buf_init((char *)c->out, (unsigned)c->nout);
	c->out = NULL;
	c->nout = c->capout = 0;
	r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, written);
	if (r < 0) {
		free(w->buf.base);
		free(w);
		return false;
	}
	c->inflight += w->buf.len;
	c->sent += w->buf.len;
	return true;
}

/* --- closing ---------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
	struct o8_conn *c = h->data;

	if (--c->open_handles > 0 || c->resolving)
		return;
	/* the session goes first: the owner may free its credentials */
	if (c->tls)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	c->peer_cert.data = NULL;
	if (c->ops->closed)
		c->ops->closed(c, c->why);
	o8_wire_dec_done(&c->dec);
	free(c->keep);
	free(c->out);
	free(c->why);
	free(c->server_name);
	free(c);
}

static void finish_close(struct o8_conn *c)
{
	if (c->finished)
		return;
	c->finished = true;
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

void o8_conn_abort(struct o8_conn *c, const char *why)
{
	if (!c)
		return;
	if (!c->closing) {
		c->closing = true;
		c->why = why ? strdup(why) : NULL;
		uv_read_stop((uv_stream_t *)&c->tcp);
		if (c->resolving)
			uv_cancel((uv_req_t *)&c->gai);
	}
	/* pending writes end with UV_ECANCELED before the handles close */
	finish_close(c);
}

static void linger_expired(uv_timer_t *t)
{
	finish_close(t->data);
}

void o8_conn_close(struct o8_conn *c, const char *why)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	c->why = why ? strdup(why) : NULL;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (c->handshaken) {
		gnutls_bye(c->tls, GNUTLS_SHUT_WR);     /* close_notify */
		flush(c);
	}
	if (c->resolving)
		uv_cancel((uv_req_t *)&c->gai);
	if (c->inflight == 0) {
		finish_close(c);
		return;
	}
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, linger_expired, CLOSE_LINGER_MS, 0);
}

void o8_conn_reject(struct o8_conn *c, const char *why)
{
	if (c && !c->closing)
		c->rejected = true;
	o8_conn_close(c, why);
}

static void close_tls(struct o8_conn *c, const char *what, int r)
{
	char why[256];

	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		gnutls_datum_t txt = { NULL, 0 };
		unsigned st = gnutls_session_get_verify_cert_status(c->tls);

		if (gnutls_certificate_verification_status_print(
			    st, GNUTLS_CRT_X509, &txt, 0) == 0) {
			snprintf(why, sizeof(why), "%s: %s", what, txt.data);
			gnutls_free(txt.data);
			o8_conn_close(c, why);
			return;
		}
	}
	snprintf(why, sizeof(why), "%s: %s", what, gnutls_strerror(r));
	o8_conn_close(c, why);
}

/* --- receiving ---------------------------------------------------------------- */

static enum o8_wire_role peer_role(const struct o8_conn *c)
{
	return c->role == O8_WIRE_SERVER ? O8_WIRE_AGENT : O8_WIRE_SERVER;
}

/* Frames from n decrypted bytes; false once the connection is closing. */
static bool deliver(struct o8_conn *c, const uint8_t *p, size_t n)
{
	while (n && !c->closing) {
		struct Orc8r__V1__Envelope *env = NULL;
		struct o8_err err = O8_ERR_INIT;
		size_t used = 0;
		char why[600];

		if (o8_wire_dec_feed(&c->dec, p, n, &used, &env, &err)) {
			snprintf(why, sizeof(why), "bad frame: %s", err.msg);
			c->rejected = true;
			o8_conn_close(c, why);
			return false;
		}
		p += used;
		n -= used;
		if (!env)
			break;
		if (o8_wire_session_check(&c->sess, peer_role(c), env, why,
					  sizeof(why))) {
			o8_wire_decoded_free(env);
			c->rejected = true;
			o8_conn_close(c, why);
			return false;
		}
		c->ops->message(c, env);
	}
	return !c->closing;
}

static void drain(struct o8_conn *c)
{
	uint8_t buf[16384];

	while (!c->closing) {
		ssize_t n = gnutls_record_recv(c->tls, buf, sizeof(buf));

		flush(c);
		if (n == GNUTLS_E_AGAIN)
			return;
		if (n == 0) {
			o8_conn_close(c, o8_wire_dec_pending(&c->dec) ?
				      "peer closed the connection in the middle of a frame" :
				      "peer closed the connection");
			return;
		}
		if (n < 0) {
			if (gnutls_error_is_fatal((int)n)) {
				close_tls(c, "TLS", (int)n);
				return;
			}
			continue;
		}
		if (!deliver(c, buf, (size_t)n))
			return;
	}
}

static void handshake(struct o8_conn *c)
{
	const gnutls_datum_t *certs;
	unsigned ncerts = 0;
	int r = gnutls_handshake(c->tls);

	flush(c);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return;
	if (r < 0) {
		close_tls(c, "TLS handshake", r);
		return;
	}
	c->handshaken = true;
	uv_timer_stop(&c->timer);
	certs = gnutls_certificate_get_peers(c->tls, &ncerts);
	if (certs && ncerts)
		c->peer_cert = certs[0];
	if (c->ops->opened)
		c->ops->opened(c);
}

static void drive(struct o8_conn *c)
{
	if (!c->handshaken && !c->closing)
		handshake(c);
	if (c->handshaken && !c->closing)
		drain(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct o8_conn *c = h->data;

	(void)hint;
	buf->base = (char *)c->ctx->rbuf;
	buf->len = sizeof(c->ctx->rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct o8_conn *c = s->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		char why[128];

		if (nread == UV_EOF)
			snprintf(why, sizeof(why), "peer closed the connection%s",
				 c->handshaken ? "" : " during the TLS handshake");
		else
			snprintf(why, sizeof(why), "read: %s", uv_strerror((int)nread));
		o8_conn_close(c, why);
		return;
	}
	c->received += (uint64_t)nread;
	c->in = (const uint8_t *)buf->base;
	c->nin = (size_t)nread;
	drive(c);
	if (c->nin && !c->closing) {
		if (!grow(&c->keep, &c->capkeep, c->nkeep + c->nin)) {
			o8_conn_close(c, "out of memory");
			return;
		}
		memcpy(c->keep + c->nkeep, c->in, c->nin);
		c->nkeep += c->nin;
	}
	c->in = NULL;
	c->nin = 0;
}

static void handshake_expired(uv_timer_t *t)
{
	o8_conn_close(t->data, "TLS handshake timed out");
}

/* --- set-up ----------------------------------------------------------------- */

static struct o8_conn *conn_new(struct o8_conn_ctx *ctx,
				const struct o8_conn_ops *ops, void *data,
				enum o8_wire_role role)
{
	struct o8_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ctx = ctx;
	c->ops = ops;
	c->data = data;
	c->role = role;
	o8_wire_session_init(&c->sess, role);
	o8_wire_dec_init(&c->dec, ctx->max_frame);
	uv_tcp_init(ctx->loop, &c->tcp);
	uv_timer_init(ctx->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	snprintf(c->peer, sizeof(c->peer), "?");
	return c;
}

static int tls_setup(struct o8_conn *c, unsigned flags,
		     gnutls_certificate_credentials_t creds, struct o8_err *err)
{
	const char *prio = c->ctx->priority ? c->ctx->priority : PRIORITY_DEFAULT;
	int r = gnutls_init(&c->tls, flags | GNUTLS_NONBLOCK);

	if (r >= 0)
		r = gnutls_priority_set_direct(c->tls, prio, NULL);
	if (r >= 0)
		r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, creds);
	if (r < 0) {
		o8_err_set(err, O8_ERR, NULL, 0, 0, "TLS session: %s", gnutls_strerror(r));
		return -1;
	}
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_pull_function(c->tls, pull);
	gnutls_transport_set_push_function(c->tls, push);
	return 0;
}

static void name_peer(struct o8_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		uv_ip4_name(a, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		uv_ip6_name(a, host, sizeof(host));
		port = ntohs(a->sin6_port);
	}
	snprintf(c->peer, sizeof(c->peer), ss.ss_family == AF_INET6 ?
		 "[%s]:%u" : "%s:%u", host, port);
}

static void start(struct o8_conn *c)
{
	unsigned ms = c->ctx->handshake_ms ? c->ctx->handshake_ms : HANDSHAKE_MS_DEFAULT;
	int r;

	name_peer(c);
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, 60);
	uv_timer_start(&c->timer, handshake_expired, ms, 0);
	r = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (r < 0) {
		char why[128];

		snprintf(why, sizeof(why), "read: %s", uv_strerror(r));
		o8_conn_close(c, why);
		return;
	}
	drive(c);       /* the client speaks first */
}

enum o8_rc o8_conn_accept(struct o8_conn **out, struct o8_conn_ctx *ctx,
			  uv_stream_t *server,
			  gnutls_certificate_credentials_t creds,
			  const struct o8_conn_ops *ops, void *data,
			  struct o8_err *err)
{
	struct o8_conn *c = conn_new(ctx, ops, data, O8_WIRE_SERVER);
	int r;

	*out = NULL;
	if (!c)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	r = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (r < 0) {
		o8_err_set(err, O8_ERR, NULL, 0, 0, "accept: %s", uv_strerror(r));
		c->ops = &(const struct o8_conn_ops){ 0 };
		c->closing = true;
		finish_close(c);
		return err->rc;
	}
	if (tls_setup(c, GNUTLS_SERVER, creds, err) < 0) {
		o8_conn_close(c, err->msg);
		return O8_OK;   /* reported through ops.closed */
	}
	/* the CA in creds must have signed the client's certificate; its
	 * identity, purpose and revocation are the owner's check (opened) */
	gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_cert(c->tls, NULL, 0);
	*out = c;
	start(c);
	return O8_OK;
}

static void connected(uv_connect_t *req, int status)
{
	struct o8_conn *c = req->data;

	if (c->closing)
		return;
	if (status < 0) {
		char why[160];

		snprintf(why, sizeof(why), "connect: %s", uv_strerror(status));
		o8_conn_close(c, why);
		return;
	}
	start(c);
}

static void connect_addr(struct o8_conn *c, const struct sockaddr *sa)
{
	int r;

	c->creq.data = c;
	r = uv_tcp_connect(&c->creq, &c->tcp, sa, connected);
	if (r < 0) {
		char why[160];

		snprintf(why, sizeof(why), "connect: %s", uv_strerror(r));
		o8_conn_close(c, why);
	}
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct o8_conn *c = req->data;

	c->resolving = false;
	if (c->closing) {
		uv_freeaddrinfo(res);
		if (c->open_handles == 0)       /* handles closed while we waited */
			handle_closed((uv_handle_t *)&c->tcp);
		return;
	}
	if (status < 0 || !res) {
		char why[300];

		snprintf(why, sizeof(why), "resolve %s: %s", c->server_name,
			 uv_strerror(status));
		uv_freeaddrinfo(res);
		o8_conn_close(c, why);
		return;
	}
	((struct sockaddr_in *)res->ai_addr)->sin_port = htons(c->port);
	connect_addr(c, res->ai_addr);
	uv_freeaddrinfo(res);
}

enum o8_rc o8_conn_connect(struct o8_conn **out, struct o8_conn_ctx *ctx,
			   const char *host, uint16_t port,
			   const char *server_name,
			   gnutls_certificate_credentials_t creds,
			   const struct o8_conn_ops *ops, void *data,
			   struct o8_err *err)
{
	struct o8_conn *c = conn_new(ctx, ops, data, O8_WIRE_AGENT);
	struct sockaddr_storage ss;
	const char *name = server_name ? server_name : host;

	*out = NULL;
	if (!c)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	c->port = port;
	c->server_name = strdup(name);
	if (!c->server_name || tls_setup(c, GNUTLS_CLIENT, creds, err) < 0) {
		o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
		c->ops = &(const struct o8_conn_ops){ 0 };
		o8_conn_close(c, NULL);
		return err->rc;
	}
	gnutls_session_set_verify_cert(c->tls, name, 0);
	if (uv_ip4_addr(name, 0, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(name, 0, (struct sockaddr_in6 *)&ss) != 0)
		gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, name, strlen(name));
	*out = c;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
		connect_addr(c, (struct sockaddr *)&ss);
		return O8_OK;
	}
	free(c->server_name);
	c->server_name = strdup(host);  /* for the error message */
	c->gai.data = c;
	c->resolving = true;
	if (uv_getaddrinfo(ctx->loop, &c->gai, resolved, host, NULL,
			   &(struct addrinfo){ .ai_socktype = SOCK_STREAM }) < 0) {
		c->resolving = false;
		o8_conn_close(c, "resolve: cannot start");
	}
	return O8_OK;
}

/* --- sending ------------------------------------------------------------------ */

static enum o8_rc send_bytes(struct o8_conn *c, const uint8_t *p, size_t n,
			     struct o8_err *err)
{
	while (n) {
		ssize_t r = gnutls_record_send(c->tls, p, n);

		if (r < 0) {
			close_tls(c, "TLS send", (int)r);
			return o8_err_set(err, O8_ERR, NULL, 0, 0, "TLS send: %s",
					  gnutls_strerror((int)r));
		}
		p += r;
		n -= (size_t)r;
	}
	if (!flush(c)) {
		o8_conn_close(c, "write: cannot start");
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "write failed");
	}
	return O8_OK;
}

static enum o8_rc check_own(struct o8_conn *c,
			    const struct Orc8r__V1__Envelope *env,
			    struct o8_err *err)
{
	char why[300], bug[340];

	if (c->closing || !c->handshaken)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "connection %s",
				  c->closing ? "closing" : "not open yet");
	if (o8_wire_session_check(&c->sess, c->role, env, why, sizeof(why))) {
		snprintf(bug, sizeof(bug), "refusing to send: %s", why);
		o8_conn_close(c, bug);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "%s", bug);
	}
	return O8_OK;
}

enum o8_rc o8_conn_send(struct o8_conn *c,
			const struct Orc8r__V1__Envelope *env,
			struct o8_err *err)
{
	uint8_t *frame = NULL;
	size_t len = 0;
	enum o8_rc rc;

	if (check_own(c, env, err))
		return err->rc;
	if (o8_wire_encode(env, &frame, &len, err)) {
		o8_conn_close(c, "cannot encode a message");
		return err->rc;
	}
	rc = send_bytes(c, frame, len, err);
	free(frame);
	return rc;
}

/* One frame of a split delta, checked like any message we send. */
static enum o8_rc send_frame(struct o8_conn *c, const uint8_t *frame, size_t len,
			     struct o8_err *err)
{
	struct Orc8r__V1__Envelope *env = orc8r__v1__envelope__unpack(
		NULL, len - O8_WIRE_HEADER, frame + O8_WIRE_HEADER);
	enum o8_rc rc;

	if (!env) {
		o8_conn_close(c, "cannot encode a message");
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "frame does not decode");
	}
	rc = check_own(c, env, err);
	o8_wire_decoded_free(env);
	if (rc)
		return rc;
	return send_bytes(c, frame, len, err);
}

/* Splits a big message into frames with next() and sends them all. */
static enum o8_rc send_split(struct o8_conn *c, const void *src,
			     enum o8_rc (*next)(const void *src, size_t *pos,
						size_t max, uint8_t **out,
						size_t *len, bool *last,
						struct o8_err *err),
			     struct o8_err *err)
{
	size_t pos = 0, max = c->ctx->max_frame;
	bool last = false;

	while (!last) {
		uint8_t *frame = NULL;
		size_t len = 0;
		enum o8_rc rc;

		if (next(src, &pos, max, &frame, &len, &last, err)) {
			o8_conn_close(c, err->msg);
			return err->rc;
		}
		rc = send_frame(c, frame, len, err);
		free(frame);
		if (rc)
			return rc;
	}
	return O8_OK;
}

static enum o8_rc delta_next(const void *src, size_t *pos, size_t max,
			     uint8_t **out, size_t *len, bool *last,
			     struct o8_err *err)
{
	return o8_wire_delta_next(src, pos, max, out, len, last, err);
}

static enum o8_rc digests_next(const void *src, size_t *pos, size_t max,
			       uint8_t **out, size_t *len, bool *last,
			       struct o8_err *err)
{
	return o8_wire_digest_reply_next(src, pos, max, out, len, last, err);
}

enum o8_rc o8_conn_send_delta(struct o8_conn *c, const struct o8_wire_delta *d,
			      struct o8_err *err)
{
	return send_split(c, d, delta_next, err);
}

enum o8_rc o8_conn_send_digests(struct o8_conn *c,
				const struct o8_wire_digests *src,
				struct o8_err *err)
{
	return send_split(c, src, digests_next, err);
}

/* --- getters ---------------------------------------------------------------- */

void *o8_conn_data(const struct o8_conn *c) { return c->data; }
void o8_conn_set_data(struct o8_conn *c, void *data) { c->data = data; }
const char *o8_conn_peer(const struct o8_conn *c) { return c->peer; }
const struct o8_wire_session *o8_conn_session(const struct o8_conn *c) { return &c->sess; }
uint64_t o8_conn_bytes_sent(const struct o8_conn *c) { return c->sent; }
uint64_t o8_conn_bytes_received(const struct o8_conn *c) { return c->received; }
size_t o8_conn_write_queue(const struct o8_conn *c) { return c->inflight + c->nout; }
bool o8_conn_is_open(const struct o8_conn *c) { return c->handshaken && !c->closing; }
bool o8_conn_rejected(const struct o8_conn *c) { return c->rejected; }

const gnutls_datum_t *o8_conn_peer_cert(const struct o8_conn *c)
{
	return c->peer_cert.data ? &c->peer_cert : NULL;
}
