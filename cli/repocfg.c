#include "repocfg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "util/fileio.h"
#include "util/suggest.h"
#include "repo/yaml.h"

enum {
	CONFIG_CAP = 1 << 20,   /* a settings file; larger is a mistake */
	MAX_DEPTH = 16,
	MAX_NODES = 10000,
};

const struct o8_repocfg_key_def o8_repocfg_keys[O8_RCK__COUNT] = {
	[O8_RCK_API_VERSION] = { "apiVersion", "string", "the format: orc8r/v1", "orc8r/v1", false },
	[O8_RCK_KIND] = { "kind", "string", "what the file is: RepoConfig", "RepoConfig", false },
	[O8_RCK_SERVER] = { "server", "URL", "syncd's API, https://HOST:PORT", NULL, true },
	[O8_RCK_CA] = { "ca", "path", "PEM file of the CA that signed syncd's certificate", NULL, true },
	[O8_RCK_TOKEN_FILE] = { "token_file", "path", "file holding the API bearer token", NULL, true },
	[O8_RCK_CERT] = { "cert", "path", "PEM client certificate, instead of a token", NULL, true },
	[O8_RCK_KEY] = { "key", "path", "the client certificate's private key", NULL, true },
};

/* The parse in progress: which mode, where findings go. */
struct parse {
	struct o8_repocfg *cfg;
	bool strict;
	struct o8_diags *d;
	size_t first;           /* d->n on entry: client mode stops after one */
};

static bool done(const struct parse *p)
{
	return !p->strict && p->d->n > p->first;
}

/* The client's names are matched loosely only to catch mistakes. */
static bool loose_eq(const char *a, const char *b)
{
	for (;; a++, b++) {
		while (*a == '_' || *a == '-')
			a++;
		while (*b == '_' || *b == '-')
			b++;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		if (!*a)
			return true;
	}
}

static int find_key(const char *key, bool strict)
{
	int i;

	for (i = 0; i < O8_RCK__COUNT; i++)
		if ((strict || o8_repocfg_keys[i].setting) && !strcmp(key, o8_repocfg_keys[i].name))
			return i;
	return -1;
}

/* A name the operator probably meant, or NULL. */
static const char *meant(const char *key, bool strict)
{
	const char *names[O8_RCK__COUNT];
	int i;

	for (i = 0; i < O8_RCK__COUNT; i++) {
		names[i] = strict || o8_repocfg_keys[i].setting ? o8_repocfg_keys[i].name : NULL;
		if (names[i] && loose_eq(key, names[i]))
			return names[i];
	}
	return strict ? o8_suggest(key, names, O8_RCK__COUNT) : NULL;
}

static enum o8_rc unknown_key(struct parse *p, const struct o8_node *k, const char *key,
			      struct o8_err *err)
{
	const char *m = meant(key, p->strict);

	if (!m && !p->strict)
		return O8_OK;   /* not ours: the client leaves it alone */
	if (m ? o8_diags_add(p->d, O8_REPOCFG_PATH, k->line, k->col, NULL, NULL,
			     "unknown key '%s' (did you mean '%s'?)", key, m)
	      : o8_diags_add(p->d, O8_REPOCFG_PATH, k->line, k->col, NULL, NULL,
			     "unknown key '%s' (the keys are apiVersion, kind, server, ca, token_file, cert and key)",
			     key))
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	return O8_OK;
}

static bool is_loopback(const char *host)
{
	static const char *const hosts[] = { "127.0.0.1", "localhost", "[::1]", "::1" };
	size_t i;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (!strcmp(host, hosts[i]))
			return true;
	return false;
}

const char *o8_repocfg_server_problem(const char *url)
{
	char *scheme = NULL, *host = NULL, *user = NULL;
	const char *why = NULL;
	CURLU *u = curl_url();

	if (!u)
		return NULL;    /* out of memory: the client will say so */
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		why = "not a URL like https://HOST:7445";
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		why = "the URL must not hold a user name";
	else if (strcmp(scheme, "https") && !(!strcmp(scheme, "http") && is_loopback(host)))
		why = "use https (plain http only to 127.0.0.1, for tests): the token would travel in clear";
	else if (strchr(url, '?') || strchr(url, '#'))
		why = "the URL must not hold a query or a fragment";
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return why;
}

/* Strict mode: what a string value must also be. */
static enum o8_rc check_value(struct parse *p, int i, const struct o8_node *v,
			      const char *s, struct o8_err *err)
{
	const struct o8_repocfg_key_def *kd = &o8_repocfg_keys[i];
	const char *why;
	enum o8_rc rc = O8_OK;

	if (kd->want && strcmp(s, kd->want))
		rc = o8_diags_add(p->d, O8_REPOCFG_PATH, v->line, v->col, NULL, NULL,
				  "unknown %s '%s' (expected '%s')", kd->name, s, kd->want);
	else if (i == O8_RCK_SERVER && (why = o8_repocfg_server_problem(s)))
		rc = o8_diags_add(p->d, O8_REPOCFG_PATH, v->line, v->col, NULL, NULL,
				  "bad syncd server: %s", why);
	return rc ? o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory") : O8_OK;
}

/* One "key: value" of the settings map. */
static enum o8_rc pair(struct parse *p, const struct o8_node *k,
		       const struct o8_node *v, struct o8_err *err)
{
	struct o8_repocfg_value *out;
	const char *key = o8_node_str(k), *s;
	int i;

	if (!key)
		return O8_OK;   /* the YAML layer refuses complex keys */
	if ((i = find_key(key, p->strict)) < 0)
		return unknown_key(p, k, key, err);
	s = o8_node_str(v);
	if (!s || o8_node_is_null(v) || !*s)
		return o8_diags_add(p->d, O8_REPOCFG_PATH, v->line, v->col, NULL, NULL,
				    "'%s' must be a non-empty string", key)
			       ? o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory") : O8_OK;
	out = &p->cfg->v[i];
	if (!(out->s = o8_arena_strndup(&p->cfg->a, s, strlen(s))))
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	out->line = v->line;
	out->col = v->col;
	return p->strict ? check_value(p, i, v, s, err) : O8_OK;
}

/* Strict mode: settings that cannot go together. */
static enum o8_rc check_combination(struct parse *p, struct o8_err *err)
{
	const struct o8_repocfg_value *v = p->cfg->v;
	enum o8_rc rc = O8_OK;

	if (v[O8_RCK_TOKEN_FILE].s && v[O8_RCK_CERT].s)
		rc = o8_diags_add(p->d, O8_REPOCFG_PATH, v[O8_RCK_CERT].line,
				  v[O8_RCK_CERT].col, NULL, NULL,
				  "give either 'token_file' or 'cert', not both");
	if (!rc && v[O8_RCK_KEY].s && !v[O8_RCK_CERT].s)
		rc = o8_diags_add(p->d, O8_REPOCFG_PATH, v[O8_RCK_KEY].line,
				  v[O8_RCK_KEY].col, NULL, NULL, "'key' needs 'cert'");
	return rc ? o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory") : O8_OK;
}

static enum o8_rc settings(struct parse *p, const struct o8_ydoc *docs, size_t ndocs,
			   struct o8_err *err)
{
	const struct o8_node *root = ndocs ? docs[0].root : NULL;
	enum o8_rc rc = O8_OK;
	size_t i;

	if (root && root->type != O8_N_MAP)
		return o8_diags_add(p->d, O8_REPOCFG_PATH, root->line, root->col, NULL, NULL,
				    "expected a map of settings (server: URL, ...)")
			       ? o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory") : O8_OK;
	for (i = 0; !rc && !done(p) && root && i < root->n; i++)
		rc = pair(p, &root->u.kids[2 * i], &root->u.kids[2 * i + 1], err);
	/* the client reads the first document only */
	for (i = 1; !rc && p->strict && i < ndocs; i++)
		if (docs[i].root &&
		    o8_diags_add(p->d, O8_REPOCFG_PATH, docs[i].line, 1, NULL, NULL,
				 "a second document is never read; keep the settings in one"))
			rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	if (!rc && p->strict)
		rc = check_combination(p, err);
	return rc;
}

enum o8_rc o8_repocfg_parse(struct o8_repocfg *cfg, const char *buf, size_t len,
			    bool strict, struct o8_diags *d, struct o8_err *err)
{
	struct o8_yaml_limits lim = { MAX_DEPTH, MAX_NODES };
	struct o8_diags yd = O8_DIAGS_INIT;
	struct parse p = { cfg, strict, d, d->n };
	struct o8_ydoc *docs = NULL;
	size_t ndocs = 0;
	enum o8_rc rc;

	rc = o8_yaml_parse(&docs, &ndocs, &cfg->a, O8_REPOCFG_PATH, buf, len, &lim, &yd, err);
	if (!rc && yd.n) {
		/* a broken file: what it seems to say is not worth checking */
		rc = o8_diags_move(d, &yd);
		if (rc)
			o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	} else if (!rc) {
		rc = settings(&p, docs, ndocs, err);
	}
	o8_diags_free(&yd);
	return rc;
}

void o8_repocfg_done(struct o8_repocfg *cfg)
{
	o8_arena_free(&cfg->a);
}

enum o8_rc o8_repocfg_check(const char *root, struct o8_diags *d, struct o8_err *err)
{
	struct o8_fileio_read_opts ro = O8_FILEIO_READ_OPTS_INIT;
	struct o8_repocfg cfg = O8_REPOCFG_INIT;
	struct o8_err ferr = O8_ERR_INIT;
	char *path, *buf = NULL;
	size_t len = 0;
	enum o8_rc rc;

	if (asprintf(&path, "%s/%s", root, O8_REPOCFG_PATH) < 0)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	ro.max = CONFIG_CAP;
	rc = o8_fileio_read(&buf, &len, NULL, path, &ro, &ferr);
	free(path);
	if (rc == O8_ENOTFOUND)
		return O8_OK;   /* settings may come from options or the environment */
	if (rc == O8_EINVALID || rc == O8_ELIMIT)
		return o8_diags_add(d, O8_REPOCFG_PATH, 1, 1, NULL, NULL, "%s",
				    rc == O8_ELIMIT ? "the file is larger than 1 MiB"
						    : "not a regular file, refusing to read it")
			       ? o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory") : O8_OK;
	if (rc)
		return o8_err_set(err, rc, NULL, 0, 0, "%s", ferr.msg);
	rc = o8_repocfg_parse(&cfg, buf, len, true, d, err);
	o8_repocfg_done(&cfg);
	free(buf);
	return rc;
}
