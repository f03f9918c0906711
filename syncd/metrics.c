/*
 * metrics.c - the registry behind GET /metrics.
 *
 * Labels are escaped once, when a series is made, and kept as the text
 * between the braces, so rendering is string concatenation.
 */
#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

static const char *const kind_names[] = { "counter", "gauge", "histogram" };

struct o8_metric {
	struct o8_metric *next;         /* in its family, in creation order */
	enum kind kind;
	char *labels;                   /* escaped, without braces; "" when none */
	double value;                   /* counter, gauge */
	const double *bounds;           /* histogram: the family's buckets */
	size_t nbounds;
	uint64_t *counts;               /* histogram: per bucket, not cumulative */
	uint64_t count;
	double sum;
};

struct family {
	struct family *next;            /* registration order */
	char *name, *help;
	enum kind kind;
	double bounds[O8_METRICS_BUCKETS_MAX];
	size_t nbounds;
	struct o8_metric *first, *last;
};

struct o8_metrics {
	struct family *first, *last;
};

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

enum o8_rc o8_metrics_new(struct o8_metrics **out, struct o8_err *err)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return oom(err);
	return O8_OK;
}

static void metric_free(struct o8_metric *m)
{
	free(m->labels);
	free(m->counts);
	free(m);
}

void o8_metrics_free(struct o8_metrics *reg)
{
	struct family *f, *fn;
	struct o8_metric *m, *mn;

	if (!reg)
		return;
	for (f = reg->first; f; f = fn) {
		fn = f->next;
		for (m = f->first; m; m = mn) {
			mn = m->next;
			metric_free(m);
		}
		free(f->name);
		free(f->help);
		free(f);
	}
	free(reg);
}

/* --- names and labels ---------------------------------------------------- */

static bool ident_ok(const char *s, bool colon)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
	size_t n = s ? strlen(s) : 0;

	if (!n || (!strchr(alpha, s[0]) && !(colon && s[0] == ':')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!strchr(alpha, s[i]) && !(s[i] >= '0' && s[i] <= '9') &&
		    !(colon && s[i] == ':'))
			return false;
	return true;
}

/* Appends s with the given characters backslash-escaped (\n as "\n"). */
static void put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quote && *s == '"')
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

/* `k1="v1",k2="v2"` from NULL-terminated pairs; NULL on a bad key. */
static enum o8_rc labels_text(char **out, const char *const *labels, bool histogram,
			      struct o8_err *err)
{
	size_t len = 0, i;
	FILE *f;

	*out = NULL;
	if (!(f = open_memstream(out, &len)))
		return oom(err);
	for (i = 0; labels && labels[i]; i += 2) {
		const char *k = labels[i], *v = labels[i + 1];

		if (!v || !ident_ok(k, false) || !strncmp(k, "__", 2) ||
		    (histogram && !strcmp(k, "le"))) {
			fclose(f);
			free(*out);
			*out = NULL;
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "bad metric label '%s'%s", k,
					  v ? "" : " (no value: labels come in pairs)");
		}
		fprintf(f, "%s%s=\"", i ? "," : "", k);
		put_escaped(f, v, true);
		fputc('"', f);
	}
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return oom(err);
	}
	return O8_OK;
}

/* --- registration -------------------------------------------------------- */

static struct family *family_find(const struct o8_metrics *reg, const char *name)
{
	struct family *f;

	for (f = reg->first; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

static bool same_bounds(const struct family *f, const double *b, size_t n)
{
	return f->nbounds == n && (!n || !memcmp(f->bounds, b, n * sizeof(*b)));
}

static enum o8_rc family_get(struct family **out, struct o8_metrics *reg, const char *name,
			     const char *help, enum kind kind, const double *b, size_t nb,
			     struct o8_err *err)
{
	struct family *f = family_find(reg, name);

	if (f) {
		if (f->kind != kind || !same_bounds(f, b, nb))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "metric '%s' is already a %s%s", name,
					  kind_names[f->kind],
					  f->kind == kind ? " with other buckets" : "");
		*out = f;
		return O8_OK;
	}
	if (!(f = calloc(1, sizeof(*f))) || !(f->name = strdup(name)) ||
	    !(f->help = strdup(help ? help : ""))) {
		if (f)
			free(f->name);
		free(f);
		return oom(err);
	}
	f->kind = kind;
	f->nbounds = nb;
	if (nb)
		memcpy(f->bounds, b, nb * sizeof(*b));
	if (reg->last)
		reg->last->next = f;
	else
		reg->first = f;
	reg->last = f;
	*out = f;
	return O8_OK;
}

static enum o8_rc add_series(struct o8_metric **out, struct o8_metrics *reg,
			     const char *name, const char *help, const char *const *labels,
			     enum kind kind, const double *b, size_t nb, struct o8_err *err)
{
	struct o8_metric *m, *it;
	struct family *f = NULL;
	char *text = NULL;
	enum o8_rc rc;

	*out = NULL;
	if (!ident_ok(name, true))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "bad metric name '%s'",
				  name ? name : "");
	if ((rc = labels_text(&text, labels, kind == K_HISTOGRAM, err)))
		return rc;
	if ((rc = family_get(&f, reg, name, help, kind, b, nb, err)))
		goto fail;
	for (it = f->first; it; it = it->next)
		if (!strcmp(it->labels, text)) {
			rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					"metric '%s{%s}' is registered twice", name, text);
			goto fail;
		}
	if (!(m = calloc(1, sizeof(*m))) ||
	    (nb && !(m->counts = calloc(nb, sizeof(*m->counts))))) {
		free(m);
		rc = oom(err);
		goto fail;
	}
	m->kind = kind;
	m->labels = text;
	m->bounds = f->bounds;
	m->nbounds = nb;
	if (f->last)
		f->last->next = m;
	else
		f->first = m;
	f->last = m;
	*out = m;
	return O8_OK;
fail:
	free(text);
	return rc;
}

enum o8_rc o8_metrics_counter(struct o8_metric **out, struct o8_metrics *reg,
			      const char *name, const char *help,
			      const char *const *labels, struct o8_err *err)
{
	return add_series(out, reg, name, help, labels, K_COUNTER, NULL, 0, err);
}

enum o8_rc o8_metrics_gauge(struct o8_metric **out, struct o8_metrics *reg,
			    const char *name, const char *help,
			    const char *const *labels, struct o8_err *err)
{
	return add_series(out, reg, name, help, labels, K_GAUGE, NULL, 0, err);
}

enum o8_rc o8_metrics_histogram(struct o8_metric **out, struct o8_metrics *reg,
				const char *name, const char *help,
				const char *const *labels, const double *buckets,
				size_t nbuckets, struct o8_err *err)
{
	size_t i;

	*out = NULL;
	if (!nbuckets || nbuckets > O8_METRICS_BUCKETS_MAX)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "histogram '%s' needs 1 to %d buckets", name ? name : "",
				  O8_METRICS_BUCKETS_MAX);
	for (i = 0; i < nbuckets; i++)
		if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "histogram '%s': buckets must be finite and "
					  "strictly increasing", name ? name : "");
	return add_series(out, reg, name, help, labels, K_HISTOGRAM, buckets, nbuckets, err);
}

/* --- updates ------------------------------------------------------------- */

void o8_metrics_inc(struct o8_metric *m)
{
	o8_metrics_add(m, 1);
}

void o8_metrics_add(struct o8_metric *m, double v)
{
	if (m->kind == K_GAUGE || (m->kind == K_COUNTER && v >= 0))
		m->value += v;
}

void o8_metrics_set(struct o8_metric *m, double v)
{
	if (m->kind == K_GAUGE)
		m->value = v;
}

void o8_metrics_observe(struct o8_metric *m, double v)
{
	size_t i;

	if (m->kind != K_HISTOGRAM || isnan(v))
		return;
	/* Per-bucket counts; render makes them cumulative. */
	for (i = 0; i < m->nbounds && v > m->bounds[i]; i++)
		;
	if (i < m->nbounds)
		m->counts[i]++;
	m->count++;
	m->sum += v;
}

double o8_metrics_value(const struct o8_metric *m)
{
	return m->kind == K_HISTOGRAM ? (double)m->count : m->value;
}

/* --- rendering ----------------------------------------------------------- */

/* The shortest text that reads back as v; Prometheus' spelling of the specials. */
static const char *num(char out[40], double v)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	snprintf(out, 40, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, 40, "%.17g", v);
	return out;
}

/* NAME[SUFFIX]{LABELS[,EXTRA]} VALUE */
static void sample(FILE *f, const char *name, const char *suffix, const char *labels,
		   const char *extra, const char *value)
{
	bool any = labels[0] || extra;

	fprintf(f, "%s%s%s%s%s%s%s %s\n", name, suffix, any ? "{" : "", labels,
		labels[0] && extra ? "," : "", extra ? extra : "", any ? "}" : "", value);
}

static void render_histogram(FILE *f, const struct family *fam, const struct o8_metric *m)
{
	char le[64], b[40], v[40];
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < m->nbounds; i++) {
		cum += m->counts[i];
		snprintf(le, sizeof(le), "le=\"%s\"", num(b, m->bounds[i]));
		snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
		sample(f, fam->name, "_bucket", m->labels, le, v);
	}
	snprintf(v, sizeof(v), "%llu", (unsigned long long)m->count);
	sample(f, fam->name, "_bucket", m->labels, "le=\"+Inf\"", v);
	sample(f, fam->name, "_sum", m->labels, NULL, num(b, m->sum));
	sample(f, fam->name, "_count", m->labels, NULL, v);
}

enum o8_rc o8_metrics_render(const struct o8_metrics *reg, char **out, struct o8_err *err)
{
	const struct family *fam;
	const struct o8_metric *m;
	size_t len = 0;
	char b[40];
	FILE *f;

	*out = NULL;
	if (!(f = open_memstream(out, &len)))
		return oom(err);
	for (fam = reg->first; fam; fam = fam->next) {
		fprintf(f, "# HELP %s ", fam->name);
		put_escaped(f, fam->help, false);
		fprintf(f, "\n# TYPE %s %s\n", fam->name, kind_names[fam->kind]);
		for (m = fam->first; m; m = m->next) {
			if (m->kind == K_HISTOGRAM)
				render_histogram(f, fam, m);
			else
				sample(f, fam->name, "", m->labels, NULL, num(b, m->value));
		}
	}
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return oom(err);
	}
	return O8_OK;
}
