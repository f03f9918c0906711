/*
 * model.h - a loaded repository: every YAML document of every file, as
 * objects that know their kind, name, network and position.
 *
 * Loading only parses and classifies; o8_validate (validate.h) checks.  A
 * model owns all its memory (one arena per loader thread); every pointer it
 * hands out is borrowed and valid until o8_model_free.
 *
 * Safety: only regular files under the root are read; symlinks are followed
 * only when their target stays inside the root; dot-directories (.git,
 * .orc8r) are skipped; files larger than max_file_bytes are refused.
 */
#ifndef O8_MODEL_H
#define O8_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "repo/schema.h"
#include "repo/yaml.h"

struct o8_model;

/* One YAML document.  kind is O8_KIND_NONE when apiVersion/kind are wrong
 * (the loader has already reported why). */
struct o8_obj {
	enum o8_kind kind;
	const char *name;               /* metadata.name, or NULL */
	const char *network;            /* metadata.network; a Network's own name */
	const struct o8_node *root;     /* the document */
	const struct o8_node *spec;     /* root.spec, or NULL */
	const char *file;               /* relative to the repo root */
	uint32_t line, col;             /* of the document's root node */
};

/* One input file, for loading from memory (tests, fuzzers, git blobs). */
struct o8_src {
	const char *path;               /* relative path, used in messages */
	const char *buf;
	size_t len;
};

struct o8_load_opts {
	unsigned threads;               /* 0: one per online CPU */
	size_t max_file_bytes;          /* 0: 64 MiB */
	struct o8_yaml_limits yaml;
	/*
	 * Optional: called by loader thread `thread` (0 <= thread < threads)
	 * right after a file is parsed, with that file's objects, so that
	 * work on them happens while they are hot in cache.  Nonzero aborts
	 * the load as out of memory.
	 */
	int (*file_loaded)(void *payload, unsigned thread,
			   const struct o8_obj *objs, size_t nobjs);
	void *payload;
};

#define O8_LOAD_OPTS_INIT { 0, 0, O8_YAML_LIMITS_INIT, NULL, NULL }

/*
 * Loads every *.yaml / *.yml under root (see the safety rules above), in
 * parallel.  Problems with the operator's files (syntax, limits, unknown
 * kind) go to diags and do not fail the call; *out is set even then.
 * Returns O8_ERR (with err) only when the root cannot be read or memory
 * runs out.  opts may be NULL.
 */
enum o8_rc o8_model_load_dir(struct o8_model **out, const char *root,
			     const struct o8_load_opts *opts,
			     struct o8_diags *diags, struct o8_err *err);

/* Same from memory.  Buffers are copied; the caller keeps ownership. */
enum o8_rc o8_model_load_srcs(struct o8_model **out,
			      const struct o8_src *srcs, size_t nsrcs,
			      const struct o8_load_opts *opts,
			      struct o8_diags *diags, struct o8_err *err);

size_t o8_model_nobjs(const struct o8_model *m);

/* Objects in file order (files sorted by path, documents in order). */
const struct o8_obj *o8_model_obj(const struct o8_model *m, size_t i);

size_t o8_model_nfiles(const struct o8_model *m);

void o8_model_free(struct o8_model *m);   /* NULL is a no-op */

#endif
