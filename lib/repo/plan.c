#include "repo/plan.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/strmap.h"

#define SEP "\x1f"

struct o8_plan_impl {
	struct o8_plan pub;     /* first: o8_plan_free casts back */
	struct o8_arena a;
	struct o8_plan_change *changes;
	size_t nchanges, capchanges;
	struct o8_plan_gateway *gws;
	size_t ngws, capgws;
};

static const char *const action_names[] = { NULL, "create", "update", "destroy", "replace" };
static const char *const action_symbols[] = { NULL, "+", "~", "-", "-/+" };

const char *o8_plan_action_name(enum o8_plan_action a)
{
	return a >= O8_PLAN_CREATE && a <= O8_PLAN_REPLACE ? action_names[a] : "?";
}

const char *o8_plan_action_symbol(enum o8_plan_action a)
{
	return a >= O8_PLAN_CREATE && a <= O8_PLAN_REPLACE ? action_symbols[a] : "?";
}

static int rec_cmp(const struct o8_record *a, const struct o8_record *b)
{
	int c = strcmp(a->network, b->network);

	if (c)
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return strcmp(a->key, b->key);
}

static const char *key3(struct o8_arena *a, const char *x, int k, const char *y)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s" SEP "%d" SEP "%s", x, k, y);

	if (n < 0 || (size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	return o8_arena_strndup(a, buf, (size_t)n);
}

static struct o8_plan_change *add_change(struct o8_plan_impl *p)
{
	if (p->nchanges == p->capchanges) {
		size_t cap = p->capchanges ? p->capchanges * 2 : 64;
		struct o8_plan_change *v = realloc(p->changes, cap * sizeof(*v));
		if (!v)
			return NULL;
		p->changes = v;
		p->capchanges = cap;
	}
	memset(&p->changes[p->nchanges], 0, sizeof(p->changes[0]));
	return &p->changes[p->nchanges++];
}

/* Field-by-field differences of two records (fields sorted by path). */
static int diff_fields(struct o8_plan_impl *p, struct o8_plan_change *c,
		       const struct o8_record *o, const struct o8_record *n)
{
	size_t i = 0, j = 0, k = 0, no = o ? o->nfields : 0, nn = n ? n->nfields : 0;
	struct o8_plan_field *f = o8_arena_alloc(&p->a, (no + nn + 1) * sizeof(*f));

	if (!f)
		return -1;
	while (i < no || j < nn) {
		int cmp = i == no ? 1 : j == nn ? -1 :
			  strcmp(o->fields[i].path, n->fields[j].path);
		if (cmp < 0) {
			f[k++] = (struct o8_plan_field){ o->fields[i].path, o->fields[i].value, NULL };
			i++;
		} else if (cmp > 0) {
			f[k++] = (struct o8_plan_field){ n->fields[j].path, NULL, n->fields[j].value };
			j++;
		} else {
			if (strcmp(o->fields[i].value, n->fields[j].value))
				f[k++] = (struct o8_plan_field){ n->fields[j].path,
								 o->fields[i].value,
								 n->fields[j].value };
			i++;
			j++;
		}
	}
	c->fields = f;
	c->nfields = k;
	return 0;
}

/* What pairs a destroy with a create: the document, except for the items
 * of a SubscriberSet, which are identified by their IMSI alone. */
static const char *doc_name(const struct o8_record *r)
{
	if (r->obj && r->obj->kind != O8_KIND_SUBSCRIBERSET && r->obj->name)
		return r->obj->name;
	return r->name;
}

static int change_cmp(const void *x, const void *y)
{
	const struct o8_plan_change *a = x, *b = y;
	int c = strcmp(a->network, b->network);

	if (c)
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if ((c = strcmp(a->name, b->name)))
		return c;
	return (int)a->action - (int)b->action;
}

/*
 * Walks both sorted record sets once.  Creates and destroys of one kind
 * and network with the same name pair up as replaces.
 */
static int diff_records(struct o8_plan_impl *p, const struct o8_records *base,
			const struct o8_records *head)
{
	size_t nb = base ? o8_records_count(base) : 0, nh = head ? o8_records_count(head) : 0;
	size_t i = 0, j = 0, k;
	struct o8_strmap gone = O8_STRMAP_INIT;
	int r = 0;

	while (!r && (i < nb || j < nh)) {
		const struct o8_record *b = i < nb ? o8_records_get(base, i) : NULL;
		const struct o8_record *h = j < nh ? o8_records_get(head, j) : NULL;
		int cmp = !b ? 1 : !h ? -1 : rec_cmp(b, h);
		struct o8_plan_change *c;

		if (cmp == 0 && !memcmp(b->digest, h->digest, sizeof(b->digest))) {
			i++;
			j++;
			continue;
		}
		if (!(c = add_change(p))) {
			r = -1;
			break;
		}
		if (cmp == 0) {
			*c = (struct o8_plan_change){ O8_PLAN_UPDATE, h->kind, h->network, h->name,
						      b->key, h->key, doc_name(h), NULL, 0 };
			r = diff_fields(p, c, b, h);
			i++;
			j++;
		} else if (cmp < 0) {
			*c = (struct o8_plan_change){ O8_PLAN_DESTROY, b->kind, b->network, b->name,
						      b->key, NULL, doc_name(b), NULL, 0 };
			i++;
		} else {
			*c = (struct o8_plan_change){ O8_PLAN_CREATE, h->kind, h->network, h->name,
						      NULL, h->key, doc_name(h), NULL, 0 };
			r = diff_fields(p, c, NULL, h);
			j++;
		}
	}
	/* replaces: a destroy and a create with one name */
	for (k = 0; !r && k < p->nchanges; k++) {
		struct o8_plan_change *c = &p->changes[k];
		const char *nk;
		if (c->action != O8_PLAN_DESTROY)
			continue;
		if (!(nk = key3(&p->a, c->network, c->kind, c->doc)) ||
		    o8_strmap_put(&gone, nk, (void *)(uintptr_t)(k + 1), NULL) < 0)
			r = -1;
	}
	for (k = 0; !r && gone.n && k < p->nchanges; k++) {
		struct o8_plan_change *c = &p->changes[k], *d;
		const struct o8_record *o, *n;
		uintptr_t di;
		const char *nk;

		if (c->action != O8_PLAN_CREATE)
			continue;
		if (!(nk = key3(&p->a, c->network, c->kind, c->doc))) {
			r = -1;
			break;
		}
		if (!(di = (uintptr_t)o8_strmap_get(&gone, nk)))
			continue;
		d = &p->changes[di - 1];
		o = o8_records_find(base, d->network, d->kind, d->old_key);
		n = o8_records_find(head, c->network, c->kind, c->new_key);
		c->action = O8_PLAN_REPLACE;
		c->old_key = d->old_key;
		if (o && n)
			r = diff_fields(p, c, o, n);
		d->action = 0;  /* dropped below */
	}
	/* drop the destroys that became part of a replace */
	for (i = 0, j = 0; i < p->nchanges; i++)
		if (p->changes[i].action)
			p->changes[j++] = p->changes[i];
	p->nchanges = j;
	o8_strmap_free(&gone);
	return r;
}

/* The value of field path in r, or NULL. */
static const char *field(const struct o8_record *r, const char *path)
{
	size_t lo = 0, hi = r->nfields;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(r->fields[mid].path, path);
		if (!c)
			return r->fields[mid].value;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Calls fn for each eNodeB serial a gateway record lists. */
static size_t serials(const struct o8_record *g, const char **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; g && i < g->nfields && n < max; i++)
		if (!strncmp(g->fields[i].path, "enodebs[", 8))
			out[n++] = g->fields[i].value;
	return n;
}

static int has(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

static enum o8_plan_action changed_as(const struct o8_strmap *changed,
				      struct o8_arena *a, const char *net,
				      enum o8_rec_kind k, const char *key)
{
	const struct o8_plan_change *c;
	char buf[1024];

	(void)a;
	snprintf(buf, sizeof(buf), "%s" SEP "%d" SEP "%s", net, (int)k, key);
	c = o8_strmap_get(changed, buf);
	return c ? c->action : 0;
}

enum { MAX_ENB = 256 };

/*
 * What one head gateway is sent: the network-wide delta, plus its own
 * part (itself, its Tier, its eNodeBs), where membership may have moved.
 */
static void gateway_delta(const struct o8_strmap *changed, struct o8_arena *a,
			  const struct o8_record *bg, const struct o8_record *hg,
			  size_t net_size, size_t *up, size_t *del)
{
	const char *bs[MAX_ENB], *hs[MAX_ENB], *bt, *ht;
	size_t nb = serials(bg, bs, MAX_ENB), nh = serials(hg, hs, MAX_ENB), i;
	const char *net = hg->network;

	if (!bg) {
		/* a new gateway (or a renamed one) is sent its whole config */
		*up = net_size + 1 + (field(hg, "tier") != NULL) + nh;
		*del = 0;
		return;
	}
	if (changed_as(changed, a, net, O8_REC_GATEWAY, hg->key))
		(*up)++;
	bt = bg ? field(bg, "tier") : NULL;
	ht = field(hg, "tier");
	if (ht && (!bt || strcmp(bt, ht) ||
		   changed_as(changed, a, net, O8_REC_TIER, ht)))
		(*up)++;
	if (bt && (!ht || strcmp(bt, ht)))
		(*del)++;
	for (i = 0; i < nh; i++)
		if (!has(bs, nb, hs[i]) || changed_as(changed, a, net, O8_REC_ENODEB, hs[i]))
			(*up)++;
	for (i = 0; i < nb; i++)
		if (!has(hs, nh, bs[i]))
			(*del)++;
}

static int gw_cmp(const void *x, const void *y)
{
	const struct o8_record *a = *(const struct o8_record *const *)x;
	const struct o8_record *b = *(const struct o8_record *const *)y;
	int c = strcmp(a->network, b->network);

	return c ? c : strcmp(a->key, b->key);
}

static int is_network_wide(enum o8_rec_kind k)
{
	return k == O8_REC_NETWORK || k == O8_REC_APN || k == O8_REC_POLICY ||
	       k == O8_REC_SUBSCRIBER;
}

struct netdelta { const char *network; size_t up, del; };

static int netdelta_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct netdelta *)e)->network);
}

/* Changes must be sorted by network. */
static struct netdelta *network_deltas(const struct o8_plan_impl *p, size_t *n)
{
	struct netdelta *v = malloc((p->nchanges ? p->nchanges : 1) * sizeof(*v));
	size_t i, k = 0;

	if (!v)
		return NULL;
	for (i = 0; i < p->nchanges; i++) {
		const struct o8_plan_change *c = &p->changes[i];
		if (!is_network_wide(c->kind))
			continue;
		if (!k || strcmp(v[k - 1].network, c->network))
			v[k++] = (struct netdelta){ c->network, 0, 0 };
		if (c->action != O8_PLAN_DESTROY)
			v[k - 1].up++;
		if (c->action == O8_PLAN_DESTROY || c->action == O8_PLAN_REPLACE)
			v[k - 1].del++;
	}
	*n = k;
	return v;
}

static int netsize_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct o8_plan_netsize *)e)->network);
}

static int add_gateway(struct o8_plan_impl *p, const struct o8_record *g,
		       size_t up, size_t del)
{
	if (p->ngws == p->capgws) {
		size_t cap = p->capgws ? p->capgws * 2 : 64;
		struct o8_plan_gateway *v = realloc(p->gws, cap * sizeof(*v));
		if (!v)
			return -1;
		p->gws = v;
		p->capgws = cap;
	}
	p->gws[p->ngws++] = (struct o8_plan_gateway){ g->network, g->name, up, del };
	return 0;
}

static int affected(struct o8_plan_impl *p, const struct o8_strmap *changed,
		    const struct o8_plan_gws *bgws, const struct o8_plan_gws *hgws)
{
	struct o8_strmap bmap = O8_STRMAP_INIT;
	const struct o8_record **hs = NULL;
	size_t i, nnd = 0, nh = hgws ? hgws->n : 0;
	struct netdelta *nd = network_deltas(p, &nnd);
	const char *last = NULL;
	int r = !nd;

	for (i = 0; !r && i < (bgws ? bgws->n : 0); i++) {
		const char *k = key3(&p->a, bgws->v[i]->network, 0, bgws->v[i]->key);
		if (!k || o8_strmap_put(&bmap, k, (void *)bgws->v[i], NULL) < 0)
			r = -1;
	}
	if (!r && !(hs = malloc((nh ? nh : 1) * sizeof(*hs))))
		r = -1;
	if (!r && nh) {
		memcpy(hs, hgws->v, nh * sizeof(*hs));
		qsort(hs, nh, sizeof(*hs), gw_cmp);
	}
	for (i = 0; !r && i < nh; i++) {
		const struct netdelta *d = bsearch(hs[i]->network, nd, nnd, sizeof(*nd),
						   netdelta_cmp);
		size_t up = d ? d->up : 0, del = d ? d->del : 0;
		const char *bk = key3(&p->a, hs[i]->network, 0, hs[i]->key);

		if (!bk) {
			r = -1;
			break;
		}
		const struct o8_plan_netsize *ns = hgws->nsizes ?
			bsearch(hs[i]->network, hgws->sizes, hgws->nsizes,
				sizeof(*hgws->sizes), netsize_cmp) : NULL;
		gateway_delta(changed, &p->a, o8_strmap_get(&bmap, bk), hs[i],
			      ns ? ns->records : 0, &up, &del);
		if (!up && !del)
			continue;
		if (!last || strcmp(last, hs[i]->network)) {
			p->pub.networks++;
			last = hs[i]->network;
		}
		r = add_gateway(p, hs[i], up, del);
	}
	free(hs);
	free(nd);
	o8_strmap_free(&bmap);
	return r;
}

enum o8_rc o8_plan_gws_of(struct o8_plan_gws *out, const struct o8_records *r,
			  struct o8_err *err)
{
	size_t i, n = r ? o8_records_count(r) : 0, k = 0;
	const struct o8_record **v = malloc((n ? n : 1) * sizeof(*v));

	memset(out, 0, sizeof(*out));
	if (!v)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < n; i++) {
		const struct o8_record *x = o8_records_get(r, i);
		if (x->kind == O8_REC_GATEWAY)
			v[k++] = x;
	}
	out->v = v;
	out->n = k;
	return O8_OK;
}

enum o8_rc o8_plan_build(struct o8_plan **out, const struct o8_records *base,
			 const struct o8_records *head,
			 const struct o8_plan_gws *base_gws,
			 const struct o8_plan_gws *head_gws, struct o8_err *err)
{
	struct o8_plan_impl *p = calloc(1, sizeof(*p));
	struct o8_strmap changed = O8_STRMAP_INIT;
	size_t i;
	int r;

	*out = NULL;
	if (!p)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	r = diff_records(p, base, head);
	if (!r && p->nchanges)
		qsort(p->changes, p->nchanges, sizeof(*p->changes), change_cmp);
	/* (network, kind, key) -> change, for who-gets-what */
	for (i = 0; !r && i < p->nchanges; i++) {
		struct o8_plan_change *c = &p->changes[i];
		const char *k = key3(&p->a, c->network, c->kind,
				     c->new_key ? c->new_key : c->old_key);
		if (!k || o8_strmap_put(&changed, k, c, NULL) < 0)
			r = -1;
		if (c->action == O8_PLAN_CREATE)
			p->pub.add++;
		else if (c->action == O8_PLAN_UPDATE)
			p->pub.change++;
		else if (c->action == O8_PLAN_DESTROY)
			p->pub.destroy++;
		else {
			p->pub.add++;
			p->pub.destroy++;
		}
	}
	if (!r)
		r = affected(p, &changed, base_gws, head_gws);
	o8_strmap_free(&changed);
	if (r) {
		o8_plan_free(&p->pub);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory while planning");
	}
	p->pub.changes = p->changes;
	p->pub.nchanges = p->nchanges;
	p->pub.gateways = p->gws;
	p->pub.ngateways = p->ngws;
	*out = &p->pub;
	return O8_OK;
}

void o8_plan_free(struct o8_plan *pub)
{
	struct o8_plan_impl *p = (struct o8_plan_impl *)pub;

	if (!p)
		return;
	free(p->changes);
	free(p->gws);
	o8_arena_free(&p->a);
	free(p);
}

/* --- renderings ---------------------------------------------------------- */

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void summary_line(FILE *f, const struct o8_plan *p)
{
	if (!p->nchanges && !p->ngateways) {
		fputs("No changes. Every gateway's desired configuration stays as it is.\n", f);
		return;
	}
	fprintf(f, "Plan: %zu to add, %zu to change, %zu to destroy. %zu %s in %zu %s affected.\n",
		p->add, p->change, p->destroy, p->ngateways,
		plural(p->ngateways, "gateway", "gateways"), p->networks,
		plural(p->networks, "network", "networks"));
}

static void field_line(FILE *f, const char *indent, const struct o8_plan_field *x)
{
	if (!x->old)
		fprintf(f, "%s+ %s = %s\n", indent, x->path, x->new);
	else if (!x->new)
		fprintf(f, "%s- %s = %s\n", indent, x->path, x->old);
	else
		fprintf(f, "%s~ %s: %s -> %s\n", indent, x->path, x->old, x->new);
}

enum { TEXT_MAX_GATEWAYS = 20 };

int o8_plan_render_text(FILE *f, const struct o8_plan *p, int color)
{
	static const char *const col[] = { "", "\033[32m", "\033[33m", "\033[31m", "\033[35m" };
	const char *off = color ? "\033[0m" : "";
	const char *net = NULL;
	size_t i, k;

	for (i = 0; i < p->nchanges; i++) {
		const struct o8_plan_change *c = &p->changes[i];

		if (!net || strcmp(net, c->network)) {
			net = c->network;
			fprintf(f, "%s# network %s\n", i ? "\n" : "", net);
		}
		fprintf(f, "  %s%s %s %s%s", color ? col[c->action] : "",
			o8_plan_action_symbol(c->action), o8_rec_kind_name(c->kind),
			c->name, off);
		if (c->action == O8_PLAN_REPLACE && c->old_key && c->new_key &&
		    strcmp(c->old_key, c->new_key))
			fprintf(f, " (key %s -> %s)", c->old_key, c->new_key);
		fputc('\n', f);
		for (k = 0; k < c->nfields; k++)
			field_line(f, "      ", &c->fields[k]);
	}
	if (p->ngateways) {
		fprintf(f, "\nGateways affected (%zu):\n", p->ngateways);
		for (i = 0; i < p->ngateways && i < TEXT_MAX_GATEWAYS; i++)
			fprintf(f, "  %s/%s: %zu %s, %zu %s\n", p->gateways[i].network,
				p->gateways[i].name, p->gateways[i].upserts,
				plural(p->gateways[i].upserts, "upsert", "upserts"),
				p->gateways[i].deletes,
				plural(p->gateways[i].deletes, "delete", "deletes"));
		if (p->ngateways > TEXT_MAX_GATEWAYS)
			fprintf(f, "  ... and %zu more (orc8r plan -o json lists them all)\n",
				p->ngateways - TEXT_MAX_GATEWAYS);
	}
	if (p->nchanges || p->ngateways)
		fputc('\n', f);
	summary_line(f, p);
	return ferror(f) ? -1 : 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

int o8_plan_render_json(FILE *f, const struct o8_plan *p)
{
	json_t *root = json_object(), *changes = json_array(), *gws = json_array();
	size_t i, k;
	int r;

	json_object_set_new(root, "summary",
			    json_pack("{s:I, s:I, s:I, s:I}", "add", (json_int_t)p->add,
				      "change", (json_int_t)p->change,
				      "destroy", (json_int_t)p->destroy,
				      "gateways_affected", (json_int_t)p->ngateways));
	for (i = 0; i < p->nchanges; i++) {
		const struct o8_plan_change *c = &p->changes[i];
		json_t *fields = json_array();

		for (k = 0; k < c->nfields; k++)
			json_array_append_new(fields, json_pack("{s:s, s:o, s:o}",
				"path", c->fields[k].path, "old", str_or_null(c->fields[k].old),
				"new", str_or_null(c->fields[k].new)));
		json_array_append_new(changes, json_pack("{s:s, s:s, s:s, s:s, s:o}",
			"action", o8_plan_action_name(c->action),
			"kind", o8_rec_kind_name(c->kind), "network", c->network,
			"name", c->name, "fields", fields));
	}
	for (i = 0; i < p->ngateways; i++)
		json_array_append_new(gws, json_pack("{s:s, s:s, s:I, s:I}",
			"network", p->gateways[i].network, "name", p->gateways[i].name,
			"upserts", (json_int_t)p->gateways[i].upserts,
			"deletes", (json_int_t)p->gateways[i].deletes));
	json_object_set_new(root, "changes", changes);
	json_object_set_new(root, "gateways", gws);
	r = json_dumpf(root, f, JSON_INDENT(2));
	fputc('\n', f);
	json_decref(root);
	return r;
}

/* Markdown must not let a name close our code block or inject HTML. */
static void md_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '`' || *s == '|' || *s == '*' || *s == '_')
			fprintf(f, "\\%c", *s);
		else
			fputc(*s, f);
	}
}

int o8_plan_render_markdown(FILE *f, const struct o8_plan *p, size_t max_lines)
{
	size_t i = 0, lines = 0;

	fputs("### orc8r plan\n\n", f);
	if (!p->nchanges && !p->ngateways) {
		fputs("No changes. Every gateway's desired configuration stays as it is.\n", f);
		return ferror(f) ? -1 : 0;
	}
	fprintf(f, "| to add | to change | to destroy | gateways affected |\n"
		   "|---:|---:|---:|---:|\n"
		   "| %zu | %zu | %zu | %zu in %zu %s |\n\n",
		p->add, p->change, p->destroy, p->ngateways, p->networks,
		plural(p->networks, "network", "networks"));
	while (i < p->nchanges) {
		const char *net = p->changes[i].network;
		size_t j = i, add = 0, chg = 0, del = 0, g, ngw = 0, shown = 0;

		for (; j < p->nchanges && !strcmp(p->changes[j].network, net); j++) {
			enum o8_plan_action a = p->changes[j].action;
			add += a == O8_PLAN_CREATE || a == O8_PLAN_REPLACE;
			chg += a == O8_PLAN_UPDATE;
			del += a == O8_PLAN_DESTROY || a == O8_PLAN_REPLACE;
		}
		for (g = 0; g < p->ngateways; g++)
			ngw += !strcmp(p->gateways[g].network, net);
		fputs("<details><summary>network <b>", f);
		md_text(f, net);
		fprintf(f, "</b>: %zu to add, %zu to change, %zu to destroy; %zu %s</summary>\n\n```diff\n",
			add, chg, del, ngw, plural(ngw, "gateway", "gateways"));
		for (; i < j; i++) {
			const struct o8_plan_change *c = &p->changes[i];
			size_t k;
			/* whole changes only: half a subscriber would mislead */
			if (lines + 1 + c->nfields > max_lines && lines)
				break;
			/* diff syntax colours + and - lines; ~ is shown as ! */
			fprintf(f, "%s %s %s\n",
				c->action == O8_PLAN_UPDATE ? "!" : o8_plan_action_symbol(c->action),
				o8_rec_kind_name(c->kind), c->name);
			lines++;
			shown++;
			for (k = 0; k < c->nfields && lines < max_lines; k++, lines++)
				field_line(f, "    ", &c->fields[k]);
		}
		if (i < j)
			fprintf(f, "... and %zu more in this network\n", j - i);
		fputs("```\n\n</details>\n\n", f);
		(void)shown;
		i = j;
	}
	summary_line(f, p);
	return ferror(f) ? -1 : 0;
}
