/*
 * httpd.c - libmicrohttpd inside a libuv loop: routing, auth, bodies, replies.
 *
 * MHD calls on_access several times per request: once when the headers are
 * in (route, auth and Content-Length are decided there, so a request that
 * will be refused is answered before its body is read), once per piece of
 * body, and once more with no data when the body is complete (the handler
 * runs then).  A handler's reply is only built into req->resp; it is
 * queued when the handler returns, at a point where MHD accepts it.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <nettle/base16.h>
#include <uv.h>

#include "util/fileio.h"

#define BODY_DEFAULT (1u << 20)
#define CONN_DEFAULT 1000u
/* above agwd's 128 enrolment threads (agwd --simulate, from one host) */
#define PER_SOURCE_DEFAULT 256u
#define TIMEOUT_DEFAULT 30u
#define SEGS_MAX 16
#define DIGEST_BYTES 32
#define SIG_PREFIX "sha256="
/* TLS 1.3 only, as on the AGW port: 1.2 brought CBC-SHA1 suites along,
 * and the clients of these ports (orc8r's and agwd's libcurl) speak 1.3. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"

struct o8_httpd {
	struct MHD_Daemon *d;
	uv_poll_t poll;                 /* MHD's epoll fd */
	uv_timer_t timer;               /* MHD's next timeout */
	int open_handles;               /* close callbacks still to come */
	struct o8_httpd_opts o;         /* the string members are not kept */
	gnutls_datum_t cert, key, trust;        /* PEM text handed to MHD */
	uint8_t *hmac;
	size_t hmac_len;
	unsigned port;
	bool tokens_failing;            /* a refresh failed (noted once) */
	unsigned zero_runs;             /* MHD timeouts of 0 in a row (drive) */
	char mhd_msg[256];              /* MHD's last diagnostic, for start errors */
};

struct o8_httpd_req {
	struct o8_httpd *h;
	struct MHD_Connection *conn;
	const struct o8_httpd_route *route;
	char method[16];
	char *path;
	char *segbuf;                   /* copy of path split at '/' */
	const char *seg[SEGS_MAX];
	size_t nseg;
	char *body;
	size_t len, cap;
	bool too_big, queued;
	enum o8_apitoken_role role;
	char token_name[O8_APITOKEN_NAME_MAX + 1];
	struct MHD_Response *resp;
	unsigned status;
	uint64_t t0;                    /* uv_hrtime() at the headers */
	char peer[INET6_ADDRSTRLEN + 16];
	uint8_t *cert;
	size_t cert_len;
	bool cert_done;
};

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static void note(struct o8_httpd *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void on_timer(uv_timer_t *t);

static void note(struct o8_httpd *h, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!h->o.note)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->o.note(msg, h->o.payload);
}

/* --- addresses ----------------------------------------------------------- */

enum o8_rc o8_httpd_parse_addr(const char *s, struct sockaddr_storage *out,
			       socklen_t *len, struct o8_err *err)
{
	struct sockaddr_storage scratch;
	struct addrinfo hints = { 0 }, *ai = NULL;
	const char *colon = s ? strrchr(s, ':') : NULL, *port;
	char host[64];
	size_t hlen;
	bool bracketed;
	char *end;
	unsigned long p;

	if (!colon || colon == s)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is not HOST:PORT (e.g. 127.0.0.1:7445 or [::1]:7445)",
				  s ? s : "");
	port = colon + 1;
	p = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || *end || p > 65535)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s': the port must be a number from 0 to 65535", s);
	hlen = (size_t)(colon - s);
	bracketed = s[0] == '[' && colon[-1] == ']';
	if (hlen >= sizeof(host) + 2 * bracketed)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "'%s': host too long", s);
	memcpy(host, s + bracketed, hlen - 2 * bracketed);
	host[hlen - 2 * bracketed] = '\0';
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	/* IPv6 only in brackets: "::1:80" reads both ways */
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai ||
	    ai->ai_addrlen > sizeof(*out) || bracketed != (ai->ai_family == AF_INET6)) {
		if (ai)
			freeaddrinfo(ai);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s': the host must be an IP address (IPv6 in brackets) "
				  "or localhost", host);
	}
	if (!out)
		out = &scratch;
	memset(out, 0, sizeof(*out));
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	if (len)
		*len = (socklen_t)ai->ai_addrlen;
	freeaddrinfo(ai);
	return O8_OK;
}

static void format_peer(char *out, size_t n, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN], serv[8];
	socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							 : sizeof(struct sockaddr_in);

	if (!sa || getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			       NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, n, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(out, n, "[%s]:%s", host, serv);
	else
		snprintf(out, n, "%s:%s", host, serv);
}

/* --- replies ------------------------------------------------------------- */

/* Takes buf (malloc'd, len bytes) as the reply unless one is already set. */
static void set_reply(struct o8_httpd_req *req, unsigned status, char *buf, size_t len,
		      const char *content_type)
{
	struct MHD_Response *r;

	if (req->resp || req->queued) {
		free(buf);
		return;
	}
	r = buf ? MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE) : NULL;
	if (!r) {
		free(buf);
		return;         /* queue_reply turns a missing reply into a 500 */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	req->resp = r;
	req->status = status;
}

void o8_httpd_reply_json(struct o8_httpd_req *req, unsigned status, struct json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *buf = NULL;
	size_t len = 0;

	if (text && asprintf(&buf, "%s\n", text) >= 0)
		len = strlen(buf);
	else
		buf = NULL;
	free(text);
	json_decref(body);
	set_reply(req, status, buf, len, "application/json");
}

void o8_httpd_reply_text(struct o8_httpd_req *req, unsigned status,
			 const char *content_type, const char *text)
{
	char *buf = strdup(text ? text : "");

	set_reply(req, status, buf, buf ? strlen(buf) : 0, content_type);
}

static void reply_verror(struct o8_httpd_req *req, unsigned status, const char *fmt,
			 va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	o8_httpd_reply_json(req, status, json_pack("{s:s}", "error", msg));
}

void o8_httpd_reply_error(struct o8_httpd_req *req, unsigned status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_verror(req, status, fmt, ap);
	va_end(ap);
}

static enum MHD_Result queue_reply(struct o8_httpd_req *req)
{
	enum MHD_Result r;

	if (!req->resp)
		o8_httpd_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
				     "internal error: no reply to %s %s", req->method, req->path);
	if (!req->resp)
		return MHD_NO;  /* out of memory: drop the connection */
	r = MHD_queue_response(req->conn, req->status, req->resp);
	MHD_destroy_response(req->resp);
	req->resp = NULL;
	req->queued = true;
	return r;
}

/* --- routing ------------------------------------------------------------- */

/* Splits the copy of the path at '/'; false when it has too many segments. */
static bool split_path(struct o8_httpd_req *req)
{
	char *p = req->segbuf + 1, *slash;

	req->nseg = 0;
	for (;;) {
		if (req->nseg == SEGS_MAX)
			return false;
		req->seg[req->nseg++] = p;
		if (!(slash = strchr(p, '/')))
			return true;
		*slash = '\0';
		p = slash + 1;
	}
}

static bool is_param(const char *p, size_t l)
{
	return l >= 3 && p[0] == '{' && p[l - 1] == '}';
}

/*
 * Walks pattern against the path's segments.  With name, returns the
 * segment under {name} (or NULL); without, returns non-NULL on a match.
 */
static const char *walk(const struct o8_httpd_req *req, const char *pattern,
			const char *name)
{
	const char *p = pattern + 1;
	size_t i, l;

	for (i = 0;; i++) {
		l = strcspn(p, "/");
		if (i == req->nseg)
			return NULL;
		if (is_param(p, l)) {
			if (!req->seg[i][0])
				return NULL;
			if (name && strlen(name) == l - 2 && !strncmp(p + 1, name, l - 2))
				return req->seg[i];
		} else if (strlen(req->seg[i]) != l || strncmp(req->seg[i], p, l)) {
			return NULL;
		}
		if (!p[l])
			break;
		p += l + 1;
	}
	return i + 1 == req->nseg && !name ? req->seg[0] : NULL;
}

static bool method_is(const char *route_method, const char *method)
{
	return !strcmp(route_method, method) ||
	       (!strcmp(method, "HEAD") && !strcmp(route_method, "GET"));
}

/*
 * The route for the request; NULL with allow[] listing the methods of the
 * path when only the method is wrong (405), with allow[0] == '\0' when no
 * pattern matches (404).
 */
static const struct o8_httpd_route *route_find(const struct o8_httpd_req *req,
					       char *allow, size_t n)
{
	const struct o8_httpd *h = req->h;
	size_t i;

	allow[0] = '\0';
	for (i = 0; i < h->o.nroutes; i++) {
		const struct o8_httpd_route *r = &h->o.routes[i];

		if (!walk(req, r->pattern, NULL))
			continue;
		if (method_is(r->method, req->method))
			return r;
		if (!strstr(allow, r->method))
			snprintf(allow + strlen(allow), n - strlen(allow), "%s%s",
				 allow[0] ? ", " : "", r->method);
	}
	return NULL;
}

/* --- auth ---------------------------------------------------------------- */

static const char *header(const struct o8_httpd_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static void refresh_tokens(struct o8_httpd *h)
{
	struct o8_err err = O8_ERR_INIT;

	if (o8_apitoken_refresh(h->o.tokens, &err) == O8_OK) {
		h->tokens_failing = false;
		return;
	}
	/* Once per failure, not once per request. */
	if (!h->tokens_failing)
		note(h, "api tokens refused until fixed: %s%s%s", err.path,
		     err.path[0] ? ": " : "", err.msg);
	h->tokens_failing = true;
}

/* Records who is calling; 0 when role is enough for need, else 403 (reply set). */
static unsigned grant(struct o8_httpd_req *req, enum o8_httpd_auth need, const char *kind,
		      const char *name, enum o8_apitoken_role role)
{
	req->role = role;
	snprintf(req->token_name, sizeof(req->token_name), "%s", name);
	if ((need == O8_HTTPD_WRITE && role < O8_APITOKEN_WRITE) ||
	    (need == O8_HTTPD_READ && role < O8_APITOKEN_READ)) {
		o8_httpd_reply_error(req, MHD_HTTP_FORBIDDEN,
				     "%s '%s' has role %s; %s %s needs %s", kind, name,
				     o8_apitoken_role_name(role), req->method, req->path,
				     need == O8_HTTPD_WRITE ? "write" : "read");
		return MHD_HTTP_FORBIDDEN;
	}
	return 0;
}

static unsigned unauthorized(struct o8_httpd_req *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static unsigned unauthorized(struct o8_httpd_req *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_verror(req, MHD_HTTP_UNAUTHORIZED, fmt, ap);
	va_end(ap);
	return MHD_HTTP_UNAUTHORIZED;
}

/* v: what follows "Bearer " in the Authorization header. */
static unsigned check_token(struct o8_httpd_req *req, enum o8_httpd_auth need, const char *v)
{
	enum o8_apitoken_role role = O8_APITOKEN_NONE;
	const char *name = NULL;

	while (*v == ' ')
		v++;
	if (!o8_apitoken_check(req->h->o.tokens, v, &role, &name))
		return unauthorized(req, "unknown API token");
	return grant(req, need, "token", name, role);
}

/* An operator's certificate, verified by MHD against tls_trust, then by the owner. */
static unsigned check_cert(struct o8_httpd_req *req, enum o8_httpd_auth need,
			   const void *der, size_t len)
{
	enum o8_apitoken_role role = O8_APITOKEN_NONE;
	char *name = NULL;
	unsigned st;

	if (!req->h->o.cert_auth(der, len, &name, req->h->o.payload) || !name) {
		free(name);
		return unauthorized(req, "client certificate refused");
	}
	if (!o8_apitoken_check_cert(req->h->o.tokens, name, &role))
		st = unauthorized(req, "certificate '%s' has no role: no 'ROLE NAME cert' "
				  "line for it in syncd's API tokens file", name);
	else
		st = grant(req, need, "certificate", name, role);
	free(name);
	return st;
}

/* Auth for READ/WRITE routes: 0 when allowed, else the status to send. */
static unsigned check_auth(struct o8_httpd_req *req, enum o8_httpd_auth need)
{
	const char *v = header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	const void *der = NULL;
	size_t len = 0;

	if (req->h->o.tokens)
		refresh_tokens(req->h);
	if (v && !strncasecmp(v, "Bearer ", 7))
		return check_token(req, need, v + 7);
	if (req->h->o.cert_auth && (der = o8_httpd_req_peer_cert(req, &len)))
		return check_cert(req, need, der, len);
	return unauthorized(req, "authentication required: send 'Authorization: Bearer "
			    "TOKEN' (see 'orc8r pki api-token')%s",
			    req->h->o.cert_auth ? " or an operator's client certificate "
						  "(see 'orc8r pki api-cert')" : "");
}

/* HMAC auth (GitHub's webhook signature): 0 when it verifies, else the status sent. */
static unsigned check_hmac(struct o8_httpd_req *req)
{
	const char *sig = header(req, "X-Hub-Signature-256");
	uint8_t want[DIGEST_BYTES], got[DIGEST_BYTES];
	const size_t plen = sizeof(SIG_PREFIX) - 1;
	struct base16_decode_ctx hex;
	size_t n = sizeof(want);
	bool ok;

	if (!req->h->hmac_len) {
		o8_httpd_reply_error(req, MHD_HTTP_FORBIDDEN,
				     "webhooks are off: syncd has no webhook_secret_file");
		return MHD_HTTP_FORBIDDEN;
	}
	base16_decode_init(&hex);
	ok = sig && !strncmp(sig, SIG_PREFIX, plen) && strlen(sig + plen) == 2 * sizeof(want) &&
	     base16_decode_update(&hex, &n, want, 2 * sizeof(want), sig + plen) &&
	     base16_decode_final(&hex) && n == sizeof(want) &&
	     gnutls_hmac_fast(GNUTLS_MAC_SHA256, req->h->hmac, req->h->hmac_len,
			      req->body, req->len, got) == 0 &&
	     gnutls_memcmp(got, want, sizeof(want)) == 0;
	if (ok)
		return 0;
	o8_httpd_reply_error(req, MHD_HTTP_UNAUTHORIZED,
			     sig ? "X-Hub-Signature-256 does not match the body"
				 : "missing X-Hub-Signature-256");
	return MHD_HTTP_UNAUTHORIZED;
}

/* --- requests ------------------------------------------------------------ */

static void req_free(struct o8_httpd_req *req)
{
	if (!req)
		return;
	if (req->resp)
		MHD_destroy_response(req->resp);
	free(req->path);
	free(req->segbuf);
	free(req->body);
	free(req->cert);
	free(req);
}

static struct o8_httpd_req *req_new(struct o8_httpd *h, struct MHD_Connection *c,
				    const char *url, const char *method)
{
	struct o8_httpd_req *req = calloc(1, sizeof(*req));
	const union MHD_ConnectionInfo *ci;

	if (!req)
		return NULL;
	req->h = h;
	req->conn = c;
	req->t0 = uv_hrtime();
	snprintf(req->method, sizeof(req->method), "%s", method);
	if (!(req->path = strdup(url && url[0] == '/' ? url : "/")) ||
	    !(req->segbuf = strdup(req->path)) || !(req->body = malloc(1))) {
		req_free(req);
		return NULL;
	}
	req->body[0] = '\0';
	req->cap = 1;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	format_peer(req->peer, sizeof(req->peer), ci ? ci->client_addr : NULL);
	return req;
}

/*
 * A path (as MHD gives it, %-escapes decoded) with control characters or
 * bytes that are not UTF-8 names nothing here; it is answered 400 before
 * anything echoes it (jansson, rightly, will not hold it in a reply).
 */
static bool path_ok(const char *path)
{
	json_t *j;

	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	if (!(j = json_string(path)))
		return false;
	json_decref(j);
	return true;
}

/* At the headers: true when a reply (an error) is already decided. */
static bool begin(struct o8_httpd_req *req)
{
	const char *cl = header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char allow[128] = "";
	struct MHD_Response *r;

	if (!path_ok(req->path)) {
		o8_httpd_reply_error(req, MHD_HTTP_BAD_REQUEST, "request path with "
				     "control characters or not UTF-8");
		return true;
	}
	if (!split_path(req) || !(req->route = route_find(req, allow, sizeof(allow)))) {
		if (allow[0]) {
			o8_httpd_reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
					     "%s is not allowed on %s (allowed: %s)",
					     req->method, req->path, allow);
			if ((r = req->resp))
				MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
		} else {
			o8_httpd_reply_error(req, MHD_HTTP_NOT_FOUND, "no such path: %s",
					     req->path);
		}
		return true;
	}
	if ((req->route->auth == O8_HTTPD_READ || req->route->auth == O8_HTTPD_WRITE) &&
	    check_auth(req, req->route->auth)) {
		if (req->status == MHD_HTTP_UNAUTHORIZED && (r = req->resp))
			MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						"Bearer realm=\"orc8r\"");
		return true;
	}
	if (cl && strtoull(cl, NULL, 10) > req->h->o.max_body) {
		o8_httpd_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
				     "request body larger than %zu bytes", req->h->o.max_body);
		return true;
	}
	return false;
}

/* A piece of the body; past max_body it is dropped and the request ends in 413. */
static void take_body(struct o8_httpd_req *req, const char *data, size_t n)
{
	size_t max = req->h->o.max_body, cap;
	char *b;

	if (req->too_big || n > max - req->len) {
		req->too_big = true;
		return;
	}
	if (req->len + n + 1 > req->cap) {
		cap = req->cap;
		while (cap < req->len + n + 1)
			cap = cap > max / 2 ? max + 1 : 2 * cap;
		if (!(b = realloc(req->body, cap))) {
			req->too_big = true;    /* answered 413; memory is short anyway */
			return;
		}
		req->body = b;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	req->body[req->len] = '\0';
}

static void finish(struct o8_httpd_req *req)
{
	if (req->too_big) {
		o8_httpd_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
				     "request body larger than %zu bytes", req->h->o.max_body);
		return;
	}
	if (req->route->auth == O8_HTTPD_HMAC && check_hmac(req))
		return;
	req->route->fn(req, req->h->o.payload);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version,
				 const char *data, size_t *size, void **con_cls)
{
	struct o8_httpd_req *req = *con_cls;

	(void)version;
	if (!req) {
		if (!(req = req_new(cls, c, url, method)))
			return MHD_NO;
		*con_cls = req;
		return begin(req) ? queue_reply(req) : MHD_YES;
	}
	if (*size) {
		if (!req->queued)
			take_body(req, data, *size);
		*size = 0;
		return MHD_YES;
	}
	if (req->queued)
		return MHD_YES;
	finish(req);
	return queue_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct o8_httpd *h = cls;
	struct o8_httpd_req *req = *con_cls;
	struct o8_httpd_log e;

	(void)c;
	(void)why;
	if (!req)
		return;
	if (h->o.log) {
		e.method = req->method;
		e.path = req->path;
		e.status = req->queued ? req->status : 0;
		e.ms = (double)(uv_hrtime() - req->t0) / 1e6;
		e.peer = req->peer;
		e.token_name = req->token_name[0] ? req->token_name : NULL;
		h->o.log(&e, h->o.payload);
	}
	req_free(req);
	*con_cls = NULL;
}

/* --- request getters ----------------------------------------------------- */

const char *o8_httpd_req_method(const struct o8_httpd_req *req)
{
	return req->method;
}

const char *o8_httpd_req_path(const struct o8_httpd_req *req)
{
	return req->path;
}

const char *o8_httpd_req_param(const struct o8_httpd_req *req, const char *name)
{
	return req->route && name ? walk(req, req->route->pattern, name) : NULL;
}

const char *o8_httpd_req_query(const struct o8_httpd_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *o8_httpd_req_header(const struct o8_httpd_req *req, const char *name)
{
	return header(req, name);
}

const char *o8_httpd_req_body(const struct o8_httpd_req *req, size_t *len)
{
	if (len)
		*len = req->len;
	return req->body;
}

enum o8_apitoken_role o8_httpd_req_role(const struct o8_httpd_req *req)
{
	return req->role;
}

const char *o8_httpd_req_token_name(const struct o8_httpd_req *req)
{
	return req->token_name[0] ? req->token_name : NULL;
}

const char *o8_httpd_req_peer(const struct o8_httpd_req *req)
{
	return req->peer;
}

/* The first certificate the client sent, when GnuTLS verifies it against the trust. */
static void fetch_peer_cert(struct o8_httpd_req *req)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *list;
	gnutls_session_t s;
	unsigned status = 0, n = 0;

	if (!req->h->trust.data ||
	    !(ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) ||
	    !(s = ci->tls_session))
		return;
	if (gnutls_certificate_verify_peers2(s, &status) < 0 || status)
		return;
	if (!(list = gnutls_certificate_get_peers(s, &n)) || !n || !list[0].size)
		return;
	if ((req->cert = malloc(list[0].size))) {
		memcpy(req->cert, list[0].data, list[0].size);
		req->cert_len = list[0].size;
	}
}

const void *o8_httpd_req_peer_cert(struct o8_httpd_req *req, size_t *len)
{
	if (!req->cert_done) {
		req->cert_done = true;
		fetch_peer_cert(req);
	}
	if (len)
		*len = req->cert_len;
	return req->cert;
}

/* --- the loop ------------------------------------------------------------ */

/*
 * Lets MHD do what is ready, then arms the timer for what it waits on.
 * MHD answers 0 when TLS holds buffered data epoll cannot see: run again
 * next turn.  But it answers 0 for as long as a TLS handshake sits
 * incomplete too (11 bytes of a ClientHello, then silence: MHD 0.9.75),
 * which spun the loop at 100% CPU.  So zeros with no new bytes on any
 * socket in between (on_poll resets the count) back off, up to
 * ZERO_WAIT_MAX_MS: draining buffered data takes a few runs, and a silent
 * peer then costs a run every few milliseconds, not a core.
 */
#define ZERO_RUNS_FREE 4
#define ZERO_WAIT_MAX_MS 8u

static void drive(struct o8_httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	unsigned over;

	MHD_run(h->d);
	if (MHD_get_timeout(h->d, &ms) != MHD_YES) {
		uv_timer_stop(&h->timer);
		return;
	}
	if (ms) {
		h->zero_runs = 0;
	} else if (++h->zero_runs > ZERO_RUNS_FREE) {
		over = h->zero_runs - ZERO_RUNS_FREE;
		ms = over >= 4 ? ZERO_WAIT_MAX_MS : 1u << (over - 1);
	}
	uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0);
}

static void on_timer(uv_timer_t *t)
{
	drive(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct o8_httpd *h = p->data;

	(void)status;   /* an error on the epoll fd itself: MHD_run finds out */
	(void)events;
	h->zero_runs = 0;       /* new bytes: whatever waits may progress */
	drive(h);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct o8_httpd *h = cls;
	size_t n;

	vsnprintf(h->mhd_msg, sizeof(h->mhd_msg), fmt, ap);
	n = strlen(h->mhd_msg);
	while (n && (h->mhd_msg[n - 1] == '\n' || h->mhd_msg[n - 1] == '.'))
		h->mhd_msg[--n] = '\0';
	note(h, "%s", h->mhd_msg);
}

/* --- start and stop ------------------------------------------------------ */

static void release(struct o8_httpd *h)
{
	if (h->key.data)
		explicit_bzero(h->key.data, h->key.size);
	gnutls_free(h->key.data);
	gnutls_free(h->cert.data);
	gnutls_free(h->trust.data);
	if (h->hmac)
		explicit_bzero(h->hmac, h->hmac_len);
	free(h->hmac);
	free(h);
}

static void on_closed(uv_handle_t *handle)
{
	struct o8_httpd *h = handle->data;

	if (--h->open_handles == 0)
		release(h);
}

void o8_httpd_free(struct o8_httpd *h)
{
	if (!h)
		return;
	/* Handles first: uv_close stops polling MHD's epoll fd at once, before
	   MHD_stop_daemon closes that fd (and its number can be reused). */
	uv_close((uv_handle_t *)&h->poll, on_closed);
	uv_close((uv_handle_t *)&h->timer, on_closed);
	MHD_stop_daemon(h->d);
	h->d = NULL;
}

/* Loads a PEM file for MHD, NUL-terminated as MHD wants it. */
/*
 * Reads a PEM file for MHD.  A key's mode comes from the descriptor its
 * bytes are read from, and one readable by group or others is refused, as
 * ssh refuses one: it may already have leaked.
 */
static enum o8_rc load_pem(gnutls_datum_t *out, const char *path, const char *what,
			   struct o8_err *err)
{
	struct o8_fileio_info info = { 0 };
	char *d = NULL, *s;
	size_t len = 0;
	enum o8_rc rc;

	rc = o8_fileio_read_at(AT_FDCWD, path, 0, &d, &len, &info, NULL, NULL);
	if (rc)
		return o8_err_set(err, rc == O8_ENOTFOUND ? O8_ENOTFOUND : O8_ERR, NULL,
				  0, 0, "cannot read the TLS %s '%s': %s", what, path,
				  info.errnum ? strerror(info.errnum) : "read error");
	if (!strcmp(what, "key") && (info.mode & 077)) {
		explicit_bzero(d, len);
		free(d);
		return o8_err_set(err, O8_EINVALID, path, 0, 0, "private key '%s' is "
				  "accessible by others (mode %04o): run 'chmod 600 %s'",
				  path, (unsigned)info.mode, path);
	}
	if (!(s = gnutls_malloc(len + 1))) {
		explicit_bzero(d, len);
		free(d);
		return oom(err);
	}
	memcpy(s, d, len);
	s[len] = '\0';
	explicit_bzero(d, len);
	free(d);
	out->data = (unsigned char *)s;
	out->size = (unsigned)len;
	return O8_OK;
}

static enum o8_rc check_opts(const struct o8_httpd_opts *o, struct o8_err *err)
{
	size_t i;

	if (!o->tls_cert != !o->tls_key)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "HTTPS needs both a certificate and its key");
	if (o->tls_trust && !o->tls_cert)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "client certificates need HTTPS");
	if (o->cert_auth && !o->tls_trust)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "client certificate auth needs a trust CA (tls_trust)");
	for (i = 0; i < o->nroutes; i++)
		if (!o->routes[i].method || !o->routes[i].fn || !o->routes[i].pattern ||
		    o->routes[i].pattern[0] != '/')
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "route %zu: needs a method, a handler and a "
					  "pattern starting with '/'", i);
	return O8_OK;
}

static enum o8_rc load_tls(struct o8_httpd *h, const struct o8_httpd_opts *o,
			   struct o8_err *err)
{
	enum o8_rc rc;

	if (!o->tls_cert)
		return O8_OK;
	if ((rc = load_pem(&h->cert, o->tls_cert, "certificate", err)) ||
	    (rc = load_pem(&h->key, o->tls_key, "key", err)))
		return rc;
	return o->tls_trust ? load_pem(&h->trust, o->tls_trust, "trust CA", err) : O8_OK;
}

static struct MHD_Daemon *start_mhd(struct o8_httpd *h, const struct sockaddr_storage *sa)
{
	struct MHD_OptionItem ops[16];
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	size_t n = 0;

#define OPT(opt, v, p) (ops[n++] = (struct MHD_OptionItem){ (opt), (intptr_t)(v), (p) })
	OPT(MHD_OPTION_SOCK_ADDR, 0, (void *)(uintptr_t)sa);
	OPT(MHD_OPTION_CONNECTION_LIMIT, h->o.max_connections, NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->o.max_per_source, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, h->o.timeout_s, NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, h);
	OPT(MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h);
	if (h->cert.data) {
		flags |= MHD_USE_TLS;
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert.data);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, h->key.data);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, TLS_PRIORITIES);
		if (h->trust.data)
			OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, h->trust.data);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	if (sa->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	return MHD_start_daemon(flags, 0, NULL, NULL, on_access, h,
				MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

enum o8_rc o8_httpd_start(struct o8_httpd **out, struct uv_loop_s *loop,
			  const struct o8_httpd_opts *o, struct o8_err *err)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage sa;
	struct o8_httpd *h;
	enum o8_rc rc;
	int r;

	*out = NULL;
	if ((rc = check_opts(o, err)) || (rc = o8_httpd_parse_addr(o->listen, &sa, NULL, err)))
		return rc;
	if (!(h = calloc(1, sizeof(*h))))
		return oom(err);
	h->o = *o;
	h->o.listen = h->o.tls_cert = h->o.tls_key = h->o.tls_trust = NULL;
	if (!h->o.max_body)
		h->o.max_body = BODY_DEFAULT;
	if (!h->o.max_connections)
		h->o.max_connections = CONN_DEFAULT;
	if (!h->o.max_per_source)
		h->o.max_per_source = PER_SOURCE_DEFAULT;
	if (!h->o.timeout_s)
		h->o.timeout_s = TIMEOUT_DEFAULT;
	if ((rc = load_tls(h, o, err)))
		goto fail;
	if (!(h->d = start_mhd(h, &sa)) ||
	    !(info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD))) {
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot listen on '%s': %s",
				o->listen, h->mhd_msg[0] ? h->mhd_msg : "libmicrohttpd failed");
		goto fail;
	}
	if ((r = uv_poll_init(loop, &h->poll, info->epoll_fd)) < 0) {
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot watch '%s': %s", o->listen,
				uv_strerror(r));
		goto fail;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	uv_timer_init(loop, &h->timer);
	h->poll.data = h->timer.data = h;
	h->open_handles = 2;
	if ((r = uv_poll_start(&h->poll, UV_READABLE, on_poll)) < 0) {
		o8_httpd_free(h);       /* released once the loop runs the close callbacks */
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot watch '%s': %s",
				  o->listen, uv_strerror(r));
	}
	drive(h);
	*out = h;
	return O8_OK;
fail:
	if (h->d)
		MHD_stop_daemon(h->d);
	release(h);
	return rc;
}

unsigned o8_httpd_port(const struct o8_httpd *h)
{
	return h->port;
}

void o8_httpd_set_tokens(struct o8_httpd *h, struct o8_apitoken_set *tokens)
{
	h->o.tokens = tokens;
	h->tokens_failing = false;
}

enum o8_rc o8_httpd_set_hmac_key(struct o8_httpd *h, const void *key, size_t len,
				 struct o8_err *err)
{
	uint8_t *k = NULL;

	if (len && !(k = malloc(len)))
		return oom(err);
	if (len)
		memcpy(k, key, len);
	if (h->hmac)
		explicit_bzero(h->hmac, h->hmac_len);
	free(h->hmac);
	h->hmac = k;
	h->hmac_len = len;
	return O8_OK;
}
