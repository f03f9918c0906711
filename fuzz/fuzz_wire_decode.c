/*
 * fuzz_wire_decode.c - libFuzzer target for the frame decoder, the session
 * rules and the delta splitter (lib/proto/wire.h): what a hostile peer can reach
 * before anything else looks at its bytes.
 *
 * Input: byte 0 picks the decoder's limit (low two bits: 16 MiB, 64 B,
 * 1 KiB, 64 KiB), byte 1 seeds the split points, and the rest is the
 * bytes of one connection, both directions interleaved (each message's
 * type says who sent it).  Beyond the sanitizers, the target checks what
 * wire.h promises:
 * - fed in random pieces, the decoder gives exactly what it gives fed all
 *   at once: the same envelopes, the same error after the same byte;
 *   it never takes more than it was offered, and once stopped it refuses
 *   everything;
 * - a decoded envelope encodes again into bytes that decode and encode
 *   into the same bytes;
 * - an agent-side and a syncd-side session reach the same verdict on every
 *   message, a refusal has a reason, and a refused session stays refused;
 * - the records of an accepted ConfigDelta whose digests match, split
 *   again into frames under a random limit, come back whole and in order.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "proto/wire.h"
#include "wire.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t limits[4] = { 0, 64, 1024, 65536 };

struct result {
	uint8_t **frame;        /* each envelope, encoded again */
	size_t *len;
	size_t n, cap;
	enum o8_rc rc;          /* how the stream ended */
	size_t stop;            /* bytes consumed in all */
};

static uint32_t rng;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static uint8_t *encode(const Orc8r__V1__Envelope *env, size_t *len)
{
	struct o8_err err = O8_ERR_INIT;
	uint8_t *buf;

	if (o8_wire_encode(env, &buf, len, &err) != O8_OK)
		abort();        /* a decoded envelope always encodes */
	return buf;
}

/* Decoding what we encoded and encoding it again changes nothing. */
static void check_stable(const uint8_t *f, size_t len)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_dec dec;
	Orc8r__V1__Envelope *env = NULL;
	size_t used, len2;
	uint8_t *f2;
	enum o8_rc rc;

	o8_wire_dec_init(&dec, UINT32_MAX);
	rc = o8_wire_dec_feed(&dec, f, len, &used, &env, &err);
	o8_wire_dec_done(&dec);
	/* compact bytes may go over the decoding budget the padded ones kept
	 * to (overlong varints shrink); anything else is a bug */
	if (rc == O8_ELIMIT)
		return;
	if (rc != O8_OK || !env || used != len)
		abort();
	f2 = encode(env, &len2);
	if (len2 != len || memcmp(f2, f, len))
		abort();
	free(f2);
	o8_wire_decoded_free(env);
}

/* The records of a ConfigDelta, split again, come back whole. */
static void check_resplit(const Orc8r__V1__ConfigDelta *d)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_record *views;
	const struct o8_record **pv;
	struct o8_wire_delta wd = { 0 };
	size_t n = 0, i, pos = 0, got = 0, len, used, max;
	bool last = false;

	if (!d->n_upserts)
		return;
	views = calloc(d->n_upserts, sizeof(*views));
	pv = calloc(d->n_upserts, sizeof(*pv));
	if (!views || !pv)
		abort();
	for (i = 0; i < d->n_upserts; i++) {
		o8_err_clear(&err);
		if (o8_wire_record_view(&views[n], d->upserts[i], &err) == O8_OK) {
			pv[n] = &views[n];
			n++;
		} else if (!err.msg[0]) {
			abort();
		}
	}
	wd.from_version = d->from_version;
	wd.to_version = d->to_version;
	wd.commit = d->commit;
	wd.upserts = pv;
	wd.nupserts = n;
	max = 64 + next_rand() % 4096;
	while (!last) {
		struct o8_wire_dec dec;
		Orc8r__V1__Envelope *env = NULL;
		uint8_t *f;
		enum o8_rc rc;

		o8_err_clear(&err);
		rc = o8_wire_delta_next(&wd, &pos, max, &f, &len, &last, &err);
		if (rc == O8_ELIMIT)
			break;  /* a record bigger than this limit */
		if (rc != O8_OK || len - O8_WIRE_HEADER > max)
			abort();
		o8_wire_dec_init(&dec, max);
		if (o8_wire_dec_feed(&dec, f, len, &used, &env, &err) != O8_OK ||
		    !env || used != len || env->delta->more != !last)
			abort();
		for (i = 0; i < env->delta->n_upserts; i++, got++) {
			const Orc8r__V1__Record *r = env->delta->upserts[i];

			if (got >= n || strcmp(r->key, pv[got]->key) ||
			    r->body.len != pv[got]->len ||
			    (r->body.len && memcmp(r->body.data, pv[got]->body,
						   r->body.len)))
				abort();
		}
		o8_wire_decoded_free(env);
		o8_wire_dec_done(&dec);
		free(f);
	}
	if (last && got != n)
		abort();
	free(pv);
	free(views);
}

struct sessions {
	struct o8_wire_session agent, server;
	bool refused;
};

static void check_sessions(struct sessions *ss, const Orc8r__V1__Envelope *env)
{
	enum o8_wire_role from = o8_wire_msg_sender(o8_wire_msg_type(env));
	char wa[256] = "", ws[256] = "";
	int ra, rs;

	if (ss->refused) {
		/* refused once, refused for good */
		if (o8_wire_session_check(&ss->server, from, env, ws, sizeof(ws)) != -1)
			abort();
		return;
	}
	ra = o8_wire_session_check(&ss->agent, from, env, wa, sizeof(wa));
	rs = o8_wire_session_check(&ss->server, from, env, ws, sizeof(ws));
	if (ra != rs || (ra && (!wa[0] || strcmp(wa, ws))))
		abort();
	if (ra) {
		ss->refused = true;
		return;
	}
	if (o8_wire_msg_type(env) == O8_WIRE_DELTA)
		check_resplit(env->delta);
}

/*
 * Feeds p to a decoder in pieces: all at once (ref NULL: fills out, checks
 * each envelope) or in random pieces (compares with ref as it goes).
 */
static void run(const uint8_t *p, size_t n, size_t max, struct result *out,
		const struct result *ref, struct sessions *ss)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_dec dec;
	size_t off = 0, piece, used, k = 0;
	enum o8_rc rc = O8_OK;

	o8_wire_dec_init(&dec, max);
	while (off < n) {
		Orc8r__V1__Envelope *env = NULL;

		piece = n - off;
		if (ref) {
			uint32_t r = next_rand();
			piece = r & 0x100 ? 1 + r % 7 : 1 + r % 1024;
			if (piece > n - off)
				piece = n - off;
		}
		o8_err_clear(&err);
		rc = o8_wire_dec_feed(&dec, p + off, piece, &used, &env, &err);
		if (used > piece)
			abort();
		off += used;
		if (rc != O8_OK) {
			if (env || !err.msg[0])
				abort();
			break;
		}
		if (!env) {
			if (used != piece)
				abort();
			continue;
		}
		if (o8_wire_msg_type(env) == O8_WIRE_NONE)
			abort();        /* the decoder promised a message */
		if (ref) {
			size_t len;
			uint8_t *f = encode(env, &len);

			if (k >= ref->n || len != ref->len[k] ||
			    memcmp(f, ref->frame[k], len))
				abort();
			free(f);
			k++;
		} else {
			if (out->n == out->cap) {
				out->cap = out->cap ? 2 * out->cap : 16;
				out->frame = realloc(out->frame, out->cap * sizeof(*out->frame));
				out->len = realloc(out->len, out->cap * sizeof(*out->len));
				if (!out->frame || !out->len)
					abort();
			}
			out->frame[out->n] = encode(env, &out->len[out->n]);
			check_stable(out->frame[out->n], out->len[out->n]);
			check_sessions(ss, env);
			out->n++;
		}
		o8_wire_decoded_free(env);
	}
	if (rc != O8_OK) {
		/* a stopped decoder takes nothing more */
		Orc8r__V1__Envelope *env = NULL;
		static const uint8_t confirm[] = { 0, 0, 0, 4, 0x32, 2, 8, 1 };

		if (o8_wire_dec_feed(&dec, confirm, sizeof(confirm), &used, &env,
				     &err) != rc || used || env)
			abort();
	}
	o8_wire_dec_done(&dec);
	if (ref) {
		if (k != ref->n || rc != ref->rc || off != ref->stop)
			abort();
	} else {
		out->rc = rc;
		out->stop = off;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result one = { 0 };
	struct sessions ss;
	size_t max, i;

	if (size < 2)
		return 0;
	max = limits[data[0] & 3];
	rng = 0x9e3779b9u ^ ((uint32_t)data[1] << 8) ^ (uint32_t)size;
	o8_wire_session_init(&ss.agent, O8_WIRE_AGENT);
	o8_wire_session_init(&ss.server, O8_WIRE_SERVER);
	ss.refused = false;

	run(data + 2, size - 2, max, &one, NULL, &ss);
	run(data + 2, size - 2, max, NULL, &one, NULL);

	for (i = 0; i < one.n; i++)
		free(one.frame[i]);
	free(one.frame);
	free(one.len);
	return 0;
}
