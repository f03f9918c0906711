/*
 * test_git.c - snapshots of revisions and of the work tree, their diff,
 * the upstream, and commit_all (lib/repo/git.h), checked against what the git
 * CLI says about the same repository.  Every test builds its repositories
 * with `git` in a mkdtemp directory, under a HOME of its own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "repo/git.h"
#include "repo/model.h"

static char home[PATH_MAX];     /* HOME with a .gitconfig that names a user */
static char nohome[PATH_MAX];   /* HOME with no user configured */

struct repo {
	char root[PATH_MAX];    /* a work tree */
	char other[PATH_MAX];   /* a second directory: bare origin, outside target */
};

static void tmpdir(char *out, size_t len, const char *what)
{
	const char *t = getenv("TMPDIR");

	snprintf(out, len, "%s/o8-test-git-%s-XXXXXX", t && *t ? t : "/tmp", what);
	assert_non_null(mkdtemp(out));
}

/* Runs a shell command; fails the test when it fails. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int r;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
	free(cmd);
}

/* First line of a command's output, without the newline. */
static void capture(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void capture(char *out, size_t len, const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	out[0] = '\0';
	if (!fgets(out, (int)len, p))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	if (pclose(p) != 0)
		fail_msg("command failed: %s", cmd);
	free(cmd);
}

/* The whole output, newlines turned into spaces (for short lists). */
static void capture_all(char *out, size_t len, const char *cmd)
{
	size_t n = 0;
	FILE *p = popen(cmd, "r");
	int c;

	assert_non_null(p);
	while ((c = fgetc(p)) != EOF)
		if (n + 1 < len)
			out[n++] = c == '\n' ? ' ' : (char)c;
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
}

static void put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX], dir[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/'))) {
		*slash = '\0';
		sh("mkdir -p '%s'", dir);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Files older than the index: git (and the snapshot) may trust its stat data. */
static void age_files(const struct repo *r)
{
	sh("cd '%s' && find . -path ./.git -prune -o -type f -exec touch -d '2001-02-03 04:05:06' {} + && "
	   "git update-index -q --really-refresh", r->root);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	if (*dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
	struct repo *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	tmpdir(r->root, sizeof(r->root), "repo");
	tmpdir(r->other, sizeof(r->other), "other");
	sh("git init -q -b main '%s'", r->root);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct repo *r = *state;

	rm_rf(r->root);
	rm_rf(r->other);
	free(r);
	return 0;
}

static void commit(const struct repo *r, const char *msg)
{
	sh("git -C '%s' add -A && git -C '%s' commit -q -m '%s'", r->root, r->root, msg);
}

static struct o8_git *open_repo(const char *dir)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_git *g = NULL;

	if (o8_git_open(&g, dir, &err))
		fail_msg("o8_git_open: %s", err.msg);
	return g;
}

static struct o8_snapshot *snap(struct o8_git *g, const char *rev, struct o8_diags *d)
{
	struct o8_diags local = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_snapshot *s = NULL;

	if (o8_git_snapshot(&s, g, rev, d ? d : &local, &err))
		fail_msg("o8_git_snapshot(%s): %s", rev ? rev : "work tree", err.msg);
	if (!d && local.n)
		fail_msg("unexpected finding: %s: %s", local.v[0].file, local.v[0].msg);
	o8_diags_free(&local);
	return s;
}

/* "path path ..." of a snapshot. */
static void paths(char *out, size_t len, const struct o8_snapshot *s)
{
	size_t i, off = 0;

	out[0] = '\0';
	for (i = 0; i < o8_snapshot_count(s); i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", i ? " " : "",
					o8_snapshot_file(s, i)->path);
}

/* "Mpath Apath ..." of a diff. */
static void diff_str(char *out, size_t len, const struct o8_snapshot *a,
		     const struct o8_snapshot *b)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_snapshot_change *v;
	size_t n, i, off = 0;

	assert_int_equal(o8_snapshot_diff(&v, &n, a, b, &err), O8_OK);
	out[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%c%s", i ? " " : "",
					(char)v[i].what, v[i].path);
	free(v);
}

static int has_diag(const struct o8_diags *d, const char *file, const char *needle)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].file, file) && strstr(d->v[i].msg, needle) &&
		    d->v[i].line == 1 && d->v[i].col == 1)
			return 1;
	return 0;
}

static const char net_yaml[] =
	"apiVersion: orc8r/v1\nkind: Network\nmetadata: {name: lab}\nspec: {}\n";

/* A history: c1 (tag v1), c2 on main, c3 on branch feature. */
static void history(const struct repo *r)
{
	put(r->root, "networks/lab/network.yaml", net_yaml);
	put(r->root, "networks/lab/gateways.yaml", "# gateways v1\n");
	put(r->root, "README.md", "not config\n");
	put(r->root, ".orc8r/config.yaml", "settings: {}\n");
	put(r->root, ".hidden/x.yaml", "hidden: true\n");
	put(r->root, "networks/.dot.yaml", "dot-file: true\n");
	put(r->root, "notes.txt", "text\n");
	commit(r, "c1");
	sh("git -C '%s' tag -a v1 -m v1", r->root);
	put(r->root, "networks/lab/gateways.yaml", "# gateways v2\n");
	put(r->root, "networks/lab/apns.yml", "# apns\n");
	put(r->root, "README.md", "still not config\n");
	commit(r, "c2");
	sh("git -C '%s' switch -q -c feature", r->root);
	put(r->root, "networks/lab/network.yaml", "# network on feature\n");
	commit(r, "c3");
	sh("git -C '%s' switch -q main", r->root);
}

static void git__snapshot_of_revisions(void **state)
{
	const struct repo *r = *state;
	struct o8_snapshot *head, *prev, *tag, *sha, *feat, *rel;
	char list[1024], want[128], commit_id[128];
	struct o8_git *g;
	size_t i;

	history(r);
	g = open_repo(r->root);
	head = snap(g, "HEAD", NULL);
	prev = snap(g, "HEAD~1", NULL);
	tag = snap(g, "v1", NULL);
	feat = snap(g, "feature", NULL);
	capture(commit_id, sizeof(commit_id), "git -C '%s' rev-parse HEAD~1", r->root);
	sha = snap(g, commit_id, NULL);
	rel = snap(g, "main^{tree}", NULL);

	/* only *.yaml / *.yml outside dot-directories, sorted */
	paths(list, sizeof(list), head);
	assert_string_equal(list, "networks/lab/apns.yml networks/lab/gateways.yaml networks/lab/network.yaml");
	paths(list, sizeof(list), prev);
	assert_string_equal(list, "networks/lab/gateways.yaml networks/lab/network.yaml");

	/* ids are git's blob ids, sizes the blobs' */
	for (i = 0; i < o8_snapshot_count(head); i++) {
		const struct o8_snapshot_file *f = o8_snapshot_file(head, i);
		const char *buf;
		size_t len;
		struct o8_err err = O8_ERR_INIT;
		char size[32];

		capture(want, sizeof(want), "git -C '%s' rev-parse 'HEAD:%s'", r->root, f->path);
		assert_string_equal(f->oid, want);
		capture(size, sizeof(size), "git -C '%s' cat-file -s 'HEAD:%s'", r->root, f->path);
		assert_int_equal(f->size, strtoull(size, NULL, 10));
		assert_int_equal(o8_snapshot_read(head, i, &buf, &len, &err), O8_OK);
		assert_int_equal(len, f->size);
		assert_int_equal(o8_snapshot_find(head, f->path), (long)i);
	}
	assert_int_equal(o8_snapshot_find(head, "README.md"), -1);
	{
		const char *buf;
		size_t len;
		struct o8_err err = O8_ERR_INIT;
		long k = o8_snapshot_find(head, "networks/lab/gateways.yaml");
		assert_true(k >= 0);
		assert_int_equal(o8_snapshot_read(head, (size_t)k, &buf, &len, &err), O8_OK);
		assert_int_equal(len, strlen("# gateways v2\n"));
		assert_memory_equal(buf, "# gateways v2\n", len);
	}

	/* a tag, a sha and HEAD~1 are the same commit */
	assert_string_equal(o8_snapshot_id(tag), o8_snapshot_id(prev));
	assert_string_equal(o8_snapshot_id(sha), o8_snapshot_id(prev));
	assert_string_equal(o8_snapshot_commit(sha), commit_id);
	assert_string_equal(o8_snapshot_commit(tag), commit_id);
	assert_string_not_equal(o8_snapshot_id(head), o8_snapshot_id(prev));
	capture(want, sizeof(want), "git -C '%s' rev-parse 'HEAD^{tree}'", r->root);
	assert_string_equal(o8_snapshot_tree(head), want);
	/* a tree has no commit; its files are main's */
	assert_null(o8_snapshot_commit(rel));
	assert_string_equal(o8_snapshot_id(rel), o8_snapshot_id(head));
	assert_false(o8_snapshot_is_worktree(head));

	/* unchanged files keep their id across revisions */
	assert_string_equal(o8_snapshot_file(prev, 1)->oid, o8_snapshot_file(head, 2)->oid);
	assert_string_not_equal(o8_snapshot_file(prev, 0)->oid, o8_snapshot_file(head, 1)->oid);

	/* diff: exactly the changed paths, sorted */
	diff_str(list, sizeof(list), prev, head);
	assert_string_equal(list, "Anetworks/lab/apns.yml Mnetworks/lab/gateways.yaml");
	diff_str(list, sizeof(list), head, prev);
	assert_string_equal(list, "Dnetworks/lab/apns.yml Mnetworks/lab/gateways.yaml");
	diff_str(list, sizeof(list), head, feat);
	assert_string_equal(list, "Mnetworks/lab/network.yaml");
	diff_str(list, sizeof(list), head, head);
	assert_string_equal(list, "");

	o8_snapshot_free(head);
	o8_snapshot_free(prev);
	o8_snapshot_free(tag);
	o8_snapshot_free(sha);
	o8_snapshot_free(feat);
	o8_snapshot_free(rel);
	o8_git_free(g);
}

static void git__unknown_revision(void **state)
{
	const struct repo *r = *state;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_snapshot *s = NULL;
	struct o8_git *g;

	g = open_repo(r->root);
	/* no commit yet: HEAD is the empty snapshot, anything else unknown */
	s = snap(g, "HEAD", NULL);
	assert_int_equal(o8_snapshot_count(s), 0);
	assert_null(o8_snapshot_commit(s));
	o8_snapshot_free(s);
	history(r);
	assert_int_equal(o8_git_snapshot(&s, g, "no-such-branch", &d, &err), O8_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(err.msg, "unknown revision 'no-such-branch'"));
	o8_err_clear(&err);
	assert_int_equal(o8_git_snapshot(&s, g, "HEAD:README.md", &d, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "blob"));
	o8_git_free(g);
	o8_diags_free(&d);

	/* outside any repository */
	o8_err_clear(&err);
	assert_int_equal(o8_git_open(&g, r->other, &err), O8_ENOTFOUND);
	assert_null(g);
	assert_non_null(strstr(err.msg, "not in a git repository"));
}

static void git__worktree_ids_are_git_blob_ids(void **state)
{
	const struct repo *r = *state;
	struct o8_snapshot *head, *wt;
	char list[1024], want[128];
	struct o8_git *g;
	size_t i;

	history(r);
	g = open_repo(r->root);
	head = snap(g, "HEAD", NULL);
	wt = snap(g, NULL, NULL);
	assert_true(o8_snapshot_is_worktree(wt));
	assert_null(o8_snapshot_commit(wt));
	assert_null(o8_snapshot_tree(wt));
	/* a clean work tree is HEAD: same files, same ids, same snapshot id */
	diff_str(list, sizeof(list), head, wt);
	assert_string_equal(list, "");
	assert_string_equal(o8_snapshot_id(wt), o8_snapshot_id(head));
	for (i = 0; i < o8_snapshot_count(wt); i++) {
		const struct o8_snapshot_file *f = o8_snapshot_file(wt, i);
		capture(want, sizeof(want), "git -C '%s' hash-object '%s'", r->root, f->path);
		assert_string_equal(f->oid, want);
	}
	o8_snapshot_free(wt);

	/* edit, add (untracked), delete, and a change outside the config */
	put(r->root, "networks/lab/gateways.yaml", "# gateways v3\n");
	put(r->root, "networks/lab/new.yaml", "# new\n");
	sh("rm '%s/networks/lab/apns.yml'", r->root);
	put(r->root, "README.md", "edited\n");
	put(r->root, ".orc8r/config.yaml", "edited: {}\n");
	wt = snap(g, NULL, NULL);
	for (i = 0; i < o8_snapshot_count(wt); i++) {
		const struct o8_snapshot_file *f = o8_snapshot_file(wt, i);
		const char *buf;
		size_t len;
		struct o8_err err = O8_ERR_INIT;
		capture(want, sizeof(want), "git -C '%s' hash-object '%s'", r->root, f->path);
		assert_string_equal(f->oid, want);
		assert_int_equal(o8_snapshot_read(wt, i, &buf, &len, &err), O8_OK);
		assert_int_equal(len, f->size);
	}
	diff_str(list, sizeof(list), head, wt);
	assert_string_equal(list, "Dnetworks/lab/apns.yml Mnetworks/lab/gateways.yaml Anetworks/lab/new.yaml");
	assert_string_not_equal(o8_snapshot_id(wt), o8_snapshot_id(head));
	o8_snapshot_free(wt);
	o8_snapshot_free(head);
	o8_git_free(g);

	/* a subdirectory finds the same repository */
	{
		char sub[PATH_MAX + 32];
		snprintf(sub, sizeof(sub), "%s/networks/lab", r->root);
		g = open_repo(sub);
		assert_non_null(realpath(r->root, sub));
		assert_string_equal(o8_git_workdir(g), sub);
		strcat(sub, "/.git");
		assert_string_equal(o8_git_gitdir(g), sub);
		o8_git_free(g);
	}
}

static void git__worktree_ids_from_the_index(void **state)
{
	const struct repo *r = *state;
	struct o8_err err = O8_ERR_INIT;
	struct o8_snapshot *head, *wt;
	char list[1024], want[128];
	const char *buf;
	struct o8_git *g;
	size_t i, len;
	long k;

	history(r);
	put(r->root, "networks/lab/untracked.yaml", "# not in the index\n");
	age_files(r);
	g = open_repo(r->root);
	head = snap(g, "HEAD", NULL);
	wt = snap(g, NULL, NULL);
	diff_str(list, sizeof(list), head, wt);
	assert_string_equal(list, "Anetworks/lab/untracked.yaml");
	for (i = 0; i < o8_snapshot_count(wt); i++) {
		const struct o8_snapshot_file *f = o8_snapshot_file(wt, i);
		char path[PATH_MAX + 256], *text;
		FILE *fp;

		capture(want, sizeof(want), "git -C '%s' hash-object '%s'", r->root, f->path);
		assert_string_equal(f->oid, want);
		/* read later, from the file, and still the bytes of that id */
		assert_int_equal(o8_snapshot_read(wt, i, &buf, &len, &err), O8_OK);
		assert_int_equal(len, f->size);
		snprintf(path, sizeof(path), "%s/%s", r->root, f->path);
		fp = fopen(path, "r");
		assert_non_null(fp);
		text = calloc(1, len + 1);
		assert_non_null(text);
		assert_int_equal(fread(text, 1, len + 1, fp), len);
		fclose(fp);
		assert_memory_equal(buf, text, len);
		free(text);
	}
	o8_snapshot_free(wt);

	/* a file that changes after the snapshot is never served under the old id */
	wt = snap(g, NULL, NULL);
	k = o8_snapshot_find(wt, "networks/lab/network.yaml");
	assert_true(k >= 0);
	put(r->root, "networks/lab/network.yaml", "# changed meanwhile\n");
	assert_int_equal(o8_snapshot_read(wt, (size_t)k, &buf, &len, &err), O8_ECONFLICT);
	assert_non_null(strstr(err.msg, "changed while"));
	o8_snapshot_free(wt);
	o8_snapshot_free(head);
	o8_git_free(g);
}

/* A file git filters when it stores it: the index holds another id. */
static void git__worktree_ids_of_filtered_files(void **state)
{
	const struct repo *r = *state;
	char raw[128], staged[256];
	struct o8_snapshot *wt;
	struct o8_git *g;
	long k;

	put(r->root, ".gitattributes", "*.yaml filter=upper\n");
	sh("git -C '%s' config filter.upper.clean 'tr a-z A-Z'", r->root);
	put(r->root, "net.yaml", net_yaml);
	commit(r, "filtered");
	age_files(r);
	capture(raw, sizeof(raw), "git -C '%s' hash-object --no-filters net.yaml", r->root);
	capture(staged, sizeof(staged), "git -C '%s' ls-files -s net.yaml", r->root);
	assert_null(strstr(staged, raw));       /* git stored other bytes */
	g = open_repo(r->root);
	wt = snap(g, NULL, NULL);
	k = o8_snapshot_find(wt, "net.yaml");
	assert_true(k >= 0);
	assert_string_equal(o8_snapshot_file(wt, (size_t)k)->oid, raw);
	o8_snapshot_free(wt);
	o8_git_free(g);
}

static void git__links_and_submodules_refused(void **state)
{
	const struct repo *r = *state;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_snapshot *head, *wt;
	char list[1024], sha[128];
	struct o8_git *g;

	put(r->root, "networks/lab/network.yaml", net_yaml);
	put(r->other, "outside.yaml", net_yaml);
	sh("ln -s networks/lab/network.yaml '%s/link.yaml'", r->root);
	sh("ln -s networks '%s/dirlink'", r->root);
	sh("ln -s '%s/outside.yaml' '%s/out.yaml'", r->other, r->root);
	commit(r, "links");
	/* a submodule entry, without fetching one */
	capture(sha, sizeof(sha), "git -C '%s' rev-parse HEAD", r->root);
	sh("git -C '%s' update-index --add --cacheinfo 160000,%s,vendor/sub && "
	   "git -C '%s' commit -q -m sub", r->root, sha, r->root);

	g = open_repo(r->root);
	head = snap(g, "HEAD", &d);
	paths(list, sizeof(list), head);
	assert_string_equal(list, "networks/lab/network.yaml");
	assert_true(has_diag(&d, "link.yaml", "symbolic link"));
	assert_true(has_diag(&d, "out.yaml", "symbolic link"));
	assert_true(has_diag(&d, "dirlink", "symbolic link to a directory"));
	assert_true(has_diag(&d, "vendor/sub", "submodule"));
	assert_int_equal(d.n, 4);
	o8_diags_free(&d);

	/* the work tree follows links inside the root, as the loader does */
	wt = snap(g, NULL, &d);
	paths(list, sizeof(list), wt);
	assert_string_equal(list, "link.yaml networks/lab/network.yaml");
	assert_string_equal(o8_snapshot_file(wt, 0)->oid, o8_snapshot_file(wt, 1)->oid);
	assert_true(has_diag(&d, "out.yaml", "outside the repository"));
	assert_true(has_diag(&d, "dirlink", "symbolic link to a directory"));
	assert_int_equal(d.n, 2);
	o8_diags_free(&d);
	o8_snapshot_free(wt);
	o8_snapshot_free(head);

	/* a repository inside the work tree is a submodule too */
	sh("git init -q '%s/vendor/sub' && cp '%s/networks/lab/network.yaml' '%s/vendor/sub/x.yaml'",
	   r->root, r->root, r->root);
	wt = snap(g, NULL, &d);
	assert_true(has_diag(&d, "vendor/sub", "submodule"));
	paths(list, sizeof(list), wt);
	assert_string_equal(list, "link.yaml networks/lab/network.yaml");
	o8_diags_free(&d);
	o8_snapshot_free(wt);
	o8_git_free(g);
}

/* "path path ..." of the files a loaded model's objects came from. */
static void model_paths(char *out, size_t len, const struct o8_model *m)
{
	const char *last = NULL;
	size_t i, off = 0;

	out[0] = '\0';
	for (i = 0; i < o8_model_nobjs(m); i++) {
		const char *f = o8_model_obj(m, i)->file;
		if (last && !strcmp(last, f))
			continue;
		off += (size_t)snprintf(out + off, len - off, "%s%s", last ? " " : "", f);
		last = f;
	}
}

/*
 * `orc8r validate` loads the work tree (o8_model_load_dir), `orc8r plan`
 * snapshots it (o8_git_snapshot): both must read the same files and say
 * the same about the ones they refuse, whatever the tree holds.
 */
static void git__validate_and_plan_read_the_same_files(void **state)
{
	const struct repo *r = *state;
	struct o8_diags dl = O8_DIAGS_INIT, ds = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char loaded[1024], snapped[1024];
	struct o8_snapshot *wt;
	struct o8_model *m;
	struct o8_git *g;
	size_t i;

	put(r->root, "networks/lab/network.yaml", net_yaml);
	put(r->root, "a.yml", net_yaml);
	put(r->root, ".hidden/x.yaml", net_yaml);
	put(r->other, "outside.yaml", net_yaml);
	sh("ln -s networks/lab/network.yaml '%s/link.yaml'", r->root);
	sh("ln -s '%s/outside.yaml' '%s/out.yaml'", r->other, r->root);
	sh("git init -q '%s/vendor/sub' && cp '%s/a.yml' '%s/vendor/sub/x.yaml'",
	   r->root, r->root, r->root);

	assert_int_equal(o8_model_load_dir(&m, r->root, NULL, &dl, &err), O8_OK);
	g = open_repo(r->root);
	wt = snap(g, NULL, &ds);
	model_paths(loaded, sizeof(loaded), m);
	paths(snapped, sizeof(snapped), wt);
	assert_string_equal(snapped, "a.yml link.yaml networks/lab/network.yaml");
	assert_string_equal(loaded, snapped);
	assert_int_equal(o8_model_nfiles(m), o8_snapshot_count(wt));
	/* the same findings, in the same order, word for word */
	assert_true(has_diag(&ds, "out.yaml", "outside the repository"));
	assert_true(has_diag(&ds, "vendor/sub", "submodule"));
	assert_int_equal(dl.n, ds.n);
	for (i = 0; i < ds.n; i++) {
		assert_string_equal(dl.v[i].file, ds.v[i].file);
		assert_string_equal(dl.v[i].msg, ds.v[i].msg);
	}
	o8_diags_free(&dl);
	o8_diags_free(&ds);
	o8_snapshot_free(wt);
	o8_model_free(m);
	o8_git_free(g);
}

static void git__huge_file_refused(void **state)
{
	const struct repo *r = *state;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_snapshot *s;
	char list[256];
	struct o8_git *g;

	put(r->root, "ok.yaml", "# fine\n");
	sh("truncate -s %d '%s/big.yaml'", 64 * 1024 * 1024 + 1, r->root);
	commit(r, "big");
	g = open_repo(r->root);
	s = snap(g, "HEAD", &d);
	paths(list, sizeof(list), s);
	assert_string_equal(list, "ok.yaml");
	assert_true(has_diag(&d, "big.yaml", "over the 67108864-byte limit"));
	o8_snapshot_free(s);
	o8_diags_free(&d);
	s = snap(g, NULL, &d);
	paths(list, sizeof(list), s);
	assert_string_equal(list, "ok.yaml");
	assert_true(has_diag(&d, "big.yaml", "over the 67108864-byte limit"));
	o8_snapshot_free(s);
	o8_diags_free(&d);
	/* also when the index vouches for the file */
	age_files(r);
	s = snap(g, NULL, &d);
	paths(list, sizeof(list), s);
	assert_string_equal(list, "ok.yaml");
	assert_true(has_diag(&d, "big.yaml", "over the 67108864-byte limit"));
	o8_snapshot_free(s);
	o8_diags_free(&d);
	o8_git_free(g);
}

static void same_model(const struct o8_model *a, const struct o8_model *b)
{
	size_t i;

	assert_int_equal(o8_model_nobjs(a), o8_model_nobjs(b));
	assert_int_equal(o8_model_nfiles(a), o8_model_nfiles(b));
	assert_true(o8_model_nobjs(a) > 5);
	for (i = 0; i < o8_model_nobjs(a); i++) {
		const struct o8_obj *x = o8_model_obj(a, i), *y = o8_model_obj(b, i);
		assert_int_equal(x->kind, y->kind);
		assert_string_equal(x->name ? x->name : "", y->name ? y->name : "");
		assert_string_equal(x->network ? x->network : "", y->network ? y->network : "");
		assert_string_equal(x->file, y->file);
		assert_int_equal(x->line, y->line);
		assert_int_equal(x->col, y->col);
	}
}

static void git__srcs_load_like_the_checkout(void **state)
{
	const struct repo *r = *state;
	struct o8_diags d1 = O8_DIAGS_INIT, d2 = O8_DIAGS_INIT, d3 = O8_DIAGS_INIT;
	struct o8_model *from_git = NULL, *from_dir = NULL, *from_wt = NULL;
	struct o8_err err = O8_ERR_INIT;
	const char *srcdir = getenv("O8_SOURCE_DIR");
	struct o8_snapshot *s, *w;
	struct o8_src *srcs;
	struct o8_git *g;
	size_t i;

	assert_non_null(srcdir);
	sh("cp -R '%s/examples/networks/.' '%s/'", srcdir, r->root);
	commit(r, "examples");
	/* a second commit, so HEAD~1 is read from the object database while
	   the work tree holds something else */
	put(r->root, "networks/lab/extra.yaml", net_yaml);
	commit(r, "extra");
	sh("git -C '%s' checkout -q HEAD~1", r->root);

	g = open_repo(r->root);
	s = snap(g, "main~1", NULL);
	assert_int_equal(o8_snapshot_srcs(&srcs, s, &err), O8_OK);
	for (i = 0; i < o8_snapshot_count(s); i++)
		assert_string_equal(srcs[i].path, o8_snapshot_file(s, i)->path);
	assert_int_equal(o8_model_load_srcs(&from_git, srcs, o8_snapshot_count(s), NULL, &d1, &err), O8_OK);
	assert_int_equal(o8_model_load_dir(&from_dir, r->root, NULL, &d2, &err), O8_OK);
	same_model(from_git, from_dir);
	assert_int_equal(d1.n, d2.n);
	free(srcs);

	w = snap(g, NULL, NULL);
	assert_string_equal(o8_snapshot_id(w), o8_snapshot_id(s));
	assert_int_equal(o8_snapshot_srcs(&srcs, w, &err), O8_OK);
	assert_int_equal(o8_model_load_srcs(&from_wt, srcs, o8_snapshot_count(w), NULL, &d3, &err), O8_OK);
	same_model(from_wt, from_dir);
	free(srcs);

	/* prefetch on many threads reads the same bytes */
	{
		struct o8_snapshot *t = snap(g, "main", NULL);
		size_t *idx = calloc(o8_snapshot_count(t), sizeof(*idx));
		assert_non_null(idx);
		for (i = 0; i < o8_snapshot_count(t); i++)
			idx[i] = o8_snapshot_count(t) - 1 - i;
		assert_int_equal(o8_snapshot_prefetch(t, idx, o8_snapshot_count(t), 4, &err), O8_OK);
		for (i = 0; i < o8_snapshot_count(t); i++) {
			const char *a, *b;
			size_t la, lb;
			long k = o8_snapshot_find(s, o8_snapshot_file(t, i)->path);
			assert_int_equal(o8_snapshot_read(t, i, &a, &la, &err), O8_OK);
			if (k < 0)
				continue;       /* extra.yaml */
			assert_int_equal(o8_snapshot_read(s, (size_t)k, &b, &lb, &err), O8_OK);
			assert_int_equal(la, lb);
			assert_memory_equal(a, b, la);
		}
		free(idx);
		o8_snapshot_free(t);
	}

	o8_model_free(from_git);
	o8_model_free(from_dir);
	o8_model_free(from_wt);
	o8_diags_free(&d1);
	o8_diags_free(&d2);
	o8_diags_free(&d3);
	/* a snapshot outlives its repository handle */
	o8_git_free(g);
	{
		const char *buf;
		size_t len;
		assert_int_equal(o8_snapshot_read(s, 0, &buf, &len, &err), O8_OK);
	}
	o8_snapshot_free(s);
	o8_snapshot_free(w);
}

static void upstream_is(const char *dir, const char *want)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_git *g = open_repo(dir);
	char *up = (char *)"unset";

	assert_int_equal(o8_git_upstream(&up, g, &err), O8_OK);
	if (want)
		assert_string_equal(up, want);
	else
		assert_null(up);
	free(up);
	o8_git_free(g);
}

static void git__upstream(void **state)
{
	const struct repo *r = *state;
	char clone[PATH_MAX + 16];

	upstream_is(r->root, NULL);             /* no commit yet */
	history(r);
	upstream_is(r->root, NULL);             /* no upstream */
	sh("git clone -q --bare '%s' '%s/origin.git'", r->root, r->other);
	snprintf(clone, sizeof(clone), "%s/clone", r->other);
	sh("git clone -q '%s/origin.git' '%s'", r->other, clone);
	upstream_is(clone, "origin/main");
	sh("git -C '%s' switch -q feature", clone);
	upstream_is(clone, "origin/feature");
	sh("git -C '%s' switch -q -c topic", clone);
	upstream_is(clone, NULL);
	sh("git -C '%s' checkout -q --detach main", clone);
	upstream_is(clone, NULL);
}

static void git__commit_all(void **state)
{
	const struct repo *r = *state;
	struct o8_err err = O8_ERR_INIT;
	char oid[O8_OID_HEX_SIZE], want[256], out[1024];
	struct o8_git *g;

	history(r);
	put(r->root, "networks/lab/gateways.yaml", "# gateways v3\n");
	put(r->root, "networks/lab/new.yaml", "# new\n");
	sh("rm '%s/networks/lab/apns.yml'", r->root);
	put(r->root, ".orc8r/config.yaml", "edited: {}\n");
	put(r->root, ".orc8r/recipients", "age1example\n");
	put(r->root, "README.md", "edited, not committed\n");
	put(r->root, "staged.txt", "staged by the operator\n");
	put(r->root, ".hidden/x.yaml", "not config, not committed\n");
	put(r->root, "networks/lab/network.yaml", "# staged with git add\n");
	sh("git -C '%s' add staged.txt networks/lab/network.yaml", r->root);
	/* network.yaml's id now comes from the index: its bytes must still be committed */
	age_files(r);

	g = open_repo(r->root);
	assert_int_equal(o8_git_commit_all(oid, g, "lab: new gateway", &err), O8_OK);
	capture(want, sizeof(want), "git -C '%s' rev-parse HEAD", r->root);
	assert_string_equal(oid, want);
	{
		char cmd[PATH_MAX + 128];
		snprintf(cmd, sizeof(cmd), "git -C '%s' show --name-status --format= HEAD", r->root);
		capture_all(out, sizeof(out), cmd);
	}
	assert_string_equal(out,
		"M\t.orc8r/config.yaml A\t.orc8r/recipients D\tnetworks/lab/apns.yml "
		"M\tnetworks/lab/gateways.yaml M\tnetworks/lab/network.yaml A\tnetworks/lab/new.yaml ");
	{
		char cmd[PATH_MAX + 128];
		snprintf(cmd, sizeof(cmd), "git -C '%s' show HEAD:networks/lab/network.yaml "
			 "HEAD:networks/lab/gateways.yaml HEAD:.orc8r/recipients", r->root);
		capture_all(out, sizeof(out), cmd);
		assert_string_equal(out, "# staged with git add # gateways v3 age1example ");
	}
	capture(want, sizeof(want), "git -C '%s' log -1 --format='%%an <%%ae>|%%cn <%%ce>|%%s'", r->root);
	assert_string_equal(want, "Test User <test@example.com>|Test User <test@example.com>|lab: new gateway");
	capture(want, sizeof(want), "git -C '%s' rev-parse HEAD~1", r->root);
	{
		char parent[64];
		capture(parent, sizeof(parent), "git -C '%s' rev-parse main@{1}", r->root);
		assert_string_equal(want, parent);
	}
	/* the operator's other changes are where they were */
	{
		char cmd[PATH_MAX + 128];
		snprintf(cmd, sizeof(cmd), "git -C '%s' status --porcelain --untracked-files=all", r->root);
		capture_all(out, sizeof(out), cmd);
	}
	assert_string_equal(out, " M .hidden/x.yaml  M README.md A  staged.txt ");

	/* again: nothing to commit */
	o8_err_clear(&err);
	assert_int_equal(o8_git_commit_all(oid, g, "again", &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nothing to commit"));
	o8_git_free(g);
}

static void git__commit_all_first_commit(void **state)
{
	const struct repo *r = *state;
	struct o8_err err = O8_ERR_INIT;
	char oid[O8_OID_HEX_SIZE], out[512], cmd[PATH_MAX + 64];
	struct o8_git *g;

	put(r->root, "network.yaml", net_yaml);
	g = open_repo(r->root);
	assert_int_equal(o8_git_commit_all(oid, g, NULL, &err), O8_OK);
	o8_git_free(g);
	snprintf(cmd, sizeof(cmd), "git -C '%s' log --format=%%s --name-only", r->root);
	capture_all(out, sizeof(out), cmd);
	assert_string_equal(out, "orc8r apply  network.yaml ");
}

static void git__commit_all_needs_an_author(void **state)
{
	const struct repo *r = *state;
	struct o8_err err = O8_ERR_INIT;
	char oid[O8_OID_HEX_SIZE], before[64], after[64];
	struct o8_git *g;

	history(r);
	put(r->root, "networks/lab/gateways.yaml", "# gateways v3\n");
	capture(before, sizeof(before), "git -C '%s' rev-parse HEAD", r->root);
	/* libgit2 read HOME when it started: point its global config elsewhere */
	git_libgit2_init();
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, nohome), 0);
	g = open_repo(r->root);
	assert_int_equal(o8_git_commit_all(oid, g, "no author", &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "user.name"));
	assert_non_null(strstr(err.msg, "user.email"));
	o8_git_free(g);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, home);
	git_libgit2_shutdown();
	capture(after, sizeof(after), "git -C '%s' rev-parse HEAD", r->root);
	assert_string_equal(before, after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(git__snapshot_of_revisions, setup, teardown),
		cmocka_unit_test_setup_teardown(git__unknown_revision, setup, teardown),
		cmocka_unit_test_setup_teardown(git__worktree_ids_are_git_blob_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(git__worktree_ids_from_the_index, setup, teardown),
		cmocka_unit_test_setup_teardown(git__worktree_ids_of_filtered_files, setup, teardown),
		cmocka_unit_test_setup_teardown(git__links_and_submodules_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(git__validate_and_plan_read_the_same_files, setup, teardown),
		cmocka_unit_test_setup_teardown(git__huge_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(git__srcs_load_like_the_checkout, setup, teardown),
		cmocka_unit_test_setup_teardown(git__upstream, setup, teardown),
		cmocka_unit_test_setup_teardown(git__commit_all, setup, teardown),
		cmocka_unit_test_setup_teardown(git__commit_all_first_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(git__commit_all_needs_an_author, setup, teardown),
	};
	char cfg[PATH_MAX + 32];
	FILE *f;
	int rc;

	/* git and libgit2 see only what this test configures */
	tmpdir(home, sizeof(home), "home");
	tmpdir(nohome, sizeof(nohome), "nohome");
	snprintf(cfg, sizeof(cfg), "%s/.gitconfig", home);
	if (!(f = fopen(cfg, "w")))
		return 1;
	fputs("[user]\n\tname = Test User\n\temail = test@example.com\n"
	      "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n", f);
	fclose(f);
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	unsetenv("GIT_INDEX_FILE");
	unsetenv("GIT_AUTHOR_NAME");
	unsetenv("GIT_AUTHOR_EMAIL");
	unsetenv("GIT_COMMITTER_NAME");
	unsetenv("GIT_COMMITTER_EMAIL");
	unsetenv("GIT_CONFIG_GLOBAL");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rm_rf(home);
	rm_rf(nohome);
	return rc;
}
