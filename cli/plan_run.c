/*
 * plan_run.c - the plan pipeline: two snapshots, their difference, the
 * head validated, the changed files compiled on both sides, the plan.
 *
 * Only the files that differ are compiled on each side: an unchanged file
 * gives the same records to both.  Who receives a change depends on every
 * gateway of head, which comes from head's full load (cold) or from the
 * plan cache entry written by an earlier run (warm): then only the
 * changed files are parsed at all.
 */
#include "plan_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repo/compile.h"
#include "repo/model.h"
#include "plancache.h"

#ifndef O8_VERSION
#define O8_VERSION "0.0.0"
#endif

/* O8_TIMING=1 prints where a plan spends its time, for benchmarks. */
static void lap(const char *what)
{
	static struct timespec t0;
	struct timespec t;

	if (!getenv("O8_TIMING"))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (t0.tv_sec)
		fprintf(stderr, "timing: %-24s %7.3f s\n", what,
			(double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9);
	t0 = t;
}

/* The files of s at the given indexes, as loader input. */
static enum o8_rc load_subset(struct o8_model **out, struct o8_snapshot *s,
			      const size_t *idx, size_t n, struct o8_diags *diags,
			      struct o8_err *err)
{
	struct o8_src *src = calloc(n ? n : 1, sizeof(*src));
	enum o8_rc rc = O8_OK;
	size_t i;

	if (!src)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < n && !rc; i++) {
		src[i].path = o8_snapshot_file(s, idx[i])->path;
		rc = o8_snapshot_read(s, idx[i], &src[i].buf, &src[i].len, err);
	}
	if (!rc)
		rc = o8_model_load_srcs(out, src, n, NULL, diags, err);
	free(src);
	return rc;
}

static enum o8_rc validate_head(struct plan_run *r, struct o8_err *err)
{
	struct o8_src *src = NULL;
	enum o8_rc rc;

	rc = o8_snapshot_srcs(&src, r->head, err);
	lap("read head blobs");
	if (!rc)
		rc = o8_validate_srcs(&r->mfull, src, o8_snapshot_count(r->head), NULL,
				      &r->counts, &r->diags, err);
	free(src);
	lap("validate head");
	r->head_files = o8_snapshot_count(r->head);
	return rc;
}

/* Who receives what depends on the gateways only: compile just those. */
static enum o8_rc gateway_dir(struct plan_run *r, struct o8_err *err)
{
	size_t i, n = o8_model_nobjs(r->mfull), k = 0;
	const struct o8_obj **gws = malloc((n ? n : 1) * sizeof(*gws));
	enum o8_rc rc;

	if (!gws)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	for (i = 0; i < n; i++)
		if (o8_model_obj(r->mfull, i)->kind == O8_KIND_GATEWAY)
			gws[k++] = o8_model_obj(r->mfull, i);
	rc = o8_compile_objs(&r->rfull, gws, k, err);
	free(gws);
	if (!rc)
		rc = o8_gwdir_from_records(&r->dir, r->rfull, err);
	if (!rc)
		rc = o8_gwdir_count(r->dir, r->mfull, err);
	return rc;
}

static enum o8_rc resolve(struct plan_run *r, struct o8_git *g, struct o8_err *err)
{
	struct o8_diags ignored = O8_DIAGS_INIT;
	enum o8_rc rc;

	if (r->base_rev) {
		r->base_used = strdup(r->base_rev);
	} else {
		if ((rc = o8_git_upstream(&r->base_used, g, err)))
			return rc;
		if (!r->base_used)
			r->base_used = strdup("HEAD");
	}
	if (!r->base_used)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	/* base's own problems do not matter: it is what is deployed */
	rc = o8_git_snapshot(&r->base, g, r->base_used, &ignored, err);
	o8_diags_free(&ignored);
	if (rc) {
		o8_err_prefix(err, "base '%s'", r->base_used);
		return rc;
	}
	rc = o8_git_snapshot(&r->head, g, r->head_rev, &r->diags, err);
	if (rc && r->head_rev)
		o8_err_prefix(err, "head '%s'", r->head_rev);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum o8_rc plan_run(struct plan_run *r, struct o8_git *g, struct o8_err *err)
{
	struct o8_snapshot_change *ch = NULL;
	size_t nch = 0, i, nb = 0, nh = 0;
	size_t *ib = NULL, *ih = NULL;
	const char **changed = NULL;
	struct o8_diags side = O8_DIAGS_INIT;
	enum o8_rc rc;

	lap("start");
	if ((rc = resolve(r, g, err)) ||
	    (rc = o8_snapshot_diff(&ch, &nch, r->base, r->head, err)))
		goto out;
	lap("snapshots and diff");
	/* head: validated before, or load it whole now */
	if (!r->no_cache && !r->diags.n &&
	    o8_plancache_load(&r->dir, o8_git_gitdir(g), o8_snapshot_id(r->head),
			      O8_VERSION, &(struct o8_err){ 0 }) == O8_OK) {
		r->cache_hit = true;
		r->head_files = o8_snapshot_count(r->head);
	} else {
		if ((rc = validate_head(r, err)))
			goto out;
		if (r->diags.n)
			goto out;       /* invalid: no plan */
		if ((rc = gateway_dir(r, err)))
			goto out;
		if (!r->no_cache)       /* a cache that cannot be written is no error */
			o8_plancache_store(r->dir, o8_git_gitdir(g), o8_snapshot_id(r->head),
					   O8_VERSION, &(struct o8_err){ 0 });
	}
	lap("head validated, cached");
	/* the changed files, on each side */
	ib = malloc((nch ? nch : 1) * sizeof(*ib));
	ih = malloc((nch ? nch : 1) * sizeof(*ih));
	changed = malloc((nch ? nch : 1) * sizeof(*changed));
	if (!ib || !ih || !changed) {
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < nch; i++) {
		if (ch[i].a != (size_t)-1)
			ib[nb++] = ch[i].a;
		if (ch[i].b != (size_t)-1)
			ih[nh++] = ch[i].b;
		changed[i] = ch[i].path;
	}
	qsort(changed, nch, sizeof(*changed), cmp_str);
	if ((rc = load_subset(&r->mb, r->base, ib, nb, &side, err)) ||
	    (rc = load_subset(&r->mh, r->head, ih, nh, &side, err)) ||
	    (rc = o8_compile(&r->rb, r->mb, err)) ||
	    (rc = o8_compile(&r->rh, r->mh, err)))
		goto out;
	/* base's gateways: those of its changed files, plus head's others
	   (an unchanged file holds the same gateways on both sides) */
	if ((rc = o8_gwdir_gws(&r->hgws, r->dir, NULL, 0, err)) ||
	    (rc = o8_gwdir_gws(&r->bdir, r->dir, changed, nch, err)) ||
	    (rc = o8_plan_gws_of(&r->bgws, r->rb, err)))
		goto out;
	{
		const struct o8_record **v = realloc((void *)r->bgws.v,
			(r->bgws.n + r->bdir.n + 1) * sizeof(*v));
		if (!v) {
			rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
			goto out;
		}
		memcpy(v + r->bgws.n, r->bdir.v, r->bdir.n * sizeof(*v));
		r->bgws.v = v;
		r->bgws.n += r->bdir.n;
	}
	lap("changed files compiled");
	rc = o8_plan_build(&r->plan, r->rb, r->rh, &r->bgws, &r->hgws, err);
	lap("plan built");
out:
	o8_diags_free(&side);
	free(ch);
	free(ib);
	free(ih);
	free(changed);
	return rc;
}

void plan_run_done(struct plan_run *r)
{
	o8_plan_free(r->plan);
	free((void *)r->bgws.v);
	free((void *)r->hgws.v);
	free((void *)r->bdir.v);
	o8_gwdir_free(r->dir);
	o8_records_free(r->rb);
	o8_records_free(r->rh);
	o8_records_free(r->rfull);
	o8_model_free(r->mb);
	o8_model_free(r->mh);
	o8_model_free(r->mfull);
	o8_snapshot_free(r->base);
	o8_snapshot_free(r->head);
	o8_diags_free(&r->diags);
	free(r->base_used);
}
