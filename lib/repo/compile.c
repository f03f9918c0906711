/*
 * compile.c - objects to records: one protobuf-c message per object (per
 * item of a SubscriberSet), its canonical encoding, its SHA-256 and the
 * flattened fields a plan shows.
 *
 * Nothing here knows a field by name.  On first use each kind's schema
 * table (schema.c) is bound to its message (schema/orc8r.proto) by name:
 * the YAML key "ipBlock" is the protobuf field ip_block of the message that
 * its parent row maps to.  Binding checks types, enum values and presence,
 * so a row that has no field, or a field of the wrong type, is a
 * programming error reported by every o8_compile call (and by the tests),
 * never a silently missing value.  The walk then fills the message and the
 * flattened fields from the same converted values, so the body and what a
 * plan shows cannot disagree.
 *
 * Speed: a million subscribers is the normal case.  Per subscriber there
 * is no malloc (messages live in a per-thread scratch buffer that is
 * reset per record, results in the thread's arena), values point into the
 * model instead of being copied, and the HMAC key schedule is done once
 * per thread.  Threads take objects from a shared counter and sort their
 * own records; the final order is a merge under a total order, so results
 * do not depend on the number of threads.
 */
#include "repo/compile.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/base16.h>
#include <protobuf-c/protobuf-c.h>

#include "util/arena.h"
#include "util/pool.h"
#include "orc8r.pb-c.h"
#include "util/strmap.h"

enum {
	MAX_KIDS = 64,          /* rows directly under one map row */
	PATH_LEN = 512,
	FP_BYTES = 4,           /* fingerprint: 8 hex digits */
	SCRATCH = 64 * 1024,
	KEY_CHUNK = 64 * 1024,  /* sort keys per chunk: 2 MiB, a huge page */
	ONE_THREAD_BELOW = 4096 /* records: thread start-up costs more */
};

#define U32_MAX 4294967295.0

/*
 * The key of the plan fingerprint of sensitive values.  It is not a secret
 * (anyone with the source has it); it only makes the fingerprint useless
 * as a plain SHA-256 lookup of known test keys.  Changing it changes every
 * fingerprint, never a body.
 */
static const char fp_key[] = "orc8r-plan-fingerprint";
#define FP_PREFIX "(sensitive) "

/* --- kinds --------------------------------------------------------------- */

static const struct {
	enum o8_kind kind;
	const ProtobufCMessageDescriptor *msg;
} rec_kinds[O8_REC__COUNT] = {
	[O8_REC_NETWORK] = { O8_KIND_NETWORK, &orc8r__v1__network__descriptor },
	[O8_REC_GATEWAY] = { O8_KIND_GATEWAY, &orc8r__v1__gateway__descriptor },
	[O8_REC_ENODEB] = { O8_KIND_ENODEB, &orc8r__v1__enode_b__descriptor },
	[O8_REC_APN] = { O8_KIND_APN, &orc8r__v1__apn__descriptor },
	[O8_REC_POLICY] = { O8_KIND_POLICYRULE, &orc8r__v1__policy_rule__descriptor },
	[O8_REC_SUBSCRIBER] = { O8_KIND_SUBSCRIBER, &orc8r__v1__subscriber__descriptor },
	[O8_REC_TIER] = { O8_KIND_TIER, &orc8r__v1__tier__descriptor },
};

/* The record kind an object's documents compile to (SubscriberSet items
 * are Subscribers); 0 when the object makes no record. */
static enum o8_rec_kind rec_kind_of(enum o8_kind k)
{
	int r;

	if (k == O8_KIND_SUBSCRIBERSET)
		return O8_REC_SUBSCRIBER;
	for (r = 1; r < O8_REC__COUNT; r++)
		if (rec_kinds[r].kind == k)
			return (enum o8_rec_kind)r;
	return 0;
}

/*
 * Lists whose items Magma keys by name: sorted so that reordering them in
 * YAML changes nothing.  Every other list keeps the operator's order.
 */
static const struct {
	enum o8_kind kind;
	const char *list, *item_key;
} keyed_lists[] = {
	{ O8_KIND_NETWORK, "cellular.epc.subProfiles", "cellular.epc.subProfiles[].name" },
};

/* --- binding schema rows to protobuf fields ------------------------------ */

struct row_bind {
	const struct o8_field *f;
	const char *seg;        /* YAML key: last segment of the path */
	size_t seglen;
	int parent;             /* container row; -1 the spec root; -2 an item */
	int item;               /* LIST: its "[]" row, or -1 */
	int sort_row;           /* keyed LIST: the item row holding the key */
	/* in the container's message; an item row shares its list's */
	const ProtobufCFieldDescriptor *fd;
	const ProtobufCFieldDescriptor *dk, *dv;  /* DICT: key, value */
	int *enum_nums;         /* ENUM: protobuf value of each f->enums[] */
	struct o8_node defnode; /* f->def as a plain scalar */
};

/* A map the walk enters: the spec root, an OBJECT row, an OBJECT item. */
struct cont {
	int kids[MAX_KIDS];
	unsigned nkids;
};

struct kind_bind {
	const struct o8_kind_schema *ks;
	const ProtobufCMessageDescriptor *msg;
	struct row_bind *rows;
	struct cont *conts;     /* nfields + 1; [nfields] is the root */
	const ProtobufCFieldDescriptor *name_fd, *labels_fd;
	const ProtobufCFieldDescriptor *labels_k, *labels_v;
};

static struct kind_bind binds[O8_REC__COUNT];
static pthread_once_t bind_once = PTHREAD_ONCE_INIT;
static char bind_error[256];    /* empty when every kind bound */

static int bind_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bind_fail(const char *fmt, ...)
{
	va_list ap;

	if (!bind_error[0]) {
		va_start(ap, fmt);
		vsnprintf(bind_error, sizeof(bind_error), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int is_item_path(const char *path)
{
	size_t n = strlen(path);

	return n >= 2 && !strcmp(path + n - 2, "[]");
}

/* "ipv4PCscfAddr" -> "ipv4_p_cscf_addr" */
static void snake(char *out, size_t len, const char *camel)
{
	size_t o = 0;

	for (; *camel && o + 2 < len; camel++) {
		if (*camel >= 'A' && *camel <= 'Z') {
			if (o)
				out[o++] = '_';
			out[o++] = (char)(*camel - 'A' + 'a');
		} else {
			out[o++] = *camel;
		}
	}
	out[o] = '\0';
}

/* The row of a path; -1 when absent. */
static int row_of(const struct o8_kind_schema *ks, const char *path)
{
	const struct o8_field *f = o8_schema_field(ks, path);

	return f ? (int)(f - ks->fields) : -1;
}

static const ProtobufCMessageDescriptor *cont_msg(const struct kind_bind *kb,
						  int c)
{
	if (c < 0)
		return kb->msg;
	return kb->rows[c].fd ? kb->rows[c].fd->descriptor : NULL;
}

static int is_int_type(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_UINT32 || t == PROTOBUF_C_TYPE_UINT64 ||
	       t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_INT64;
}

/* An integer row fits its field: unsigned fields need min >= 0, 32-bit
 * ones a bound. */
static int int_fits(const struct o8_field *f, ProtobufCType t)
{
	int bounded = f->min || f->max;

	switch (t) {
	case PROTOBUF_C_TYPE_UINT32:
		return bounded && f->min >= 0 && f->max <= U32_MAX;
	case PROTOBUF_C_TYPE_UINT64:
		return bounded && f->min >= 0;
	case PROTOBUF_C_TYPE_INT32:
		return bounded && f->min >= -2147483648.0 && f->max <= 2147483647.0;
	case PROTOBUF_C_TYPE_INT64:
		return 1;
	default:
		return 0;
	}
}

static int bind_enum(struct row_bind *rb, const char *kind)
{
	const ProtobufCEnumDescriptor *ed = rb->fd->descriptor;
	const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(ed, 0);
	char name[256];
	size_t n = 0, plen, i, j;

	if (!zero || strlen(zero->name) < 11 ||
	    strcmp(zero->name + strlen(zero->name) - 11, "UNSPECIFIED"))
		return bind_fail("%s '%s': enum %s has no <PREFIX>UNSPECIFIED = 0",
				 kind, rb->f->path, ed->name);
	plen = strlen(zero->name) - 11;
	while (rb->f->enums && rb->f->enums[n])
		n++;
	rb->enum_nums = malloc((n ? n : 1) * sizeof(*rb->enum_nums));
	if (!rb->enum_nums)
		return bind_fail("out of memory");
	for (i = 0; i < n; i++) {
		const char *v = rb->f->enums[i];
		const ProtobufCEnumValue *ev;

		if (plen + strlen(v) + 1 > sizeof(name))
			return bind_fail("%s '%s': enum value too long", kind, rb->f->path);
		memcpy(name, zero->name, plen);
		for (j = 0; v[j]; j++) {
			char c = v[j];
			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
				c = '_';
			name[plen + j] = c;
		}
		name[plen + j] = '\0';
		ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
		if (!ev)
			return bind_fail("%s '%s': enum %s has no value %s for '%s'",
					 kind, rb->f->path, ed->name, name, v);
		rb->enum_nums[i] = ev->value;
	}
	return 0;
}

/* Does a scalar of this row need explicit presence (absent != zero)? */
static int needs_presence(const struct o8_field *f)
{
	if (f->def || (f->flags & O8_F_REQUIRED))
		return 0;
	switch (f->type) {
	case O8_T_INT:
		return f->min <= 0;
	case O8_T_NUMBER:
		if (f->enums) {
			const char *const *e;
			for (e = f->enums; *e; e++)
				if (strtod(*e, NULL) == 0)
					return 1;
			return 0;
		}
		return f->min <= 0;
	case O8_T_BOOL:
		return 1;
	default:
		return 0;
	}
}

/* Checks that the type of row f matches protobuf field fd. */
static int check_type(const char *kind, const struct o8_field *f,
		      const ProtobufCFieldDescriptor *fd, int as_item)
{
	ProtobufCType t = fd->type;
	int ok;

	switch (f->type) {
	case O8_T_STRING:
		ok = t == PROTOBUF_C_TYPE_STRING ||
		     (t == PROTOBUF_C_TYPE_BYTES &&
		      (f->fmt == O8_FMT_HEX || f->fmt == O8_FMT_HEX32));
		break;
	case O8_T_INT:
		ok = is_int_type(t) && int_fits(f, t);
		break;
	case O8_T_NUMBER:
		ok = t == PROTOBUF_C_TYPE_DOUBLE;
		break;
	case O8_T_BOOL:
		ok = t == PROTOBUF_C_TYPE_BOOL;
		break;
	case O8_T_ENUM:
		ok = t == PROTOBUF_C_TYPE_ENUM;
		break;
	case O8_T_OBJECT:
		ok = t == PROTOBUF_C_TYPE_MESSAGE;
		break;
	case O8_T_LIST:
		ok = fd->label == PROTOBUF_C_LABEL_REPEATED;
		break;
	case O8_T_DICT:
		ok = t == PROTOBUF_C_TYPE_MESSAGE &&
		     fd->label == PROTOBUF_C_LABEL_REPEATED;
		break;
	default:
		ok = 0;
	}
	if (!ok)
		return bind_fail("%s '%s': protobuf field %s has the wrong type for %s",
				 kind, f->path, fd->name, o8_schema_type_name(f->type));
	if (!as_item && f->type != O8_T_LIST && f->type != O8_T_DICT &&
	    fd->label == PROTOBUF_C_LABEL_REPEATED)
		return bind_fail("%s '%s': protobuf field %s is repeated", kind,
				 f->path, fd->name);
	if (!as_item && needs_presence(f) && !(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return bind_fail("%s '%s': optional and 0 is valid: protobuf field %s needs a oneof has_%s",
				 kind, f->path, fd->name, fd->name);
	return 0;
}

/* A map of free keys: a repeated message of two strings, numbered 1, 2. */
static int bind_dict(const char *kind, const char *path,
		     const ProtobufCFieldDescriptor *fd,
		     const ProtobufCFieldDescriptor **k,
		     const ProtobufCFieldDescriptor **v)
{
	const ProtobufCMessageDescriptor *md = fd->descriptor;

	if (fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED ||
	    md->n_fields != 2)
		return bind_fail("%s '%s': protobuf field %s is not a repeated pair", kind,
				 path, fd->name);
	*k = protobuf_c_message_descriptor_get_field(md, 1);
	*v = protobuf_c_message_descriptor_get_field(md, 2);
	if (!*k || !*v || (*k)->type != PROTOBUF_C_TYPE_STRING ||
	    (*v)->type != PROTOBUF_C_TYPE_STRING)
		return bind_fail("%s '%s': %s must hold two strings numbered 1 and 2",
				 kind, path, md->name);
	return 0;
}

static int bind_kind(struct kind_bind *kb, enum o8_kind k,
		     const ProtobufCMessageDescriptor *md)
{
	const struct o8_kind_schema *ks = o8_schema_kind(k);
	char name[128];
	size_t i, n;

	if (!ks)
		return bind_fail("no schema table for kind %d", (int)k);
	kb->ks = ks;
	kb->msg = md;
	n = ks->nfields;
	kb->rows = calloc(n ? n : 1, sizeof(*kb->rows));
	kb->conts = calloc(n + 1, sizeof(*kb->conts));
	if (!kb->rows || !kb->conts)
		return bind_fail("out of memory");
	kb->name_fd = protobuf_c_message_descriptor_get_field_by_name(md, "name");
	kb->labels_fd = protobuf_c_message_descriptor_get_field_by_name(md, "labels");
	if (kb->name_fd && kb->name_fd->type != PROTOBUF_C_TYPE_STRING)
		return bind_fail("%s: protobuf field name is not a string", ks->name);
	if (kb->labels_fd && bind_dict(ks->name, "metadata.labels", kb->labels_fd,
				       &kb->labels_k, &kb->labels_v))
		return -1;

	/* Rows are sorted, so a parent ("a", "a[]") is bound before its
	 * children ("a.b", "a[].b"). */
	for (i = 0; i < n; i++) {
		struct row_bind *rb = &kb->rows[i];
		const struct o8_field *f = &ks->fields[i];
		const char *dot = strrchr(f->path, '.');
		char ppath[256];
		int p;

		rb->f = f;
		rb->item = rb->sort_row = -1;
		if (f->def) {
			rb->defnode.type = O8_N_SCALAR;
			rb->defnode.style = O8_S_PLAIN;
			rb->defnode.n = (uint32_t)strlen(f->def);
			rb->defnode.u.str = f->def;
		}
		if (strlen(f->path) >= sizeof(ppath))
			return bind_fail("%s '%s': path too long", ks->name, f->path);
		if (is_item_path(f->path)) {
			memcpy(ppath, f->path, strlen(f->path) - 2);
			ppath[strlen(f->path) - 2] = '\0';
			p = row_of(ks, ppath);
			if (p < 0 || ks->fields[p].type != O8_T_LIST || !kb->rows[p].fd)
				return bind_fail("%s '%s': no list row '%s'", ks->name, f->path,
						 ppath);
			rb->parent = -2;
			rb->seg = f->path;
			rb->fd = kb->rows[p].fd;
			kb->rows[p].item = (int)i;
			if (check_type(ks->name, f, rb->fd, 1))
				return -1;
		} else {
			const ProtobufCMessageDescriptor *cm;
			struct cont *c;

			if (dot) {
				memcpy(ppath, f->path, (size_t)(dot - f->path));
				ppath[dot - f->path] = '\0';
				p = row_of(ks, ppath);
				if (p < 0 || (ks->fields[p].type != O8_T_OBJECT) ||
				    (ks->fields[p].spec_of))
					return bind_fail("%s '%s': parent '%s' is not a map row",
							 ks->name, f->path, ppath);
			} else {
				p = -1;
			}
			rb->parent = p;
			rb->seg = dot ? dot + 1 : f->path;
			rb->seglen = strlen(rb->seg);
			cm = cont_msg(kb, p);
			if (!cm)
				return bind_fail("%s '%s': parent has no message", ks->name,
						 f->path);
			snake(name, sizeof(name), rb->seg);
			rb->fd = protobuf_c_message_descriptor_get_field_by_name(cm, name);
			if (!rb->fd)
				return bind_fail("%s '%s': message %s has no field %s", ks->name,
						 f->path, cm->name, name);
			if (check_type(ks->name, f, rb->fd, 0))
				return -1;
			if (f->type == O8_T_DICT &&
			    bind_dict(ks->name, f->path, rb->fd, &rb->dk, &rb->dv))
				return -1;
			c = &kb->conts[p < 0 ? n : (size_t)p];
			if (c->nkids == MAX_KIDS)
				return bind_fail("%s: more than %d fields in one map", ks->name,
						 MAX_KIDS);
			c->kids[c->nkids++] = (int)i;
		}
		if (f->type == O8_T_ENUM && bind_enum(rb, ks->name))
			return -1;
	}
	for (i = 0; i < n; i++)
		if (ks->fields[i].type == O8_T_LIST && kb->rows[i].item < 0)
			return bind_fail("%s '%s': list has no '[]' row", ks->name,
					 ks->fields[i].path);
	for (i = 0; i < sizeof(keyed_lists) / sizeof(keyed_lists[0]); i++) {
		int l, r;

		if (keyed_lists[i].kind != k)
			continue;
		l = row_of(ks, keyed_lists[i].list);
		r = row_of(ks, keyed_lists[i].item_key);
		if (l < 0 || r < 0 || ks->fields[r].type != O8_T_STRING)
			return bind_fail("%s: keyed list '%s' is not in the schema", ks->name,
					 keyed_lists[i].list);
		kb->rows[l].sort_row = r;
	}
	return 0;
}

static void bind_all(void)
{
	int r;

	for (r = 1; r < O8_REC__COUNT; r++)
		if (bind_kind(&binds[r], rec_kinds[r].kind, rec_kinds[r].msg))
			return;
}

/* --- per-thread state ---------------------------------------------------- */

/* One record's messages: reset per record, so a million subscribers cost
 * no malloc. */
struct scratch {
	unsigned char *buf;
	size_t cap, off;
	struct o8_arena big;    /* when a record outgrows buf */
};

static void *scratch_alloc(struct scratch *s, size_t n)
{
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (s->cap - s->off >= n) {
		p = s->buf + s->off;
		s->off += n;
		return p;
	}
	return o8_arena_alloc(&s->big, n);
}

static void scratch_reset(struct scratch *s)
{
	s->off = 0;
	if (s->big.head)
		o8_arena_free(&s->big);
}

/* Sort key: (network rank, kind, first 16 bytes of key) in integers, so
 * that sorting a million records rarely touches the strings. */
struct skey {
	uint64_t hi, k0, k1;
	const struct o8_record *r;
};

struct key_chunk {
	struct key_chunk *next;
	size_t n;
	struct skey v[KEY_CHUNK];
};

/* The keys of one object: usually already in order (a SIM batch lists
 * IMSIs in order), and disjoint from other objects' keys. */
struct run {
	size_t start, n;
};

struct worker {
	struct o8_arena arena;          /* records; handed to o8_records */
	struct scratch scratch;
	struct o8_rec_field *fv;        /* this record's fields, unsorted */
	size_t nf, capf;
	/* sort keys, in arena-allocated chunks (no realloc copies, huge
	   pages), then one sorted array */
	struct o8_arena karena;
	struct key_chunk *chunks, *last;
	struct skey *keys;
	size_t nkeys;
	struct run *runs;
	size_t nruns, capruns;
	gnutls_hmac_hd_t hmac;
	char path[PATH_LEN];
	size_t plen;
	unsigned dyn;                   /* path holds an index or map key */
	int oom;
	/* shared, read-only */
	const struct o8_obj *const *objs;
	size_t nobjs;
	const struct o8_strmap *nets;   /* network -> rank + 1 */
};

struct o8_records {
	struct o8_arena *arenas;        /* the workers': records */
	unsigned narenas;
	struct o8_arena own;            /* v */
	const struct o8_record **v;
	size_t n;
};

/* --- paths and fields ---------------------------------------------------- */

struct pmark {
	size_t len;
	unsigned dyn;
};

static void path_add(struct worker *w, const char *s, size_t n)
{
	if (w->plen + n >= PATH_LEN)
		n = PATH_LEN - 1 - w->plen;
	memcpy(w->path + w->plen, s, n);
	w->plen += n;
	w->path[w->plen] = '\0';
}

static struct pmark path_key(struct worker *w, const char *key, size_t len,
			     int dyn)
{
	struct pmark m = { w->plen, w->dyn };

	if (w->plen)
		path_add(w, ".", 1);
	path_add(w, key, len);
	if (dyn)
		w->dyn++;
	return m;
}

static struct pmark path_index(struct worker *w, size_t i)
{
	struct pmark m = { w->plen, w->dyn };
	char num[32], *p = num + sizeof(num);

	*--p = ']';
	do
		*--p = (char)('0' + i % 10);
	while ((i /= 10));
	*--p = '[';
	path_add(w, p, (size_t)(num + sizeof(num) - p));
	w->dyn++;
	return m;
}

static void path_pop(struct worker *w, struct pmark m)
{
	w->plen = m.len;
	w->path[m.len] = '\0';
	w->dyn = m.dyn;
}

/*
 * Adds a flattened field at the current path.  Without an index or map key
 * in it, the path is the schema row's own (static) string: no copy.
 */
static void add_field(struct worker *w, const char *row_path, const char *value,
		      bool sensitive)
{
	struct o8_rec_field *f;
	const char *path = row_path;

	if (w->dyn || !row_path) {
		path = o8_arena_strndup(&w->arena, w->path, w->plen);
		if (!path) {
			w->oom = 1;
			return;
		}
	}
	if (w->nf == w->capf) {
		size_t cap = w->capf ? w->capf * 2 : 64;
		struct o8_rec_field *v = realloc(w->fv, cap * sizeof(*v));
		if (!v) {
			w->oom = 1;
			return;
		}
		w->fv = v;
		w->capf = cap;
	}
	f = &w->fv[w->nf++];
	f->path = path;
	f->value = value;
	f->sensitive = sensitive;
}

/* --- values -------------------------------------------------------------- */

struct scalar {
	const char *text;       /* canonical, for the plan */
	long long i;
	double d;
	int b;
	int e;
	ProtobufCBinaryData bytes;
};

/* "(sensitive) " + the first bytes of HMAC-SHA256(fp_key, value). */
static const char *fingerprint(struct worker *w, const void *data, size_t len)
{
	unsigned char mac[32];
	char *out;

	if (gnutls_hmac(w->hmac, data, len) < 0) {
		w->oom = 1;
		return NULL;
	}
	gnutls_hmac_output(w->hmac, mac);      /* and back to the keyed state */
	out = o8_arena_alloc(&w->arena, sizeof(FP_PREFIX) + 2 * FP_BYTES);
	if (!out) {
		w->oom = 1;
		return NULL;
	}
	memcpy(out, FP_PREFIX, sizeof(FP_PREFIX) - 1);
	base16_encode_update(out + sizeof(FP_PREFIX) - 1, FP_BYTES, mac);
	out[sizeof(FP_PREFIX) - 1 + 2 * FP_BYTES] = '\0';
	return out;
}

/* The text of a decimal integer as %lld prints it: reused as is. */
static int int_canonical(const char *s)
{
	int neg = *s == '-';

	s += neg;
	if (*s == '0')
		return s[1] == '\0' && !neg;      /* "-0" is not canonical */
	if (*s < '1' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9')
		s++;
	return *s == '\0';
}

static const char *printed(struct worker *w, const char *buf)
{
	char *p = o8_arena_strndup(&w->arena, buf, strlen(buf));

	if (!p)
		w->oom = 1;
	return p;
}

static int hex_lower(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'F')
			return 0;
	return 1;
}

/*
 * Converts node v for row f into both forms.  Returns -1 when v does not
 * fit the row (the validator reports it; the field is left out of both
 * the body and the fields).
 */
static int to_scalar(struct worker *w, const struct row_bind *rb,
		     const struct o8_node *v, struct scalar *s)
{
	const struct o8_field *f = rb->f;
	const char *t;
	char buf[64];
	char *end;

	if (v->type != O8_N_SCALAR)
		return -1;
	t = v->u.str;
	s->text = t;
	switch (f->type) {
	case O8_T_STRING:
		if (f->fmt == O8_FMT_IMSI && !strncmp(t, "IMSI", 4))
			s->text = t + 4;
		if (rb->fd->type == PROTOBUF_C_TYPE_BYTES) {
			/* nettle's table-driven decoder: on a million random
			   keys it is measurably faster than gnutls_hex_decode */
			struct base16_decode_ctx hex;
			size_t len = BASE16_DECODE_LENGTH(v->n);
			unsigned char *b = scratch_alloc(&w->scratch, len ? len : 1);

			base16_decode_init(&hex);
			if (!b || !base16_decode_update(&hex, &len, b, v->n, t) ||
			    !base16_decode_final(&hex) || !len)
				return -1;
			s->bytes.data = b;
			s->bytes.len = len;
			if (f->flags & O8_F_SENSITIVE) {
				s->text = fingerprint(w, b, len);
			} else if (!hex_lower(t)) {
				char *h = o8_arena_alloc(&w->arena, BASE16_ENCODE_LENGTH(len) + 1);
				if (h) {
					base16_encode_update(h, len, b);
					h[BASE16_ENCODE_LENGTH(len)] = '\0';
				}
				s->text = h;
			}
			if (!s->text)
				w->oom = 1;
			return s->text ? 0 : -1;
		}
		return 0;
	case O8_T_INT:
		errno = 0;
		s->i = strtoll(t, &end, 10);
		if (!*t || *end || errno)
			return -1;
		switch (rb->fd->type) {
		case PROTOBUF_C_TYPE_UINT32:
			if (s->i < 0 || s->i > 4294967295LL)
				return -1;
			break;
		case PROTOBUF_C_TYPE_UINT64:
			if (s->i < 0)
				return -1;
			break;
		case PROTOBUF_C_TYPE_INT32:
			if (s->i < -2147483648LL || s->i > 2147483647LL)
				return -1;
			break;
		default:
			break;
		}
		if (!int_canonical(t)) {
			snprintf(buf, sizeof(buf), "%lld", s->i);
			s->text = printed(w, buf);
		}
		return s->text ? 0 : -1;
	case O8_T_NUMBER: {
		int prec;

		errno = 0;
		s->d = strtod(t, &end);
		if (!*t || *end || errno || !isfinite(s->d))
			return -1;
		/* the shortest text that reads back as the same double ... */
		for (prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, s->d);
			if (strtod(buf, NULL) == s->d)
				break;
		}
		/* ... written as operators write it: 20, not 2e+01 */
		if (strchr(buf, 'e') && fabs(s->d) >= 1e-4 && fabs(s->d) < 1e15) {
			int digits = (int)floor(log10(fabs(s->d))) + 1;
			snprintf(buf, sizeof(buf), "%.*g", digits > prec ? digits : prec, s->d);
		}
		if (strcmp(buf, t))
			s->text = printed(w, buf);
		return s->text ? 0 : -1;
	}
	case O8_T_BOOL:
		if (!strcmp(t, "true"))
			s->b = 1, s->text = "true";
		else if (!strcmp(t, "false"))
			s->b = 0, s->text = "false";
		else
			return -1;
		return 0;
	case O8_T_ENUM: {
		size_t j;

		for (j = 0; f->enums && f->enums[j]; j++)
			if (!strcmp(f->enums[j], t)) {
				s->e = rb->enum_nums[j];
				s->text = f->enums[j];  /* static: outlives the model */
				return 0;
			}
		return -1;
	}
	default:
		return -1;
	}
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_UINT32:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:        /* STRING, MESSAGE: a pointer */
		return sizeof(void *);
	}
}

static void store(void *p, ProtobufCType t, const struct scalar *s)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
		/* pack only reads; the text lives as long as the record */
		*(const char **)p = s->text;
		break;
	case PROTOBUF_C_TYPE_BYTES:
		*(ProtobufCBinaryData *)p = s->bytes;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = s->b;
		break;
	case PROTOBUF_C_TYPE_UINT32:
		*(uint32_t *)p = (uint32_t)s->i;
		break;
	case PROTOBUF_C_TYPE_INT32:
		*(int32_t *)p = (int32_t)s->i;
		break;
	case PROTOBUF_C_TYPE_UINT64:
		*(uint64_t *)p = (uint64_t)s->i;
		break;
	case PROTOBUF_C_TYPE_INT64:
		*(int64_t *)p = (int64_t)s->i;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)p = s->d;
		break;
	case PROTOBUF_C_TYPE_ENUM:
		*(int *)p = s->e;
		break;
	default:
		break;
	}
}

static void set_scalar(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
		       const struct scalar *s)
{
	char *base = (char *)msg;

	store(base + fd->offset, fd->type, s);
	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(base + fd->quantifier_offset) = fd->id;
	else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL)
		*(protobuf_c_boolean *)(base + fd->quantifier_offset) = 1;
}

static ProtobufCMessage *new_msg(struct worker *w,
				 const ProtobufCMessageDescriptor *md)
{
	ProtobufCMessage *m = scratch_alloc(&w->scratch, md->sizeof_message);

	if (!m) {
		w->oom = 1;
		return NULL;
	}
	protobuf_c_message_init(md, m);
	return m;
}

/* --- the walk ------------------------------------------------------------ */

static void walk_map(struct worker *w, const struct kind_bind *kb, int cont,
		     ProtobufCMessage *msg, const struct o8_node *map,
		     const struct o8_node *fallback);

/* A null value ("", "~", "null") is the same as leaving the key out. */
static int is_null(const struct o8_node *v)
{
	/* the length test first: o8_node_is_null compares strings */
	return v->type == O8_N_SCALAR && v->n <= 4 && o8_node_is_null(v);
}

struct pair {
	const char *k;
	const char *v;
};

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->k, ((const struct pair *)b)->k);
}

/*
 * A map of free keys -> repeated (key, value) messages sorted by key, and
 * one field per entry ("staticIps.internet").  The first of duplicate keys
 * wins (the loader reports duplicates).
 */
static void put_dict(struct worker *w, ProtobufCMessage *msg,
		     const ProtobufCFieldDescriptor *fd,
		     const ProtobufCFieldDescriptor *dk,
		     const ProtobufCFieldDescriptor *dv, const struct o8_node *map)
{
	struct pair *pv;
	ProtobufCMessage **arr;
	size_t i, n = 0, out = 0;
	char *base = (char *)msg;

	if (map->type != O8_N_MAP || !map->n)
		return;
	pv = scratch_alloc(&w->scratch, map->n * sizeof(*pv));
	arr = scratch_alloc(&w->scratch, map->n * sizeof(*arr));
	if (!pv || !arr) {
		w->oom = 1;
		return;
	}
	for (i = 0; i < map->n; i++) {
		const struct o8_node *k = &map->u.kids[2 * i], *v = &map->u.kids[2 * i + 1];
		if (k->type == O8_N_SCALAR && v->type == O8_N_SCALAR && !is_null(v)) {
			pv[n].k = k->u.str;
			pv[n].v = v->u.str;
			n++;
		}
	}
	/* stable for the duplicate rule: ties keep map order (indices grow) */
	for (i = 1; i < n; i++) {
		struct pair x = pv[i];
		size_t j = i;
		while (j > 0 && pair_cmp(&pv[j - 1], &x) > 0) {
			pv[j] = pv[j - 1];
			j--;
		}
		pv[j] = x;
	}
	for (i = 0; i < n; i++) {
		struct scalar sk = { .text = pv[i].k }, sv = { .text = pv[i].v };
		ProtobufCMessage *m;
		struct pmark mk;

		if (i && !strcmp(pv[i].k, pv[i - 1].k))
			continue;
		m = new_msg(w, fd->descriptor);
		if (!m)
			return;
		set_scalar(m, dk, &sk);
		set_scalar(m, dv, &sv);
		arr[out++] = m;
		mk = path_key(w, pv[i].k, strlen(pv[i].k), 1);
		add_field(w, NULL, pv[i].v, false);
		path_pop(w, mk);
	}
	*(size_t *)(base + fd->quantifier_offset) = out;
	*(ProtobufCMessage ***)(base + fd->offset) = arr;
}

/* Items of a keyed list in key order (ties: operator's order). */
static size_t *keyed_order(struct worker *w, const struct kind_bind *kb,
			   const struct row_bind *rb, const struct o8_node *seq)
{
	const char *seg = kb->rows[rb->sort_row].seg;
	const char **key = scratch_alloc(&w->scratch, seq->n * sizeof(*key));
	size_t *ord = scratch_alloc(&w->scratch, seq->n * sizeof(*ord));
	size_t i, j;

	if (!key || !ord) {
		w->oom = 1;
		return NULL;
	}
	for (i = 0; i < seq->n; i++) {
		const char *k = o8_node_str(o8_node_get(&seq->u.kids[i], seg));
		key[i] = k ? k : "";
		for (j = i; j > 0 && strcmp(key[ord[j - 1]], key[i]) > 0; j--)
			ord[j] = ord[j - 1];
		ord[j] = i;
	}
	return ord;
}

static void put_list(struct worker *w, const struct kind_bind *kb,
		     const struct row_bind *rb, ProtobufCMessage *msg,
		     const struct o8_node *seq)
{
	const ProtobufCFieldDescriptor *fd = rb->fd;
	const struct row_bind *ib = &kb->rows[rb->item];
	size_t esz = elem_size(fd->type), i, out = 0, *ord = NULL;
	char *base = (char *)msg, *arr;

	if (seq->type != O8_N_SEQ || !seq->n)
		return;
	arr = scratch_alloc(&w->scratch, seq->n * esz);
	if (!arr) {
		w->oom = 1;
		return;
	}
	if (rb->sort_row >= 0 && !(ord = keyed_order(w, kb, rb, seq)))
		return;
	for (i = 0; i < seq->n; i++) {
		const struct o8_node *it = &seq->u.kids[ord ? ord[i] : i];
		struct pmark mk = path_index(w, out);

		if (ib->f->type == O8_T_OBJECT) {
			ProtobufCMessage *m;
			if (it->type == O8_N_MAP && (m = new_msg(w, fd->descriptor))) {
				walk_map(w, kb, rb->item, m, it, NULL);
				((ProtobufCMessage **)(void *)arr)[out++] = m;
			}
		} else {
			struct scalar s = { 0 };
			if (!is_null(it) && !to_scalar(w, ib, it, &s)) {
				store(arr + out * esz, fd->type, &s);
				out++;
				add_field(w, NULL, s.text, ib->f->flags & O8_F_SENSITIVE);
			}
		}
		path_pop(w, mk);
	}
	*(size_t *)(base + fd->quantifier_offset) = out;
	*(void **)(base + fd->offset) = arr;
}

static void put_value(struct worker *w, const struct kind_bind *kb, int r,
		      ProtobufCMessage *msg, const struct o8_node *v)
{
	const struct row_bind *rb = &kb->rows[r];
	struct scalar s = { 0 };

	switch (rb->f->type) {
	case O8_T_OBJECT: {
		ProtobufCMessage *sub;
		if (v->type != O8_N_MAP || !(sub = new_msg(w, rb->fd->descriptor)))
			return;
		*(ProtobufCMessage **)((char *)msg + rb->fd->offset) = sub;
		walk_map(w, kb, r, sub, v, NULL);
		return;
	}
	case O8_T_LIST:
		put_list(w, kb, rb, msg, v);
		return;
	case O8_T_DICT:
		put_dict(w, msg, rb->fd, rb->dk, rb->dv, v);
		return;
	default:
		if (to_scalar(w, rb, v, &s))
			return;
		set_scalar(msg, rb->fd, &s);
		add_field(w, rb->f->path, s.text, rb->f->flags & O8_F_SENSITIVE);
	}
}

/* The value of the first key of map named like rb; NULL when absent. */
static const struct o8_node *lookup(const struct o8_node *map,
				    const struct row_bind *rb)
{
	const struct o8_node *kids = map->u.kids;
	uint32_t i;

	for (i = 0; i < map->n; i++)
		if (kids[2 * i].n == rb->seglen && kids[2 * i].type == O8_N_SCALAR &&
		    !memcmp(kids[2 * i].u.str, rb->seg, rb->seglen))
			return &kids[2 * i + 1];
	return NULL;
}

/*
 * One map against the rows of its container, in row order (so the fields
 * mostly come out sorted): a row whose key is present is converted, an
 * absent one is looked up in fallback (a SubscriberSet's defaults: an item
 * overrides them key by key, a list or map as a whole), then gets its
 * default, so that a default made explicit changes nothing.  Keys no row
 * knows are skipped (the validator reports them); of duplicate keys the
 * first wins.
 */
static void walk_map(struct worker *w, const struct kind_bind *kb, int cont,
		     ProtobufCMessage *msg, const struct o8_node *map,
		     const struct o8_node *fallback)
{
	const struct cont *c = &kb->conts[cont < 0 ? kb->ks->nfields : (size_t)cont];
	unsigned j;

	for (j = 0; j < c->nkids; j++) {
		const struct row_bind *rb = &kb->rows[c->kids[j]];
		const struct o8_node *v = lookup(map, rb);
		struct pmark mk;

		if (!v && fallback)
			v = lookup(fallback, rb);
		if (!v || is_null(v)) {
			if (!rb->f->def)
				continue;
			v = &rb->defnode;
		}
		mk = path_key(w, rb->seg, rb->seglen, 0);
		put_value(w, kb, c->kids[j], msg, v);
		path_pop(w, mk);
	}
}

/* --- records ------------------------------------------------------------- */

static int field_cmp(const void *a, const void *b)
{
	return strcmp(((const struct o8_rec_field *)a)->path,
		      ((const struct o8_rec_field *)b)->path);
}

static void sort_fields(struct o8_rec_field *v, size_t n)
{
	size_t i, j;

	if (n > 16) {
		qsort(v, n, sizeof(*v), field_cmp);
		return;
	}
	for (i = 1; i < n; i++) {
		struct o8_rec_field x = v[i];
		for (j = i; j > 0 && strcmp(v[j - 1].path, x.path) > 0; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static uint64_t be64(const char *s, size_t *off)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++) {
		unsigned char c = (unsigned char)s[*off];
		v = v << 8 | c;
		if (c)
			(*off)++;
	}
	return v;
}

static void push_key(struct worker *w, const struct o8_record *r, unsigned rank)
{
	struct skey *k;
	size_t off = 0;

	if (!w->last || w->last->n == KEY_CHUNK) {
		struct key_chunk *c = o8_arena_alloc(&w->karena, sizeof(*c));
		if (!c) {
			w->oom = 1;
			return;
		}
		c->next = NULL;
		c->n = 0;
		if (w->last)
			w->last->next = c;
		else
			w->chunks = c;
		w->last = c;
	}
	k = &w->last->v[w->last->n++];
	w->nkeys++;
	k->hi = (uint64_t)rank << 8 | (uint64_t)r->kind;
	k->k0 = be64(r->key, &off);
	k->k1 = be64(r->key, &off);
	k->r = r;
}

/*
 * A total order: (network, kind, key) as strcmp sees them, then where the
 * object is, so that even duplicate keys of an invalid model sort the same
 * way whatever thread compiled them.
 */
static int skey_cmp(const void *pa, const void *pb)
{
	const struct skey *a = pa, *b = pb;
	int c;

	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->k0 != b->k0)
		return a->k0 < b->k0 ? -1 : 1;
	if (a->k1 != b->k1)
		return a->k1 < b->k1 ? -1 : 1;
	if ((a->k1 & 0xff) && (c = strcmp(a->r->key + 16, b->r->key + 16)))
		return c;
	if ((c = strcmp(a->r->obj->file, b->r->obj->file)))
		return c;
	if (a->r->at->line != b->r->at->line)
		return a->r->at->line < b->r->at->line ? -1 : 1;
	if (a->r->at->col != b->r->at->col)
		return a->r->at->col < b->r->at->col ? -1 : 1;
	return 0;
}

/*
 * Encodes msg and stores the record.  key and name are borrowed (model or
 * arena); fields are copied out of the worker's vector, sorted.
 */
static void finish(struct worker *w, enum o8_rec_kind kind, const struct o8_obj *o,
		   const struct o8_node *at, const char *key, const char *name,
		   unsigned rank, ProtobufCMessage *msg)
{
	struct o8_record *r;
	struct o8_rec_field *fv;
	uint8_t *body;
	size_t len;

	if (w->oom)
		return;
	len = protobuf_c_message_get_packed_size(msg);
	r = o8_arena_alloc(&w->arena, sizeof(*r));
	body = o8_arena_alloc(&w->arena, len ? len : 1);
	fv = o8_arena_alloc(&w->arena, (w->nf ? w->nf : 1) * sizeof(*fv));
	if (!r || !body || !fv) {
		w->oom = 1;
		return;
	}
	if (protobuf_c_message_pack(msg, body) != len ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, body, len, r->digest) < 0) {
		w->oom = 1;
		return;
	}
	sort_fields(w->fv, w->nf);
	memcpy(fv, w->fv, w->nf * sizeof(*fv));
	r->kind = kind;
	r->network = o->network;
	r->key = key;
	r->name = name;
	r->body = body;
	r->len = len;
	r->fields = fv;
	r->nfields = w->nf;
	r->obj = o;
	r->at = at;
	push_key(w, r, rank);
}

static void begin(struct worker *w)
{
	scratch_reset(&w->scratch);
	w->nf = 0;
	w->plen = 0;
	w->path[0] = '\0';
	w->dyn = 0;
}

/* metadata.name and (Gateway) metadata.labels, where the message has them. */
static void put_metadata(struct worker *w, const struct kind_bind *kb,
			 const struct o8_obj *o, ProtobufCMessage *msg)
{
	if (kb->name_fd && o->name) {
		struct scalar s = { .text = o->name };
		set_scalar(msg, kb->name_fd, &s);
		add_field(w, "metadata.name", o->name, false);
	}
	if (kb->labels_fd) {
		const struct o8_node *l = o8_node_path(o->root, "metadata.labels");
		if (l) {
			struct pmark mk = path_key(w, "metadata.labels", 15, 1);
			put_dict(w, msg, kb->labels_fd, kb->labels_k, kb->labels_v, l);
			path_pop(w, mk);
		}
	}
}

/* "IMSI" + digits: the source text when it was written that way. */
static const char *imsi_name(struct worker *w, const char *src, const char *digits)
{
	char *p;
	size_t n;

	if (src != digits)
		return src;
	n = strlen(digits);
	p = o8_arena_alloc(&w->arena, n + 5);
	if (!p) {
		w->oom = 1;
		return NULL;
	}
	memcpy(p, "IMSI", 4);
	memcpy(p + 4, digits, n + 1);
	return p;
}

static void compile_subscriber(struct worker *w, const struct o8_obj *o,
			       const struct o8_node *at, const struct o8_node *spec,
			       const struct o8_node *defaults, unsigned rank)
{
	const struct kind_bind *kb = &binds[O8_REC_SUBSCRIBER];
	const struct o8_node *in = o8_node_get(spec, "imsi");
	const char *imsi, *key, *name;
	ProtobufCMessage *msg;

	if (!in && defaults)
		in = o8_node_get(defaults, "imsi");
	if (!(imsi = o8_node_str(in)))
		return;
	key = !strncmp(imsi, "IMSI", 4) ? imsi + 4 : imsi;
	if (!*key)
		return;
	begin(w);
	if (!(msg = new_msg(w, kb->msg)))
		return;
	put_metadata(w, kb, o, msg);
	walk_map(w, kb, -1, msg, spec, defaults);
	name = imsi_name(w, imsi, key);
	if (name)
		finish(w, O8_REC_SUBSCRIBER, o, at, key, name, rank, msg);
}

/* One Subscriber per item; walk_map applies the set's defaults. */
static void compile_set(struct worker *w, const struct o8_obj *o, unsigned rank)
{
	const struct o8_node *defs = o8_node_get(o->spec, "defaults");
	const struct o8_node *subs = o8_node_get(o->spec, "subscribers");
	uint32_t i;

	if (defs && defs->type != O8_N_MAP)
		defs = NULL;
	if (!subs || subs->type != O8_N_SEQ)
		return;
	for (i = 0; i < subs->n && !w->oom; i++)
		if (subs->u.kids[i].type == O8_N_MAP)
			compile_subscriber(w, o, &subs->u.kids[i], &subs->u.kids[i], defs, rank);
}

static void compile_one(struct worker *w, const struct o8_obj *o)
{
	enum o8_rec_kind rk = rec_kind_of(o->kind);
	const struct kind_bind *kb;
	const char *key;
	ProtobufCMessage *msg;
	void *rank;

	if (!rk || !o->network || !o->spec || o->spec->type != O8_N_MAP || !o->root)
		return;
	rank = o8_strmap_get(w->nets, o->network);
	if (!rank)
		return;
	if (o->kind == O8_KIND_SUBSCRIBERSET) {
		compile_set(w, o, (unsigned)(uintptr_t)rank);
		return;
	}
	if (o->kind == O8_KIND_SUBSCRIBER) {
		compile_subscriber(w, o, o->root, o->spec, NULL, (unsigned)(uintptr_t)rank);
		return;
	}
	key = rk == O8_REC_ENODEB ? o8_node_str(o8_node_get(o->spec, "serial")) : o->name;
	if (!key || !o->name)
		return;
	kb = &binds[rk];
	begin(w);
	if (!(msg = new_msg(w, kb->msg)))
		return;
	put_metadata(w, kb, o, msg);
	walk_map(w, kb, -1, msg, o->spec, NULL);
	finish(w, rk, o, o->root, key, o->name, (unsigned)(uintptr_t)rank, msg);
}

/* Compiles one object and notes the run of keys it added. */
static void compile_obj(struct worker *w, const struct o8_obj *o)
{
	size_t before = w->nkeys;

	compile_one(w, o);
	if (w->oom || w->nkeys == before)
		return;
	if (w->nruns == w->capruns) {
		size_t cap = w->capruns ? w->capruns * 2 : 1024;
		struct run *v = realloc(w->runs, cap * sizeof(*v));
		if (!v) {
			w->oom = 1;
			return;
		}
		w->runs = v;
		w->capruns = cap;
	}
	w->runs[w->nruns].start = before;
	w->runs[w->nruns].n = w->nkeys - before;
	w->nruns++;
}

static int sorted(const struct skey *k, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (skey_cmp(&k[i - 1], &k[i]) > 0)
			return 0;
	return 1;
}

static int run_cmp(const void *a, const void *b, void *keys)
{
	const struct skey *k = keys;

	return skey_cmp(&k[((const struct run *)a)->start], &k[((const struct run *)b)->start]);
}

/*
 * Sorts the worker's keys.  Objects' runs are sorted one by one (usually
 * a check), then ordered by their first key; when the runs do not overlap
 * -- the common case -- that is the whole sort, in linear time.  Otherwise
 * a full sort under the same order: the result is the same either way.
 */
static int sort_keys(struct worker *w)
{
	struct key_chunk *c;
	struct skey *flat, *out;
	size_t n = 0, i;

	flat = o8_arena_alloc(&w->karena, w->nkeys * sizeof(*flat));
	out = o8_arena_alloc(&w->karena, w->nkeys * sizeof(*out));
	if (!flat || !out)
		return -1;
	for (c = w->chunks; c; c = c->next) {
		memcpy(flat + n, c->v, c->n * sizeof(*c->v));
		n += c->n;
	}
	for (i = 0; i < w->nruns; i++)
		if (!sorted(flat + w->runs[i].start, w->runs[i].n))
			qsort(flat + w->runs[i].start, w->runs[i].n, sizeof(*flat), skey_cmp);
	qsort_r(w->runs, w->nruns, sizeof(*w->runs), run_cmp, flat);
	for (n = 0, i = 0; i < w->nruns; i++) {
		memcpy(out + n, flat + w->runs[i].start, w->runs[i].n * sizeof(*out));
		n += w->runs[i].n;
		if (i && skey_cmp(&out[n - w->runs[i].n - 1], &out[n - w->runs[i].n]) > 0)
			break;  /* runs overlap */
	}
	if (i < w->nruns) {
		memcpy(out, flat, w->nkeys * sizeof(*out));
		qsort(out, w->nkeys, sizeof(*out), skey_cmp);
	}
	w->keys = out;
	return 0;
}

static int compile_item(void *ctx, size_t i)
{
	struct worker *w = ctx;

	compile_obj(w, w->objs[i]);
	return w->oom;
}

/* Item t is worker t's run: every worker's keys sorted on some thread. */
static int sort_item(void *ctx, size_t t)
{
	struct worker *w = (struct worker *)ctx + t;

	if (!w->oom && w->nkeys && sort_keys(w))
		w->oom = 1;
	return w->oom;
}

static int worker_init(struct worker *w)
{
	w->scratch.buf = malloc(SCRATCH);
	w->scratch.cap = SCRATCH;
	if (!w->scratch.buf)
		return -1;
	if (gnutls_hmac_init(&w->hmac, GNUTLS_MAC_SHA256, fp_key, sizeof(fp_key) - 1) < 0) {
		w->hmac = NULL;
		return -1;
	}
	return 0;
}

static void worker_done(struct worker *w)
{
	free(w->scratch.buf);
	o8_arena_free(&w->scratch.big);
	free(w->fv);
	o8_arena_free(&w->karena);
	free(w->runs);
	if (w->hmac)
		gnutls_hmac_deinit(w->hmac, NULL);
}

/* --- the API ------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Networks ranked in strcmp order, so that integer order is name order. */
static int rank_networks(struct o8_strmap *ranks, const struct o8_obj *const *objs,
			 size_t nobjs)
{
	struct o8_strmap seen = O8_STRMAP_INIT;
	const char **names = NULL, *k;
	size_t i, n = 0, it = 0;
	void *v;
	int rc = -1;

	for (i = 0; i < nobjs; i++)
		if (objs[i] && objs[i]->network &&
		    o8_strmap_put(&seen, objs[i]->network, (void *)objs[i]->network, NULL) < 0)
			goto out;
	names = malloc((seen.n ? seen.n : 1) * sizeof(*names));
	if (!names)
		goto out;
	while (o8_strmap_next(&seen, &it, &k, &v))
		names[n++] = k;
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++)
		if (o8_strmap_put(ranks, names[i], (void *)(uintptr_t)(i + 1), NULL) < 0)
			goto out;
	rc = 0;
out:
	free(names);
	o8_strmap_free(&seen);
	return rc;
}

static size_t work_of(const struct o8_obj *const *objs, size_t nobjs)
{
	size_t i, n = 0;

	for (i = 0; i < nobjs; i++) {
		const struct o8_node *s;
		if (!objs[i] || objs[i]->kind != O8_KIND_SUBSCRIBERSET) {
			n++;
			continue;
		}
		s = o8_node_get(objs[i]->spec, "subscribers");
		n += s && s->type == O8_N_SEQ ? s->n : 1;
	}
	return n;
}

/* Merges the workers' sorted runs into r->v. */
static int merge(struct o8_records *r, struct worker *w, unsigned nt)
{
	size_t pos[O8_POOL_MAX_THREADS] = { 0 }, total = 0, i;
	unsigned t;

	for (t = 0; t < nt; t++)
		total += w[t].nkeys;
	/* from an arena: a million pointers fault in as huge pages */
	r->v = o8_arena_alloc(&r->own, (total ? total : 1) * sizeof(*r->v));
	if (!r->v)
		return -1;
	for (i = 0; i < total; i++) {
		int best = -1;
		for (t = 0; t < nt; t++)
			if (pos[t] < w[t].nkeys &&
			    (best < 0 || skey_cmp(&w[t].keys[pos[t]],
						  &w[best].keys[pos[best]]) < 0))
				best = (int)t;
		r->v[i] = w[best].keys[pos[best]++].r;
	}
	r->n = total;
	return 0;
}

enum o8_rc o8_compile_objs_opts(struct o8_records **out,
				const struct o8_obj *const *objs, size_t nobjs,
				const struct o8_compile_opts *opts,
				struct o8_err *err)
{
	struct o8_strmap ranks = O8_STRMAP_INIT;
	struct worker *w = NULL;
	struct o8_records *r;
	unsigned nt, t;
	int oom = 0;

	*out = NULL;
	pthread_once(&bind_once, bind_all);
	if (bind_error[0])
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "schema and protobuf disagree: %s", bind_error);
	if (opts && opts->threads)
		nt = o8_pool_threads(opts->threads, 0, 0);
	else                    /* automatic: threads only where they pay */
		nt = o8_pool_threads(0, work_of(objs, nobjs), ONE_THREAD_BELOW);
	r = calloc(1, sizeof(*r));
	w = calloc(nt, sizeof(*w));
	if (!r || !w || rank_networks(&ranks, objs, nobjs))
		goto oom;
	for (t = 0; t < nt; t++) {
		w[t].objs = objs;
		w[t].nobjs = nobjs;
		w[t].nets = &ranks;
		if (worker_init(&w[t]))
			goto oom;
	}
	/* thread 0 is this one: a small repo starts no thread at all */
	if (!o8_pool_run(nt, nobjs, compile_item, w, sizeof(*w), NULL))
		o8_pool_run(nt, nt, sort_item, w, 0, NULL);
	for (t = 0; t < nt; t++)
		oom |= w[t].oom;
	if (oom || merge(r, w, nt))
		goto oom;
	r->arenas = calloc(nt, sizeof(*r->arenas));
	if (!r->arenas)
		goto oom;
	for (t = 0; t < nt; t++) {
		r->arenas[t] = w[t].arena;
		memset(&w[t].arena, 0, sizeof(w[t].arena));
	}
	r->narenas = nt;
	for (t = 0; t < nt; t++)
		worker_done(&w[t]);
	free(w);
	o8_strmap_free(&ranks);
	*out = r;
	return O8_OK;
oom:
	if (w) {
		for (t = 0; t < nt; t++) {
			o8_arena_free(&w[t].arena);
			worker_done(&w[t]);
		}
		free(w);
	}
	if (r) {
		o8_arena_free(&r->own);
		free(r->arenas);
		free(r);
	}
	o8_strmap_free(&ranks);
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory compiling records");
}

enum o8_rc o8_compile_objs(struct o8_records **out,
			   const struct o8_obj *const *objs, size_t nobjs,
			   struct o8_err *err)
{
	return o8_compile_objs_opts(out, objs, nobjs, NULL, err);
}

enum o8_rc o8_compile(struct o8_records **out, const struct o8_model *m,
		      struct o8_err *err)
{
	size_t n = o8_model_nobjs(m), i;
	const struct o8_obj **objs = malloc((n ? n : 1) * sizeof(*objs));
	enum o8_rc rc;

	*out = NULL;
	if (!objs)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory compiling records");
	for (i = 0; i < n; i++)
		objs[i] = o8_model_obj(m, i);
	rc = o8_compile_objs(out, objs, n, err);
	free(objs);
	return rc;
}

size_t o8_records_count(const struct o8_records *r)
{
	return r ? r->n : 0;
}

const struct o8_record *o8_records_get(const struct o8_records *r, size_t i)
{
	return r && i < r->n ? r->v[i] : NULL;
}

struct find_key {
	const char *network;
	enum o8_rec_kind kind;
	const char *key;
};

static int find_cmp(const void *pk, const void *pe)
{
	const struct find_key *k = pk;
	const struct o8_record *e = *(const struct o8_record *const *)pe;
	int c = strcmp(k->network, e->network);

	if (c)
		return c;
	if (k->kind != e->kind)
		return k->kind < e->kind ? -1 : 1;
	return strcmp(k->key, e->key);
}

const struct o8_record *o8_records_find(const struct o8_records *r,
					const char *network,
					enum o8_rec_kind kind, const char *key)
{
	struct find_key k = { network, kind, key };
	const struct o8_record *const *p;

	if (!r || !network || !key)
		return NULL;
	p = bsearch(&k, r->v, r->n, sizeof(*r->v), find_cmp);
	return p ? *p : NULL;
}

/* First record not below (network, kind, key). */
static size_t lower_bound(const struct o8_records *r, const char *network,
			  enum o8_rec_kind kind, const char *key)
{
	struct find_key k = { network, kind, key };
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (find_cmp(&k, &r->v[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void o8_records_free(struct o8_records *r)
{
	unsigned t;

	if (!r)
		return;
	for (t = 0; t < r->narenas; t++)
		o8_arena_free(&r->arenas[t]);
	free(r->arenas);
	o8_arena_free(&r->own);
	free(r);
}

/* The value of the record's field path, or NULL (fields are sorted). */
static const char *field_value(const struct o8_record *rec, const char *path)
{
	size_t lo = 0, hi = rec->nfields;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, rec->fields[mid].path);
		if (!c)
			return rec->fields[mid].value;
		if (c > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int rec_key_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct o8_record *const *)a)->key,
		      (*(const struct o8_record *const *)b)->key);
}

/*
 * The gateway's own record names what it gets: its tier ("tier") and its
 * eNodeBs ("enodebs[i]"); the rest is its network's APN..Subscriber range,
 * contiguous because records sort by (network, kind, key) and those kinds
 * are adjacent in enum o8_rec_kind.
 */
enum o8_rc o8_compile_agw(struct o8_agw_config *out,
			  const struct o8_records *r, const char *network,
			  const char *gateway, struct o8_err *err)
{
	const struct o8_record *gw, *net, *tier = NULL, **enbs;
	const char *t;
	size_t i, ne = 0, lo, hi, n, k = 0;

	out->recs = NULL;
	out->n = 0;
	gw = o8_records_find(r, network, O8_REC_GATEWAY, gateway);
	if (!gw)
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "no gateway '%s' in network '%s'", gateway,
				  network ? network : "");
	net = o8_records_find(r, network, O8_REC_NETWORK, network);
	t = field_value(gw, "tier");
	if (t)
		tier = o8_records_find(r, network, O8_REC_TIER, t);
	enbs = malloc((gw->nfields ? gw->nfields : 1) * sizeof(*enbs));
	if (!enbs)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < gw->nfields; i++) {
		const struct o8_record *e;
		if (strncmp(gw->fields[i].path, "enodebs[", 8))
			continue;
		e = o8_records_find(r, network, O8_REC_ENODEB, gw->fields[i].value);
		if (e)
			enbs[ne++] = e;
	}
	qsort(enbs, ne, sizeof(*enbs), rec_key_cmp);
	lo = lower_bound(r, network, O8_REC_APN, "");
	hi = lower_bound(r, network, O8_REC_TIER, "");
	n = (net != NULL) + 1 + ne + (hi - lo) + (tier != NULL);
	out->recs = malloc(n * sizeof(*out->recs));
	if (!out->recs) {
		free(enbs);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	}
	if (net)
		out->recs[k++] = net;
	out->recs[k++] = gw;
	for (i = 0; i < ne; i++)
		if (!i || enbs[i] != enbs[i - 1])       /* listed twice: once */
			out->recs[k++] = enbs[i];
	for (i = lo; i < hi; i++)
		out->recs[k++] = r->v[i];
	if (tier)
		out->recs[k++] = tier;
	out->n = k;
	free(enbs);
	return O8_OK;
}

void o8_agw_config_done(struct o8_agw_config *c)
{
	if (!c)
		return;
	free(c->recs);
	c->recs = NULL;
	c->n = 0;
}
