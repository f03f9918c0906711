/*
 * agstate.c - generations on disk, a pointer, and the order of durable
 * steps that makes an apply atomic.
 *
 * Why this order: a generation is written under a staging name and
 * renamed to gen/<v> only once its files and directory are fsync'd, so a
 * gen/<v> is always whole.  The pointer "current" is the commit point:
 * until its rename the old version is the state, after it the new one.
 * Every directory whose entries changed is fsync'd before the next step
 * depends on it.  Open then only has to sweep what a crash left beside the
 * pointer.  meta.json records the size and SHA-256 of every other file, so
 * a torn or altered file is found at load, not when a service reads it.
 *
 * All paths are resolved relative to directory descriptors held for the
 * life of the state (openat and friends), so the state directory may be
 * renamed or reached through a symlink without mixing two trees.
 */
#include "agstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/base16.h>
#include <nettle/sha2.h>
#include <protobuf-c/protobuf-c.h>

#include "mconfig.h"
#include "orc8r.pb-c.h"
#include "util/fileio.h"

#define DIGEST_LEN 32
#define FORMAT 1
#define META_MAX (1u << 20)             /* meta.json is a few hundred bytes */
#define RECORD_MAX (64u << 20)          /* sanity bound on one record */
#define STAGING_PREFIX ".staging-"
#define POINTER "current"
#define POINTER_TMP ".current.tmp"

/* The files of a generation; meta.json describes the others. */
enum gen_file { F_RECORDS, F_MCONFIG, F_SUBSCRIBERS, F__COUNT };

static const char *const file_names[F__COUNT] = {
	[F_RECORDS] = "records.bin",
	[F_MCONFIG] = "gateway.mconfig",
	[F_SUBSCRIBERS] = "subscribers.json",
};

#define META_NAME "meta.json"

/* One generation in memory: records and ptrs index into blob. */
struct gen {
	uint64_t version;
	const char *commit, *network, *gateway;
	struct o8_record *recs;
	const struct o8_record **ptrs;
	size_t n;
	char *blob;
	struct o8_wire_kind_digests kd;
};

struct o8_agstate {
	char *dir;
	int dfd;                        /* dir, flock'd */
	int gfd;                        /* dir/gen */
	struct o8_agstate_open_opts opts;
	struct gen cur;
	uint64_t prev;                  /* 0: no previous generation */
	char *recovered;                /* why open fell back, or NULL */
};

/* What a generation's files were, as meta.json says. */
struct file_sum {
	bool present;
	uint64_t bytes;
	uint8_t sha256[DIGEST_LEN];
};

/* --- small helpers ---------------------------------------------------- */

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static enum o8_rc sys_err(struct o8_err *err, const char *what,
			  const struct o8_agstate *s, const char *rel)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot %s '%s/%s': %s",
			  what, s->dir, rel, strerror(errno));
}

static int step(const struct o8_agstate *s, const char *what)
{
	return s->opts.step ? s->opts.step(s->opts.payload, what) : 0;
}

static enum o8_rc stopped(struct o8_err *err, const char *what)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "stopped before '%s'", what);
}

#define STEP(s, what, err) \
	do { if (step((s), (what))) return stopped((err), (what)); } while (0)

static void sha256_of(const void *p, size_t n, uint8_t out[DIGEST_LEN])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, p);
	sha256_digest(&c, DIGEST_LEN, out);
}

/* A canonical decimal version ("0" and leading zeros are not ones). */
static bool parse_version(const char *p, uint64_t *out)
{
	uint64_t v = 0;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return true;
}

static int rec_cmp(enum o8_rec_kind ka, const char *a, enum o8_rec_kind kb,
		   const char *b)
{
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return strcmp(a, b);
}

static int rec_ptr_cmp(const void *a, const void *b)
{
	const struct o8_record *x = *(const struct o8_record *const *)a;
	const struct o8_record *y = *(const struct o8_record *const *)b;

	return rec_cmp(x->kind, x->key, y->kind, y->key);
}

static int key_ptr_cmp(const void *a, const void *b)
{
	const struct o8_wire_key *x = *(const struct o8_wire_key *const *)a;
	const struct o8_wire_key *y = *(const struct o8_wire_key *const *)b;

	return rec_cmp(x->kind, x->key, y->kind, y->key);
}

static bool kind_ok(unsigned k)
{
	return k > 0 && k < O8_REC__COUNT;
}

/* Sorts v (n pointers) and returns the index of the first element equal
 * to the one before it; 0 when all differ. */
static size_t sort_find_dup(void *v, size_t n, int (*cmp)(const void *, const void *))
{
	const char *p = v;
	size_t i;

	qsort(v, n, sizeof(void *), cmp);
	for (i = 1; i < n; i++)
		if (!cmp(p + (i - 1) * sizeof(void *), p + i * sizeof(void *)))
			return i;
	return 0;
}

/* --- generations in memory ------------------------------------------------ */

/*
 * Copies go into one block per generation.  A filler without a block only
 * measures: apply builds a generation twice, once to size the block and
 * once to fill it, so no copy ever moves.  Load sizes the block from
 * records.bin instead, which always holds more bytes than the copies.
 */
struct filler {
	char *p;
	size_t off, cap;
	const char *last_net;   /* the previous record's network (the copy
				   when filling, the source when measuring) */
};

static const char *put(struct filler *f, const void *src, size_t n, bool nul)
{
	char *d;

	if (!f->p) {
		f->off += n + nul;
		return "";
	}
	if (f->cap - f->off < n + nul)
		return NULL;
	d = f->p + f->off;
	if (n)
		memcpy(d, src, n);
	if (nul)
		d[n] = '\0';
	f->off += n + nul;
	return d;
}

static const char *put_str(struct filler *f, const char *s)
{
	return put(f, s, strlen(s), true);
}

static bool fill_meta(struct gen *g, struct filler *f, const char *commit,
		      const char *network, const char *gateway)
{
	g->commit = put_str(f, commit);
	g->network = put_str(f, network);
	g->gateway = put_str(f, gateway);
	f->last_net = f->p ? g->network : network;
	return g->commit && g->network && g->gateway;
}

/* Copies r as record i (or measures it). */
static bool fill_one(struct gen *g, struct filler *f, size_t i,
		     const struct o8_record *r)
{
	struct o8_record *d = &g->recs[i];
	const char *net = f->last_net, *key, *body;

	/* an AGW's records share one network: it is stored once */
	if (strcmp(r->network, f->last_net))
		net = put_str(f, r->network);
	key = put_str(f, r->key);
	body = put(f, r->body, r->len, false);
	if (!net || !key || !body)
		return false;
	if (!f->p) {
		f->last_net = r->network;
		return true;
	}
	f->last_net = net;
	memset(d, 0, sizeof(*d));
	d->kind = r->kind;
	d->network = net;
	d->key = d->name = key;
	d->body = (const uint8_t *)body;
	d->len = r->len;
	memcpy(d->digest, r->digest, DIGEST_LEN);
	g->ptrs[i] = d;
	return true;
}

static void gen_done(struct gen *g)
{
	free(g->recs);
	free(g->ptrs);
	free(g->blob);
	memset(g, 0, sizeof(*g));
}

static enum o8_rc gen_alloc(struct gen *g, size_t n, size_t blob_cap,
			    struct filler *f, struct o8_err *err)
{
	g->recs = malloc((n ? n : 1) * sizeof(*g->recs));
	g->ptrs = malloc((n ? n : 1) * sizeof(*g->ptrs));
	g->blob = malloc(blob_cap ? blob_cap : 1);
	if (!g->recs || !g->ptrs || !g->blob) {
		gen_done(g);
		return oom(err);
	}
	f->p = g->blob;
	f->off = 0;
	f->cap = blob_cap;
	return O8_OK;
}

/* A new generation holding copies of src (sorted by kind and key). */
static enum o8_rc gen_build(struct gen *g, uint64_t version,
			    const struct o8_record *const *src, size_t n,
			    const char *commit, const char *network,
			    const char *gateway, struct o8_err *err)
{
	struct filler f = { 0 };
	enum o8_rc rc;
	size_t i;
	int pass;

	memset(g, 0, sizeof(*g));
	for (pass = 0; pass < 2; pass++) {
		if (pass && (rc = gen_alloc(g, n, f.off, &f, err)))
			return rc;
		if (!fill_meta(g, &f, commit, network, gateway))
			goto outgrown;
		for (i = 0; i < n; i++)
			if (!fill_one(g, &f, i, src[i]))
				goto outgrown;
	}
	g->version = version;
	g->n = n;
	if ((rc = o8_wire_kind_digests_of(&g->kd, g->ptrs, n, err)))
		gen_done(g);
	return rc;
outgrown:
	gen_done(g);
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "generation outgrew its block");
}

/* --- the directory -------------------------------------------------------- */

/* Removes gen/<name> and the files in it; one that is gone is removed. */
static int rm_gen(int gfd, const char *name)
{
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	fd = openat(gfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    unlinkat(fd, e->d_name, 0) && errno != ENOENT)
			rc = -1;
	closedir(d);
	if (!rc && unlinkat(gfd, name, AT_REMOVEDIR) && errno != ENOENT)
		rc = -1;
	return rc;
}

/*
 * Calls fn for each entry of gen/: staging directories with v 0, and
 * generations with their version.  Other names are left alone.
 */
static void each_gen(const struct o8_agstate *s,
		     void (*fn)(const struct o8_agstate *s, const char *name,
				uint64_t v, void *payload),
		     void *payload)
{
	struct dirent *e;
	DIR *d;
	int fd;

	fd = openat(s->gfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		uint64_t v;

		if (!strncmp(e->d_name, STAGING_PREFIX, sizeof(STAGING_PREFIX) - 1))
			fn(s, e->d_name, 0, payload);
		else if (parse_version(e->d_name, &v))
			fn(s, e->d_name, v, payload);
	}
	closedir(d);
}

struct keep {
	uint64_t a, b;
};

static void sweep_one(const struct o8_agstate *s, const char *name, uint64_t v,
		      void *payload)
{
	const struct keep *k = payload;

	if (!v || (v != k->a && v != k->b))
		rm_gen(s->gfd, name);
}

/*
 * Removes staging directories and every generation but a and b (0 keeps
 * none).  Best effort: whatever stays is swept next time.
 */
static void sweep(const struct o8_agstate *s, uint64_t a, uint64_t b)
{
	struct keep k = { a ? a : UINT64_MAX, b ? b : UINT64_MAX };

	if (step(s, "sweep generations"))
		return;
	each_gen(s, sweep_one, &k);
	fsync(s->gfd);
}

static void newest_one(const struct o8_agstate *s, const char *name, uint64_t v,
		       void *payload)
{
	uint64_t *best = payload;       /* [0] the bound, [1] the best */

	(void)s;
	(void)name;
	if (v && v < best[0] && v > best[1])
		best[1] = v;
}

/* The newest generation on disk below `below`; 0 when none. */
static uint64_t newest_below(const struct o8_agstate *s, uint64_t below)
{
	uint64_t best[2] = { below, 0 };

	each_gen(s, newest_one, best);
	return best[1];
}

/* --- loading a generation ------------------------------------------------- */

/* A broken generation: "'DIR/gen/5/records.bin': <why>". */
static enum o8_rc corrupt(struct o8_err *err, const struct o8_agstate *s,
			  uint64_t v, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static enum o8_rc corrupt(struct o8_err *err, const struct o8_agstate *s,
			  uint64_t v, const char *file, const char *fmt, ...)
{
	char why[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
			  "'%s/gen/%" PRIu64 "%s%s': %s", s->dir, v,
			  *file ? "/" : "", file, why);
}

/* Reads a whole regular file of at most max bytes (malloc'd, plus a NUL);
 * -1 with errno (EFBIG: not a regular file, or too large). */
static int slurp(int dfd, const char *name, uint64_t max, uint8_t **out,
		 size_t *len)
{
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_info in;
	enum o8_rc rc;

	o.max = max >= SIZE_MAX ? SIZE_MAX - 1 : (size_t)max;
	rc = o8_fileio_read_at(dfd, name, O_NOFOLLOW, (char **)out, len, &in, &o, NULL);
	if (rc)
		errno = rc == O8_EINVALID || rc == O8_ELIMIT ? EFBIG : in.errnum;
	return rc ? -1 : 0;
}

/* Size and SHA-256 of a file, streamed (subscribers.json can be big). */
static int hash_file(int dfd, const char *name, uint64_t *bytes,
		     uint8_t digest[DIGEST_LEN])
{
	struct sha256_ctx c;
	uint8_t buf[16384];
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	sha256_init(&c);
	*bytes = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		sha256_update(&c, (size_t)r, buf);
		*bytes += (uint64_t)r;
	}
	close(fd);
	sha256_digest(&c, DIGEST_LEN, digest);
	return 0;
}

static bool hex_digest(const char *hex, uint8_t out[DIGEST_LEN])
{
	struct base16_decode_ctx c;
	size_t n = DIGEST_LEN;

	if (!hex || strlen(hex) != 2 * DIGEST_LEN)
		return false;
	base16_decode_init(&c);
	return base16_decode_update(&c, &n, out, 2 * DIGEST_LEN, hex) &&
	       base16_decode_final(&c) && n == DIGEST_LEN;
}

/* What meta.json says; strings borrowed from its JSON. */
struct meta {
	const char *commit, *network, *gateway;
	uint64_t count;
	struct file_sum files[F__COUNT];
};

static enum o8_rc meta_files(struct meta *m, json_t *files,
			     const struct o8_agstate *s, uint64_t v,
			     struct o8_err *err)
{
	size_t i;

	for (i = 0; i < F__COUNT; i++) {
		json_t *f = json_object_get(files, file_names[i]);
		json_t *bytes = json_object_get(f, "bytes");

		if (!f)
			continue;
		if (!json_is_integer(bytes) || json_integer_value(bytes) < 0 ||
		    !hex_digest(json_string_value(json_object_get(f, "sha256")),
				m->files[i].sha256))
			return corrupt(err, s, v, META_NAME, "bad entry for '%s'",
				       file_names[i]);
		m->files[i].present = true;
		m->files[i].bytes = (uint64_t)json_integer_value(bytes);
	}
	if (!m->files[F_RECORDS].present)
		return corrupt(err, s, v, META_NAME, "no entry for '%s'",
			       file_names[F_RECORDS]);
	return O8_OK;
}

static enum o8_rc meta_read(json_t **root, struct meta *m, int vfd,
			    const struct o8_agstate *s, uint64_t v,
			    struct o8_err *err)
{
	json_t *j, *count, *version;
	uint8_t *text;
	size_t len;
	char want[24];

	*root = NULL;
	if (slurp(vfd, META_NAME, META_MAX, &text, &len))
		return corrupt(err, s, v, META_NAME, "%s", strerror(errno));
	j = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	if (!j)
		return corrupt(err, s, v, META_NAME, "not valid JSON");
	*root = j;
	snprintf(want, sizeof(want), "%" PRIu64, v);
	count = json_object_get(j, "count");
	version = json_object_get(j, "version");
	m->commit = json_string_value(json_object_get(j, "commit"));
	m->network = json_string_value(json_object_get(j, "network"));
	m->gateway = json_string_value(json_object_get(j, "gateway"));
	if (json_integer_value(json_object_get(j, "format")) != FORMAT ||
	    !json_is_string(version) || strcmp(json_string_value(version), want) ||
	    !m->commit || !m->network || !m->gateway ||
	    !json_is_integer(count) || json_integer_value(count) < 0)
		return corrupt(err, s, v, META_NAME,
			       "not the meta data of version %s (format %d)",
			       want, FORMAT);
	m->count = (uint64_t)json_integer_value(count);
	return meta_files(m, json_object_get(j, "files"), s, v, err);
}

/* Checks a file against its size and SHA-256 in meta.json. */
static enum o8_rc check_sum(const struct file_sum *f, const char *name,
			    uint64_t bytes, const uint8_t digest[DIGEST_LEN],
			    const struct o8_agstate *s, uint64_t v,
			    struct o8_err *err)
{
	if (bytes != f->bytes)
		return corrupt(err, s, v, name, "%" PRIu64 " bytes, meta.json "
			       "says %" PRIu64 "%s", bytes, f->bytes,
			       bytes < f->bytes ? " (truncated)" : "");
	if (memcmp(digest, f->sha256, DIGEST_LEN))
		return corrupt(err, s, v, name, "SHA-256 differs from meta.json");
	return O8_OK;
}

/* The derived files (mconfig, subscribers) must be what was written. */
static enum o8_rc check_derived(const struct meta *m, int vfd,
				const struct o8_agstate *s, uint64_t v,
				struct o8_err *err)
{
	uint8_t digest[DIGEST_LEN];
	uint64_t bytes;
	size_t i;

	for (i = F_RECORDS + 1; i < F__COUNT; i++) {
		enum o8_rc rc;

		if (!m->files[i].present)
			continue;
		if (hash_file(vfd, file_names[i], &bytes, digest))
			return corrupt(err, s, v, file_names[i], "%s", strerror(errno));
		if ((rc = check_sum(&m->files[i], file_names[i], bytes, digest,
				    s, v, err)))
			return rc;
	}
	return O8_OK;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * Record i: the length-prefixed Record at buf[*pos], checked (kind,
 * network, key, digest, order after record i - 1) and copied into g.
 */
static enum o8_rc parse_record(struct gen *g, struct filler *f, size_t i,
			       const uint8_t *buf, size_t len, size_t *pos,
			       const struct o8_agstate *s, struct o8_err *err)
{
	const char *file = file_names[F_RECORDS];
	struct o8_record view = { 0 };
	Orc8r__V1__Record *r;
	uint32_t n;
	enum o8_rc rc = O8_OK;

	if (len - *pos < 4 || (n = be32(buf + *pos)) > len - *pos - 4)
		return corrupt(err, s, g->version, file, "record %zu is cut short", i);
	r = orc8r__v1__record__unpack(NULL, n, buf + *pos + 4);
	if (!r)
		return corrupt(err, s, g->version, file, "record %zu does not decode", i);
	*pos += 4 + n;
	if (r->body.len)
		sha256_of(r->body.data, r->body.len, view.digest);
	else
		sha256_of("", 0, view.digest);
	if (!kind_ok(r->kind) || !r->key[0] || !r->network[0])
		rc = corrupt(err, s, g->version, file,
			     "record %zu has no kind, network or key", i);
	else if (r->digest.len != DIGEST_LEN ||
		 memcmp(view.digest, r->digest.data, DIGEST_LEN))
		rc = corrupt(err, s, g->version, file, "digest of %s '%s' does "
			     "not match its body",
			     o8_rec_kind_name((enum o8_rec_kind)r->kind), r->key);
	else if (i && rec_cmp(g->recs[i - 1].kind, g->recs[i - 1].key,
			      (enum o8_rec_kind)r->kind, r->key) >= 0)
		rc = corrupt(err, s, g->version, file, "%s '%s' is out of order",
			     o8_rec_kind_name((enum o8_rec_kind)r->kind), r->key);
	if (!rc) {
		view.kind = (enum o8_rec_kind)r->kind;
		view.network = r->network;
		view.key = r->key;
		view.body = r->body.data;
		view.len = r->body.len;
		if (!fill_one(g, f, i, &view))
			rc = corrupt(err, s, g->version, file, "record %zu is "
				     "larger than the file", i);
	}
	orc8r__v1__record__free_unpacked(r, NULL);
	return rc;
}

/* records.bin of version v, already read and checked against meta.json. */
static enum o8_rc parse_records(struct gen *g, const struct meta *m,
				const uint8_t *buf, size_t len,
				const struct o8_agstate *s, struct o8_err *err)
{
	const char *file = file_names[F_RECORDS];
	struct filler f = { 0 };
	size_t i, pos = 0;
	enum o8_rc rc;

	/* a record takes more than 4 bytes: refuse an absurd count before
	   allocating for it */
	if (m->count > len / 4)
		return corrupt(err, s, g->version, file, "%zu bytes cannot hold "
			       "%" PRIu64 " records", len, m->count);
	g->n = (size_t)m->count;
	if ((rc = gen_alloc(g, g->n, len + strlen(m->commit) +
			    strlen(m->network) + strlen(m->gateway) + 3, &f, err)))
		return rc;
	fill_meta(g, &f, m->commit, m->network, m->gateway);
	for (i = 0; i < g->n; i++)
		if ((rc = parse_record(g, &f, i, buf, len, &pos, s, err)))
			return rc;
	if (pos != len)
		return corrupt(err, s, g->version, file, "%zu bytes after the "
			       "%zu records meta.json counts", len - pos, g->n);
	return o8_wire_kind_digests_of(&g->kd, g->ptrs, g->n, err);
}

/* Loads and verifies generation v into g (left empty on failure). */
static enum o8_rc gen_load(struct gen *g, const struct o8_agstate *s,
			   uint64_t v, struct o8_err *err)
{
	uint8_t digest[DIGEST_LEN], *buf = NULL;
	struct meta m = { 0 };
	json_t *root = NULL;
	char name[24];
	size_t len = 0;
	enum o8_rc rc;
	int vfd;

	memset(g, 0, sizeof(*g));
	g->version = v;
	snprintf(name, sizeof(name), "%" PRIu64, v);
	vfd = openat(s->gfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0)
		return corrupt(err, s, v, "", "%s", strerror(errno));
	if ((rc = meta_read(&root, &m, vfd, s, v, err)) ||
	    (rc = check_derived(&m, vfd, s, v, err)))
		goto out;
	if (slurp(vfd, file_names[F_RECORDS], UINT32_MAX * (uint64_t)16, &buf, &len)) {
		rc = corrupt(err, s, v, file_names[F_RECORDS], "%s", strerror(errno));
		goto out;
	}
	sha256_of(buf, len, digest);
	if ((rc = check_sum(&m.files[F_RECORDS], file_names[F_RECORDS], len,
			    digest, s, v, err)))
		goto out;
	rc = parse_records(g, &m, buf, len, s, err);
out:
	if (rc)
		gen_done(g);
	g->version = rc ? 0 : v;
	free(buf);
	json_decref(root);
	close(vfd);
	return rc;
}

/* --- writing a generation --------------------------------------------------- */

/* A file being written: buffered, hashed as it goes. */
struct wfile {
	int fd;
	const char *name;
	struct sha256_ctx h;
	uint64_t bytes;
	size_t n;
	uint8_t buf[1 << 16];
};

static int wf_flush(struct wfile *w)
{
	if (o8_fileio_write_all(w->fd, w->buf, w->n))
		return -1;
	w->n = 0;
	return 0;
}

static int wf_put(struct wfile *w, const void *p, size_t n)
{
	const uint8_t *src = p;

	sha256_update(&w->h, n, src);
	w->bytes += n;
	while (n) {
		size_t k = sizeof(w->buf) - w->n;

		if (k > n)
			k = n;
		memcpy(w->buf + w->n, src, k);
		w->n += k;
		src += k;
		n -= k;
		if (w->n == sizeof(w->buf) && wf_flush(w))
			return -1;
	}
	return 0;
}

/* What writing a generation needs besides the records. */
struct writing {
	struct o8_agstate *s;
	int sfd;                        /* the staging directory */
	char stage[48];                 /* its name in gen/ */
	struct wfile *w;
	struct file_sum sums[F__COUNT];
};

static enum o8_rc wr_fail(struct writing *x, const char *what,
			  const char *name, struct o8_err *err)
{
	char rel[96];

	snprintf(rel, sizeof(rel), "gen/%s/%s", x->stage, name);
	return sys_err(err, what, x->s, rel);
}

static enum o8_rc wr_open(struct writing *x, const char *name,
			  struct o8_err *err)
{
	char what[64];

	snprintf(what, sizeof(what), "write %s", name);
	STEP(x->s, what, err);
	x->w->fd = openat(x->sfd, name, O_WRONLY | O_CREAT | O_EXCL |
			  O_NOFOLLOW | O_CLOEXEC, 0600);
	if (x->w->fd < 0)
		return wr_fail(x, "create", name, err);
	x->w->name = name;
	x->w->bytes = 0;
	x->w->n = 0;
	sha256_init(&x->w->h);
	return O8_OK;
}

/* Flushes, fsyncs and closes the file; sum gets its size and digest. */
static enum o8_rc wr_close(struct writing *x, struct file_sum *sum,
			   struct o8_err *err)
{
	struct wfile *w = x->w;
	char what[64];
	enum o8_rc rc = O8_OK;

	snprintf(what, sizeof(what), "fsync %s", w->name);
	if (wf_flush(w))
		rc = wr_fail(x, "write", w->name, err);
	else if (step(x->s, what))
		rc = stopped(err, what);
	else if (fsync(w->fd))
		rc = wr_fail(x, "fsync", w->name, err);
	if (close(w->fd) && !rc)
		rc = wr_fail(x, "close", w->name, err);
	w->fd = -1;
	if (sum) {
		sum->present = true;
		sum->bytes = w->bytes;
		sha256_digest(&w->h, DIGEST_LEN, sum->sha256);
	}
	/* the buffer held keys (subscribers.json) */
	explicit_bzero(w->buf, sizeof(w->buf));
	return rc;
}

static enum o8_rc wr_text(struct writing *x, const char *name, const char *text,
			  struct file_sum *sum, struct o8_err *err)
{
	enum o8_rc rc;

	if ((rc = wr_open(x, name, err)))
		return rc;
	if (wf_put(x->w, text, strlen(text))) {
		rc = wr_fail(x, "write", name, err);
		wr_close(x, NULL, &(struct o8_err){ 0 });
		return rc;
	}
	return wr_close(x, sum, err);
}

/* protobuf-c packs a Record straight into the file's buffer. */
struct pack_sink {
	ProtobufCBuffer base;
	struct wfile *w;
	bool failed;
};

static void pack_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
	struct pack_sink *k = (struct pack_sink *)b;

	if (!k->failed && wf_put(k->w, data, len))
		k->failed = true;
}

static bool put_record(struct pack_sink *k, const struct o8_record *r)
{
	Orc8r__V1__Record m = ORC8R__V1__RECORD__INIT;
	uint8_t hdr[4];
	size_t n;

	m.kind = (Orc8r__V1__RecordKind)r->kind;
	m.network = (char *)r->network;
	m.key = (char *)r->key;
	m.body.data = (uint8_t *)r->body;
	m.body.len = r->len;
	m.digest.data = (uint8_t *)r->digest;
	m.digest.len = DIGEST_LEN;
	n = orc8r__v1__record__get_packed_size(&m);
	hdr[0] = (uint8_t)(n >> 24);
	hdr[1] = (uint8_t)(n >> 16);
	hdr[2] = (uint8_t)(n >> 8);
	hdr[3] = (uint8_t)n;
	if (n > RECORD_MAX || wf_put(k->w, hdr, sizeof(hdr)))
		return false;
	orc8r__v1__record__pack_to_buffer(&m, &k->base);
	return !k->failed;
}

static enum o8_rc wr_records(struct writing *x, const struct gen *g,
			     struct o8_err *err)
{
	const char *name = file_names[F_RECORDS];
	struct pack_sink k = { .base.append = pack_append, .w = x->w };
	enum o8_rc rc;
	size_t i;

	if ((rc = wr_open(x, name, err)))
		return rc;
	for (i = 0; i < g->n; i++) {
		if (!put_record(&k, g->ptrs[i])) {
			rc = wr_fail(x, "write", name, err);
			break;
		}
		/* a crash test's torn file: half the records, on disk */
		if (i == g->n / 2 && !wf_flush(x->w) &&
		    step(x->s, "records.bin half written")) {
			rc = stopped(err, "records.bin half written");
			break;
		}
	}
	if (rc) {
		wr_close(x, NULL, &(struct o8_err){ 0 });
		return rc;
	}
	return wr_close(x, &x->sums[F_RECORDS], err);
}

static char *meta_text(const struct gen *g, const struct file_sum *sums)
{
	json_t *root, *files = json_object();
	char ver[24], *text = NULL;
	size_t i;

	if (!files)
		return NULL;
	for (i = 0; i < F__COUNT; i++) {
		char hex[2 * DIGEST_LEN + 1];

		if (!sums[i].present)
			continue;
		base16_encode_update(hex, DIGEST_LEN, sums[i].sha256);
		hex[2 * DIGEST_LEN] = '\0';
		if (json_object_set_new(files, file_names[i],
					json_pack("{s:I,s:s}", "bytes",
						  (json_int_t)sums[i].bytes,
						  "sha256", hex))) {
			json_decref(files);
			return NULL;
		}
	}
	snprintf(ver, sizeof(ver), "%" PRIu64, g->version);
	root = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:o}", "format", FORMAT,
			 "version", ver, "commit", g->commit, "network",
			 g->network, "gateway", g->gateway, "count",
			 (json_int_t)g->n, "files", files);
	if (root) {
		char *t = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);

		if (t && asprintf(&text, "%s\n", t) < 0)
			text = NULL;
		free(t);
	}
	json_decref(root);
	return text;
}

/* The files of g, fsync'd, in the staging directory. */
static enum o8_rc wr_files(struct writing *x, const struct gen *g,
			   const char *mconfig, const char *subscribers,
			   struct o8_err *err)
{
	char *meta;
	enum o8_rc rc;

	if ((rc = wr_records(x, g, err)) ||
	    (mconfig && (rc = wr_text(x, file_names[F_MCONFIG], mconfig,
				      &x->sums[F_MCONFIG], err))) ||
	    (subscribers && (rc = wr_text(x, file_names[F_SUBSCRIBERS],
					  subscribers, &x->sums[F_SUBSCRIBERS],
					  err))))
		return rc;
	if (!(meta = meta_text(g, x->sums)))
		return oom(err);
	rc = wr_text(x, META_NAME, meta, NULL, err);
	free(meta);
	return rc;
}

/*
 * Writes g as gen/<version>: into gen/.staging-<version>, fsync'd file by
 * file and as a directory, then renamed and gen/ fsync'd.  On failure the
 * staging directory is removed; gen/<version> may be left (never pointed
 * to, it is swept later).
 */
static enum o8_rc gen_write(struct o8_agstate *s, const struct gen *g,
			    const char *mconfig, const char *subscribers,
			    struct o8_err *err)
{
	struct writing x = { .s = s, .sfd = -1 };
	char name[24];
	enum o8_rc rc;

	snprintf(name, sizeof(name), "%" PRIu64, g->version);
	snprintf(x.stage, sizeof(x.stage), STAGING_PREFIX "%s", name);
	STEP(s, "create staging directory", err);
	if (rm_gen(s->gfd, x.stage) || rm_gen(s->gfd, name) ||
	    mkdirat(s->gfd, x.stage, 0700) ||
	    (x.sfd = openat(s->gfd, x.stage, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = wr_fail(&x, "create", "", err);
		goto out;
	}
	if (!(x.w = malloc(sizeof(*x.w)))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = wr_files(&x, g, mconfig, subscribers, err)))
		goto out;
	if (step(s, "fsync generation"))
		rc = stopped(err, "fsync generation");
	else if (fsync(x.sfd))
		rc = wr_fail(&x, "fsync", "", err);
	else if (step(s, "rename generation"))
		rc = stopped(err, "rename generation");
	else if (renameat(s->gfd, x.stage, s->gfd, name))
		rc = wr_fail(&x, "rename", "", err);
	else if (step(s, "fsync gen"))
		rc = stopped(err, "fsync gen");
	else if (fsync(s->gfd))
		rc = sys_err(err, "fsync", s, "gen");
out:
	free(x.w);
	if (x.sfd >= 0)
		close(x.sfd);
	if (rc)
		rm_gen(s->gfd, x.stage);
	return rc;
}

/*
 * Points DIR/current at gen/<v>: the commit point.  *renamed says whether
 * the new pointer is in place (then only the fsync of DIR failed).
 */
static enum o8_rc point_at(struct o8_agstate *s, uint64_t v, bool *renamed,
			   struct o8_err *err)
{
	char target[32];

	*renamed = false;
	snprintf(target, sizeof(target), "gen/%" PRIu64, v);
	STEP(s, "write pointer", err);
	if (unlinkat(s->dfd, POINTER_TMP, 0) && errno != ENOENT)
		return sys_err(err, "remove", s, POINTER_TMP);
	if (symlinkat(target, s->dfd, POINTER_TMP))
		return sys_err(err, "create", s, POINTER_TMP);
	STEP(s, "rename pointer", err);
	if (renameat(s->dfd, POINTER_TMP, s->dfd, POINTER))
		return sys_err(err, "rename", s, POINTER_TMP);
	*renamed = true;
	STEP(s, "fsync state directory", err);
	if (fsync(s->dfd))
		return sys_err(err, "fsync", s, ".");
	return O8_OK;
}

/* Makes g the state after the pointer moved to it. */
static void switch_to(struct o8_agstate *s, struct gen *g, uint64_t prev)
{
	gen_done(&s->cur);
	s->cur = *g;
	memset(g, 0, sizeof(*g));
	s->prev = prev;
}

static void not_durable(struct o8_err *err, uint64_t v)
{
	o8_err_prefix(err, "version %" PRIu64 " is in place but may not "
		      "survive a crash", v);
}

/* --- open ------------------------------------------------------------------------ */

/* The generation DIR/current names; 0 when there is no pointer. */
static enum o8_rc read_pointer(const struct o8_agstate *s, uint64_t *v,
			       struct o8_err *err)
{
	char link[80];
	ssize_t n;

	*v = 0;
	n = readlinkat(s->dfd, POINTER, link, sizeof(link) - 1);
	if (n < 0 && errno == ENOENT)
		return O8_OK;
	if (n < 0)
		return sys_err(err, "read", s, POINTER);
	link[n] = '\0';
	if (strncmp(link, "gen/", 4) || !parse_version(link + 4, v))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "'%s/%s' points "
				  "to '%s', not to a generation", s->dir,
				  POINTER, link);
	return O8_OK;
}

/* Current is corrupt (why): back to the newest generation before it. */
static enum o8_rc fall_back(struct o8_agstate *s, uint64_t v,
			    const struct o8_err *why, struct o8_err *err)
{
	struct o8_err e = O8_ERR_INIT;
	uint64_t p = newest_below(s, v);
	struct gen g;
	bool renamed;
	enum o8_rc rc;

	if (!p || gen_load(&g, s, p, &e))
		return o8_err_set(err, why->rc, NULL, 0, 0, "%s; no usable "
				  "previous generation", why->msg);
	if ((rc = point_at(s, p, &renamed, err))) {
		gen_done(&g);
		return rc;
	}
	switch_to(s, &g, 0);
	if (asprintf(&s->recovered, "version %" PRIu64 " is corrupt (%s): "
		     "back on version %" PRIu64, v, why->msg, p) < 0)
		s->recovered = NULL;
	return O8_OK;
}

static enum o8_rc load_current(struct o8_agstate *s, struct o8_err *err)
{
	struct o8_err e = O8_ERR_INIT;
	struct gen g;
	uint64_t v;
	enum o8_rc rc;

	if ((rc = read_pointer(s, &v, err)))
		return rc;
	if (!v) {
		/* nothing applied: any generation is a leftover */
		sweep(s, 0, 0);
		return gen_build(&s->cur, 0, NULL, 0, "", "", "", err);
	}
	rc = gen_load(&g, s, v, &e);
	if (rc == O8_EINVALID) {
		if ((rc = fall_back(s, v, &e, err)))
			return rc;
	} else if (rc) {
		return o8_err_set(err, rc, NULL, 0, 0, "%s", e.msg);
	} else {
		switch_to(s, &g, 0);
	}
	s->prev = newest_below(s, s->cur.version);
	sweep(s, s->cur.version, s->prev);
	return O8_OK;
}

static enum o8_rc open_dirs(struct o8_agstate *s, struct o8_err *err)
{
	struct stat st;

	if (mkdir(s->dir, 0700) && errno != EEXIST)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot create '%s': %s",
				  s->dir, strerror(errno));
	s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot open '%s': %s",
				  s->dir, strerror(errno));
	/* it holds the key and every subscriber's Ki/OPc: refused when others
	   may look in, as ssh refuses a key (checked on what was opened) */
	if (fstat(s->dfd, &st))
		return sys_err(err, "stat", s, ".");
	if (st.st_mode & 077)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "state directory "
				  "'%s' is accessible by others (mode %04o): run "
				  "'chmod 700 %s'", s->dir,
				  (unsigned)(st.st_mode & 07777), s->dir);
	/* two agwd on one state would interleave their generations */
	if (flock(s->dfd, LOCK_EX | LOCK_NB))
		return o8_err_set(err, errno == EWOULDBLOCK ? O8_ECONFLICT : O8_ERR,
				  NULL, 0, 0, "cannot lock '%s': %s", s->dir,
				  errno == EWOULDBLOCK ? "another process uses it" :
				  strerror(errno));
	if (mkdirat(s->dfd, "gen", 0700) && errno != EEXIST)
		return sys_err(err, "create", s, "gen");
	s->gfd = openat(s->dfd, "gen", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->gfd < 0)
		return sys_err(err, "open", s, "gen");
	if (step(s, "remove pointer leftover"))
		return stopped(err, "remove pointer leftover");
	if (unlinkat(s->dfd, POINTER_TMP, 0) && errno != ENOENT)
		return sys_err(err, "remove", s, POINTER_TMP);
	return O8_OK;
}

enum o8_rc o8_agstate_open_opts(struct o8_agstate **out, const char *dir,
				const struct o8_agstate_open_opts *opts,
				struct o8_err *err)
{
	struct o8_agstate *s;
	enum o8_rc rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))) || !(s->dir = strdup(dir))) {
		free(s);
		return oom(err);
	}
	s->dfd = s->gfd = -1;
	if (opts)
		s->opts = *opts;
	if ((rc = open_dirs(s, err)) || (rc = load_current(s, err))) {
		o8_agstate_free(s);
		return rc;
	}
	*out = s;
	return O8_OK;
}

enum o8_rc o8_agstate_open(struct o8_agstate **out, const char *dir,
			   struct o8_err *err)
{
	return o8_agstate_open_opts(out, dir, NULL, err);
}

void o8_agstate_free(struct o8_agstate *s)
{
	if (!s)
		return;
	gen_done(&s->cur);
	if (s->gfd >= 0)
		close(s->gfd);
	if (s->dfd >= 0)
		close(s->dfd);          /* releases the lock */
	free(s->recovered);
	free(s->dir);
	free(s);
}

/* --- getters ---------------------------------------------------------------------- */

uint64_t o8_agstate_version(const struct o8_agstate *s)
{
	return s->cur.version;
}

const char *o8_agstate_commit(const struct o8_agstate *s)
{
	return s->cur.commit;
}

uint64_t o8_agstate_previous(const struct o8_agstate *s)
{
	return s->prev;
}

size_t o8_agstate_count(const struct o8_agstate *s)
{
	return s->cur.n;
}

const struct o8_record *const *o8_agstate_records(const struct o8_agstate *s)
{
	return s->cur.ptrs;
}

const struct o8_wire_kind_digests *
o8_agstate_kind_digests(const struct o8_agstate *s)
{
	return &s->cur.kd;
}

const char *o8_agstate_recovered(const struct o8_agstate *s)
{
	return s->recovered;
}

static int find_cmp(const void *key, const void *elem)
{
	const struct o8_wire_key *k = key;
	const struct o8_record *r = *(const struct o8_record *const *)elem;

	return rec_cmp(k->kind, k->key, r->kind, r->key);
}

const struct o8_record *o8_agstate_find(const struct o8_agstate *s,
					enum o8_rec_kind kind, const char *key)
{
	struct o8_wire_key k = { kind, key };
	const struct o8_record *const *r;

	if (!key || !s->cur.n)
		return NULL;
	r = bsearch(&k, s->cur.ptrs, s->cur.n, sizeof(*s->cur.ptrs), find_cmp);
	return r ? *r : NULL;
}

/* --- apply ------------------------------------------------------------------------ */

static enum o8_rc check_versions(const struct o8_agstate *s,
				 const struct o8_agstate_change *c,
				 struct o8_err *err)
{
	uint64_t v = s->cur.version;

	if (c->to_version <= v)
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0, "version %" PRIu64
				  " is not newer than the applied version %" PRIu64,
				  c->to_version, v);
	if (!c->full && c->from_version != v)
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0, "delta from "
				  "version %" PRIu64 ", but version %" PRIu64
				  " is applied", c->from_version, v);
	if (c->full && c->ndeletes)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "a full change cannot delete");
	if (c->gateway && !c->network)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "a change with a gateway needs its network");
	return O8_OK;
}

/* The upserts, checked, sorted by (kind, key) in ups. */
static enum o8_rc sort_upserts(const struct o8_agstate_change *c,
			       const struct o8_record **ups, struct o8_err *err)
{
	uint8_t digest[DIGEST_LEN];
	size_t i;

	for (i = 0; i < c->nupserts; i++) {
		const struct o8_record *r = &c->upserts[i];

		if (!kind_ok(r->kind) || !r->key || !r->key[0] || !r->network ||
		    !r->network[0] || (r->len && !r->body))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "upsert %zu "
					  "has no kind, network, key or body", i);
		if (c->network && strcmp(r->network, c->network))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "upsert of "
					  "%s '%s' is for network '%s', not '%s'",
					  o8_rec_kind_name(r->kind), r->key,
					  r->network, c->network);
		sha256_of(r->len ? (const void *)r->body : "", r->len, digest);
		if (memcmp(digest, r->digest, DIGEST_LEN))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "upsert of "
					  "%s '%s': digest does not match its body",
					  o8_rec_kind_name(r->kind), r->key);
		ups[i] = r;
	}
	if ((i = sort_find_dup(ups, c->nupserts, rec_ptr_cmp)))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s '%s' is upserted twice",
				  o8_rec_kind_name(ups[i]->kind), ups[i]->key);
	return O8_OK;
}

/* The deletes, checked against the state and the upserts, sorted. */
static enum o8_rc sort_deletes(const struct o8_agstate *s,
			       const struct o8_agstate_change *c,
			       const struct o8_record *const *ups,
			       const struct o8_wire_key **dels,
			       struct o8_err *err)
{
	size_t i;

	for (i = 0; i < c->ndeletes; i++) {
		const struct o8_wire_key *k = &c->deletes[i];
		const char *kn = o8_rec_kind_name(k->kind);

		if (!kind_ok(k->kind) || !k->key)
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "delete %zu has no kind or key", i);
		if (!o8_agstate_find(s, k->kind, k->key))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "delete of "
					  "%s '%s', which version %" PRIu64
					  " does not hold", kn, k->key,
					  s->cur.version);
		if (c->nupserts && bsearch(k, ups, c->nupserts, sizeof(*ups), find_cmp))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "%s '%s' "
					  "is both upserted and deleted", kn, k->key);
		dels[i] = k;
	}
	if ((i = sort_find_dup(dels, c->ndeletes, key_ptr_cmp)))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s '%s' is deleted twice",
				  o8_rec_kind_name(dels[i]->kind), dels[i]->key);
	return O8_OK;
}

/* The new record set: the old one (none when full) merged with the
 * upserts, minus the deletes, all sorted. */
static size_t merge(const struct o8_record **out, const struct o8_agstate *s,
		    bool full, const struct o8_record *const *ups, size_t nu,
		    const struct o8_wire_key *const *dels, size_t nd)
{
	const struct o8_record *const *old = s->cur.ptrs;
	size_t nold = full ? 0 : s->cur.n, i = 0, j = 0, k = 0, n = 0;

	while (i < nold || j < nu) {
		int c = i == nold ? 1 : j == nu ? -1 : rec_ptr_cmp(&old[i], &ups[j]);

		if (c > 0) {
			out[n++] = ups[j++];
			continue;
		}
		if (c == 0) {
			out[n++] = ups[j++];    /* replaces old[i] */
			i++;
			continue;
		}
		while (k < nd && rec_cmp(dels[k]->kind, dels[k]->key,
					 old[i]->kind, old[i]->key) < 0)
			k++;
		if (!(k < nd && !rec_cmp(dels[k]->kind, dels[k]->key,
					 old[i]->kind, old[i]->key)))
			out[n++] = old[i];
		i++;
	}
	return n;
}

static enum o8_rc render(const struct o8_agstate_change *c, const struct gen *g,
			 char **mc, char **subs, struct o8_err *err)
{
	struct o8_err e = O8_ERR_INIT;
	enum o8_rc rc;

	*mc = *subs = NULL;
	if (!c->gateway)
		return O8_OK;
	rc = o8_mconfig_render(mc, subs, g->ptrs, g->n, c->network, c->gateway, &e);
	if (rc)
		return o8_err_set(err, rc == O8_ERR ? O8_ERR : O8_EINVALID, NULL,
				  0, 0, "cannot render the mconfig of version %"
				  PRIu64 ": %s", c->to_version, e.msg);
	return O8_OK;
}

/* The new generation, in memory: records copied, files rendered. */
static enum o8_rc build(struct gen *g, char **mc, char **subs,
			const struct o8_agstate *s,
			const struct o8_agstate_change *c, struct o8_err *err)
{
	const struct o8_record **ups, **all;
	const struct o8_wire_key **dels;
	size_t nall = (c->full ? 0 : s->cur.n) + c->nupserts;
	enum o8_rc rc;

	ups = malloc((c->nupserts ? c->nupserts : 1) * sizeof(*ups));
	dels = malloc((c->ndeletes ? c->ndeletes : 1) * sizeof(*dels));
	all = malloc((nall ? nall : 1) * sizeof(*all));
	if (!ups || !dels || !all)
		rc = oom(err);
	else if (!(rc = sort_upserts(c, ups, err)) &&
		 !(rc = sort_deletes(s, c, ups, dels, err))) {
		nall = merge(all, s, c->full, ups, c->nupserts, dels, c->ndeletes);
		rc = gen_build(g, c->to_version, all, nall,
			       c->commit ? c->commit : "",
			       c->network ? c->network : "",
			       c->gateway ? c->gateway : "", err);
	}
	free(ups);
	free(dels);
	free(all);
	if (!rc && (rc = render(c, g, mc, subs, err)))
		gen_done(g);
	return rc;
}

static void free_secret(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

enum o8_rc o8_agstate_apply(struct o8_agstate *s,
			    const struct o8_agstate_change *c,
			    struct o8_err *err)
{
	char *mc = NULL, *subs = NULL;
	uint64_t old = s->cur.version;
	struct gen g;
	bool renamed = false;
	enum o8_rc rc;

	if ((rc = check_versions(s, c, err)) ||
	    (rc = build(&g, &mc, &subs, s, c, err)))
		return rc;
	rc = gen_write(s, &g, mc, subs, err);
	free_secret(mc);
	free_secret(subs);
	if (!rc)
		rc = point_at(s, g.version, &renamed, err);
	if (rc && !renamed) {
		gen_done(&g);
		return rc;
	}
	switch_to(s, &g, old);
	if (rc) {
		not_durable(err, s->cur.version);
		return rc;
	}
	sweep(s, s->cur.version, old);
	return O8_OK;
}

enum o8_rc o8_agstate_revert(struct o8_agstate *s, struct o8_err *err)
{
	uint64_t from = s->cur.version;
	char name[24];
	struct gen g;
	bool renamed = false;
	enum o8_rc rc;

	if (!s->prev)
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0, "no generation "
				  "before version %" PRIu64 " to revert to", from);
	if ((rc = gen_load(&g, s, s->prev, err)))
		return rc;
	if ((rc = point_at(s, g.version, &renamed, err)) && !renamed) {
		gen_done(&g);
		return rc;
	}
	switch_to(s, &g, 0);
	if (rc) {
		not_durable(err, s->cur.version);
		return rc;
	}
	/* the reverted version is never current again: it goes now */
	snprintf(name, sizeof(name), "%" PRIu64, from);
	if (!step(s, "remove reverted generation") && !rm_gen(s->gfd, name))
		fsync(s->gfd);
	return O8_OK;
}
