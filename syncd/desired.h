/*
 * desired.h - syncd's desired state: one compiled commit ("generation")
 * and what each AGW lacks of it.
 *
 * A generation is built from one commit of the operators' repository
 * (snapshot, validate, compile: the pipeline of compile.h) and keeps only
 * the records: the parsed model is freed before o8_desired_build returns,
 * so a generation costs its records' bodies and keys, not the YAML.  Its
 * records are copies that point at nothing of the model: fields, obj and
 * at are NULL (0 fields); kind, network, key, name, body, len and digest
 * are set.
 *
 * Layout, for 10,000 AGWs in 100 networks of 10,000 subscribers: the
 * network-wide kinds (Network, APN, PolicyRule, Subscriber) are one sorted
 * array per network, shared by every gateway of it; the per-gateway kinds
 * (Gateway, ENodeB, Tier) are one small sorted array per gateway.  An
 * AGW's config is the merge of the two by (kind, key) -- the same records
 * o8_compile_agw gives -- and is never stored whole.  Per-kind digests
 * (wire.h) are computed once per network for its kinds and once per
 * gateway for the others.
 *
 * Diffs compare digests in a merge walk of lists sorted by (kind, key).
 * The network-wide part of a diff between two generations is computed once
 * per network and shared by all its gateways (see o8_desired_diff).
 *
 * Ownership: a generation owns its records; every pointer it hands out is
 * borrowed and valid until o8_desired_free.  A delta borrows from the
 * generations it compares (see struct o8_desired_delta).  A generation is
 * read-only once built, but for the diff cache, which a mutex guards: any
 * function here may be called from several threads at once.
 */
#ifndef O8_DESIRED_H
#define O8_DESIRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/compile.h"
#include "util/err.h"
#include "repo/git.h"
#include "proto/wire.h"

struct o8_desired;
struct o8_desired_shared;

/*
 * Snapshots commit (anything o8_git_snapshot accepts that names a commit)
 * of repo, validates and compiles it.  version is the caller's (monotonic:
 * it names this generation on the wire).  When the commit does not
 * validate, the findings go to diags (sorted; diags may be NULL) and the
 * call returns O8_EINVALID with err saying "N errors: FILE:LINE:COL:
 * first finding".  O8_ENOTFOUND: no such revision; O8_EINVALID also when
 * it names a tree rather than a commit.  *out: o8_desired_free.
 */
enum o8_rc o8_desired_build(struct o8_desired **out, struct o8_git *repo,
			    const char *commit, uint64_t version,
			    struct o8_diags *diags, struct o8_err *err);

void o8_desired_free(struct o8_desired *d);  /* NULL is a no-op */

uint64_t o8_desired_version(const struct o8_desired *d);
const char *o8_desired_commit(const struct o8_desired *d);     /* 40 hex */
size_t o8_desired_record_count(const struct o8_desired *d);    /* all networks */

/* --- gateways -------------------------------------------------------------- */

/* One gateway's entry (read-only). */
struct o8_desired_gateway {
	const char *network;
	const char *name;
	size_t nrecords;                        /* its whole config */
	struct o8_wire_kind_digests kd;         /* of its whole config */
};

/* Gateways sorted by (network, name) with strcmp. */
size_t o8_desired_gateway_count(const struct o8_desired *d);
const struct o8_desired_gateway *o8_desired_gateway_at(const struct o8_desired *d,
							 size_t i);

/* Binary search; NULL when absent. */
const struct o8_desired_gateway *o8_desired_find(const struct o8_desired *d,
						  const char *network,
						  const char *gateway);

/* --- one AGW's whole config ---------------------------------------------- */

/*
 * Walks the merge of the network's and the gateway's records in (kind,
 * key) order without allocating: for a first-time full send.
 */
struct o8_desired_iter {                /* fields private */
	const struct o8_record *const *a, *const *b;
	size_t na, nb, ia, ib;
};

/* O8_ENOTFOUND when the gateway is not in d. */
enum o8_rc o8_desired_iter_init(struct o8_desired_iter *it,
				const struct o8_desired *d, const char *network,
				const char *gateway, struct o8_err *err);

/* The next record (borrowed from d), NULL at the end. */
const struct o8_record *o8_desired_iter_next(struct o8_desired_iter *it);

/*
 * The same as one malloc'd array of *n borrowed records (free() the array,
 * not the records).  O8_ENOTFOUND when the gateway is not in d.
 */
enum o8_rc o8_desired_full(const struct o8_record ***out, size_t *n,
			   const struct o8_desired *d, const char *network,
			   const char *gateway, struct o8_err *err);

/* --- deltas ---------------------------------------------------------------- */

/*
 * What one AGW must receive.  upserts are records of the new generation,
 * deletes the keys to remove; both sorted by (kind, key), as
 * struct o8_wire_delta wants them (o8_desired_delta_wire).  full: upserts
 * are the whole config (the AGW had nothing to start from), deletes empty.
 *
 * Lifetime: upserts borrow from the new generation; deletes (strings
 * included) borrow from both generations (o8_desired_diff) or belong to
 * the delta (o8_desired_diff_digests).  Use a delta while the generations
 * it came from live, then o8_desired_delta_done.
 */
struct o8_desired_delta {
	uint64_t from_version, to_version;      /* from 0: from nothing */
	const char *commit;                     /* the new generation's */
	bool full;
	const struct o8_record *const *upserts;
	size_t nupserts;
	const struct o8_wire_key *deletes;
	size_t ndeletes;
	/* The network-wide part (o8_desired_diff): the same object for every
	   gateway of the network for one (old, new) pair; NULL otherwise. */
	const struct o8_desired_shared *shared;
	void *own_[3];                          /* private: what to free */
};

/*
 * What gateway (of network) lacks of new when it holds what old says: for
 * each (kind, key), a record of new that old lacks or has with another
 * digest is an upsert; a key of old that new lacks is a delete.  With old
 * NULL, or when old has no such gateway (a new or renamed gateway), the
 * delta is the full config (full, from_version 0); otherwise from_version
 * is old's version.
 *
 * The network-wide part is computed on the first call for (old, new,
 * network) and cached in new (keyed by old's version and commit), so the
 * other gateways of that network only diff their own few records: a
 * one-subscriber change costs one walk of the network, not one per AGW.
 * The cache lives until new is freed; it holds only what changed.
 * O8_ENOTFOUND when new has no such gateway.
 */
enum o8_rc o8_desired_diff(const struct o8_desired *old,
			   struct o8_desired *new_gen, const char *network,
			   const char *gateway, struct o8_desired_delta *out,
			   struct o8_err *err);

/* The size of a network-wide part, for logs ("412 AGWs get 1 upsert"). */
void o8_desired_shared_size(const struct o8_desired_shared *s,
			    size_t *nupserts, size_t *ndeletes);

/* A record the AGW holds, from its DigestReply. */
struct o8_desired_have {
	enum o8_rec_kind kind;
	const char *key;
	uint8_t digest[32];
};

/*
 * What gateway lacks of new_gen given the records it says it holds: have
 * lists every record it holds of the kinds in kinds_mask (bits 1u << kind;
 * 0: every kind), sorted by (kind, key) without duplicates (O8_EINVALID
 * otherwise, or for an unknown kind).  Items of other kinds are ignored.
 * Upserts: records of those kinds it lacks or holds with another digest;
 * deletes: keys it holds that are not desired (copied into the delta:
 * have may be freed after the call).  from_version is 0: the caller knows
 * what the AGW applied.  O8_ENOTFOUND when new_gen has no such gateway.
 */
enum o8_rc o8_desired_diff_digests(const struct o8_desired *new_gen,
				   const char *network, const char *gateway,
				   const struct o8_desired_have *have, size_t n,
				   uint32_t kinds_mask,
				   struct o8_desired_delta *out,
				   struct o8_err *err);

/*
 * The kinds (bits 1u << kind) whose digest in have (from a Hello) differs
 * from the gateway's desired one: what to ask for in a DigestRequest.
 * 0 when they all match, or when the gateway is not in new_gen.
 */
uint32_t o8_desired_kinds_differing(const struct o8_desired *new_gen,
				    const char *network, const char *gateway,
				    const struct o8_wire_kind_digests *have);

/* The delta as the wire builder takes it (borrows from d). */
void o8_desired_delta_wire(const struct o8_desired_delta *d,
			   struct o8_wire_delta *out);

/* Frees what the delta owns and empties it.  NULL is a no-op. */
void o8_desired_delta_done(struct o8_desired_delta *d);

#endif
