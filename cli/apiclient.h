/*
 * apiclient.h - the CLI's client of syncd's HTTP API (status, diff,
 * refresh): where syncd is, how to authenticate, one request at a time.
 *
 * Where and how, each setting from the first place that has it:
 *
 *   setting      option          environment     .orc8r/config.yaml
 *   server       --server URL    ORC8R_SERVER    server
 *   CA file      --ca FILE       ORC8R_CA        ca
 *   token        --token-file F  ORC8R_TOKEN     token_file
 *                                (the token itself)
 *   client cert  --cert/--key                    cert, key
 *
 * The config file is the repository's: <root>/.orc8r/config.yaml, where
 * root is the work tree of the git repository containing opts->dir (or
 * opts->dir itself outside git).  Relative paths in it are relative to
 * root; relative paths given as options are relative to the current
 * directory.  A missing file is fine; a malformed one is an error at
 * .orc8r/config.yaml:LINE:COL.  Keys other than ours are left to whoever
 * owns them, except near-misses of ours ("tokenfile"), which are errors.
 * A client certificate replaces the token: giving both is an error.
 *
 * Transport: https (TLS 1.2 or later, syncd speaks 1.3) verified against
 * the CA file or, without one, the system's trust store; plain http only
 * to 127.0.0.1, ::1 or localhost (tests), since the token would travel in
 * clear.  One libcurl handle is reused for every call (keep-alive);
 * connect timeout 5 s, total 30 s per call, responses capped at 64 MiB,
 * redirects never followed (the token must not reach another host).
 *
 * Errors name the method, path and syncd's own {"error"} text: 401 and 403
 * "syncd refused the token (...)", no answer "cannot reach syncd at URL:
 * ...".  The token is never part of a message and is wiped from memory by
 * o8_api_free.  libcurl's global set-up happens once per process
 * (pthread_once) and is never undone.  A struct o8_api is used by one
 * thread at a time.
 */
#ifndef O8_APICLIENT_H
#define O8_APICLIENT_H

#include <jansson.h>

#include "util/err.h"

struct o8_api;                  /* opaque */

struct o8_api_opts {
	const char *dir;        /* where the repository is; NULL: "." */
	const char *server;     /* base URL, "https://syncd.example:7445" */
	const char *ca;         /* PEM file of the CA that signed syncd's cert */
	const char *token_file; /* file holding the bearer token */
	const char *cert;       /* PEM client certificate (instead of a token) */
	const char *key;        /* its private key; NULL: in the cert file */
};

#define O8_API_OPTS_INIT { NULL, NULL, NULL, NULL, NULL, NULL }

/*
 * Resolves the settings as above, reads the token and prepares the
 * client; sends nothing.  No server anywhere is O8_EINVALID with a message
 * saying where to put one.  *out is the caller's (o8_api_free); NULL on
 * error.
 */
enum o8_rc o8_api_new(struct o8_api **out, const struct o8_api_opts *o,
		      struct o8_err *err);

/* Wipes the token and releases c; NULL is a no-op. */
void o8_api_free(struct o8_api *c);

/* The base URL, without a trailing slash (borrowed). */
const char *o8_api_server(const struct o8_api *c);

/*
 * How the client authenticates, for messages: "the token in ORC8R_TOKEN",
 * "the token in 'FILE'", "the client certificate 'FILE'" or "no
 * credentials" (borrowed; never the secret).
 */
const char *o8_api_credentials(const struct o8_api *c);

/*
 * GET path (absolute, "/v1/status?network=lab") -> *out, the parsed JSON
 * of a 2xx answer, the caller's (json_decref).  404 is O8_ENOTFOUND, a
 * response over the cap O8_ELIMIT, anything else O8_ERR.
 */
enum o8_rc o8_api_get(struct o8_api *c, const char *path, json_t **out,
		      struct o8_err *err);

/* POST body (NULL: an empty object) to path; out may be NULL. */
enum o8_rc o8_api_post(struct o8_api *c, const char *path, const json_t *body,
		       json_t **out, struct o8_err *err);

/* HTTP status of the last call's answer; 0 when none came. */
long o8_api_status(const struct o8_api *c);

/* s percent-encoded for one path segment or query value; malloc'd, NULL
 * when out of memory. */
char *o8_api_escape(struct o8_api *c, const char *s);

#endif
