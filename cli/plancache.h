/*
 * plancache.h - what a plan needs to know of a snapshot without loading
 * it: that it validated, and its gateways (each with its file, tier and
 * eNodeBs), which decide who receives a change.
 *
 * Kept as one small JSON file per snapshot id under
 * <gitdir>/orc8r/v1/snapshots/.  Safe to delete at any time (the next plan
 * loads the snapshot in full and writes it again); versioned by directory
 * and by the orc8r version inside, so an entry from another version is
 * ignored.  Written to a temporary file and renamed: a crash leaves the
 * old entry or the new one.
 */
#ifndef O8_PLANCACHE_H
#define O8_PLANCACHE_H

#include "repo/compile.h"
#include "util/err.h"
#include "repo/plan.h"

struct o8_gwdir;

/*
 * Builds the directory from the records of a whole (valid) snapshot.
 * Borrows nothing: it may outlive recs.
 */
enum o8_rc o8_gwdir_from_records(struct o8_gwdir **out,
				 const struct o8_records *recs,
				 struct o8_err *err);

/*
 * Counts, per network of m, the records every gateway of it is sent
 * besides its own part (the Network, APNs, PolicyRules, subscribers): what
 * a new gateway receives.
 */
enum o8_rc o8_gwdir_count(struct o8_gwdir *d, const struct o8_model *m,
			  struct o8_err *err);

/*
 * Loads the entry of snapshot id.  O8_ENOTFOUND when there is none, or it
 * is unreadable, or from another version (the caller then loads in full).
 */
enum o8_rc o8_plancache_load(struct o8_gwdir **out, const char *gitdir,
			     const char *id, const char *version,
			     struct o8_err *err);

/* Stores d as the entry of snapshot id (which validated). */
enum o8_rc o8_plancache_store(const struct o8_gwdir *d, const char *gitdir,
			      const char *id, const char *version,
			      struct o8_err *err);

/*
 * The gateways as o8_plan_build wants them, borrowed from d.  With
 * skip_files (sorted, n of them), only gateways whose file is not listed:
 * those are the same on both sides of a plan.  Free out->v with free().
 */
enum o8_rc o8_gwdir_gws(struct o8_plan_gws *out, const struct o8_gwdir *d,
			const char *const *skip_files, size_t nskip,
			struct o8_err *err);

void o8_gwdir_free(struct o8_gwdir *d);       /* NULL is a no-op */

#endif
