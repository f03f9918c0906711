/*
 * httpd.h - an HTTP(S) server on libmicrohttpd, driven by the caller's
 * libuv loop: syncd's API port and its bootstrap (enrolment) port.
 *
 * One thread.  MHD runs without a thread of its own (MHD_USE_EPOLL): its
 * epoll fd is watched by a uv_poll_t and its timeouts by a uv_timer_t, and
 * both call MHD_run().  So handlers run on the loop thread, between the
 * loop's other callbacks, and may read and change the owner's state
 * without locks; they must not block for long (every connection waits).
 *
 * A route table says what exists: method, path pattern ("/v1/gateways/
 * {network}/{name}": a {param} matches one non-empty segment), who may
 * call it, and the handler.  The server answers by itself 404 (no pattern
 * matches), 405 (a pattern matches, not the method; with Allow), 401/403
 * (auth), 413 (body over max_body) and 500 (a handler that did not reply),
 * all as {"error": "..."}.  HEAD is served by the GET route.  Every
 * response carries "Cache-Control: no-store".
 *
 * Auth per route: O8_HTTPD_PUBLIC (none); O8_HTTPD_READ / O8_HTTPD_WRITE:
 * "Authorization: Bearer TOKEN" checked against an apitoken set (401 with
 * no or an unknown token, 403 when its role is too low) or, without a
 * bearer token, an operator's client certificate: with tls_trust and
 * cert_auth set, a certificate that verifies against tls_trust is handed
 * to cert_auth, which names the operator (or refuses: 401), and the role
 * is the set's "ROLE NAME cert" line (none: 401; too low: 403).  A bearer
 * token, when sent, decides alone, certificate or not; O8_HTTPD_HMAC:
 * "X-Hub-Signature-256: sha256=HEX", the HMAC-SHA256 of the raw body with
 * the webhook key, compared in constant time (401 when missing or wrong,
 * 403 when no key is set).
 *
 * The library prints nothing: one log callback per finished request
 * (method, path without the query, status, duration; never a header value
 * or a body) and a note callback for the server's own diagnostics.
 *
 * Ownership: the route table, the token set and the loop are borrowed and
 * must outlive the server; everything else in the options is copied.
 */
#ifndef O8_HTTPD_H
#define O8_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "proto/apitoken.h"
#include "util/err.h"

struct uv_loop_s;               /* uv_loop_t */
struct json_t;                  /* jansson's json_t */

struct o8_httpd;
struct o8_httpd_req;

enum o8_httpd_auth {
	O8_HTTPD_PUBLIC = 0,
	O8_HTTPD_READ,          /* a token with role read or write */
	O8_HTTPD_WRITE,         /* a token with role write */
	O8_HTTPD_HMAC,          /* X-Hub-Signature-256 over the body */
};

/*
 * Called once the whole body is in; must call one o8_httpd_reply_* (a
 * second reply is ignored).  req is valid only during the call.
 */
typedef void o8_httpd_handler(struct o8_httpd_req *req, void *payload);

struct o8_httpd_route {
	const char *method;     /* "GET", "POST", ... */
	const char *pattern;    /* "/v1/gateways/{network}/{name}" */
	enum o8_httpd_auth auth;
	o8_httpd_handler *fn;
};

/* One finished request, for the owner's access log. */
struct o8_httpd_log {
	const char *method;
	const char *path;       /* without the query string */
	unsigned status;        /* 0: the client went away before a reply */
	double ms;              /* from the headers to the end of the reply */
	const char *peer;       /* "192.0.2.7:51234" or "[2001:db8::1]:51234" */
	const char *token_name; /* the bearer token's or the operator
				   certificate's name, or NULL */
};

struct o8_httpd_opts {
	const char *listen;             /* "HOST:PORT" (see o8_httpd_parse_addr) */
	const char *tls_cert;           /* PEM file; with tls_key: HTTPS */
	const char *tls_key;            /* PEM file */
	const char *tls_trust;          /* CA PEM file: a client certificate is
					   requested (never required) and
					   o8_httpd_req_peer_cert gives it once
					   it verifies against this CA; NULL:
					   none requested */
	size_t max_body;                /* 0: 1 MiB */
	unsigned max_connections;       /* 0: 1000 */
	unsigned timeout_s;             /* idle connection timeout; 0: 30 */
	const struct o8_httpd_route *routes;
	size_t nroutes;
	struct o8_apitoken_set *tokens; /* NULL: every READ/WRITE route is 401;
					   refreshed before each check */
	/*
	 * With tls_trust: who an operator's client certificate (DER, already
	 * verified against tls_trust) belongs to.  Returns true with *name a
	 * malloc'd operator name (the server frees it), or false to refuse
	 * (the owner checks revocation and the subject, e.g. with
	 * o8_pki_trust_verify_operator, and logs why).  Runs on the loop
	 * thread, for READ/WRITE routes without a bearer token.  NULL:
	 * client certificates authenticate nobody.
	 */
	bool (*cert_auth)(const void *der, size_t len, char **name, void *payload);
	void (*log)(const struct o8_httpd_log *entry, void *payload);
	void (*note)(const char *msg, void *payload);
	void *payload;                  /* for handlers, cert_auth, log, note */
	unsigned max_per_source;        /* from one address; 0: 256, so one
					   client cannot hold the port */
};

#define O8_HTTPD_OPTS_INIT { NULL, NULL, NULL, NULL, 0, 0, 0, NULL, 0, NULL, NULL, NULL, NULL, \
			    NULL, 0 }

/*
 * Parses "HOST:PORT": HOST an IPv4 literal, "[IPv6]" literal or
 * "localhost" (no name lookups: a listener's address is never a surprise),
 * PORT 0-65535 (0: the kernel picks a free one).  out and len (each may
 * be NULL: only check s) receive the address and its size.  O8_EINVALID with the reason.
 */
enum o8_rc o8_httpd_parse_addr(const char *s, struct sockaddr_storage *out,
			       socklen_t *len, struct o8_err *err);

/*
 * Binds, loads the TLS files (an error names the file) and starts serving
 * on loop.  *out belongs to the caller: o8_httpd_free it.
 */
enum o8_rc o8_httpd_start(struct o8_httpd **out, struct uv_loop_s *loop,
			  const struct o8_httpd_opts *o, struct o8_err *err);

/* The port actually bound (the one the kernel picked for port 0). */
unsigned o8_httpd_port(const struct o8_httpd *h);

/* Replaces the token set (borrowed; NULL: no tokens), e.g. after a reload. */
void o8_httpd_set_tokens(struct o8_httpd *h, struct o8_apitoken_set *tokens);

/* Sets the HMAC key of O8_HTTPD_HMAC routes (copied; len 0: none). */
enum o8_rc o8_httpd_set_hmac_key(struct o8_httpd *h, const void *key, size_t len,
				 struct o8_err *err);

/*
 * Stops: the uv handles are closed first (so nothing polls MHD's epoll fd
 * once it is gone), then MHD stops, closing every connection (the log
 * callback sees the unfinished ones with status 0).  The memory is
 * released by the handles' close callbacks, so the loop must run once
 * more (uv_run) after this call.  NULL is a no-op.
 */
void o8_httpd_free(struct o8_httpd *h);

/* --- inside a handler ---------------------------------------------------- */

const char *o8_httpd_req_method(const struct o8_httpd_req *req);
const char *o8_httpd_req_path(const struct o8_httpd_req *req);

/* The segment matched by {name} in the route's pattern, or NULL. */
const char *o8_httpd_req_param(const struct o8_httpd_req *req, const char *name);

/* A query argument ("?network=lab"), or NULL. */
const char *o8_httpd_req_query(const struct o8_httpd_req *req, const char *key);

/* A request header (case-insensitive name), or NULL. */
const char *o8_httpd_req_header(const struct o8_httpd_req *req, const char *name);

/* The raw body, NUL-terminated (*len excludes the NUL); "" when none. */
const char *o8_httpd_req_body(const struct o8_httpd_req *req, size_t *len);

/*
 * The caller's role (NONE on public and HMAC routes) and the name of its
 * bearer token or operator certificate (or NULL).
 */
enum o8_apitoken_role o8_httpd_req_role(const struct o8_httpd_req *req);
const char *o8_httpd_req_token_name(const struct o8_httpd_req *req);

/* "ADDR:PORT" of the client. */
const char *o8_httpd_req_peer(const struct o8_httpd_req *req);

/*
 * The client's certificate (DER) when it sent one that verifies against
 * tls_trust (chain, signature, validity), else NULL.  Revocation and
 * identity are the owner's to check (o8_pki_trust_verify, or cert_auth).
 */
const void *o8_httpd_req_peer_cert(struct o8_httpd_req *req, size_t *len);

/* Replies with body (compact JSON + "\n"); takes the reference to body. */
void o8_httpd_reply_json(struct o8_httpd_req *req, unsigned status, struct json_t *body);

/* Replies with text (copied) as content_type. */
void o8_httpd_reply_text(struct o8_httpd_req *req, unsigned status,
			 const char *content_type, const char *text);

/* Replies {"error": "<formatted message>"}. */
void o8_httpd_reply_error(struct o8_httpd_req *req, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
