/*
 * http.h - the one libcurl client of orc8r (the CLI's API client and PR
 * comments, agwd's enrolment): named timeouts, TLS with verification always
 * on, a capped response body, the HTTP status, and libcurl's own words for
 * a transport failure.
 *
 * libcurl's global init runs once, the first time o8_http_new is called
 * (pthread_once): curl_global_init must not race with other threads' use
 * of libcurl, and programs that call it in main are unaffected (it counts).
 */
#ifndef O8_HTTP_H
#define O8_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct o8_http_opts {
	long connect_ms;                /* TCP + TLS handshake */
	long total_ms;                  /* the whole request */
	long low_speed_bytes;           /* abort when slower than this (bytes/s) */
	long low_speed_s;               /* ... for this long; 0: never */
	size_t body_cap;                /* response bytes kept at most */
	const char *protocols;          /* "https", or "http,https" (tests) */
	bool tls13;                     /* TLS 1.3 at least; else 1.2 */
	bool decode;                    /* Accept-Encoding: what libcurl decodes */
	const char *user_agent;         /* NULL: no User-Agent header */
	const char *ca_file;            /* NULL: the system's CAs */
	const char *cert_file;          /* client certificate; NULL: none */
	const char *key_file;           /* its key; NULL: in cert_file */
};

#define O8_HTTP_OPTS_INIT { 10000, 60000, 1, 30, 1u << 20, "https", false, \
			    false, NULL, NULL, NULL, NULL }

/* The answer to one request; o8_http_resp_done frees it. */
struct o8_http_resp {
	long status;                    /* 0: no HTTP answer */
	char *body;                     /* NUL-terminated; NULL when empty */
	size_t len;
	bool over_cap;                  /* the body was larger than body_cap */
	int curl_code;                  /* CURLcode; 0 on success */
	char curl_msg[256];             /* libcurl's words for curl_code */
};

#define O8_HTTP_RESP_INIT { 0, NULL, 0, false, 0, "" }

struct o8_http;

/* *out is owned: o8_http_free.  Strings of o are copied. */
enum o8_rc o8_http_new(struct o8_http **out, const struct o8_http_opts *o,
		       struct o8_err *err);
/* Wipes the headers (they may hold a token).  NULL is a no-op. */
void o8_http_free(struct o8_http *h);

/* A header line ("Name: value") sent with every request; copied. */
enum o8_rc o8_http_header(struct o8_http *h, const char *line, struct o8_err *err);

/*
 * method url: GET without body, else method with body (len bytes), plus
 * the extra header lines of this request (NULL, or NULL-terminated).
 * Connections are kept across requests.
 *
 * O8_OK when an HTTP answer arrived, whatever its status (resp->status);
 * O8_ELIMIT when the body passed body_cap (resp->over_cap; status kept);
 * O8_ERR on a transport failure: err and resp->curl_msg hold libcurl's
 * message, resp->curl_code its code.  resp is filled in every case.
 */
enum o8_rc o8_http_request(struct o8_http *h, const char *method, const char *url,
			   const char *body, size_t len, const char *const *headers,
			   struct o8_http_resp *resp, struct o8_err *err);

void o8_http_resp_done(struct o8_http_resp *r);

/* s percent-encoded for a URL path segment; malloc'd, NULL: no memory. */
char *o8_http_escape(struct o8_http *h, const char *s);

/* "cannot initialise libcurl: ..." when the global init failed, else 0. */
enum o8_rc o8_http_global_init(struct o8_err *err);

#endif
