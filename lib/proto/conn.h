/*
 * conn.h - one syncd <-> agwd connection on a libuv loop: TCP, TLS 1.3
 * (GnuTLS, non-blocking, memory-fed) and the frames and rules of lib/wire.
 *
 * Both daemons are single-threaded event loops holding many connections
 * (syncd: one per AGW; agwd --simulate: one per simulated AGW), so nothing
 * here blocks and an idle connection costs little: reads land in one
 * buffer shared by every connection of the loop (struct o8_conn_ctx), and
 * a connection keeps only the bytes of an incomplete TLS record or frame.
 *
 * Every message received is checked with o8_wire_session_check against the
 * peer's role, and every message sent against ours, so an out-of-order or
 * malformed message closes that connection with a reason for the log, and
 * neither side ever sends what the other would refuse.
 *
 * Life of a connection: o8_conn_accept or o8_conn_connect; ops.opened once
 * the handshake is done (the server checks the client's certificate
 * there); ops.message for each envelope; ops.closed exactly once, after
 * which the connection is freed.  o8_conn_close may be called at any time,
 * from any callback, more than once.
 *
 * Ownership: envelopes passed to ops.message belong to the callee
 * (o8_wire_decoded_free).  Credentials are borrowed and must outlive every
 * connection using them; by the time ops.closed runs the TLS session is
 * gone (no peer certificate), so it may free them.  The ctx outlives its connections.
 */
#ifndef O8_CONN_H
#define O8_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <uv.h>

#include "util/err.h"
#include "proto/wire.h"

struct o8_conn;
struct Orc8r__V1__Envelope;

/* What a loop's connections share (one per loop; embed or allocate). */
struct o8_conn_ctx {
	uv_loop_t *loop;
	size_t max_frame;               /* 0: O8_WIRE_MAX_FRAME_DEFAULT */
	unsigned handshake_ms;          /* 0: 10 s */
	const char *priority;           /* GnuTLS priority; NULL: TLS 1.3 only */
	uint8_t rbuf[64 * 1024];        /* private: the shared read buffer */
};

struct o8_conn_ops {
	void (*opened)(struct o8_conn *c);
	void (*message)(struct o8_conn *c, struct Orc8r__V1__Envelope *env);
	/* why: NULL when we closed it ourselves without a reason */
	void (*closed)(struct o8_conn *c, const char *why);
};

/* Initialises ctx for loop (zeroes the rest). */
void o8_conn_ctx_init(struct o8_conn_ctx *ctx, uv_loop_t *loop);

/*
 * Credentials.  Server: its certificate and key, and the CA whose client
 * certificates it requires.  Client: the CA that signed the server's
 * certificate, and optionally its own certificate and key (NULL, NULL for
 * server-authenticated TLS only, as agwd's enrolment uses).  Each file is
 * named in the error when missing or bad: there is no insecure fallback.
 */
enum o8_rc o8_conn_server_creds(gnutls_certificate_credentials_t *out,
				const char *cert, const char *key,
				const char *ca, struct o8_err *err);
enum o8_rc o8_conn_client_creds(gnutls_certificate_credentials_t *out,
				const char *ca, const char *cert,
				const char *key, struct o8_err *err);

/* Accepts one pending connection on server (a listening uv_tcp_t). */
enum o8_rc o8_conn_accept(struct o8_conn **out, struct o8_conn_ctx *ctx,
			  uv_stream_t *server,
			  gnutls_certificate_credentials_t creds,
			  const struct o8_conn_ops *ops, void *data,
			  struct o8_err *err);

/*
 * Connects to host:port (an IP literal or a name, resolved without
 * blocking) and verifies the server's certificate against the CA in creds
 * and against server_name (NULL: host).  Failures to connect or to
 * verify arrive through ops.closed.
 */
enum o8_rc o8_conn_connect(struct o8_conn **out, struct o8_conn_ctx *ctx,
			   const char *host, uint16_t port,
			   const char *server_name,
			   gnutls_certificate_credentials_t creds,
			   const struct o8_conn_ops *ops, void *data,
			   struct o8_err *err);

/*
 * Sends one message, after checking it against the rules (a refusal
 * closes the connection: it means a bug on this side, and is logged as
 * such).  O8_ERR when the connection is closing or the message was
 * refused; the caller need not do anything else.
 */
enum o8_rc o8_conn_send(struct o8_conn *c,
			const struct Orc8r__V1__Envelope *env,
			struct o8_err *err);

/*
 * Sends a delta as frames no bigger than the peer's limit (the same as
 * ours), checking each: what o8_conn_send does for a big ConfigDelta.
 */
enum o8_rc o8_conn_send_delta(struct o8_conn *c, const struct o8_wire_delta *d,
			      struct o8_err *err);

/* The same for a DigestReply (agwd answering a DigestRequest). */
enum o8_rc o8_conn_send_digests(struct o8_conn *c,
				const struct o8_wire_digests *src,
				struct o8_err *err);

/* Closes c (idempotent); why goes to ops.closed and should say what broke. */
void o8_conn_close(struct o8_conn *c, const char *why);

/* The same, for a peer that broke the rules: o8_conn_rejected then says so. */
void o8_conn_reject(struct o8_conn *c, const char *why);

/*
 * Closes c at once, for a peer that must be sent nothing more (its
 * certificate was revoked): writes not yet on the socket are dropped, no
 * close_notify is sent.  Idempotent, and it cuts short an o8_conn_close
 * still flushing.
 */
void o8_conn_abort(struct o8_conn *c, const char *why);

void *o8_conn_data(const struct o8_conn *c);
void o8_conn_set_data(struct o8_conn *c, void *data);

/* "127.0.0.1:51234" (the peer), for log lines. */
const char *o8_conn_peer(const struct o8_conn *c);

/* The peer's certificate (DER, borrowed; valid while c lives) or NULL. */
const gnutls_datum_t *o8_conn_peer_cert(const struct o8_conn *c);

/* The wire rules' view of the conversation (read-only). */
const struct o8_wire_session *o8_conn_session(const struct o8_conn *c);

/* Bytes handed to the socket (TLS records included) and received. */
uint64_t o8_conn_bytes_sent(const struct o8_conn *c);
uint64_t o8_conn_bytes_received(const struct o8_conn *c);

/* Bytes accepted by o8_conn_send but not yet written to the socket. */
size_t o8_conn_write_queue(const struct o8_conn *c);

bool o8_conn_is_open(const struct o8_conn *c);

/* True when c was closed for a bad frame or a message against the rules
 * received from the peer (syncd counts them). */
bool o8_conn_rejected(const struct o8_conn *c);

#endif
