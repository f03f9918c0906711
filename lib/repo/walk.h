/*
 * walk.h - which files of a work tree are the repository's configuration.
 *
 * One answer for every reader of a work tree (the loader behind `orc8r
 * validate`, the work-tree snapshot behind `orc8r plan`), so that both see
 * the same files:
 *   - *.yaml and *.yml files, in sorted order within each directory;
 *   - dot-entries (.git, .orc8r, .hidden/) are skipped;
 *   - a directory holding a .git (a submodule, or a repository inside this
 *     one) is refused with a finding: its files belong to another repository;
 *   - a symbolic link is followed only to a regular file inside the root;
 *   - directories deeper than O8_WALK_MAX_DEPTH, and paths that do not fit
 *     PATH_MAX, are refused with a finding.
 * Findings go to diags (file: the relative path, line 1, column 1).
 */
#ifndef O8_WALK_H
#define O8_WALK_H

#include <sys/stat.h>

#include "util/err.h"

#define O8_WALK_MAX_DEPTH 32

/* One file the walk found; every pointer is borrowed for the call. */
struct o8_walk_file {
	const char *path;               /* relative to the root, '/'-separated */
	const char *abs;                /* a link: its resolved target; else NULL */
	const struct stat *st;          /* lstat of the file, or stat of a link's target */
};

struct o8_walk {
	const char *root;               /* as the caller names it */
	const char *real_root;          /* realpath(root): where links must stay */
	/* Called for every file found; nonzero stops the walk as out of memory. */
	int (*on_file)(void *payload, const struct o8_walk_file *f);
	void *payload;
	int saw_attributes;             /* set: a walked directory has a .gitattributes */
};

/* True for the names the walk picks: *.yaml and *.yml (a revision's too). */
int o8_walk_is_config_name(const char *name);

/*
 * Walks the directory root_fd (borrowed; the root w->root names) and calls
 * w->on_file for each configuration file.  Returns O8_ERR with err only
 * when memory runs out; problems with entries are findings.
 */
enum o8_rc o8_walk_tree(struct o8_walk *w, int root_fd, struct o8_diags *diags,
			struct o8_err *err);

#endif
