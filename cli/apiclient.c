#include "apiclient.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include "util/http.h"

#include "util/fileio.h"
#include "repo/git.h"
#include "repocfg.h"

#ifndef O8_VERSION
#define O8_VERSION "0.0.0"
#endif

/*
 * Limits.  A status of 10,000 gateways is a few MiB of JSON; the cap only
 * stops a broken or hostile server from making us allocate without bound.
 */
enum {
	RESPONSE_CAP = 64 << 20,
	CONFIG_CAP = 1 << 20,           /* .orc8r/config.yaml */
	TOKEN_CAP = 4096,               /* a token file */
	CONNECT_TIMEOUT_S = 5,
	TOTAL_TIMEOUT_S = 30,
	QUOTE_MAX = 200,                /* bytes of syncd's {"error"} we quote */
};

static const char config_rel[] = ".orc8r/config.yaml";

struct o8_api {
	struct o8_http *http;
	char *server;                   /* no trailing slash */
	char *token;                    /* NULL: none; wiped on free */
	char *cred;                     /* o8_api_credentials() */
	long status;
};

/* ---- settings ---- */

enum setting { S_SERVER, S_CA, S_TOKEN_FILE, S_CERT, S_KEY, S__COUNT };

/* One setting; the rows follow enum setting. */
static const struct setting_def {
	enum o8_repocfg_key key;        /* in .orc8r/config.yaml */
	const char *env;                /* NULL: no variable */
	size_t opt;                     /* offset in struct o8_api_opts */
	bool path;                      /* a file: relative to the repository root */
	bool cred;                      /* part of the credential */
} settings[S__COUNT] = {
	{ O8_RCK_SERVER, "ORC8R_SERVER", offsetof(struct o8_api_opts, server), false, false },
	{ O8_RCK_CA, "ORC8R_CA", offsetof(struct o8_api_opts, ca), true, false },
	{ O8_RCK_TOKEN_FILE, NULL, offsetof(struct o8_api_opts, token_file), true, true },
	{ O8_RCK_CERT, NULL, offsetof(struct o8_api_opts, cert), true, true },
	{ O8_RCK_KEY, NULL, offsetof(struct o8_api_opts, key), true, true },
};

/* Where a value came from, so errors about it can point there. */
enum origin { FROM_NONE = 0, FROM_OPTION, FROM_ENV, FROM_CONFIG };

struct value {
	char *s;                        /* malloc'd */
	enum origin from;
	const char *env;                /* FROM_ENV: the variable */
	unsigned line, col;             /* FROM_CONFIG */
};

struct resolved {
	struct value v[S__COUNT];
	char *env_token;                /* ORC8R_TOKEN, when it decides */
	bool cred_decided;              /* by an option or the environment */
};

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static void resolved_done(struct resolved *r)
{
	size_t i;

	for (i = 0; i < S__COUNT; i++)
		free(r->v[i].s);
	free(r->env_token);
}

static enum o8_rc set_value(struct value *v, const char *s, enum origin from,
			    unsigned line, unsigned col, struct o8_err *err)
{
	free(v->s);
	if (!(v->s = strdup(s)))
		return oom(err);
	v->from = from;
	v->env = NULL;
	v->line = line;
	v->col = col;
	return O8_OK;
}

static char *join_root(const char *root, const char *rel)
{
	char *p;

	if (rel[0] == '/' || !root)
		return strdup(rel);
	return asprintf(&p, "%s/%s", root, rel) < 0 ? NULL : p;
}

/* Reads at most cap bytes of path (a pipe too); ENOENT is O8_ENOTFOUND. */
static enum o8_rc slurp(const char *path, size_t cap, char **out, size_t *len,
			struct o8_err *err)
{
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_info in;
	enum o8_rc rc;

	o.max = cap;
	o.streams = true;
	rc = o8_fileio_read_at(AT_FDCWD, path, 0, out, len, &in, &o, NULL);
	if (rc == O8_ELIMIT)
		return o8_err_set(err, rc, NULL, 0, 0,
				  "cannot read '%s': the file is too large", path);
	if (rc && in.errnum == ENOMEM)
		return oom(err);
	if (rc)
		return o8_err_set(err, rc, NULL, 0, 0, "cannot read '%s': %s", path,
				  strerror(in.errnum));
	return O8_OK;
}

/*
 * The root whose .orc8r/config.yaml counts; malloc'd.  Like git looking for
 * .git: the nearest directory from dir upwards that has one, stopping at
 * the git work tree's root (or at dir itself outside git), so both `-C` a
 * subdirectory and an orc8r repository nested in another git tree work.
 */
static char *repo_root(const char *dir)
{
	struct o8_err ignored = O8_ERR_INIT;
	struct o8_git *g = NULL;
	char *top = NULL, *cur = realpath(dir, NULL);
	size_t toplen;

	if (!cur)
		return strdup(dir);
	if (o8_git_open(&g, dir, &ignored) == O8_OK && o8_git_workdir(g))
		top = realpath(o8_git_workdir(g), NULL);
	o8_git_free(g);
	toplen = top ? strlen(top) : 0;
	/* a work tree ends in '/' for libgit2 but not for realpath */
	for (;;) {
		char *probe = join_root(cur, config_rel);
		bool found = probe && access(probe, F_OK) == 0;
		char *slash;

		free(probe);
		if (found || !top || strlen(cur) <= toplen ||
		    strncmp(cur, top, toplen) != 0 || !(slash = strrchr(cur, '/')) ||
		    slash == cur)
			break;
		*slash = '\0';
	}
	if (top && strncmp(cur, top, toplen) != 0) {
		free(cur);      /* dir is not inside the work tree it named */
		cur = top;
		top = NULL;
	}
	free(top);
	return cur;
}

/* A value of the config file, unless an option or the environment decided. */
static enum o8_rc config_value(struct resolved *r, const char *root,
			       const struct o8_repocfg *cfg, size_t i,
			       struct o8_err *err)
{
	const struct o8_repocfg_value *cv = &cfg->v[settings[i].key];
	enum o8_rc rc;
	char *path;

	if (!cv->s || r->v[i].from || (settings[i].cred && r->cred_decided))
		return O8_OK;
	if (!settings[i].path)
		return set_value(&r->v[i], cv->s, FROM_CONFIG, cv->line, cv->col, err);
	if (!(path = join_root(root, cv->s)))
		return oom(err);
	rc = set_value(&r->v[i], path, FROM_CONFIG, cv->line, cv->col, err);
	free(path);
	return rc;
}

static enum o8_rc read_config(struct resolved *r, const char *dir,
			      struct o8_err *err)
{
	struct o8_repocfg cfg = O8_REPOCFG_INIT;
	struct o8_diags diags = O8_DIAGS_INIT;
	char *root, *path = NULL, *buf = NULL;
	size_t len = 0, i;
	enum o8_rc rc;

	if (!(root = repo_root(dir)) || !(path = join_root(root, config_rel))) {
		free(root);
		return oom(err);
	}
	rc = slurp(path, CONFIG_CAP, &buf, &len, err);
	if (rc == O8_ENOTFOUND) {
		o8_err_clear(err);      /* no file: settings come from elsewhere */
		rc = O8_OK;
		goto out;
	}
	if (rc)
		goto out;
	rc = o8_repocfg_parse(&cfg, buf, len, false, &diags, err);
	if (!rc && diags.n)
		rc = o8_err_set(err, O8_EINVALID, config_rel, diags.v[0].line,
				diags.v[0].col, "%s", diags.v[0].msg);
	for (i = 0; !rc && i < S__COUNT; i++)
		rc = config_value(r, root, &cfg, i, err);
out:
	o8_repocfg_done(&cfg);
	o8_diags_free(&diags);
	free(buf);
	free(path);
	free(root);
	return rc;
}

/*
 * Options first, then the environment, then the config file, for every
 * setting.  The credential is chosen as a whole: a token or a certificate
 * from the config file must not mix with one given on the command line.
 */
static enum o8_rc resolve(struct resolved *r, const struct o8_api_opts *o,
			  struct o8_err *err)
{
	enum o8_rc rc = O8_OK;
	const char *s;
	size_t i;

	for (i = 0; i < S__COUNT && !rc; i++) {
		s = *(const char *const *)((const char *)o + settings[i].opt);
		if (s && *s)
			rc = set_value(&r->v[i], s, FROM_OPTION, 0, 0, err);
		else if (settings[i].env && (s = getenv(settings[i].env)) && *s &&
			 !(rc = set_value(&r->v[i], s, FROM_ENV, 0, 0, err)))
			r->v[i].env = settings[i].env;
	}
	if (rc)
		return rc;
	if (r->v[S_TOKEN_FILE].from && r->v[S_CERT].from)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "give either a token file or a client certificate, not both");
	if (r->v[S_KEY].from && !r->v[S_CERT].from)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "a client key needs its certificate (--cert)");
	if (!r->v[S_TOKEN_FILE].from && !r->v[S_CERT].from &&
	    (s = getenv("ORC8R_TOKEN")) && *s && !(r->env_token = strdup(s)))
		return oom(err);
	r->cred_decided = r->v[S_TOKEN_FILE].from || r->v[S_CERT].from || r->env_token;
	rc = read_config(r, o->dir ? o->dir : ".", err);
	if (rc)
		return rc;
	if (r->v[S_TOKEN_FILE].from == FROM_CONFIG && r->v[S_CERT].from == FROM_CONFIG)
		return o8_err_set(err, O8_EINVALID, config_rel, r->v[S_CERT].line,
				  r->v[S_CERT].col,
				  "give either 'token_file' or 'cert', not both");
	if (r->v[S_KEY].from == FROM_CONFIG && !r->v[S_CERT].s)
		return o8_err_set(err, O8_EINVALID, config_rel, r->v[S_KEY].line,
				  r->v[S_KEY].col, "'key' needs 'cert'");
	if (!r->v[S_SERVER].s)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "where is syncd? give --server URL, set ORC8R_SERVER, or put 'server: https://HOST:7445' in %s",
				  config_rel);
	return O8_OK;
}

/* ---- checks of what was resolved ---- */

/* Sets err at the value's origin: the config file's line, or the variable. */
static enum o8_rc value_err(const struct value *v, struct o8_err *err,
			    const char *what, const char *detail)
{
	if (v->from == FROM_CONFIG)
		return o8_err_set(err, O8_EINVALID, config_rel, v->line, v->col,
				  "%s: %s", what, detail);
	return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "%s%s%s: %s", what,
			  v->env ? " in " : "", v->env ? v->env : "", detail);
}

/* The token goes to this URL in every request (repocfg says what is refused). */
static enum o8_rc check_server(struct o8_api *c, const struct value *v,
			       struct o8_err *err)
{
	const char *why = o8_repocfg_server_problem(v->s);
	size_t n;

	if (why)
		return value_err(v, err, "bad syncd server", why);
	if (!(c->server = strdup(v->s)))
		return oom(err);
	n = strlen(c->server);
	while (n && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	return O8_OK;
}

/* A token goes into a header line: printable ASCII, no spaces. */
static bool token_ok(const char *t)
{
	if (!*t)
		return false;
	for (; *t; t++)
		if (*t <= 0x20 || *t >= 0x7f)
			return false;
	return true;
}

static enum o8_rc load_token(struct o8_api *c, struct resolved *r,
			     struct o8_err *err)
{
	const struct value *v = &r->v[S_TOKEN_FILE];
	struct o8_err ferr = O8_ERR_INIT;
	size_t len = 0;
	char *buf;

	if (r->env_token) {
		c->token = r->env_token;
		r->env_token = NULL;
		if (!token_ok(c->token))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "ORC8R_TOKEN holds a space or a control character (a stray newline?)");
		return asprintf(&c->cred, "the token in ORC8R_TOKEN") < 0 ? oom(err) : O8_OK;
	}
	if (!v->s)
		return O8_OK;
	if (slurp(v->s, TOKEN_CAP, &buf, &len, &ferr))
		return value_err(v, err, "cannot use the token file", ferr.msg);
	while (len && isspace((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
	c->token = buf;
	if (!token_ok(c->token))
		return value_err(v, err, "cannot use the token file",
				 "it must hold the token alone on one line");
	return asprintf(&c->cred, "the token in '%s'", v->s) < 0 ? oom(err) : O8_OK;
}

static enum o8_rc build_headers(struct o8_api *c, struct o8_err *err)
{
	enum o8_rc rc = o8_http_header(c->http, "Accept: application/json", err);
	char *auth;

	if (!rc)
		rc = o8_http_header(c->http, "Content-Type: application/json", err);
	if (!rc)
		rc = o8_http_header(c->http, "Expect:", err);
	if (rc || !c->token)
		return rc;
	if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0)
		return oom(err);
	rc = o8_http_header(c->http, auth, err);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return rc;
}

/* The options every request shares: made once, kept across requests. */
static enum o8_rc new_http(struct o8_api *c, const struct resolved *r,
			   struct o8_err *err)
{
	struct o8_http_opts o = O8_HTTP_OPTS_INIT;

	o.connect_ms = CONNECT_TIMEOUT_S * 1000L;
	o.total_ms = TOTAL_TIMEOUT_S * 1000L;
	o.body_cap = RESPONSE_CAP;
	o.protocols = "http,https";
	o.decode = true;
	o.user_agent = "orc8r/" O8_VERSION;
	o.ca_file = r->v[S_CA].s;
	o.cert_file = r->v[S_CERT].s;
	o.key_file = r->v[S_KEY].s;
	return o8_http_new(&c->http, &o, err);
}

/* A file named by a setting must exist before we blame the TLS handshake. */
static enum o8_rc check_file(const struct value *v, const char *what,
			     struct o8_err *err)
{
	char msg[sizeof(err->msg)];
	FILE *f;

	if (!v->s)
		return O8_OK;
	if ((f = fopen(v->s, "re"))) {
		fclose(f);
		return O8_OK;
	}
	snprintf(msg, sizeof(msg), "cannot read %s '%s'", what, v->s);
	return value_err(v, err, msg, strerror(errno));
}

static enum o8_rc setup(struct o8_api *c, struct resolved *r, struct o8_err *err)
{
	enum o8_rc rc = check_server(c, &r->v[S_SERVER], err);

	if (!rc)
		rc = check_file(&r->v[S_CA], "the CA file", err);
	if (!rc)
		rc = check_file(&r->v[S_CERT], "the client certificate", err);
	if (!rc)
		rc = check_file(&r->v[S_KEY], "the client key", err);
	if (!rc)
		rc = load_token(c, r, err);
	if (!rc && !c->cred) {
		if (r->v[S_CERT].s)
			rc = asprintf(&c->cred, "the client certificate '%s'",
				      r->v[S_CERT].s) < 0 ? oom(err) : O8_OK;
		else if (!(c->cred = strdup("no credentials")))
			rc = oom(err);
	}
	if (!rc)
		rc = new_http(c, r, err);
	if (!rc)
		rc = build_headers(c, err);
	return rc;
}

enum o8_rc o8_api_new(struct o8_api **out, const struct o8_api_opts *o,
		      struct o8_err *err)
{
	static const struct o8_api_opts none = O8_API_OPTS_INIT;
	struct resolved r = { 0 };
	struct o8_api *c;
	enum o8_rc rc;

	*out = NULL;
	if (o8_http_global_init(err))
		return err->rc;
	if (!(c = calloc(1, sizeof(*c))))
		return oom(err);
	rc = resolve(&r, o ? o : &none, err);
	if (!rc)
		rc = setup(c, &r, err);
	resolved_done(&r);
	if (rc) {
		o8_api_free(c);
		return rc;
	}
	*out = c;
	return O8_OK;
}

void o8_api_free(struct o8_api *c)
{
	if (!c)
		return;
	o8_http_free(c->http);  /* wipes the Authorization header */
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	free(c->server);
	free(c->cred);
	free(c);
}

const char *o8_api_server(const struct o8_api *c)
{
	return c->server;
}

const char *o8_api_credentials(const struct o8_api *c)
{
	return c->cred;
}

long o8_api_status(const struct o8_api *c)
{
	return c->status;
}

char *o8_api_escape(struct o8_api *c, const char *s)
{
	return o8_http_escape(c->http, s);
}

/* ---- one request ---- */

/*
 * syncd's {"error"} text, as quoted in a message: short, one line, and
 * never the token even if a server echoed it.
 */
static void quote_error(const struct o8_api *c, const struct o8_http_resp *b,
			char *out, size_t size)
{
	json_t *j = b->len ? json_loadb(b->body, b->len, 0, NULL) : NULL;
	const char *s = json_string_value(json_object_get(j, "error"));
	size_t i;

	snprintf(out, size, "%s", s ? s : "");
	if (strlen(out) > QUOTE_MAX)
		out[QUOTE_MAX] = '\0';
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	if (c->token && strstr(out, c->token))
		snprintf(out, size, "its message quoted the token");
	json_decref(j);
}

/* What an HTTP error status means to the operator, and what to do. */
static const struct http_error {
	long status;
	enum o8_rc rc;
	const char *what;               /* NULL: the credentials were refused */
	const char *hint;
} http_errors[] = {
	{ 400, O8_EINVALID, "syncd rejected the request", "" },
	{ 401, O8_ERR, NULL, "; 'orc8r pki api-token NAME' makes a token" },
	{ 403, O8_ERR, NULL, "; its role does not allow this (changes need --role write)" },
	{ 404, O8_ENOTFOUND, "not found", "" },
	{ 405, O8_ERR, "syncd does not allow this method here", "" },
	{ 413, O8_ELIMIT, "syncd found the request too large", "" },
	{ 500, O8_ERR, "syncd failed", "" },
	{ 503, O8_ERR, "syncd is not ready", "; try again in a moment" },
};

static enum o8_rc http_error(const struct o8_api *c, const char *method,
			     const char *path, const struct o8_http_resp *b,
			     struct o8_err *err)
{
	const struct http_error *e = NULL;
	char q[QUOTE_MAX + 64], what[128];
	const char *open, *close;
	size_t i;

	for (i = 0; i < sizeof(http_errors) / sizeof(http_errors[0]); i++)
		if (http_errors[i].status == c->status)
			e = &http_errors[i];
	quote_error(c, b, q, sizeof(q));
	open = *q ? " (" : "";
	close = *q ? ")" : "";
	if (e && !e->what && !c->token && c->status == 401)
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "%s %s: syncd wants a token%s%s%s: give --token-file, set ORC8R_TOKEN, or put 'token_file' in %s",
				  method, path, open, q, close, config_rel);
	if (e && !e->what)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "%s %s: syncd refused the %s%s%s%s; check %s%s",
				  method, path, c->token ? "token" : "client certificate",
				  open, q, close, c->cred, e->hint);
	if (e)
		snprintf(what, sizeof(what), "%s", e->what);
	else
		snprintf(what, sizeof(what), "syncd answered HTTP %ld", c->status);
	return o8_err_set(err, e ? e->rc : O8_ERR, NULL, 0, 0, "%s %s: %s%s%s%s%s", method,
			  path, what, open, q, close, e ? e->hint : "");
}

/* Hints for transport failures that have a usual cause. */
static const struct {
	CURLcode cc;
	const char *hint;
} curl_hints[] = {
	{ CURLE_PEER_FAILED_VERIFICATION,
	  "is the CA file (--ca, ORC8R_CA or 'ca') the one that signed syncd's certificate?" },
	{ CURLE_SSL_CACERT_BADFILE, "the CA file must be PEM" },
	{ CURLE_SSL_CERTPROBLEM, "check the client certificate and key" },
	{ CURLE_UNSUPPORTED_PROTOCOL, "the URL must start with https://" },
};

static enum o8_rc transport_error(const struct o8_api *c,
				  const struct o8_http_resp *r, struct o8_err *err)
{
	const char *hint = NULL;
	size_t i;

	for (i = 0; i < sizeof(curl_hints) / sizeof(curl_hints[0]); i++)
		if ((int)curl_hints[i].cc == r->curl_code)
			hint = curl_hints[i].hint;
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot reach syncd at %s: %s%s%s",
			  c->server, r->curl_msg,
			  hint ? "; " : "", hint ? hint : "");
}

/* The token must not leave in any message, whatever a server sent back. */
static enum o8_rc scrub(const struct o8_api *c, enum o8_rc rc, struct o8_err *err)
{
	if (rc && err && c->token && strstr(err->msg, c->token))
		snprintf(err->msg, sizeof(err->msg),
			 "request to syncd failed (details withheld: they quoted the token)");
	return rc;
}

static enum o8_rc request(struct o8_api *c, const char *method, const char *path,
			  const char *payload, json_t **out, struct o8_err *err)
{
	struct o8_http_resp b = O8_HTTP_RESP_INIT;
	struct o8_err herr = O8_ERR_INIT;
	json_error_t jerr;
	enum o8_rc rc = O8_OK, hrc;
	char *url;

	c->status = 0;
	if (asprintf(&url, "%s%s", c->server, path) < 0)
		return oom(err);
	hrc = o8_http_request(c->http, payload ? "POST" : "GET", url, payload,
			      payload ? strlen(payload) : 0, NULL, &b, &herr);
	c->status = b.status;
	if (hrc == O8_ELIMIT)
		rc = o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
				"%s %s: syncd's answer is larger than %d MiB",
				method, path, RESPONSE_CAP >> 20);
	else if (hrc && b.curl_code)
		rc = transport_error(c, &b, err);
	else if (hrc)
		rc = o8_err_set(err, hrc, NULL, 0, 0, "%s", herr.msg);
	else if (c->status < 200 || c->status > 299)
		rc = http_error(c, method, path, &b, err);
	else if (out && !(*out = json_loadb(b.body ? b.body : "", b.len, 0, &jerr)))
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0,
				"%s %s: syncd's answer is not JSON: %s", method, path,
				jerr.text);
	o8_http_resp_done(&b);
	free(url);
	return scrub(c, rc, err);
}

enum o8_rc o8_api_get(struct o8_api *c, const char *path, json_t **out,
		      struct o8_err *err)
{
	*out = NULL;
	return request(c, "GET", path, NULL, out, err);
}

enum o8_rc o8_api_post(struct o8_api *c, const char *path, const json_t *body,
		       json_t **out, struct o8_err *err)
{
	enum o8_rc rc;
	char *payload;

	if (out)
		*out = NULL;
	payload = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
	if (!payload)
		return oom(err);
	rc = request(c, "POST", path, payload, out, err);
	free(payload);
	return rc;
}
