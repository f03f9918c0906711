/*
 * test_repocfg.c - .orc8r/config.yaml's parser and its rules, alone (the
 * golden validate cases check the same through `orc8r validate`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "repocfg.h"

static void repocfg__server_rules(void **state)
{
	(void)state;
	assert_null(o8_repocfg_server_problem("https://syncd.example:7445"));
	assert_null(o8_repocfg_server_problem("https://syncd.example:7445/"));
	assert_null(o8_repocfg_server_problem("http://127.0.0.1:7445"));
	assert_null(o8_repocfg_server_problem("http://[::1]:7445"));
	assert_null(o8_repocfg_server_problem("http://localhost:7445"));
	assert_string_equal(o8_repocfg_server_problem("http://syncd.example:7445"),
			    "use https (plain http only to 127.0.0.1, for tests): the token would travel in clear");
	assert_string_equal(o8_repocfg_server_problem("https://ops:secret@syncd.example"),
			    "the URL must not hold a user name");
	assert_string_equal(o8_repocfg_server_problem("https://syncd.example/?x=1"),
			    "the URL must not hold a query or a fragment");
	assert_string_equal(o8_repocfg_server_problem("https://syncd.example/#top"),
			    "the URL must not hold a query or a fragment");
	assert_string_equal(o8_repocfg_server_problem("not a url"),
			    "not a URL like https://HOST:7445");
}

static void parse(const char *text, bool strict, struct o8_repocfg *cfg, struct o8_diags *d)
{
	struct o8_err err = O8_ERR_INIT;

	assert_int_equal(o8_repocfg_parse(cfg, text, strlen(text), strict, d, &err), O8_OK);
}

static void repocfg__client_mode_leaves_other_keys_alone(void **state)
{
	struct o8_repocfg cfg = O8_REPOCFG_INIT;
	struct o8_diags d = O8_DIAGS_INIT;

	(void)state;
	parse("server: https://a:1\nunrelated: {a: 1}\nca: pki/ca.crt\n", false, &cfg, &d);
	assert_int_equal(d.n, 0);
	assert_string_equal(cfg.v[O8_RCK_SERVER].s, "https://a:1");
	assert_int_equal(cfg.v[O8_RCK_SERVER].line, 1);
	assert_string_equal(cfg.v[O8_RCK_CA].s, "pki/ca.crt");
	assert_int_equal(cfg.v[O8_RCK_CA].line, 3);
	o8_repocfg_done(&cfg);
	o8_diags_free(&d);
}

static void repocfg__strict_mode_reports_every_problem(void **state)
{
	struct o8_repocfg cfg = O8_REPOCFG_INIT;
	struct o8_diags d = O8_DIAGS_INIT;

	(void)state;
	parse("apiVersion: orc8r/v1\nkind: RepoConfig\nserver: http://far.example\n"
	      "tokenFile: t\nunrelated: 1\n", true, &cfg, &d);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.v[0].line, 3);
	assert_non_null(strstr(d.v[0].msg, "use https"));
	assert_int_equal(d.v[1].line, 4);
	assert_non_null(strstr(d.v[1].msg, "did you mean 'token_file'?"));
	assert_int_equal(d.v[2].line, 5);
	assert_non_null(strstr(d.v[2].msg, "unknown key 'unrelated'"));
	o8_repocfg_done(&cfg);
	o8_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repocfg__server_rules),
		cmocka_unit_test(repocfg__client_mode_leaves_other_keys_alone),
		cmocka_unit_test(repocfg__strict_mode_reports_every_problem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
