/*
 * plan_run.h - computing a plan from the repository, shared by `orc8r
 * plan` and `orc8r apply`.
 */
#ifndef O8_CLI_PLAN_RUN_H
#define O8_CLI_PLAN_RUN_H

#include <stdbool.h>

#include "util/err.h"
#include "repo/git.h"
#include "repo/plan.h"
#include "repo/validate.h"

struct plan_run {
	/* in */
	const char *base_rev;           /* NULL: upstream, else HEAD */
	const char *head_rev;           /* NULL: the work tree */
	bool no_cache;
	/* out */
	char *base_used;                /* the revision base resolved to */
	struct o8_diags diags;          /* head's findings (invalid when n > 0) */
	struct o8_counts counts;
	size_t head_files;
	struct o8_plan *plan;           /* NULL when head is invalid */
	bool cache_hit;
	/* private */
	struct o8_snapshot *base, *head;
	struct o8_model *mb, *mh, *mfull;
	struct o8_records *rb, *rh, *rfull;
	struct o8_gwdir *dir;
	struct o8_plan_gws bgws, hgws, bdir;
};

/*
 * Resolves the revisions of g, validates head (or finds it validated in
 * the plan cache) and plans.  O8_OK with r->plan NULL means head is
 * invalid: r->diags says why.
 */
enum o8_rc plan_run(struct plan_run *r, struct o8_git *g, struct o8_err *err);

void plan_run_done(struct plan_run *r);

#endif
