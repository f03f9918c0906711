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

#include "err.h"
#include "model.h"

enum o8_rec_kind {              /* append only: the wire carries these */
	O8_REC_NETWORK = 1,
	O8_REC_GATEWAY,
	O8_REC_ENODEB,
	O8_REC_APN,
	O8_REC_POLICY,
	O8_REC_SUBSCRIBER,
	O8_REC_TIER,
	O8_REC__COUNT
};

/* One flattened field, for field-by-field plans ("epc.ipBlock"). */
struct o8_rec_field {
	const char *path;       /* spec-relative; list items "apns[0]", map
				   entries "staticIps.internet" */
	const char *value;      /* canonical text: "20", "1.4", "true", "ACTIVE";
				   for a sensitive field: "(sensitive)" plus a
				   short keyed fingerprint, never the value */
	bool sensitive;
};

struct o8_record {
	enum o8_rec_kind kind;
	const char *network;
	const char *key;        /* Network, Gateway, APN, PolicyRule, Tier:
				   metadata.name; ENodeB: serial; Subscriber:
				   the IMSI's digits (no "IMSI" prefix) */
	const char *name;       /* for people: metadata.name, or "IMSI" +
				   digits for a subscriber */
	const uint8_t *body;    /* canonical protobuf encoding */
	size_t len;
	uint8_t digest[32];     /* SHA-256 of body */
	const struct o8_rec_field *fields;      /* sorted by path */
	size_t nfields;
	const struct o8_obj *obj;       /* source document, borrowed */
	const struct o8_node *at;       /* the document, or the set item */
};

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

/* The kind's name as in the YAML ("Subscriber"). */
const char *o8_rec_kind_name(enum o8_rec_kind k);

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
