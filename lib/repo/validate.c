/*
 * validate.c - the schema pass (parallel, one object at a time) and the
 * network pass (serial: duplicates, references, collisions).
 *
 * Order of work: index the small kinds first (everything but subscribers:
 * names, serials, profiles), so that the parallel pass can resolve the
 * references of a million subscribers against read-only maps.  Values that
 * must be unique are collected per thread and compared after a sort.
 */
#include "repo/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/pool.h"
#include "util/strmap.h"
#include "util/suggest.h"

enum { PATH_LEN = 512 };

#define SEP "\x1f"

/* A value that must be unique (imsi, hardwareId, serial). */
struct uniq {                   /* 32 bytes: there is one per subscriber */
	uint64_t hash;
	const struct o8_field *row;
	const struct o8_obj *obj;
	const struct o8_node *at;
};

/* Unique per network, or (NULL) in the whole repo. */
static const char *uniq_net(const struct uniq *u)
{
	return u->row->flags & O8_F_UNIQUE_NET ? u->obj->network : NULL;
}

/* The value compared: an IMSI with or without its "IMSI" prefix is one. */
static const char *uniq_val(const struct uniq *u)
{
	const char *v = u->at->u.str;

	return u->row->fmt == O8_FMT_IMSI && !strncmp(v, "IMSI", 4) ? v + 4 : v;
}

/*
 * Every name another object can refer to, keyed "space SEP network SEP
 * name": space is a kind name ("APN"), "serial" (ENodeBs by serial) or
 * "profile" (a network's subProfiles); a Network's network is "".
 */
struct ctx {
	const struct o8_model *m;
	struct o8_arena arena;          /* composite keys */
	struct o8_strmap names;         /* -> the object (or node) named */
};

struct walker {
	struct ctx *c;
	const struct o8_obj *obj;
	const char *kind;
	struct o8_diags diags;
	struct uniq *u;
	size_t nu, capu;
	struct o8_counts counts;
	char spath[PATH_LEN];           /* schema path: "flows[].match" */
	size_t slen;
	char dpath[PATH_LEN];           /* display path: "flows[1].match" */
	size_t dlen;
	int oom;
	/*
	 * References are checked after the whole repo is loaded (the schema
	 * pass may run while files are still being parsed): the first pass
	 * only collects each distinct name referred to, and a second pass
	 * with refs_only set looks them up, and runs only if one is missing.
	 */
	int refs_only;
	struct o8_strmap refs;          /* distinct keys referred to */
	struct o8_arena refkeys;
};

#define DIAG(w, n, ...) do { \
	if (!(w)->refs_only) DIAG_REF(w, n, __VA_ARGS__); \
} while (0)

/* The two "%s%s" arguments that end a message with the row's reason
 * (schema.h: why), or with nothing. */
#define WHY(f) (f)->why ? "; " : "", (f)->why ? (f)->why : ""

#define DIAG_REF(w, n, ...) do { \
	if (o8_diags_add(&(w)->diags, (w)->obj->file, (n)->line, (n)->col, \
			 (w)->kind, (w)->obj->name, __VA_ARGS__)) \
		(w)->oom = 1; \
} while (0)

/* --- paths --------------------------------------------------------------- */

struct mark { size_t s, d; };

static void path_add(char *buf, size_t *len, const char *a, size_t n)
{
	if (*len + n >= PATH_LEN)
		n = PATH_LEN - 1 - *len;
	memcpy(buf + *len, a, n);
	*len += n;
	buf[*len] = '\0';
}

/* Called for every key of a million subscribers: no printf here. */
static struct mark path_push(struct walker *w, const char *key, long idx)
{
	struct mark mk = { w->slen, w->dlen };
	char num[32], *p = num + sizeof(num);

	if (idx >= 0) {
		path_add(w->spath, &w->slen, "[]", 2);
		*--p = ']';
		do
			*--p = (char)('0' + idx % 10);
		while ((idx /= 10));
		*--p = '[';
		path_add(w->dpath, &w->dlen, p, (size_t)(num + sizeof(num) - p));
	} else {
		size_t kl = strlen(key);
		if (w->slen)
			path_add(w->spath, &w->slen, ".", 1);
		path_add(w->spath, &w->slen, key, kl);
		if (w->dlen)
			path_add(w->dpath, &w->dlen, ".", 1);
		path_add(w->dpath, &w->dlen, key, kl);
	}
	return mk;
}

static void path_pop(struct walker *w, struct mark mk)
{
	w->slen = mk.s;
	w->spath[mk.s] = '\0';
	w->dlen = mk.d;
	w->dpath[mk.d] = '\0';
}

/* Parent of a schema path: "a.b" -> "a", "a[].b" -> "a[]", "a" -> "". */
static size_t parent_len(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? (size_t)(dot - path) : 0;
}

static int is_item_row(const struct o8_field *f)
{
	size_t n = strlen(f->path);

	return n >= 2 && !strcmp(f->path + n - 2, "[]");
}

static const char *last_seg(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? dot + 1 : path;
}

/* --- scalars ------------------------------------------------------------- */

/* 0 ok, -1 not an integer, -2 an integer too big for 64 bits */
static int parse_int(const struct o8_node *n, long long *out)
{
	char *end;

	if (n->type != O8_N_SCALAR || n->style != O8_S_PLAIN || !n->n)
		return -1;
	errno = 0;
	*out = strtoll(n->u.str, &end, 10);
	if (*end)
		return -1;
	return errno == ERANGE ? -2 : errno ? -1 : 0;
}

static int parse_num(const struct o8_node *n, double *out)
{
	char *end;

	if (n->type != O8_N_SCALAR || n->style != O8_S_PLAIN || !n->n)
		return -1;
	errno = 0;
	*out = strtod(n->u.str, &end);
	return errno || *end || !isfinite(*out) ? -1 : 0;
}

static const char *node_kind_name(const struct o8_node *n)
{
	if (n->type == O8_N_MAP)
		return "a map";
	if (n->type == O8_N_SEQ)
		return "a list";
	if (o8_node_is_null(n))
		return "empty";
	return n->style == O8_S_PLAIN ? "a plain value" : "a quoted string";
}

/* The value as it may be shown: never a sensitive one. */
static const char *shown(const struct o8_field *f, const struct o8_node *n)
{
	if (f->flags & O8_F_SENSITIVE)
		return "(sensitive)";
	return n->type == O8_N_SCALAR ? n->u.str : node_kind_name(n);
}

static void type_error(struct walker *w, const struct o8_field *f,
		       const struct o8_node *n, const char *want)
{
	if (n->type == O8_N_SCALAR && !o8_node_is_null(n))
		DIAG(w, n, "'%s' must be %s, not '%s'", w->dpath, want, shown(f, n));
	else
		DIAG(w, n, "'%s' must be %s, not %s", w->dpath, want, node_kind_name(n));
}

static void enum_list(char *buf, size_t len, const char *const *e)
{
	size_t off = 0;

	buf[0] = '\0';
	for (; *e && off < len; e++) {
		int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", *e);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static size_t count_enums(const char *const *e)
{
	size_t n = 0;

	while (e && e[n])
		n++;
	return n;
}

/* --- references ---------------------------------------------------------- */

/* "a SEP b SEP c" into buf (truncated names simply do not match). */
static const char *mkkey(char *buf, size_t len, const char *a, const char *b,
			 const char *c)
{
	const char *part[3] = { a ? a : "", b ? b : "", c ? c : "" };
	size_t off = 0, i, n;

	for (i = 0; i < 3; i++) {
		n = strlen(part[i]);
		/* never underflow: a 1,000-character name must not wrap n */
		if (off + n + 2 > len)
			n = off + 2 < len ? len - off - 2 : 0;
		memcpy(buf + off, part[i], n);
		off += n;
		if (i < 2)
			buf[off++] = SEP[0];
	}
	buf[off] = '\0';
	return buf;
}

/*
 * Is (space, net, name) defined?  In the first pass: remember the key and
 * say yes; in the refs_only pass: the real answer.
 */
static int ref_ok(struct walker *w, const char *space, const char *net,
		  const char *name)
{
	char key[512];
	const char *k;

	mkkey(key, sizeof(key), space, net, name);
	if (w->refs_only)
		return o8_strmap_get(&w->c->names, key) != NULL;
	if (o8_strmap_get(&w->refs, key))
		return 1;
	k = o8_arena_strndup(&w->refkeys, key, strlen(key));
	if (!k || o8_strmap_put(&w->refs, k, (void *)k, NULL) < 0)
		w->oom = 1;
	return 1;
}

/* Names of every object of a kind in a network, for "did you mean". */
static const char *suggest_name(const struct ctx *c, enum o8_kind k,
				const char *net, const char *word)
{
	size_t i, n = o8_model_nobjs(c->m), k2 = 0;
	const char **cands = malloc((n ? n : 1) * sizeof(*cands));
	const char *r;

	if (!cands)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct o8_obj *o = o8_model_obj(c->m, i);
		if (o->kind != k || (net && (!o->network || strcmp(o->network, net))))
			continue;
		if (k == O8_KIND_ENODEB)
			cands[k2++] = o8_node_str(o8_node_get(o->spec, "serial"));
		else
			cands[k2++] = o->name;
	}
	r = o8_suggest(word, cands, k2);
	free(cands);
	return r;
}

static void check_ref(struct walker *w, const struct o8_field *f,
		      const struct o8_node *n)
{
	const struct o8_kind_schema *ks = o8_schema_kind(f->ref);
	const char *net = w->obj->network, *s;

	if (!ks || !net ||
	    ref_ok(w, f->ref == O8_KIND_ENODEB ? "serial" : ks->name, net, n->u.str))
		return;
	s = suggest_name(w->c, f->ref, net, n->u.str);
	if (s)
		DIAG_REF(w, n, "'%s' names unknown %s%s '%s' in network '%s' (did you mean '%s'?)",
		     w->dpath, ks->name, f->ref == O8_KIND_ENODEB ? " serial" : "",
		     n->u.str, net, s);
	else
		DIAG_REF(w, n, "'%s' names unknown %s%s '%s' in network '%s'",
		     w->dpath, ks->name, f->ref == O8_KIND_ENODEB ? " serial" : "",
		     n->u.str, net);
}

static void check_profile(struct walker *w, const struct o8_node *n)
{
	if (!w->obj->network || !strcmp(n->u.str, "default"))
		return;         /* Magma always has a "default" profile */
	if (!ref_ok(w, "profile", w->obj->network, n->u.str))
		DIAG_REF(w, n, "'%s' names unknown profile '%s'; add it to the network's cellular.epc.subProfiles",
		     w->dpath, n->u.str);
}

/* staticIps: keys are APN names, values IPv4 addresses. */
static void check_static_ips(struct walker *w, const struct o8_node *map)
{
	static const struct o8_field apn_ref = { .path = "staticIps", .type = O8_T_STRING,
						 .ref = O8_KIND_APN };
	uint32_t i;

	for (i = 0; i < map->n; i++) {
		const struct o8_node *k = &map->u.kids[2 * i], *v = &map->u.kids[2 * i + 1];
		struct mark mk = path_push(w, k->u.str, -1);

		check_ref(w, &apn_ref, k);
		if (v->type != O8_N_SCALAR ||
		    !o8_schema_fmt_ok(O8_FMT_IPV4, v->u.str, v->n))
			DIAG(w, v, "'%s' must be an IPv4 address, not '%s'", w->dpath,
			     v->type == O8_N_SCALAR ? v->u.str : node_kind_name(v));
		path_pop(w, mk);
	}
}

/* --- uniqueness ---------------------------------------------------------- */

static void add_uniq(struct walker *w, const struct o8_field *f,
		     const struct o8_node *n)
{
	struct uniq *u;
	const char *v;

	if (w->nu == w->capu) {
		size_t cap = w->capu ? w->capu * 2 : 1024;
		struct uniq *p = realloc(w->u, cap * sizeof(*p));
		if (!p) {
			w->oom = 1;
			return;
		}
		w->u = p;
		w->capu = cap;
	}
	u = &w->u[w->nu++];
	u->row = f;
	u->obj = w->obj;
	u->at = n;
	v = uniq_val(u);
	u->hash = o8_strhash(v, strlen(v)) ^ (uint64_t)(uintptr_t)f->path * 31;
	if (uniq_net(u))
		u->hash ^= o8_strhash(uniq_net(u), strlen(uniq_net(u))) * 7;
}

/* --- the schema walk ----------------------------------------------------- */

static void walk_map(struct walker *w, const struct o8_kind_schema *ks,
		     const struct o8_node *map, int required);

static void check_string(struct walker *w, const struct o8_kind_schema *ks,
			 const struct o8_field *f, const struct o8_node *n)
{
	if (n->type != O8_N_SCALAR || o8_node_is_null(n)) {
		type_error(w, f, n, "a string");
		return;
	}
	if (f->fmt && !o8_schema_fmt_ok(f->fmt, n->u.str, n->n)) {
		if (f->flags & O8_F_SENSITIVE)
			DIAG(w, n, "invalid '%s': must be %s (value not shown)%s%s",
			     w->dpath, o8_schema_fmt_doc(f->fmt), WHY(f));
		else
			DIAG(w, n, "invalid '%s' '%s': must be %s%s%s", w->dpath,
			     n->u.str, o8_schema_fmt_doc(f->fmt), WHY(f));
		return;
	}
	if ((f->min || f->max) && (n->n < f->min || n->n > f->max)) {
		if (!f->min)
			DIAG(w, n, "'%s' must be at most %g characters long, not %u",
			     w->dpath, f->max, n->n);
		else
			DIAG(w, n, "'%s' must be %g to %g characters long, not %u",
			     w->dpath, f->min, f->max, n->n);
		return;
	}
	if (f->ref)
		check_ref(w, f, n);
	else if (ks->kind == O8_KIND_SUBSCRIBER && !strcmp(f->path, "profile"))
		check_profile(w, n);
	if ((f->flags & (O8_F_UNIQUE_NET | O8_F_UNIQUE_REPO)) && !w->refs_only)
		add_uniq(w, f, n);
}

/* Bounds as the operator writes them: 4294967295, not 4.29497e+09. */
static const char *bound(char *buf, size_t len, double v)
{
	if (v == (double)(long long)v)
		snprintf(buf, len, "%lld", (long long)v);
	else
		snprintf(buf, len, "%g", v);
	return buf;
}

static void out_of_range(struct walker *w, const struct o8_field *f,
			 const struct o8_node *n)
{
	char lo[32], hi[32];

	if (f->min || f->max)
		DIAG(w, n, "'%s' out of range: %s (must be %s to %s)%s%s", w->dpath,
		     n->u.str, bound(lo, sizeof(lo), f->min),
		     bound(hi, sizeof(hi), f->max), WHY(f));
	else
		DIAG(w, n, "'%s' out of range: %s (must fit in 64 bits)", w->dpath,
		     n->u.str);
}

static void check_number(struct walker *w, const struct o8_field *f,
			 const struct o8_node *n)
{
	const char *want = f->type == O8_T_INT ? "an integer" : "a number";
	double v;
	long long iv;
	char list[256];
	int r;

	if (n->type == O8_N_SCALAR && n->style == O8_S_QUOTED) {
		struct o8_node plain = *n;
		plain.style = O8_S_PLAIN;
		if (f->type == O8_T_INT ? parse_int(&plain, &iv) == 0 : parse_num(&plain, &v) == 0) {
			DIAG(w, n, "'%s' must be %s, not the quoted string '%s'; remove the quotes",
			     w->dpath, want, n->u.str);
			return;
		}
	}
	if (f->type == O8_T_INT) {
		if ((r = parse_int(n, &iv)) == -2) {
			out_of_range(w, f, n);
			return;
		}
		if (r) {
			type_error(w, f, n, want);
			return;
		}
		v = (double)iv;
	} else if (parse_num(n, &v)) {
		type_error(w, f, n, want);
		return;
	}
	if (f->enums) {
		const char *const *e;
		for (e = f->enums; *e; e++)
			if (fabs(strtod(*e, NULL) - v) < 1e-9)
				return;
		enum_list(list, sizeof(list), f->enums);
		DIAG(w, n, "invalid '%s' %s: must be one of %s%s%s", w->dpath,
		     n->u.str, list, WHY(f));
		return;
	}
	if ((f->min || f->max) && (v < f->min || v > f->max))
		out_of_range(w, f, n);
}

static void check_enum(struct walker *w, const struct o8_field *f,
		       const struct o8_node *n)
{
	const char *const *e;
	const char *s;
	char list[256];

	if (n->type != O8_N_SCALAR || o8_node_is_null(n)) {
		type_error(w, f, n, "a string");
		return;
	}
	for (e = f->enums; e && *e; e++)
		if (!strcmp(*e, n->u.str))
			return;
	s = o8_suggest(n->u.str, f->enums, count_enums(f->enums));
	enum_list(list, sizeof(list), f->enums);
	if (s)
		DIAG(w, n, "invalid '%s' '%s' (did you mean '%s'?)", w->dpath, n->u.str, s);
	else
		DIAG(w, n, "invalid '%s' '%s': must be one of %s", w->dpath, n->u.str, list);
}

static void check_value(struct walker *w, const struct o8_kind_schema *ks,
			const struct o8_field *f, const struct o8_node *n);

static void check_list(struct walker *w, const struct o8_kind_schema *ks,
		       const struct o8_field *f, const struct o8_node *n)
{
	const struct o8_field *item;
	struct mark mk;
	uint32_t i;

	if (n->type != O8_N_SEQ) {
		type_error(w, f, n, "a list");
		return;
	}
	if ((f->min || f->max) && (n->n < f->min || n->n > f->max))
		DIAG(w, n, "'%s' must have %g to %g items, not %u", w->dpath, f->min,
		     f->max, n->n);
	mk = path_push(w, NULL, 0);
	item = o8_schema_field(ks, w->spath);
	path_pop(w, mk);
	if (!item)
		return;
	for (i = 0; i < n->n; i++) {
		mk = path_push(w, NULL, i);
		check_value(w, ks, item, &n->u.kids[i]);
		path_pop(w, mk);
	}
}

static void check_object(struct walker *w, const struct o8_kind_schema *ks,
			 const struct o8_field *f, const struct o8_node *n)
{
	const struct o8_kind_schema *sub;
	char saved[PATH_LEN];
	size_t slen;

	if (n->type != O8_N_MAP) {
		type_error(w, f, n, "a map");
		return;
	}
	if (!f->spec_of) {
		walk_map(w, ks, n, 1);
		return;
	}
	/* Items follow another kind's table (SubscriberSet -> Subscriber).
	   Defaults may leave out what each item then gives. */
	sub = o8_schema_kind(f->spec_of);
	if (!sub)
		return;
	memcpy(saved, w->spath, w->slen + 1);
	slen = w->slen;
	w->slen = 0;
	w->spath[0] = '\0';
	walk_map(w, sub, n, is_item_row(f));
	if (f->spec_of == O8_KIND_SUBSCRIBER && is_item_row(f) && !w->refs_only)
		w->counts.subscribers++;
	memcpy(w->spath, saved, slen + 1);
	w->slen = slen;
}

static void check_dict(struct walker *w, const struct o8_kind_schema *ks,
		       const struct o8_field *f, const struct o8_node *n)
{
	uint32_t i;

	if (n->type != O8_N_MAP) {
		type_error(w, f, n, "a map");
		return;
	}
	if (ks->kind == O8_KIND_SUBSCRIBER && !strcmp(f->path, "staticIps")) {
		check_static_ips(w, n);
		return;
	}
	for (i = 0; i < n->n; i++) {
		const struct o8_node *v = &n->u.kids[2 * i + 1];
		if (v->type != O8_N_SCALAR) {
			struct mark mk = path_push(w, n->u.kids[2 * i].u.str, -1);
			DIAG(w, v, "'%s' must be a plain value, not %s", w->dpath,
			     node_kind_name(v));
			path_pop(w, mk);
		}
	}
}

static void check_value(struct walker *w, const struct o8_kind_schema *ks,
			const struct o8_field *f, const struct o8_node *n)
{
	switch (f->type) {
	case O8_T_STRING:
		check_string(w, ks, f, n);
		break;
	case O8_T_INT:
	case O8_T_NUMBER:
		check_number(w, f, n);
		break;
	case O8_T_BOOL:
		if (n->type != O8_N_SCALAR || n->style != O8_S_PLAIN ||
		    (strcmp(n->u.str, "true") && strcmp(n->u.str, "false")))
			type_error(w, f, n, "true or false");
		break;
	case O8_T_ENUM:
		check_enum(w, f, n);
		break;
	case O8_T_OBJECT:
		check_object(w, ks, f, n);
		break;
	case O8_T_LIST:
		check_list(w, ks, f, n);
		break;
	case O8_T_DICT:
		check_dict(w, ks, f, n);
		break;
	}
}

static void unknown_field(struct walker *w, const struct o8_kind_schema *ks,
			  const struct o8_node *key)
{
	size_t plen = parent_len(w->spath), i, n = 0;
	const char **cands = malloc((ks->nfields ? ks->nfields : 1) * sizeof(*cands));
	const char *s = NULL;

	if (cands) {
		for (i = 0; i < ks->nfields; i++) {
			const struct o8_field *f = &ks->fields[i];
			if (is_item_row(f) || parent_len(f->path) != plen ||
			    strncmp(f->path, w->spath, plen))
				continue;
			cands[n++] = last_seg(f->path);
		}
		s = o8_suggest(key->u.str, cands, n);
	}
	if (s)
		DIAG(w, key, "unknown field '%s' (did you mean '%s'?)", key->u.str, s);
	else
		DIAG(w, key, "unknown field '%s' in '%s'", key->u.str,
		     w->dlen ? w->dpath : "spec");
	free(cands);
}

static void missing_fields(struct walker *w, const struct o8_kind_schema *ks,
			   const struct o8_node *map)
{
	size_t i;

	for (i = 0; i < ks->nfields; i++) {
		const struct o8_field *f = &ks->fields[i];
		size_t plen;

		if (!(f->flags & O8_F_REQUIRED) || is_item_row(f))
			continue;
		plen = parent_len(f->path);
		if (plen != w->slen || strncmp(f->path, w->spath, plen))
			continue;
		if (!o8_node_get(map, last_seg(f->path)))
			DIAG(w, map, "missing required field '%s%s%s'%s%s", w->dpath,
			     w->dlen ? "." : "", last_seg(f->path), WHY(f));
	}
}

static void walk_map(struct walker *w, const struct o8_kind_schema *ks,
		     const struct o8_node *map, int required)
{
	uint32_t i;

	for (i = 0; i < map->n; i++) {
		const struct o8_node *k = &map->u.kids[2 * i], *v = &map->u.kids[2 * i + 1];
		struct mark mk = path_push(w, k->u.str, -1);
		const struct o8_field *f = o8_schema_field(ks, w->spath);

		if (!f)
			unknown_field(w, ks, k);
		else if (o8_node_is_null(v) && f->type != O8_T_STRING)
			DIAG(w, v, "'%s' is empty; give it a value or remove it", w->dpath);
		else
			check_value(w, ks, f, v);
		path_pop(w, mk);
	}
	if (required)
		missing_fields(w, ks, map);
}

/* --- the document header ------------------------------------------------- */

static void check_metadata(struct walker *w, const struct o8_kind_schema *ks,
			   const struct o8_node *meta)
{
	static const char *const keys[] = { "annotations", "labels", "name", "network" };
	const struct o8_node *name, *net;
	uint32_t i;
	size_t j;

	for (i = 0; i < meta->n; i++) {
		const struct o8_node *k = &meta->u.kids[2 * i], *v = &meta->u.kids[2 * i + 1];
		const char *s;

		for (j = 0; j < 4 && strcmp(keys[j], k->u.str); j++)
			;
		if (j == 4) {
			s = o8_suggest(k->u.str, keys, 4);
			if (s)
				DIAG(w, k, "unknown field 'metadata.%s' (did you mean '%s'?)",
				     k->u.str, s);
			else
				DIAG(w, k, "unknown field 'metadata.%s' (metadata has name, network, labels, annotations)",
				     k->u.str);
			continue;
		}
		if (j <= 1) {
			uint32_t x;
			if (v->type != O8_N_MAP) {
				DIAG(w, v, "'metadata.%s' must be a map of names to values", k->u.str);
				continue;
			}
			for (x = 0; x < v->n; x++)
				if (v->u.kids[2 * x + 1].type != O8_N_SCALAR)
					DIAG(w, &v->u.kids[2 * x + 1],
					     "'metadata.%s.%s' must be a plain value, not %s",
					     k->u.str, v->u.kids[2 * x].u.str,
					     node_kind_name(&v->u.kids[2 * x + 1]));
		} else if (v->type != O8_N_SCALAR || o8_node_is_null(v)) {
			DIAG(w, v, "'metadata.%s' must be a name, not %s", k->u.str,
			     node_kind_name(v));
		} else {
			/* a name follows its kind; network always names a Network */
			enum o8_fmt nf = j == 2 ? o8_schema_name_fmt(ks) : O8_FMT_NAME;

			if (!o8_schema_fmt_ok(nf, v->u.str, v->n))
				DIAG(w, v, "invalid 'metadata.%s' '%s': must be %s",
				     k->u.str, v->u.str, o8_schema_fmt_doc(nf));
		}
	}
	name = o8_node_get(meta, "name");
	net = o8_node_get(meta, "network");
	if (!name)
		DIAG(w, meta, "missing required field 'metadata.name'");
	if (ks->namespaced && !net) {
		DIAG(w, meta, "missing required field 'metadata.network' (the Network this %s belongs to)",
		     ks->name);
	} else if (!ks->namespaced && net) {
		DIAG(w, net, "a Network has no 'metadata.network'; remove it");
	} else if (net && w->obj->network &&
		   !ref_ok(w, "Network", "", w->obj->network)) {
		const char *s = suggest_name(w->c, O8_KIND_NETWORK, NULL, w->obj->network);
		if (s)
			DIAG_REF(w, net, "unknown network '%s' (did you mean '%s'?)",
			     w->obj->network, s);
		else
			DIAG_REF(w, net, "unknown network '%s'; define it with a 'kind: Network' document",
			     w->obj->network);
	}
}

/* --- rules across the fields of one object ------------------------------ */

/* An ENodeB's configType picks which of managed/unmanaged it must have. */
static void rule_enodeb_config(struct walker *w, const struct o8_obj *o)
{
	static const struct { const char *type, *map, *fields, *other; } t[] = {
		{ "managed", "managed", "deviceClass, earfcndl, pci, bandwidthMhz, tac, cellId", "unmanaged" },
		{ "unmanaged", "unmanaged", "cellId, tac, ipAddress", "managed" },
	};
	const struct o8_node *ct = o8_node_get(o->spec, "configType");
	const char *type = ct ? o8_node_str(ct) : "managed";   /* the default */
	size_t i;

	for (i = 0; type && i < 2 && strcmp(type, t[i].type); i++)
		;
	if (!type || i == 2)
		return;         /* an invalid enum: already reported */
	if (!o8_node_get(o->spec, t[i].map))
		DIAG(w, ct ? ct : o->spec,
		     "configType %s needs a%s '%s' map (%s); add it or set configType: %s",
		     t[i].type, t[i].map[0] == 'u' ? "n" : "", t[i].map, t[i].fields,
		     t[i].other);
	for (ct = NULL, i = 0; i < o->spec->n; i++) {
		const struct o8_node *k = &o->spec->u.kids[2 * i];
		if (!strcmp(k->u.str, "managed") || !strcmp(k->u.str, "unmanaged"))
			if (strcmp(k->u.str, type))
				DIAG(w, k, "'%s' is only used with configType %s; remove it",
				     k->u.str, k->u.str);
	}
}

/* A radio is TDD or FDD: exactly one of the two configs. */
static void rule_network_duplex(struct walker *w, const struct o8_obj *o)
{
	const struct o8_node *ran = o8_node_path(o->spec, "cellular.ran");
	int tdd, fdd;

	if (!ran || ran->type != O8_N_MAP)
		return;
	tdd = o8_node_get(ran, "tddConfig") != NULL;
	fdd = o8_node_get(ran, "fddConfig") != NULL;
	if (!tdd && !fdd)
		DIAG(w, ran, "'cellular.ran' has neither tddConfig nor fddConfig; give one of them");
	else if (tdd && fdd) {
		/* point at the second one: the likely leftover */
		const struct o8_node *k = NULL;
		uint32_t i;
		for (i = 0; i < ran->n; i++)
			if (!strcmp(ran->u.kids[2 * i].u.str, "tddConfig") ||
			    !strcmp(ran->u.kids[2 * i].u.str, "fddConfig"))
				k = &ran->u.kids[2 * i];
		DIAG(w, k, "'cellular.ran' has both tddConfig and fddConfig; keep only one");
	}
}

static void rule_network_profiles(struct walker *w, const struct o8_obj *o)
{
	const struct o8_node *l = o8_node_path(o->spec, "cellular.epc.subProfiles");
	uint32_t i, j;

	if (!l || l->type != O8_N_SEQ)
		return;
	/* a network has a handful of profiles: quadratic is fine */
	for (i = 1; i < l->n; i++) {
		const struct o8_node *a = o8_node_get(&l->u.kids[i], "name");
		for (j = 0; o8_node_str(a) && j < i; j++) {
			const struct o8_node *b = o8_node_get(&l->u.kids[j], "name");
			if (o8_node_str(b) && !strcmp(a->u.str, b->u.str)) {
				DIAG(w, a, "duplicate profile '%s' in 'cellular.epc.subProfiles' (first at %s:%u:%u)",
				     a->u.str, o->file, b->line, b->col);
				break;
			}
		}
	}
}

static const struct {
	enum o8_kind kind;
	void (*fn)(struct walker *w, const struct o8_obj *o);
} obj_rules[] = {
	{ O8_KIND_NETWORK, rule_network_duplex },
	{ O8_KIND_NETWORK, rule_network_profiles },
	{ O8_KIND_ENODEB, rule_enodeb_config },
};

static void check_obj(struct walker *w, const struct o8_obj *o)
{
	static const char *const top[] = { "apiVersion", "kind", "metadata", "spec" };
	const struct o8_kind_schema *ks = o8_schema_kind(o->kind);
	const struct o8_node *meta;
	uint32_t i;

	w->obj = o;
	w->kind = ks->name;
	w->slen = w->dlen = 0;
	w->spath[0] = w->dpath[0] = '\0';
	if (!w->refs_only) {
		w->counts.kinds[o->kind]++;
		if (o->kind == O8_KIND_SUBSCRIBER)
			w->counts.subscribers++;
	}
	for (i = 0; i < o->root->n; i++) {
		const struct o8_node *k = &o->root->u.kids[2 * i];
		size_t j;
		for (j = 0; j < 4 && strcmp(top[j], k->u.str); j++)
			;
		if (j == 4) {
			const char *s = o8_suggest(k->u.str, top, 4);
			if (s)
				DIAG(w, k, "unknown field '%s' (did you mean '%s'?)", k->u.str, s);
			else
				DIAG(w, k, "unknown field '%s' (a document has apiVersion, kind, metadata and spec)",
				     k->u.str);
		}
	}
	meta = o8_node_get(o->root, "metadata");
	if (!meta)
		DIAG(w, o->root, "missing required field 'metadata'");
	else if (meta->type != O8_N_MAP)
		DIAG(w, meta, "'metadata' must be a map, not %s", node_kind_name(meta));
	else
		check_metadata(w, ks, meta);
	if (!o->spec)
		DIAG(w, o->root, "missing required field 'spec'");
	else if (o->spec->type != O8_N_MAP)
		DIAG(w, o->spec, "'spec' must be a map, not %s", node_kind_name(o->spec));
	else {
		size_t r;
		walk_map(w, ks, o->spec, 1);
		for (r = 0; r < sizeof(obj_rules) / sizeof(obj_rules[0]); r++)
			if (obj_rules[r].kind == o->kind && !w->refs_only) {
				w->slen = w->dlen = 0;
				w->spath[0] = w->dpath[0] = '\0';
				obj_rules[r].fn(w, o);
			}
	}
}

static int schema_pass(void *arg, size_t i)
{
	struct walker *w = arg;
	const struct o8_obj *o = o8_model_obj(w->c->m, i);

	if (o->kind != O8_KIND_NONE)
		check_obj(w, o);
	return w->oom;
}

/* --- the index and the network pass (serial) ----------------------------- */

/* Where a value was first seen, for "first at FILE:LINE:COL". */
struct seen { const struct o8_obj *o; const struct o8_node *at; };

static int diag_at(struct o8_diags *d, const struct o8_obj *o,
		   const struct o8_node *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int diag_at(struct o8_diags *d, const struct o8_obj *o,
		   const struct o8_node *n, const char *fmt, ...)
{
	const struct o8_kind_schema *ks = o8_schema_kind(o->kind);
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!n)
		n = o->root;
	return o8_diags_add(d, o->file, n->line, n->col, ks ? ks->name : NULL,
			    o->name, "%s", msg) ? -1 : 0;
}

static const char *akey(struct ctx *c, const char *a, const char *b, const char *d)
{
	char buf[1024];

	mkkey(buf, sizeof(buf), a, b, d);
	return o8_arena_strndup(&c->arena, buf, strlen(buf));
}

static int index_profiles(struct ctx *c, const struct o8_obj *o)
{
	const struct o8_node *l = o8_node_path(o->spec, "cellular.epc.subProfiles");
	uint32_t i;

	if (!l || l->type != O8_N_SEQ)
		return 0;
	for (i = 0; i < l->n; i++) {
		const char *name = o8_node_str(o8_node_get(&l->u.kids[i], "name"));
		const char *k;
		if (!name)
			continue;
		if (!(k = akey(c, "profile", o->name, name)) ||
		    o8_strmap_put(&c->names, k, (void *)&l->u.kids[i], NULL) < 0)
			return -1;
	}
	return 0;
}

static int build_index(struct ctx *c, struct o8_diags *d)
{
	size_t i, n = o8_model_nobjs(c->m);

	for (i = 0; i < n; i++) {
		const struct o8_obj *o = o8_model_obj(c->m, i), *prev = NULL;
		const struct o8_kind_schema *ks = o8_schema_kind(o->kind);
		const char *k;
		int r;

		if (!ks || !o->name)
			continue;
		k = akey(c, ks->name, ks->namespaced ? o->network : "", o->name);
		if (!k || (r = o8_strmap_put(&c->names, k, (void *)o, (void **)&prev)) < 0)
			return -1;
		if (r == 1) {
			const struct o8_node *at = o8_node_path(prev->root, "metadata.name");
			if (diag_at(d, o, o8_node_path(o->root, "metadata.name"),
				    "duplicate %s '%s'%s%s%s (first defined at %s:%u:%u); rename one",
				    ks->name, o->name, o->network && ks->namespaced ? " in network '" : "",
				    o->network && ks->namespaced ? o->network : "",
				    o->network && ks->namespaced ? "'" : "",
				    prev->file, at ? at->line : prev->line, at ? at->col : prev->col))
				return -1;
		}
		if (r == 1)
			continue;
		if (o->kind == O8_KIND_NETWORK) {
			if (index_profiles(c, o))
				return -1;
		} else if (o->kind == O8_KIND_ENODEB && o->network) {
			const char *serial = o8_node_str(o8_node_get(o->spec, "serial"));
			/* a second ENodeB with one serial is reported as a
			   duplicate serial; the first keeps the name */
			if (serial && (!(k = akey(c, "serial", o->network, serial)) ||
				       o8_strmap_put(&c->names, k, (void *)o, NULL) < 0))
				return -1;
		}
	}
	return 0;
}

static int get_int(const struct o8_node *base, const char *path, long long *out)
{
	const struct o8_node *n = o8_node_path(base, path);

	return n ? parse_int(n, out) : -1;
}

/* a.b.c.d/n -> [lo, hi]; -1 when malformed (the schema pass says why). */
static int cidr_range(const char *s, uint32_t *lo, uint32_t *hi)
{
	char ip[32];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	long bits;
	char *end;
	uint32_t mask;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	bits = strtol(slash + 1, &end, 10);
	if (*end || bits < 0 || bits > 32 || inet_pton(AF_INET, ip, &a) != 1)
		return -1;
	mask = bits ? ~(uint32_t)0 << (32 - bits) : 0;
	*lo = ntohl(a.s_addr) & mask;
	*hi = *lo | ~mask;
	return 0;
}

struct block { const char *net; uint32_t lo, hi; const struct o8_obj *o; const struct o8_node *at; };

static int block_cmp(const void *a, const void *b)
{
	const struct block *x = a, *y = b;
	int c = strcmp(x->net, y->net);

	if (c)
		return c;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return strcmp(x->o->file, y->o->file) ? strcmp(x->o->file, y->o->file) :
	       (x->at->line > y->at->line) - (x->at->line < y->at->line);
}

static int check_ip_blocks(struct ctx *c, struct o8_diags *d)
{
	size_t i, n = o8_model_nobjs(c->m), nb = 0;
	struct block *b = malloc((n ? n : 1) * sizeof(*b));
	int r = 0;

	if (!b)
		return -1;
	for (i = 0; i < n; i++) {
		const struct o8_obj *o = o8_model_obj(c->m, i);
		const struct o8_node *at;
		if (o->kind != O8_KIND_GATEWAY || !o->network)
			continue;
		at = o8_node_path(o->spec, "epc.ipBlock");
		if (!o8_node_str(at) || cidr_range(at->u.str, &b[nb].lo, &b[nb].hi))
			continue;
		b[nb].net = o->network;
		b[nb].o = o;
		b[nb].at = at;
		nb++;
	}
	qsort(b, nb, sizeof(*b), block_cmp);
	for (i = 1; i < nb && !r; i++) {
		size_t j;
		/* compare with every earlier block of the network still open */
		for (j = i; j-- > 0 && !r;) {
			if (strcmp(b[j].net, b[i].net))
				break;
			if (b[j].hi >= b[i].lo)
				r = diag_at(d, b[i].o, b[i].at,
					    "'epc.ipBlock' %s overlaps gateway '%s' (%s at %s:%u:%u); give each gateway its own block",
					    b[i].at->u.str, b[j].o->name ? b[j].o->name : "?",
					    b[j].at->u.str, b[j].o->file, b[j].at->line, b[j].at->col);
			if (i - j > 64)
				break;
		}
	}
	free(b);
	return r;
}

/* eNodeBs claimed by two gateways; PCI collisions among a gateway's radios. */
static int check_enodeb_claims(struct ctx *c, struct o8_diags *d)
{
	struct o8_strmap claims = O8_STRMAP_INIT;
	size_t i, n = o8_model_nobjs(c->m);
	int r = 0;

	for (i = 0; i < n && !r; i++) {
		const struct o8_obj *o = o8_model_obj(c->m, i);
		const struct o8_node *l;
		const struct o8_obj *seen_pci[512] = { 0 };
		const struct o8_node *seen_at[512] = { 0 };
		uint32_t k;

		if (o->kind != O8_KIND_GATEWAY || !o->network)
			continue;
		l = o8_node_get(o->spec, "enodebs");
		if (!l || l->type != O8_N_SEQ)
			continue;
		for (k = 0; k < l->n && !r; k++) {
			const struct o8_node *s = &l->u.kids[k];
			const struct o8_obj *enb;
			struct seen *cur, *prev = NULL;
			char key[512];
			const char *ak;
			long long pci;

			if (!o8_node_str(s))
				continue;
			mkkey(key, sizeof(key), "serial", o->network, s->u.str);
			if (!(enb = o8_strmap_get(&c->names, key)))
				continue;       /* dangling: the schema pass says so */
			cur = o8_arena_alloc(&c->arena, sizeof(*cur));
			if (!cur || !(ak = akey(c, o->network, s->u.str, NULL))) {
				r = -1;
				break;
			}
			cur->o = o;
			cur->at = s;
			if ((r = o8_strmap_put(&claims, ak, cur, (void **)&prev)) == 1) {
				r = prev->o == o ?
				    diag_at(d, o, s, "eNodeB '%s' is listed twice in 'enodebs' (first at %s:%u:%u); remove one",
					    s->u.str, o->file, prev->at->line, prev->at->col) :
				    diag_at(d, o, s, "eNodeB '%s' is already claimed by gateway '%s' (%s:%u:%u); an eNodeB belongs to one gateway",
					    s->u.str, prev->o->name ? prev->o->name : "?", prev->o->file,
					    prev->at->line, prev->at->col);
				continue;
			}
			if (r < 0)
				break;
			if (get_int(enb->spec, "managed.pci", &pci) || pci < 0 || pci > 503)
				continue;
			if (seen_pci[pci])
				r = diag_at(d, o, s, "eNodeBs '%s' and '%s' on this gateway share pci %lld; give each radio its own pci",
					    o8_node_str(seen_at[pci]), s->u.str, pci);
			else {
				seen_pci[pci] = enb;
				seen_at[pci] = s;
			}
		}
	}
	o8_strmap_free(&claims);
	return r;
}

/*
 * An integer unique per network among objects of one kind: the first of
 * paths that is set (cellId lives in managed or unmanaged), within the
 * value of scope when given (mmeCode per mmeGroupId).
 */
static int check_net_unique(struct ctx *c, struct o8_diags *d, enum o8_kind kind,
			    const char *const *paths, const char *scope,
			    const char *fix)
{
	struct o8_strmap seen = O8_STRMAP_INIT;
	size_t i, n = o8_model_nobjs(c->m);
	int r = 0;

	for (i = 0; i < n && !r; i++) {
		const struct o8_obj *o = o8_model_obj(c->m, i);
		const struct o8_node *at = NULL;
		const char *const *p, *path = NULL, *k;
		struct seen *cur, *prev = NULL;
		long long v = 0, g = 0;
		char num[64], in[96] = "";

		if (o->kind != kind || !o->network)
			continue;
		for (p = paths; *p && !at; p++)
			if (!get_int(o->spec, *p, &v)) {
				at = o8_node_path(o->spec, *p);
				path = *p;
			}
		if (!at || (scope && get_int(o->spec, scope, &g)))
			continue;
		snprintf(num, sizeof(num), "%lld" SEP "%lld", v, g);
		cur = o8_arena_alloc(&c->arena, sizeof(*cur));
		if (!cur || !(k = akey(c, o->network, num, NULL)) ||
		    (r = o8_strmap_put(&seen, k, cur, (void **)&prev)) < 0) {
			r = -1;
			break;
		}
		cur->o = o;
		cur->at = at;
		if (r != 1)
			continue;
		if (scope)
			snprintf(in, sizeof(in), " in %s %lld", last_seg(scope), g);
		r = diag_at(d, o, at, "'%s' %lld is already used%s by %s '%s' (%s:%u:%u); %s",
			    path, v, in, o8_schema_kind(kind)->name,
			    prev->o->name ? prev->o->name : "?", prev->o->file,
			    prev->at->line, prev->at->col, fix);
	}
	o8_strmap_free(&seen);
	return r;
}

static int uniq_cmp(const void *a, const void *b)
{
	const struct uniq *x = a, *y = b;
	int c;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if ((c = strcmp(x->row->path, y->row->path)) ||
	    (c = strcmp(uniq_val(x), uniq_val(y))))
		return c;
	if ((c = strcmp(uniq_net(x) ? uniq_net(x) : "", uniq_net(y) ? uniq_net(y) : "")))
		return c;
	if ((c = strcmp(x->obj->file, y->obj->file)))
		return c;
	if (x->at->line != y->at->line)
		return x->at->line < y->at->line ? -1 : 1;
	return (x->at->col > y->at->col) - (x->at->col < y->at->col);
}

static int same_value(const struct uniq *x, const struct uniq *y)
{
	const char *a = uniq_net(x), *b = uniq_net(y);

	return x->hash == y->hash && x->row == y->row &&
	       !strcmp(uniq_val(x), uniq_val(y)) && !strcmp(a ? a : "", b ? b : "");
}

/* Reports the entries of u (sorted with uniq_cmp) that repeat an earlier one. */
static int report_dups(struct uniq *u, size_t n, struct o8_diags *d)
{
	size_t i, first = 0;

	qsort(u, n, sizeof(*u), uniq_cmp);
	for (i = 1; i < n; i++) {
		if (!same_value(&u[first], &u[i])) {
			first = i;
			continue;
		}
		if (diag_at(d, u[i].obj, u[i].at,
			    "duplicate %s '%s'%s%s%s (first at %s:%u:%u)",
			    last_seg(u[i].row->path),
			    u[i].row->flags & O8_F_SENSITIVE ? "(sensitive)" : u[i].at->u.str,
			    uniq_net(&u[i]) ? " in network '" : "",
			    uniq_net(&u[i]) ? uniq_net(&u[i]) : "",
			    uniq_net(&u[i]) ? "'" : "", u[first].obj->file, u[first].at->line,
			    u[first].at->col))
			return -1;
	}
	return 0;
}

/*
 * A million IMSIs: one pass through a hash table finds the values seen
 * twice; only those (usually none) are sorted, so that "first at" names the
 * earliest place whatever order the threads finished in.
 */
static int check_uniq(struct uniq *const *u, size_t n, struct o8_diags *d)
{
	size_t cap = 16, i, j, ndup = 0;
	uint32_t *slot;
	unsigned char *dup;
	struct uniq *dups;
	int r;

	while (cap < 2 * n)
		cap *= 2;
	slot = malloc(cap * sizeof(*slot));
	dup = calloc(n ? n : 1, 1);
	if (!slot || !dup) {
		free(slot);
		free(dup);
		return -1;
	}
	memset(slot, 0xff, cap * sizeof(*slot));
	for (i = 0; i < n; i++) {
		for (j = u[i]->hash & (cap - 1); slot[j] != UINT32_MAX; j = (j + 1) & (cap - 1))
			if (same_value(u[slot[j]], u[i]))
				break;
		if (slot[j] == UINT32_MAX) {
			slot[j] = (uint32_t)i;
			continue;
		}
		ndup += !dup[slot[j]] + 1;
		dup[slot[j]] = dup[i] = 1;
	}
	free(slot);
	dups = malloc((ndup ? ndup : 1) * sizeof(*dups));
	if (!dups) {
		free(dup);
		return -1;
	}
	for (i = 0, j = 0; i < n; i++)
		if (dup[i])
			dups[j++] = *u[i];
	free(dup);
	r = report_dups(dups, j, d);
	free(dups);
	return r;
}

/* Runs schema_pass on n threads (the caller's included) over c->m; a
 * walker out of memory stops the pass and says so in its oom. */
static void run_pass(struct ctx *c, struct walker *w, unsigned n)
{
	o8_pool_run(n, o8_model_nobjs(c->m), schema_pass, w, sizeof(*w), NULL);
}

/* True when every name some object referred to exists. */
static int refs_resolve(const struct ctx *c, const struct walker *w, unsigned n)
{
	unsigned t;

	for (t = 0; t < n; t++) {
		const char *key;
		size_t it = 0;
		while (o8_strmap_next(&w[t].refs, &it, &key, NULL))
			if (!o8_strmap_get(&c->names, key))
				return 0;
	}
	return 1;
}

/* The downlink EARFCN of network net's radio, or NULL. */
static const struct o8_node *network_earfcndl(struct ctx *c, const char *net,
					      const char **path)
{
	static const char *const paths[] = {
		"cellular.ran.tddConfig.earfcndl", "cellular.ran.fddConfig.earfcndl"
	};
	const char *k = akey(c, "Network", "", net);
	const struct o8_obj *n = k ? o8_strmap_get(&c->names, k) : NULL;
	const struct o8_node *e;
	size_t i;

	for (i = 0; n && n->kind == O8_KIND_NETWORK && i < 2; i++)
		if ((e = o8_node_path(n->spec, paths[i]))) {
			*path = paths[i];
			return e;
		}
	return NULL;
}

/*
 * A managed radio's channel, its own or inherited from its network, must be
 * in a band Magma's enodebd knows: it refuses to configure the radio
 * otherwise.  Unmanaged radios are configured by hand, so a network with
 * only those may use any channel.
 */
static int check_earfcns(struct ctx *c, struct o8_diags *d)
{
	size_t i, n = o8_model_nobjs(c->m);

	for (i = 0; i < n; i++) {
		const struct o8_obj *o = o8_model_obj(c->m, i);
		const struct o8_node *ct, *m, *e;
		const char *from = NULL;
		long long v;
		int r;

		if (o->kind != O8_KIND_ENODEB || !o->network)
			continue;
		ct = o8_node_get(o->spec, "configType");
		m = o8_node_get(o->spec, "managed");
		if ((ct && (!o8_node_str(ct) || strcmp(ct->u.str, "managed"))) ||
		    !m || m->type != O8_N_MAP)
			continue;
		if (!(e = o8_node_get(m, "earfcndl")))
			e = network_earfcndl(c, o->network, &from);
		if (!e || parse_int(e, &v) || v < 0 || v > 65535 ||
		    o8_schema_lte_band((double)v, NULL))
			continue;
		if (!from)
			r = diag_at(d, o, e, "'managed.earfcndl' %lld is in no band "
				    "Magma's enodebd can configure (" O8_LTE_BANDS
				    "); write an EARFCN of one of them", v);
		else
			r = diag_at(d, o, m, "managed eNodeB takes network '%s' "
				    "'%s' %lld, which is in no band Magma's "
				    "enodebd can configure (" O8_LTE_BANDS "); "
				    "give it 'managed.earfcndl' of one of them or "
				    "change the network's", o->network, from, v);
		if (r)
			return -1;
	}
	return 0;
}

static int network_pass(struct ctx *c, struct o8_diags *diags)
{
	static const char *const cell_paths[] = { "managed.cellId", "unmanaged.cellId", NULL };
	static const char *const mme_paths[] = { "pool.mmeCode", NULL };

	return build_index(c, diags) || check_ip_blocks(c, diags) ||
	       check_enodeb_claims(c, diags) || check_earfcns(c, diags) ||
	       check_net_unique(c, diags, O8_KIND_ENODEB, cell_paths, NULL,
				"give each cell its own cellId") ||
	       check_net_unique(c, diags, O8_KIND_GATEWAY, mme_paths, "pool.mmeGroupId",
				"give each gateway of an MME group its own mmeCode");
}

/* After the schema pass (w[0..n) hold its results): everything else. */
/*
 * skip_refs: some document could not be loaded, so a name it defined would
 * look missing everywhere it is used; report the load errors alone first.
 */
static int finish(struct ctx *c, struct walker *w, unsigned n, int skip_refs,
		  struct o8_counts *counts, struct o8_diags *diags)
{
	struct uniq **all;
	size_t nall = 0, k;
	unsigned t;
	int oom = network_pass(c, diags);

	for (t = 0; t < n; t++)
		oom |= w[t].oom;
	if (!oom && !skip_refs && !refs_resolve(c, w, n)) {
		/* some name is missing: find every place that uses one */
		for (t = 0; t < n; t++)
			w[t].refs_only = 1;
		run_pass(c, w, n);
	}
	for (t = 0; t < n; t++)
		nall += w[t].nu;
	all = malloc((nall ? nall : 1) * sizeof(*all));
	oom |= !all;
	nall = 0;
	for (t = 0; t < n; t++) {
		for (k = 0; all && k < w[t].nu; k++)
			all[nall++] = &w[t].u[k];
		oom |= w[t].oom;
		if (o8_diags_move(diags, &w[t].diags))
			oom = 1;
		if (counts) {
			for (k = 0; k < O8_KIND__COUNT; k++)
				counts->kinds[k] += w[t].counts.kinds[k];
			counts->subscribers += w[t].counts.subscribers;
		}
	}
	if (!oom && check_uniq(all, nall, diags))
		oom = 1;
	free(all);
	return oom;
}

static struct walker *walkers_new(struct ctx *c, unsigned n)
{
	struct walker *w = calloc(n, sizeof(*w));
	unsigned t;

	for (t = 0; w && t < n; t++)
		w[t].c = c;
	return w;
}

static void walkers_free(struct walker *w, unsigned n)
{
	unsigned t;

	for (t = 0; w && t < n; t++) {
		o8_diags_free(&w[t].diags);
		free(w[t].u);
		o8_strmap_free(&w[t].refs);
		o8_arena_free(&w[t].refkeys);
	}
	free(w);
}

static void ctx_done(struct ctx *c)
{
	o8_strmap_free(&c->names);
	o8_arena_free(&c->arena);
}

enum o8_rc o8_validate(const struct o8_model *m,
		       const struct o8_validate_opts *opts,
		       struct o8_counts *counts, struct o8_diags *diags,
		       struct o8_err *err)
{
	struct ctx c = { .m = m };
	unsigned n = o8_pool_threads(opts ? opts->threads : 0, 0, 0);
	struct walker *w = walkers_new(&c, n);
	int oom = !w;

	if (counts)
		memset(counts, 0, sizeof(*counts));
	if (w) {
		run_pass(&c, w, n);
		oom = finish(&c, w, n, 0, counts, diags);
	}
	walkers_free(w, n);
	ctx_done(&c);
	if (oom)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory while validating");
	return O8_OK;
}

static int on_file(void *payload, unsigned thread, const struct o8_obj *objs,
		   size_t nobjs)
{
	struct walker *w = (struct walker *)payload + thread;
	size_t i;

	for (i = 0; i < nobjs && !w->oom; i++)
		if (objs[i].kind != O8_KIND_NONE)
			check_obj(w, &objs[i]);
	return w->oom;
}

/* Loads with the schema pass in the loader threads, then finishes. */
static enum o8_rc fused(struct o8_model **out, const char *root,
			const struct o8_src *srcs, size_t nsrcs,
			const struct o8_load_opts *lopts, struct o8_counts *counts,
			struct o8_diags *diags, struct o8_err *err)
{
	static const struct o8_load_opts def = O8_LOAD_OPTS_INIT;
	struct o8_load_opts lo = lopts ? *lopts : def;
	struct ctx c = { 0 };
	unsigned n = o8_pool_threads(lo.threads, 0, 0);
	struct walker *w = walkers_new(&c, n);
	size_t before = diags->n;
	enum o8_rc rc;
	int oom;

	*out = NULL;
	if (counts)
		memset(counts, 0, sizeof(*counts));
	if (!w)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	lo.threads = n;
	lo.file_loaded = on_file;
	lo.payload = w;
	rc = root ? o8_model_load_dir(out, root, &lo, diags, err) :
		    o8_model_load_srcs(out, srcs, nsrcs, &lo, diags, err);
	if (rc) {
		walkers_free(w, n);
		return rc;
	}
	c.m = *out;
	oom = finish(&c, w, n, diags->n > before, counts, diags);
	walkers_free(w, n);
	ctx_done(&c);
	if (oom)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory while validating");
	return O8_OK;
}

enum o8_rc o8_validate_dir(struct o8_model **out, const char *root,
			   const struct o8_load_opts *lopts,
			   struct o8_counts *counts, struct o8_diags *diags,
			   struct o8_err *err)
{
	return fused(out, root, NULL, 0, lopts, counts, diags, err);
}

enum o8_rc o8_validate_srcs(struct o8_model **out, const struct o8_src *srcs,
			    size_t nsrcs, const struct o8_load_opts *lopts,
			    struct o8_counts *counts, struct o8_diags *diags,
			    struct o8_err *err)
{
	return fused(out, NULL, srcs, nsrcs, lopts, counts, diags, err);
}
