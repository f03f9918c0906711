/*
 * git.h - the repository through libgit2: snapshots of the YAML files of
 * any revision or of the work tree, their difference, the commit + push
 * that `orc8r apply` makes, and the mirror of a remote branch that syncd
 * follows.
 *
 * A snapshot is the list of configuration files (path, blob id, size) of
 * one revision or of the work tree, chosen by the loader's rules (model.h):
 * `*.yaml` / `*.yml`, nothing whose path has a component starting with a
 * dot (.git, .orc8r), no file over 64 MiB.  A revision is read straight
 * from the object database (no checkout, no temporary files); its symbolic
 * links and submodules are refused with a finding.  The work tree follows
 * lib/repo/load.c: symbolic links are followed only to regular files inside the
 * repository; a directory holding a .git (submodule, nested repository)
 * is refused as in a revision.  A file's id is its git blob id in both cases (git_odb_hash
 * of the raw bytes, never of what a git filter would store), so a file
 * unchanged between two revisions, or between HEAD and the work tree, has
 * the same id: the key of the parse cache.
 *
 * Ownership: every pointer a snapshot hands out is borrowed and valid
 * until o8_snapshot_free.  A snapshot does not need its struct o8_git to
 * stay open.  One snapshot is safe to read from several threads.
 */
#ifndef O8_GIT_H
#define O8_GIT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "repo/model.h"

/* A git object id (commit, tree, blob) in hex: 40 digits and the NUL. */
#define O8_OID_HEX_SIZE 41

struct o8_git;
struct o8_snapshot;

/*
 * Finds the repository that contains dir (dir itself or a parent, as git
 * does).  O8_ENOTFOUND when dir is not in a git repository.
 */
enum o8_rc o8_git_open(struct o8_git **out, const char *dir, struct o8_err *err);

void o8_git_free(struct o8_git *g);       /* NULL is a no-op */

/* The work tree's root, without a trailing slash; NULL for a bare repository. */
const char *o8_git_workdir(const struct o8_git *g);

/* The git directory (".../.git"), without a trailing slash: the parse cache
 * lives in its "orc8r/" subdirectory. */
const char *o8_git_gitdir(const struct o8_git *g);

/* --- snapshots ----------------------------------------------------------- */

/* One configuration file of a snapshot. */
struct o8_snapshot_file {
	const char *path;       /* relative to the root, '/'-separated */
	char oid[O8_OID_HEX_SIZE];           /* git blob id of the raw content, hex */
	uint64_t size;          /* bytes */
};

/*
 * The configuration files of rev, or of the work tree when rev is NULL.
 * rev is anything git_revparse_single accepts (main, v1.2, a sha, HEAD~2,
 * origin/main) and must lead to a tree; "HEAD" on a branch with no commit
 * yet is the empty snapshot.  Files refused by the rules above go to diags
 * as FILE:1:1 findings and are left out.  O8_ENOTFOUND for an unknown
 * revision, O8_EINVALID for one that names no tree (a blob).
 */
enum o8_rc o8_git_snapshot(struct o8_snapshot **out, struct o8_git *g,
			   const char *rev, struct o8_diags *diags,
			   struct o8_err *err);

void o8_snapshot_free(struct o8_snapshot *s);     /* NULL is a no-op */

/* Files, sorted by path with strcmp (the loader's order). */
size_t o8_snapshot_count(const struct o8_snapshot *s);
const struct o8_snapshot_file *o8_snapshot_file(const struct o8_snapshot *s, size_t i);

/*
 * Index of path, or -1.  Binary search: as cheap as the caller needs for
 * mapping a finding's file back to its blob.
 */
long o8_snapshot_find(const struct o8_snapshot *s, const char *path);

/*
 * The snapshot's content id, 40 hex digits: the SHA-1 (git_odb_hash) of
 * every "path\0oid\n" in order.  It depends on the configuration files
 * only, so a work tree identical to HEAD, or two commits that differ only
 * outside the configuration, have the same id.
 */
const char *o8_snapshot_id(const struct o8_snapshot *s);

/* The commit the revision named, hex; NULL for the work tree, the empty
 * snapshot, or a revision naming a tree. */
const char *o8_snapshot_commit(const struct o8_snapshot *s);

/* The tree the revision named, hex; NULL for the work tree. */
const char *o8_snapshot_tree(const struct o8_snapshot *s);

/* 1 for a snapshot of the work tree. */
int o8_snapshot_is_worktree(const struct o8_snapshot *s);

/*
 * Content of file i: for a revision the blob's raw bytes from the object
 * database; for the work tree the file's bytes, which always hash to its
 * id.  A work-tree file is read when the snapshot is made, except when
 * the index vouched for its id (stat data unchanged, as `git status`
 * trusts it): then it is read now, and O8_ECONFLICT says it changed since
 * the snapshot.  *buf stays valid until the snapshot is freed; it is not
 * NUL-terminated.
 */
enum o8_rc o8_snapshot_read(struct o8_snapshot *s, size_t i, const char **buf,
			    size_t *len, struct o8_err *err);

/*
 * Reads the files idx[0..n) on `threads` threads (0: one per online CPU)
 * so that later o8_snapshot_read calls on them return at once.  For a
 * cache that knows which blobs it lacks.
 */
enum o8_rc o8_snapshot_prefetch(struct o8_snapshot *s, const size_t *idx,
				size_t n, unsigned threads, struct o8_err *err);

/*
 * Every file as the input of o8_model_load_srcs (model.h), in order, read
 * in parallel.  *out is malloc'd (free() it); its strings and buffers are
 * borrowed from the snapshot.
 */
enum o8_rc o8_snapshot_srcs(struct o8_src **out, struct o8_snapshot *s,
			    struct o8_err *err);

enum o8_change {
	O8_CHANGE_ADDED = 'A',
	O8_CHANGE_REMOVED = 'D',
	O8_CHANGE_MODIFIED = 'M',
};

/* One path that differs between two snapshots. */
struct o8_snapshot_change {
	enum o8_change what;
	const char *path;       /* borrowed from a (removed, modified) or b (added) */
	size_t a, b;            /* index in a / in b, SIZE_MAX when absent */
};

/*
 * Paths added, removed or changed (by blob id) from a to b, sorted by path.
 * *out is malloc'd (free() it; NULL when *n is 0).
 */
enum o8_rc o8_snapshot_diff(struct o8_snapshot_change **out, size_t *n,
			    const struct o8_snapshot *a,
			    const struct o8_snapshot *b, struct o8_err *err);

/* --- branch, commit, push ------------------------------------------------ */

/*
 * The current branch's upstream as git names it ("origin/main"), or
 * *out = NULL and O8_OK when there is none (detached HEAD, no upstream
 * configured, no commit yet).  *out is malloc'd.
 */
enum o8_rc o8_git_upstream(char **out, struct o8_git *g, struct o8_err *err);

/*
 * Commits the work tree's configuration on the current branch: every
 * added, modified and deleted file the snapshot rules accept, plus the
 * regular files under .orc8r/ (recipients, config.yaml).  Nothing else is
 * committed, even if it is staged; the index is updated for those paths.
 * Files go in byte for byte, so the commit's ids are the ids the plan was
 * made from.  Author and committer come from git config (user.name,
 * user.email).  out gets the new commit's id.  O8_ENOTFOUND when nothing
 * changed since HEAD; O8_EINVALID when the author is not configured.
 */
enum o8_rc o8_git_commit_all(char out[O8_OID_HEX_SIZE], struct o8_git *g, const char *msg,
			     struct o8_err *err);

/* What o8_git_push did. */
struct o8_git_push_info {
	char remote[128];       /* "origin" */
	char branch[256];       /* the remote's branch, "refs/heads/main" */
	char url[512];          /* the remote's URL, user and password removed */
	char old_oid[O8_OID_HEX_SIZE];       /* the remote branch before the push, or "" */
	char new_oid[O8_OID_HEX_SIZE];       /* the commit now there */
	unsigned rebased;       /* local commits replayed onto the remote's new tip */
	int up_to_date;         /* 1: the remote already had the commit */
};

/*
 * Pushes the current branch to its upstream, never forced.  Credentials:
 * ssh through ssh-agent or ~/.ssh/id_{ed25519,ecdsa,rsa} (host keys checked
 * against ~/.ssh/known_hosts by libgit2); https with the token in
 * ORC8R_GIT_TOKEN (or GIT_TOKEN) and user ORC8R_GIT_USER (default
 * "x-access-token"); file:// and git:// need none.
 *
 * When the remote moved, it fetches and replays the local commits onto
 * the remote's tip (libgit2 rebase, in memory).  A conflict aborts with
 * O8_ECONFLICT naming the paths, leaving the branch, index and work tree
 * as they were and nothing pushed.  A clean rebase moves the branch (and
 * updates the work tree) and pushes once more.  Rejections reported by the
 * remote are errors.  info may be NULL.
 */
enum o8_rc o8_git_push(struct o8_git_push_info *info, struct o8_git *g,
		       struct o8_err *err);

/* --- following a remote (syncd) ------------------------------------------- */

/*
 * Keeps dir a bare mirror of one branch of url and returns the commit that
 * branch points at on the remote now (out_commit, 40 hex digits).
 *
 * The first call creates dir (directories included) as a bare repository
 * with a remote "origin" = url: git init --bare plus git remote add, never a
 * checkout.  Every call fetches only +refs/heads/<branch> into
 * refs/remotes/origin/<branch>, without tags; the '+' lets a force-pushed
 * (rewritten) branch be followed.  When url differs from origin's, origin
 * follows url.  url may be a plain path, file://, git://, ssh or https;
 * credentials as for o8_git_push.  o8_git_snapshot(*out_repo, out_commit)
 * then reads that revision.
 *
 * *out_repo (the caller frees it with o8_git_free) is set on success only;
 * out_repo may be NULL when the caller only wants the commit.  On failure
 * (remote unreachable, refused credentials, O8_ENOTFOUND: no such branch
 * there) dir keeps what an earlier call fetched: references move only
 * when a fetch completes.  O8_EINVALID: dir exists, is not empty and is no
 * repository, or branch is not a valid branch name.  Messages name the URL
 * without its user and password.
 */
enum o8_rc o8_git_fetch_remote(struct o8_git **out_repo, const char *dir,
			       const char *url, const char *branch,
			       char out_commit[O8_OID_HEX_SIZE], struct o8_err *err);

#endif
