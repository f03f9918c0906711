/*
 * test_metrics.c - the metrics registry (syncd/metrics.h): the exact
 * Prometheus text (HELP, TYPE, labels escaped, one family per name whatever
 * the registration order of its series, cumulative buckets, _sum, _count,
 * shortest round-trip numbers, +Inf), and the registrations it refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(const struct o8_metrics *reg)
{
	struct o8_err err = O8_ERR_INIT;
	char *out = NULL;

	assert_int_equal(o8_metrics_render(reg, &out, &err), O8_OK);
	assert_non_null(out);
	return out;
}

static void render__exact_exposition_text(void **state)
{
	static const char *const ok[] = { "result", "ok", NULL };
	static const char *const bad[] = { "result", "error", NULL };
	static const double buckets[] = { 0.1, 0.5, 1 };
	struct o8_metrics *reg = NULL;
	struct o8_metric *f_ok, *f_bad, *conn, *lat, *bytes;
	struct o8_err err = O8_ERR_INIT;
	char *text;

	(void)state;
	assert_int_equal(o8_metrics_new(&reg, &err), O8_OK);
	assert_int_equal(o8_metrics_counter(&f_ok, reg, "orc8r_syncd_fetches_total",
					    "fetches of the git remote", ok, &err), O8_OK);
	assert_int_equal(o8_metrics_gauge(&conn, reg, "orc8r_syncd_agws_connected",
					  "AGWs with a live connection", NULL, &err), O8_OK);
	assert_int_equal(o8_metrics_histogram(&lat, reg, "orc8r_syncd_push_latency_seconds",
					      "commit to ack", NULL, buckets, 3, &err), O8_OK);
	/* a second series of the first family, made after other families */
	assert_int_equal(o8_metrics_counter(&f_bad, reg, "orc8r_syncd_fetches_total",
					    "ignored: the family has its help", bad, &err), O8_OK);
	assert_int_equal(o8_metrics_counter(&bytes, reg, "orc8r_syncd_bytes_sent_total",
					    "bytes sent\nto AGWs, \\ included", NULL, &err), O8_OK);
	o8_metrics_inc(f_ok);
	o8_metrics_inc(f_ok);
	o8_metrics_inc(f_bad);
	o8_metrics_add(f_bad, -5);      /* counters never go down */
	o8_metrics_add(conn, 3);
	o8_metrics_add(conn, -1);
	o8_metrics_observe(lat, 0.05);
	o8_metrics_observe(lat, 0.1);   /* le is inclusive */
	o8_metrics_observe(lat, 0.7);
	o8_metrics_observe(lat, 30);
	o8_metrics_add(bytes, 12345678901.0);
	text = render(reg);
	assert_string_equal(text,
		"# HELP orc8r_syncd_fetches_total fetches of the git remote\n"
		"# TYPE orc8r_syncd_fetches_total counter\n"
		"orc8r_syncd_fetches_total{result=\"ok\"} 2\n"
		"orc8r_syncd_fetches_total{result=\"error\"} 1\n"
		"# HELP orc8r_syncd_agws_connected AGWs with a live connection\n"
		"# TYPE orc8r_syncd_agws_connected gauge\n"
		"orc8r_syncd_agws_connected 2\n"
		"# HELP orc8r_syncd_push_latency_seconds commit to ack\n"
		"# TYPE orc8r_syncd_push_latency_seconds histogram\n"
		"orc8r_syncd_push_latency_seconds_bucket{le=\"0.1\"} 2\n"
		"orc8r_syncd_push_latency_seconds_bucket{le=\"0.5\"} 2\n"
		"orc8r_syncd_push_latency_seconds_bucket{le=\"1\"} 3\n"
		"orc8r_syncd_push_latency_seconds_bucket{le=\"+Inf\"} 4\n"
		"orc8r_syncd_push_latency_seconds_sum 30.85\n"
		"orc8r_syncd_push_latency_seconds_count 4\n"
		"# HELP orc8r_syncd_bytes_sent_total bytes sent\\nto AGWs, \\\\ included\n"
		"# TYPE orc8r_syncd_bytes_sent_total counter\n"
		"orc8r_syncd_bytes_sent_total 12345678901\n");
	assert_true(o8_metrics_value(lat) == 4);
	assert_true(o8_metrics_value(conn) == 2);
	free(text);
	o8_metrics_free(reg);
}

static void render__labels_escaped_and_histogram_labels(void **state)
{
	static const char *const l[] = { "network", "lab \"A\"\\1\nx", "gw", "agw-1", NULL };
	static const double b[] = O8_METRICS_SECONDS_BUCKETS;
	struct o8_metrics *reg = NULL;
	struct o8_metric *g, *h;
	struct o8_err err = O8_ERR_INIT;
	char *text;

	(void)state;
	assert_int_equal(o8_metrics_new(&reg, &err), O8_OK);
	assert_int_equal(o8_metrics_gauge(&g, reg, "g", "", l, &err), O8_OK);
	assert_int_equal(o8_metrics_histogram(&h, reg, "h", "h", l + 2, b,
					      sizeof(b) / sizeof(b[0]), &err), O8_OK);
	o8_metrics_set(g, 0.1);
	o8_metrics_set(g, -1.5e-7);
	o8_metrics_observe(h, 0.003);
	o8_metrics_observe(h, NAN);     /* ignored */
	text = render(reg);
	assert_non_null(strstr(text, "# HELP g \n# TYPE g gauge\n"
				     "g{network=\"lab \\\"A\\\"\\\\1\\nx\",gw=\"agw-1\"} -1.5e-07\n"));
	assert_non_null(strstr(text, "h_bucket{gw=\"agw-1\",le=\"0.005\"} 1\n"
				     "h_bucket{gw=\"agw-1\",le=\"0.01\"} 1\n"));
	assert_non_null(strstr(text, "h_bucket{gw=\"agw-1\",le=\"10\"} 1\n"
				     "h_bucket{gw=\"agw-1\",le=\"+Inf\"} 1\n"
				     "h_sum{gw=\"agw-1\"} 0.003\n"
				     "h_count{gw=\"agw-1\"} 1\n"));
	free(text);
	o8_metrics_free(reg);
}

static void register__refusals(void **state)
{
	static const char *const l_ok[] = { "result", "ok", NULL };
	static const char *const l_odd[] = { "result", NULL };
	static const char *const l_bad[] = { "1x", "v", NULL };
	static const char *const l_res[] = { "__name", "v", NULL };
	static const char *const l_le[] = { "le", "1", NULL };
	static const double up[] = { 1, 2 }, down[] = { 2, 1 }, other[] = { 1, 3 };
	struct o8_metrics *reg = NULL;
	struct o8_metric *m = NULL;
	struct o8_err err = O8_ERR_INIT;
	char *text;

#define REFUSED(call) do { o8_err_clear(&err); assert_int_equal((call), O8_EINVALID); \
			   assert_null(m); assert_true(err.msg[0]); } while (0)
	(void)state;
	assert_int_equal(o8_metrics_new(&reg, &err), O8_OK);
	REFUSED(o8_metrics_counter(&m, reg, "9lives", "", NULL, &err));
	REFUSED(o8_metrics_counter(&m, reg, "a-b", "", NULL, &err));
	REFUSED(o8_metrics_counter(&m, reg, "", "", NULL, &err));
	REFUSED(o8_metrics_counter(&m, reg, "c", "", l_odd, &err));
	REFUSED(o8_metrics_counter(&m, reg, "c", "", l_bad, &err));
	REFUSED(o8_metrics_counter(&m, reg, "c", "", l_res, &err));
	REFUSED(o8_metrics_histogram(&m, reg, "h", "", l_le, up, 2, &err));
	REFUSED(o8_metrics_histogram(&m, reg, "h", "", NULL, down, 2, &err));
	REFUSED(o8_metrics_histogram(&m, reg, "h", "", NULL, up, 0, &err));
	assert_int_equal(o8_metrics_counter(&m, reg, "ns:c", "", l_ok, &err), O8_OK);
	m = NULL;
	REFUSED(o8_metrics_counter(&m, reg, "ns:c", "", l_ok, &err));   /* same series */
	REFUSED(o8_metrics_gauge(&m, reg, "ns:c", "", NULL, &err));     /* other type */
	assert_int_equal(o8_metrics_histogram(&m, reg, "h", "", NULL, up, 2, &err), O8_OK);
	m = NULL;
	REFUSED(o8_metrics_histogram(&m, reg, "h", "", l_ok, other, 2, &err));
#undef REFUSED
	/* nothing refused left a trace */
	text = render(reg);
	assert_null(strstr(text, "lives"));
	assert_null(strstr(text, "TYPE c "));
	assert_non_null(strstr(text, "ns:c{result=\"ok\"} 0\n"));
	free(text);
	o8_metrics_free(reg);
}

static void render__empty_registry(void **state)
{
	struct o8_metrics *reg = NULL;
	struct o8_err err = O8_ERR_INIT;
	char *text;

	(void)state;
	assert_int_equal(o8_metrics_new(&reg, &err), O8_OK);
	text = render(reg);
	assert_string_equal(text, "");
	free(text);
	o8_metrics_free(reg);
	o8_metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render__exact_exposition_text),
		cmocka_unit_test(render__labels_escaped_and_histogram_labels),
		cmocka_unit_test(register__refusals),
		cmocka_unit_test(render__empty_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
