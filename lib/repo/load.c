/*
 * load.c - find the repository's YAML files, parse them on every core,
 * and classify each document as an object (model.h).
 */
#include "repo/model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/pool.h"
#include "util/suggest.h"
#include "repo/walk.h"

enum { DEFAULT_MAX_FILE = 64 * 1024 * 1024 };

struct file {
	char *path;             /* relative, owned */
	char *abs;              /* where to read it from when it is a link */
	size_t size;            /* from the walk, for scheduling */
	const struct o8_src *src;       /* set when loading from memory */
	struct o8_obj *objs;    /* in the worker's arena */
	size_t nobjs;
};

struct o8_model {
	struct file *files;
	size_t nfiles, capfiles;
	/* one cache line each: the threads bump their arenas millions of
	   times, and a shared line would bounce between the cores */
	struct { _Alignas(64) struct o8_arena a; } arenas[O8_POOL_MAX_THREADS];
	unsigned narenas;
	const struct o8_obj **objs;
	size_t nobjs;
};

/* --- the files ------------------------------------------------------------ */

static int add_file(struct o8_model *m, const char *rel, const char *abs, size_t size)
{
	struct file *f;

	if (m->nfiles == m->capfiles) {
		size_t cap = m->capfiles ? m->capfiles * 2 : 64;
		struct file *v = realloc(m->files, cap * sizeof(*v));
		if (!v)
			return -1;
		m->files = v;
		m->capfiles = cap;
	}
	f = &m->files[m->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = strdup(rel);
	f->abs = abs ? strdup(abs) : NULL;
	f->size = size;
	if (!f->path || (abs && !f->abs)) {
		free(f->path);
		free(f->abs);
		return -1;
	}
	m->nfiles++;
	return 0;
}

/* The walk's files become the model's (lib/repo/walk.h has the rules). */
static int walk_found(void *payload, const struct o8_walk_file *f)
{
	return add_file(payload, f->path, f->abs, (size_t)f->st->st_size);
}

/* --- reading and parsing ------------------------------------------------- */

struct job {
	struct o8_model *m;
	const char *root;
	int root_fd;
	const struct o8_load_opts *opts;
	size_t *order;          /* file indexes, largest first */
};

struct worker {
	struct job *job;
	unsigned idx;
	char *buf;              /* reused for every file: no malloc per file */
	size_t bufcap;
	struct o8_arena *arena;
	struct o8_diags diags;
	struct o8_err err;
};

static int read_file(struct worker *wk, struct file *f, char **buf, size_t *len)
{
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_buf b = { wk->buf, wk->bufcap };
	struct o8_fileio_info in;
	enum o8_rc rc;
	int fd;

	o.max = wk->job->opts->max_file_bytes;
	if (f->abs)
		fd = open(f->abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	else
		fd = openat(wk->job->root_fd, f->path,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return o8_diags_add(&wk->diags, f->path, 1, 1, NULL, NULL,
				    "cannot open: %s", strerror(errno)) ? -1 : 1;
	/* checked on the descriptor: the walk's answer may be stale */
	rc = o8_fileio_read_fd(fd, f->path, &b, len, &in, &o, NULL);
	close(fd);
	wk->buf = b.data;
	wk->bufcap = b.cap;
	*buf = b.data;
	if (rc == O8_EINVALID)
		return o8_diags_add(&wk->diags, f->path, 1, 1, NULL, NULL,
				    "not a regular file, refusing to read it") ? -1 : 1;
	if (rc == O8_ELIMIT)
		return o8_diags_add(&wk->diags, f->path, 1, 1, NULL, NULL,
				    "file is %llu bytes, over the %zu-byte limit; split it into several files",
				    in.size, o.max) ? -1 : 1;
	if (rc)
		return in.errnum == ENOMEM ||
		       o8_diags_add(&wk->diags, f->path, 1, 1, NULL, NULL,
				    "cannot read: %s", strerror(in.errnum)) ? -1 : 1;
	return 0;
}

static const char *const kind_names[] = {
	NULL, "Network", "Gateway", "ENodeB", "APN", "Subscriber",
	"SubscriberSet", "PolicyRule", "Tier",
};

static const char *scalar_at(const struct o8_node *map, const char *key)
{
	const struct o8_node *n = o8_node_get(map, key);

	return n && n->type == O8_N_SCALAR && !o8_node_is_null(n) ? n->u.str : NULL;
}

/* Reads apiVersion/kind/metadata; the validator checks the rest. */
static int classify(struct worker *wk, const char *file, struct o8_obj *o,
		    const struct o8_ydoc *d)
{
	const struct o8_node *r = d->root, *meta, *kn, *av;
	const struct o8_kind_schema *ks;
	struct o8_diags *dg = &wk->diags;
	const char *kind;

	memset(o, 0, sizeof(*o));
	o->root = r;
	o->file = file;
	o->line = r->line;
	o->col = r->col;
	if (r->type != O8_N_MAP)
		return o8_diags_add(dg, file, r->line, r->col, NULL, NULL,
				    "document is not a map; expected apiVersion, kind, metadata and spec") ? -1 : 0;
	meta = o8_node_get(r, "metadata");
	o->name = scalar_at(meta, "name");
	o->network = scalar_at(meta, "network");
	o->spec = o8_node_get(r, "spec");
	kn = o8_node_get(r, "kind");
	kind = o8_node_str(kn);
	if (!kn)
		return o8_diags_add(dg, file, r->line, r->col, NULL, o->name,
				    "missing field 'kind' (one of Network, Gateway, ENodeB, APN, Subscriber, SubscriberSet, PolicyRule, Tier)") ? -1 : 0;
	if (!kind || !(ks = o8_schema_kind_by_name(kind))) {
		const char *s = kind ? o8_suggest(kind, kind_names, O8_KIND__COUNT) : NULL;
		if (s)
			return o8_diags_add(dg, file, kn->line, kn->col, NULL, o->name,
					    "unknown kind '%s' (did you mean '%s'?)", kind, s) ? -1 : 0;
		return o8_diags_add(dg, file, kn->line, kn->col, NULL, o->name,
				    "unknown kind '%s' (one of Network, Gateway, ENodeB, APN, Subscriber, SubscriberSet, PolicyRule, Tier)",
				    kind ? kind : "(not a string)") ? -1 : 0;
	}
	if (ks->kind == O8_KIND_NETWORK)
		o->network = o->name;
	av = o8_node_get(r, "apiVersion");
	if (!av)
		return o8_diags_add(dg, file, r->line, r->col, ks->name, o->name,
				    "missing field 'apiVersion' (add 'apiVersion: " O8_API_VERSION "')") ? -1 : 0;
	if (!o8_node_str(av) || strcmp(av->u.str, O8_API_VERSION))
		return o8_diags_add(dg, file, av->line, av->col, ks->name, o->name,
				    "unknown apiVersion '%s' (expected '" O8_API_VERSION "')",
				    o8_node_str(av) ? av->u.str : "(not a string)") ? -1 : 0;
	o->kind = ks->kind;
	return 0;
}

static int load_one(struct worker *wk, struct file *f)
{
	struct o8_ydoc *docs;
	size_t ndocs, i, k = 0;
	char *buf = NULL;
	size_t len;
	int r;

	if (f->src) {
		if (f->src->len > wk->job->opts->max_file_bytes)
			return o8_diags_add(&wk->diags, f->path, 1, 1, NULL, NULL,
					    "file is %zu bytes, over the %zu-byte limit; split it into several files",
					    f->src->len, wk->job->opts->max_file_bytes) ? -1 : 0;
		r = o8_yaml_parse(&docs, &ndocs, wk->arena, f->path, f->src->buf,
				  f->src->len, &wk->job->opts->yaml, &wk->diags, &wk->err);
	} else {
		if ((r = read_file(wk, f, &buf, &len)))
			return r < 0 ? -1 : 0;
		r = o8_yaml_parse(&docs, &ndocs, wk->arena, f->path, buf, len,
				  &wk->job->opts->yaml, &wk->diags, &wk->err);
	}
	if (r)
		return -1;
	if (!ndocs)
		return 0;
	f->objs = o8_arena_alloc(wk->arena, ndocs * sizeof(*f->objs));
	if (!f->objs)
		return -1;
	for (i = 0; i < ndocs; i++) {
		if (!docs[i].root)
			continue;
		/* an empty document ("---" then nothing) is allowed and skipped */
		if (docs[i].root->type == O8_N_SCALAR && o8_node_is_null(docs[i].root))
			continue;
		if (classify(wk, f->path, &f->objs[k], &docs[i]))
			return -1;
		k++;
	}
	f->nobjs = k;
	if (k && wk->job->opts->file_loaded &&
	    wk->job->opts->file_loaded(wk->job->opts->payload, wk->idx, f->objs, k))
		return -1;
	return 0;
}

static int work(void *ctx, size_t i)
{
	struct worker *wk = ctx;
	struct job *j = wk->job;

	if (!load_one(wk, &j->m->files[j->order[i]]))
		return 0;
	if (!wk->err.rc)
		o8_err_set(&wk->err, O8_ERR, NULL, 0, 0, "out of memory");
	return -1;
}

static int size_cmp(const void *a, const void *b, void *arg)
{
	const struct file *f = arg;
	size_t x = f[*(const size_t *)a].size, y = f[*(const size_t *)b].size;

	return x < y ? 1 : x > y ? -1 : 0;
}

static enum o8_rc parse_all(struct o8_model *m, const char *root, int root_fd,
			    const struct o8_load_opts *opts,
			    struct o8_diags *diags, struct o8_err *err)
{
	struct worker wk[O8_POOL_MAX_THREADS];
	struct job j = { .m = m, .root = root, .root_fd = root_fd, .opts = opts };
	unsigned t, n = o8_pool_threads(opts->threads, m->nfiles, 1);
	struct o8_pool_failure fail;
	enum o8_rc rc = O8_OK;
	size_t i, total = 0;

	j.order = malloc((m->nfiles ? m->nfiles : 1) * sizeof(*j.order));
	if (!j.order)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < m->nfiles; i++) {
		j.order[i] = i;
		total += m->files[i].size;
	}
	/* Largest first, so one big file does not finish alone at the end. */
	qsort_r(j.order, m->nfiles, sizeof(*j.order), size_cmp, m->files);
	m->narenas = n;
	for (t = 0; t < n; t++) {
		memset(&wk[t], 0, sizeof(wk[t]));
		wk[t].job = &j;
		wk[t].idx = t;
		wk[t].arena = &m->arenas[t].a;
	}
	if (o8_pool_run(n, m->nfiles, work, wk, sizeof(*wk), &fail)) {
		*err = wk[fail.worker].err;
		rc = err->rc;
	}
	for (t = 0; t < n; t++) {
		if (wk[t].err.rc && rc == O8_OK) {
			*err = wk[t].err;
			rc = wk[t].err.rc;
		}
		if (o8_diags_move(diags, &wk[t].diags) && rc == O8_OK)
			rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
		o8_diags_free(&wk[t].diags);
		free(wk[t].buf);
	}
	free(j.order);
	(void)total;
	return rc;
}

static enum o8_rc index_objs(struct o8_model *m, struct o8_err *err)
{
	size_t i, k, n = 0;

	for (i = 0; i < m->nfiles; i++)
		n += m->files[i].nobjs;
	m->objs = malloc((n ? n : 1) * sizeof(*m->objs));
	if (!m->objs)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < m->nfiles; i++)
		for (k = 0; k < m->files[i].nobjs; k++)
			m->objs[m->nobjs++] = &m->files[i].objs[k];
	return O8_OK;
}

/*
 * The arenas' cache-line padding only works if the model itself starts on
 * a line: calloc promises 16 bytes, and a model straddling lines put one
 * thread's arena counter next to the other's arena head (a 40% slowdown
 * that came and went with the heap's layout).
 */
static struct o8_model *model_new(void)
{
	struct o8_model *m = aligned_alloc(64, (sizeof(*m) + 63) & ~(size_t)63);

	if (m)
		memset(m, 0, sizeof(*m));
	return m;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

static void fill_defaults(struct o8_load_opts *o, const struct o8_load_opts *in)
{
	static const struct o8_load_opts def = O8_LOAD_OPTS_INIT;

	*o = in ? *in : def;
	if (!o->max_file_bytes)
		o->max_file_bytes = DEFAULT_MAX_FILE;
	if (!o->yaml.max_depth)
		o->yaml.max_depth = def.yaml.max_depth;
	if (!o->yaml.max_nodes)
		o->yaml.max_nodes = def.yaml.max_nodes;
}

enum o8_rc o8_model_load_dir(struct o8_model **out, const char *root,
			     const struct o8_load_opts *opts,
			     struct o8_diags *diags, struct o8_err *err)
{
	struct o8_load_opts o;
	struct o8_model *m;
	char real_root[PATH_MAX];
	struct o8_walk w = { .root = root, .real_root = real_root, .on_file = walk_found };
	int fd;
	enum o8_rc rc;

	*out = NULL;
	fill_defaults(&o, opts);
	m = model_new();
	if (!m)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !realpath(root, real_root)) {
		rc = o8_err_set(err, O8_ERR, root, 0, 0, "cannot open repository: %s",
				strerror(errno));
		if (fd >= 0)
			close(fd);
		free(m);
		return rc;
	}
	w.payload = m;
	if ((rc = o8_walk_tree(&w, fd, diags, err))) {
		close(fd);
		o8_model_free(m);
		return rc;
	}
	/* "a.yaml" sorts before "a/z.yaml" although the walk meets "a" first */
	if (m->nfiles)
		qsort(m->files, m->nfiles, sizeof(*m->files), file_cmp);
	rc = parse_all(m, root, fd, &o, diags, err);
	close(fd);
	if (rc == O8_OK)
		rc = index_objs(m, err);
	if (rc) {
		o8_model_free(m);
		return rc;
	}
	*out = m;
	return O8_OK;
}

enum o8_rc o8_model_load_srcs(struct o8_model **out,
			      const struct o8_src *srcs, size_t nsrcs,
			      const struct o8_load_opts *opts,
			      struct o8_diags *diags, struct o8_err *err)
{
	struct o8_load_opts o;
	struct o8_model *m;
	enum o8_rc rc;
	size_t i;

	*out = NULL;
	fill_defaults(&o, opts);
	m = model_new();
	if (!m)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < nsrcs; i++) {
		if (add_file(m, srcs[i].path, NULL, srcs[i].len)) {
			o8_model_free(m);
			return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
		}
		m->files[m->nfiles - 1].src = &srcs[i];
	}
	if (m->nfiles)
		qsort(m->files, m->nfiles, sizeof(*m->files), file_cmp);
	rc = parse_all(m, NULL, -1, &o, diags, err);
	if (rc == O8_OK)
		rc = index_objs(m, err);
	/* srcs belong to the caller and may go away: scalars were copied,
	   but drop the pointers anyway */
	for (i = 0; i < m->nfiles; i++)
		m->files[i].src = NULL;
	if (rc) {
		o8_model_free(m);
		return rc;
	}
	*out = m;
	return O8_OK;
}

size_t o8_model_nobjs(const struct o8_model *m)
{
	return m ? m->nobjs : 0;
}

const struct o8_obj *o8_model_obj(const struct o8_model *m, size_t i)
{
	return i < m->nobjs ? m->objs[i] : NULL;
}

size_t o8_model_nfiles(const struct o8_model *m)
{
	return m ? m->nfiles : 0;
}

void o8_model_free(struct o8_model *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nfiles; i++) {
		free(m->files[i].path);
		free(m->files[i].abs);
	}
	free(m->files);
	for (i = 0; i < O8_POOL_MAX_THREADS; i++)
		o8_arena_free(&m->arenas[i].a);
	free(m->objs);
	free(m);
}
