/*
 * test_log.c - the logger (lib/util/log.h): levels filter, one line per
 * event whatever a peer put in a string, key=value fields, and no URL
 * credentials in any line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

struct fx {
	FILE *f;
	char *buf;
	size_t len;
	struct o8_log *log;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct o8_log_opts o = O8_LOG_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;

	assert_non_null(fx);
	fx->f = open_memstream(&fx->buf, &fx->len);
	assert_non_null(fx->f);
	o.name = "syncd";
	o.timestamps = false;
	o.out = fx->f;
	assert_int_equal(o8_log_new(&fx->log, &o, &err), O8_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	o8_log_free(fx->log);
	fclose(fx->f);
	free(fx->buf);
	free(fx);
	return 0;
}

static const char *text(struct fx *fx)
{
	fflush(fx->f);
	return fx->buf;
}

static void log__levels_filter(void **state)
{
	struct fx *fx = *state;

	o8_log(fx->log, O8_LOG_DEBUG, NULL, NULL, "d");
	o8_log(fx->log, O8_LOG_INFO, NULL, NULL, "i");
	o8_log(fx->log, O8_LOG_WARN, NULL, NULL, "w");
	o8_log(fx->log, O8_LOG_ERROR, NULL, NULL, "e");
	assert_string_equal(text(fx), "syncd: i\nsyncd: w level=warn\nsyncd: e level=error\n");
	o8_log_set_level(fx->log, O8_LOG_ERROR);
	assert_false(o8_log_enabled(fx->log, O8_LOG_WARN));
	assert_true(o8_log_enabled(fx->log, O8_LOG_ERROR));
	o8_log(fx->log, O8_LOG_WARN, NULL, NULL, "w2");
	o8_log(fx->log, O8_LOG_ERROR, NULL, NULL, "e2");
	assert_non_null(strstr(text(fx), "e2"));
	assert_null(strstr(text(fx), "w2"));
	o8_log_set_level(fx->log, O8_LOG_DEBUG);
	o8_log(fx->log, O8_LOG_DEBUG, NULL, NULL, "d2");
	assert_non_null(strstr(text(fx), "syncd: d2 level=debug\n"));
}

static void log__level_names(void **state)
{
	enum o8_log_level l;

	(void)state;
	assert_int_equal(o8_log_level_parse("warn", &l), 0);
	assert_int_equal(l, O8_LOG_WARN);
	assert_int_equal(o8_log_level_parse("loud", &l), -1);
	assert_string_equal(o8_log_level_name(O8_LOG_DEBUG), "debug");
	assert_string_equal(o8_log_level_name(O8_LOG_ERROR), "error");
}

/* A peer's string cannot end the line and start a forged one. */
static void log__control_characters_escaped(void **state)
{
	struct fx *fx = *state;
	const char *evil = "bad\r\n2024-01-01T00:00:00.000Z syncd: forged \x1b[2J";

	o8_log(fx->log, O8_LOG_INFO, "lab/gw\n1", NULL, "peer said: %s", evil);
	assert_string_equal(text(fx),
			    "syncd[lab/gw\\n1]: peer said: bad\\r\\n2024-01-01T00:00:00.000Z"
			    " syncd: forged \\x1b[2J\n");
}

static void log__fields(void **state)
{
	struct fx *fx = *state;

	o8_log(fx->log, O8_LOG_INFO, NULL, (const struct o8_log_kv[]){
		{ "version", "42" }, { "peer", "127.0.0.1:5555" },
		{ "why", "said \"no\"\nand left" }, { "path", "a\\b" },
		{ "eq", "a=b" }, { "empty", "" }, { "none", NULL }, { NULL, NULL } },
	       "event");
	assert_string_equal(text(fx),
			    "syncd: event version=42 peer=127.0.0.1:5555"
			    " why=\"said \\\"no\\\"\\nand left\" path=\"a\\\\b\" eq=\"a=b\""
			    " empty=\"\" none=-\n");
}

static void log__format_counts_like_snprintf(void **state)
{
	char small[8];
	size_t n;

	(void)state;
	n = o8_log_format(small, sizeof(small), "agwd", O8_LOG_WARN, NULL, NULL, "hello");
	assert_int_equal(n, strlen("agwd: hello level=warn"));
	assert_string_equal(small, "agwd: h");
}

static void log__no_url_credentials(void **state)
{
	struct fx *fx = *state;
	char s[] = "fetch https://oauth2:s3cret@git.example.com/net.git and ssh://git@h:22/x";

	o8_log(fx->log, O8_LOG_WARN, NULL, (const struct o8_log_kv[]){
		{ "url", "https://user:password@example.com/r.git" }, { NULL, NULL } },
	       "fetch %s: refused", "https://user:password@example.com/r.git");
	assert_null(strstr(text(fx), "password"));
	assert_null(strstr(text(fx), "user"));
	assert_string_equal(text(fx), "syncd: fetch https://example.com/r.git: refused"
			    " level=warn url=https://example.com/r.git\n");
	o8_redact_urls(s);
	assert_string_equal(s, "fetch https://git.example.com/net.git and ssh://h:22/x");
}

static void log__long_line_whole(void **state)
{
	struct fx *fx = *state;
	char *big = malloc(10000);

	assert_non_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	o8_log(fx->log, O8_LOG_INFO, NULL, NULL, "%s", big);
	assert_int_equal(strlen(text(fx)), strlen("syncd: ") + 9999 + 1);
	free(big);
}

static void log__file_destination_with_timestamps(void **state)
{
	char path[] = "/tmp/o8-test-log-XXXXXX";
	struct o8_log_opts o = O8_LOG_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_log *l;
	char line[256];
	FILE *f;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	o.name = "agwd";
	o.path = path;
	assert_int_equal(o8_log_new(&l, &o, &err), O8_OK);
	o8_log(l, O8_LOG_INFO, "lab/gw1", NULL, "applied version %d", 3);
	o8_log_free(l);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	unlink(path);
	/* 2024-05-01T12:00:00.123Z agwd[lab/gw1]: applied version 3 */
	assert_int_equal(strlen(line), 25 + strlen("agwd[lab/gw1]: applied version 3\n"));
	assert_int_equal(line[10], 'T');
	assert_int_equal(line[23], 'Z');
	assert_string_equal(line + 25, "agwd[lab/gw1]: applied version 3\n");
	o.path = "/nonexistent/dir/log";
	assert_int_equal(o8_log_new(&l, &o, &err), O8_ERR);
	assert_null(l);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/log"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(log__levels_filter, setup, teardown),
		cmocka_unit_test(log__level_names),
		cmocka_unit_test_setup_teardown(log__control_characters_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(log__fields, setup, teardown),
		cmocka_unit_test(log__format_counts_like_snprintf),
		cmocka_unit_test_setup_teardown(log__no_url_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(log__long_line_whole, setup, teardown),
		cmocka_unit_test(log__file_destination_with_timestamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
