/*
 * record.h - one unit of an AGW's config, as compiled by lib/repo/compile,
 * carried by lib/proto/wire and held by agwd (agent/agstate).
 *
 * A record is keyed by (network, kind, key) and holds the canonical
 * protobuf encoding of its message (schema/orc8r.proto) and the SHA-256 of
 * that encoding.  This header is the whole contract between the compiler,
 * the wire and the agent: it needs neither the YAML model nor the parser
 * (the model pointers below are opaque here).
 */
#ifndef O8_RECORD_H
#define O8_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct o8_obj;                  /* repo/model.h */
struct o8_node;                 /* repo/yaml.h */

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
	/* Where the record came from, when the compiler made it (NULL in
	 * records received over the wire): borrowed from the model. */
	const struct o8_obj *obj;       /* source document */
	const struct o8_node *at;       /* the document, or the set item */
};

/*
 * The kind's name as in the YAML ("Subscriber"); "unknown" outside the
 * enum.  These are also the names the protocol's messages and logs use.
 */
const char *o8_rec_kind_name(enum o8_rec_kind k);

#endif
