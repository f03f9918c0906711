#include "plancache.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/fileio.h"

struct entry {
	const char *file;
	struct o8_record rec;   /* GATEWAY: key, name, network, fields */
};

struct o8_gwdir {
	struct o8_arena a;
	struct entry *v;
	size_t n;
	struct o8_plan_netsize *sizes;  /* sorted by network */
	size_t nsizes;
};

static char *adup(struct o8_arena *a, const char *s)
{
	return o8_arena_strndup(a, s ? s : "", strlen(s ? s : ""));
}

/* The fields a plan reads of a gateway: its tier and its eNodeB serials. */
static int keep_field(const char *path)
{
	return !strcmp(path, "tier") || !strncmp(path, "enodebs[", 8);
}

static int set_entry(struct o8_gwdir *d, struct entry *e, const char *file,
		     const char *network, const char *key, const char *name,
		     const struct o8_rec_field *f, size_t nf)
{
	struct o8_rec_field *fv = o8_arena_alloc(&d->a, (nf ? nf : 1) * sizeof(*fv));
	size_t i, k = 0;

	if (!fv)
		return -1;
	for (i = 0; i < nf; i++) {
		if (!keep_field(f[i].path))
			continue;
		fv[k].path = adup(&d->a, f[i].path);
		fv[k].value = adup(&d->a, f[i].value);
		fv[k].sensitive = false;
		if (!fv[k].path || !fv[k].value)
			return -1;
		k++;
	}
	memset(e, 0, sizeof(*e));
	e->file = adup(&d->a, file);
	e->rec.kind = O8_REC_GATEWAY;
	e->rec.network = adup(&d->a, network);
	e->rec.key = adup(&d->a, key);
	e->rec.name = adup(&d->a, name);
	e->rec.fields = fv;
	e->rec.nfields = k;
	return e->file && e->rec.network && e->rec.key && e->rec.name ? 0 : -1;
}

static int netsize_cmp(const void *x, const void *y)
{
	return strcmp(((const struct o8_plan_netsize *)x)->network,
		      ((const struct o8_plan_netsize *)y)->network);
}

static struct o8_plan_netsize *size_of(struct o8_gwdir *d, const char *net)
{
	size_t i;

	for (i = d->nsizes; i-- > 0;)   /* objects come grouped by network */
		if (!strcmp(d->sizes[i].network, net))
			return &d->sizes[i];
	return NULL;
}

static int add_size(struct o8_gwdir *d, const char *net, size_t n, size_t cap)
{
	struct o8_plan_netsize *x = size_of(d, net);

	if (!x) {
		if (d->nsizes == cap)
			return -1;
		x = &d->sizes[d->nsizes++];
		x->network = adup(&d->a, net);
		x->records = 0;
		if (!x->network)
			return -1;
	}
	x->records += n;
	return 0;
}

enum o8_rc o8_gwdir_count(struct o8_gwdir *d, const struct o8_model *m,
			  struct o8_err *err)
{
	size_t i, n = o8_model_nobjs(m);

	free(d->sizes);
	d->nsizes = 0;
	d->sizes = calloc(n ? n : 1, sizeof(*d->sizes));
	if (!d->sizes)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < n; i++) {
		const struct o8_obj *o = o8_model_obj(m, i);
		const struct o8_node *l;
		size_t k = 0;

		if (!o->network)
			continue;
		switch (o->kind) {
		case O8_KIND_NETWORK:
		case O8_KIND_APN:
		case O8_KIND_POLICYRULE:
		case O8_KIND_SUBSCRIBER:
			k = 1;
			break;
		case O8_KIND_SUBSCRIBERSET:
			l = o8_node_get(o->spec, "subscribers");
			k = l && l->type == O8_N_SEQ ? l->n : 0;
			break;
		default:
			continue;
		}
		if (add_size(d, o->network, k, n))
			return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	}
	qsort(d->sizes, d->nsizes, sizeof(*d->sizes), netsize_cmp);
	return O8_OK;
}

enum o8_rc o8_gwdir_from_records(struct o8_gwdir **out,
				 const struct o8_records *recs,
				 struct o8_err *err)
{
	struct o8_gwdir *d = calloc(1, sizeof(*d));
	size_t i, n = o8_records_count(recs);

	*out = NULL;
	if (!d || !(d->v = calloc(n ? n : 1, sizeof(*d->v)))) {
		free(d);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	}
	for (i = 0; i < n; i++) {
		const struct o8_record *r = o8_records_get(recs, i);
		if (r->kind != O8_REC_GATEWAY)
			continue;
		if (set_entry(d, &d->v[d->n], r->obj ? r->obj->file : "", r->network,
			      r->key, r->name, r->fields, r->nfields)) {
			o8_gwdir_free(d);
			return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
		}
		d->n++;
	}
	*out = d;
	return O8_OK;
}

static int entry_path(char *buf, size_t len, const char *gitdir, const char *id,
		      const char *suffix)
{
	int n = snprintf(buf, len, "%s/orc8r/v1/snapshots/%s.json%s", gitdir, id, suffix);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static const char *sget(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

enum o8_rc o8_plancache_load(struct o8_gwdir **out, const char *gitdir,
			     const char *id, const char *version,
			     struct o8_err *err)
{
	char path[4096];
	json_t *root, *gws;
	struct o8_gwdir *d;
	json_error_t je;
	size_t i;

	*out = NULL;
	if (entry_path(path, sizeof(path), gitdir, id, ""))
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0, "cache path too long");
	if (!(root = json_load_file(path, 0, &je)))
		return o8_err_set(err, O8_ENOTFOUND, path, 0, 0, "no cache entry");
	gws = json_object_get(root, "gateways");
	if (json_integer_value(json_object_get(root, "format")) != 2 ||
	    !sget(root, "orc8r") || strcmp(sget(root, "orc8r"), version) ||
	    !sget(root, "snapshot") || strcmp(sget(root, "snapshot"), id) ||
	    !json_is_true(json_object_get(root, "valid")) || !json_is_array(gws)) {
		json_decref(root);
		return o8_err_set(err, O8_ENOTFOUND, path, 0, 0, "stale cache entry");
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->v = calloc(json_array_size(gws) + 1, sizeof(*d->v)))) {
		free(d);
		json_decref(root);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	}
	for (i = 0; i < json_array_size(gws); i++) {
		json_t *g = json_array_get(gws, i), *enbs = json_object_get(g, "enodebs");
		size_t k, ne = json_array_size(enbs);
		struct o8_rec_field f[257];
		char names[256][16];
		size_t nf = 0;

		if (!sget(g, "file") || !sget(g, "network") || !sget(g, "name"))
			goto bad;
		if (sget(g, "tier"))
			f[nf++] = (struct o8_rec_field){ "tier", sget(g, "tier"), false };
		for (k = 0; k < ne && k < 256; k++) {
			if (!json_string_value(json_array_get(enbs, k)))
				goto bad;
			snprintf(names[k], sizeof(names[k]), "enodebs[%zu]", k);
			f[nf++] = (struct o8_rec_field){ names[k],
				json_string_value(json_array_get(enbs, k)), false };
		}
		/* keep the records' order: fields sorted by path */
		for (k = 1; k < nf; k++) {
			struct o8_rec_field t = f[k];
			size_t j = k;
			for (; j > 0 && strcmp(f[j - 1].path, t.path) > 0; j--)
				f[j] = f[j - 1];
			f[j] = t;
		}
		if (set_entry(d, &d->v[d->n], sget(g, "file"), sget(g, "network"),
			      sget(g, "name"), sget(g, "name"), f, nf))
			goto oom;
		d->n++;
	}
	{
		json_t *nets = json_object_get(root, "networks"), *v;
		const char *k;
		size_t cap = json_object_size(nets);

		d->sizes = calloc(cap ? cap : 1, sizeof(*d->sizes));
		if (!d->sizes)
			goto oom;
		json_object_foreach(nets, k, v) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				goto bad;
			if (add_size(d, k, (size_t)json_integer_value(v), cap))
				goto oom;
		}
		qsort(d->sizes, d->nsizes, sizeof(*d->sizes), netsize_cmp);
	}
	json_decref(root);
	*out = d;
	return O8_OK;
bad:
	json_decref(root);
	o8_gwdir_free(d);
	return o8_err_set(err, O8_ENOTFOUND, path, 0, 0, "malformed cache entry");
oom:
	json_decref(root);
	o8_gwdir_free(d);
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static int mkdirs(const char *gitdir)
{
	static const char *const parts[] = { "/orc8r", "/orc8r/v1", "/orc8r/v1/snapshots" };
	char path[4096];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", gitdir, parts[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

enum o8_rc o8_plancache_store(const struct o8_gwdir *d, const char *gitdir,
			      const char *id, const char *version,
			      struct o8_err *err)
{
	json_t *root = json_object(), *gws = json_array();
	char path[4096], *text;
	size_t i, k;
	int r;

	for (i = 0; i < d->n; i++) {
		const struct o8_record *g = &d->v[i].rec;
		json_t *o = json_pack("{s:s, s:s, s:s}", "file", d->v[i].file,
				      "network", g->network, "name", g->key);
		json_t *enbs = json_array();
		for (k = 0; k < g->nfields; k++) {
			if (!strcmp(g->fields[k].path, "tier"))
				json_object_set_new(o, "tier", json_string(g->fields[k].value));
			else
				json_array_append_new(enbs, json_string(g->fields[k].value));
		}
		json_object_set_new(o, "enodebs", enbs);
		json_array_append_new(gws, o);
	}
	json_object_set_new(root, "format", json_integer(2));
	json_object_set_new(root, "orc8r", json_string(version));
	json_object_set_new(root, "snapshot", json_string(id));
	json_object_set_new(root, "valid", json_true());
	json_object_set_new(root, "gateways", gws);
	{
		json_t *nets = json_object();
		for (i = 0; i < d->nsizes; i++)
			json_object_set_new(nets, d->sizes[i].network,
					    json_integer((json_int_t)d->sizes[i].records));
		json_object_set_new(root, "networks", nets);
	}
	if (mkdirs(gitdir) || entry_path(path, sizeof(path), gitdir, id, "")) {
		json_decref(root);
		return o8_err_set(err, O8_ERR, gitdir, 0, 0, "cannot create the plan cache: %s",
				  strerror(errno));
	}
	/* one write, not one per JSON token */
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		errno = ENOMEM;
	r = !text || o8_fileio_write_atomic(path, text, strlen(text), 0644, true, NULL);
	free(text);
	if (r)
		return o8_err_set(err, O8_ERR, path, 0, 0, "cannot write the plan cache: %s",
				  strerror(errno));
	return O8_OK;
}

static int str_cmp(const void *k, const void *e)
{
	return strcmp(k, *(const char *const *)e);
}

enum o8_rc o8_gwdir_gws(struct o8_plan_gws *out, const struct o8_gwdir *d,
			const char *const *skip_files, size_t nskip,
			struct o8_err *err)
{
	const struct o8_record **v = malloc((d->n ? d->n : 1) * sizeof(*v));
	size_t i, k = 0;

	memset(out, 0, sizeof(*out));
	if (!v)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	out->sizes = d->sizes;
	out->nsizes = d->nsizes;
	for (i = 0; i < d->n; i++)
		if (!nskip || !bsearch(d->v[i].file, skip_files, nskip, sizeof(*skip_files), str_cmp))
			v[k++] = &d->v[i].rec;
	out->v = v;
	out->n = k;
	return O8_OK;
}

void o8_gwdir_free(struct o8_gwdir *d)
{
	if (!d)
		return;
	o8_arena_free(&d->a);
	free(d->v);
	free(d->sizes);
	free(d);
}
