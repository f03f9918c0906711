/*
 * apitoken.c - the API tokens file: parse, check in constant time, append
 * token lines and operator certificate grants.
 *
 * Only the SHA-256 of a token is kept, in memory as on disk; a token has 256
 * random bits, so a plain hash (no salt, no stretching) is enough to make
 * the file useless to whoever reads it.
 */
#include "proto/apitoken.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/base16.h>

#include "util/fileio.h"

#define SECRET_BYTES 32
#define DIGEST_BYTES 32
#define DIGEST_HEX (2 * DIGEST_BYTES)
#define TOKEN_LEN (sizeof(O8_APITOKEN_PREFIX) - 1 + 2 * SECRET_BYTES)
#define FILE_MAX (1u << 20)             /* thousands of tokens; a bigger file is a mistake */
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-"
#define HEX_CHARS "0123456789abcdef"
#define CERT_WORD "cert"                /* third field of a certificate grant */

struct entry {
	enum o8_apitoken_role role;
	char name[O8_APITOKEN_NAME_MAX + 1];
	bool cert;                      /* a certificate grant: no digest */
	uint8_t digest[DIGEST_BYTES];
};

struct o8_apitoken_set {
	char *path;
	struct entry *v;
	size_t n;
	bool present;           /* the file existed at the last read */
	struct stat st;         /* what was read, for refresh */
};

/* Indexed by enum o8_apitoken_role. */
static const char *const role_names[] = { "none", "read", "write" };

bool o8_apitoken_role_parse(const char *s, enum o8_apitoken_role *out)
{
	if (s && !strcmp(s, "read"))
		*out = O8_APITOKEN_READ;
	else if (s && !strcmp(s, "write"))
		*out = O8_APITOKEN_WRITE;
	else
		return false;
	return true;
}

const char *o8_apitoken_role_name(enum o8_apitoken_role role)
{
	return (unsigned)role < sizeof(role_names) / sizeof(role_names[0])
		? role_names[role] : "none";
}

bool o8_apitoken_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n && n <= O8_APITOKEN_NAME_MAX && strspn(name, NAME_CHARS) == n;
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static enum o8_rc sys_err(struct o8_err *err, const char *verb, const char *path, int e)
{
	char why[128];

	/* strerror, lowercased as the rest of our messages are */
	snprintf(why, sizeof(why), "%s", strerror(e));
	if (why[0] >= 'A' && why[0] <= 'Z')
		why[0] = (char)(why[0] - 'A' + 'a');
	return o8_err_set(err, e == ENOENT ? O8_ENOTFOUND : O8_ERR, NULL, 0, 0,
			  "cannot %s '%s': %s", verb, path, why);
}

static void sha256(const char *s, size_t len, uint8_t out[DIGEST_BYTES])
{
	/* Cannot fail for SHA-256 short of a broken GnuTLS; a zero digest
	   matches nothing a real token hashes to. */
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, s, len, out) < 0)
		memset(out, 0, DIGEST_BYTES);
}

/* --- reading ------------------------------------------------------------- */

/*
 * Reads the whole file; *present is false (and *out NULL) when it does not
 * exist.  A file group or others may read or write is refused: the hashes
 * are not secret enough to publish, and a writable file would let anybody
 * add a token.
 */
static enum o8_rc read_text(const char *path, char **out, size_t *len, bool *present,
			    struct stat *st, struct o8_err *err)
{
	size_t n = 0;
	char *buf;
	int fd, e;

	*out = NULL;
	*len = 0;
	*present = false;
	memset(st, 0, sizeof(*st));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? O8_OK : sys_err(err, "read", path, errno);
	if (fstat(fd, st) < 0) {
		e = errno;
		close(fd);
		return sys_err(err, "read", path, e);
	}
	if (!S_ISREG(st->st_mode) || st->st_size > FILE_MAX || (st->st_mode & 066)) {
		close(fd);
		if (!S_ISREG(st->st_mode))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "cannot read '%s': not a regular file", path);
		if (st->st_size > FILE_MAX)
			return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
					  "cannot read '%s': larger than %u bytes", path, FILE_MAX);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is open to group or others (mode %03o): "
				  "chmod 600 it", path, (unsigned)(st->st_mode & 0777));
	}
	if (!(buf = malloc((size_t)st->st_size + 1))) {
		close(fd);
		return oom(err);
	}
	while (n < (size_t)st->st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st->st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : EIO;
			close(fd);
			free(buf);
			return sys_err(err, "read", path, e);
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	*present = true;
	return O8_OK;
}

static enum o8_rc line_err(struct o8_err *err, const char *path, unsigned lineno,
			   const char *line, const char *at, const char *msg)
{
	return o8_err_set(err, O8_EINVALID, path, lineno, (unsigned)(at - line) + 1, "%s", msg);
}

/* One "ROLE NAME SHA256HEX|cert" line (NUL-terminated, no newline) into *e. */
static enum o8_rc parse_line(char *line, const char *path, unsigned lineno,
			     struct entry *e, struct o8_err *err)
{
	static const char ws[] = " \t\r";
	char *f[3], *p = line, *extra;
	struct base16_decode_ctx hex;
	size_t i, dlen = DIGEST_BYTES;

	for (i = 0; i < 3; i++) {
		p += strspn(p, ws);
		f[i] = p;
		if (!*p)
			return line_err(err, path, lineno, line, p,
					"expected 'ROLE NAME SHA256HEX' or 'ROLE NAME cert' "
					"(as 'orc8r pki api-token' and 'api-cert' write them)");
		p += strcspn(p, ws);
		if (*p)
			*p++ = '\0';
	}
	extra = p + strspn(p, ws);
	if (*extra)
		return line_err(err, path, lineno, line, extra,
				"unexpected text after the hash");
	if (!o8_apitoken_role_parse(f[0], &e->role))
		return line_err(err, path, lineno, line, f[0],
				"unknown role: expected 'read' or 'write'");
	if (!o8_apitoken_name_ok(f[1]))
		return line_err(err, path, lineno, line, f[1],
				"bad token name: 1 to 64 of A-Z a-z 0-9 . _ @ -");
	memcpy(e->name, f[1], strlen(f[1]) + 1);
	e->cert = !strcmp(f[2], CERT_WORD);
	memset(e->digest, 0, sizeof(e->digest));
	if (e->cert)
		return O8_OK;
	base16_decode_init(&hex);
	if (strlen(f[2]) != DIGEST_HEX || strspn(f[2], HEX_CHARS) != DIGEST_HEX ||
	    !base16_decode_update(&hex, &dlen, e->digest, DIGEST_HEX, f[2]) ||
	    !base16_decode_final(&hex) || dlen != DIGEST_BYTES)
		return line_err(err, path, lineno, line, f[2],
				"bad hash: expected 64 lowercase hex digits (SHA-256) "
				"or 'cert'");
	return O8_OK;
}

static const struct entry *find_name(const struct entry *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* Parses text (modified in place) into a new entry array. */
static enum o8_rc parse_text(char *text, const char *path, struct entry **out,
			     size_t *nout, struct o8_err *err)
{
	struct entry *v = NULL, e;
	size_t n = 0, cap = 0;
	unsigned lineno = 0;
	char *line = text, *nl;
	enum o8_rc rc = O8_OK;

	for (; line && *line; line = nl) {
		lineno++;
		if ((nl = strchr(line, '\n')))
			*nl++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (!line[strspn(line, " \t")] || line[strspn(line, " \t")] == '#')
			continue;
		if ((rc = parse_line(line, path, lineno, &e, err)))
			break;
		if (find_name(v, n, e.name)) {
			rc = o8_err_set(err, O8_EINVALID, path, lineno, 1,
					"token name '%s' appears twice", e.name);
			break;
		}
		if (n == cap) {
			struct entry *v2 = reallocarray(v, cap ? 2 * cap : 8, sizeof(*v));

			if (!v2) {
				rc = oom(err);
				break;
			}
			v = v2;
			cap = cap ? 2 * cap : 8;
		}
		v[n++] = e;
	}
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*nout = n;
	return O8_OK;
}

/* Reads and parses path; on failure nothing is returned. */
static enum o8_rc read_entries(const char *path, struct entry **v, size_t *n,
			       bool *present, struct stat *st, struct o8_err *err)
{
	char *text;
	size_t len;
	enum o8_rc rc;

	*v = NULL;
	*n = 0;
	if ((rc = read_text(path, &text, &len, present, st, err)) || !text)
		return rc;
	rc = parse_text(text, path, v, n, err);
	free(text);
	return rc;
}

/* --- the set ------------------------------------------------------------- */

enum o8_rc o8_apitoken_load(struct o8_apitoken_set **out, const char *path,
			    struct o8_err *err)
{
	struct o8_apitoken_set *s;
	enum o8_rc rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))) || !(s->path = strdup(path))) {
		free(s);
		return oom(err);
	}
	if ((rc = read_entries(path, &s->v, &s->n, &s->present, &s->st, err))) {
		o8_apitoken_free(s);
		return rc;
	}
	*out = s;
	return O8_OK;
}

/* ctime too: a chmod that opens the file to others must be noticed. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mode == b->st_mode &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

enum o8_rc o8_apitoken_refresh(struct o8_apitoken_set *set, struct o8_err *err)
{
	struct entry *v;
	struct stat st;
	bool present;
	size_t n;
	enum o8_rc rc;

	if (stat(set->path, &st) < 0) {
		if (errno == ENOENT && !set->present)
			return O8_OK;
	} else if (set->present && same_file(&st, &set->st)) {
		return O8_OK;
	}
	rc = read_entries(set->path, &v, &n, &present, &st, err);
	free(set->v);
	set->v = NULL;
	set->n = 0;
	/* A failed read leaves the set empty and forgets the stat, so the
	   next refresh tries again even if the file does not change. */
	set->present = false;
	if (rc)
		return rc;
	set->v = v;
	set->n = n;
	set->present = present;
	set->st = st;
	return O8_OK;
}

size_t o8_apitoken_count(const struct o8_apitoken_set *set)
{
	return set ? set->n : 0;
}

bool o8_apitoken_check(const struct o8_apitoken_set *set, const char *token,
		       enum o8_apitoken_role *role, const char **name)
{
	uint8_t d[DIGEST_BYTES];
	const struct entry *hit = NULL;
	size_t i, len;

	if (!set || !token)
		return false;
	/* The shape of a token is no secret: refuse junk before hashing it. */
	len = strnlen(token, TOKEN_LEN + 1);
	if (len != TOKEN_LEN || strncmp(token, O8_APITOKEN_PREFIX, sizeof(O8_APITOKEN_PREFIX) - 1))
		return false;
	sha256(token, len, d);
	for (i = 0; i < set->n; i++)
		if (gnutls_memcmp(d, set->v[i].digest, DIGEST_BYTES) == 0 && !set->v[i].cert)
			hit = &set->v[i];
	explicit_bzero(d, sizeof(d));
	if (!hit)
		return false;
	if (role)
		*role = hit->role;
	if (name)
		*name = hit->name;
	return true;
}

bool o8_apitoken_check_cert(const struct o8_apitoken_set *set, const char *name,
			    enum o8_apitoken_role *role)
{
	const struct entry *e;

	/* Names are no secret: a plain search is fine here. */
	if (!set || !name || !(e = find_name(set->v, set->n, name)) || !e->cert)
		return false;
	if (role)
		*role = e->role;
	return true;
}

void o8_apitoken_free(struct o8_apitoken_set *set)
{
	if (!set)
		return;
	free(set->v);
	free(set->path);
	free(set);
}

/* --- creating ------------------------------------------------------------ */

/* Exclusive flock on the directory holding path; returns the fd to close, or -1. */
static int lock_parent(const char *path, struct o8_err *err)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	int fd;

	if (!dir) {
		oom(err);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		sys_err(err, "open", dir, errno);
	while (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		sys_err(err, "lock", dir, errno);
		close(fd);
		fd = -1;
	}
	free(dir);
	return fd;
}

/* "o8a1.<64 hex>" from 32 random bytes. */
static enum o8_rc make_token(char out[TOKEN_LEN + 1], struct o8_err *err)
{
	uint8_t raw[SECRET_BYTES];
	const size_t plen = sizeof(O8_APITOKEN_PREFIX) - 1;
	int r;

	if ((r = gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw))) < 0)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot get random bytes: %s",
				  gnutls_strerror(r));
	memcpy(out, O8_APITOKEN_PREFIX, plen);
	base16_encode_update(out + plen, sizeof(raw), raw);
	out[TOKEN_LEN] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return O8_OK;
}

/* The tokens file as it is under the lock: its text and what it says. */
struct locked {
	int lock;
	char *text;                     /* NULL: no file yet */
	size_t len;
	struct entry *v;
	size_t n;
};

static void locked_done(struct locked *f)
{
	if (f->lock >= 0)
		close(f->lock);
	free(f->text);
	free(f->v);
}

/* Locks the file's directory, then reads and parses the file. */
static enum o8_rc locked_read(struct locked *f, const char *path, struct o8_err *err)
{
	struct stat st;
	bool present;
	char *copy;
	enum o8_rc rc;

	memset(f, 0, sizeof(*f));
	if ((f->lock = lock_parent(path, err)) < 0)
		return err->rc;
	if ((rc = read_text(path, &f->text, &f->len, &present, &st, err)) || !f->text)
		return rc;
	/* Parse a copy: the original text is kept as it is, comments and all. */
	if (!(copy = strdup(f->text)))
		return oom(err);
	rc = parse_text(copy, path, &f->v, &f->n, err);
	free(copy);
	return rc;
}

/* Rewrites the file with "ROLE NAME LAST\n" appended. */
static enum o8_rc locked_append(const struct locked *f, const char *path,
				enum o8_apitoken_role role, const char *name,
				const char *last, struct o8_err *err)
{
	bool nl = f->len && f->text[f->len - 1] != '\n';
	char *next;
	enum o8_rc rc;

	if (asprintf(&next, "%.*s%s%s %s %s\n", (int)f->len, f->len ? f->text : "",
		     nl ? "\n" : "", o8_apitoken_role_name(role), name, last) < 0)
		return oom(err);
	rc = o8_fileio_write_atomic(path, next, strlen(next), 0600, true, err);
	free(next);
	return rc;
}

static enum o8_rc check_new(const char *name, enum o8_apitoken_role role,
			    struct o8_err *err)
{
	if (role != O8_APITOKEN_READ && role != O8_APITOKEN_WRITE)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "a role is 'read' or 'write'");
	if (!o8_apitoken_name_ok(name))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "bad name '%s': 1 to 64 of A-Z a-z 0-9 . _ @ -",
				  name ? name : "");
	return O8_OK;
}

static enum o8_rc name_taken(const char *path, const struct entry *e, struct o8_err *err)
{
	if (e->cert)
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				  "'%s' already grants role %s to the certificate '%s': "
				  "pick another name, or edit that line", path,
				  o8_apitoken_role_name(e->role), e->name);
	return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
			  "'%s' already has a token named '%s': pick another name, or "
			  "delete its line to revoke it first", path, e->name);
}

enum o8_rc o8_apitoken_create(char **out_token, const char *path, const char *name,
			      enum o8_apitoken_role role, struct o8_err *err)
{
	char token[TOKEN_LEN + 1], hex[DIGEST_HEX + 1];
	uint8_t d[DIGEST_BYTES];
	const struct entry *e;
	struct locked f;
	enum o8_rc rc;

	*out_token = NULL;
	if ((rc = check_new(name, role, err)))
		return rc;
	if ((rc = locked_read(&f, path, err)))
		goto out;
	if ((e = find_name(f.v, f.n, name))) {
		rc = name_taken(path, e, err);
		goto out;
	}
	if ((rc = make_token(token, err)))
		goto out;
	sha256(token, strlen(token), d);
	base16_encode_update(hex, sizeof(d), d);
	hex[DIGEST_HEX] = '\0';
	if (!(*out_token = strdup(token))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = locked_append(&f, path, role, name, hex, err))) {
		explicit_bzero(*out_token, TOKEN_LEN);
		free(*out_token);
		*out_token = NULL;
	}
out:
	locked_done(&f);
	explicit_bzero(token, sizeof(token));
	return rc;
}

enum o8_rc o8_apitoken_grant_cert(const char *path, const char *name,
				  enum o8_apitoken_role role, bool *out_added,
				  struct o8_err *err)
{
	const struct entry *e;
	struct locked f;
	enum o8_rc rc;

	if (out_added)
		*out_added = false;
	if ((rc = check_new(name, role, err)))
		return rc;
	if ((rc = locked_read(&f, path, err)))
		goto out;
	if ((e = find_name(f.v, f.n, name))) {
		if (e->cert && e->role == role)
			goto out;       /* a renewal: the grant stands */
		rc = e->cert
			? o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				     "'%s' grants role %s to the certificate '%s', not %s: "
				     "edit that line to change it", path,
				     o8_apitoken_role_name(e->role), name,
				     o8_apitoken_role_name(role))
			: name_taken(path, e, err);
		goto out;
	}
	if (!(rc = locked_append(&f, path, role, name, CERT_WORD, err)) && out_added)
		*out_added = true;
out:
	locked_done(&f);
	return rc;
}
