/*
 * wire.h - the syncd <-> agwd protocol (DESIGN.md section 3, the messages
 * in schema/wire.proto): frames, an incremental decoder for non-blocking
 * sockets, the rules of order and content, and builders.
 *
 * A frame is a 4-byte big-endian length n (1 <= n <= the receiver's
 * max_frame), then n bytes holding one protobuf-c Orc8r__V1__Envelope with
 * exactly one message set.  A connection's life:
 *
 *   agent: Hello                      syncd: Welcome
 *   agent: StateReport, Ack, Nack,    syncd: ConfigDelta, Confirm,
 *          DigestReply                       DigestRequest
 *
 * Anything else (a bad frame, a message out of order or from the wrong
 * side, a field out of range) ends that connection: every function here
 * says why in words fit for the log, and the daemon closes the connection.
 *
 * The Envelope and its messages are generated code: include "wire.pb-c.h"
 * to read their fields.  This header only names the types, so it stands
 * alone.
 *
 * Ownership:
 * - o8_wire_encode and the *_next encoders return a malloc'd frame: free().
 * - A decoded envelope belongs to the caller: o8_wire_decoded_free (which is
 *   protobuf-c's free_unpacked with the default allocator).
 * - A built envelope (o8_wire_build_*) is one malloc'd block that *borrows*
 *   every string, record body and digest it was given (struct o8_record
 *   bodies and digests are referenced, not copied): keep them alive until
 *   the envelope is encoded, then o8_wire_built_free it.  Never mix the two
 *   free functions.
 */
#ifndef O8_WIRE_H
#define O8_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"
#include "util/err.h"

struct Orc8r__V1__Envelope;
struct Orc8r__V1__Record;

/*
 * Protocol versions.  Hello and Welcome carry the sender's
 * O8_WIRE_PROTOCOL_VERSION; both sides then speak the lower of the two.
 * A peer below O8_WIRE_MIN_PROTOCOL is refused with a reason naming the
 * program to upgrade.
 */
#define O8_WIRE_PROTOCOL_VERSION 1u
#define O8_WIRE_MIN_PROTOCOL 1u

#define O8_WIRE_HEADER 4                        /* length prefix, bytes */
#define O8_WIRE_MAX_FRAME_DEFAULT (16u << 20)   /* 16 MiB */

/*
 * Decoding a frame may allocate at most this many times its length (plus
 * 4 KiB): protobuf-c turns a 2-byte empty submessage into a pointer and a
 * struct, and a frame crafted that way would otherwise cost ~50 times its
 * size.  Honest frames need 2 to 7 times.
 */
#define O8_WIRE_UNPACK_FACTOR 16u

/*
 * What one exchange may hold, whatever its frames: a ConfigDelta or a
 * DigestReply sent as several frames (more set) is one exchange, and its
 * receiver keeps all of it until the last frame, so without these one peer
 * could grow the other without bound.  Bytes are the encoded envelopes'.
 * A StateReport's KPIs are few and small (agwd sends 16 at most); texts
 * (a StateReport's message, a Nack's reason) are for a log line.
 */
#define O8_WIRE_MAX_EXCHANGE_RECORDS (1u << 20)        /* 1,048,576 */
#define O8_WIRE_MAX_EXCHANGE_BYTES (128u << 20)        /* 128 MiB */
#define O8_WIRE_MAX_KPIS 256u
#define O8_WIRE_MAX_KPI_NAME 128u                      /* bytes */
#define O8_WIRE_MAX_TEXT 4096u                         /* bytes */

/* The Envelope's messages: the values are its oneof field numbers. */
enum o8_wire_msg {
	O8_WIRE_NONE = 0,               /* no message, or one unknown here */
	O8_WIRE_HELLO = 1,
	O8_WIRE_STATE = 2,
	O8_WIRE_ACK = 3,
	O8_WIRE_NACK = 4,
	O8_WIRE_DELTA = 5,
	O8_WIRE_CONFIRM = 6,
	O8_WIRE_DIGEST_REQUEST = 7,
	O8_WIRE_DIGEST_REPLY = 8,
	O8_WIRE_WELCOME = 9,
	O8_WIRE__COUNT
};

enum o8_wire_role { O8_WIRE_AGENT = 1, O8_WIRE_SERVER = 2 };

/* StateReport.status; the values are those of AgwStatus (wire.proto). */
enum o8_wire_status {
	O8_WIRE_STATUS_OK = 1,
	O8_WIRE_STATUS_APPLYING = 2,
	O8_WIRE_STATUS_FAILED = 3,
	O8_WIRE_STATUS_REVERTED = 4,
	O8_WIRE_STATUS_OFFLINE_RECOVERED = 5,
};

/* The message env holds; O8_WIRE_NONE when env is NULL or holds none. */
enum o8_wire_msg o8_wire_msg_type(const struct Orc8r__V1__Envelope *env);

/* "Hello", "ConfigDelta", ...; "unknown message" for anything else. */
const char *o8_wire_msg_name(enum o8_wire_msg t);

/* Who sends t; 0 for O8_WIRE_NONE and unknown values. */
enum o8_wire_role o8_wire_msg_sender(enum o8_wire_msg t);

/* "agent", "syncd". */
const char *o8_wire_role_name(enum o8_wire_role r);

/* --- frames -------------------------------------------------------------- */

/*
 * Encodes env (which must hold a message) as one frame, length prefix
 * included, into *out (malloc'd, the caller frees it) of *len bytes.
 * Does not know the receiver's limit: split big deltas and digest replies
 * with o8_wire_delta_next and o8_wire_digest_reply_next.
 */
enum o8_rc o8_wire_encode(const struct Orc8r__V1__Envelope *env,
			  uint8_t **out, size_t *len, struct o8_err *err);

/*
 * Incremental decoder, one per connection (embed it; the fields are
 * private but for the two marked read-only).  It holds nothing between
 * frames, and while a frame arrives it holds only the bytes received so
 * far (growing geometrically up to the announced length), so an idle or
 * a slow connection costs little whatever length it announced.
 */
struct o8_wire_dec {
	size_t max_frame;       /* read-only: the limit on a frame's length */
	size_t allocs;          /* read-only: frame buffers (re)allocated so
				   far; tests use it to show that the limit
				   comes before any memory */
	uint8_t hdr[O8_WIRE_HEADER];
	size_t nhdr;            /* header bytes received */
	size_t want;            /* announced length; 0 while in the header */
	uint8_t *body;
	size_t have, cap;
	enum o8_rc failed;      /* O8_OK, or the error that stopped it */
};

/* max_frame 0 means O8_WIRE_MAX_FRAME_DEFAULT; it is capped at 2^32 - 1. */
void o8_wire_dec_init(struct o8_wire_dec *dec, size_t max_frame);

/*
 * Consumes up to n bytes of p (any split: byte by byte, several frames at
 * once) and stops after the first complete frame.  *consumed says how many
 * bytes it took: call again with the rest.  Returns
 * - O8_OK with *out NULL: every byte consumed, the frame is not complete;
 * - O8_OK with *out set: one envelope, holding a message (the caller owns
 *   it: o8_wire_decoded_free); the bytes after *consumed are not read yet;
 * - O8_ELIMIT: the announced length exceeds max_frame (decided from the
 *   header alone, before any memory is allocated for the body), or the
 *   frame would need more than O8_WIRE_UNPACK_FACTOR times its length in
 *   memory once decoded;
 * - O8_EINVALID: a zero-length frame, an undecodable body, or an envelope
 *   without a message (or with one this orc8r does not know);
 * - O8_ERR: out of memory.
 * After an error the decoder refuses all input (the same code again): the
 * connection must close.  err->msg says why.
 */
enum o8_rc o8_wire_dec_feed(struct o8_wire_dec *dec, const uint8_t *p,
			    size_t n, size_t *consumed,
			    struct Orc8r__V1__Envelope **out,
			    struct o8_err *err);

/* Bytes of an incomplete frame held (header included): at EOF, non-zero
 * means the peer closed the connection in the middle of a frame. */
size_t o8_wire_dec_pending(const struct o8_wire_dec *dec);

/* Releases a partial frame; the decoder may be initialised again. */
void o8_wire_dec_done(struct o8_wire_dec *dec);

/* Frees an envelope from o8_wire_dec_feed.  NULL is a no-op. */
void o8_wire_decoded_free(struct Orc8r__V1__Envelope *env);

/* --- the rules ------------------------------------------------------------ */

/*
 * One conversation's state, for either side (embed it; the fields are
 * private but role and protocol).  Check every message, received or about
 * to be sent, in the order it goes on the wire: both sides then see the
 * same sequence and reach the same verdicts.
 */
struct o8_wire_session {
	enum o8_wire_role role;         /* read-only: this side */
	uint32_t protocol;              /* read-only: the version spoken,
					   0 until Hello and Welcome passed */
	int state;
	uint32_t hello_protocol;
	uint64_t applied;               /* highest version the agent applied:
					   Hello's, then each Ack's */
	uint64_t last_to;               /* to_version of the last ConfigDelta */
	uint64_t last_done;             /* ... of the last complete one */
	uint64_t last_answer;           /* version of the last Ack or Nack */
	uint64_t chunk_from;            /* of the incomplete ConfigDelta */
	size_t pending_deltas;          /* complete, not yet answered */
	size_t pending_digests;         /* DigestRequests not yet answered */
	/* the incomplete ConfigDelta and DigestReply so far (both ways can
	   be open at once): against O8_WIRE_MAX_EXCHANGE_* */
	size_t delta_records, reply_records;
	size_t delta_bytes, reply_bytes;
	bool chunk_open, chunk_full;
};

void o8_wire_session_init(struct o8_wire_session *s, enum o8_wire_role role);

/*
 * Checks that sender may send env now, and that its content is sound;
 * records it.  Returns 0 when allowed; -1 with the reason in why (for the
 * log: untrusted strings are quoted, shortened and made printable) when
 * the connection must close.  The rules (a table in wire.c):
 * - order: Hello first and once, then Welcome once, then the rest; Ack and
 *   Nack answer complete ConfigDeltas one each, in order; DigestReply
 *   answers DigestRequest; a ConfigDelta goes to a newer version than the
 *   last one (replays are refused), or continues an incomplete one (more);
 *   Confirm names a version the agent applied;
 * - versions: a Hello or Welcome below O8_WIRE_MIN_PROTOCOL is refused
 *   ("agent speaks protocol 0, syncd needs at least 1: upgrade agwd");
 * - content: kinds known, digests of 32 bytes, keys not empty, lists
 *   sorted by (kind, key) without duplicates, a full delta without deletes,
 *   a status known, KPI values finite, a gateway id "network/gateway";
 * - size: a ConfigDelta or DigestReply within O8_WIRE_MAX_EXCHANGE_RECORDS
 *   and _BYTES over all its frames, at most O8_WIRE_MAX_KPIS KPIs with
 *   names of at most O8_WIRE_MAX_KPI_NAME bytes, texts of at most
 *   O8_WIRE_MAX_TEXT bytes (each refusal names the limit).
 * Record digests are not recomputed here: see o8_wire_record_view.
 * After a refusal every later check fails too.
 */
int o8_wire_session_check(struct o8_wire_session *s, enum o8_wire_role sender,
			  const struct Orc8r__V1__Envelope *env, char *why,
			  size_t whylen);

/* --- digests -------------------------------------------------------------- */

/*
 * Per-kind digests (KindDigest in wire.proto): for each kind, the SHA-256
 * over its records in key order of key, a zero byte, and the record's
 * 32-byte digest.  Index by enum o8_rec_kind; [0] is unused.  A kind
 * without records has the SHA-256 of nothing.
 */
struct o8_wire_kind_digests {
	uint8_t digest[O8_REC__COUNT][32];
};

/* From records sorted by (kind, key) (as o8_compile_agw gives them);
 * O8_EINVALID when they are not, or a kind is unknown. */
enum o8_rc o8_wire_kind_digests_of(struct o8_wire_kind_digests *out,
				   const struct o8_record *const *recs,
				   size_t n, struct o8_err *err);

/* The same, fed one record at a time (from the store, from disk). */
struct o8_wire_digester;

enum o8_rc o8_wire_digester_new(struct o8_wire_digester **out,
				struct o8_err *err);
/* Records must come sorted by (kind, key): O8_EINVALID otherwise. */
enum o8_rc o8_wire_digester_add(struct o8_wire_digester *d, unsigned kind,
				const char *key, const uint8_t digest[32],
				struct o8_err *err);
/* Fills *out; d can then only be freed. */
void o8_wire_digester_finish(struct o8_wire_digester *d,
			     struct o8_wire_kind_digests *out);
void o8_wire_digester_free(struct o8_wire_digester *d);     /* NULL: no-op */

/*
 * A received record as a struct o8_record: kind, network, key, body and
 * len borrow from r (valid while the envelope lives), digest is copied,
 * name is the key, the rest is zero.  Checks the kind, that network and
 * key are not empty, and that digest is the SHA-256 of body: O8_EINVALID
 * otherwise.
 */
enum o8_rc o8_wire_record_view(struct o8_record *out,
			       const struct Orc8r__V1__Record *r,
			       struct o8_err *err);

/* --- builders ------------------------------------------------------------- */

/* A record to delete: only kind and key go on the wire. */
struct o8_wire_key {
	enum o8_rec_kind kind;
	const char *key;
};

struct o8_wire_kpi {
	const char *name;
	double value;
};

/*
 * A delta (transparent).  upserts and deletes sorted by (kind, key).  With
 * full, upserts are the whole config and deletes must be empty.
 */
struct o8_wire_delta {
	uint64_t from_version, to_version;
	const char *commit;
	const struct o8_record *const *upserts;
	size_t nupserts;
	const struct o8_wire_key *deletes;
	size_t ndeletes;
	bool full;
};

/*
 * What a DigestReply says (transparent): the kind digests (NULL: none),
 * and the digest of each record of recs (sorted by (kind, key)) whose kind
 * is in kinds, a mask of bits (1u << kind) from o8_wire_request_kinds;
 * 0 means every kind.
 */
struct o8_wire_digests {
	const struct o8_wire_kind_digests *kd;
	const struct o8_record *const *recs;
	size_t n;
	uint32_t kinds;
};

/* The kinds a DigestRequest envelope asks for, as a mask (0: all).  Kinds
 * beyond the known ones are ignored. */
uint32_t o8_wire_request_kinds(const struct Orc8r__V1__Envelope *req);

/*
 * Each builds one envelope in *out (see Ownership above); a NULL string is
 * sent empty.  They check nothing a session check would: run
 * o8_wire_session_check on what you send.  O8_ERR: out of memory.
 */
enum o8_rc o8_wire_build_hello(struct Orc8r__V1__Envelope **out,
			       const char *gateway_id,
			       const char *agent_version,
			       uint64_t applied_version,
			       const char *applied_commit,
			       const struct o8_wire_kind_digests *kd,
			       struct o8_err *err);
enum o8_rc o8_wire_build_welcome(struct Orc8r__V1__Envelope **out,
				 const char *server_version,
				 uint64_t desired_version, struct o8_err *err);
enum o8_rc o8_wire_build_state(struct Orc8r__V1__Envelope **out,
			       uint64_t version, enum o8_wire_status status,
			       const struct o8_wire_kpi *kpis, size_t nkpis,
			       const char *message, struct o8_err *err);
enum o8_rc o8_wire_build_ack(struct Orc8r__V1__Envelope **out,
			     uint64_t version, const char *commit,
			     struct o8_err *err);
enum o8_rc o8_wire_build_nack(struct Orc8r__V1__Envelope **out,
			      uint64_t version, const char *reason,
			      struct o8_err *err);
/* The whole delta in one envelope (more unset). */
enum o8_rc o8_wire_build_delta(struct Orc8r__V1__Envelope **out,
			       const struct o8_wire_delta *d,
			       struct o8_err *err);
enum o8_rc o8_wire_build_confirm(struct Orc8r__V1__Envelope **out,
				 uint64_t version, struct o8_err *err);
/* kinds: n kinds, ascending; n 0 asks for all. */
enum o8_rc o8_wire_build_digest_request(struct Orc8r__V1__Envelope **out,
					const enum o8_rec_kind *kinds,
					size_t n, struct o8_err *err);
/* The whole reply in one envelope (more unset). */
enum o8_rc o8_wire_build_digest_reply(struct Orc8r__V1__Envelope **out,
				      const struct o8_wire_digests *src,
				      struct o8_err *err);

/* Frees a built envelope.  NULL is a no-op. */
void o8_wire_built_free(struct Orc8r__V1__Envelope *env);

/*
 * Encode a delta as frames of at most max_frame bytes each (0: the
 * default), one per call, so a big snapshot never sits in memory encoded
 * at once: *pos starts at 0 and advances over the upserts, then the
 * deletes; *last is set on the final frame (every frame before it has
 * more set).  An empty delta is one frame.  *out is malloc'd (free it).
 * O8_ELIMIT when one record alone does not fit in a frame.
 */
enum o8_rc o8_wire_delta_next(const struct o8_wire_delta *d, size_t *pos,
			      size_t max_frame, uint8_t **out, size_t *len,
			      bool *last, struct o8_err *err);

/* The same for a DigestReply: the kind digests go in the first frame, and
 * *pos (0 at the start) is a cursor to pass back unchanged. */
enum o8_rc o8_wire_digest_reply_next(const struct o8_wire_digests *src,
				     size_t *pos, size_t max_frame,
				     uint8_t **out, size_t *len, bool *last,
				     struct o8_err *err);

#endif
