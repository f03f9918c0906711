/*
 * load.c - find the repository's YAML files, parse them on every core,
 * and classify each document as an object (model.h).
 */
#include "repo/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/suggest.h"

enum { DEFAULT_MAX_FILE = 64 * 1024 * 1024, MAX_THREADS = 64, MAX_DIR_DEPTH = 32 };

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
	struct { _Alignas(64) struct o8_arena a; } arenas[MAX_THREADS];
	unsigned narenas;
	const struct o8_obj **objs;
	size_t nobjs;
};

/* --- the walk ------------------------------------------------------------ */

static int has_yaml_ext(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

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

struct walk {
	struct o8_model *m;
	const char *root;       /* as given */
	char real_root[PATH_MAX];
	size_t max_file;
	struct o8_diags *diags;
	struct o8_err *err;
};

static int inside_root(const struct walk *w, const char *real)
{
	size_t n = strlen(w->real_root);

	if (!strcmp(w->real_root, "/"))
		return 1;
	return !strncmp(real, w->real_root, n) && (real[n] == '/' || real[n] == '\0');
}

static int walk_dir(struct walk *w, int dfd, const char *rel, unsigned depth);

/* A symlink is followed only when it resolves to a regular file in the root. */
static int visit_link(struct walk *w, int dfd, const char *name, const char *rel)
{
	char full[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (snprintf(full, sizeof(full), "%s/%s", w->root, rel) >= (int)sizeof(full))
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "path too long, ignoring") ? -1 : 0;
	if (!realpath(full, real))
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "cannot follow symbolic link: %s",
				    strerror(errno)) ? -1 : 0;
	if (!inside_root(w, real))
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "symbolic link points outside the repository, refusing to read it") ? -1 : 0;
	if (stat(real, &st) < 0)
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "cannot stat link target: %s", strerror(errno)) ? -1 : 0;
	(void)dfd;
	(void)name;
	if (S_ISDIR(st.st_mode))
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "symbolic link to a directory is not followed; link the files instead") ? -1 : 0;
	if (!S_ISREG(st.st_mode))
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "not a regular file, refusing to read it") ? -1 : 0;
	return add_file(w->m, rel, real, (size_t)st.st_size);
}

static int visit(struct walk *w, int dfd, const char *name, const char *rel,
		 unsigned depth)
{
	struct stat st;
	int fd, r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL, "cannot stat: %s",
				    strerror(errno)) ? -1 : 0;
	if (S_ISDIR(st.st_mode)) {
		if (depth >= MAX_DIR_DEPTH)
			return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
					    "directories nested deeper than %d levels, ignoring",
					    MAX_DIR_DEPTH) ? -1 : 0;
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
					    "cannot open directory: %s",
					    strerror(errno)) ? -1 : 0;
		r = walk_dir(w, fd, rel, depth + 1);
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		struct stat t;
		/* a linked directory gets a word too: its files would be missed */
		if (has_yaml_ext(name) ||
		    (fstatat(dfd, name, &t, 0) == 0 && S_ISDIR(t.st_mode)))
			return visit_link(w, dfd, name, rel);
		return 0;
	}
	if (!has_yaml_ext(name))
		return 0;
	if (!S_ISREG(st.st_mode))
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "not a regular file, refusing to read it") ? -1 : 0;
	return add_file(w->m, rel, NULL, (size_t)st.st_size);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Takes ownership of dfd. */
static int walk_dir(struct walk *w, int dfd, const char *rel, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	char **names = NULL, child[PATH_MAX];
	size_t n = 0, cap = 0, i;
	int r = 0;

	if (!d) {
		close(dfd);
		return o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
				    "cannot read directory: %s", strerror(errno)) ? -1 : 0;
	}
	while ((de = readdir(d))) {
		/* dot-directories (.git, .orc8r) and dot-files are not config */
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **v;
			cap = cap ? cap * 2 : 32;
			v = realloc(names, cap * sizeof(*v));
			if (!v) {
				r = -1;
				goto out;
			}
			names = v;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -1;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && !r; i++) {
		if (*rel)
			snprintf(child, sizeof(child), "%s/%s", rel, names[i]);
		else
			snprintf(child, sizeof(child), "%s", names[i]);
		r = visit(w, dirfd(d), names[i], child, depth);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

/* --- reading and parsing ------------------------------------------------- */

struct job {
	struct o8_model *m;
	const char *root;
	int root_fd;
	const struct o8_load_opts *opts;
	size_t *order;          /* file indexes, largest first */
	atomic_size_t next;
};

struct worker {
	struct job *job;
	unsigned idx;
	char *buf;              /* reused for every file: no malloc per file */
	size_t bufcap;
	struct o8_arena *arena;
	struct o8_diags diags;
	struct o8_err err;
	pthread_t tid;
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

static void *work(void *arg)
{
	struct worker *wk = arg;
	struct job *j = wk->job;
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->m->nfiles) {
		if (load_one(wk, &j->m->files[j->order[i]])) {
			if (!wk->err.rc)
				o8_err_set(&wk->err, O8_ERR, NULL, 0, 0, "out of memory");
			/* let the others finish quickly */
			atomic_store(&j->next, j->m->nfiles);
			break;
		}
	}
	return NULL;
}

static int size_cmp(const void *a, const void *b, void *arg)
{
	const struct file *f = arg;
	size_t x = f[*(const size_t *)a].size, y = f[*(const size_t *)b].size;

	return x < y ? 1 : x > y ? -1 : 0;
}

static unsigned pick_threads(unsigned want, size_t nfiles)
{
	long n = want ? (long)want : sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if ((size_t)n > nfiles)
		n = nfiles ? (long)nfiles : 1;
	return (unsigned)n;
}

static enum o8_rc parse_all(struct o8_model *m, const char *root, int root_fd,
			    const struct o8_load_opts *opts,
			    struct o8_diags *diags, struct o8_err *err)
{
	struct worker wk[MAX_THREADS];
	struct job j = { .m = m, .root = root, .root_fd = root_fd, .opts = opts };
	unsigned t, n = pick_threads(opts->threads, m->nfiles), started = 0;
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
	atomic_init(&j.next, 0);
	m->narenas = n;
	for (t = 0; t < n; t++) {
		memset(&wk[t], 0, sizeof(wk[t]));
		wk[t].job = &j;
		wk[t].idx = t;
		wk[t].arena = &m->arenas[t].a;
	}
	for (t = 1; t < n; t++) {
		if (pthread_create(&wk[t].tid, NULL, work, &wk[t]))
			break;
		started++;
	}
	work(&wk[0]);
	for (t = 1; t <= started; t++)
		pthread_join(wk[t].tid, NULL);
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
	struct walk w = { 0 };
	int fd;
	enum o8_rc rc;

	*out = NULL;
	fill_defaults(&o, opts);
	m = model_new();
	if (!m)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !realpath(root, w.real_root)) {
		rc = o8_err_set(err, O8_ERR, root, 0, 0, "cannot open repository: %s",
				strerror(errno));
		if (fd >= 0)
			close(fd);
		free(m);
		return rc;
	}
	w.m = m;
	w.root = root;
	w.max_file = o.max_file_bytes;
	w.diags = diags;
	w.err = err;
	if (walk_dir(&w, dup(fd), "", 0)) {
		close(fd);
		o8_model_free(m);
		return o8_err_set(err, O8_ERR, root, 0, 0, "out of memory");
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
	for (i = 0; i < MAX_THREADS; i++)
		o8_arena_free(&m->arenas[i].a);
	free(m->objs);
	free(m);
}
