/*
 * validate.h - every check of the repository format, all errors at once.
 *
 * Per-object checks come from the schema tables (schema.h): unknown and
 * missing fields, types, ranges, formats, enums.  Network checks follow:
 * duplicates, dangling references, PCI collisions, overlapping ipBlocks,
 * eNodeBs claimed twice, mmeCode per pool.  Findings are appended to diags;
 * messages never contain a sensitive value.
 */
#ifndef O8_VALIDATE_H
#define O8_VALIDATE_H

#include <stddef.h>

#include "util/err.h"
#include "repo/model.h"

struct o8_counts {
	size_t kinds[O8_KIND__COUNT];   /* documents per kind */
	size_t subscribers;             /* Subscriber docs + SubscriberSet items */
};

struct o8_validate_opts {
	unsigned threads;               /* 0: one per online CPU */
};

#define O8_VALIDATE_OPTS_INIT { 0 }

/*
 * Checks m and appends findings to diags (unsorted; call o8_diags_sort).
 * counts may be NULL.  Returns O8_ERR only when out of memory.
 */
enum o8_rc o8_validate(const struct o8_model *m,
		       const struct o8_validate_opts *opts,
		       struct o8_counts *counts, struct o8_diags *diags,
		       struct o8_err *err);

/*
 * Loads root (see o8_model_load_dir) and validates it in the same pass:
 * each file is checked by the thread that parsed it, while it is in cache.
 * Same results as o8_model_load_dir + o8_validate, faster on big repos.
 * *out is the model (the caller frees it), set even when it is invalid.
 */
enum o8_rc o8_validate_dir(struct o8_model **out, const char *root,
			   const struct o8_load_opts *lopts,
			   struct o8_counts *counts, struct o8_diags *diags,
			   struct o8_err *err);

/* The same from memory (o8_model_load_srcs): git blobs, tests. */
enum o8_rc o8_validate_srcs(struct o8_model **out, const struct o8_src *srcs,
			    size_t nsrcs, const struct o8_load_opts *lopts,
			    struct o8_counts *counts, struct o8_diags *diags,
			    struct o8_err *err);

#endif
