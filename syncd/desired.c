/*
 * desired.c - generations of desired records, and what an AGW lacks.
 *
 * A generation copies what it keeps of the compiled records into one
 * arena and drops the model: a record of compile.c borrows its network,
 * key, name and fields from the parsed YAML, and only its body and digest
 * are its own.  Every diff is one merge walk of two (kind, key)-sorted
 * streams; the network-wide half of a generation-to-generation diff is
 * cached per network so that a network's AGWs share it.
 */
#include "desired.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "repo/model.h"
#include "repo/validate.h"

/* Kinds every gateway of a network receives alike; the rest are its own. */
static const bool network_wide[O8_REC__COUNT] = {
	[O8_REC_NETWORK] = true,
	[O8_REC_APN] = true,
	[O8_REC_POLICY] = true,
	[O8_REC_SUBSCRIBER] = true,
};

#define ALL_KINDS (((1u << O8_REC__COUNT) - 1) & ~1u)

/* The network-wide half of a diff from one older generation. */
struct o8_desired_shared {
	uint64_t old_version;
	char old_commit[O8_OID_HEX_SIZE];
	const struct o8_record **up;            /* borrowed from the new one */
	size_t nup;
	struct o8_wire_key *del;                /* keys copied: old may go */
	size_t ndel;
	struct o8_desired_shared *next;
};

struct net {
	const char *name;
	const struct o8_record **recs;          /* network-wide kinds, sorted */
	size_t n;
	struct o8_wire_kind_digests kd;         /* meaningful for those kinds */
	struct o8_desired_shared full;          /* from nothing: recs */
	struct o8_desired_shared *diffs;        /* the cache, under lock */
};

struct gw {
	struct o8_desired_gateway pub;          /* first: &pub is the gw */
	const struct o8_record **own;           /* Gateway, ENodeBs, Tier */
	size_t nown;
	struct net *net;                        /* its diff cache grows */
};

struct o8_desired {
	uint64_t version;
	char commit[O8_OID_HEX_SIZE];
	struct o8_arena arena;                  /* records, strings, arrays */
	struct net *nets;                       /* sorted by name */
	size_t nnets;
	struct gw *gws;                         /* sorted by (network, name) */
	size_t ngws;
	size_t nrecords;
	pthread_mutex_t lock;                   /* guards the diff caches ... */
	struct o8_arena cache;                  /* ... and their memory */
};

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static int key_cmp(enum o8_rec_kind ka, const char *a, enum o8_rec_kind kb,
		   const char *b)
{
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return strcmp(a, b);
}

/* --- building ---------------------------------------------------------------- */

static const char *dup_str(struct o8_desired *d, const char *s)
{
	return o8_arena_strndup(&d->arena, s, strlen(s));
}

/*
 * A record that owns nothing of the model.  A subscriber's name is "IMSI"
 * + its key and most other names are the key: those share one string,
 * which saves a string per subscriber.
 */
static const struct o8_record *copy_record(struct o8_desired *d,
					   const struct o8_record *r,
					   const char *network)
{
	struct o8_record *c = o8_arena_alloc(&d->arena, sizeof(*c));
	uint8_t *body = o8_arena_alloc(&d->arena, r->len ? r->len : 1);
	size_t klen = strlen(r->key);

	if (!c || !body)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->kind = r->kind;
	c->network = network;
	if (r->len)
		memcpy(body, r->body, r->len);
	c->body = body;
	c->len = r->len;
	memcpy(c->digest, r->digest, sizeof(c->digest));
	if (!r->name || !strcmp(r->name, r->key)) {
		c->key = c->name = dup_str(d, r->key);
	} else if (!strncmp(r->name, "IMSI", 4) && !strcmp(r->name + 4, r->key)) {
		c->name = o8_arena_strndup(&d->arena, r->name, klen + 4);
		c->key = c->name ? c->name + 4 : NULL;
	} else {
		c->key = dup_str(d, r->key);
		c->name = dup_str(d, r->name);
	}
	return c->key && c->name ? c : NULL;
}

struct rec_key {
	enum o8_rec_kind kind;
	const char *key;
};

static int rec_find_cmp(const void *pk, const void *pe)
{
	const struct rec_key *k = pk;
	const struct o8_record *r = *(const struct o8_record *const *)pe;

	return key_cmp(k->kind, k->key, r->kind, r->key);
}

/* (kind, key) in v[0..n), sorted; NULL when absent. */
static const struct o8_record *find_rec(const struct o8_record *const *v, size_t n,
					enum o8_rec_kind kind, const char *key)
{
	struct rec_key k = { kind, key };
	const struct o8_record *const *p = bsearch(&k, v, n, sizeof(*v), rec_find_cmp);

	return p ? *p : NULL;
}

static int rec_key_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct o8_record *const *)a)->key,
		      (*(const struct o8_record *const *)b)->key);
}

/*
 * The gateway's own records, by the rule of o8_compile_agw: its record
 * names its tier ("tier") and its eNodeBs ("enodebs[i]"), which are looked
 * up among the network's copies cp (sorted).  orig is the compiled record,
 * whose fields the copy lacks.
 */
static enum o8_rc own_records(struct o8_desired *d, struct gw *g,
			      const struct o8_record *orig,
			      const struct o8_record *copy,
			      const struct o8_record *const *cp, size_t ncp,
			      struct o8_err *err)
{
	const struct o8_record **enbs, *tier = NULL, *at;
	size_t i, ne = 0, k = 0;

	enbs = malloc((orig->nfields + 1) * sizeof(*enbs));
	if (!enbs)
		return oom(err);
	for (i = 0; i < orig->nfields; i++) {
		const struct o8_rec_field *f = &orig->fields[i];
		if (!strcmp(f->path, "tier"))
			at = find_rec(cp, ncp, O8_REC_TIER, f->value);
		else if (!strncmp(f->path, "enodebs[", 8))
			at = find_rec(cp, ncp, O8_REC_ENODEB, f->value);
		else
			continue;
		if (!at)
			continue;       /* dangling: the validator said so */
		if (at->kind == O8_REC_TIER)
			tier = at;
		else
			enbs[ne++] = at;
	}
	qsort(enbs, ne, sizeof(*enbs), rec_key_cmp);
	g->own = o8_arena_alloc(&d->arena, (ne + 2) * sizeof(*g->own));
	if (!g->own) {
		free(enbs);
		return oom(err);
	}
	g->own[k++] = copy;
	for (i = 0; i < ne; i++)
		if (!i || enbs[i] != enbs[i - 1])       /* listed twice: once */
			g->own[k++] = enbs[i];
	if (tier)
		g->own[k++] = tier;
	g->nown = k;
	free(enbs);
	return O8_OK;
}

/* A gateway's digests: its network's for the network-wide kinds. */
static enum o8_rc gateway_digests(struct gw *g, struct o8_err *err)
{
	struct o8_wire_kind_digests own;
	enum o8_rc rc;
	int k;

	if ((rc = o8_wire_kind_digests_of(&own, g->own, g->nown, err)))
		return rc;
	for (k = 1; k < O8_REC__COUNT; k++)
		memcpy(g->pub.kd.digest[k],
		       network_wide[k] ? g->net->kd.digest[k] : own.digest[k], 32);
	g->pub.nrecords = g->net->n + g->nown;
	return O8_OK;
}

/*
 * One network: orig[0..n) are its compiled records, sorted by (kind, key).
 * Its gateways are appended to d->gws.
 */
static enum o8_rc add_network(struct o8_desired *d, struct net *net,
			      const struct o8_record *const *orig, size_t n,
			      struct o8_err *err)
{
	const struct o8_record **cp = malloc((n ? n : 1) * sizeof(*cp));
	enum o8_rc rc = O8_OK;
	size_t i, ns = 0;

	if (!cp || !(net->name = dup_str(d, orig[0]->network)))
		goto oom;
	for (i = 0; i < n; i++) {
		if (!(cp[i] = copy_record(d, orig[i], net->name)))
			goto oom;
		ns += network_wide[cp[i]->kind];
	}
	net->recs = o8_arena_alloc(&d->arena, (ns ? ns : 1) * sizeof(*net->recs));
	if (!net->recs)
		goto oom;
	for (i = 0; i < n; i++)
		if (network_wide[cp[i]->kind])
			net->recs[net->n++] = cp[i];
	net->full.up = net->recs;
	net->full.nup = net->n;
	/* also refuses duplicate keys, which a valid model cannot have */
	rc = o8_wire_kind_digests_of(&net->kd, net->recs, net->n, err);
	for (i = 0; i < n && !rc; i++) {
		struct gw *g;
		if (cp[i]->kind != O8_REC_GATEWAY)
			continue;
		g = &d->gws[d->ngws++];
		g->net = net;
		g->pub.network = net->name;
		g->pub.name = cp[i]->key;
		rc = own_records(d, g, orig[i], cp[i], cp, n, err);
		if (!rc)
			rc = gateway_digests(g, err);
	}
	d->nrecords += n;
	free(cp);
	return rc;
oom:
	free(cp);
	return oom(err);
}

static enum o8_rc from_records(struct o8_desired *d, const struct o8_records *r,
			       struct o8_err *err)
{
	size_t n = o8_records_count(r), i, j, nets = 0, gws = 0;
	const struct o8_record **v = malloc((n ? n : 1) * sizeof(*v));
	enum o8_rc rc = O8_OK;

	if (!v)
		return oom(err);
	for (i = 0; i < n; i++) {
		v[i] = o8_records_get(r, i);
		nets += !i || strcmp(v[i]->network, v[i - 1]->network);
		gws += v[i]->kind == O8_REC_GATEWAY;
	}
	d->nets = o8_arena_alloc(&d->arena, (nets ? nets : 1) * sizeof(*d->nets));
	d->gws = o8_arena_alloc(&d->arena, (gws ? gws : 1) * sizeof(*d->gws));
	if (!d->nets || !d->gws) {
		free(v);
		return oom(err);
	}
	memset(d->nets, 0, (nets ? nets : 1) * sizeof(*d->nets));
	memset(d->gws, 0, (gws ? gws : 1) * sizeof(*d->gws));
	for (i = 0; i < n && !rc; i = j) {
		for (j = i + 1; j < n && !strcmp(v[j]->network, v[i]->network); j++)
			;
		rc = add_network(d, &d->nets[d->nnets++], v + i, j - i, err);
	}
	free(v);
	return rc;
}

/* "N errors: FILE:LINE:COL: first finding"; the findings go to the caller. */
static enum o8_rc invalid(struct o8_diags *found, struct o8_diags *diags,
			  struct o8_err *err)
{
	const struct o8_diag *x;
	char who[256] = "";

	o8_diags_sort(found);
	x = &found->v[0];
	if (x->kind)    /* as `orc8r validate` prints it: "Gateway/agw-1: " */
		snprintf(who, sizeof(who), "%s%s%s: ", x->kind, x->name ? "/" : "",
			 x->name ? x->name : "");
	o8_err_set(err, O8_EINVALID, NULL, 0, 0, "%zu error%s: %s:%u:%u: %s%s",
		   found->n, found->n == 1 ? "" : "s", x->file, x->line, x->col,
		   who, x->msg);
	if (diags && o8_diags_move(diags, found))
		return oom(err);
	return O8_EINVALID;
}

/* The model of commit, validated into found; *snap is the caller's to free. */
static enum o8_rc load_commit(struct o8_model **out, struct o8_snapshot **snap,
			      struct o8_git *repo, const char *commit,
			      struct o8_diags *found, struct o8_err *err)
{
	struct o8_src *src = NULL;
	enum o8_rc rc;

	*out = NULL;
	if ((rc = o8_git_snapshot(snap, repo, commit, found, err)))
		return rc;
	if (!o8_snapshot_commit(*snap))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' names no commit", commit);
	if ((rc = o8_snapshot_srcs(&src, *snap, err)))
		return rc;
	rc = o8_validate_srcs(out, src, o8_snapshot_count(*snap), NULL, NULL,
			      found, err);
	free(src);
	return rc;
}

enum o8_rc o8_desired_build(struct o8_desired **out, struct o8_git *repo,
			    const char *commit, uint64_t version,
			    struct o8_diags *diags, struct o8_err *err)
{
	struct o8_diags found = O8_DIAGS_INIT;
	struct o8_snapshot *snap = NULL;
	struct o8_records *r = NULL;
	struct o8_model *m = NULL;
	struct o8_desired *d;
	enum o8_rc rc;

	*out = NULL;
	if (!(d = calloc(1, sizeof(*d))))
		return oom(err);
	pthread_mutex_init(&d->lock, NULL);
	d->version = version;
	rc = load_commit(&m, &snap, repo, commit, &found, err);
	if (!rc && found.n)
		rc = invalid(&found, diags, err);
	if (!rc)
		rc = o8_compile(&r, m, err);
	if (!rc)
		rc = from_records(d, r, err);
	if (!rc)
		memcpy(d->commit, o8_snapshot_commit(snap), 41);
	/* the model and what borrows from it go now: only copies remain */
	o8_records_free(r);
	o8_model_free(m);
	o8_snapshot_free(snap);
	o8_diags_free(&found);
	if (rc) {
		o8_desired_free(d);
		return rc;
	}
	*out = d;
	return O8_OK;
}

void o8_desired_free(struct o8_desired *d)
{
	if (!d)
		return;
	o8_arena_free(&d->arena);
	o8_arena_free(&d->cache);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

uint64_t o8_desired_version(const struct o8_desired *d)
{
	return d->version;
}

const char *o8_desired_commit(const struct o8_desired *d)
{
	return d->commit;
}

size_t o8_desired_record_count(const struct o8_desired *d)
{
	return d->nrecords;
}

/* --- lookup ------------------------------------------------------------------ */

size_t o8_desired_gateway_count(const struct o8_desired *d)
{
	return d->ngws;
}

const struct o8_desired_gateway *o8_desired_gateway_at(const struct o8_desired *d,
							 size_t i)
{
	return i < d->ngws ? &d->gws[i].pub : NULL;
}

struct gw_key {
	const char *network, *name;
};

static int gw_cmp(const void *pk, const void *pe)
{
	const struct gw_key *k = pk;
	const struct gw *g = pe;
	int c = strcmp(k->network, g->pub.network);

	return c ? c : strcmp(k->name, g->pub.name);
}

static const struct gw *find_gw(const struct o8_desired *d, const char *network,
				const char *gateway)
{
	struct gw_key k = { network, gateway };

	if (!d || !network || !gateway)
		return NULL;
	return bsearch(&k, d->gws, d->ngws, sizeof(*d->gws), gw_cmp);
}

const struct o8_desired_gateway *o8_desired_find(const struct o8_desired *d,
						  const char *network,
						  const char *gateway)
{
	const struct gw *g = find_gw(d, network, gateway);

	return g ? &g->pub : NULL;
}

static int net_cmp(const void *pk, const void *pe)
{
	return strcmp(pk, ((const struct net *)pe)->name);
}

static const struct net *find_net(const struct o8_desired *d, const char *network)
{
	return bsearch(network, d->nets, d->nnets, sizeof(*d->nets), net_cmp);
}

static enum o8_rc no_gateway(struct o8_err *err, const char *network,
			     const char *gateway)
{
	return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
			  "no gateway '%s' in network '%s'",
			  gateway ? gateway : "", network ? network : "");
}

/* --- one AGW's config -------------------------------------------------------- */

static void iter_of(struct o8_desired_iter *it, const struct gw *g)
{
	it->a = g->net->recs;
	it->na = g->net->n;
	it->b = g->own;
	it->nb = g->nown;
	it->ia = it->ib = 0;
}

enum o8_rc o8_desired_iter_init(struct o8_desired_iter *it,
				const struct o8_desired *d, const char *network,
				const char *gateway, struct o8_err *err)
{
	const struct gw *g = find_gw(d, network, gateway);

	memset(it, 0, sizeof(*it));
	if (!g)
		return no_gateway(err, network, gateway);
	iter_of(it, g);
	return O8_OK;
}

const struct o8_record *o8_desired_iter_next(struct o8_desired_iter *it)
{
	const struct o8_record *x, *y;

	if (it->ia == it->na)
		return it->ib < it->nb ? it->b[it->ib++] : NULL;
	if (it->ib == it->nb)
		return it->a[it->ia++];
	x = it->a[it->ia];
	y = it->b[it->ib];
	if (key_cmp(x->kind, x->key, y->kind, y->key) < 0) {
		it->ia++;
		return x;
	}
	it->ib++;
	return y;
}

/* Drains it into a malloc'd array of *n (the sum of both halves). */
static enum o8_rc drain(const struct o8_record ***out, size_t *n,
			struct o8_desired_iter *it, struct o8_err *err)
{
	size_t total = it->na + it->nb, k = 0;
	const struct o8_record **v = malloc((total ? total : 1) * sizeof(*v));
	const struct o8_record *r;

	*out = NULL;
	*n = 0;
	if (!v)
		return oom(err);
	while ((r = o8_desired_iter_next(it)))
		v[k++] = r;
	*out = v;
	*n = k;
	return O8_OK;
}

enum o8_rc o8_desired_full(const struct o8_record ***out, size_t *n,
			   const struct o8_desired *d, const char *network,
			   const char *gateway, struct o8_err *err)
{
	struct o8_desired_iter it;
	enum o8_rc rc;

	*out = NULL;
	*n = 0;
	if ((rc = o8_desired_iter_init(&it, d, network, gateway, err)))
		return rc;
	return drain(out, n, &it, err);
}

/* --- the merge walk ------------------------------------------------------------ */

/* One entry of a sorted stream: a desired record, or a key and digest held. */
struct item {
	enum o8_rec_kind kind;
	const char *key;
	const uint8_t *digest;
	const struct o8_record *rec;    /* records only */
};

/* A stream: merged records, or a DigestReply's list; only mask's kinds. */
struct cursor {
	struct o8_desired_iter it;
	bool of_have;                           /* the list, not it */
	const struct o8_desired_have *have;
	size_t nhave, ihave;
	uint32_t mask;
};

static bool cursor_next(struct cursor *c, struct item *out)
{
	for (;;) {
		if (c->of_have) {
			const struct o8_desired_have *h;
			if (c->ihave == c->nhave)
				return false;
			h = &c->have[c->ihave++];
			*out = (struct item){ h->kind, h->key, h->digest, NULL };
		} else {
			const struct o8_record *r = o8_desired_iter_next(&c->it);
			if (!r)
				return false;
			*out = (struct item){ r->kind, r->key, r->digest, r };
		}
		if (c->mask & (1u << out->kind))
			return true;
	}
}

static struct cursor recs_cursor(const struct o8_record *const *v, size_t n)
{
	struct cursor c = { .mask = ALL_KINDS };

	c.it.a = v;
	c.it.na = n;
	return c;
}

/*
 * Where a walk's results go.  Run once with up and del NULL to count,
 * then with arrays of those sizes to fill.
 */
struct sink {
	const struct o8_record **up;
	size_t nup;
	struct o8_wire_key *del;
	size_t ndel;
};

/* Upserts: in b and not in a, or with another digest; deletes: only in a. */
static void walk(struct sink *s, struct cursor a, struct cursor b)
{
	/* zeroed: the compiler can't see that hx and hy guard every read */
	struct item x = { 0 }, y = { 0 };
	bool hx = cursor_next(&a, &x), hy = cursor_next(&b, &y);

	s->nup = s->ndel = 0;
	while (hx || hy) {
		int c = !hx ? 1 : !hy ? -1 : key_cmp(x.kind, x.key, y.kind, y.key);
		if (c < 0) {
			if (s->del)
				s->del[s->ndel] = (struct o8_wire_key){ x.kind, x.key };
			s->ndel++;
		} else if (c > 0 || memcmp(x.digest, y.digest, 32)) {
			if (s->up)
				s->up[s->nup] = y.rec;
			s->nup++;
		}
		if (c <= 0)
			hx = cursor_next(&a, &x);
		if (c >= 0)
			hy = cursor_next(&b, &y);
	}
}

/* Counts, then fills arrays from arena (malloc'd when arena is NULL). */
static enum o8_rc walk_into(struct sink *s, const struct cursor *a,
			    const struct cursor *b, struct o8_arena *arena,
			    struct o8_err *err)
{
	size_t nup, ndel;

	*s = (struct sink){ 0 };
	walk(s, *a, *b);
	nup = s->nup;
	ndel = s->ndel;
	if (arena) {
		s->up = o8_arena_alloc(arena, (nup ? nup : 1) * sizeof(*s->up));
		s->del = o8_arena_alloc(arena, (ndel ? ndel : 1) * sizeof(*s->del));
	} else {
		s->up = malloc((nup ? nup : 1) * sizeof(*s->up));
		s->del = malloc((ndel ? ndel : 1) * sizeof(*s->del));
	}
	if (!s->up || !s->del) {
		if (!arena) {
			free(s->up);
			free(s->del);
		}
		*s = (struct sink){ 0 };
		return oom(err);
	}
	walk(s, *a, *b);
	return O8_OK;
}

/* --- deltas -------------------------------------------------------------------- */

/* The cached network-wide diff from old to new (computed on first use). */
static enum o8_rc shared_diff(const struct o8_desired_shared **out,
			      const struct o8_desired *old, struct o8_desired *new_gen,
			      struct net *net, struct o8_err *err)
{
	const struct net *was = find_net(old, net->name);
	struct o8_desired_shared *s;
	struct cursor a, b;
	struct sink k;
	enum o8_rc rc = O8_OK;
	size_t i;

	pthread_mutex_lock(&new_gen->lock);
	for (s = net->diffs; s; s = s->next)
		if (s->old_version == old->version && !strcmp(s->old_commit, old->commit))
			break;
	if (s)
		goto out;
	a = recs_cursor(was ? was->recs : NULL, was ? was->n : 0);
	b = recs_cursor(net->recs, net->n);
	s = o8_arena_alloc(&new_gen->cache, sizeof(*s));
	if (!s || (rc = walk_into(&k, &a, &b, &new_gen->cache, err))) {
		rc = rc ? rc : oom(err);
		s = NULL;
		goto out;
	}
	/* the keys are old's: copied, so that old may be freed first */
	for (i = 0; i < k.ndel; i++) {
		k.del[i].key = o8_arena_strndup(&new_gen->cache, k.del[i].key,
						strlen(k.del[i].key));
		if (!k.del[i].key) {
			rc = oom(err);
			s = NULL;
			goto out;
		}
	}
	*s = (struct o8_desired_shared){ old->version, "", k.up, k.nup, k.del, k.ndel,
					 net->diffs };
	memcpy(s->old_commit, old->commit, sizeof(s->old_commit));
	net->diffs = s;
out:
	pthread_mutex_unlock(&new_gen->lock);
	*out = s;
	return rc;
}

static void delta_start(struct o8_desired_delta *out, const struct o8_desired *new_gen)
{
	memset(out, 0, sizeof(*out));
	out->to_version = new_gen->version;
	out->commit = new_gen->commit;
}

static enum o8_rc full_delta(struct o8_desired_delta *out, const struct gw *g,
			     struct o8_err *err)
{
	struct o8_desired_iter it;
	const struct o8_record **v;
	enum o8_rc rc;

	iter_of(&it, g);
	if ((rc = drain(&v, &out->nupserts, &it, err)))
		return rc;
	out->upserts = v;
	out->own_[0] = v;
	out->full = true;
	out->shared = &g->net->full;
	return O8_OK;
}

static int wkey_cmp(const struct o8_wire_key *a, const struct o8_wire_key *b)
{
	return key_cmp(a->kind, a->key, b->kind, b->key);
}

/*
 * The shared half plus the gateway's own: borrowed as is when the own half
 * is empty (the common case: a change to the network's records).
 */
static enum o8_rc combine(struct o8_desired_delta *out,
			  const struct o8_desired_shared *s, const struct sink *own,
			  struct o8_err *err)
{
	size_t i = 0, j = 0, k = 0;
	struct o8_wire_key *del;
	struct o8_desired_iter it = { .a = s->up, .na = s->nup,
				      .b = own->up, .nb = own->nup };
	enum o8_rc rc;

	out->upserts = s->up;
	out->nupserts = s->nup;
	if (own->nup) {
		const struct o8_record **v;
		if ((rc = drain(&v, &out->nupserts, &it, err)))
			return rc;
		out->upserts = v;
		out->own_[0] = v;
	}
	out->deletes = s->del;
	out->ndeletes = s->ndel;
	if (!own->ndel)
		return O8_OK;
	if (!(del = malloc((s->ndel + own->ndel) * sizeof(*del))))
		return oom(err);
	while (i < s->ndel || j < own->ndel)
		del[k++] = j == own->ndel ||
			   (i < s->ndel && wkey_cmp(&s->del[i], &own->del[j]) < 0)
			   ? s->del[i++] : own->del[j++];
	out->deletes = del;
	out->ndeletes = k;
	out->own_[1] = del;
	return O8_OK;
}

enum o8_rc o8_desired_diff(const struct o8_desired *old,
			   struct o8_desired *new_gen, const char *network,
			   const char *gateway, struct o8_desired_delta *out,
			   struct o8_err *err)
{
	const struct gw *g = find_gw(new_gen, network, gateway);
	const struct gw *was = old ? find_gw(old, network, gateway) : NULL;
	const struct o8_desired_shared *s;
	struct cursor a, b;
	struct sink own;
	enum o8_rc rc;

	delta_start(out, new_gen);
	if (!g)
		return no_gateway(err, network, gateway);
	if (!was)
		return full_delta(out, g, err);
	out->from_version = old->version;
	if ((rc = shared_diff(&s, old, new_gen, g->net, err)))
		return rc;
	out->shared = s;
	a = recs_cursor(was->own, was->nown);
	b = recs_cursor(g->own, g->nown);
	if ((rc = walk_into(&own, &a, &b, NULL, err)))
		return rc;
	rc = combine(out, s, &own, err);
	free(own.up);
	free(own.del);
	if (rc)
		o8_desired_delta_done(out);
	return rc;
}

void o8_desired_shared_size(const struct o8_desired_shared *s,
			    size_t *nupserts, size_t *ndeletes)
{
	*nupserts = s ? s->nup : 0;
	*ndeletes = s ? s->ndel : 0;
}

static enum o8_rc check_have(const struct o8_desired_have *have, size_t n,
			     struct o8_err *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (have[i].kind <= 0 || have[i].kind >= O8_REC__COUNT || !have[i].key)
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "digest list item %zu: unknown kind %d or no key",
					  i, (int)have[i].kind);
		if (i && key_cmp(have[i - 1].kind, have[i - 1].key,
				 have[i].kind, have[i].key) >= 0)
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "digest list not sorted by kind and key: "
					  "%s '%s' after %s '%s'",
					  o8_rec_kind_name(have[i].kind), have[i].key,
					  o8_rec_kind_name(have[i - 1].kind), have[i - 1].key);
	}
	return O8_OK;
}

/* Points the delta's delete keys at one block of copies it owns. */
static enum o8_rc own_keys(struct o8_desired_delta *out, struct o8_wire_key *del,
			   size_t n, struct o8_err *err)
{
	size_t i, len = 0;
	char *p;

	for (i = 0; i < n; i++)
		len += strlen(del[i].key) + 1;
	if (!(p = malloc(len ? len : 1)))
		return oom(err);
	out->own_[2] = p;
	for (i = 0; i < n; i++) {
		size_t l = strlen(del[i].key) + 1;
		memcpy(p, del[i].key, l);
		del[i].key = p;
		p += l;
	}
	return O8_OK;
}

enum o8_rc o8_desired_diff_digests(const struct o8_desired *new_gen,
				   const char *network, const char *gateway,
				   const struct o8_desired_have *have, size_t n,
				   uint32_t kinds_mask,
				   struct o8_desired_delta *out,
				   struct o8_err *err)
{
	const struct gw *g = find_gw(new_gen, network, gateway);
	uint32_t mask = kinds_mask ? kinds_mask & ALL_KINDS : ALL_KINDS;
	struct cursor a = { .of_have = true, .have = have, .nhave = n, .mask = mask };
	struct cursor b = { .mask = mask };
	struct sink k;
	enum o8_rc rc;

	delta_start(out, new_gen);
	if (!g)
		return no_gateway(err, network, gateway);
	if ((rc = check_have(have, n, err)))
		return rc;
	iter_of(&b.it, g);
	if ((rc = walk_into(&k, &a, &b, NULL, err)))
		return rc;
	out->upserts = k.up;
	out->nupserts = k.nup;
	out->own_[0] = k.up;
	out->deletes = k.del;
	out->ndeletes = k.ndel;
	out->own_[1] = k.del;
	if ((rc = own_keys(out, k.del, k.ndel, err)))
		o8_desired_delta_done(out);
	return rc;
}

uint32_t o8_desired_kinds_differing(const struct o8_desired *new_gen,
				    const char *network, const char *gateway,
				    const struct o8_wire_kind_digests *have)
{
	const struct gw *g = find_gw(new_gen, network, gateway);
	uint32_t mask = 0;
	int k;

	for (k = 1; g && have && k < O8_REC__COUNT; k++)
		if (memcmp(have->digest[k], g->pub.kd.digest[k], 32))
			mask |= 1u << k;
	return mask;
}

void o8_desired_delta_wire(const struct o8_desired_delta *d,
			   struct o8_wire_delta *out)
{
	memset(out, 0, sizeof(*out));
	out->from_version = d->from_version;
	out->to_version = d->to_version;
	out->commit = d->commit;
	out->upserts = d->upserts;
	out->nupserts = d->nupserts;
	out->deletes = d->deletes;
	out->ndeletes = d->ndeletes;
	out->full = d->full;
}

void o8_desired_delta_done(struct o8_desired_delta *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < sizeof(d->own_) / sizeof(d->own_[0]); i++)
		free(d->own_[i]);
	memset(d, 0, sizeof(*d));
}
