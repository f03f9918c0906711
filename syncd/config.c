/*
 * config.c - syncd's settings: one table row per key drives the defaults,
 * the command line, the YAML file and the messages.
 *
 * Every value, whatever its origin, goes through set_value(), so
 * "max_frame: 16MiB" in the file and "--max-frame 16MiB" on the command
 * line mean the same and fail the same way.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/apitoken.h"
#include "proto/pki.h"
#include "util/arena.h"
#include "util/fileio.h"
#include "httpd.h"
#include "util/suggest.h"
#include "repo/yaml.h"

#define FILE_MAX (1u << 20)
#define SECRET_MAX 4096u
#define DAY 86400ull

enum type { T_ADDR, T_BOOL, T_STR, T_SECONDS, T_BYTES, T_LEVEL };

struct keydef {
	struct syncd_config_key pub;
	enum type type;
	size_t off;
	unsigned long long min, max;
};

#define F(m) offsetof(struct syncd_config, m)

/* Derived defaults (def NULL) are filled by syncd_config_check. */
static const struct keydef keys[] = {
	{ { "listen", "listen", "HOST:PORT", "where AGWs connect (mutual TLS)",
	    "0.0.0.0:7443" }, T_ADDR, F(listen), 0, 0 },
	{ { "bootstrap", "bootstrap", "HOST:PORT", "where AGWs enrol (server TLS)",
	    "0.0.0.0:7444" }, T_ADDR, F(bootstrap), 0, 0 },
	{ { "api", "api", "HOST:PORT", "the HTTP API", "127.0.0.1:7445" },
	  T_ADDR, F(api), 0, 0 },
	{ { "api_tls", "api-tls", "BOOL", "serve the API over HTTPS (false: loopback only)",
	    "true" }, T_BOOL, F(api_tls), 0, 0 },
	{ { "ports_file", "ports-file", "FILE",
	    "once listening, write the bound HOST:PORTs there (JSON; for port 0)", NULL },
	  T_STR, F(ports_file), 0, 0 },
	{ { "pki", "pki", "DIR", "the PKI directory ('orc8r pki init'); required", NULL },
	  T_STR, F(pki), 0, 0 },
	{ { "store", "store", "URL", "the store (default sqlite:STATE_DIR/syncd.db)", NULL },
	  T_STR, F(store), 0, 0 },
	{ { "state_dir", "state-dir", "DIR", "where syncd keeps its state",
	    "/var/lib/orc8r" }, T_STR, F(state_dir), 0, 0 },
	{ { "repo.url", "repo-url", "URL", "the git remote of the networks; required", NULL },
	  T_STR, F(repo_url), 0, 0 },
	{ { "repo.branch", "repo-branch", "BRANCH", "the branch to follow", "main" },
	  T_STR, F(repo_branch), 0, 0 },
	{ { "repo.dir", "repo-dir", "DIR", "the local clone (default STATE_DIR/repo)", NULL },
	  T_STR, F(repo_dir), 0, 0 },
	{ { "repo.poll", "repo-poll", "SECONDS", "fetch interval (0: webhook only)", "30" },
	  T_SECONDS, F(repo_poll), 0, DAY },
	{ { "webhook_secret_file", "webhook-secret-file", "FILE",
	    "HMAC key of POST /v1/webhook (none: webhooks refused)", NULL },
	  T_STR, F(webhook_secret_file), 0, 0 },
	{ { "api_tokens_file", "api-tokens-file", "FILE",
	    "the API's tokens (default PKI/api-tokens)", NULL },
	  T_STR, F(api_tokens_file), 0, 0 },
	{ { "max_frame", "max-frame", "BYTES", "largest frame to or from an AGW", "16MiB" },
	  T_BYTES, F(max_frame), 1024, 0xffffffffull },
	{ { "checkin", "checkin", "SECONDS", "AGWs' expected report interval", "60" },
	  T_SECONDS, F(checkin), 1, DAY },
	{ { "log_level", "log-level", "LEVEL", "debug, info, warn or error", "info" },
	  T_LEVEL, F(log_level), 0, 0 },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS == SYNCD_CONFIG_NKEYS, "SYNCD_CONFIG_NKEYS must match keys[]");

enum { K_LISTEN, K_BOOTSTRAP, K_API, K_API_TLS, K_PORTS_FILE, K_PKI, K_STORE, K_STATE_DIR, K_REPO_URL,
       K_REPO_BRANCH, K_REPO_DIR, K_REPO_POLL, K_WEBHOOK, K_TOKENS };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

struct syncd_config_override {
	size_t key;
	char *value;
};

const struct syncd_config_key *syncd_config_key(size_t i)
{
	return i < NKEYS ? &keys[i].pub : NULL;
}

const char *syncd_config_level_name(enum syncd_log_level l)
{
	return (unsigned)l < 4 ? level_names[l] : "info";
}

/* strerror, lowercased as the rest of our messages are. */
struct why {
	char s[128];
};

static const char *why(int e, struct why *w)
{
	snprintf(w->s, sizeof(w->s), "%s", strerror(e));
	w->s[0] = (char)tolower((unsigned char)w->s[0]);
	return w->s;
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

/* --- values -------------------------------------------------------------- */

static bool parse_uint(const char *s, unsigned long long *out, const char **rest)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	*rest = end;
	return errno == 0;
}

static bool parse_bytes(const char *s, unsigned long long *out)
{
	static const struct { const char *suffix; unsigned shift; } units[] = {
		{ "", 0 }, { "B", 0 }, { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 },
	};
	const char *rest;
	size_t i;

	if (!parse_uint(s, out, &rest))
		return false;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(rest, units[i].suffix))
			break;
	if (i == sizeof(units) / sizeof(units[0]) || *out > (~0ull >> units[i].shift))
		return false;
	*out <<= units[i].shift;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!strcmp(s, yes[i]))
			return (*out = true);
		if (!strcmp(s, no[i]))
			return !(*out = false);
	}
	return false;
}

/*
 * Sets key k from text (NULL: back to its default).  On failure returns
 * false with the reason in msg; c is unchanged.
 */
static bool set_value(struct syncd_config *c, const struct keydef *k, const char *text,
		      char *msg, size_t n)
{
	void *field = (char *)c + k->off;
	struct o8_err e = O8_ERR_INIT;
	unsigned long long v = 0;
	const char *rest = "";
	char *copy = NULL;
	bool b;
	size_t i;

	if (!text)
		text = k->pub.def;
	if (!text || k->type == T_STR || k->type == T_ADDR) {
		if (text && !*text) {
			snprintf(msg, n, "%s needs a value", k->pub.key);
			return false;
		}
		if (text && k->type == T_ADDR && o8_httpd_parse_addr(text, NULL, NULL, &e)) {
			snprintf(msg, n, "%s: %.200s", k->pub.key, e.msg);
			return false;
		}
		if (text && !(copy = strdup(text))) {
			snprintf(msg, n, "out of memory");
			return false;
		}
		free(*(char **)field);
		*(char **)field = text ? copy : NULL;
		return true;
	}
	switch (k->type) {
	case T_BOOL:
		if (!parse_bool(text, &b)) {
			snprintf(msg, n, "%s is true or false, not '%s'", k->pub.key, text);
			return false;
		}
		*(bool *)field = b;
		return true;
	case T_LEVEL:
		for (i = 0; i < 4 && strcmp(text, level_names[i]); i++)
			;
		if (i == 4) {
			snprintf(msg, n, "%s is debug, info, warn or error, not '%s'",
				 k->pub.key, text);
			return false;
		}
		*(enum syncd_log_level *)field = (enum syncd_log_level)i;
		return true;
	case T_SECONDS:
		if (!parse_uint(text, &v, &rest) || *rest || v < k->min || v > k->max) {
			snprintf(msg, n, "%s is a number of seconds from %llu to %llu, not '%s'",
				 k->pub.key, k->min, k->max, text);
			return false;
		}
		*(unsigned *)field = (unsigned)v;
		return true;
	default:        /* T_BYTES */
		if (!parse_bytes(text, &v) || v < k->min || v > k->max) {
			snprintf(msg, n, "%s is a size from 1KiB to 4GiB-1 (bytes, or with "
				 "KiB, MiB, GiB), not '%s'", k->pub.key, text);
			return false;
		}
		*(size_t *)field = (size_t)v;
		return true;
	}
}

/* --- init, set, done ----------------------------------------------------- */

void syncd_config_init(struct syncd_config *c)
{
	char msg[256];
	size_t i;

	memset(c, 0, sizeof(*c));
	/* The defaults are valid text; only strdup can fail, leaving NULL,
	   which check then reports like a missing value. */
	for (i = 0; i < NKEYS; i++)
		set_value(c, &keys[i], NULL, msg, sizeof(msg));
}

void syncd_config_done(struct syncd_config *c)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].type == T_STR || keys[i].type == T_ADDR)
			free(*(char **)((char *)c + keys[i].off));
	if (c->webhook_secret)
		explicit_bzero(c->webhook_secret, c->webhook_secret_len);
	free(c->webhook_secret);
	for (i = 0; i < c->nov; i++)
		free(c->ov[i].value);
	free(c->ov);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

/* The row for a key ("repo.url") or flag ("repo-url"); NULL when unknown. */
static const struct keydef *key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(name, keys[i].pub.key) || !strcmp(name, keys[i].pub.flag))
			return &keys[i];
	return NULL;
}

enum o8_rc syncd_config_set(struct syncd_config *c, const char *key, const char *value,
			    struct o8_err *err)
{
	const struct keydef *k = key ? key_find(key) : NULL;
	const char *names[NKEYS], *near;
	struct syncd_config_override *ov;
	char msg[300];
	size_t i;

	if (!k) {
		for (i = 0; i < NKEYS; i++)
			names[i] = keys[i].pub.flag;
		near = key ? o8_suggest(key, names, NKEYS) : NULL;
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "unknown setting '%s'%s%s%s",
				  key ? key : "", near ? " (did you mean '" : "",
				  near ? near : "", near ? "'?)" : "");
	}
	if (!value || !set_value(c, k, value, msg, sizeof(msg)))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "%s",
				  value ? msg : "a setting needs a value");
	i = (size_t)(k - keys);
	c->pos[i] = (struct syncd_config_pos){ 0, 0, true };
	if (!(ov = reallocarray(c->ov, c->nov + 1, sizeof(*ov))))
		return oom(err);
	c->ov = ov;
	if (!(ov[c->nov].value = strdup(value)))
		return oom(err);
	ov[c->nov++].key = i;
	return O8_OK;
}

/* --- the file ------------------------------------------------------------ */

struct load {
	struct syncd_config *c;
	const char *path;
	struct o8_diags *d;
	bool oom;
};

static void diag(struct load *l, const struct o8_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void diag(struct load *l, const struct o8_node *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o8_diags_add(l->d, l->path, at->line, at->col, NULL, NULL, "%s", msg))
		l->oom = true;
}

/* "unknown key 'x'" with the nearest known one; prefix "repo." or "". */
static void unknown_key(struct load *l, const struct o8_node *key, const char *prefix)
{
	const char *names[NKEYS + 1], *near;
	size_t i, n = 0, plen = strlen(prefix);

	for (i = 0; i < NKEYS; i++) {
		const char *dot = strchr(keys[i].pub.key, '.');

		if (plen ? !strncmp(keys[i].pub.key, prefix, plen) : !dot)
			names[n++] = keys[i].pub.key + plen;
	}
	if (!plen)
		names[n++] = "repo";
	near = o8_suggest(key->u.str, names, n);
	diag(l, key, "unknown key '%s%s'%s%s%s", prefix, key->u.str,
	     near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
}

static void load_value(struct load *l, const struct keydef *k, const struct o8_node *val)
{
	char msg[300];

	if (val->type != O8_N_SCALAR) {
		diag(l, val, "%s takes a single value, not a %s", k->pub.key,
		     val->type == O8_N_MAP ? "map" : "list");
		return;
	}
	if (!set_value(l->c, k, o8_node_is_null(val) ? NULL : val->u.str, msg, sizeof(msg))) {
		diag(l, val, "%s", msg);
		return;
	}
	l->c->pos[k - keys] = (struct syncd_config_pos){ val->line, val->col, false };
}

static void load_map(struct load *l, const struct o8_node *map, const char *prefix)
{
	char name[64];
	size_t i;

	for (i = 0; i < map->n; i++) {
		const struct o8_node *key = &map->u.kids[2 * i], *val = &map->u.kids[2 * i + 1];
		const struct keydef *k;

		if (!prefix[0] && !strcmp(key->u.str, "repo")) {
			if (val->type == O8_N_MAP)
				load_map(l, val, "repo.");
			else
				diag(l, val, "repo is a map (url, branch, dir, poll)");
			continue;
		}
		snprintf(name, sizeof(name), "%s%s", prefix, key->u.str);
		/* key_find also knows flag spellings; the file uses keys only */
		if (!(k = key_find(name)) || strcmp(k->pub.key, name))
			unknown_key(l, key, prefix);
		else
			load_value(l, k, val);
	}
}

static enum o8_rc read_file(const char *path, char **out, size_t *len, struct o8_err *err)
{
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_err e = O8_ERR_INIT;
	enum o8_rc rc;

	o.max = FILE_MAX;
	rc = o8_fileio_read(out, len, NULL, path, &o, &e);
	if (rc == O8_EINVALID || rc == O8_ELIMIT)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot read '%s': not a regular file of at most 1 MiB", path);
	return rc ? o8_err_set(err, rc, NULL, 0, 0, "%s", e.msg) : O8_OK;
}

static void reapply_overrides(struct syncd_config *c)
{
	char msg[300];
	size_t i;

	/* Each was checked when it was set: set_value only fails on memory. */
	for (i = 0; i < c->nov; i++) {
		set_value(c, &keys[c->ov[i].key], c->ov[i].value, msg, sizeof(msg));
		c->pos[c->ov[i].key] = (struct syncd_config_pos){ 0, 0, true };
	}
}

enum o8_rc syncd_config_load(struct syncd_config *c, const char *path,
			     struct o8_diags *diags, struct o8_err *err)
{
	struct o8_yaml_limits lim = { 8, 10000 };
	struct o8_arena a = O8_ARENA_INIT;
	struct load l = { c, path, diags, false };
	struct o8_ydoc *docs = NULL;
	size_t len = 0, ndocs = 0, before = diags->n;
	char *buf = NULL;
	enum o8_rc rc;

	free(c->path);
	if (!(c->path = strdup(path)))
		return oom(err);
	if ((rc = read_file(path, &buf, &len, err)) ||
	    (rc = o8_yaml_parse(&docs, &ndocs, &a, path, buf, len, &lim, diags, err)))
		goto out;
	if (ndocs > 1) {
		struct o8_node at = { .line = docs[1].line, .col = 1 };

		diag(&l, &at, "one YAML document only, not %zu", ndocs);
	}
	if (ndocs && docs[0].root) {
		if (docs[0].root->type == O8_N_MAP)
			load_map(&l, docs[0].root, "");
		else
			diag(&l, docs[0].root, "expected a map of settings (listen: ..., pki: ...)");
	}
	reapply_overrides(c);
	if (l.oom)
		rc = oom(err);
	else if (diags->n > before)
		rc = O8_EINVALID;
out:
	o8_arena_free(&a);
	free(buf);
	return rc;
}

/* --- check --------------------------------------------------------------- */

struct check {
	struct syncd_config *c;
	struct o8_diags *d;
	bool oom;
};

/* A finding about key k, placed where k was set. */
static void bad(struct check *ck, size_t k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bad(struct check *ck, size_t k, const char *fmt, ...)
{
	const struct syncd_config_pos *p = &ck->c->pos[k];
	const char *file = ck->c->path;
	unsigned line = p->line, col = p->col;
	char msg[600];
	va_list ap;

	if (p->cmdline || !file)
		file = SYNCD_CONFIG_CMDLINE;
	else if (!line)
		line = col = 1;         /* a default or missing key: the file as a whole */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o8_diags_add(ck->d, file, line, col, NULL, NULL, "%s", msg))
		ck->oom = true;
}

static void derive(struct check *ck, size_t k, const char *base, const char *fmt)
{
	char **field = (char **)((char *)ck->c + keys[k].off);

	if (*field || !base)
		return;
	if (asprintf(field, fmt, base) < 0) {
		*field = NULL;
		ck->oom = true;
	}
}

/* Opens path for reading; false (with errno) when it cannot be read. */
static bool readable(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), e;
	bool ok;

	if (fd < 0)
		return false;
	ok = fstat(fd, st) == 0 && S_ISREG(st->st_mode);
	e = ok ? 0 : (errno ? errno : EINVAL);
	close(fd);
	errno = e;
	return ok;
}

/* No insecure fallback: each file syncd's TLS needs must be there. */
static void check_pki(struct check *ck)
{
	static const enum o8_pki_file files[] = {
		O8_PKI_CA_CRT, O8_PKI_SERVER_CRT, O8_PKI_SERVER_KEY, O8_PKI_CRL,
	};
	char path[4200];
	struct stat st;
	struct why w;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		o8_pki_path(path, sizeof(path), ck->c->pki, files[i], NULL);
		if (!readable(path, &st))
			bad(ck, K_PKI, "cannot read '%s': %s%s", path, why(errno, &w),
			    errno == ENOENT ? " (make the PKI with 'orc8r pki init')" : "");
		else if (files[i] == O8_PKI_SERVER_KEY && (st.st_mode & 077))
			bad(ck, K_PKI, "'%s' is readable by group or others: chmod 600 it", path);
	}
}

static void check_secret(struct check *ck)
{
	struct syncd_config *c = ck->c;
	const char *path = c->webhook_secret_file;
	uint8_t *buf;
	struct stat st;
	struct why w;
	ssize_t n;
	int fd;

	if (!path)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0 || fstat(fd, &st) < 0) {
		bad(ck, K_WEBHOOK, "cannot read '%s': %s", path, why(errno, &w));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SECRET_MAX || (st.st_mode & 077)) {
		bad(ck, K_WEBHOOK, "'%s' must be a file of at most %u bytes that only its "
		    "owner can read (chmod 600)", path, SECRET_MAX);
		close(fd);
		return;
	}
	if (!(buf = malloc(SECRET_MAX + 1))) {
		ck->oom = true;
		close(fd);
		return;
	}
	n = read(fd, buf, SECRET_MAX + 1);
	close(fd);
	/* The trailing newline an editor adds is not part of the key. */
	while (n > 0 && isspace(buf[n - 1]))
		n--;
	if (n <= 0) {
		bad(ck, K_WEBHOOK, "'%s' holds no secret", path);
		explicit_bzero(buf, SECRET_MAX + 1);
		free(buf);
		return;
	}
	if (c->webhook_secret)
		explicit_bzero(c->webhook_secret, c->webhook_secret_len);
	free(c->webhook_secret);
	c->webhook_secret = buf;
	c->webhook_secret_len = (size_t)n;
}

static void check_tokens(struct check *ck)
{
	struct o8_apitoken_set *set = NULL;
	struct o8_err e = O8_ERR_INIT;

	if (!ck->c->api_tokens_file || !o8_apitoken_load(&set, ck->c->api_tokens_file, &e)) {
		o8_apitoken_free(set);
		return;
	}
	if (e.path[0] && e.line) {
		if (o8_diags_add(ck->d, e.path, e.line, e.col, NULL, NULL, "%s", e.msg))
			ck->oom = true;
	} else {
		bad(ck, K_TOKENS, "%s", e.msg);
	}
}

static bool loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	return ss->ss_family == AF_INET ? (ntohl(in->sin_addr.s_addr) >> 24) == 127
					: IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					      : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void check_listeners(struct check *ck)
{
	static const size_t which[] = { K_LISTEN, K_BOOTSTRAP, K_API };
	struct sockaddr_storage ss[3];
	struct o8_err e = O8_ERR_INIT;
	size_t i, j;

	for (i = 0; i < 3; i++)
		if (o8_httpd_parse_addr(*(char **)((char *)ck->c + keys[which[i]].off), &ss[i],
					NULL, &e))
			return;         /* set_value checked them: only a lost strdup */
	if (!ck->c->api_tls && !loopback(&ss[2]))
		bad(ck, K_API_TLS, "api_tls is false but api '%s' is not a loopback address: "
		    "tokens would cross the network in clear", ck->c->api);
	for (i = 1; i < 3; i++)
		for (j = 0; j < i; j++)
			if (port_of(&ss[i]) && port_of(&ss[i]) == port_of(&ss[j]))
				bad(ck, which[i], "%s: port %u is already %s's",
				    keys[which[i]].pub.key, port_of(&ss[i]), keys[which[j]].pub.key);
}

enum o8_rc syncd_config_check(struct syncd_config *c, struct o8_diags *diags,
			      struct o8_err *err)
{
	struct check ck = { c, diags, false };
	char tokens[4200];
	size_t before = diags->n, i;

	for (i = 0; i < NKEYS; i++)
		if ((keys[i].type == T_ADDR || (keys[i].type == T_STR && keys[i].pub.def)) &&
		    !*(char **)((char *)c + keys[i].off))
			ck.oom = true;  /* a default that could not be copied */
	if (!c->pki)
		bad(&ck, K_PKI, "pki is required: the directory 'orc8r pki init' made");
	if (!c->repo_url)
		bad(&ck, K_REPO_URL, "repo.url is required: the git remote syncd follows");
	derive(&ck, K_STORE, c->state_dir, "sqlite:%s/syncd.db");
	derive(&ck, K_REPO_DIR, c->state_dir, "%s/repo");
	if (c->pki && !o8_pki_path(tokens, sizeof(tokens), c->pki, O8_PKI_API_TOKENS, NULL))
		derive(&ck, K_TOKENS, tokens, "%s");
	if (!ck.oom) {
		if (c->pki)
			check_pki(&ck);
		check_secret(&ck);
		check_tokens(&ck);
		check_listeners(&ck);
	}
	if (!c->repo_poll && !c->webhook_secret_file)
		bad(&ck, K_REPO_POLL, "repo.poll is 0 (webhook only) but there is no "
		    "webhook_secret_file: syncd would never fetch");
	if (ck.oom)
		return oom(err);
	return diags->n > before ? O8_EINVALID : O8_OK;
}

enum o8_rc syncd_config_reload(struct syncd_config *c, struct o8_diags *diags,
			       struct o8_err *err)
{
	struct syncd_config n;
	enum o8_rc rc = O8_OK;
	size_t i;

	syncd_config_init(&n);
	for (i = 0; i < c->nov && !rc; i++)
		rc = syncd_config_set(&n, keys[c->ov[i].key].pub.key, c->ov[i].value, err);
	if (!rc && c->path)
		rc = syncd_config_load(&n, c->path, diags, err);
	if (!rc)
		rc = syncd_config_check(&n, diags, err);
	if (rc) {
		syncd_config_done(&n);
		return rc;
	}
	syncd_config_done(c);
	*c = n;
	return O8_OK;
}
