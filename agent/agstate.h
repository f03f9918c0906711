/*
 * agstate.h - the config an AGW has applied, on disk and in memory
 * (DESIGN.md section 5).
 *
 * agwd applies each version it receives atomically: the new state is
 * written to a new generation directory and made durable, and only then
 * does a pointer name it.  A crash at any instant leaves the old or the new
 * version, never a mix; at open every record is checked against its digest.
 *
 * The state directory DIR (created 0700; every file in it 0600):
 *
 *   DIR/current             symlink to "gen/<version>": the applied version.
 *                           Replaced by symlink(".current.tmp"), rename(),
 *                           fsync(DIR).  Absent: nothing applied yet.
 *   DIR/gen/<version>/      one generation (version in decimal):
 *     records.bin           the records, sorted by (kind, key), each a
 *                           4-byte big-endian length and then that many
 *                           bytes of an orc8r.v1.Record (orc8r.proto)
 *     gateway.mconfig       Magma's mconfig of the gateway (mconfig.h)
 *     subscribers.json      the subscribers, Ki and OPc included (mconfig.h)
 *     meta.json             {"format": 1, "version": "<decimal>", "commit",
 *                           "network", "gateway", "count": <records>,
 *                           "files": {"<name>": {"bytes", "sha256"}}}:
 *                           written last, it describes every other file so
 *                           that a truncated or altered one is detected
 *   DIR/gen/.staging-<v>/   a generation being written; renamed to gen/<v>
 *                           once complete and fsync'd
 *   DIR/.current.tmp        the next pointer, before its rename
 *
 * Besides the current generation only the previous one is kept (for
 * o8_agstate_revert).  Open removes what a crash left behind: temporaries,
 * and generations newer than the current one (written, never pointed to).
 * The AGW's services read DIR/current/gateway.mconfig.
 *
 * One process at a time: open takes an exclusive flock on DIR, released by
 * o8_agstate_free (or the process's exit).
 *
 * Ownership: the state owns its records (the keys and bodies of one
 * generation live in one block).  Every pointer a getter returns is
 * borrowed, valid until the next successful apply or revert, or
 * o8_agstate_free.
 */
#ifndef O8_AGSTATE_H
#define O8_AGSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"
#include "util/err.h"
#include "proto/wire.h"

struct o8_agstate;

/*
 * Options (transparent, with an _INIT macro).  step is for tests: it is
 * called with a short description ("rename pointer", "fsync
 * records.bin", ...) before each step that changes the disk, by open,
 * apply and revert.  Nonzero stops the call there with O8_ERR, as a failed
 * write would; a crash test makes the child _exit() in it instead.
 */
struct o8_agstate_open_opts {
	int (*step)(void *payload, const char *what);
	void *payload;
};

#define O8_AGSTATE_OPEN_OPTS_INIT { NULL, NULL }

/*
 * Opens (creating it if missing) the state directory dir and loads the
 * current generation, re-verifying every record's digest and every file
 * against meta.json.  A corrupt current generation falls back to the
 * previous one, which then becomes current on disk
 * (o8_agstate_recovered says why); without a usable previous one, open
 * fails with O8_EINVALID naming the broken file.  O8_ECONFLICT: another
 * process has dir open.  O8_ERR: I/O or memory.
 */
enum o8_rc o8_agstate_open(struct o8_agstate **out, const char *dir,
			   struct o8_err *err);

/* The same with options; opts may be NULL.  They hold for the life of
 * the state. */
enum o8_rc o8_agstate_open_opts(struct o8_agstate **out, const char *dir,
				const struct o8_agstate_open_opts *opts,
				struct o8_err *err);

void o8_agstate_free(struct o8_agstate *s);     /* NULL is a no-op */

/* The applied version; 0 when nothing is applied. */
uint64_t o8_agstate_version(const struct o8_agstate *s);

/* Its commit (hex), "" when none. */
const char *o8_agstate_commit(const struct o8_agstate *s);

/* The version of the previous generation kept on disk; 0: none. */
uint64_t o8_agstate_previous(const struct o8_agstate *s);

/* The records, sorted by (kind, key) (as o8_compile_agw gives them):
 * ready for o8_wire_build_digest_reply and comparisons.  name is the key;
 * fields, obj and at are NULL. */
size_t o8_agstate_count(const struct o8_agstate *s);
const struct o8_record *const *o8_agstate_records(const struct o8_agstate *s);

/* bsearch; NULL when absent. */
const struct o8_record *o8_agstate_find(const struct o8_agstate *s,
					enum o8_rec_kind kind, const char *key);

/* Per-kind digests of the records, for Hello. */
const struct o8_wire_kind_digests *
o8_agstate_kind_digests(const struct o8_agstate *s);

/* Why open fell back to the previous generation, or NULL when it did not
 * (for agwd to log and report). */
const char *o8_agstate_recovered(const struct o8_agstate *s);

/*
 * One version to apply (transparent): everything the agent staged from
 * the frames of one ConfigDelta.  Records may be views into a decoded
 * envelope (o8_wire_record_view): apply copies what it keeps, so they
 * need to live only for the call.  upserts and deletes in any order.
 */
struct o8_agstate_change {
	uint64_t from_version, to_version;
	const char *commit;                     /* NULL: "" */
	bool full;                              /* upserts are everything */
	const struct o8_record *upserts;
	size_t nupserts;
	const struct o8_wire_key *deletes;
	size_t ndeletes;
	const char *network;                    /* every record's network */
	const char *gateway;                    /* for the mconfig; NULL: no
						   mconfig, no subscribers */
};

/*
 * Applies c: on O8_OK the new generation is durable (files, directories
 * and pointer fsync'd) before this returns, the state in memory is the
 * new version, and the generation before it is kept as the previous one.
 * Refused, changing nothing:
 * - O8_ECONFLICT: to_version is not above the applied version, or (unless
 *   full) from_version is not the applied version (both in the message);
 * - O8_EINVALID: a delete of a key that is absent, a key both upserted and
 *   deleted or upserted twice, deletes in a full change, an upsert whose
 *   digest is not the SHA-256 of its body or whose network is not
 *   c->network, a record the mconfig cannot be rendered from.
 * O8_ERR: I/O, memory, or the step hook; if it comes after the pointer
 * was renamed (only an fsync of DIR can fail then), the new version is
 * in place and in memory, but may not survive a crash: the message says
 * so.
 */
enum o8_rc o8_agstate_apply(struct o8_agstate *s,
			    const struct o8_agstate_change *c,
			    struct o8_err *err);

/*
 * Makes the previous generation current again (commit-confirmed: no
 * Confirm came in time) and deletes the one it replaces; the state then
 * has no previous generation.  O8_ENOTFOUND when there is none;
 * O8_EINVALID when it is corrupt (nothing changes then).
 */
enum o8_rc o8_agstate_revert(struct o8_agstate *s, struct o8_err *err);

#endif
