/*
 * test_wire.c - the syncd <-> agwd protocol (lib/proto/wire.h): every message
 * survives a round trip; the decoder gives the same envelopes however the
 * bytes are split; limits are enforced before memory is spent; bad frames
 * are refused and stop the decoder; the session table refuses every
 * out-of-order message and accepts the normal conversations; versions and
 * content are checked; big deltas and digest replies split into frames
 * that keep to the limit; digests are what wire.proto says.
 *
 * test_wire --write-corpus DIR writes the seed corpus of
 * fuzz/fuzz_wire_decode.c (one valid frame of each message, and whole
 * conversations), so the committed seeds can be regenerated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "proto/wire.h"
#include "wire.pb-c.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef Orc8r__V1__Envelope Envelope;

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */

struct rec {
	struct o8_record r;
	char key[32];
	char body[160];
};

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, out), 0);
}

static void mk_rec(struct rec *x, enum o8_rec_kind kind, const char *key,
		   size_t body_len)
{
	size_t i;

	memset(x, 0, sizeof(*x));
	snprintf(x->key, sizeof(x->key), "%s", key);
	assert_true(body_len <= sizeof(x->body));
	for (i = 0; i < body_len; i++)
		x->body[i] = (char)(i * 7 + (unsigned char)key[0]);
	x->r.kind = kind;
	x->r.network = "lab";
	x->r.key = x->key;
	x->r.name = x->key;
	x->r.body = (const uint8_t *)x->body;
	x->r.len = body_len;
	sha256(x->body, body_len, x->r.digest);
}

/* A small AGW config, sorted by (kind, key). */
#define NRECS 6
static struct rec recs[NRECS];
static const struct o8_record *recp[NRECS];

static void mk_recs(void)
{
	mk_rec(&recs[0], O8_REC_NETWORK, "lab", 40);
	mk_rec(&recs[1], O8_REC_GATEWAY, "agw-1", 60);
	mk_rec(&recs[2], O8_REC_APN, "internet", 20);
	mk_rec(&recs[3], O8_REC_SUBSCRIBER, "001010000000001", 70);
	mk_rec(&recs[4], O8_REC_SUBSCRIBER, "001010000000002", 70);
	mk_rec(&recs[5], O8_REC_TIER, "default", 10);
	for (size_t i = 0; i < NRECS; i++)
		recp[i] = &recs[i].r;
}

static const struct o8_wire_key dels[] = {
	{ O8_REC_ENODEB, "120200002618AGP0001" },
	{ O8_REC_SUBSCRIBER, "001010000000009" },
};

static const struct o8_wire_kpi kpis[] = {
	{ "cpu_percent", 12.5 },
	{ "ues_attached", 42 },
};

/* Builds message t with content that a session in the right state takes. */
static Envelope *build(enum o8_wire_msg t)
{
	static struct o8_wire_kind_digests kd;
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_delta d = { 0 };
	struct o8_wire_digests ds = { 0 };
	Envelope *env = NULL;
	enum o8_rc rc = O8_ERR;

	mk_recs();
	assert_int_equal(o8_wire_kind_digests_of(&kd, recp, NRECS, &err), O8_OK);
	switch (t) {
	case O8_WIRE_HELLO:
		rc = o8_wire_build_hello(&env, "lab/agw-1", "orc8r 0.1.0", 5,
					 "0123abcd", &kd, &err);
		break;
	case O8_WIRE_WELCOME:
		rc = o8_wire_build_welcome(&env, "orc8r 0.1.0", 7, &err);
		break;
	case O8_WIRE_STATE:
		rc = o8_wire_build_state(&env, 6, O8_WIRE_STATUS_APPLYING, kpis,
					 NELEM(kpis), "applying", &err);
		break;
	case O8_WIRE_ACK:
		rc = o8_wire_build_ack(&env, 6, "4567ef", &err);
		break;
	case O8_WIRE_NACK:
		rc = o8_wire_build_nack(&env, 6, "disk full", &err);
		break;
	case O8_WIRE_DELTA:
		d.from_version = 6;
		d.to_version = 7;
		d.commit = "89abcdef";
		d.upserts = recp;
		d.nupserts = 3;         /* network, gateway, apn */
		d.deletes = dels;
		d.ndeletes = NELEM(dels);
		rc = o8_wire_build_delta(&env, &d, &err);
		break;
	case O8_WIRE_CONFIRM:
		rc = o8_wire_build_confirm(&env, 5, &err);
		break;
	case O8_WIRE_DIGEST_REQUEST: {
		static const enum o8_rec_kind k[] = { O8_REC_APN, O8_REC_SUBSCRIBER };
		rc = o8_wire_build_digest_request(&env, k, NELEM(k), &err);
		break;
	}
	case O8_WIRE_DIGEST_REPLY:
		ds.kd = &kd;
		ds.recs = recp;
		ds.n = NRECS;
		rc = o8_wire_build_digest_reply(&env, &ds, &err);
		break;
	default:
		fail_msg("no builder for %d", t);
	}
	assert_int_equal(rc, O8_OK);
	assert_non_null(env);
	return env;
}

static uint8_t *encode(const Envelope *env, size_t *len)
{
	struct o8_err err = O8_ERR_INIT;
	uint8_t *buf = NULL;

	assert_int_equal(o8_wire_encode(env, &buf, len, &err), O8_OK);
	return buf;
}

static uint8_t *frame_of(enum o8_wire_msg t, size_t *len)
{
	Envelope *env = build(t);
	uint8_t *buf = encode(env, len);

	o8_wire_built_free(env);
	return buf;
}

/* Decodes exactly one frame that fills buf. */
static Envelope *decode_one(const uint8_t *buf, size_t len)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_dec dec;
	Envelope *env = NULL;
	size_t used = 0;

	o8_wire_dec_init(&dec, 0);
	assert_int_equal(o8_wire_dec_feed(&dec, buf, len, &used, &env, &err), O8_OK);
	assert_non_null(env);
	assert_int_equal(used, len);
	assert_int_equal(o8_wire_dec_pending(&dec), 0);
	o8_wire_dec_done(&dec);
	return env;
}

static void assert_digest(const ProtobufCBinaryData *b, const uint8_t *want)
{
	assert_int_equal(b->len, 32);
	assert_memory_equal(b->data, want, 32);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                              */

static void check_fields(enum o8_wire_msg t, const Envelope *e)
{
	struct o8_wire_kind_digests kd;
	struct o8_err err = O8_ERR_INIT;
	size_t i;

	assert_int_equal(o8_wire_kind_digests_of(&kd, recp, NRECS, &err), O8_OK);
	assert_int_equal(o8_wire_msg_type(e), t);
	switch (t) {
	case O8_WIRE_HELLO:
		assert_int_equal(e->hello->protocol_version, O8_WIRE_PROTOCOL_VERSION);
		assert_string_equal(e->hello->agent_version, "orc8r 0.1.0");
		assert_string_equal(e->hello->gateway_id, "lab/agw-1");
		assert_int_equal(e->hello->applied_version, 5);
		assert_string_equal(e->hello->applied_commit, "0123abcd");
		assert_int_equal(e->hello->n_digests, O8_REC__COUNT - 1);
		for (i = 0; i < e->hello->n_digests; i++) {
			assert_int_equal(e->hello->digests[i]->kind, i + 1);
			assert_digest(&e->hello->digests[i]->digest, kd.digest[i + 1]);
		}
		break;
	case O8_WIRE_WELCOME:
		assert_int_equal(e->welcome->protocol_version, O8_WIRE_PROTOCOL_VERSION);
		assert_string_equal(e->welcome->server_version, "orc8r 0.1.0");
		assert_int_equal(e->welcome->desired_version, 7);
		break;
	case O8_WIRE_STATE:
		assert_int_equal(e->state->version, 6);
		assert_int_equal(e->state->status, O8_WIRE_STATUS_APPLYING);
		assert_int_equal(e->state->n_kpis, 2);
		assert_string_equal(e->state->kpis[0]->name, "cpu_percent");
		assert_true(e->state->kpis[0]->value == 12.5);
		assert_string_equal(e->state->kpis[1]->name, "ues_attached");
		assert_true(e->state->kpis[1]->value == 42.0);
		assert_string_equal(e->state->message, "applying");
		break;
	case O8_WIRE_ACK:
		assert_int_equal(e->ack->version, 6);
		assert_string_equal(e->ack->commit, "4567ef");
		break;
	case O8_WIRE_NACK:
		assert_int_equal(e->nack->version, 6);
		assert_string_equal(e->nack->reason, "disk full");
		break;
	case O8_WIRE_DELTA:
		assert_int_equal(e->delta->from_version, 6);
		assert_int_equal(e->delta->to_version, 7);
		assert_string_equal(e->delta->commit, "89abcdef");
		assert_false(e->delta->full);
		assert_false(e->delta->more);
		assert_int_equal(e->delta->n_upserts, 3);
		for (i = 0; i < 3; i++) {
			const Orc8r__V1__Record *r = e->delta->upserts[i];
			assert_int_equal(r->kind, recp[i]->kind);
			assert_string_equal(r->network, "lab");
			assert_string_equal(r->key, recp[i]->key);
			assert_int_equal(r->body.len, recp[i]->len);
			assert_memory_equal(r->body.data, recp[i]->body, recp[i]->len);
			assert_digest(&r->digest, recp[i]->digest);
		}
		assert_int_equal(e->delta->n_deletes, 2);
		assert_int_equal(e->delta->deletes[1]->kind, O8_REC_SUBSCRIBER);
		assert_string_equal(e->delta->deletes[1]->key, "001010000000009");
		break;
	case O8_WIRE_CONFIRM:
		assert_int_equal(e->confirm->version, 5);
		break;
	case O8_WIRE_DIGEST_REQUEST:
		assert_int_equal(e->digest_request->n_kinds, 2);
		assert_int_equal(e->digest_request->kinds[0], O8_REC_APN);
		assert_int_equal(e->digest_request->kinds[1], O8_REC_SUBSCRIBER);
		assert_int_equal(o8_wire_request_kinds(e),
				 1u << O8_REC_APN | 1u << O8_REC_SUBSCRIBER);
		break;
	case O8_WIRE_DIGEST_REPLY:
		assert_int_equal(e->digest_reply->n_kinds, O8_REC__COUNT - 1);
		assert_int_equal(e->digest_reply->n_records, NRECS);
		for (i = 0; i < NRECS; i++) {
			assert_int_equal(e->digest_reply->records[i]->kind, recp[i]->kind);
			assert_string_equal(e->digest_reply->records[i]->key, recp[i]->key);
			assert_digest(&e->digest_reply->records[i]->digest,
				      recp[i]->digest);
		}
		assert_false(e->digest_reply->more);
		break;
	default:
		fail();
	}
}

static void wire__round_trip_every_message(void **state)
{
	int t;

	(void)state;
	for (t = 1; t < O8_WIRE__COUNT; t++) {
		size_t len, len2;
		uint8_t *buf = frame_of((enum o8_wire_msg)t, &len), *again;
		Envelope *env;
		uint32_t n;

		n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
		    (uint32_t)buf[2] << 8 | buf[3];
		assert_int_equal(n + 4, len);   /* big-endian length of the body */
		env = decode_one(buf, len);
		check_fields((enum o8_wire_msg)t, env);
		/* decoding loses nothing: encoding again gives the same bytes */
		again = encode(env, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(again, buf, len);
		free(again);
		o8_wire_decoded_free(env);
		free(buf);
	}
}

static void wire__names_and_senders(void **state)
{
	static const struct { enum o8_wire_msg t; const char *name; enum o8_wire_role from; } v[] = {
		{ O8_WIRE_HELLO, "Hello", O8_WIRE_AGENT },
		{ O8_WIRE_STATE, "StateReport", O8_WIRE_AGENT },
		{ O8_WIRE_ACK, "Ack", O8_WIRE_AGENT },
		{ O8_WIRE_NACK, "Nack", O8_WIRE_AGENT },
		{ O8_WIRE_DELTA, "ConfigDelta", O8_WIRE_SERVER },
		{ O8_WIRE_CONFIRM, "Confirm", O8_WIRE_SERVER },
		{ O8_WIRE_DIGEST_REQUEST, "DigestRequest", O8_WIRE_SERVER },
		{ O8_WIRE_DIGEST_REPLY, "DigestReply", O8_WIRE_AGENT },
		{ O8_WIRE_WELCOME, "Welcome", O8_WIRE_SERVER },
	};
	size_t i;

	(void)state;
	assert_int_equal(NELEM(v), O8_WIRE__COUNT - 1);
	for (i = 0; i < NELEM(v); i++) {
		assert_string_equal(o8_wire_msg_name(v[i].t), v[i].name);
		assert_int_equal(o8_wire_msg_sender(v[i].t), v[i].from);
	}
	assert_string_equal(o8_wire_msg_name(O8_WIRE_NONE), "unknown message");
	assert_string_equal(o8_wire_msg_name(O8_WIRE__COUNT), "unknown message");
	assert_int_equal(o8_wire_msg_sender(O8_WIRE_NONE), 0);
	assert_int_equal(o8_wire_msg_type(NULL), O8_WIRE_NONE);
}

/* ------------------------------------------------------------------------ */
/* The decoder                                                              */

/* Every message's frame, one after the other. */
static uint8_t *stream_of_all(size_t *len, size_t *bounds)
{
	uint8_t *all = NULL, *f;
	size_t n = 0, flen;
	int t;

	for (t = 1; t < O8_WIRE__COUNT; t++) {
		f = frame_of((enum o8_wire_msg)t, &flen);
		all = realloc(all, n + flen);
		assert_non_null(all);
		memcpy(all + n, f, flen);
		n += flen;
		bounds[t - 1] = n;
		free(f);
	}
	*len = n;
	return all;
}

/* Feeds buf in pieces of step bytes (0: all at once); re-encodes each
 * envelope into out[i]; returns how many came out. */
static size_t feed_all(const uint8_t *buf, size_t len, size_t step,
		       uint8_t **out, size_t *outlen, size_t *ends)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_dec dec;
	size_t off = 0, n = 0, used, chunk;
	Envelope *env;

	o8_wire_dec_init(&dec, 0);
	while (off < len) {
		chunk = step && len - off > step ? step : len - off;
		assert_int_equal(o8_wire_dec_feed(&dec, buf + off, chunk, &used,
						  &env, &err), O8_OK);
		assert_true(used <= chunk);
		off += used;
		if (env) {
			ends[n] = off;
			out[n] = encode(env, &outlen[n]);
			n++;
			o8_wire_decoded_free(env);
		} else {
			assert_int_equal(used, chunk);  /* all taken, or a frame */
		}
	}
	assert_int_equal(o8_wire_dec_pending(&dec), 0);
	o8_wire_dec_done(&dec);
	return n;
}

static void wire__split_feeding_equals_one_shot(void **state)
{
	static const size_t steps[] = { 1, 2, 3, 4, 5, 7, 64 };
	size_t bounds[O8_WIRE__COUNT], len, n1, n2, s, i;
	uint8_t *all = stream_of_all(&len, bounds);
	uint8_t *one[O8_WIRE__COUNT], *two[O8_WIRE__COUNT];
	size_t onel[O8_WIRE__COUNT], twol[O8_WIRE__COUNT];
	size_t ends1[O8_WIRE__COUNT], ends2[O8_WIRE__COUNT];

	(void)state;
	/* one buffer of many frames: each call stops at the end of a frame */
	n1 = feed_all(all, len, 0, one, onel, ends1);
	assert_int_equal(n1, O8_WIRE__COUNT - 1);
	for (i = 0; i < n1; i++)
		assert_int_equal(ends1[i], bounds[i]);
	for (s = 0; s < NELEM(steps); s++) {
		n2 = feed_all(all, len, steps[s], two, twol, ends2);
		assert_int_equal(n2, n1);
		for (i = 0; i < n1; i++) {
			assert_int_equal(ends2[i], bounds[i]);
			assert_int_equal(twol[i], onel[i]);
			assert_memory_equal(two[i], one[i], onel[i]);
			free(two[i]);
		}
	}
	/* and the one-shot envelopes are the frames that went in */
	for (i = 0; i < n1; i++) {
		size_t start = i ? bounds[i - 1] : 0;
		assert_int_equal(onel[i], bounds[i] - start);
		assert_memory_equal(one[i], all + start, onel[i]);
		free(one[i]);
	}
	free(all);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Feeds buf whole to a fresh decoder of the given limit. */
static enum o8_rc feed_once(size_t max, const uint8_t *buf, size_t len,
			    size_t *used, size_t *allocs, struct o8_err *err)
{
	struct o8_wire_dec dec;
	Envelope *env = NULL;
	enum o8_rc rc, again;
	size_t u2;

	o8_wire_dec_init(&dec, max);
	rc = o8_wire_dec_feed(&dec, buf, len, used, &env, err);
	if (allocs)
		*allocs = dec.allocs;
	if (rc != O8_OK) {
		assert_null(env);
		/* a stopped decoder refuses everything, even a good frame */
		size_t flen;
		uint8_t *good = frame_of(O8_WIRE_CONFIRM, &flen);
		struct o8_err e2 = O8_ERR_INIT;
		again = o8_wire_dec_feed(&dec, good, flen, &u2, &env, &e2);
		assert_int_equal(again, rc);
		assert_int_equal(u2, 0);
		assert_null(env);
		free(good);
	}
	o8_wire_decoded_free(env);
	o8_wire_dec_done(&dec);
	return rc;
}

static void wire__limit_checked_before_allocating(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	uint8_t hdr[4 + 16];
	size_t used, allocs;
	struct o8_wire_dec dec;

	(void)state;
	/* 1 KiB + 1 against a 1 KiB limit: refused from the header alone */
	memset(hdr, 0, sizeof(hdr));
	put32(hdr, 1025);
	assert_int_equal(feed_once(1024, hdr, sizeof(hdr), &used, &allocs, &err),
			 O8_ELIMIT);
	assert_int_equal(allocs, 0);
	assert_int_equal(used, 4);      /* nothing read past the header */
	assert_string_equal(err.msg, "frame of 1025 bytes exceeds the limit of 1024 bytes");

	/* the default limit is 16 MiB */
	o8_err_clear(&err);
	o8_wire_dec_init(&dec, 0);
	assert_int_equal(dec.max_frame, 16u << 20);
	o8_wire_dec_done(&dec);
	put32(hdr, (16u << 20) + 1);
	assert_int_equal(feed_once(0, hdr, 4, &used, &allocs, &err), O8_ELIMIT);
	assert_int_equal(allocs, 0);

	/* exactly at the limit is fine, and memory follows what arrived:
	 * a 16 MiB announcement followed by 10 bytes holds 4 KiB */
	{
		Envelope *env = NULL;

		o8_err_clear(&err);
		o8_wire_dec_init(&dec, 0);
		put32(hdr, 16u << 20);
		assert_int_equal(o8_wire_dec_feed(&dec, hdr, 14, &used, &env, &err),
				 O8_OK);
		assert_null(env);
		assert_int_equal(used, 14);
		assert_int_equal(dec.allocs, 1);
		assert_true(dec.cap <= 4096);
		assert_int_equal(o8_wire_dec_pending(&dec), 14);
		o8_wire_dec_done(&dec);
	}
}

static void wire__bad_frames_are_invalid(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	uint8_t *good, *bad;
	size_t len, used;
	uint8_t garbage[4 + 8] = { 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff,
				   0xff, 0xff, 0xff, 0xff };
	uint8_t zero[4] = { 0, 0, 0, 0 };
	/* field 10 (a reserved tunnel frame), varint 1: no known message */
	uint8_t unknown[4 + 2] = { 0, 0, 0, 2, 0x50, 0x01 };
	/* an Envelope whose oneof is set to an empty Hello is fine ... */
	uint8_t empty_hello[4 + 2] = { 0, 0, 0, 2, 0x0a, 0x00 };
	Envelope *env;

	(void)state;
	/* truncated: the frame says it ends one byte early */
	good = frame_of(O8_WIRE_DELTA, &len);
	bad = malloc(len);
	assert_non_null(bad);
	memcpy(bad, good, len);
	put32(bad, (uint32_t)(len - 4 - 1));
	assert_int_equal(feed_once(0, bad, len - 1, &used, NULL, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "undecodable frame"));
	free(bad);
	free(good);

	o8_err_clear(&err);
	assert_int_equal(feed_once(0, garbage, sizeof(garbage), &used, NULL, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "undecodable frame of 8 bytes"));

	o8_err_clear(&err);
	assert_int_equal(feed_once(0, zero, sizeof(zero), &used, NULL, &err),
			 O8_EINVALID);
	assert_string_equal(err.msg, "empty frame");

	o8_err_clear(&err);
	assert_int_equal(feed_once(0, unknown, sizeof(unknown), &used, NULL, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "no message this orc8r knows"));

	/* a field numbered 0, its tag written in two bytes: protobuf-c keeps
	 * it, but could not read it back once sent on in one byte */
	{
		uint8_t zero_field[4 + 7] = { 0, 0, 0, 7, 0x32, 0x05, 0x08, 0x01,
					      0x80, 0x00, 0x01 };

		o8_err_clear(&err);
		assert_int_equal(feed_once(0, zero_field, sizeof(zero_field), &used,
					   NULL, &err), O8_EINVALID);
		assert_string_equal(err.msg, "frame of 7 bytes has a field numbered 0");
	}

	/* ... for the decoder; the session refuses its empty content */
	env = decode_one(empty_hello, sizeof(empty_hello));
	assert_int_equal(o8_wire_msg_type(env), O8_WIRE_HELLO);
	o8_wire_decoded_free(env);
}

static void wire__empty_envelope_is_not_encoded(void **state)
{
	Envelope env = ORC8R__V1__ENVELOPE__INIT;
	struct o8_err err = O8_ERR_INIT;
	uint8_t *buf = (uint8_t *)&env;
	size_t len = 99;

	(void)state;
	assert_int_equal(o8_wire_encode(&env, &buf, &len, &err), O8_EINVALID);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_int_equal(o8_wire_msg_type(&env), O8_WIRE_NONE);
}

/*
 * 2-byte empty records become an 88-byte struct and pointer each: the
 * decoder's allocation budget refuses such a frame instead of spending
 * ~40 times its size.
 */
static void wire__unpack_budget_refuses_amplification(void **state)
{
	enum { N = 20000 };
	struct o8_err err = O8_ERR_INIT;
	size_t inner = 2 * N, len, used, i;
	uint8_t *buf = malloc(4 + 1 + 5 + inner), *p;

	(void)state;
	assert_non_null(buf);
	p = buf + 4;
	*p++ = 0x2a;                    /* field 5 (delta), length-delimited */
	for (size_t v = inner; ; v >>= 7) {
		*p++ = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
		if (v < 0x80)
			break;
	}
	for (i = 0; i < N; i++) {
		*p++ = 0x22;            /* upserts: an empty Record */
		*p++ = 0x00;
	}
	len = (size_t)(p - buf);
	put32(buf, (uint32_t)(len - 4));
	assert_int_equal(feed_once(0, buf, len, &used, NULL, &err), O8_ELIMIT);
	assert_non_null(strstr(err.msg, "once decoded"));
	free(buf);
}

/* ------------------------------------------------------------------------ */
/* The session table                                                        */

enum { S_START, S_HELLO, S_IDLE, S_PENDING, S__COUNT };

/* Brings s to state st: the prefixes of a normal conversation. */
static Envelope *mk_delta(uint64_t from, uint64_t to, bool full,
			  const struct o8_record *const *up, size_t nup);

/* Brings s to state st: the prefixes of a normal conversation (Hello says
 * 5 is applied; the pending delta goes to 6, build()'s to 7). */
static void reach(struct o8_wire_session *s, int st)
{
	static const int len[S__COUNT] = { 0, 1, 2, 4 };
	char why[256];
	int i;

	for (i = 0; i < len[st]; i++) {
		Envelope *env = i == 2 ? mk_delta(5, 6, false, recp, 1) :
			build(i == 0 ? O8_WIRE_HELLO : i == 1 ? O8_WIRE_WELCOME :
			      O8_WIRE_DIGEST_REQUEST);
		if (o8_wire_session_check(s, o8_wire_msg_sender(o8_wire_msg_type(env)),
					  env, why, sizeof(why)))
			fail_msg("prefix %d refused: %s", i, why);
		o8_wire_built_free(env);
	}
}

/*
 * The expected verdict of every message from its rightful sender in each
 * state: NULL allowed, else a piece of the reason.  Written out by hand,
 * independently of the table in wire.c.
 */
static const char *const expect[S__COUNT][O8_WIRE__COUNT] = {
	[S_START] = {
		[O8_WIRE_HELLO] = NULL,
		[O8_WIRE_WELCOME] = "Welcome before Hello",
		[O8_WIRE_STATE] = "StateReport before Hello",
		[O8_WIRE_ACK] = "Ack before Hello",
		[O8_WIRE_NACK] = "Nack before Hello",
		[O8_WIRE_DELTA] = "ConfigDelta before Hello",
		[O8_WIRE_CONFIRM] = "Confirm before Hello",
		[O8_WIRE_DIGEST_REQUEST] = "DigestRequest before Hello",
		[O8_WIRE_DIGEST_REPLY] = "DigestReply before Hello",
	},
	[S_HELLO] = {
		[O8_WIRE_HELLO] = "Hello twice",
		[O8_WIRE_WELCOME] = NULL,
		[O8_WIRE_STATE] = "StateReport before Welcome",
		[O8_WIRE_ACK] = "Ack before Welcome",
		[O8_WIRE_NACK] = "Nack before Welcome",
		[O8_WIRE_DELTA] = "ConfigDelta before Welcome",
		[O8_WIRE_CONFIRM] = "Confirm before Welcome",
		[O8_WIRE_DIGEST_REQUEST] = "DigestRequest before Welcome",
		[O8_WIRE_DIGEST_REPLY] = "DigestReply before Welcome",
	},
	[S_IDLE] = {
		[O8_WIRE_HELLO] = "Hello twice",
		[O8_WIRE_WELCOME] = "Welcome twice",
		[O8_WIRE_STATE] = NULL,
		[O8_WIRE_ACK] = "Ack of version 6 without a pending ConfigDelta",
		[O8_WIRE_NACK] = "Nack of version 6 without a pending ConfigDelta",
		[O8_WIRE_DELTA] = NULL,
		[O8_WIRE_CONFIRM] = NULL,
		[O8_WIRE_DIGEST_REQUEST] = NULL,
		[O8_WIRE_DIGEST_REPLY] = "DigestReply without a DigestRequest",
	},
	[S_PENDING] = {
		[O8_WIRE_HELLO] = "Hello twice",
		[O8_WIRE_WELCOME] = "Welcome twice",
		/* everything else: allowed */
	},
};

static void wire__session_table(void **state)
{
	struct o8_wire_session s;
	char why[256];
	int st, t, side;

	(void)state;
	for (side = O8_WIRE_AGENT; side <= O8_WIRE_SERVER; side++)
	for (st = 0; st < S__COUNT; st++)
	for (t = 1; t < O8_WIRE__COUNT; t++) {
		enum o8_wire_role from = o8_wire_msg_sender((enum o8_wire_msg)t);
		enum o8_wire_role other = from == O8_WIRE_AGENT ? O8_WIRE_SERVER : O8_WIRE_AGENT;
		Envelope *env = build((enum o8_wire_msg)t);
		int rc;

		/* from its rightful sender */
		o8_wire_session_init(&s, (enum o8_wire_role)side);
		reach(&s, st);
		why[0] = '\0';
		rc = o8_wire_session_check(&s, from, env, why, sizeof(why));
		if (!expect[st][t]) {
			if (rc != 0)
				fail_msg("state %d, %s: refused: %s", st,
					 o8_wire_msg_name((enum o8_wire_msg)t), why);
		} else {
			assert_int_equal(rc, -1);
			if (!strstr(why, expect[st][t]))
				fail_msg("state %d, %s: '%s' lacks '%s'", st,
					 o8_wire_msg_name((enum o8_wire_msg)t), why,
					 expect[st][t]);
		}

		/* from the other side: never */
		o8_wire_session_init(&s, (enum o8_wire_role)side);
		reach(&s, st);
		assert_int_equal(o8_wire_session_check(&s, other, env, why,
						       sizeof(why)), -1);
		assert_non_null(strstr(why, from == O8_WIRE_AGENT ?
				       "from syncd (only the agent sends it)" :
				       "from the agent (only syncd sends it)"));
		o8_wire_built_free(env);

		/* no message at all, or one unknown here */
		{
			Envelope none = ORC8R__V1__ENVELOPE__INIT;

			o8_wire_session_init(&s, (enum o8_wire_role)side);
			reach(&s, st);
			assert_int_equal(o8_wire_session_check(&s, from, &none, why,
							       sizeof(why)), -1);
			assert_string_equal(why, "unknown message");
			none.msg_case = (Orc8r__V1__Envelope__MsgCase)O8_WIRE__COUNT;
			o8_wire_session_init(&s, (enum o8_wire_role)side);
			assert_int_equal(o8_wire_session_check(&s, from, &none, why,
							       sizeof(why)), -1);
			assert_string_equal(why, "unknown message");
		}
	}
}

/* Checks env from its sender on both sessions; both must agree. */
static int both(struct o8_wire_session *a, struct o8_wire_session *s,
		Envelope *env, char *why)
{
	enum o8_wire_role from = o8_wire_msg_sender(o8_wire_msg_type(env));
	char why2[256];
	int ra = o8_wire_session_check(a, from, env, why, 256);
	int rs = o8_wire_session_check(s, from, env, why2, sizeof(why2));

	assert_int_equal(ra, rs);
	o8_wire_built_free(env);
	return ra;
}

static Envelope *mk_delta(uint64_t from, uint64_t to, bool full,
			  const struct o8_record *const *up, size_t nup)
{
	struct o8_wire_delta d = { from, to, "c0ffee", up, nup, NULL, 0, full };
	struct o8_err err = O8_ERR_INIT;
	Envelope *env;

	assert_int_equal(o8_wire_build_delta(&env, &d, &err), O8_OK);
	return env;
}

static Envelope *mk_ack(uint64_t v)
{
	struct o8_err err = O8_ERR_INIT;
	Envelope *env;

	assert_int_equal(o8_wire_build_ack(&env, v, "c0ffee", &err), O8_OK);
	return env;
}

static Envelope *mk_confirm(uint64_t v)
{
	struct o8_err err = O8_ERR_INIT;
	Envelope *env;

	assert_int_equal(o8_wire_build_confirm(&env, v, &err), O8_OK);
	return env;
}

static Envelope *mk_hello(uint32_t protocol, const char *id, uint64_t applied)
{
	struct o8_err err = O8_ERR_INIT;
	Envelope *env;

	assert_int_equal(o8_wire_build_hello(&env, id, "x", applied, NULL, NULL,
					     &err), O8_OK);
	env->hello->protocol_version = protocol;
	return env;
}

static Envelope *mk_welcome(uint32_t protocol)
{
	struct o8_err err = O8_ERR_INIT;
	Envelope *env;

	assert_int_equal(o8_wire_build_welcome(&env, "y", 1, &err), O8_OK);
	env->welcome->protocol_version = protocol;
	return env;
}

/* Checks env on one session only, then frees it. */
static int one(struct o8_wire_session *x, Envelope *env, char *why)
{
	int rc = o8_wire_session_check(x, o8_wire_msg_sender(o8_wire_msg_type(env)),
				       env, why, 256);

	o8_wire_built_free(env);
	return rc;
}

/* Sends every frame of a split delta or digest reply through both sessions. */
static int send_chunks(struct o8_wire_session *a, struct o8_wire_session *s,
		       const struct o8_wire_delta *d,
		       const struct o8_wire_digests *ds, size_t max, char *why)
{
	struct o8_err err = O8_ERR_INIT;
	size_t pos = 0, len, used;
	bool last = false;
	int chunks = 0;
	uint8_t *f;

	do {
		struct o8_wire_dec dec;
		Envelope *env = NULL;
		int ra, rs;

		if (d)
			assert_int_equal(o8_wire_delta_next(d, &pos, max, &f, &len,
							    &last, &err), O8_OK);
		else
			assert_int_equal(o8_wire_digest_reply_next(ds, &pos, max, &f,
								   &len, &last, &err),
					 O8_OK);
		assert_true(len - 4 <= max);
		o8_wire_dec_init(&dec, max);
		assert_int_equal(o8_wire_dec_feed(&dec, f, len, &used, &env, &err),
				 O8_OK);
		assert_non_null(env);
		assert_int_equal(used, len);
		assert_int_equal(d ? env->delta->more : env->digest_reply->more, !last);
		ra = o8_wire_session_check(a, d ? O8_WIRE_SERVER : O8_WIRE_AGENT,
					   env, why, 256);
		rs = o8_wire_session_check(s, d ? O8_WIRE_SERVER : O8_WIRE_AGENT,
					   env, why, 256);
		assert_int_equal(ra, 0);
		assert_int_equal(rs, 0);
		o8_wire_decoded_free(env);
		o8_wire_dec_done(&dec);
		free(f);
		chunks++;
	} while (!last);
	return chunks;
}

static void wire__normal_conversations_pass(void **state)
{
	struct o8_wire_session a, s;
	struct o8_wire_kind_digests kd;
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_delta d = { 0 };
	struct o8_wire_digests ds = { 0 };
	Envelope *d3, *a2;
	char why[256] = "";

	(void)state;
	mk_recs();
	o8_wire_session_init(&a, O8_WIRE_AGENT);
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	assert_int_equal(a.role, O8_WIRE_AGENT);
	assert_int_equal(both(&a, &s, mk_hello(1, "lab/agw-1", 0), why), 0);
	assert_int_equal(a.protocol, 0);
	assert_int_equal(both(&a, &s, mk_welcome(1), why), 0);
	assert_int_equal(a.protocol, 1);
	assert_int_equal(s.protocol, 1);
	assert_int_equal(both(&a, &s, build(O8_WIRE_STATE), why), 0);

	/* a snapshot in several frames, then its one Ack and the Confirm */
	d.to_version = 1;
	d.upserts = recp;
	d.nupserts = NRECS;
	d.full = true;
	assert_true(send_chunks(&a, &s, &d, NULL, 200, why) > 1);
	assert_int_equal(both(&a, &s, mk_ack(1), why), 0);
	assert_int_equal(both(&a, &s, mk_confirm(1), why), 0);

	/* pipelined deltas with a crossing answer: syncd sees D2 D3 A2, the
	 * agent D2 A2 D3; both accept */
	assert_int_equal(both(&a, &s, mk_delta(1, 2, false, recp, 1), why), 0);
	d3 = mk_delta(2, 3, false, recp + 1, 1);
	a2 = mk_ack(2);
	assert_int_equal(o8_wire_session_check(&s, O8_WIRE_SERVER, d3, why, 256), 0);
	assert_int_equal(o8_wire_session_check(&s, O8_WIRE_AGENT, a2, why, 256), 0);
	assert_int_equal(o8_wire_session_check(&a, O8_WIRE_AGENT, a2, why, 256), 0);
	assert_int_equal(o8_wire_session_check(&a, O8_WIRE_SERVER, d3, why, 256), 0);
	o8_wire_built_free(d3);
	o8_wire_built_free(a2);
	{
		struct o8_err e = O8_ERR_INIT;
		Envelope *n3;

		assert_int_equal(o8_wire_build_nack(&n3, 3, "reload hook failed", &e),
				 O8_OK);
		assert_int_equal(both(&a, &s, n3, why), 0);
	}
	assert_int_equal(both(&a, &s, mk_confirm(2), why), 0);

	/* drift repair: request, a reply in several frames, a repair delta */
	assert_int_equal(both(&a, &s, build(O8_WIRE_DIGEST_REQUEST), why), 0);
	assert_int_equal(o8_wire_kind_digests_of(&kd, recp, NRECS, &err), O8_OK);
	ds.kd = &kd;
	ds.recs = recp;
	ds.n = NRECS;
	ds.kinds = 1u << O8_REC_APN | 1u << O8_REC_SUBSCRIBER;
	assert_true(send_chunks(&a, &s, NULL, &ds, 120, why) > 1);
	assert_int_equal(both(&a, &s, mk_delta(3, 4, false, recp + 3, 2), why), 0);
	assert_int_equal(both(&a, &s, mk_ack(4), why), 0);
	assert_int_equal(both(&a, &s, mk_confirm(4), why), 0);
	assert_int_equal(both(&a, &s, build(O8_WIRE_STATE), why), 0);

	/* a reconnect: a new session, Hello reports 4 applied, Confirm it */
	o8_wire_session_init(&a, O8_WIRE_AGENT);
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	assert_int_equal(both(&a, &s, mk_hello(1, "lab/agw-1", 4), why), 0);
	assert_int_equal(both(&a, &s, mk_welcome(1), why), 0);
	assert_int_equal(both(&a, &s, mk_confirm(4), why), 0);
	assert_int_equal(both(&a, &s, mk_delta(4, 5, false, recp, 2), why), 0);
}

static void wire__refused_session_stays_refused(void **state)
{
	struct o8_wire_session s;
	char why[256];

	(void)state;
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	assert_int_equal(one(&s, build(O8_WIRE_DELTA), why), -1);
	assert_string_equal(why, "ConfigDelta before Hello");
	/* even a perfect Hello cannot revive it */
	assert_int_equal(one(&s, build(O8_WIRE_HELLO), why), -1);
	assert_string_equal(why, "connection already refused");
	/* no reason buffer is fine too */
	assert_int_equal(o8_wire_session_check(&s, O8_WIRE_AGENT, NULL, NULL, 0), -1);
}

static void wire__protocol_versions(void **state)
{
	struct o8_wire_session s;
	char why[256];

	(void)state;
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	assert_int_equal(one(&s, mk_hello(0, "lab/agw-1", 0), why), -1);
	assert_string_equal(why, "agent speaks protocol 0, syncd needs at least 1: "
			    "upgrade agwd");

	o8_wire_session_init(&s, O8_WIRE_AGENT);
	assert_int_equal(one(&s, mk_hello(1, "lab/agw-1", 0), why), 0);
	assert_int_equal(one(&s, mk_welcome(0), why), -1);
	assert_string_equal(why, "syncd speaks protocol 0, agwd needs at least 1: "
			    "upgrade syncd");

	/* a newer agent meets this syncd: both speak the lower version */
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	assert_int_equal(one(&s, mk_hello(7, "lab/agw-1", 0), why), 0);
	assert_int_equal(one(&s, mk_welcome(O8_WIRE_PROTOCOL_VERSION), why), 0);
	assert_int_equal(s.protocol, O8_WIRE_PROTOCOL_VERSION);
	/* and a newer syncd meets this agent */
	o8_wire_session_init(&s, O8_WIRE_AGENT);
	assert_int_equal(one(&s, mk_hello(O8_WIRE_PROTOCOL_VERSION, "lab/agw-1", 0),
			     why), 0);
	assert_int_equal(one(&s, mk_welcome(9), why), 0);
	assert_int_equal(s.protocol, O8_WIRE_PROTOCOL_VERSION);
}

/* A session in the open state, Hello having reported applied version 5. */
static void open_session(struct o8_wire_session *s)
{
	o8_wire_session_init(s, O8_WIRE_AGENT);
	reach(s, S_IDLE);
}

static void wire__version_rules(void **state)
{
	struct o8_wire_session s;
	char why[256];

	(void)state;
	mk_recs();
	/* replay of an older delta */
	open_session(&s);
	assert_int_equal(one(&s, mk_delta(5, 6, false, recp, 1), why), 0);
	assert_int_equal(one(&s, mk_delta(4, 6, false, recp, 1), why), -1);
	assert_string_equal(why, "ConfigDelta to version 6 after version 6 "
			    "(replayed or out of order)");
	/* going nowhere */
	open_session(&s);
	assert_int_equal(one(&s, mk_delta(6, 6, false, recp, 1), why), -1);
	assert_string_equal(why, "ConfigDelta from version 6 to 6 does not go forward");
	/* a new version while one is incomplete */
	{
		Envelope *e = mk_delta(5, 6, false, recp, 1);

		open_session(&s);
		e->delta->more = 1;
		assert_int_equal(one(&s, e, why), 0);
		assert_int_equal(one(&s, mk_delta(6, 7, false, recp, 1), why), -1);
		assert_string_equal(why, "ConfigDelta to version 7 while version 6 "
				    "is incomplete");
	}
	/* an Ack must wait for the last frame of its delta */
	{
		Envelope *e = mk_delta(5, 6, false, recp, 1);

		open_session(&s);
		e->delta->more = 1;
		assert_int_equal(one(&s, e, why), 0);
		assert_int_equal(one(&s, mk_ack(6), why), -1);
		assert_non_null(strstr(why, "without a pending ConfigDelta"));
	}
	/* an Ack of a version never sent, and one answered twice */
	open_session(&s);
	assert_int_equal(one(&s, mk_delta(5, 6, false, recp, 1), why), 0);
	assert_int_equal(one(&s, mk_ack(9), why), -1);
	assert_string_equal(why, "Ack of version 9, which is not pending "
			    "(answered up to 0, sent up to 6)");
	open_session(&s);
	assert_int_equal(one(&s, mk_delta(5, 6, false, recp, 1), why), 0);
	assert_int_equal(one(&s, mk_delta(6, 7, false, recp, 1), why), 0);
	assert_int_equal(one(&s, mk_ack(6), why), 0);
	assert_int_equal(one(&s, mk_ack(6), why), -1);
	assert_non_null(strstr(why, "Ack of version 6, which is not pending"));
	/* Confirm of a version the agent did not apply (Hello said 5) */
	open_session(&s);
	assert_int_equal(one(&s, mk_confirm(6), why), -1);
	assert_string_equal(why, "Confirm of version 6, which the agent has not "
			    "applied (it applied 5)");
	open_session(&s);
	assert_int_equal(one(&s, mk_confirm(0), why), -1);
	/* a Nack does not count as applied */
	open_session(&s);
	assert_int_equal(one(&s, mk_delta(5, 6, false, recp, 1), why), 0);
	assert_int_equal(one(&s, build(O8_WIRE_NACK), why), 0);
	assert_int_equal(one(&s, mk_confirm(6), why), -1);
}

static void wire__content_rules(void **state)
{
	static const char *const bad_ids[] = { "", "lab", "/agw", "lab/", "a/b/c" };
	struct o8_wire_session s;
	char why[256];
	Envelope *e;
	size_t i;

	(void)state;
	mk_recs();
	for (i = 0; i < NELEM(bad_ids); i++) {
		o8_wire_session_init(&s, O8_WIRE_SERVER);
		assert_int_equal(one(&s, mk_hello(1, bad_ids[i], 0), why), -1);
		assert_non_null(strstr(why, "expected 'network/gateway'"));
	}
	/* peer text in a reason is shortened and made printable */
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	assert_int_equal(one(&s, mk_hello(1, "evil\nline\x1b[31m-and-then-a-very-long-"
					  "tail-that-goes-on-and-on", 0), why), -1);
	assert_null(strchr(why, '\n'));
	assert_null(strchr(why, '\x1b'));
	assert_non_null(strstr(why, "evil?line?[31m-"));
	assert_non_null(strstr(why, "...'"));

	/* unknown status, unnamed and non-finite KPIs */
	open_session(&s);
	e = build(O8_WIRE_STATE);
	e->state->status = (Orc8r__V1__AgwStatus)42;
	assert_int_equal(one(&s, e, why), -1);
	assert_string_equal(why, "StateReport with unknown status 42");
	open_session(&s);
	e = build(O8_WIRE_STATE);
	e->state->kpis[1]->value = NAN;
	assert_int_equal(one(&s, e, why), -1);
	assert_string_equal(why, "StateReport: KPI 'ues_attached' is not a finite number");
	open_session(&s);
	e = build(O8_WIRE_STATE);
	e->state->kpis[0]->name = (char *)"";
	assert_int_equal(one(&s, e, why), -1);

	/* a full delta with deletes */
	open_session(&s);
	e = build(O8_WIRE_DELTA);
	e->delta->full = 1;
	assert_int_equal(one(&s, e, why), -1);
	assert_string_equal(why, "full ConfigDelta with deletes");
	/* upserts out of order, twice, or without a key or network */
	open_session(&s);
	{
		const struct o8_record *swapped[2] = { recp[1], recp[0] };
		assert_int_equal(one(&s, mk_delta(5, 6, false, swapped, 2), why), -1);
		assert_string_equal(why, "ConfigDelta upserts: Network 'lab' after "
				    "Gateway 'agw-1' (not sorted by kind and key, "
				    "or twice)");
	}
	open_session(&s);
	{
		const struct o8_record *dup[2] = { recp[3], recp[3] };
		assert_int_equal(one(&s, mk_delta(5, 6, false, dup, 2), why), -1);
		assert_non_null(strstr(why, "or twice"));
	}
	open_session(&s);
	e = mk_delta(5, 6, false, recp, 2);
	e->delta->upserts[1]->network = (char *)"";
	assert_int_equal(one(&s, e, why), -1);
	assert_string_equal(why, "ConfigDelta upserts: Gateway 'agw-1' without a network");
	open_session(&s);
	e = mk_delta(5, 6, false, recp, 2);
	e->delta->upserts[0]->digest.len = 31;
	assert_int_equal(one(&s, e, why), -1);
	assert_non_null(strstr(why, "digest of 31 bytes, expected 32"));
	open_session(&s);
	e = mk_delta(5, 6, false, recp, 2);
	e->delta->upserts[0]->kind = (Orc8r__V1__RecordKind)0;
	assert_int_equal(one(&s, e, why), -1);
	assert_string_equal(why, "ConfigDelta upserts: record of unknown kind 0");
	/* a key both upserted and deleted */
	open_session(&s);
	{
		struct o8_err err = O8_ERR_INIT;
		struct o8_wire_key k = { O8_REC_GATEWAY, "agw-1" };
		struct o8_wire_delta d = { 5, 6, NULL, recp, 2, &k, 1, false };

		assert_int_equal(o8_wire_build_delta(&e, &d, &err), O8_OK);
		assert_int_equal(one(&s, e, why), -1);
		assert_string_equal(why, "ConfigDelta both upserts and deletes "
				    "Gateway 'agw-1'");
	}
	/* digest requests and replies */
	open_session(&s);
	{
		struct o8_err err = O8_ERR_INIT;
		enum o8_rec_kind k[2] = { O8_REC_SUBSCRIBER, O8_REC_APN };

		assert_int_equal(o8_wire_build_digest_request(&e, k, 2, &err), O8_OK);
		assert_int_equal(one(&s, e, why), -1);
		assert_non_null(strstr(why, "kinds not in order"));
		open_session(&s);
		k[1] = (enum o8_rec_kind)99;
		assert_int_equal(o8_wire_build_digest_request(&e, k, 2, &err), O8_OK);
		assert_int_equal(one(&s, e, why), -1);
		assert_string_equal(why, "DigestRequest for unknown record kind 99");
	}
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	reach(&s, S_PENDING);
	e = build(O8_WIRE_DIGEST_REPLY);
	e->digest_reply->kinds[2]->digest.len = 0;
	assert_int_equal(one(&s, e, why), -1);
	assert_string_equal(why, "DigestReply: ENodeB digest of 0 bytes, expected 32");
	/* a message without content */
	open_session(&s);
	{
		Envelope none = ORC8R__V1__ENVELOPE__INIT;

		none.msg_case = ORC8R__V1__ENVELOPE__MSG_CONFIRM;
		assert_int_equal(o8_wire_session_check(&s, O8_WIRE_SERVER, &none,
						       why, sizeof(why)), -1);
		assert_string_equal(why, "Confirm without content");
	}
}

/* ------------------------------------------------------------------------ */
/* Splitting into frames                                                    */

static void wire__delta_splits_within_the_limit(void **state)
{
	enum { N = 300 };
	struct rec *many = calloc(N, sizeof(*many));
	const struct o8_record **pv = calloc(N, sizeof(*pv));
	struct o8_wire_key del[3] = {
		{ O8_REC_APN, "old-1" }, { O8_REC_APN, "old-2" }, { O8_REC_APN, "old-3" },
	};
	struct o8_wire_delta d = { 7, 8, "abc", NULL, N, del, 3, false };
	struct o8_err err = O8_ERR_INIT;
	size_t pos = 0, len, got = 0, gotdel = 0, frames = 0, i, max = 1024;
	bool last = false;
	uint8_t *f;

	(void)state;
	assert_non_null(many);
	assert_non_null(pv);
	for (i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "0010100000%05zu", i);
		mk_rec(&many[i], O8_REC_SUBSCRIBER, key, 50 + i % 100);
		pv[i] = &many[i].r;
	}
	d.upserts = pv;
	do {
		Envelope *env;

		assert_int_equal(o8_wire_delta_next(&d, &pos, max, &f, &len, &last,
						    &err), O8_OK);
		assert_true(len - 4 <= max);
		env = decode_one(f, len);
		assert_int_equal(env->delta->from_version, 7);
		assert_int_equal(env->delta->to_version, 8);
		assert_string_equal(env->delta->commit, "abc");
		assert_int_equal(env->delta->more, !last);
		/* records come in order, none lost, none twice */
		for (i = 0; i < env->delta->n_upserts; i++, got++) {
			struct o8_record view;
			assert_int_equal(o8_wire_record_view(&view, env->delta->upserts[i],
							     &err), O8_OK);
			assert_string_equal(view.key, pv[got]->key);
			assert_memory_equal(view.digest, pv[got]->digest, 32);
		}
		for (i = 0; i < env->delta->n_deletes; i++, gotdel++)
			assert_string_equal(env->delta->deletes[i]->key, del[gotdel].key);
		/* frames are filled: a record takes at most ~215 bytes, so
		 * only the last frame may have room for one more */
		if (!last)
			assert_true(len - 4 > max - 230);
		o8_wire_decoded_free(env);
		free(f);
		frames++;
	} while (!last);
	assert_int_equal(got, N);
	assert_int_equal(gotdel, 3);
	assert_true(frames > 10);
	assert_int_equal(pos, N + 3);

	/* an empty delta is one frame */
	pos = 0;
	d.nupserts = d.ndeletes = 0;
	assert_int_equal(o8_wire_delta_next(&d, &pos, 0, &f, &len, &last, &err), O8_OK);
	assert_true(last);
	free(f);

	/* a record bigger than a frame */
	pos = 0;
	d.nupserts = 1;
	assert_int_equal(o8_wire_delta_next(&d, &pos, 64, &f, &len, &last, &err),
			 O8_ELIMIT);
	assert_null(f);
	assert_non_null(strstr(err.msg, "Subscriber '001010000000000' needs"));
	o8_err_clear(&err);
	/* a position past the end */
	pos = 99;
	assert_int_equal(o8_wire_delta_next(&d, &pos, 0, &f, &len, &last, &err),
			 O8_EINVALID);
	free(pv);
	free(many);
}

static void wire__digest_reply_filters_and_splits(void **state)
{
	struct o8_wire_kind_digests kd;
	struct o8_wire_digests ds = { 0 };
	struct o8_err err = O8_ERR_INIT;
	size_t pos = 0, len, got = 0, frames = 0, i;
	bool last = false;
	uint8_t *f;

	(void)state;
	mk_recs();
	assert_int_equal(o8_wire_kind_digests_of(&kd, recp, NRECS, &err), O8_OK);
	ds.kd = &kd;
	ds.recs = recp;
	ds.n = NRECS;
	ds.kinds = 1u << O8_REC_SUBSCRIBER | 1u << O8_REC_NETWORK;
	do {
		Envelope *env;

		assert_int_equal(o8_wire_digest_reply_next(&ds, &pos, 100, &f, &len,
							   &last, &err), O8_OK);
		assert_true(len - 4 <= 100);
		env = decode_one(f, len);
		/* kind digests, of the asked kinds, in the first frame only */
		if (frames == 0) {
			assert_int_equal(env->digest_reply->n_kinds, 2);
			assert_int_equal(env->digest_reply->kinds[0]->kind, O8_REC_NETWORK);
			assert_digest(&env->digest_reply->kinds[1]->digest,
				      kd.digest[O8_REC_SUBSCRIBER]);
		} else {
			assert_int_equal(env->digest_reply->n_kinds, 0);
		}
		for (i = 0; i < env->digest_reply->n_records; i++, got++) {
			int k = env->digest_reply->records[i]->kind;
			assert_true(k == O8_REC_SUBSCRIBER || k == O8_REC_NETWORK);
		}
		o8_wire_decoded_free(env);
		free(f);
		frames++;
	} while (!last);
	assert_int_equal(got, 3);       /* the network and two subscribers */
	assert_true(frames > 1);
}

/* ------------------------------------------------------------------------ */
/* Digests                                                                  */

static void wire__kind_digests_follow_the_definition(void **state)
{
	static const uint8_t empty[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	struct o8_wire_kind_digests kd, kd2;
	struct o8_wire_digester *dg;
	struct o8_err err = O8_ERR_INIT;
	uint8_t buf[2 * (16 + 32)], want[32];
	size_t n = 0, i;

	(void)state;
	mk_recs();
	assert_int_equal(o8_wire_kind_digests_of(&kd, recp, NRECS, &err), O8_OK);
	/* subscribers: key, NUL, digest, for each in key order */
	for (i = 3; i <= 4; i++) {
		memcpy(buf + n, recp[i]->key, strlen(recp[i]->key) + 1);
		n += strlen(recp[i]->key) + 1;
		memcpy(buf + n, recp[i]->digest, 32);
		n += 32;
	}
	sha256(buf, n, want);
	assert_memory_equal(kd.digest[O8_REC_SUBSCRIBER], want, 32);
	/* kinds without records: the digest of nothing */
	assert_memory_equal(kd.digest[O8_REC_ENODEB], empty, 32);
	assert_memory_equal(kd.digest[O8_REC_POLICY], empty, 32);
	assert_memory_not_equal(kd.digest[O8_REC_TIER], empty, 32);

	/* the streaming digester agrees */
	assert_int_equal(o8_wire_digester_new(&dg, &err), O8_OK);
	for (i = 0; i < NRECS; i++)
		assert_int_equal(o8_wire_digester_add(dg, recp[i]->kind, recp[i]->key,
						      recp[i]->digest, &err), O8_OK);
	o8_wire_digester_finish(dg, &kd2);
	o8_wire_digester_free(dg);
	assert_memory_equal(&kd2, &kd, sizeof(kd));

	/* out of order and duplicates are refused */
	{
		const struct o8_record *bad[2] = { recp[4], recp[3] };
		assert_int_equal(o8_wire_kind_digests_of(&kd, bad, 2, &err), O8_EINVALID);
		assert_non_null(strstr(err.msg, "records not sorted by kind and key"));
	}
	o8_err_clear(&err);
	assert_int_equal(o8_wire_digester_new(&dg, &err), O8_OK);
	assert_int_equal(o8_wire_digester_add(dg, O8_REC_APN, "a", recp[0]->digest,
					      &err), O8_OK);
	assert_int_equal(o8_wire_digester_add(dg, O8_REC_APN, "a", recp[0]->digest,
					      &err), O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_wire_digester_add(dg, O8_REC_NETWORK, "z", recp[0]->digest,
					      &err), O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_wire_digester_add(dg, 0, "z", recp[0]->digest, &err),
			 O8_EINVALID);
	o8_wire_digester_free(dg);
	o8_wire_digester_free(NULL);
}

static void wire__record_view_checks_the_digest(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_record view;
	Envelope *env;
	uint8_t *f;
	size_t len;

	(void)state;
	f = frame_of(O8_WIRE_DELTA, &len);
	env = decode_one(f, len);
	assert_int_equal(o8_wire_record_view(&view, env->delta->upserts[1], &err), O8_OK);
	assert_int_equal(view.kind, O8_REC_GATEWAY);
	assert_string_equal(view.network, "lab");
	assert_string_equal(view.key, "agw-1");
	assert_int_equal(view.len, recp[1]->len);
	assert_memory_equal(view.body, recp[1]->body, view.len);
	assert_memory_equal(view.digest, recp[1]->digest, 32);
	/* the view borrows from the envelope */
	assert_ptr_equal(view.body, env->delta->upserts[1]->body.data);

	env->delta->upserts[1]->body.data[0] ^= 1;
	assert_int_equal(o8_wire_record_view(&view, env->delta->upserts[1], &err),
			 O8_EINVALID);
	assert_string_equal(err.msg, "record Gateway 'agw-1': digest does not match "
			    "its body");
	o8_err_clear(&err);
	{
		/* protobuf-c frees the key: put the decoded one back after */
		char *key = env->delta->upserts[0]->key;

		env->delta->upserts[0]->key = (char *)"";
		assert_int_equal(o8_wire_record_view(&view, env->delta->upserts[0],
						     &err), O8_EINVALID);
		assert_string_equal(err.msg, "Network record without a network or a key");
		env->delta->upserts[0]->key = key;
	}
	o8_wire_decoded_free(env);
	free(f);
}

/*
 * What one exchange may hold over all its frames (issue 16): an endless
 * more=true DigestReply or ConfigDelta is refused once it passes
 * O8_WIRE_MAX_EXCHANGE_RECORDS or _BYTES, and the totals start again after
 * a complete one; a StateReport holds at most O8_WIRE_MAX_KPIS KPIs with
 * short names, and texts are short.
 */
#define REPLY_RECORDS (O8_WIRE_MAX_EXCHANGE_RECORDS / 4)

static void wire__exchange_limits(void **state)
{
	static uint8_t zero[32];
	struct o8_wire_session s;
	struct o8_err err = O8_ERR_INIT;
	Orc8r__V1__DigestReply reply = ORC8R__V1__DIGEST_REPLY__INIT;
	Envelope renv = ORC8R__V1__ENVELOPE__INIT;
	Orc8r__V1__RecordDigest *rd, **rdp;
	struct o8_wire_kpi many[O8_WIRE_MAX_KPIS + 1];
	char (*keys)[16], name[O8_WIRE_MAX_KPI_NAME + 2], why[256];
	struct rec big;
	const struct o8_record *bigp = &big.r;
	uint8_t *body;
	Envelope *env;
	int i;

	(void)state;
	mk_recs();
	/* an endless DigestReply: four frames of a quarter of the records */
	rd = calloc(REPLY_RECORDS, sizeof(*rd));
	rdp = calloc(REPLY_RECORDS, sizeof(*rdp));
	keys = calloc(REPLY_RECORDS, sizeof(*keys));
	assert_true(rd && rdp && keys);
	for (i = 0; i < (int)REPLY_RECORDS; i++) {
		orc8r__v1__record_digest__init(&rd[i]);
		snprintf(keys[i], sizeof(keys[i]), "%010d", i);
		rd[i].kind = ORC8R__V1__RECORD_KIND__RECORD_KIND_SUBSCRIBER;
		rd[i].key = keys[i];
		rd[i].digest.data = zero;
		rd[i].digest.len = 32;
		rdp[i] = &rd[i];
	}
	reply.records = rdp;
	reply.n_records = REPLY_RECORDS;
	reply.more = true;
	renv.msg_case = ORC8R__V1__ENVELOPE__MSG_DIGEST_REPLY;
	renv.digest_reply = &reply;
	o8_wire_session_init(&s, O8_WIRE_AGENT);
	reach(&s, S_PENDING);
	for (i = 0; i < 4; i++)
		assert_int_equal(o8_wire_session_check(&s, O8_WIRE_AGENT, &renv, why,
						       sizeof(why)), 0);
	assert_int_equal(o8_wire_session_check(&s, O8_WIRE_AGENT, &renv, why,
					       sizeof(why)), -1);
	assert_string_equal(why, "DigestReply of more than 1048576 records (over "
			    "its frames)");
	/* ... while a complete one starts the count again */
	o8_wire_session_init(&s, O8_WIRE_AGENT);
	reach(&s, S_PENDING);
	for (i = 0; i < 3; i++)
		assert_int_equal(o8_wire_session_check(&s, O8_WIRE_AGENT, &renv, why,
						       sizeof(why)), 0);
	reply.more = false;
	assert_int_equal(o8_wire_session_check(&s, O8_WIRE_AGENT, &renv, why,
					       sizeof(why)), 0);
	assert_int_equal(one(&s, build(O8_WIRE_DIGEST_REQUEST), why), 0);
	reply.more = true;
	for (i = 0; i < 4; i++)
		assert_int_equal(o8_wire_session_check(&s, O8_WIRE_AGENT, &renv, why,
						       sizeof(why)), 0);
	free(rd);
	free(rdp);
	free(keys);

	/* an endless ConfigDelta of 8 MiB frames: refused past 128 MiB */
	assert_non_null(body = calloc(1, 8u << 20));
	mk_rec(&big, O8_REC_SUBSCRIBER, "001010000000001", 0);
	big.r.body = body;
	big.r.len = 8u << 20;
	open_session(&s);
	for (i = 0; i < 16; i++) {
		env = mk_delta(5, 9, false, &bigp, 1);
		env->delta->more = true;
		if (one(&s, env, why))
			break;
	}
	assert_int_equal(i, 15);
	assert_string_equal(why, "ConfigDelta of more than 134217728 bytes "
			    "(over its frames)");
	free(body);

	/* KPIs: how many, how long their names */
	for (i = 0; i <= (int)O8_WIRE_MAX_KPIS; i++)
		many[i] = (struct o8_wire_kpi){ "k", (double)i };
	open_session(&s);
	assert_int_equal(o8_wire_build_state(&env, 1, O8_WIRE_STATUS_OK, many,
					     O8_WIRE_MAX_KPIS, NULL, &err), O8_OK);
	assert_int_equal(one(&s, env, why), 0);
	assert_int_equal(o8_wire_build_state(&env, 1, O8_WIRE_STATUS_OK, many,
					     O8_WIRE_MAX_KPIS + 1, NULL, &err), O8_OK);
	assert_int_equal(one(&s, env, why), -1);
	assert_string_equal(why, "StateReport with 257 KPIs, at most 256");
	memset(name, 'n', sizeof(name));
	name[O8_WIRE_MAX_KPI_NAME] = '\0';
	many[0].name = name;
	open_session(&s);
	assert_int_equal(o8_wire_build_state(&env, 1, O8_WIRE_STATUS_OK, many, 1,
					     NULL, &err), O8_OK);
	assert_int_equal(one(&s, env, why), 0);
	name[O8_WIRE_MAX_KPI_NAME] = 'n';
	name[O8_WIRE_MAX_KPI_NAME + 1] = '\0';
	assert_int_equal(o8_wire_build_state(&env, 1, O8_WIRE_STATUS_OK, many, 1,
					     NULL, &err), O8_OK);
	assert_int_equal(one(&s, env, why), -1);
	assert_non_null(strstr(why, "has a name longer than 128 bytes"));
	/* texts */
	{
		char *text = malloc(O8_WIRE_MAX_TEXT + 2);

		assert_non_null(text);
		memset(text, 'x', O8_WIRE_MAX_TEXT + 1);
		text[O8_WIRE_MAX_TEXT + 1] = '\0';
		open_session(&s);
		assert_int_equal(o8_wire_build_state(&env, 1, O8_WIRE_STATUS_FAILED,
						     NULL, 0, text, &err), O8_OK);
		assert_int_equal(one(&s, env, why), -1);
		assert_string_equal(why, "StateReport message longer than 4096 bytes");
		o8_wire_session_init(&s, O8_WIRE_AGENT);
		reach(&s, S_PENDING);
		assert_int_equal(o8_wire_build_nack(&env, 6, text, &err), O8_OK);
		assert_int_equal(one(&s, env, why), -1);
		assert_string_equal(why, "Nack reason longer than 4096 bytes");
		free(text);
	}
}

/* ------------------------------------------------------------------------ */
/* Seed corpus for fuzz/fuzz_wire_decode.c                                  */

/*
 * The committed conversation seed still decodes, and both sessions accept
 * all of it: the fuzzer starts deep in the protocol, and a change of the
 * wire format that breaks old bytes shows up here.
 */
static void wire__seed_conversation_is_accepted(void **state)
{
	const char *src = getenv("O8_SOURCE_DIR");
	struct o8_wire_session a, s;
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_dec dec;
	char path[4096], why[256];
	uint8_t buf[8192];
	size_t n, off = 2, used, msgs = 0;
	FILE *f;

	(void)state;
	if (!src)
		skip();
	snprintf(path, sizeof(path), "%s/fuzz/corpus/fuzz_wire_decode/conversation", src);
	assert_non_null(f = fopen(path, "rb"));
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 2 && n < sizeof(buf));
	assert_int_equal(buf[0] & 3, 0);        /* the default limit */
	o8_wire_session_init(&a, O8_WIRE_AGENT);
	o8_wire_session_init(&s, O8_WIRE_SERVER);
	o8_wire_dec_init(&dec, 0);
	while (off < n) {
		Envelope *env = NULL;
		enum o8_wire_role from;

		assert_int_equal(o8_wire_dec_feed(&dec, buf + off, n - off, &used,
						  &env, &err), O8_OK);
		assert_non_null(env);
		off += used;
		from = o8_wire_msg_sender(o8_wire_msg_type(env));
		if (o8_wire_session_check(&a, from, env, why, sizeof(why)) ||
		    o8_wire_session_check(&s, from, env, why, sizeof(why)))
			fail_msg("message %zu refused: %s", msgs, why);
		o8_wire_decoded_free(env);
		msgs++;
	}
	o8_wire_dec_done(&dec);
	assert_true(msgs >= 12);
	assert_int_equal(s.applied, 2);
}

/*
 * A fuzz input is 2 control bytes (the decoder's limit and the seed of
 * the split points, see the fuzz target) and then the bytes of a
 * connection.
 */
static int write_seed(const char *dir, const char *name, uint8_t ctl0,
		      const uint8_t *p, size_t n)
{
	char path[4096];
	uint8_t ctl[2] = { ctl0, 0x5a };
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")))
		return -1;
	fwrite(ctl, 1, 2, f);
	fwrite(p, 1, n, f);
	return fclose(f);
}

static void append(uint8_t **buf, size_t *n, const uint8_t *p, size_t len)
{
	uint8_t *b = realloc(*buf, *n + len);

	if (!b)
		abort();
	memcpy(b + *n, p, len);
	*buf = b;
	*n += len;
}

static void append_env(uint8_t **buf, size_t *n, Envelope *env)
{
	size_t len;
	uint8_t *f = encode(env, &len);

	append(buf, n, f, len);
	free(f);
	o8_wire_built_free(env);
}

/* Conversations that end at one of the size limits (wire.h). */
static int write_limit_seeds(const char *dir)
{
	static struct o8_wire_kpi many[O8_WIRE_MAX_KPIS + 1];
	static char name[O8_WIRE_MAX_KPI_NAME + 2], text[O8_WIRE_MAX_TEXT + 2];
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_digests ds = { 0 };
	uint8_t *conv = NULL;
	size_t n = 0;
	Envelope *env;
	int rc = 0, i;

	for (i = 0; i <= (int)O8_WIRE_MAX_KPIS; i++)
		many[i] = (struct o8_wire_kpi){ "k", 1.0 };
	memset(name, 'n', O8_WIRE_MAX_KPI_NAME + 1);
	memset(text, 't', O8_WIRE_MAX_TEXT + 1);
	/* 257 KPIs, then a KPI name and a message one byte too long */
	append_env(&conv, &n, mk_hello(1, "lab/agw-1", 0));
	append_env(&conv, &n, mk_welcome(1));
	if (o8_wire_build_state(&env, 1, O8_WIRE_STATUS_OK, many,
				O8_WIRE_MAX_KPIS + 1, NULL, &err))
		return 1;
	append_env(&conv, &n, env);
	rc |= write_seed(dir, "limit-kpis", 0, conv, n);
	n = 0;
	append_env(&conv, &n, mk_hello(1, "lab/agw-1", 0));
	append_env(&conv, &n, mk_welcome(1));
	many[0].name = name;
	if (o8_wire_build_state(&env, 1, O8_WIRE_STATUS_FAILED, many, 1, NULL,
				&err))
		return 1;
	append_env(&conv, &n, env);
	if (o8_wire_build_state(&env, 1, O8_WIRE_STATUS_FAILED, NULL, 0, text,
				&err))
		return 1;
	append_env(&conv, &n, env);
	rc |= write_seed(dir, "limit-kpi-name-and-text", 0, conv, n);
	/* a DigestReply whose frames say more, again and again */
	n = 0;
	mk_recs();
	append_env(&conv, &n, mk_hello(1, "lab/agw-1", 0));
	append_env(&conv, &n, mk_welcome(1));
	append_env(&conv, &n, build(O8_WIRE_DIGEST_REQUEST));
	ds.recs = recp;
	ds.n = NRECS;
	for (i = 0; i < 8; i++) {
		if (o8_wire_build_digest_reply(&env, &ds, &err))
			return 1;
		env->digest_reply->more = true;
		append_env(&conv, &n, env);
	}
	rc |= write_seed(dir, "limit-endless-digest-reply", 0, conv, n);
	free(conv);
	return rc;
}

static int write_corpus(const char *dir)
{
	static const char *const names[O8_WIRE__COUNT] = {
		[O8_WIRE_HELLO] = "hello", [O8_WIRE_STATE] = "state",
		[O8_WIRE_ACK] = "ack", [O8_WIRE_NACK] = "nack",
		[O8_WIRE_DELTA] = "delta", [O8_WIRE_CONFIRM] = "confirm",
		[O8_WIRE_DIGEST_REQUEST] = "digest_request",
		[O8_WIRE_DIGEST_REPLY] = "digest_reply", [O8_WIRE_WELCOME] = "welcome",
	};
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_delta d = { 0 };
	struct o8_wire_kind_digests kd;
	struct o8_wire_digests ds = { 0 };
	uint8_t *conv = NULL, *f;
	size_t n = 0, len, pos;
	bool last;
	int t, rc = 0;

	for (t = 1; t < O8_WIRE__COUNT; t++) {
		char name[64];

		f = frame_of((enum o8_wire_msg)t, &len);
		snprintf(name, sizeof(name), "msg-%s", names[t]);
		rc |= write_seed(dir, name, 0, f, len);
		free(f);
	}
	/* a whole conversation, with split frames, as both sides see it */
	mk_recs();
	o8_wire_kind_digests_of(&kd, recp, NRECS, &err);
	append_env(&conv, &n, mk_hello(1, "lab/agw-1", 0));
	append_env(&conv, &n, mk_welcome(1));
	append_env(&conv, &n, build(O8_WIRE_STATE));
	d.to_version = 1;
	d.upserts = recp;
	d.nupserts = NRECS;
	d.full = true;
	for (pos = 0, last = false; !last; ) {
		if (o8_wire_delta_next(&d, &pos, 200, &f, &len, &last, &err))
			return 1;
		append(&conv, &n, f, len);
		free(f);
	}
	append_env(&conv, &n, mk_ack(1));
	append_env(&conv, &n, mk_confirm(1));
	append_env(&conv, &n, mk_delta(1, 2, false, recp, 1));
	append_env(&conv, &n, build(O8_WIRE_DIGEST_REQUEST));
	ds.kd = &kd;
	ds.recs = recp;
	ds.n = NRECS;
	for (pos = 0, last = false; !last; ) {
		/* every kind's digest: 266 bytes in the first frame */
		if (o8_wire_digest_reply_next(&ds, &pos, 400, &f, &len, &last, &err))
			return 1;
		append(&conv, &n, f, len);
		free(f);
	}
	append_env(&conv, &n, mk_ack(2));
	append_env(&conv, &n, build(O8_WIRE_STATE));
	rc |= write_seed(dir, "conversation", 0, conv, n);
	/* the same under a 64-byte limit: refused at the first header */
	rc |= write_seed(dir, "conversation-limit-64", 1, conv, n);
	free(conv);
	rc |= write_limit_seeds(dir);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wire__round_trip_every_message),
		cmocka_unit_test(wire__names_and_senders),
		cmocka_unit_test(wire__split_feeding_equals_one_shot),
		cmocka_unit_test(wire__limit_checked_before_allocating),
		cmocka_unit_test(wire__bad_frames_are_invalid),
		cmocka_unit_test(wire__empty_envelope_is_not_encoded),
		cmocka_unit_test(wire__unpack_budget_refuses_amplification),
		cmocka_unit_test(wire__session_table),
		cmocka_unit_test(wire__normal_conversations_pass),
		cmocka_unit_test(wire__refused_session_stays_refused),
		cmocka_unit_test(wire__protocol_versions),
		cmocka_unit_test(wire__version_rules),
		cmocka_unit_test(wire__content_rules),
		cmocka_unit_test(wire__delta_splits_within_the_limit),
		cmocka_unit_test(wire__digest_reply_filters_and_splits),
		cmocka_unit_test(wire__kind_digests_follow_the_definition),
		cmocka_unit_test(wire__record_view_checks_the_digest),
		cmocka_unit_test(wire__seed_conversation_is_accepted),
		cmocka_unit_test(wire__exchange_limits),
	};

	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
