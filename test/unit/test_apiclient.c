/*
 * apiclient: how the client resolves where syncd is and how to
 * authenticate, the checks on the server URL and the token, and what a
 * failed connection says.  Requests against a server are tested through
 * the CLI (test/cli/test_syncd_client.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "apiclient.h"

static const char *const env_vars[] = { "ORC8R_SERVER", "ORC8R_TOKEN", "ORC8R_CA" };

struct fixture {
	char dir[64];                   /* a directory outside any git repository */
};

static void put(const char *dir, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (strchr(rel, '/')) {
		char sub[512];

		snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)(strrchr(rel, '/') - rel), rel);
		mkdir(sub, 0700);
	}
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	size_t i;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/o8-apiclient-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* o8_api_new with o; on success the client, else NULL and *err filled. */
static struct o8_api *open_api(const struct o8_api_opts *o, struct o8_err *err)
{
	struct o8_api *c = NULL;

	o8_err_clear(err);
	if (o8_api_new(&c, o, err)) {
		assert_null(c);
		assert_int_not_equal(err->rc, O8_OK);
		return NULL;
	}
	assert_non_null(c);
	return c;
}

static void apiclient__server_option_trailing_slash_dropped(void **state)
{
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	struct o8_err err;
	struct o8_api *c;

	o.dir = fx->dir;
	o.server = "https://syncd.example:7445//";
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_server(c), "https://syncd.example:7445");
	assert_string_equal(o8_api_credentials(c), "no credentials");
	assert_int_equal(o8_api_status(c), 0);
	o8_api_free(c);
}

static void apiclient__no_server_says_where_to_put_one(void **state)
{
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	struct o8_err err;

	o.dir = fx->dir;
	assert_null(open_api(&o, &err));
	assert_int_equal(err.rc, O8_EINVALID);
	assert_non_null(strstr(err.msg, "--server"));
	assert_non_null(strstr(err.msg, "ORC8R_SERVER"));
	assert_non_null(strstr(err.msg, ".orc8r/config.yaml"));
}

static void apiclient__bad_server_urls(void **state)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "ftp://syncd.example", "use https" },
		{ "http://syncd.example:7445", "use https" },
		{ "https://op:hunter2@syncd.example", "user name" },
		{ "https://syncd.example/?x=1", "query" },
		{ "not a url", "not a URL" },
	};
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	struct o8_err err;
	size_t i;

	o.dir = fx->dir;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o.server = cases[i].url;
		assert_null(open_api(&o, &err));
		if (!strstr(err.msg, cases[i].want))
			fail_msg("'%s': got '%s', want '%s'", cases[i].url, err.msg, cases[i].want);
		assert_null(strstr(err.msg, "hunter2"));
	}
	/* plain http is fine to this machine, for tests */
	o.server = "http://127.0.0.1:1";
	o8_api_free(open_api(&o, &err));
	assert_int_equal(err.rc, O8_OK);
}

static void apiclient__token_file_trimmed_and_checked(void **state)
{
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	char path[128], want[160];
	struct o8_err err;
	struct o8_api *c;

	snprintf(path, sizeof(path), "%s/tok", fx->dir);
	o.dir = fx->dir;
	o.server = "https://syncd.example";
	o.token_file = path;
	put(fx->dir, "tok", "o8t-abc\r\n\n");
	assert_non_null(c = open_api(&o, &err));
	snprintf(want, sizeof(want), "the token in '%s'", path);
	assert_string_equal(o8_api_credentials(c), want);
	o8_api_free(c);

	put(fx->dir, "tok", "o8t-abc\nsecond line\n");
	assert_null(open_api(&o, &err));
	assert_non_null(strstr(err.msg, "alone on one line"));
	assert_null(strstr(err.msg, "o8t-abc"));

	o.token_file = "/nonexistent/tok";
	assert_null(open_api(&o, &err));
	assert_non_null(strstr(err.msg, "/nonexistent/tok"));
}

static void apiclient__env_token_and_precedence(void **state)
{
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	struct o8_err err;
	struct o8_api *c;

	o.dir = fx->dir;
	setenv("ORC8R_SERVER", "https://from-env.example", 1);
	setenv("ORC8R_TOKEN", "o8t-env", 1);
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_server(c), "https://from-env.example");
	assert_string_equal(o8_api_credentials(c), "the token in ORC8R_TOKEN");
	o8_api_free(c);

	o.server = "https://from-option.example";
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_server(c), "https://from-option.example");
	o8_api_free(c);

	setenv("ORC8R_TOKEN", "o8t-env\n", 1);
	assert_null(open_api(&o, &err));
	assert_non_null(strstr(err.msg, "ORC8R_TOKEN"));
	assert_null(strstr(err.msg, "o8t-env"));
	unsetenv("ORC8R_TOKEN");
	unsetenv("ORC8R_SERVER");
}

static void apiclient__config_file_relative_to_root(void **state)
{
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	char want[160];
	struct o8_err err;
	struct o8_api *c;

	o.dir = fx->dir;
	put(fx->dir, ".orc8r/config.yaml",
	    "apiVersion: orc8r/v1\nkind: RepoConfig\n"
	    "server: https://from-file.example:7445\ntoken_file: keys/tok\nunrelated: {a: 1}\n");
	put(fx->dir, "keys/tok", "o8t-file\n");
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_server(c), "https://from-file.example:7445");
	snprintf(want, sizeof(want), "the token in '%s/keys/tok'", fx->dir);
	assert_string_equal(o8_api_credentials(c), want);
	o8_api_free(c);

	/* a token from the environment replaces the file's credential */
	setenv("ORC8R_TOKEN", "o8t-env", 1);
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_credentials(c), "the token in ORC8R_TOKEN");
	o8_api_free(c);
	unsetenv("ORC8R_TOKEN");
}

/* Found like git finds .git: the nearest .orc8r/ upwards, within the work
 * tree -- an orc8r repository nested in another git tree keeps its own. */
static void apiclient__config_nearest_within_work_tree(void **state)
{
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	char cmd[300], sub[200];
	struct o8_err err;
	struct o8_api *c;

	snprintf(cmd, sizeof(cmd), "git init -q '%s' && cd '%s' && "
		 "mkdir -p inner/.orc8r inner/networks other", fx->dir, fx->dir);
	assert_int_equal(system(cmd), 0);
	put(fx->dir, ".orc8r/config.yaml", "server: https://outer.example:7445\n");
	put(fx->dir, "inner/.orc8r/config.yaml", "server: https://inner.example:7445\n");
	put(fx->dir, "inner/networks/lab.yaml", "\n");
	put(fx->dir, "other/x.yaml", "\n");

	snprintf(sub, sizeof(sub), "%s/inner/networks", fx->dir);
	o.dir = sub;
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_server(c), "https://inner.example:7445");
	o8_api_free(c);

	snprintf(sub, sizeof(sub), "%s/other", fx->dir);
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_server(c), "https://outer.example:7445");
	o8_api_free(c);

	o.dir = fx->dir;
	assert_non_null(c = open_api(&o, &err));
	assert_string_equal(o8_api_server(c), "https://outer.example:7445");
	o8_api_free(c);
}

static void apiclient__config_errors_have_positions(void **state)
{
	static const struct {
		const char *yaml;
		unsigned line, col;
		const char *want;
	} cases[] = {
		{ "server: https://x\nServer: https://y\n", 2, 1, "did you mean 'server'" },
		{ "server: https://x\ntoken-file: t\n", 2, 1, "did you mean 'token_file'" },
		{ "server:\n", 1, 8, "non-empty string" },
		{ "server: {a: b}\n", 1, 9, "non-empty string" },
		{ "server: https://x\nkey: k\n", 2, 6, "'key' needs 'cert'" },
		{ "server: \"http://10.0.0.1\"\n", 1, 9, "use https" },
		{ "[server]\n", 1, 1, "expected a map" },
		{ "server: https://x\nca: a\nserver: https://y\n", 3, 1, "duplicate key 'server'" },
	};
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	struct o8_err err;
	size_t i;

	o.dir = fx->dir;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put(fx->dir, ".orc8r/config.yaml", cases[i].yaml);
		assert_null(open_api(&o, &err));
		if (strcmp(err.path, ".orc8r/config.yaml") || err.line != cases[i].line ||
		    err.col != cases[i].col || !strstr(err.msg, cases[i].want))
			fail_msg("case %zu: got %s:%u:%u: %s", i, err.path, err.line, err.col, err.msg);
	}
}

static void apiclient__connection_refused_names_server(void **state)
{
	struct fixture *fx = *state;
	struct o8_api_opts o = O8_API_OPTS_INIT;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	char url[64];
	struct o8_err err;
	struct o8_api *c;
	json_t *out = (json_t *)&err;   /* must be reset to NULL */
	int s;

	/* a port that was free a moment ago: bound, then closed */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((s = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(a.sin_port));
	o.dir = fx->dir;
	o.server = url;
	assert_non_null(c = open_api(&o, &err));
	assert_int_equal(o8_api_get(c, "/v1/status", &out, &err), O8_ERR);
	assert_null(out);
	assert_int_equal(o8_api_status(c), 0);
	assert_true(!strncmp(err.msg, "cannot reach syncd at ", 22));
	assert_non_null(strstr(err.msg, url));
	o8_api_free(c);
}

static void apiclient__escape_path_segment(void **state)
{
	struct o8_api_opts o = O8_API_OPTS_INIT;
	struct fixture *fx = *state;
	struct o8_err err;
	struct o8_api *c;
	char *e;

	o.dir = fx->dir;
	o.server = "https://x";
	assert_non_null(c = open_api(&o, &err));
	assert_non_null(e = o8_api_escape(c, "lab 1/agw?#"));
	assert_string_equal(e, "lab%201%2Fagw%3F%23");
	free(e);
	o8_api_free(c);
	o8_api_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(apiclient__server_option_trailing_slash_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__no_server_says_where_to_put_one, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__bad_server_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__token_file_trimmed_and_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__env_token_and_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__config_file_relative_to_root, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__config_nearest_within_work_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__config_errors_have_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__connection_refused_names_server, setup, teardown),
		cmocka_unit_test_setup_teardown(apiclient__escape_path_segment, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
