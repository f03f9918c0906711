/*
 * metrics.h - a small registry of counters, gauges and histograms, rendered
 * as Prometheus text exposition format 0.0.4 for syncd's GET /metrics.
 *
 * A metric family is a name with a help text and a type; each series of a
 * family has its own fixed label set, given when the series is made:
 *
 *   struct o8_metric *ok, *bad;
 *   static const char *const l_ok[] = { "result", "ok", NULL };
 *   o8_metrics_counter(&ok, reg, "orc8r_syncd_fetches_total", "Fetches.", l_ok, &err);
 *
 * Families are rendered in the order they were first registered, series
 * in the order they were made.  Values are doubles (Prometheus samples are
 * floats); counters only go up.
 *
 * The registry owns every metric; a struct o8_metric * stays valid until
 * o8_metrics_free.  Not thread-safe: syncd updates and renders from its one
 * loop thread.  Updates never fail and never allocate.
 */
#ifndef O8_METRICS_H
#define O8_METRICS_H

#include <stddef.h>

#include "util/err.h"

/* Prometheus' default buckets (seconds), for latencies. */
#define O8_METRICS_SECONDS_BUCKETS { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }
#define O8_METRICS_BUCKETS_MAX 32

struct o8_metrics;
struct o8_metric;

enum o8_rc o8_metrics_new(struct o8_metrics **out, struct o8_err *err);
void o8_metrics_free(struct o8_metrics *reg);   /* NULL is a no-op */

/*
 * Make one series.  name must match [a-zA-Z_:][a-zA-Z0-9_:]*; help is
 * free text (the first registration of a family sets it).  labels is NULL
 * or NULL-terminated pairs { "key", "value", ..., NULL } (keys
 * [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", and not "le" on a
 * histogram; values any text, escaped on output); they are copied.
 * O8_EINVALID for a bad name or label, a family registered with another
 * type (or other buckets), or a series whose labels already exist.
 */
enum o8_rc o8_metrics_counter(struct o8_metric **out, struct o8_metrics *reg,
			      const char *name, const char *help,
			      const char *const *labels, struct o8_err *err);
enum o8_rc o8_metrics_gauge(struct o8_metric **out, struct o8_metrics *reg,
			    const char *name, const char *help,
			    const char *const *labels, struct o8_err *err);

/*
 * A histogram with nbuckets upper bounds (strictly increasing, finite, at
 * most O8_METRICS_BUCKETS_MAX; the +Inf bucket is implicit).
 */
enum o8_rc o8_metrics_histogram(struct o8_metric **out, struct o8_metrics *reg,
				const char *name, const char *help,
				const char *const *labels, const double *buckets,
				size_t nbuckets, struct o8_err *err);

/* Counter or gauge + 1. */
void o8_metrics_inc(struct o8_metric *m);

/* Counter or gauge + v (a negative v is ignored on a counter). */
void o8_metrics_add(struct o8_metric *m, double v);

/* Gauge = v (ignored on other types). */
void o8_metrics_set(struct o8_metric *m, double v);

/* Histogram: counts v in every bucket whose bound is >= v, adds it to _sum. */
void o8_metrics_observe(struct o8_metric *m, double v);

/* A counter's or gauge's value, a histogram's count. */
double o8_metrics_value(const struct o8_metric *m);

/*
 * The whole registry as exposition text: per family "# HELP", "# TYPE",
 * then its samples (a histogram as NAME_bucket{...,le="B"} cumulative,
 * le="+Inf", NAME_sum, NAME_count).  *out is NUL-terminated, freed with
 * free().  Serve it as "text/plain; version=0.0.4; charset=utf-8".
 */
enum o8_rc o8_metrics_render(const struct o8_metrics *reg, char **out, struct o8_err *err);

#endif
