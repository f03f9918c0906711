/*
 * git.c - snapshots of a revision or of the work tree, their difference,
 * commit and push, on libgit2.
 */
#include "repo/git.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "util/arena.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/pool.h"
#include "repo/walk.h"

_Static_assert(O8_OID_HEX_SIZE == GIT_OID_HEXSZ + 1, "an oid's hex digits and the NUL");

/* The loader's limits (lib/repo/load.c): the same file must get the same answer. */
enum {
	MAX_FILE = 64 * 1024 * 1024,
	MAX_DIR_DEPTH = O8_WALK_MAX_DEPTH,
	MAX_PATH = 4096,
	MAX_CONFLICTS_NAMED = 5,
};

struct o8_git {
	git_repository *repo;
	char *workdir;
	char *gitdir;
};

struct snap_file {
	struct o8_snapshot_file pub;
	git_oid oid;
	char *abs;              /* work tree: the resolved target of a link */
	const char *buf;        /* content once read */
	size_t len;
	git_odb_object *obj;    /* revision: owns buf */
	char *mem;              /* work tree: owns buf */
	int bad;                /* work tree: refused while reading */
	int has_st;             /* work tree: st is the walk's lstat */
	int trusted;            /* work tree: id from the index, read later */
	struct stat st;
};

struct o8_snapshot {
	struct snap_file *files;
	size_t n, cap;
	struct o8_arena arena;  /* paths */
	char id[O8_OID_HEX_SIZE], commit[O8_OID_HEX_SIZE], tree[O8_OID_HEX_SIZE];
	int worktree, has_commit, has_tree;
	git_repository *repo;   /* revision: its own handle ... */
	git_odb *odb;           /* ... and object database, used under lock */
	char *gitdir;           /* revision: each reading thread opens its own */
	char *root;             /* work tree: where files are read later */
	pthread_mutex_t lock;
};

/*
 * libgit2 1.5 leaks a pcre2 match block for every config entry a regular
 * expression fails to match (fixed upstream by libgit2 pull request 6382;
 * Debian 12's 1.5.1 predates it), and git_remote_lookup and
 * git_branch_upstream walk the config that way.  Under LeakSanitizer only,
 * leave that known leak out of the report, so that ours still show.  Weak:
 * a program with its own list keeps it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define O8_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define O8_LSAN 1
#endif
#endif
#ifdef O8_LSAN
const char *__lsan_default_suppressions(void) __attribute__((weak));
const char *__lsan_default_suppressions(void)
{
	return "leak:libpcre2-8.so\n";
}
#endif

/* --- errors -------------------------------------------------------------- */

/* A URL in a message loses its user and password (util/log.h). */
static void copy_url(char *out, size_t len, const char *url)
{
	snprintf(out, len, "%s", url ? url : "");
	o8_redact_urls(out);
}

/* libgit2's last message, lowercase first letter, no URL credentials. */
static const char *git_msg(char *buf, size_t len)
{
	const git_error *e = git_error_last();
	size_t n;

	snprintf(buf, len, "%s", e && e->message && *e->message ? e->message : "unknown libgit2 error");
	o8_redact_urls(buf);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '.'))
		buf[--n] = '\0';
	if (isupper((unsigned char)buf[0]) && !isupper((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* Sets err to "<what>: <libgit2's reason>". */
static enum o8_rc gfail(struct o8_err *err, enum o8_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum o8_rc gfail(struct o8_err *err, enum o8_rc rc, const char *fmt, ...)
{
	char what[512], why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	git_msg(why, sizeof(why));
	return o8_err_set(err, rc, NULL, 0, 0, "%s: %s", what, why);
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

/* --- the repository ------------------------------------------------------ */

static char *dup_dir(const char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	return strndup(p, n);
}

enum o8_rc o8_git_open(struct o8_git **out, const char *dir, struct o8_err *err)
{
	struct o8_git *g;
	const char *wd;
	int r;

	*out = NULL;
	if (git_libgit2_init() < 0)
		return gfail(err, O8_ERR, "cannot start libgit2");
	g = calloc(1, sizeof(*g));
	if (!g) {
		git_libgit2_shutdown();
		return oom(err);
	}
	r = git_repository_open_ext(&g->repo, dir, 0, NULL);
	if (r) {
		enum o8_rc rc = r == GIT_ENOTFOUND
			? o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				     "'%s' is not in a git repository (run 'git init' there, or give -C DIR)", dir)
			: gfail(err, O8_ERR, "cannot open the git repository of '%s'", dir);
		o8_git_free(g);
		return rc;
	}
	wd = git_repository_workdir(g->repo);
	g->gitdir = dup_dir(git_repository_path(g->repo));
	g->workdir = wd ? dup_dir(wd) : NULL;
	if (!g->gitdir || (wd && !g->workdir)) {
		o8_git_free(g);
		return oom(err);
	}
	*out = g;
	return O8_OK;
}

void o8_git_free(struct o8_git *g)
{
	if (!g)
		return;
	git_repository_free(g->repo);
	free(g->workdir);
	free(g->gitdir);
	free(g);
	git_libgit2_shutdown();
}

const char *o8_git_workdir(const struct o8_git *g)
{
	return g->workdir;
}

const char *o8_git_gitdir(const struct o8_git *g)
{
	return g->gitdir;
}

/* --- the snapshot's file list ---------------------------------------------- */

static enum o8_rc snap_new(struct o8_snapshot **out, struct o8_err *err)
{
	struct o8_snapshot *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return oom(err);
	if (git_libgit2_init() < 0) {
		free(s);
		return gfail(err, O8_ERR, "cannot start libgit2");
	}
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return O8_OK;
}

void o8_snapshot_free(struct o8_snapshot *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++) {
		git_odb_object_free(s->files[i].obj);
		free(s->files[i].mem);
		free(s->files[i].abs);
	}
	free(s->files);
	o8_arena_free(&s->arena);
	git_odb_free(s->odb);
	git_repository_free(s->repo);
	free(s->gitdir);
	free(s->root);
	pthread_mutex_destroy(&s->lock);
	free(s);
	git_libgit2_shutdown();
}

static struct snap_file *snap_add(struct o8_snapshot *s, const char *path)
{
	struct snap_file *f;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct snap_file *v = realloc(s->files, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->files = v;
		s->cap = cap;
	}
	f = &s->files[s->n];
	memset(f, 0, sizeof(*f));
	if (!(f->pub.path = o8_arena_strndup(&s->arena, path, strlen(path))))
		return NULL;
	s->n++;
	return f;
}

static void set_oid(struct snap_file *f, const git_oid *oid)
{
	f->oid = *oid;
	git_oid_tostr(f->pub.oid, sizeof(f->pub.oid), oid);
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snap_file *)a)->pub.path,
		      ((const struct snap_file *)b)->pub.path);
}

/* The content id: "path\0oid\n" for every file, hashed as git hashes a blob. */
static enum o8_rc snap_finish(struct o8_snapshot *s, struct o8_err *err)
{
	size_t i, len = 0, off = 0;
	git_oid oid;
	char *text;

	if (s->n > 1)
		qsort(s->files, s->n, sizeof(*s->files), file_cmp);
	for (i = 0; i < s->n; i++)
		len += strlen(s->files[i].pub.path) + 1 + 40 + 1;
	if (!(text = malloc(len ? len : 1)))
		return oom(err);
	for (i = 0; i < s->n; i++) {
		size_t pl = strlen(s->files[i].pub.path) + 1;
		memcpy(text + off, s->files[i].pub.path, pl);
		memcpy(text + off + pl, s->files[i].pub.oid, 40);
		text[off + pl + 40] = '\n';
		off += pl + 41;
	}
	if (git_odb_hash(&oid, text, len, GIT_OBJECT_BLOB)) {
		free(text);
		return gfail(err, O8_ERR, "cannot hash the snapshot");
	}
	free(text);
	git_oid_tostr(s->id, sizeof(s->id), &oid);
	return O8_OK;
}

/* --- reading, on several threads ------------------------------------------- */

struct pool;

struct pool_worker {
	struct pool *p;
	git_repository *repo;   /* revision: this thread's own handle */
	git_odb *odb;
	struct o8_diags diags;
	struct o8_err err;
};

struct pool {
	struct o8_snapshot *s;
	const size_t *idx;      /* NULL: 0 .. n-1 */
	size_t n;
	int (*fn)(struct pool_worker *w, size_t i);     /* nonzero: w->err set */
	int root_fd;            /* work tree */
};

static int pool_item(void *ctx, size_t k)
{
	struct pool_worker *w = ctx;

	return w->p->fn(w, w->p->idx ? w->p->idx[k] : k) ? -1 : 0;
}

static enum o8_rc pool_run(struct pool *p, unsigned threads,
			   struct o8_diags *diags, struct o8_err *err)
{
	struct pool_worker wk[O8_POOL_MAX_THREADS];
	unsigned t, n = o8_pool_threads(threads, p->n, 1);
	struct o8_pool_failure fail;
	enum o8_rc rc = O8_OK;

	memset(wk, 0, sizeof(wk));
	for (t = 0; t < n; t++)
		wk[t].p = p;
	if (o8_pool_run(n, p->n, pool_item, wk, sizeof(*wk), &fail) && wk[fail.worker].err.rc) {
		*err = wk[fail.worker].err;
		rc = err->rc;
	}
	for (t = 0; t < n; t++) {
		if (wk[t].err.rc && rc == O8_OK) {
			*err = wk[t].err;
			rc = wk[t].err.rc;
		}
		if (diags && o8_diags_move(diags, &wk[t].diags) && rc == O8_OK)
			rc = oom(err);
		o8_diags_free(&wk[t].diags);
		git_odb_free(wk[t].odb);
		git_repository_free(wk[t].repo);
	}
	return rc;
}

/* Keeps the first copy when two readers raced for the same file. */
static void install(struct o8_snapshot *s, struct snap_file *f, git_odb_object *obj)
{
	pthread_mutex_lock(&s->lock);
	if (f->buf) {
		git_odb_object_free(obj);
	} else {
		f->obj = obj;
		f->buf = git_odb_object_data(obj);
		f->len = git_odb_object_size(obj);
	}
	pthread_mutex_unlock(&s->lock);
}

static enum o8_rc read_blob(git_odb_object **out, git_odb *odb,
			    const struct snap_file *f, struct o8_err *err)
{
	git_odb_object *obj;

	*out = NULL;
	if (git_odb_read(&obj, odb, &f->oid))
		return gfail(err, O8_ERR, "cannot read '%s' (blob %s)", f->pub.path, f->pub.oid);
	if (git_odb_object_type(obj) != GIT_OBJECT_BLOB ||
	    git_odb_object_size(obj) != f->pub.size) {
		git_odb_object_free(obj);
		return o8_err_set(err, O8_ERR, f->pub.path, 0, 0,
				  "blob %s of '%s' is not what its tree says; the repository may be corrupt",
				  f->pub.oid, f->pub.path);
	}
	*out = obj;
	return O8_OK;
}

static int pool_read_blob(struct pool_worker *w, size_t i)
{
	struct o8_snapshot *s = w->p->s;
	struct snap_file *f = &s->files[i];
	git_odb_object *obj;
	int done;

	pthread_mutex_lock(&s->lock);
	done = f->buf != NULL;
	pthread_mutex_unlock(&s->lock);
	if (done)
		return 0;
	if (!w->odb) {
		/* libgit2 objects are used by one thread at a time: own handles */
		if (git_repository_open(&w->repo, s->gitdir) ||
		    git_repository_odb(&w->odb, w->repo))
			return gfail(&w->err, O8_ERR, "cannot open '%s'", s->gitdir);
	}
	if (read_blob(&obj, w->odb, f, &w->err))
		return -1;
	install(s, f, obj);
	return 0;
}

/* --- a revision ------------------------------------------------------------ */

struct twalk {
	struct o8_snapshot *s;
	git_repository *repo;
	git_odb *odb;
	const git_tree *root;
	struct o8_diags *diags;
	struct o8_err *err;
};

/*
 * The loader refuses a link to a directory (its files would be silently
 * missed); a link in a tree gets the same word when it leads, inside the
 * tree, to a directory.
 */
static int link_to_dir(struct twalk *w, const char *dir, const git_oid *id)
{
	char path[MAX_PATH + 1], *parts[MAX_PATH / 2], *save = NULL, *tok;
	size_t n = 0, i, off = 0;
	git_odb_object *obj;
	git_tree_entry *e;
	int r = 0;

	if (git_odb_read(&obj, w->odb, id))
		return 0;
	if (git_odb_object_size(obj) == 0 || git_odb_object_size(obj) > MAX_PATH / 2 ||
	    ((const char *)git_odb_object_data(obj))[0] == '/' ||
	    snprintf(path, sizeof(path), "%s%s%.*s", dir, *dir ? "/" : "",
		     (int)git_odb_object_size(obj),
		     (const char *)git_odb_object_data(obj)) >= (int)sizeof(path)) {
		git_odb_object_free(obj);
		return 0;
	}
	git_odb_object_free(obj);
	for (tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (!n)
				return 0;       /* leaves the tree: nothing to say */
			n--;
			continue;
		}
		parts[n++] = tok;
	}
	if (!n)
		return 1;               /* the root itself */
	{
		char norm[MAX_PATH + 1];
		for (i = 0; i < n; i++)
			off += (size_t)snprintf(norm + off, sizeof(norm) - off, "%s%s",
						i ? "/" : "", parts[i]);
		if (git_tree_entry_bypath(&e, w->root, norm) == 0) {
			r = git_tree_entry_type(e) == GIT_OBJECT_TREE;
			git_tree_entry_free(e);
		}
	}
	return r;
}

/*
 * Why git itself would refuse a tree entry's name (read-tree, checkout and
 * clone do: verify_path in git's read-cache.c), or NULL.  A crafted tree
 * can hold any bytes, and a name that climbs out of its directory or into
 * .git would otherwise become a path of the snapshot.  .git is matched as
 * on every file system git protects (case, NTFS's trailing dots and spaces
 * and 8.3 name), since a clone elsewhere would read it so.
 */
static const char *name_refused(const char *name)
{
	static const struct { const char *name; const char *why; } exact[] = {
		{ "", "empty" },
		{ ".", "its own directory" },
		{ "..", "it leaves its directory" },
	};
	size_t i, n;

	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(name, exact[i].name))
			return exact[i].why;
	if (strchr(name, '/'))
		return "it holds '/', a path that may leave the repository";
	if (strchr(name, '\\'))
		return "it holds a backslash, a path separator on Windows";
	if (!strncasecmp(name, "git~1", 5) && !name[5])
		return "it is .git on Windows";
	if (!strncasecmp(name, ".git", 4)) {
		for (n = 4; name[n] == '.' || name[n] == ' '; n++)
			;
		if (!name[n])
			return "it is git's own directory";
	}
	return NULL;
}

static int walk_tree(struct twalk *w, const git_tree *t, const char *dir, unsigned depth)
{
	size_t i, n = git_tree_entrycount(t), len;
	char rel[MAX_PATH + 1];
	git_object_t type;
	git_tree *sub;

	for (i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		struct snap_file *f;
		const char *bad = name_refused(name);

		if (bad) {
			if (o8_diags_add(w->diags, *dir ? dir : ".", 1, 1, NULL, NULL,
					 "tree entry name '%s' is one git refuses "
					 "(%s); refusing the commit", name, bad))
				return oom(w->err);
			continue;
		}
		/* dot-directories (.orc8r, .github) and dot-files are not config */
		if (name[0] == '.')
			continue;
		if (snprintf(rel, sizeof(rel), "%s%s%s", dir, *dir ? "/" : "", name) >= (int)sizeof(rel)) {
			if (o8_diags_add(w->diags, name, 1, 1, NULL, NULL, "path too long, ignoring"))
				return oom(w->err);
			continue;
		}
		switch (mode) {
		case GIT_FILEMODE_TREE:
			if (depth >= MAX_DIR_DEPTH) {
				if (o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
						 "directories nested deeper than %d levels, ignoring",
						 MAX_DIR_DEPTH))
					return oom(w->err);
				continue;
			}
			if (git_tree_lookup(&sub, w->repo, git_tree_entry_id(e)))
				return gfail(w->err, O8_ERR, "cannot read directory '%s'", rel);
			if (walk_tree(w, sub, rel, depth + 1)) {
				git_tree_free(sub);
				return -1;
			}
			git_tree_free(sub);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			if (!o8_walk_is_config_name(name))
				continue;
			if (git_odb_read_header(&len, &type, w->odb, git_tree_entry_id(e)))
				return gfail(w->err, O8_ERR, "cannot read '%s'", rel);
			if (len > MAX_FILE) {
				if (o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
						 "file is %zu bytes, over the %d-byte limit; split it into several files",
						 len, MAX_FILE))
					return oom(w->err);
				continue;
			}
			if (!(f = snap_add(w->s, rel)))
				return oom(w->err);
			set_oid(f, git_tree_entry_id(e));
			f->pub.size = len;
			break;
		case GIT_FILEMODE_LINK:
			if (o8_walk_is_config_name(name)) {
				if (o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
						 "symbolic link in a commit is not read, refusing it; commit the file itself"))
					return oom(w->err);
			} else if (link_to_dir(w, dir, git_tree_entry_id(e))) {
				if (o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
						 "symbolic link to a directory is not followed; link the files instead"))
					return oom(w->err);
			}
			break;
		case GIT_FILEMODE_COMMIT:
			if (o8_diags_add(w->diags, rel, 1, 1, NULL, NULL,
					 "submodule is not read as configuration, refusing it; copy its files into this repository"))
				return oom(w->err);
			break;
		default:
			break;
		}
	}
	return 0;
}

static enum o8_rc snap_tree(struct o8_snapshot *s, struct o8_git *g,
			    const git_tree *tree, struct o8_diags *diags,
			    struct o8_err *err)
{
	struct twalk w = { s, g->repo, NULL, tree, diags, err };
	enum o8_rc rc = O8_OK;

	/* handles of its own: the snapshot may be read on another thread than
	   the one using g, and libgit2 objects are one thread's at a time */
	if (!(s->gitdir = strdup(g->gitdir)))
		return oom(err);
	if (git_repository_open(&s->repo, s->gitdir) || git_repository_odb(&s->odb, s->repo))
		return gfail(err, O8_ERR, "cannot open the object database of '%s'", s->gitdir);
	w.odb = s->odb;
	git_oid_tostr(s->tree, sizeof(s->tree), git_tree_id(tree));
	s->has_tree = 1;
	if (walk_tree(&w, tree, "", 0))
		rc = err->rc ? err->rc : oom(err);
	return rc;
}

static enum o8_rc resolve(git_object **out, struct o8_git *g, const char *rev,
			  int *unborn, struct o8_err *err)
{
	int r = git_revparse_single(out, g->repo, rev);

	*unborn = 0;
	if (r == 0)
		return O8_OK;
	if (r == GIT_ENOTFOUND || r == GIT_EUNBORNBRANCH) {
		if (!strcmp(rev, "HEAD") && git_repository_head_unborn(g->repo) == 1) {
			*unborn = 1;
			return O8_OK;
		}
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "unknown revision '%s': not a branch, tag or commit of this repository",
				  rev);
	}
	if (r == GIT_EAMBIGUOUS)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "ambiguous revision '%s': give more digits of the commit", rev);
	if (r == GIT_EINVALIDSPEC)
		return gfail(err, O8_EINVALID, "invalid revision '%s'", rev);
	return gfail(err, O8_ERR, "cannot resolve revision '%s'", rev);
}

static enum o8_rc snap_rev(struct o8_snapshot *s, struct o8_git *g, const char *rev,
			   struct o8_diags *diags, struct o8_err *err)
{
	git_object *obj = NULL, *commit = NULL, *tree = NULL;
	enum o8_rc rc;
	int unborn;

	if ((rc = resolve(&obj, g, rev, &unborn, err)))
		return rc;
	if (unborn)
		return O8_OK;   /* nothing committed yet: no files */
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) == 0) {
		git_oid_tostr(s->commit, sizeof(s->commit), git_object_id(commit));
		s->has_commit = 1;
	}
	if (git_object_peel(&tree, obj, GIT_OBJECT_TREE)) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"revision '%s' is a %s, not a commit or a tree", rev,
				git_object_type2string(git_object_type(obj)));
	} else {
		rc = snap_tree(s, g, (const git_tree *)tree, diags, err);
	}
	git_object_free(tree);
	git_object_free(commit);
	git_object_free(obj);
	return rc;
}

/* --- the work tree ----------------------------------------------------------- */

/* The walk's files become the snapshot's (lib/repo/walk.h has the rules). */
static int add_wt(void *payload, const struct o8_walk_file *wf)
{
	struct snap_file *f = snap_add(payload, wf->path);

	if (!f || (wf->abs && !(f->abs = strdup(wf->abs))))
		return -1;
	/* a link's stat is its target's: never the index's to vouch for */
	if (!wf->abs) {
		f->st = *wf->st;
		f->has_st = 1;
	}
	return 0;
}

/*
 * Reads a whole regular file (fd is closed).  Returns 0 with *buf (malloc'd)
 * or a finding's text in why.  -1: out of memory.
 */
static int slurp(int fd, char **buf, size_t *len, char *why, size_t whylen)
{
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_buf b = O8_FILEIO_BUF_INIT;
	struct o8_fileio_info in;
	enum o8_rc rc;

	o.max = MAX_FILE;
	*buf = NULL;
	rc = o8_fileio_read_fd(fd, "", &b, len, &in, &o, NULL);
	close(fd);
	if (!rc) {
		*buf = b.data;
		return 0;
	}
	o8_fileio_buf_free(&b);
	if (rc == O8_EINVALID)
		snprintf(why, whylen, "not a regular file, refusing to read it");
	else if (rc == O8_ELIMIT)
		snprintf(why, whylen, "file is %lld bytes, over the %d-byte limit; split it into several files",
			 (long long)in.size, MAX_FILE);
	else if (in.errnum == ENOMEM)
		return -1;
	else
		snprintf(why, whylen, "cannot read: %s", strerror(in.errnum));
	return 1;
}

/*
 * A work-tree file whose id came from the index is read when asked for,
 * and must still hash to that id: the content handed out always matches
 * the id a cache stores it under.
 */
static enum o8_rc wt_load(struct o8_snapshot *s, struct snap_file *f, struct o8_err *err)
{
	char full[PATH_MAX], why[256], *mem;
	size_t len;
	git_oid oid;
	int fd, r;

	if (snprintf(full, sizeof(full), "%s/%s", s->root, f->pub.path) >= (int)sizeof(full))
		return o8_err_set(err, O8_ERR, f->pub.path, 0, 0, "path too long: '%s'", f->pub.path);
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return o8_err_set(err, O8_ERR, f->pub.path, 0, 0, "cannot open '%s': %s",
				  f->pub.path, strerror(errno));
	if ((r = slurp(fd, &mem, &len, why, sizeof(why))) < 0)
		return oom(err);
	if (r > 0)
		return o8_err_set(err, O8_ERR, f->pub.path, 0, 0, "cannot read '%s': %s",
				  f->pub.path, why);
	if (git_odb_hash(&oid, mem, len, GIT_OBJECT_BLOB)) {
		free(mem);
		return gfail(err, O8_ERR, "cannot hash '%s'", f->pub.path);
	}
	if (!git_oid_equal(&oid, &f->oid)) {
		free(mem);
		return o8_err_set(err, O8_ECONFLICT, f->pub.path, 0, 0,
				  "'%s' changed while orc8r was reading the work tree; run again",
				  f->pub.path);
	}
	pthread_mutex_lock(&s->lock);
	if (f->buf) {
		free(mem);
	} else {
		f->mem = mem;
		f->buf = mem;
		f->len = len;
	}
	pthread_mutex_unlock(&s->lock);
	return O8_OK;
}

static int pool_load_wt(struct pool_worker *w, size_t i)
{
	struct snap_file *f = &w->p->s->files[i];
	int done;

	pthread_mutex_lock(&w->p->s->lock);
	done = f->buf != NULL;
	pthread_mutex_unlock(&w->p->s->lock);
	return done ? 0 : wt_load(w->p->s, f, &w->err) ? -1 : 0;
}

static int pool_read_wt(struct pool_worker *w, size_t i)
{
	struct snap_file *f = &w->p->s->files[i];
	char why[256];
	git_oid oid;
	int fd, r;

	if (f->abs)
		fd = open(f->abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	else
		fd = openat(w->p->root_fd, f->pub.path,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		f->bad = 1;
		return o8_diags_add(&w->diags, f->pub.path, 1, 1, NULL, NULL,
				    "cannot open: %s", strerror(errno)) ? oom(&w->err) : 0;
	}
	r = slurp(fd, &f->mem, &f->len, why, sizeof(why));
	if (r < 0)
		return oom(&w->err);
	if (r > 0) {
		f->bad = 1;
		return o8_diags_add(&w->diags, f->pub.path, 1, 1, NULL, NULL, "%s", why)
			? oom(&w->err) : 0;
	}
	if (git_odb_hash(&oid, f->mem, f->len, GIT_OBJECT_BLOB))
		return gfail(&w->err, O8_ERR, "cannot hash '%s'", f->pub.path);
	f->buf = f->mem;
	f->pub.size = f->len;
	set_oid(f, &oid);
	return 0;
}

/*
 * git's own shortcut (what makes `git status` fast): when a file's lstat
 * still matches what the index recorded, its blob id is the index's, and
 * the file need not be read until someone asks for it.  Not trusted: a
 * file written in the same second as the index (it may have changed
 * unseen), one that git would filter (autocrlf, clean filters: the index
 * holds the id of other bytes), links, conflicts, skip-worktree entries.
 */
static int stat_matches(const git_index_entry *e, const struct stat *st)
{
	if (!S_ISREG(st->st_mode) || GIT_INDEX_ENTRY_STAGE(e) != 0 ||
	    (e->mode != GIT_FILEMODE_BLOB && e->mode != GIT_FILEMODE_BLOB_EXECUTABLE) ||
	    (e->flags_extended & (GIT_INDEX_ENTRY_SKIP_WORKTREE | GIT_INDEX_ENTRY_INTENT_TO_ADD)))
		return 0;
	if (e->file_size != (uint32_t)st->st_size ||
	    e->mtime.seconds != (int32_t)st->st_mtim.tv_sec ||
	    e->ctime.seconds != (int32_t)st->st_ctim.tv_sec ||
	    (e->mtime.nanoseconds && e->mtime.nanoseconds != (uint32_t)st->st_mtim.tv_nsec) ||
	    (e->ctime.nanoseconds && e->ctime.nanoseconds != (uint32_t)st->st_ctim.tv_nsec) ||
	    (e->ino && e->ino != (uint32_t)st->st_ino))
		return 0;
	return 1;
}

/*
 * Attributes under which git changes the bytes it stores (external filter
 * drivers included, which libgit2 itself does not run): any of them set,
 * even to false, and the index is not asked.
 */
static int filtered(git_repository *repo, const char *path)
{
	static const char *names[] = {
		"filter", "text", "eol", "crlf", "ident", "working-tree-encoding",
	};
	const char *v[sizeof(names) / sizeof(names[0])];
	size_t k;

	if (git_attr_get_many(v, repo, 0, path, sizeof(names) / sizeof(names[0]), names))
		return 1;
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (git_attr_value(v[k]) != GIT_ATTR_VALUE_UNSPECIFIED)
			return 1;
	return 0;
}

static int exists(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	return dir && *dir &&
	       snprintf(path, sizeof(path), "%s/%s", dir, rel) < (int)sizeof(path) &&
	       stat(path, &st) == 0;
}

/*
 * Asking about attributes costs tens of microseconds a file; most
 * repositories have no attributes and no autocrlf, so no file can be
 * filtered and nobody needs to ask.  0: no file is filtered; 1: ask per
 * file; 2: every file may be (core.autocrlf).
 */
static int may_filter(struct o8_git *g, git_index *idx, int saw_attributes)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	git_config_entry *e = NULL;
	git_config *cfg = NULL;
	size_t i, n;
	int r = 0;

	if (git_repository_config_snapshot(&cfg, g->repo))
		return 2;
	if (git_config_get_entry(&e, cfg, "core.autocrlf") == 0 &&
	    strcmp(e->value, "false") && strcmp(e->value, "0") && strcmp(e->value, "no") &&
	    strcmp(e->value, "off")) {
		git_config_entry_free(e);
		git_config_free(cfg);
		return 2;
	}
	git_config_entry_free(e);
	if (saw_attributes || exists(g->gitdir, "info/attributes") ||
	    exists("/etc", "gitattributes") ||
	    (xdg && *xdg ? exists(xdg, "git/attributes") : exists(home, ".config/git/attributes")))
		r = 1;
	e = NULL;
	if (!r && git_config_get_entry(&e, cfg, "core.attributesfile") == 0)
		r = 1;
	git_config_entry_free(e);
	git_config_free(cfg);
	/* a .gitattributes in the index but not in the work tree still counts */
	for (i = 0, n = git_index_entrycount(idx); !r && i < n; i++) {
		const char *p = git_index_get_byindex(idx, i)->path, *slash = strrchr(p, '/');
		if (!strcmp(slash ? slash + 1 : p, ".gitattributes"))
			r = 1;
	}
	git_error_clear();
	return r;
}

/* Marks the files whose id the index gives; returns how many. */
static size_t trust_index(struct o8_snapshot *s, struct o8_git *g, int saw_attributes)
{
	int check_filters;
	char ipath[PATH_MAX];
	git_index *idx = NULL;
	struct stat ist;
	size_t i, n = 0;

	/* the index's time first: a newer index read later only makes more
	   entries look racy, never fewer */
	if (snprintf(ipath, sizeof(ipath), "%s/index", g->gitdir) >= (int)sizeof(ipath) ||
	    stat(ipath, &ist) < 0 || git_repository_index(&idx, g->repo))
		return 0;
	if (git_index_read(idx, 0) == 0) {
		check_filters = may_filter(g, idx, saw_attributes);
		for (i = 0; i < s->n && check_filters < 2; i++) {
			struct snap_file *f = &s->files[i];
			const git_index_entry *e;
			if (!f->has_st || f->abs || (uint64_t)f->st.st_size > MAX_FILE ||
			    !(e = git_index_get_bypath(idx, f->pub.path, 0)) ||
			    !stat_matches(e, &f->st) ||
			    e->mtime.seconds >= (int32_t)ist.st_mtim.tv_sec ||
			    (check_filters && filtered(g->repo, f->pub.path)))
				continue;
			set_oid(f, &e->id);
			f->pub.size = (uint64_t)f->st.st_size;
			f->trusted = 1;
			n++;
		}
	}
	git_error_clear();
	git_index_free(idx);
	return n;
}

static enum o8_rc snap_worktree(struct o8_snapshot *s, struct o8_git *g,
				struct o8_diags *diags, struct o8_err *err)
{
	struct o8_walk w = { .on_file = add_wt, .payload = s };
	char real_root[PATH_MAX];
	struct pool p = { .s = s, .fn = pool_read_wt };
	size_t i, k, *todo = NULL;
	enum o8_rc rc;
	int fd;

	s->worktree = 1;
	if (!g->workdir)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is a bare repository: it has no work tree; give a revision",
				  g->gitdir);
	w.root = g->workdir;
	w.real_root = real_root;
	fd = open(g->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !realpath(g->workdir, real_root)) {
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot open '%s': %s",
				g->workdir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!(s->root = strdup(g->workdir))) {
		close(fd);
		return oom(err);
	}
	if ((rc = o8_walk_tree(&w, fd, diags, err))) {
		close(fd);
		return rc;
	}
	/* hash only what the index cannot vouch for */
	if (s->n && trust_index(s, g, w.saw_attributes) < s->n) {
		if (!(todo = malloc(s->n * sizeof(*todo)))) {
			close(fd);
			return oom(err);
		}
		for (i = 0; i < s->n; i++)
			if (!s->files[i].trusted)
				todo[p.n++] = i;
	}
	p.idx = todo;
	p.root_fd = fd;
	rc = p.n ? pool_run(&p, 0, diags, err) : O8_OK;
	free(todo);
	close(fd);
	if (rc)
		return rc;
	/* drop what could not be read after all (it changed under us) */
	for (i = k = 0; i < s->n; i++) {
		if (s->files[i].bad) {
			free(s->files[i].abs);
			free(s->files[i].mem);
			continue;
		}
		s->files[k++] = s->files[i];
	}
	s->n = k;
	return O8_OK;
}

/* --- reading ---------------------------------------------------------------- */

enum o8_rc o8_snapshot_read(struct o8_snapshot *s, size_t i, const char **buf,
			    size_t *len, struct o8_err *err)
{
	struct snap_file *f;
	git_odb_object *obj;
	enum o8_rc rc = O8_OK;
	int have;

	*buf = NULL;
	*len = 0;
	if (i >= s->n)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "no file %zu in the snapshot", i);
	f = &s->files[i];
	pthread_mutex_lock(&s->lock);
	have = f->buf != NULL;
	if (!have && !s->worktree && (rc = read_blob(&obj, s->odb, f, err)) == O8_OK) {
		f->obj = obj;
		f->buf = git_odb_object_data(obj);
		f->len = git_odb_object_size(obj);
	}
	pthread_mutex_unlock(&s->lock);
	/* outside the lock: other threads may read other files meanwhile */
	if (!have && s->worktree)
		rc = wt_load(s, f, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	*buf = f->buf ? f->buf : "";
	*len = f->len;
	pthread_mutex_unlock(&s->lock);
	return O8_OK;
}

enum o8_rc o8_snapshot_prefetch(struct o8_snapshot *s, const size_t *idx,
				size_t n, unsigned threads, struct o8_err *err)
{
	struct pool p = { .s = s, .idx = idx, .n = n, .root_fd = -1,
			  .fn = s->worktree ? pool_load_wt : pool_read_blob };
	size_t k;

	if (!n)
		return O8_OK;
	for (k = 0; k < n; k++)
		if (idx[k] >= s->n)
			return o8_err_set(err, O8_ERR, NULL, 0, 0, "no file %zu in the snapshot", idx[k]);
	return pool_run(&p, threads, NULL, err);
}

enum o8_rc o8_snapshot_srcs(struct o8_src **out, struct o8_snapshot *s,
			    struct o8_err *err)
{
	struct pool p = { .s = s, .n = s->n, .root_fd = -1,
			  .fn = s->worktree ? pool_load_wt : pool_read_blob };
	struct o8_src *v;
	enum o8_rc rc;
	size_t i;

	*out = NULL;
	if (s->n && (rc = pool_run(&p, 0, NULL, err)))
		return rc;
	if (!(v = malloc((s->n ? s->n : 1) * sizeof(*v))))
		return oom(err);
	for (i = 0; i < s->n; i++) {
		v[i].path = s->files[i].pub.path;
		v[i].buf = s->files[i].buf ? s->files[i].buf : "";
		v[i].len = s->files[i].len;
	}
	*out = v;
	return O8_OK;
}

enum o8_rc o8_git_snapshot(struct o8_snapshot **out, struct o8_git *g,
			   const char *rev, struct o8_diags *diags,
			   struct o8_err *err)
{
	struct o8_snapshot *s;
	enum o8_rc rc;

	*out = NULL;
	if ((rc = snap_new(&s, err)))
		return rc;
	rc = rev ? snap_rev(s, g, rev, diags, err) : snap_worktree(s, g, diags, err);
	if (rc == O8_OK)
		rc = snap_finish(s, err);
	if (rc) {
		o8_snapshot_free(s);
		return rc;
	}
	*out = s;
	return O8_OK;
}

size_t o8_snapshot_count(const struct o8_snapshot *s)
{
	return s ? s->n : 0;
}

const struct o8_snapshot_file *o8_snapshot_file(const struct o8_snapshot *s, size_t i)
{
	return i < s->n ? &s->files[i].pub : NULL;
}

long o8_snapshot_find(const struct o8_snapshot *s, const char *path)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, s->files[mid].pub.path);
		if (!c)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

const char *o8_snapshot_id(const struct o8_snapshot *s)
{
	return s->id;
}

const char *o8_snapshot_commit(const struct o8_snapshot *s)
{
	return s->has_commit ? s->commit : NULL;
}

const char *o8_snapshot_tree(const struct o8_snapshot *s)
{
	return s->has_tree ? s->tree : NULL;
}

int o8_snapshot_is_worktree(const struct o8_snapshot *s)
{
	return s->worktree;
}

/* --- diff ------------------------------------------------------------------------ */

enum o8_rc o8_snapshot_diff(struct o8_snapshot_change **out, size_t *n,
			    const struct o8_snapshot *a,
			    const struct o8_snapshot *b, struct o8_err *err)
{
	struct o8_snapshot_change *v = NULL, *c;
	size_t i = 0, j = 0, k = 0, cap = 0;
	int cmp;

	*out = NULL;
	*n = 0;
	while (i < a->n || j < b->n) {
		const struct snap_file *fa = i < a->n ? &a->files[i] : NULL;
		const struct snap_file *fb = j < b->n ? &b->files[j] : NULL;

		cmp = !fa ? 1 : !fb ? -1 : strcmp(fa->pub.path, fb->pub.path);
		if (cmp == 0 && git_oid_equal(&fa->oid, &fb->oid)) {
			i++;
			j++;
			continue;
		}
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			if (!(c = realloc(v, cap * sizeof(*v)))) {
				free(v);
				return oom(err);
			}
			v = c;
		}
		c = &v[k++];
		if (cmp < 0) {
			*c = (struct o8_snapshot_change){ O8_CHANGE_REMOVED, fa->pub.path, i++, SIZE_MAX };
		} else if (cmp > 0) {
			*c = (struct o8_snapshot_change){ O8_CHANGE_ADDED, fb->pub.path, SIZE_MAX, j++ };
		} else {
			*c = (struct o8_snapshot_change){ O8_CHANGE_MODIFIED, fa->pub.path, i, j };
			i++;
			j++;
		}
	}
	*out = v;
	*n = k;
	return O8_OK;
}

/* --- upstream ------------------------------------------------------------------ */

enum o8_rc o8_git_upstream(char **out, struct o8_git *g, struct o8_err *err)
{
	git_reference *head = NULL, *up = NULL;
	const char *name;
	enum o8_rc rc = O8_OK;
	int r;

	*out = NULL;
	r = git_repository_head(&head, g->repo);
	if (r == GIT_EUNBORNBRANCH || r == GIT_ENOTFOUND)
		return O8_OK;
	if (r)
		return gfail(err, O8_ERR, "cannot read HEAD");
	if (!git_reference_is_branch(head))
		goto out;       /* detached */
	r = git_branch_upstream(&up, head);
	if (r == GIT_ENOTFOUND)
		goto out;
	if (r) {
		rc = gfail(err, O8_ERR, "cannot find the upstream of '%s'", git_reference_shorthand(head));
		goto out;
	}
	if (git_branch_name(&name, up)) {
		rc = gfail(err, O8_ERR, "cannot name the upstream of '%s'", git_reference_shorthand(head));
		goto out;
	}
	if (!(*out = strdup(name)))
		rc = oom(err);
out:
	git_reference_free(up);
	git_reference_free(head);
	return rc;
}

/* --- commit ------------------------------------------------------------------ */

/* One path to change in the commit: removed, or set to buf. */
struct cchange {
	const char *path;
	int remove;
	const char *buf;
	size_t len;
};

struct clist {
	struct cchange *v;
	size_t n, cap;
};

static int clist_add(struct clist *l, const char *path, int remove,
		     const char *buf, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct cchange *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct cchange){ path, remove, buf, len };
	return 0;
}

/*
 * .orc8r/ holds the repository's own settings (recipients, config.yaml):
 * not configuration for the loader, but part of what apply commits.  Both
 * sides are listed as snapshots so the same merge finds the changes.
 */
static int dot_tree(struct o8_snapshot *s, git_repository *repo, git_odb *odb,
		    const git_tree *t, const char *dir, unsigned depth, struct o8_err *err)
{
	size_t i, n = git_tree_entrycount(t), len;
	char rel[MAX_PATH + 1];
	git_object_t type;
	git_tree *sub;
	int r;

	for (i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		git_filemode_t mode = git_tree_entry_filemode(e);
		struct snap_file *f;

		if (snprintf(rel, sizeof(rel), "%s/%s", dir, git_tree_entry_name(e)) >= (int)sizeof(rel))
			continue;
		if (mode == GIT_FILEMODE_TREE && depth < MAX_DIR_DEPTH) {
			if (git_tree_lookup(&sub, repo, git_tree_entry_id(e)))
				return gfail(err, O8_ERR, "cannot read '%s'", rel);
			r = dot_tree(s, repo, odb, sub, rel, depth + 1, err);
			git_tree_free(sub);
			if (r)
				return r;
		} else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
			if (git_odb_read_header(&len, &type, odb, git_tree_entry_id(e)))
				return gfail(err, O8_ERR, "cannot read '%s'", rel);
			if (!(f = snap_add(s, rel)))
				return oom(err);
			set_oid(f, git_tree_entry_id(e));
			f->pub.size = len;
		}
	}
	return 0;
}

static int dot_wt(struct o8_snapshot *s, int dfd, const char *dir, unsigned depth,
		  struct o8_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	char rel[PATH_MAX], why[256];
	struct stat st;
	git_oid oid;
	int fd, r = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	while (!r && (de = readdir(d))) {
		struct snap_file *f;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(rel, sizeof(rel), "%s/%s", dir, de->d_name) >= (int)sizeof(rel) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < MAX_DIR_DEPTH) {
			fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				r = dot_wt(s, fd, rel, depth + 1, err);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (!(f = snap_add(s, rel))) {
			close(fd);
			r = oom(err);
			break;
		}
		if ((r = slurp(fd, &f->mem, &f->len, why, sizeof(why))) < 0) {
			r = oom(err);
			break;
		}
		if (r > 0) {
			r = o8_err_set(err, O8_EINVALID, rel, 0, 0, "cannot commit '%s': %s", rel, why);
			break;
		}
		if (git_odb_hash(&oid, f->mem, f->len, GIT_OBJECT_BLOB)) {
			r = gfail(err, O8_ERR, "cannot hash '%s'", rel);
			break;
		}
		f->buf = f->mem;
		f->pub.size = f->len;
		set_oid(f, &oid);
	}
	closedir(d);
	return r;
}

/* Adds the changes from a to b to l (paths and bytes borrowed from a and b). */
static enum o8_rc changes(struct clist *l, const struct o8_snapshot *a,
			  struct o8_snapshot *b, struct o8_err *err)
{
	struct o8_snapshot_change *v;
	const char *buf = NULL;
	enum o8_rc rc;
	size_t n, i, len = 0;

	if ((rc = o8_snapshot_diff(&v, &n, a, b, err)))
		return rc;
	for (i = 0; i < n && rc == O8_OK; i++) {
		int remove = v[i].what == O8_CHANGE_REMOVED;
		/* the bytes whose id the plan showed (read now if the index gave it) */
		if (!remove && (rc = o8_snapshot_read(b, v[i].b, &buf, &len, err)))
			break;
		if (clist_add(l, v[i].path, remove, remove ? NULL : buf, remove ? 0 : len))
			rc = oom(err);
	}
	free(v);
	return rc;
}

static enum o8_rc dot_changes(struct clist *l, struct o8_snapshot *old_dot,
			      struct o8_snapshot *new_dot, struct o8_git *g,
			      const git_tree *head_tree, struct o8_err *err)
{
	git_tree_entry *e = NULL;
	git_tree *sub = NULL;
	git_odb *odb = NULL;
	enum o8_rc rc = O8_OK;
	int fd;

	if (head_tree && git_tree_entry_bypath(&e, head_tree, ".orc8r") == 0 &&
	    git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		if (git_repository_odb(&odb, g->repo) ||
		    git_tree_lookup(&sub, g->repo, git_tree_entry_id(e)))
			rc = gfail(err, O8_ERR, "cannot read .orc8r in HEAD");
		else if (dot_tree(old_dot, g->repo, odb, sub, ".orc8r", 0, err))
			rc = err->rc;
	}
	git_tree_free(sub);
	git_tree_entry_free(e);
	git_odb_free(odb);
	if (rc)
		return rc;
	fd = open(g->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		int dfd = openat(fd, ".orc8r", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (dfd >= 0 && dot_wt(new_dot, dfd, ".orc8r", 0, err))
			return err->rc;
	}
	if ((rc = snap_finish(old_dot, err)) || (rc = snap_finish(new_dot, err)))
		return rc;
	return changes(l, old_dot, new_dot, err);
}

static enum o8_rc signature(git_signature **out, struct o8_git *g, struct o8_err *err)
{
	int r = git_signature_default(out, g->repo);

	if (r == GIT_ENOTFOUND)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "no author for the commit: user.name and user.email are not set in git config "
				  "(git config --global user.name 'Your Name'; git config --global user.email you@example.com)");
	if (r)
		return gfail(err, O8_EINVALID, "no author for the commit");
	return O8_OK;
}

/* Writes the blobs and the changed entries into idx. */
static enum o8_rc apply_changes(git_index *idx, struct o8_git *g,
				const struct clist *l, int write_blobs,
				struct o8_err *err)
{
	size_t i;

	/* removals first: a path may turn from a file into a directory */
	for (i = 0; i < l->n; i++)
		if (l->v[i].remove && git_index_get_bypath(idx, l->v[i].path, 0) &&
		    git_index_remove(idx, l->v[i].path, 0))
			return gfail(err, O8_ERR, "cannot remove '%s' from the index", l->v[i].path);
	for (i = 0; i < l->n; i++) {
		const git_index_entry *old;
		git_index_entry e;

		if (l->v[i].remove)
			continue;
		memset(&e, 0, sizeof(e));
		e.path = l->v[i].path;
		e.file_size = (uint32_t)l->v[i].len;
		old = git_index_get_bypath(idx, l->v[i].path, 0);
		e.mode = old && old->mode == GIT_FILEMODE_BLOB_EXECUTABLE
			? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
		if (write_blobs) {
			if (git_blob_create_from_buffer(&e.id, g->repo, l->v[i].buf, l->v[i].len))
				return gfail(err, O8_ERR, "cannot store '%s'", l->v[i].path);
		} else if (git_odb_hash(&e.id, l->v[i].buf, l->v[i].len, GIT_OBJECT_BLOB)) {
			return gfail(err, O8_ERR, "cannot hash '%s'", l->v[i].path);
		}
		if (git_index_add(idx, &e))
			return gfail(err, O8_ERR, "cannot stage '%s'", l->v[i].path);
	}
	return O8_OK;
}

enum o8_rc o8_git_commit_all(char out[O8_OID_HEX_SIZE], struct o8_git *g, const char *msg,
			     struct o8_err *err)
{
	struct o8_snapshot *head = NULL, *wt = NULL, *old_dot = NULL, *new_dot = NULL;
	struct o8_diags ignored = O8_DIAGS_INIT;
	git_commit *parent = NULL;
	git_tree *head_tree = NULL, *tree = NULL;
	git_index *idx = NULL, *repo_idx = NULL;
	git_signature *sig = NULL;
	git_buf text = GIT_BUF_INIT;
	struct clist l = { 0 };
	git_oid tree_id, commit_id;
	enum o8_rc rc;
	int r;

	out[0] = '\0';
	if (!g->workdir)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is a bare repository: there is no work tree to commit", g->gitdir);
	if (git_repository_state(g->repo) != GIT_REPOSITORY_STATE_NONE)
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				  "a merge, rebase or cherry-pick is in progress; finish or abort it first");
	if ((rc = signature(&sig, g, err)))
		return rc;
	r = git_revparse_single((git_object **)&parent, g->repo, "HEAD^{commit}");
	if (r && !(r == GIT_ENOTFOUND || r == GIT_EUNBORNBRANCH)) {
		rc = gfail(err, O8_ERR, "cannot read HEAD");
		goto out;
	}
	if (parent && git_commit_tree(&head_tree, parent)) {
		rc = gfail(err, O8_ERR, "cannot read HEAD's tree");
		goto out;
	}
	/* the same rules as the plan: what apply commits is what plan showed */
	if ((rc = o8_git_snapshot(&head, g, "HEAD", &ignored, err)) ||
	    (rc = o8_git_snapshot(&wt, g, NULL, &ignored, err)) ||
	    (rc = changes(&l, head, wt, err)) ||
	    (rc = snap_new(&old_dot, err)) || (rc = snap_new(&new_dot, err)) ||
	    (rc = dot_changes(&l, old_dot, new_dot, g, head_tree, err)))
		goto out;
	if (!l.n) {
		rc = o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				"nothing to commit: the configuration in the work tree is the same as in HEAD");
		goto out;
	}
	/*
	 * The tree is HEAD's plus these changes, built in an index of its own:
	 * whatever else the operator staged stays staged, not committed.
	 */
	if (git_index_new(&idx) || (head_tree && git_index_read_tree(idx, head_tree))) {
		rc = gfail(err, O8_ERR, "cannot build the commit's tree");
		goto out;
	}
	if ((rc = apply_changes(idx, g, &l, 1, err)))
		goto out;
	if (git_index_write_tree_to(&tree_id, idx, g->repo) ||
	    git_tree_lookup(&tree, g->repo, &tree_id)) {
		rc = gfail(err, O8_ERR, "cannot write the commit's tree");
		goto out;
	}
	if (git_message_prettify(&text, msg && *msg ? msg : "orc8r apply", 0, '#')) {
		rc = gfail(err, O8_ERR, "cannot format the commit message");
		goto out;
	}
	if (git_commit_create(&commit_id, g->repo, "HEAD", sig, sig, NULL, text.ptr, tree,
			      parent ? 1 : 0, (const git_commit **)&parent)) {
		rc = gfail(err, O8_ERR, "cannot commit");
		goto out;
	}
	git_oid_tostr(out, 41, &commit_id);
	/* so that git status agrees with the new HEAD for these paths */
	if (git_repository_index(&repo_idx, g->repo) || git_index_read(repo_idx, 0) ||
	    apply_changes(repo_idx, g, &l, 0, err) || git_index_write(repo_idx)) {
		if (!err->rc)
			gfail(err, O8_ERR, "committed %.12s, but cannot update the index", out);
		else
			o8_err_prefix(err, "committed %.12s, but cannot update the index", out);
		rc = err->rc;
	}
out:
	git_index_free(repo_idx);
	git_index_free(idx);
	git_tree_free(tree);
	git_tree_free(head_tree);
	git_commit_free(parent);
	git_signature_free(sig);
	git_buf_dispose(&text);
	free(l.v);
	o8_snapshot_free(old_dot);
	o8_snapshot_free(new_dot);
	o8_snapshot_free(head);
	o8_snapshot_free(wt);
	o8_diags_free(&ignored);
	return rc;
}

/* --- push ------------------------------------------------------------------------ */

struct pstate {
	const char *refname;            /* the remote branch we update */
	unsigned ssh_step, userpass_tries;
	char cred_msg[1024];            /* why credentials ran out */
	char rejected[512];             /* the remote's refusal, if any */
	int nonff;                      /* ... because the remote moved */
	int negotiated;
	git_oid remote_old;
};

static const char *const ssh_keys[] = { "id_ed25519", "id_ecdsa", "id_rsa" };

static int try_key_file(git_credential **out, const char *user, unsigned k)
{
	const char *home = getenv("HOME");
	char priv[PATH_MAX], pub[PATH_MAX + 8];

	if (!home || !*home ||
	    snprintf(priv, sizeof(priv), "%s/.ssh/%s", home, ssh_keys[k]) >= (int)sizeof(priv) ||
	    access(priv, R_OK))
		return 1;
	snprintf(pub, sizeof(pub), "%s.pub", priv);
	return git_credential_ssh_key_new(out, user, access(pub, R_OK) ? NULL : pub, priv, NULL);
}

/*
 * libgit2 calls this again after every refused attempt, so each call moves
 * to the next way of authenticating, and gives up when all were tried.
 */
static int credentials(git_credential **out, const char *url, const char *url_user,
		       unsigned int allowed, void *payload)
{
	struct pstate *st = payload;
	char where[384];
	const char *token, *user;

	copy_url(where, sizeof(where), url);
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		user = url_user && *url_user ? url_user : "git";
		while (st->ssh_step < 1 + sizeof(ssh_keys) / sizeof(ssh_keys[0])) {
			unsigned step = st->ssh_step++;
			if (step == 0) {
				if (getenv("SSH_AUTH_SOCK"))
					return git_credential_ssh_key_from_agent(out, user);
				continue;
			}
			if (try_key_file(out, user, step - 1) == 0)
				return 0;
		}
		snprintf(st->cred_msg, sizeof(st->cred_msg),
			 "ssh authentication to '%s' as '%s' failed: tried ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa",
			 where, user);
		return GIT_EUSER;
	}
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		token = getenv("ORC8R_GIT_TOKEN");
		if (!token || !*token)
			token = getenv("GIT_TOKEN");
		if (!token || !*token) {
			snprintf(st->cred_msg, sizeof(st->cred_msg),
				 "'%s' asks for credentials: set ORC8R_GIT_TOKEN to a token that may push "
				 "(and ORC8R_GIT_USER when the user is not x-access-token)", where);
			return GIT_EUSER;
		}
		if (st->userpass_tries++) {
			snprintf(st->cred_msg, sizeof(st->cred_msg),
				 "'%s' refused the token in ORC8R_GIT_TOKEN/GIT_TOKEN (check it and ORC8R_GIT_USER)",
				 where);
			return GIT_EUSER;
		}
		user = getenv("ORC8R_GIT_USER");
		if (!user || !*user)
			user = url_user && *url_user ? url_user : "x-access-token";
		return git_credential_userpass_plaintext_new(out, user, token);
	}
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, url_user && *url_user ? url_user : "git");
	snprintf(st->cred_msg, sizeof(st->cred_msg),
		 "'%s' asks for a kind of credentials orc8r does not support", where);
	return GIT_EUSER;
}

static int negotiation(const git_push_update **updates, size_t len, void *payload)
{
	struct pstate *st = payload;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!strcmp(updates[i]->dst_refname, st->refname)) {
			st->negotiated = 1;
			st->remote_old = updates[i]->src;
		}
	}
	return 0;
}

static int update_reference(const char *refname, const char *status, void *payload)
{
	struct pstate *st = payload;

	if (!status || st->rejected[0])
		return 0;
	snprintf(st->rejected, sizeof(st->rejected), "the remote refused to update '%s': %s",
		 refname, status);
	o8_redact_urls(st->rejected);
	/* receive.denyNonFastForwards and friends: the remote moved */
	if (strstr(status, "fast-forward") || strstr(status, "fast forward") ||
	    strstr(status, "fetch first") || strstr(status, "stale"))
		st->nonff = 1;
	return 0;
}

static void set_callbacks(git_remote_callbacks *cb, struct pstate *st)
{
	cb->credentials = credentials;
	cb->push_negotiation = negotiation;
	cb->push_update_reference = update_reference;
	cb->payload = st;
	/* certificate_check stays NULL: libgit2 checks TLS against the system
	   CAs and ssh host keys against ~/.ssh/known_hosts */
}

static void pstate_reset(struct pstate *st)
{
	st->ssh_step = st->userpass_tries = 0;
	st->cred_msg[0] = st->rejected[0] = '\0';
	st->nonff = st->negotiated = 0;
}

/* The error of a failed network call: our reason when credentials ran out. */
static enum o8_rc net_fail(struct o8_err *err, const struct pstate *st, int r,
			   const char *what, const char *where)
{
	if (r == GIT_EUSER && st->cred_msg[0])
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "%s", st->cred_msg);
	return gfail(err, O8_ERR, "cannot %s '%s'", what, where);
}

static int do_push(git_remote *remote, const char *spec, struct pstate *st)
{
	git_push_options po;
	char *specs[] = { (char *)spec };
	git_strarray arr = { specs, 1 };

	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	set_callbacks(&po.callbacks, st);
	pstate_reset(st);
	return git_remote_push(remote, &arr, &po);
}

static int do_fetch(git_remote *remote, const char *spec, struct pstate *st)
{
	git_fetch_options fo;
	char *specs[] = { (char *)spec };
	git_strarray arr = { specs, 1 };

	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	set_callbacks(&fo.callbacks, st);
	pstate_reset(st);
	return git_remote_fetch(remote, &arr, &fo, "orc8r apply: fetch");
}

/* Names the conflicting paths of an in-memory rebase step. */
static void conflict_paths(char *out, size_t len, git_index *idx)
{
	const git_index_entry *anc, *ours, *theirs;
	git_index_conflict_iterator *it;
	size_t off = 0, n = 0, extra = 0;

	out[0] = '\0';
	if (git_index_conflict_iterator_new(&it, idx))
		return;
	while (git_index_conflict_next(&anc, &ours, &theirs, it) == 0) {
		const git_index_entry *e = ours ? ours : theirs ? theirs : anc;
		if (n++ >= MAX_CONFLICTS_NAMED) {
			extra++;
			continue;
		}
		if (off < len)
			off += (size_t)snprintf(out + off, len - off, "%s'%s'", n > 1 ? ", " : "", e->path);
	}
	git_index_conflict_iterator_free(it);
	if (extra && off < len)
		snprintf(out + off, len - off, " and %zu more", extra);
}

/*
 * Replays the commits of `local` missing from `upstream` on top of it, in
 * memory.  On success *tip is the new tip and *count the commits replayed;
 * nothing outside the object database changes here.
 */
static enum o8_rc rebase(git_oid *tip, unsigned *count, struct o8_git *g,
			 const git_oid *local, const git_oid *upstream,
			 const char *upstream_name, struct o8_err *err)
{
	git_annotated_commit *branch = NULL, *onto = NULL;
	git_rebase_options ro;
	git_rebase_operation *op;
	git_signature *sig = NULL;
	git_rebase *rb = NULL;
	git_index *idx = NULL;
	enum o8_rc rc = O8_OK;
	char paths[400];
	int r;

	*count = 0;
	*tip = *upstream;
	git_rebase_options_init(&ro, GIT_REBASE_OPTIONS_VERSION);
	ro.inmemory = 1;
	if ((rc = signature(&sig, g, err)))
		return rc;
	if (git_annotated_commit_lookup(&branch, g->repo, local) ||
	    git_annotated_commit_lookup(&onto, g->repo, upstream) ||
	    git_rebase_init(&rb, g->repo, branch, onto, NULL, &ro)) {
		rc = gfail(err, O8_ERR, "cannot rebase onto '%s'", upstream_name);
		goto out;
	}
	while ((r = git_rebase_next(&op, rb)) == 0) {
		git_oid id;
		if (git_rebase_inmemory_index(&idx, rb)) {
			rc = gfail(err, O8_ERR, "cannot rebase onto '%s'", upstream_name);
			break;
		}
		if (git_index_has_conflicts(idx)) {
			conflict_paths(paths, sizeof(paths), idx);
			rc = o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
					"the remote changed %s too; pull and resolve, then apply again "
					"(nothing was pushed, your branch is unchanged)", paths);
			break;
		}
		git_index_free(idx);
		idx = NULL;
		r = git_rebase_commit(&id, rb, NULL, sig, NULL, NULL);
		if (r == GIT_EAPPLIED)
			continue;       /* the remote already has this change */
		if (r) {
			rc = gfail(err, O8_ERR, "cannot rebase onto '%s'", upstream_name);
			break;
		}
		*tip = id;
		(*count)++;
	}
	if (rc == O8_OK && r != GIT_ITEROVER)
		rc = gfail(err, O8_ERR, "cannot rebase onto '%s'", upstream_name);
	if (rc)
		git_rebase_abort(rb);
	else if (git_rebase_finish(rb, sig))
		rc = gfail(err, O8_ERR, "cannot finish the rebase onto '%s'", upstream_name);
out:
	git_index_free(idx);
	git_rebase_free(rb);
	git_annotated_commit_free(branch);
	git_annotated_commit_free(onto);
	git_signature_free(sig);
	return rc;
}

/* Moves the branch to tip, updating the work tree and index first (safely). */
static enum o8_rc move_branch(struct o8_git *g, git_reference *branch,
			      const git_oid *tip, const char *why, struct o8_err *err)
{
	git_checkout_options co;
	git_reference *moved = NULL;
	git_commit *c = NULL;
	enum o8_rc rc = O8_OK;

	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_SAFE;
	if (git_commit_lookup(&c, g->repo, tip))
		return gfail(err, O8_ERR, "cannot read commit %s", git_oid_tostr_s(tip));
	if (g->workdir && git_checkout_tree(g->repo, (const git_object *)c, &co))
		rc = gfail(err, O8_ECONFLICT,
			   "cannot bring the work tree up to the rebased commit (nothing was pushed)");
	else if (git_reference_set_target(&moved, branch, tip, why))
		rc = gfail(err, O8_ERR, "cannot move '%s'", git_reference_shorthand(branch));
	git_reference_free(moved);
	git_commit_free(c);
	return rc;
}

struct push_ctx {
	struct o8_git *g;
	git_reference *head;
	git_remote *remote;
	const char *local_ref;          /* refs/heads/main */
	char spec[1024];                /* refs/heads/main:refs/heads/main */
	char fetch_spec[1024];          /* +refs/heads/main:refs/remotes/origin/main */
	char tracking[512];             /* refs/remotes/origin/main */
	char where[512];                /* the URL, for messages */
	struct pstate st;
};

static enum o8_rc push_once(struct push_ctx *c, struct o8_err *err, int *nonff)
{
	int r = do_push(c->remote, c->spec, &c->st);

	*nonff = 0;
	if (r == GIT_ENONFASTFORWARD || (r == 0 && c->st.nonff)) {
		*nonff = 1;
		return O8_OK;
	}
	if (r)
		return net_fail(err, &c->st, r, "push to", c->where);
	if (c->st.rejected[0])
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "%s", c->st.rejected);
	return O8_OK;
}

static enum o8_rc push_upstream(struct o8_git_push_info *info, struct push_ctx *c,
				struct o8_err *err)
{
	git_oid local, upstream, base, tip;
	unsigned count;
	enum o8_rc rc;
	int nonff, r;
	char why[600];

	if ((rc = push_once(c, err, &nonff)))
		return rc;
	if (!nonff)
		return O8_OK;
	/* The remote moved: fetch it, replay our commits on top, try once more. */
	r = do_fetch(c->remote, c->fetch_spec, &c->st);
	if (r)
		return net_fail(err, &c->st, r, "fetch from", c->where);
	if (git_reference_name_to_id(&upstream, c->g->repo, c->tracking) ||
	    git_reference_name_to_id(&local, c->g->repo, c->local_ref))
		return gfail(err, O8_ERR, "cannot read '%s' after fetching", c->tracking);
	if (git_merge_base(&base, c->g->repo, &local, &upstream) == 0 &&
	    git_oid_equal(&base, &upstream)) {
		/* already on top of the remote: it moved back, or we raced */
		tip = local;
		count = 0;
	} else {
		if ((rc = rebase(&tip, &count, c->g, &local, &upstream, c->tracking, err)))
			return rc;
		snprintf(why, sizeof(why), "orc8r apply: rebase onto %s", c->tracking);
		if ((rc = move_branch(c->g, c->head, &tip, why, err)))
			return rc;
	}
	info->rebased = count;
	if ((rc = push_once(c, err, &nonff)))
		return rc;
	if (nonff)
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				  "the remote moved again while pushing to '%s'; run apply again%s",
				  c->where, count ? " (your commits are now rebased on the remote)" : "");
	return O8_OK;
}

enum o8_rc o8_git_push(struct o8_git_push_info *info, struct o8_git *g,
		       struct o8_err *err)
{
	struct o8_git_push_info dummy;
	git_buf rname = GIT_BUF_INIT, merge = GIT_BUF_INIT, track = GIT_BUF_INIT;
	struct push_ctx c = { .g = g };
	const char *url, *branch;
	git_oid now;
	enum o8_rc rc = O8_OK;
	int r;

	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	r = git_repository_head(&c.head, g->repo);
	if (r == GIT_EUNBORNBRANCH)
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0, "nothing to push: the branch has no commit yet");
	if (r)
		return gfail(err, O8_ERR, "cannot read HEAD");
	if (!git_reference_is_branch(c.head)) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"HEAD is detached: check out the branch to push (git switch main)");
		goto out;
	}
	c.local_ref = git_reference_name(c.head);
	branch = git_reference_shorthand(c.head);
	r = git_branch_upstream_remote(&rname, g->repo, c.local_ref);
	if (r == GIT_ENOTFOUND) {
		rc = o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				"branch '%s' has no upstream; set it once with: git push -u origin %s",
				branch, branch);
		goto out;
	}
	if (r || git_branch_upstream_merge(&merge, g->repo, c.local_ref) ||
	    git_branch_upstream_name(&track, g->repo, c.local_ref)) {
		rc = gfail(err, O8_ERR, "cannot read the upstream of '%s'", branch);
		goto out;
	}
	if (!strcmp(rname.ptr, ".")) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"the upstream of '%s' is a local branch; there is no remote to push to",
				branch);
		goto out;
	}
	if (git_remote_lookup(&c.remote, g->repo, rname.ptr)) {
		rc = gfail(err, O8_ERR, "cannot find remote '%s'", rname.ptr);
		goto out;
	}
	url = git_remote_pushurl(c.remote) ? git_remote_pushurl(c.remote) : git_remote_url(c.remote);
	copy_url(c.where, sizeof(c.where), url);
	snprintf(info->remote, sizeof(info->remote), "%s", rname.ptr);
	snprintf(info->branch, sizeof(info->branch), "%s", merge.ptr);
	snprintf(info->url, sizeof(info->url), "%s", c.where);
	/* never "+src:dst": a push that is not a fast-forward is refused */
	if (snprintf(c.spec, sizeof(c.spec), "%s:%s", c.local_ref, merge.ptr) >= (int)sizeof(c.spec) ||
	    snprintf(c.fetch_spec, sizeof(c.fetch_spec), "+%s:%s", merge.ptr, track.ptr) >= (int)sizeof(c.fetch_spec) ||
	    snprintf(c.tracking, sizeof(c.tracking), "%s", track.ptr) >= (int)sizeof(c.tracking)) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0, "branch name too long");
		goto out;
	}
	c.st.refname = merge.ptr;
	if ((rc = push_upstream(info, &c, err)))
		goto out;
	if (git_reference_name_to_id(&now, g->repo, c.local_ref) == 0)
		git_oid_tostr(info->new_oid, sizeof(info->new_oid), &now);
	if (c.st.negotiated)
		git_oid_tostr(info->old_oid, sizeof(info->old_oid), &c.st.remote_old);
	info->up_to_date = !c.st.negotiated || !strcmp(info->old_oid, info->new_oid);
	if (info->up_to_date)
		snprintf(info->old_oid, sizeof(info->old_oid), "%s", info->new_oid);
out:
	git_remote_free(c.remote);
	git_reference_free(c.head);
	git_buf_dispose(&rname);
	git_buf_dispose(&merge);
	git_buf_dispose(&track);
	return rc;
}

/* --- following a remote ---------------------------------------------------- */

/* 1 when dir holds anything (an entry besides . and ..). */
static int dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int any = 0;

	if (!d)
		return 0;
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return any;
}

/* dir as a repository: an existing one, or a new bare one. */
static enum o8_rc mirror_init(const char *dir, struct o8_err *err)
{
	git_repository_init_options io;
	git_repository *repo = NULL;
	int r;

	r = git_repository_open_ext(&repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	git_repository_free(repo);
	if (r == 0)
		return O8_OK;
	if (r != GIT_ENOTFOUND)
		return gfail(err, O8_ERR, "cannot open the mirror '%s'", dir);
	if (dir_has_entries(dir))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is not empty and not a git repository; "
				  "give syncd a directory of its own for the mirror", dir);
	git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
		   GIT_REPOSITORY_INIT_NO_REINIT;
	if (git_repository_init_ext(&repo, dir, &io))
		return gfail(err, O8_ERR, "cannot create the mirror '%s'", dir);
	git_repository_free(repo);
	return O8_OK;
}

/* "origin", created on first use, following url when it changed. */
static enum o8_rc mirror_origin(git_remote **out, git_repository *repo,
				const char *url, const char *spec,
				const char *where, struct o8_err *err)
{
	int r = git_remote_lookup(out, repo, "origin");

	if (r == GIT_ENOTFOUND) {
		if (git_remote_create_with_fetchspec(out, repo, "origin", url, spec))
			return gfail(err, O8_ERR, "cannot add remote '%s'", where);
		return O8_OK;
	}
	if (r)
		return gfail(err, O8_ERR, "cannot read remote 'origin'");
	if (git_remote_url(*out) && !strcmp(git_remote_url(*out), url))
		return O8_OK;
	git_remote_free(*out);
	*out = NULL;
	if (git_remote_set_url(repo, "origin", url) ||
	    git_remote_lookup(out, repo, "origin"))
		return gfail(err, O8_ERR, "cannot point remote 'origin' at '%s'", where);
	return O8_OK;
}

/*
 * The branch's commit as the remote advertised it during the fetch: the
 * tracking reference alone would keep a stale answer when the branch was
 * deleted there.
 */
static enum o8_rc advertised(git_oid *out, git_remote *remote, const char *ref,
			     const char *where, struct o8_err *err)
{
	const git_remote_head **heads;
	size_t n, i;

	if (git_remote_ls(&heads, &n, remote))
		return gfail(err, O8_ERR, "cannot list the branches of '%s'", where);
	for (i = 0; i < n; i++) {
		if (!strcmp(heads[i]->name, ref)) {
			*out = heads[i]->oid;
			return O8_OK;
		}
	}
	return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0, "'%s' has no branch '%s'",
			  where, ref + strlen("refs/heads/"));
}

static enum o8_rc mirror_fetch(struct o8_git *g, const char *url, const char *branch,
			       char out_commit[O8_OID_HEX_SIZE], const char *where,
			       struct o8_err *err)
{
	char ref[512], spec[1100], tracking[560];
	git_remote *remote = NULL;
	git_fetch_options fo;
	struct pstate st = { 0 };
	git_oid tip, have;
	enum o8_rc rc;
	int valid = 0, r;
	char *specs[] = { spec };
	git_strarray arr = { specs, 1 };

	if (snprintf(ref, sizeof(ref), "refs/heads/%s", branch) >= (int)sizeof(ref) ||
	    git_reference_name_is_valid(&valid, ref) || !valid)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is not a valid branch name", branch);
	snprintf(tracking, sizeof(tracking), "refs/remotes/origin/%s", branch);
	snprintf(spec, sizeof(spec), "+%s:%s", ref, tracking);
	if ((rc = mirror_origin(&remote, g->repo, url, spec, where, err)))
		return rc;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	set_callbacks(&fo.callbacks, &st);
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	st.refname = ref;
	r = git_remote_fetch(remote, &arr, &fo, "orc8r: follow the remote");
	if (r)
		rc = net_fail(err, &st, r, "fetch from", where);
	else if (!(rc = advertised(&tip, remote, ref, where, err)) &&
		 (git_reference_name_to_id(&have, g->repo, tracking) ||
		  !git_oid_equal(&have, &tip)))
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0,
				"fetching '%s' from '%s' did not update '%s'",
				branch, where, tracking);
	if (!rc)
		git_oid_tostr(out_commit, 41, &tip);
	git_remote_free(remote);
	return rc;
}

enum o8_rc o8_git_fetch_remote(struct o8_git **out_repo, const char *dir,
			       const char *url, const char *branch,
			       char out_commit[O8_OID_HEX_SIZE], struct o8_err *err)
{
	struct o8_git *g = NULL;
	char where[512];
	enum o8_rc rc;

	if (out_repo)
		*out_repo = NULL;
	out_commit[0] = '\0';
	if (!url || !*url || !branch || !*branch || !dir || !*dir)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "following a remote needs a URL, a branch and a directory");
	copy_url(where, sizeof(where), url);
	/* libgit2 calls a missing directory an "unsupported URL protocol" */
	if ((url[0] == '/' || url[0] == '.') && access(url, F_OK))
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot fetch from '%s': %s",
				  where, strerror(errno));
	if (git_libgit2_init() < 0)
		return gfail(err, O8_ERR, "cannot start libgit2");
	rc = mirror_init(dir, err);
	if (!rc)
		rc = o8_git_open(&g, dir, err);
	if (!rc)
		rc = mirror_fetch(g, url, branch, out_commit, where, err);
	if (rc || !out_repo)
		o8_git_free(g);
	else
		*out_repo = g;
	if (rc)
		out_commit[0] = '\0';
	git_libgit2_shutdown();
	return rc;
}
