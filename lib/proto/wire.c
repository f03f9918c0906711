#include "proto/wire.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "wire.pb-c.h"

/* The C enums mirror the generated ones, so values cross without tables. */
#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " is " #b)
SAME(O8_WIRE_HELLO, ORC8R__V1__ENVELOPE__MSG_HELLO);
SAME(O8_WIRE_STATE, ORC8R__V1__ENVELOPE__MSG_STATE);
SAME(O8_WIRE_ACK, ORC8R__V1__ENVELOPE__MSG_ACK);
SAME(O8_WIRE_NACK, ORC8R__V1__ENVELOPE__MSG_NACK);
SAME(O8_WIRE_DELTA, ORC8R__V1__ENVELOPE__MSG_DELTA);
SAME(O8_WIRE_CONFIRM, ORC8R__V1__ENVELOPE__MSG_CONFIRM);
SAME(O8_WIRE_DIGEST_REQUEST,
     ORC8R__V1__ENVELOPE__MSG_DIGEST_REQUEST);
SAME(O8_WIRE_DIGEST_REPLY, ORC8R__V1__ENVELOPE__MSG_DIGEST_REPLY);
SAME(O8_WIRE_WELCOME, ORC8R__V1__ENVELOPE__MSG_WELCOME);
SAME(O8_WIRE_STATUS_OK, ORC8R__V1__AGW_STATUS__AGW_STATUS_OK);
SAME(O8_WIRE_STATUS_APPLYING,
     ORC8R__V1__AGW_STATUS__AGW_STATUS_APPLYING);
SAME(O8_WIRE_STATUS_FAILED,
     ORC8R__V1__AGW_STATUS__AGW_STATUS_FAILED);
SAME(O8_WIRE_STATUS_REVERTED,
     ORC8R__V1__AGW_STATUS__AGW_STATUS_REVERTED);
SAME(O8_WIRE_STATUS_OFFLINE_RECOVERED,
     ORC8R__V1__AGW_STATUS__AGW_STATUS_OFFLINE_RECOVERED);
SAME(O8_REC_NETWORK, ORC8R__V1__RECORD_KIND__RECORD_KIND_NETWORK);
SAME(O8_REC_GATEWAY, ORC8R__V1__RECORD_KIND__RECORD_KIND_GATEWAY);
SAME(O8_REC_ENODEB, ORC8R__V1__RECORD_KIND__RECORD_KIND_ENODEB);
SAME(O8_REC_APN, ORC8R__V1__RECORD_KIND__RECORD_KIND_APN);
SAME(O8_REC_POLICY, ORC8R__V1__RECORD_KIND__RECORD_KIND_POLICY_RULE);
SAME(O8_REC_SUBSCRIBER,
     ORC8R__V1__RECORD_KIND__RECORD_KIND_SUBSCRIBER);
SAME(O8_REC_TIER, ORC8R__V1__RECORD_KIND__RECORD_KIND_TIER);
_Static_assert(O8_REC__COUNT <= 32, "kind masks are 32 bits");

typedef Orc8r__V1__Envelope Envelope;

#define DIGEST_LEN 32
#define STATUS_MAX O8_WIRE_STATUS_OFFLINE_RECOVERED

static bool kind_ok(int k)
{
	return k > 0 && k < O8_REC__COUNT;
}

static const char *kind_name(int k)
{
	return kind_ok(k) ? o8_rec_kind_name((enum o8_rec_kind)k) : "unknown kind";
}

/* (kind, key) order: kinds by number, keys bytewise, as compile.h sorts. */
static int key_cmp(int ka, const char *a, int kb, const char *b)
{
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return strcmp(a, b);
}

/* ------------------------------------------------------------------------ */
/* Reasons                                                                  */

static int refuse(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Peer-supplied text goes into log lines: keep it short and printable so a
 * hostile agent can neither flood nor forge the log.
 */
#define SHOWN_MAX 48
struct shown {
	char s[SHOWN_MAX + 4];
};

static const char *shown(struct shown *b, const char *s)
{
	size_t i;

	for (i = 0; s && s[i] && i < SHOWN_MAX; i++)
		b->s[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s && s[i])
		memcpy(b->s + i, "...", 4);
	else
		b->s[i] = '\0';
	return b->s;
}

/* ------------------------------------------------------------------------ */
/* The rules                                                                */

enum state { ST_START, ST_HELLO, ST_OPEN, ST_FAILED };

typedef int check_fn(struct o8_wire_session *s, const Envelope *env,
		     char *why, size_t whylen);

static check_fn check_hello, check_welcome, check_state, check_ack,
	check_nack, check_delta, check_confirm, check_digest_request,
	check_digest_reply;

/*
 * The protocol, one row per message: who sends it, the one state it is
 * allowed in, and the state it leads to; check verifies its content and
 * its place among the versions, then records it.  A message seen in an
 * earlier state than its row's came before what leads there ("ConfigDelta
 * before Welcome"); in a later one it came twice (only Hello and Welcome
 * leave their state).
 */
static const struct rule {
	const char *name;
	enum o8_wire_role sender;
	enum state in, next;
	check_fn *check;
} rules[O8_WIRE__COUNT] = {
	[O8_WIRE_HELLO] = { "Hello", O8_WIRE_AGENT, ST_START, ST_HELLO, check_hello },
	[O8_WIRE_WELCOME] = { "Welcome", O8_WIRE_SERVER, ST_HELLO, ST_OPEN, check_welcome },
	[O8_WIRE_STATE] = { "StateReport", O8_WIRE_AGENT, ST_OPEN, ST_OPEN, check_state },
	[O8_WIRE_ACK] = { "Ack", O8_WIRE_AGENT, ST_OPEN, ST_OPEN, check_ack },
	[O8_WIRE_NACK] = { "Nack", O8_WIRE_AGENT, ST_OPEN, ST_OPEN, check_nack },
	[O8_WIRE_DIGEST_REPLY] = { "DigestReply", O8_WIRE_AGENT, ST_OPEN, ST_OPEN, check_digest_reply },
	[O8_WIRE_DELTA] = { "ConfigDelta", O8_WIRE_SERVER, ST_OPEN, ST_OPEN, check_delta },
	[O8_WIRE_CONFIRM] = { "Confirm", O8_WIRE_SERVER, ST_OPEN, ST_OPEN, check_confirm },
	[O8_WIRE_DIGEST_REQUEST] = { "DigestRequest", O8_WIRE_SERVER, ST_OPEN, ST_OPEN, check_digest_request },
};

/* What moves the conversation out of each state: what an early one lacks. */
static const char *const leaves[] = {
	[ST_START] = "Hello",
	[ST_HELLO] = "Welcome",
};

static const struct rule *rule_of(enum o8_wire_msg t)
{
	if ((int)t <= O8_WIRE_NONE || t >= O8_WIRE__COUNT)
		return NULL;
	return &rules[t];
}

enum o8_wire_msg o8_wire_msg_type(const struct Orc8r__V1__Envelope *env)
{
	if (!env || !rule_of((enum o8_wire_msg)env->msg_case))
		return O8_WIRE_NONE;
	return (enum o8_wire_msg)env->msg_case;
}

const char *o8_wire_msg_name(enum o8_wire_msg t)
{
	const struct rule *r = rule_of(t);

	return r ? r->name : "unknown message";
}

enum o8_wire_role o8_wire_msg_sender(enum o8_wire_msg t)
{
	const struct rule *r = rule_of(t);

	return r ? r->sender : 0;
}

const char *o8_wire_role_name(enum o8_wire_role r)
{
	return r == O8_WIRE_AGENT ? "agent" : r == O8_WIRE_SERVER ? "syncd" : "nobody";
}

static const char *who(enum o8_wire_role r)
{
	return r == O8_WIRE_AGENT ? "the agent" : r == O8_WIRE_SERVER ? "syncd" : "nobody";
}

void o8_wire_session_init(struct o8_wire_session *s, enum o8_wire_role role)
{
	memset(s, 0, sizeof(*s));
	s->role = role;
	s->state = ST_START;
}

int o8_wire_session_check(struct o8_wire_session *s, enum o8_wire_role sender,
			  const struct Orc8r__V1__Envelope *env, char *why,
			  size_t whylen)
{
	enum o8_wire_msg t = o8_wire_msg_type(env);
	const struct rule *r = rule_of(t);
	enum state st = (enum state)s->state;

	if (st == ST_FAILED)
		return refuse(why, whylen, "connection already refused");
	s->state = ST_FAILED;   /* until this message passes */
	if (!r)
		return refuse(why, whylen, "unknown message");
	/* the oneof's message pointers share one slot */
	if (!env->hello)
		return refuse(why, whylen, "%s without content", r->name);
	if (sender != r->sender)
		return refuse(why, whylen, "%s from %s (only %s sends it)",
			      r->name, who(sender), who(r->sender));
	if (st < r->in)
		return refuse(why, whylen, "%s before %s", r->name, leaves[st]);
	if (st > r->in)
		return refuse(why, whylen, "%s twice", r->name);
	if (r->check(s, env, why, whylen))
		return -1;
	s->state = r->next;
	return 0;
}

/* --- content ------------------------------------------------------------- */

static int check_kind_digests(const char *msg, Orc8r__V1__KindDigest *const *v,
			      size_t n, char *why, size_t whylen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!v[i])
			return refuse(why, whylen, "%s: empty kind digest", msg);
		if (!kind_ok(v[i]->kind))
			return refuse(why, whylen, "%s: digest of unknown record kind %d",
				      msg, (int)v[i]->kind);
		if (v[i]->digest.len != DIGEST_LEN)
			return refuse(why, whylen, "%s: %s digest of %zu bytes, expected %d",
				      msg, kind_name(v[i]->kind), v[i]->digest.len,
				      DIGEST_LEN);
		if (i && v[i]->kind <= v[i - 1]->kind)
			return refuse(why, whylen, "%s: kind digests not in kind order "
				      "(%s after %s)", msg, kind_name(v[i]->kind),
				      kind_name(v[i - 1]->kind));
	}
	return 0;
}

/* The (kind, key) of item i of a record list, whatever its message type. */
struct keyed {
	int kind;
	const char *key;
	const char *network;
	bool has_network;       /* Record only */
	const ProtobufCBinaryData *digest;      /* NULL for RecordKey */
	bool null;
};

typedef struct keyed keyed_fn(const void *v, size_t i);

static struct keyed keyed_record(const void *v, size_t i)
{
	const Orc8r__V1__Record *r = ((Orc8r__V1__Record *const *)v)[i];
	struct keyed k = { 0 };

	if (!r)
		return (struct keyed){ .null = true };
	k.kind = r->kind;
	k.key = r->key;
	k.network = r->network;
	k.has_network = true;
	k.digest = &r->digest;
	return k;
}

static struct keyed keyed_key(const void *v, size_t i)
{
	const Orc8r__V1__RecordKey *r = ((Orc8r__V1__RecordKey *const *)v)[i];

	if (!r)
		return (struct keyed){ .null = true };
	return (struct keyed){ .kind = r->kind, .key = r->key };
}

static struct keyed keyed_digest(const void *v, size_t i)
{
	const Orc8r__V1__RecordDigest *r = ((Orc8r__V1__RecordDigest *const *)v)[i];

	if (!r)
		return (struct keyed){ .null = true };
	return (struct keyed){ .kind = r->kind, .key = r->key, .digest = &r->digest };
}

/* Every item well-formed, the list strictly ascending by (kind, key). */
static int check_keyed(const char *what, const void *v, size_t n,
		       keyed_fn *get, char *why, size_t whylen)
{
	struct keyed prev = { 0 }, k;
	struct shown a, b;
	size_t i;

	for (i = 0; i < n; i++) {
		k = get(v, i);
		if (k.null)
			return refuse(why, whylen, "%s: empty entry", what);
		if (!kind_ok(k.kind))
			return refuse(why, whylen, "%s: record of unknown kind %d",
				      what, k.kind);
		if (!k.key || !k.key[0])
			return refuse(why, whylen, "%s: %s without a key", what,
				      kind_name(k.kind));
		if (k.has_network && (!k.network || !k.network[0]))
			return refuse(why, whylen, "%s: %s '%s' without a network",
				      what, kind_name(k.kind), shown(&a, k.key));
		if (k.digest && k.digest->len != DIGEST_LEN)
			return refuse(why, whylen, "%s: %s '%s' has a digest of %zu "
				      "bytes, expected %d", what, kind_name(k.kind),
				      shown(&a, k.key), k.digest->len, DIGEST_LEN);
		if (i && key_cmp(prev.kind, prev.key, k.kind, k.key) >= 0)
			return refuse(why, whylen, "%s: %s '%s' after %s '%s' "
				      "(not sorted by kind and key, or twice)",
				      what, kind_name(k.kind), shown(&a, k.key),
				      kind_name(prev.kind), shown(&b, prev.key));
		prev = k;
	}
	return 0;
}

/*
 * Adds one frame of a multi-frame exchange to its running totals (reset by
 * the caller after the last frame); refuses it when the exchange would go
 * over a limit.  Counting costs one pass over what was just decoded.
 */
static int exchange_add(const char *what, size_t *records, size_t *bytes,
			size_t n, const Envelope *env, char *why, size_t whylen)
{
	size_t len = protobuf_c_message_get_packed_size(&env->base);

	if (n > O8_WIRE_MAX_EXCHANGE_RECORDS - *records)
		return refuse(why, whylen, "%s of more than %u records (over "
			      "its frames)", what, O8_WIRE_MAX_EXCHANGE_RECORDS);
	if (len > O8_WIRE_MAX_EXCHANGE_BYTES - *bytes)
		return refuse(why, whylen, "%s of more than %u bytes (over its "
			      "frames)", what, O8_WIRE_MAX_EXCHANGE_BYTES);
	*records += n;
	*bytes += len;
	return 0;
}

static int check_text(const char *what, const char *s, char *why, size_t whylen)
{
	if (s && strnlen(s, O8_WIRE_MAX_TEXT + 1) > O8_WIRE_MAX_TEXT)
		return refuse(why, whylen, "%s longer than %u bytes", what,
			      O8_WIRE_MAX_TEXT);
	return 0;
}

static int check_hello(struct o8_wire_session *s, const Envelope *env,
		       char *why, size_t whylen)
{
	const Orc8r__V1__Hello *h = env->hello;
	const char *id = h->gateway_id, *slash;
	struct shown a;

	if (h->protocol_version < O8_WIRE_MIN_PROTOCOL)
		return refuse(why, whylen, "agent speaks protocol %" PRIu32 ", syncd "
			      "needs at least %u: upgrade agwd",
			      h->protocol_version, O8_WIRE_MIN_PROTOCOL);
	slash = id ? strchr(id, '/') : NULL;
	if (!slash || slash == id || !slash[1] || strchr(slash + 1, '/'))
		return refuse(why, whylen, "Hello with gateway id '%s', expected "
			      "'network/gateway'", shown(&a, id));
	if (check_kind_digests("Hello", h->digests, h->n_digests, why, whylen))
		return -1;
	s->hello_protocol = h->protocol_version;
	s->applied = h->applied_version;
	return 0;
}

static int check_welcome(struct o8_wire_session *s, const Envelope *env,
			 char *why, size_t whylen)
{
	const Orc8r__V1__Welcome *w = env->welcome;

	if (w->protocol_version < O8_WIRE_MIN_PROTOCOL)
		return refuse(why, whylen, "syncd speaks protocol %" PRIu32 ", agwd "
			      "needs at least %u: upgrade syncd",
			      w->protocol_version, O8_WIRE_MIN_PROTOCOL);
	s->protocol = w->protocol_version < s->hello_protocol ?
		w->protocol_version : s->hello_protocol;
	return 0;
}

static int check_state(struct o8_wire_session *s, const Envelope *env,
		       char *why, size_t whylen)
{
	const Orc8r__V1__StateReport *r = env->state;
	struct shown a;
	size_t i;

	(void)s;
	if ((int)r->status < O8_WIRE_STATUS_OK || (int)r->status > STATUS_MAX)
		return refuse(why, whylen, "StateReport with unknown status %d",
			      (int)r->status);
	if (r->n_kpis > O8_WIRE_MAX_KPIS)
		return refuse(why, whylen, "StateReport with %zu KPIs, at most %u",
			      r->n_kpis, O8_WIRE_MAX_KPIS);
	if (check_text("StateReport message", r->message, why, whylen))
		return -1;
	for (i = 0; i < r->n_kpis; i++) {
		if (!r->kpis[i] || !r->kpis[i]->name || !r->kpis[i]->name[0])
			return refuse(why, whylen, "StateReport with an unnamed KPI");
		if (strnlen(r->kpis[i]->name, O8_WIRE_MAX_KPI_NAME + 1) >
		    O8_WIRE_MAX_KPI_NAME)
			return refuse(why, whylen, "StateReport: KPI '%s' has a name "
				      "longer than %u bytes",
				      shown(&a, r->kpis[i]->name),
				      O8_WIRE_MAX_KPI_NAME);
		if (!isfinite(r->kpis[i]->value))
			return refuse(why, whylen, "StateReport: KPI '%s' is not a "
				      "finite number",
				      shown(&a, r->kpis[i]->name));
	}
	return 0;
}

static int check_answer(struct o8_wire_session *s, const char *name,
			uint64_t version, char *why, size_t whylen)
{
	if (!version)
		return refuse(why, whylen, "%s of version 0", name);
	if (!s->pending_deltas)
		return refuse(why, whylen, "%s of version %" PRIu64 " without a "
			      "pending ConfigDelta", name, version);
	if (version <= s->last_answer || version > s->last_done)
		return refuse(why, whylen, "%s of version %" PRIu64 ", which is not "
			      "pending (answered up to %" PRIu64 ", sent up to %"
			      PRIu64 ")", name, version, s->last_answer,
			      s->last_done);
	return 0;
}

static int check_ack(struct o8_wire_session *s, const Envelope *env,
		     char *why, size_t whylen)
{
	uint64_t v = env->ack->version;

	if (check_answer(s, "Ack", v, why, whylen))
		return -1;
	s->pending_deltas--;
	s->last_answer = v;
	if (v > s->applied)
		s->applied = v;
	return 0;
}

static int check_nack(struct o8_wire_session *s, const Envelope *env,
		      char *why, size_t whylen)
{
	const Orc8r__V1__Nack *n = env->nack;

	if (check_answer(s, "Nack", n->version, why, whylen))
		return -1;
	if (!n->reason || !n->reason[0])
		return refuse(why, whylen, "Nack of version %" PRIu64 " without a "
			      "reason", n->version);
	if (check_text("Nack reason", n->reason, why, whylen))
		return -1;
	s->pending_deltas--;
	s->last_answer = n->version;
	return 0;
}

/* No key both upserted and deleted: both lists are sorted, so merge. */
static int check_disjoint(const Orc8r__V1__ConfigDelta *d, char *why,
			  size_t whylen)
{
	size_t i = 0, j = 0;
	struct shown a;
	int c;

	while (i < d->n_upserts && j < d->n_deletes) {
		c = key_cmp(d->upserts[i]->kind, d->upserts[i]->key,
			    d->deletes[j]->kind, d->deletes[j]->key);
		if (c == 0)
			return refuse(why, whylen, "ConfigDelta both upserts and "
				      "deletes %s '%s'",
				      kind_name(d->upserts[i]->kind),
				      shown(&a, d->upserts[i]->key));
		if (c < 0)
			i++;
		else
			j++;
	}
	return 0;
}

static int check_delta(struct o8_wire_session *s, const Envelope *env,
		       char *why, size_t whylen)
{
	const Orc8r__V1__ConfigDelta *d = env->delta;

	if (d->to_version <= d->from_version)
		return refuse(why, whylen, "ConfigDelta from version %" PRIu64
			      " to %" PRIu64 " does not go forward",
			      d->from_version, d->to_version);
	if (d->full && d->n_deletes)
		return refuse(why, whylen, "full ConfigDelta with deletes");
	if (s->chunk_open) {
		if (d->to_version != s->last_to || d->from_version != s->chunk_from ||
		    !d->full != !s->chunk_full)
			return refuse(why, whylen, "ConfigDelta to version %" PRIu64
				      " while version %" PRIu64 " is incomplete",
				      d->to_version, s->last_to);
	} else if (d->to_version <= s->last_to) {
		return refuse(why, whylen, "ConfigDelta to version %" PRIu64
			      " after version %" PRIu64 " (replayed or out of "
			      "order)", d->to_version, s->last_to);
	}
	if (check_keyed("ConfigDelta upserts", d->upserts, d->n_upserts,
			keyed_record, why, whylen) ||
	    check_keyed("ConfigDelta deletes", d->deletes, d->n_deletes,
			keyed_key, why, whylen) ||
	    check_disjoint(d, why, whylen))
		return -1;
	if (!s->chunk_open)
		s->delta_records = s->delta_bytes = 0;
	if (exchange_add("ConfigDelta", &s->delta_records, &s->delta_bytes,
			 d->n_upserts + d->n_deletes, env, why, whylen))
		return -1;
	s->last_to = d->to_version;
	s->chunk_open = d->more;
	s->chunk_from = d->from_version;
	s->chunk_full = d->full;
	if (!d->more) {
		s->pending_deltas++;
		s->last_done = d->to_version;
	}
	return 0;
}

static int check_confirm(struct o8_wire_session *s, const Envelope *env,
			 char *why, size_t whylen)
{
	uint64_t v = env->confirm->version;

	if (!v || v > s->applied)
		return refuse(why, whylen, "Confirm of version %" PRIu64 ", which "
			      "the agent has not applied (it applied %" PRIu64 ")",
			      v, s->applied);
	return 0;
}

static int check_digest_request(struct o8_wire_session *s, const Envelope *env,
				char *why, size_t whylen)
{
	const Orc8r__V1__DigestRequest *r = env->digest_request;
	size_t i;

	for (i = 0; i < r->n_kinds; i++) {
		if (!kind_ok(r->kinds[i]))
			return refuse(why, whylen, "DigestRequest for unknown record "
				      "kind %d", (int)r->kinds[i]);
		if (i && r->kinds[i] <= r->kinds[i - 1])
			return refuse(why, whylen, "DigestRequest: kinds not in "
				      "order (%s after %s)", kind_name(r->kinds[i]),
				      kind_name(r->kinds[i - 1]));
	}
	s->pending_digests++;
	return 0;
}

static int check_digest_reply(struct o8_wire_session *s, const Envelope *env,
			      char *why, size_t whylen)
{
	const Orc8r__V1__DigestReply *r = env->digest_reply;

	if (!s->pending_digests)
		return refuse(why, whylen, "DigestReply without a DigestRequest");
	if (check_kind_digests("DigestReply", r->kinds, r->n_kinds, why, whylen) ||
	    check_keyed("DigestReply", r->records, r->n_records, keyed_digest,
			why, whylen) ||
	    exchange_add("DigestReply", &s->reply_records, &s->reply_bytes,
			 r->n_records, env, why, whylen))
		return -1;
	if (!r->more) {
		s->pending_digests--;
		s->reply_records = s->reply_bytes = 0;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Frames                                                                   */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

enum o8_rc o8_wire_encode(const struct Orc8r__V1__Envelope *env,
			  uint8_t **out, size_t *len, struct o8_err *err)
{
	size_t size, packed;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	if (o8_wire_msg_type(env) == O8_WIRE_NONE || !env->hello)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot encode an envelope without a message");
	size = orc8r__v1__envelope__get_packed_size(env);
	if (size > UINT32_MAX)
		return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
				  "%s of %zu bytes does not fit in a frame",
				  o8_wire_msg_name(o8_wire_msg_type(env)), size);
	if (!(buf = malloc(O8_WIRE_HEADER + size)))
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	put_be32(buf, (uint32_t)size);
	packed = orc8r__v1__envelope__pack(env, buf + O8_WIRE_HEADER);
	if (packed != size) {
		free(buf);
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "protobuf-c packed %zu bytes, announced %zu",
				  packed, size);
	}
	*out = buf;
	*len = O8_WIRE_HEADER + size;
	return O8_OK;
}

void o8_wire_dec_init(struct o8_wire_dec *dec, size_t max_frame)
{
	memset(dec, 0, sizeof(*dec));
	if (!max_frame)
		max_frame = O8_WIRE_MAX_FRAME_DEFAULT;
	if (max_frame > UINT32_MAX)
		max_frame = UINT32_MAX;
	dec->max_frame = max_frame;
}

static void dec_reset(struct o8_wire_dec *dec)
{
	free(dec->body);
	dec->body = NULL;
	dec->have = dec->cap = 0;
	dec->want = 0;
	dec->nhdr = 0;
}

void o8_wire_dec_done(struct o8_wire_dec *dec)
{
	dec_reset(dec);
}

size_t o8_wire_dec_pending(const struct o8_wire_dec *dec)
{
	return dec->nhdr + dec->have;
}

void o8_wire_decoded_free(struct Orc8r__V1__Envelope *env)
{
	if (env)
		orc8r__v1__envelope__free_unpacked(env, NULL);
}

/*
 * protobuf-c allocates through this while it unpacks one frame: a budget
 * proportional to the frame caps what crafted input can make it allocate.
 * Frees are not credited back (their size is unknown), which only makes
 * the budget stricter.  The memory comes from malloc, so the envelope is
 * released with the default allocator like any other.
 */
struct budget {
	size_t left;
	bool over;
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;

	if (size > b->left) {
		b->over = true;
		return NULL;
	}
	b->left -= size;
	return malloc(size);
}

static void budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

static enum o8_rc dec_stop(struct o8_wire_dec *dec, enum o8_rc rc)
{
	dec_reset(dec);
	dec->failed = rc;
	return rc;
}

/*
 * protobuf-c keeps a field numbered 0 as an unknown field when its tag is
 * written in two bytes, but refuses it written in one, which is how it
 * would be sent on: such a message could not be relayed or stored and
 * read back.  Field 0 is invalid in protobuf, so refuse it everywhere.
 */
static bool has_field_zero(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *md = m->descriptor;
	const ProtobufCFieldDescriptor *fd;
	const char *base = (const char *)m;
	unsigned i;
	size_t j, n;

	for (j = 0; j < m->n_unknown_fields; j++)
		if (m->unknown_fields[j].tag == 0)
			return true;
	for (i = 0; i < md->n_fields; i++) {
		fd = &md->fields[i];
		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			const ProtobufCMessage *const *v =
				*(const ProtobufCMessage *const *const *)(base + fd->offset);

			n = *(const size_t *)(base + fd->quantifier_offset);
			for (j = 0; j < n; j++)
				if (v[j] && has_field_zero(v[j]))
					return true;
			continue;
		}
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
			continue;
		if (*(const ProtobufCMessage *const *)(base + fd->offset) &&
		    has_field_zero(*(const ProtobufCMessage *const *)(base + fd->offset)))
			return true;
	}
	return false;
}

/* The body is complete: unpack it. */
static enum o8_rc dec_frame(struct o8_wire_dec *dec, Envelope **out,
			    struct o8_err *err)
{
	struct budget b = { dec->want * O8_WIRE_UNPACK_FACTOR + 4096, false };
	ProtobufCAllocator a = { budget_alloc, budget_free, &b };
	size_t len = dec->want;
	Envelope *env;

	env = orc8r__v1__envelope__unpack(&a, len, dec->body);
	if (!env) {
		if (b.over) {
			o8_err_set(err, O8_ELIMIT, NULL, 0, 0, "frame of %zu bytes "
				   "needs more than %zu bytes once decoded", len,
				   len * O8_WIRE_UNPACK_FACTOR + 4096);
			return dec_stop(dec, O8_ELIMIT);
		}
		o8_err_set(err, O8_EINVALID, NULL, 0, 0,
			   "undecodable frame of %zu bytes", len);
		return dec_stop(dec, O8_EINVALID);
	}
	if (o8_wire_msg_type(env) == O8_WIRE_NONE || !env->hello) {
		orc8r__v1__envelope__free_unpacked(env, NULL);
		o8_err_set(err, O8_EINVALID, NULL, 0, 0, "frame of %zu bytes holds "
			   "no message this orc8r knows", len);
		return dec_stop(dec, O8_EINVALID);
	}
	if (has_field_zero(&env->base)) {
		orc8r__v1__envelope__free_unpacked(env, NULL);
		o8_err_set(err, O8_EINVALID, NULL, 0, 0, "frame of %zu bytes has "
			   "a field numbered 0", len);
		return dec_stop(dec, O8_EINVALID);
	}
	dec_reset(dec);
	*out = env;
	return O8_OK;
}

enum o8_rc o8_wire_dec_feed(struct o8_wire_dec *dec, const uint8_t *p,
			    size_t n, size_t *consumed,
			    struct Orc8r__V1__Envelope **out,
			    struct o8_err *err)
{
	size_t used = 0, take;

	*out = NULL;
	*consumed = 0;
	if (dec->failed)
		return o8_err_set(err, dec->failed, NULL, 0, 0,
				  "frame decoder stopped by an earlier error");
	while (used < n) {
		if (dec->nhdr < O8_WIRE_HEADER) {
			take = O8_WIRE_HEADER - dec->nhdr;
			if (take > n - used)
				take = n - used;
			memcpy(dec->hdr + dec->nhdr, p + used, take);
			dec->nhdr += take;
			used += take;
			if (dec->nhdr < O8_WIRE_HEADER)
				break;
			dec->want = get_be32(dec->hdr);
			/* the limit is decided here, before any allocation */
			if (dec->want == 0) {
				*consumed = used;
				o8_err_set(err, O8_EINVALID, NULL, 0, 0, "empty frame");
				return dec_stop(dec, O8_EINVALID);
			}
			if (dec->want > dec->max_frame) {
				*consumed = used;
				o8_err_set(err, O8_ELIMIT, NULL, 0, 0, "frame of %zu "
					   "bytes exceeds the limit of %zu bytes",
					   dec->want, dec->max_frame);
				return dec_stop(dec, O8_ELIMIT);
			}
			continue;
		}
		take = dec->want - dec->have;
		if (take > n - used)
			take = n - used;
		/*
		 * Grow with what arrives, not with what was announced: a peer
		 * that announces 16 MiB and sends 10 bytes holds 4 KiB.
		 */
		if (dec->have + take > dec->cap) {
			size_t cap = dec->cap ? dec->cap * 2 : 4096;
			uint8_t *nb;

			if (cap < dec->have + take)
				cap = dec->have + take;
			if (cap > dec->want)
				cap = dec->want;
			if (!(nb = realloc(dec->body, cap))) {
				*consumed = used;
				o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
				return dec_stop(dec, O8_ERR);
			}
			dec->body = nb;
			dec->cap = cap;
			dec->allocs++;
		}
		memcpy(dec->body + dec->have, p + used, take);
		dec->have += take;
		used += take;
		if (dec->have == dec->want) {
			*consumed = used;
			return dec_frame(dec, out, err);
		}
	}
	*consumed = used;
	return O8_OK;
}

/* ------------------------------------------------------------------------ */
/* Digests                                                                  */

/* Kinds are hashed one after the other, so one running hash suffices. */
struct kd_run {
	struct sha256_ctx ctx;
	unsigned cur;           /* the kind being hashed */
};

static void kd_start(struct kd_run *k)
{
	sha256_init(&k->ctx);
	k->cur = 1;
}

/* Closes every kind before kind (nettle's digest resets the context). */
static void kd_close_to(struct kd_run *k, unsigned kind,
			struct o8_wire_kind_digests *out)
{
	while (k->cur < kind && k->cur < O8_REC__COUNT) {
		sha256_digest(&k->ctx, DIGEST_LEN, out->digest[k->cur]);
		k->cur++;
	}
}

static void kd_add(struct kd_run *k, const char *key, const uint8_t *digest)
{
	sha256_update(&k->ctx, strlen(key) + 1, (const uint8_t *)key);
	sha256_update(&k->ctx, DIGEST_LEN, digest);
}

static void kd_finish(struct kd_run *k, struct o8_wire_kind_digests *out)
{
	kd_close_to(k, O8_REC__COUNT, out);
	memset(out->digest[0], 0, DIGEST_LEN);
}

static enum o8_rc kd_order(unsigned pk, const char *pkey, unsigned kind,
			   const char *key, bool first, struct o8_err *err)
{
	if (!kind_ok((int)kind))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "record of unknown kind %u", kind);
	if (!key)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s record without a key", kind_name((int)kind));
	if (!first && key_cmp((int)pk, pkey, (int)kind, key) >= 0)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "records not sorted by kind and key: %s '%s' "
				  "after %s '%s'", kind_name((int)kind), key,
				  kind_name((int)pk), pkey);
	return O8_OK;
}

enum o8_rc o8_wire_kind_digests_of(struct o8_wire_kind_digests *out,
				   const struct o8_record *const *recs,
				   size_t n, struct o8_err *err)
{
	struct kd_run k;
	size_t i;

	kd_start(&k);
	for (i = 0; i < n; i++) {
		if (kd_order(i ? recs[i - 1]->kind : 0, i ? recs[i - 1]->key : NULL,
			     recs[i]->kind, recs[i]->key, i == 0, err))
			return O8_EINVALID;
		kd_close_to(&k, recs[i]->kind, out);
		kd_add(&k, recs[i]->key, recs[i]->digest);
	}
	kd_finish(&k, out);
	return O8_OK;
}

struct o8_wire_digester {
	struct kd_run run;
	struct o8_wire_kind_digests acc;
	unsigned prev_kind;
	char *prev;             /* the previous key, to check the order */
	size_t prev_cap;
	bool any;
};

enum o8_rc o8_wire_digester_new(struct o8_wire_digester **out,
				struct o8_err *err)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	kd_start(&(*out)->run);
	return O8_OK;
}

enum o8_rc o8_wire_digester_add(struct o8_wire_digester *d, unsigned kind,
				const char *key, const uint8_t digest[32],
				struct o8_err *err)
{
	size_t len;

	if (kd_order(d->prev_kind, d->prev, kind, key, !d->any, err))
		return O8_EINVALID;
	len = strlen(key) + 1;
	if (len > d->prev_cap) {
		size_t cap = len < 64 ? 64 : len * 2;
		char *p = realloc(d->prev, cap);

		if (!p)
			return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
		d->prev = p;
		d->prev_cap = cap;
	}
	memcpy(d->prev, key, len);
	d->prev_kind = kind;
	d->any = true;
	kd_close_to(&d->run, kind, &d->acc);
	kd_add(&d->run, key, digest);
	return O8_OK;
}

void o8_wire_digester_finish(struct o8_wire_digester *d,
			     struct o8_wire_kind_digests *out)
{
	kd_finish(&d->run, &d->acc);
	*out = d->acc;
}

void o8_wire_digester_free(struct o8_wire_digester *d)
{
	if (!d)
		return;
	free(d->prev);
	free(d);
}

enum o8_rc o8_wire_record_view(struct o8_record *out,
			       const struct Orc8r__V1__Record *r,
			       struct o8_err *err)
{
	uint8_t digest[DIGEST_LEN];
	struct sha256_ctx ctx;
	struct shown a;

	memset(out, 0, sizeof(*out));
	if (!kind_ok(r->kind))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "record of unknown kind %d", (int)r->kind);
	if (!r->key || !r->key[0] || !r->network || !r->network[0])
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s record without a network or a key",
				  kind_name(r->kind));
	if (r->digest.len != DIGEST_LEN)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "record %s '%s': "
				  "digest of %zu bytes, expected %d",
				  kind_name(r->kind), shown(&a, r->key),
				  r->digest.len, DIGEST_LEN);
	sha256_init(&ctx);
	if (r->body.len)
		sha256_update(&ctx, r->body.len, r->body.data);
	sha256_digest(&ctx, DIGEST_LEN, digest);
	if (memcmp(digest, r->digest.data, DIGEST_LEN))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "record %s '%s': "
				  "digest does not match its body",
				  kind_name(r->kind), shown(&a, r->key));
	out->kind = (enum o8_rec_kind)r->kind;
	out->network = r->network;
	out->key = r->key;
	out->name = r->key;
	out->body = r->body.data;
	out->len = r->body.len;
	memcpy(out->digest, digest, DIGEST_LEN);
	return O8_OK;
}

uint32_t o8_wire_request_kinds(const struct Orc8r__V1__Envelope *req)
{
	const Orc8r__V1__DigestRequest *r;
	uint32_t mask = 0;
	size_t i;

	if (o8_wire_msg_type(req) != O8_WIRE_DIGEST_REQUEST || !req->digest_request)
		return 0;
	r = req->digest_request;
	for (i = 0; i < r->n_kinds; i++)
		if (kind_ok(r->kinds[i]))
			mask |= 1u << r->kinds[i];
	return mask;
}

static bool kind_wanted(uint32_t mask, unsigned kind)
{
	return !mask || (kind < 32 && (mask >> kind & 1u));
}

/* ------------------------------------------------------------------------ */
/* Builders                                                                 */

/*
 * A built envelope is one calloc'd block: the Envelope first (so freeing
 * it frees all), then its message, pointer arrays and items, each piece
 * aligned like malloc's.  Strings and bytes are borrowed, never copied.
 */
#define ALIGN_UP(n) (((n) + 15) & ~(size_t)15)

struct blk {
	unsigned char *p;
	size_t off;
};

/* need += count pieces of size bytes; false on overflow. */
static bool blk_need(size_t *need, size_t size, size_t count)
{
	size_t bytes;

	if (__builtin_mul_overflow(size, count, &bytes) || bytes > SIZE_MAX / 2)
		return false;
	return !__builtin_add_overflow(*need, ALIGN_UP(bytes), need);
}

static void *blk_take(struct blk *b, size_t size, size_t count)
{
	void *p = b->p + b->off;

	b->off += ALIGN_UP(size * count);
	return p;
}

static enum o8_rc blk_alloc(struct blk *b, bool ok, size_t need,
			    struct o8_err *err)
{
	b->off = 0;
	b->p = ok ? calloc(1, need) : NULL;
	if (!b->p)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	return O8_OK;
}

static char *str(const char *s)
{
	return (char *)(s ? s : protobuf_c_empty_string);
}

void o8_wire_built_free(struct Orc8r__V1__Envelope *env)
{
	free(env);
}

static Envelope *new_env(struct blk *b, enum o8_wire_msg t, void *msg)
{
	Envelope *env = (Envelope *)b->p;

	orc8r__v1__envelope__init(env);
	env->msg_case = (Orc8r__V1__Envelope__MsgCase)t;
	env->hello = msg;       /* one slot for every message of the oneof */
	return env;
}

static void fill_kind_digests(struct blk *b, Orc8r__V1__KindDigest ***v,
			      size_t *n, const struct o8_wire_kind_digests *kd,
			      uint32_t mask)
{
	Orc8r__V1__KindDigest **pv, *items;
	unsigned k;
	size_t cnt = 0;

	for (k = 1; kd && k < O8_REC__COUNT; k++)
		cnt += kind_wanted(mask, k);
	pv = blk_take(b, sizeof(*pv), cnt);
	items = blk_take(b, sizeof(*items), cnt);
	cnt = 0;
	for (k = 1; kd && k < O8_REC__COUNT; k++) {
		if (!kind_wanted(mask, k))
			continue;
		orc8r__v1__kind_digest__init(&items[cnt]);
		items[cnt].kind = (Orc8r__V1__RecordKind)k;
		items[cnt].digest.len = DIGEST_LEN;
		items[cnt].digest.data = (uint8_t *)kd->digest[k];
		pv[cnt] = &items[cnt];
		cnt++;
	}
	*v = pv;
	*n = cnt;
}

enum o8_rc o8_wire_build_hello(struct Orc8r__V1__Envelope **out,
			       const char *gateway_id,
			       const char *agent_version,
			       uint64_t applied_version,
			       const char *applied_commit,
			       const struct o8_wire_kind_digests *kd,
			       struct o8_err *err)
{
	size_t k = kd ? O8_REC__COUNT - 1 : 0, need = 0;
	Orc8r__V1__Hello *h;
	struct blk b;
	bool ok;

	*out = NULL;
	ok = blk_need(&need, sizeof(Envelope), 1) &&
	     blk_need(&need, sizeof(*h), 1) &&
	     blk_need(&need, sizeof(void *), k) &&
	     blk_need(&need, sizeof(Orc8r__V1__KindDigest), k);
	if (blk_alloc(&b, ok, need, err))
		return O8_ERR;
	blk_take(&b, sizeof(Envelope), 1);
	h = blk_take(&b, sizeof(*h), 1);
	orc8r__v1__hello__init(h);
	h->protocol_version = O8_WIRE_PROTOCOL_VERSION;
	h->agent_version = str(agent_version);
	h->gateway_id = str(gateway_id);
	h->applied_version = applied_version;
	h->applied_commit = str(applied_commit);
	fill_kind_digests(&b, &h->digests, &h->n_digests, kd, 0);
	*out = new_env(&b, O8_WIRE_HELLO, h);
	return O8_OK;
}

/* The messages without lists: the envelope and the message, which init()
 * prepares and the caller fills in. */
static void *build_simple(Envelope **out, enum o8_wire_msg t, size_t size,
			  void (*init)(void *), struct o8_err *err)
{
	size_t need = 0;
	struct blk b;
	void *msg;
	bool ok;

	*out = NULL;
	ok = blk_need(&need, sizeof(Envelope), 1) && blk_need(&need, size, 1);
	if (blk_alloc(&b, ok, need, err))
		return NULL;
	blk_take(&b, sizeof(Envelope), 1);
	msg = blk_take(&b, size, 1);
	init(msg);
	*out = new_env(&b, t, msg);
	return msg;
}

static void init_welcome(void *m) { orc8r__v1__welcome__init(m); }
static void init_ack(void *m) { orc8r__v1__ack__init(m); }
static void init_nack(void *m) { orc8r__v1__nack__init(m); }
static void init_confirm(void *m) { orc8r__v1__confirm__init(m); }

enum o8_rc o8_wire_build_welcome(struct Orc8r__V1__Envelope **out,
				 const char *server_version,
				 uint64_t desired_version, struct o8_err *err)
{
	Orc8r__V1__Welcome *w;

	if (!(w = build_simple(out, O8_WIRE_WELCOME, sizeof(*w), init_welcome, err)))
		return O8_ERR;
	w->protocol_version = O8_WIRE_PROTOCOL_VERSION;
	w->server_version = str(server_version);
	w->desired_version = desired_version;
	return O8_OK;
}

enum o8_rc o8_wire_build_ack(struct Orc8r__V1__Envelope **out,
			     uint64_t version, const char *commit,
			     struct o8_err *err)
{
	Orc8r__V1__Ack *a;

	if (!(a = build_simple(out, O8_WIRE_ACK, sizeof(*a), init_ack, err)))
		return O8_ERR;
	a->version = version;
	a->commit = str(commit);
	return O8_OK;
}

enum o8_rc o8_wire_build_nack(struct Orc8r__V1__Envelope **out,
			      uint64_t version, const char *reason,
			      struct o8_err *err)
{
	Orc8r__V1__Nack *n;

	if (!(n = build_simple(out, O8_WIRE_NACK, sizeof(*n), init_nack, err)))
		return O8_ERR;
	n->version = version;
	n->reason = str(reason);
	return O8_OK;
}

enum o8_rc o8_wire_build_confirm(struct Orc8r__V1__Envelope **out,
				 uint64_t version, struct o8_err *err)
{
	Orc8r__V1__Confirm *c;

	if (!(c = build_simple(out, O8_WIRE_CONFIRM, sizeof(*c), init_confirm, err)))
		return O8_ERR;
	c->version = version;
	return O8_OK;
}

enum o8_rc o8_wire_build_state(struct Orc8r__V1__Envelope **out,
			       uint64_t version, enum o8_wire_status status,
			       const struct o8_wire_kpi *kpis, size_t nkpis,
			       const char *message, struct o8_err *err)
{
	Orc8r__V1__StateReport *r;
	Orc8r__V1__Kpi *items;
	size_t need = 0, i;
	struct blk b;
	bool ok;

	*out = NULL;
	ok = blk_need(&need, sizeof(Envelope), 1) &&
	     blk_need(&need, sizeof(*r), 1) &&
	     blk_need(&need, sizeof(void *), nkpis) &&
	     blk_need(&need, sizeof(*items), nkpis);
	if (blk_alloc(&b, ok, need, err))
		return O8_ERR;
	blk_take(&b, sizeof(Envelope), 1);
	r = blk_take(&b, sizeof(*r), 1);
	orc8r__v1__state_report__init(r);
	r->version = version;
	r->status = (Orc8r__V1__AgwStatus)status;
	r->message = str(message);
	r->n_kpis = nkpis;
	r->kpis = blk_take(&b, sizeof(void *), nkpis);
	items = blk_take(&b, sizeof(*items), nkpis);
	for (i = 0; i < nkpis; i++) {
		orc8r__v1__kpi__init(&items[i]);
		items[i].name = str(kpis[i].name);
		items[i].value = kpis[i].value;
		r->kpis[i] = &items[i];
	}
	*out = new_env(&b, O8_WIRE_STATE, r);
	return O8_OK;
}

enum o8_rc o8_wire_build_digest_request(struct Orc8r__V1__Envelope **out,
					const enum o8_rec_kind *kinds,
					size_t n, struct o8_err *err)
{
	Orc8r__V1__DigestRequest *r;
	size_t need = 0, i;
	struct blk b;
	bool ok;

	*out = NULL;
	ok = blk_need(&need, sizeof(Envelope), 1) &&
	     blk_need(&need, sizeof(*r), 1) &&
	     blk_need(&need, sizeof(*r->kinds), n);
	if (blk_alloc(&b, ok, need, err))
		return O8_ERR;
	blk_take(&b, sizeof(Envelope), 1);
	r = blk_take(&b, sizeof(*r), 1);
	orc8r__v1__digest_request__init(r);
	r->n_kinds = n;
	r->kinds = blk_take(&b, sizeof(*r->kinds), n);
	for (i = 0; i < n; i++)
		r->kinds[i] = (Orc8r__V1__RecordKind)kinds[i];
	*out = new_env(&b, O8_WIRE_DIGEST_REQUEST, r);
	return O8_OK;
}

/* struct o8_record -> Record: every field borrowed. */
static void record_ref(Orc8r__V1__Record *pr, const struct o8_record *r)
{
	orc8r__v1__record__init(pr);
	pr->kind = (Orc8r__V1__RecordKind)r->kind;
	pr->network = str(r->network);
	pr->key = str(r->key);
	pr->body.len = r->len;
	pr->body.data = (uint8_t *)r->body;
	pr->digest.len = DIGEST_LEN;
	pr->digest.data = (uint8_t *)r->digest;
}

static void key_ref(Orc8r__V1__RecordKey *pk, const struct o8_wire_key *k)
{
	orc8r__v1__record_key__init(pk);
	pk->kind = (Orc8r__V1__RecordKind)k->kind;
	pk->key = str(k->key);
}

static void digest_ref(Orc8r__V1__RecordDigest *pd, const struct o8_record *r)
{
	orc8r__v1__record_digest__init(pd);
	pd->kind = (Orc8r__V1__RecordKind)r->kind;
	pd->key = str(r->key);
	pd->digest.len = DIGEST_LEN;
	pd->digest.data = (uint8_t *)r->digest;
}

/* Upserts [u0, u1) and deletes [d0, d1) of d in one envelope. */
static enum o8_rc build_delta_range(Envelope **out, const struct o8_wire_delta *d,
				    size_t u0, size_t u1, size_t d0, size_t d1,
				    bool more, struct o8_err *err)
{
	size_t nu = u1 - u0, nd = d1 - d0, need = 0, i;
	Orc8r__V1__ConfigDelta *m;
	Orc8r__V1__Record *recs;
	Orc8r__V1__RecordKey *keys;
	struct blk b;
	bool ok;

	*out = NULL;
	ok = blk_need(&need, sizeof(Envelope), 1) &&
	     blk_need(&need, sizeof(*m), 1) &&
	     blk_need(&need, sizeof(void *), nu) &&
	     blk_need(&need, sizeof(*recs), nu) &&
	     blk_need(&need, sizeof(void *), nd) &&
	     blk_need(&need, sizeof(*keys), nd);
	if (blk_alloc(&b, ok, need, err))
		return O8_ERR;
	blk_take(&b, sizeof(Envelope), 1);
	m = blk_take(&b, sizeof(*m), 1);
	orc8r__v1__config_delta__init(m);
	m->from_version = d->from_version;
	m->to_version = d->to_version;
	m->commit = str(d->commit);
	m->full = d->full;
	m->more = more;
	m->n_upserts = nu;
	m->upserts = blk_take(&b, sizeof(void *), nu);
	recs = blk_take(&b, sizeof(*recs), nu);
	for (i = 0; i < nu; i++) {
		record_ref(&recs[i], d->upserts[u0 + i]);
		m->upserts[i] = &recs[i];
	}
	m->n_deletes = nd;
	m->deletes = blk_take(&b, sizeof(void *), nd);
	keys = blk_take(&b, sizeof(*keys), nd);
	for (i = 0; i < nd; i++) {
		key_ref(&keys[i], &d->deletes[d0 + i]);
		m->deletes[i] = &keys[i];
	}
	*out = new_env(&b, O8_WIRE_DELTA, m);
	return O8_OK;
}

enum o8_rc o8_wire_build_delta(struct Orc8r__V1__Envelope **out,
			       const struct o8_wire_delta *d,
			       struct o8_err *err)
{
	return build_delta_range(out, d, 0, d->nupserts, 0, d->ndeletes, false,
				 err);
}

/* recs [i0, i1) of src whose kind is wanted; kind digests when first. */
static enum o8_rc build_reply_range(Envelope **out,
				    const struct o8_wire_digests *src,
				    size_t i0, size_t i1, bool first, bool more,
				    struct o8_err *err)
{
	size_t nk = 0, nr = 0, need = 0, i;
	Orc8r__V1__DigestReply *m;
	Orc8r__V1__RecordDigest *items;
	unsigned k;
	struct blk b;
	bool ok;

	*out = NULL;
	for (k = 1; first && src->kd && k < O8_REC__COUNT; k++)
		nk += kind_wanted(src->kinds, k);
	for (i = i0; i < i1; i++)
		nr += kind_wanted(src->kinds, src->recs[i]->kind);
	ok = blk_need(&need, sizeof(Envelope), 1) &&
	     blk_need(&need, sizeof(*m), 1) &&
	     blk_need(&need, sizeof(void *), nk) &&
	     blk_need(&need, sizeof(Orc8r__V1__KindDigest), nk) &&
	     blk_need(&need, sizeof(void *), nr) &&
	     blk_need(&need, sizeof(*items), nr);
	if (blk_alloc(&b, ok, need, err))
		return O8_ERR;
	blk_take(&b, sizeof(Envelope), 1);
	m = blk_take(&b, sizeof(*m), 1);
	orc8r__v1__digest_reply__init(m);
	m->more = more;
	fill_kind_digests(&b, &m->kinds, &m->n_kinds, first ? src->kd : NULL,
			  src->kinds);
	m->records = blk_take(&b, sizeof(void *), nr);
	items = blk_take(&b, sizeof(*items), nr);
	for (i = i0; i < i1; i++) {
		if (!kind_wanted(src->kinds, src->recs[i]->kind))
			continue;
		digest_ref(&items[m->n_records], src->recs[i]);
		m->records[m->n_records] = &items[m->n_records];
		m->n_records++;
	}
	*out = new_env(&b, O8_WIRE_DIGEST_REPLY, m);
	return O8_OK;
}

enum o8_rc o8_wire_build_digest_reply(struct Orc8r__V1__Envelope **out,
				      const struct o8_wire_digests *src,
				      struct o8_err *err)
{
	return build_reply_range(out, src, 0, src->n, true, false, err);
}

/* ------------------------------------------------------------------------ */
/* Splitting into frames                                                    */

static size_t varint_len(size_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Bytes an item adds to its list: a one-byte tag, its length, itself. */
static size_t item_cost(size_t packed)
{
	return 1 + varint_len(packed) + packed;
}

/*
 * Filling the lists lengthens the message's length prefix inside the
 * envelope by up to 4 bytes beyond the empty frame's; 8 leaves a margin.
 */
#define GROWTH_SLACK 8

static size_t frame_limit(size_t max_frame)
{
	if (!max_frame)
		return O8_WIRE_MAX_FRAME_DEFAULT;
	return max_frame > UINT32_MAX ? UINT32_MAX : max_frame;
}

/* Encodes env, frees it, and checks the frame keeps to the limit. */
static enum o8_rc encode_built(Envelope *env, size_t max, uint8_t **out,
			       size_t *len, struct o8_err *err)
{
	enum o8_rc rc = o8_wire_encode(env, out, len, err);

	o8_wire_built_free(env);
	if (rc == O8_OK && *len - O8_WIRE_HEADER > max) {
		free(*out);
		*out = NULL;
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "split a frame of %zu "
				  "bytes over the limit of %zu", *len, max);
	}
	return rc;
}

/* The size of the envelope an empty range would give: the fixed part. */
static enum o8_rc empty_size(Envelope *env, size_t *size)
{
	*size = orc8r__v1__envelope__get_packed_size(env);
	o8_wire_built_free(env);
	return O8_OK;
}

static enum o8_rc too_small(size_t max, const char *what, struct o8_err *err)
{
	return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
			  "frame limit of %zu bytes is too small for a %s", max,
			  what);
}

static enum o8_rc too_big(const char *msg, int kind, const char *key,
			  size_t cost, size_t max, struct o8_err *err)
{
	return o8_err_set(err, O8_ELIMIT, NULL, 0, 0, "%s: %s '%s' needs %zu "
			  "bytes, more than a frame of %zu", msg, kind_name(kind),
			  key, cost, max);
}

enum o8_rc o8_wire_delta_next(const struct o8_wire_delta *d, size_t *pos,
			      size_t max_frame, uint8_t **out, size_t *len,
			      bool *last, struct o8_err *err)
{
	size_t max = frame_limit(max_frame), total = d->nupserts + d->ndeletes;
	size_t base, used, i, cost = 0;
	Orc8r__V1__Record pr;
	Orc8r__V1__RecordKey pk;
	Envelope *env;
	enum o8_rc rc;

	*out = NULL;
	*len = 0;
	*last = false;
	if (*pos > total)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "delta position %zu past its %zu records", *pos,
				  total);
	if (build_delta_range(&env, d, 0, 0, 0, 0, true, err) ||
	    empty_size(env, &base))
		return O8_ERR;
	if (base + GROWTH_SLACK > max)
		return too_small(max, "ConfigDelta", err);
	used = base + GROWTH_SLACK;
	for (i = *pos; i < total; i++) {
		if (i < d->nupserts) {
			record_ref(&pr, d->upserts[i]);
			cost = item_cost(orc8r__v1__record__get_packed_size(&pr));
		} else {
			key_ref(&pk, &d->deletes[i - d->nupserts]);
			cost = item_cost(orc8r__v1__record_key__get_packed_size(&pk));
		}
		if (used + cost > max)
			break;
		used += cost;
	}
	if (i == *pos && i < total)
		return i < d->nupserts ?
		       too_big("ConfigDelta", d->upserts[i]->kind,
			       d->upserts[i]->key, cost, max, err) :
		       too_big("ConfigDelta", d->deletes[i - d->nupserts].kind,
			       d->deletes[i - d->nupserts].key, cost, max, err);
	if (build_delta_range(&env, d,
			      *pos < d->nupserts ? *pos : d->nupserts,
			      i < d->nupserts ? i : d->nupserts,
			      *pos > d->nupserts ? *pos - d->nupserts : 0,
			      i > d->nupserts ? i - d->nupserts : 0,
			      i < total, err))
		return O8_ERR;
	if ((rc = encode_built(env, max, out, len, err)))
		return rc;
	*pos = i;
	*last = i == total;
	return O8_OK;
}

enum o8_rc o8_wire_digest_reply_next(const struct o8_wire_digests *src,
				     size_t *pos, size_t max_frame,
				     uint8_t **out, size_t *len, bool *last,
				     struct o8_err *err)
{
	/* *pos: 0 before the first frame (which has the kind digests), then
	 * 1 + the index of the next record */
	size_t max = frame_limit(max_frame), base, used, start, i, cost = 0;
	bool first = *pos == 0, kinds = first && src->kd;
	Orc8r__V1__RecordDigest pd;
	Envelope *env;
	enum o8_rc rc;

	*out = NULL;
	*len = 0;
	*last = false;
	if (*pos > src->n + 1)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "reply position %zu past its %zu records", *pos,
				  src->n);
	start = first ? 0 : *pos - 1;
	if (build_reply_range(&env, src, 0, 0, first, true, err) ||
	    empty_size(env, &base))
		return O8_ERR;
	if (base + GROWTH_SLACK > max)
		return too_small(max, "DigestReply", err);
	used = base + GROWTH_SLACK;
	for (i = start; i < src->n; i++) {
		if (!kind_wanted(src->kinds, src->recs[i]->kind))
			continue;
		digest_ref(&pd, src->recs[i]);
		cost = item_cost(orc8r__v1__record_digest__get_packed_size(&pd));
		if (used + cost > max)
			break;
		used += cost;
	}
	/* a frame carries something: the kind digests, or one record at least */
	if (used == base + GROWTH_SLACK && i < src->n && !kinds)
		return too_big("DigestReply", src->recs[i]->kind,
			       src->recs[i]->key, cost, max, err);
	if (build_reply_range(&env, src, start, i, first, i < src->n, err))
		return O8_ERR;
	if ((rc = encode_built(env, max, out, len, err)))
		return rc;
	*pos = i + 1;
	*last = i == src->n;
	return O8_OK;
}
