/*
 * compile.h - a validated model to records: what each AGW is sent.
 *
 * Every object becomes one record keyed by (network, kind, key), holding
 * the canonical protobuf-c encoding of its message (schema/orc8r.proto)
 * and the SHA-256 of that encoding.  A SubscriberSet becomes one record per
 * subscriber, with the set's defaults applied.  The same model always gives
 * byte-identical records: fields are encoded in a fixed order, lists keep
 * the operator's order, maps are sorted by key, defaults from the schema
 * tables are filled in, numbers are normalised.
 *
 * An AGW's config = its network's record, its own record, its Tier, the
 * records of the eNodeBs it lists, and the network's APNs, PolicyRules and
 * Subscribers (as Magma streams them).
 */
#ifndef O8_COMPILE_H
#define O8_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"
#include "repo/model.h"
#include "util/err.h"

struct o8_records;

/*
 * Compiles every object of m (which should have validated: objects with
 * errors are compiled as far as they go, or skipped).  *out owns its
 * memory and borrows obj/at pointers from m: free it before m.
 */
enum o8_rc o8_compile(struct o8_records **out, const struct o8_model *m,
		      struct o8_err *err);

/* The same for a subset of objects (plan compiles changed files only). */
enum o8_rc o8_compile_objs(struct o8_records **out,
			   const struct o8_obj *const *objs, size_t nobjs,
			   struct o8_err *err);

/* Records sorted by (network, kind, key); the getters borrow. */
size_t o8_records_count(const struct o8_records *r);
const struct o8_record *o8_records_get(const struct o8_records *r, size_t i);

/* bsearch; NULL when absent. */
const struct o8_record *o8_records_find(const struct o8_records *r,
					const char *network,
					enum o8_rec_kind kind, const char *key);

void o8_records_free(struct o8_records *r);  /* NULL is a no-op */

/*
 * One AGW's desired config: pointers into r (borrowed), sorted by (kind,
 * key).  O8_ENOTFOUND when r has no such gateway.
 */
struct o8_agw_config {
	const struct o8_record **recs;
	size_t n;
};

enum o8_rc o8_compile_agw(struct o8_agw_config *out,
			  const struct o8_records *r, const char *network,
			  const char *gateway, struct o8_err *err);

void o8_agw_config_done(struct o8_agw_config *c);

/*
 * Options for o8_compile_objs_opts (transparent, with an _INIT macro).
 * The records do not depend on them: only how fast they come.
 */
struct o8_compile_opts {
	unsigned threads;       /* 0: one per online CPU; small inputs use 1 */
};

#define O8_COMPILE_OPTS_INIT { 0 }

/* o8_compile_objs with options; opts may be NULL. */
enum o8_rc o8_compile_objs_opts(struct o8_records **out,
				const struct o8_obj *const *objs, size_t nobjs,
				const struct o8_compile_opts *opts,
				struct o8_err *err);

#endif
