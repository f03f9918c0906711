/*
 * test_syncd_config.c - syncd's config (syncd/config.h): defaults and the
 * derived ones, every key from YAML, FILE:LINE:COL findings (all of them in
 * one run, unknown keys with a suggestion), the command line over the file,
 * the checks of the PKI files, secrets, tokens, listeners and webhook-only
 * mode, and a reload that swaps only a valid config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "proto/pki.h"

struct fx {
	char dir[64];
	char pki[128];
	char yaml[128];
	char secret[128];
	char text[8192];        /* the findings of the last call, one per line */
	struct syncd_config c;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	static const char *const hosts[] = { "127.0.0.1" };
	struct fx *fx = calloc(1, sizeof(*fx));
	struct o8_err err = O8_ERR_INIT;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/o8-syncdconf-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->pki, sizeof(fx->pki), "%s/pki", fx->dir);
	snprintf(fx->yaml, sizeof(fx->yaml), "%s/syncd.yaml", fx->dir);
	snprintf(fx->secret, sizeof(fx->secret), "%s/webhook-secret", fx->dir);
	if (o8_pki_init(fx->pki, hosts, 1, NULL, &err))
		fail_msg("pki init: %s", err.msg);
	syncd_config_init(&fx->c);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	syncd_config_done(&fx->c);
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void spit(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void collect(struct fx *fx, const struct o8_diags *d)
{
	size_t i, n = 0;

	fx->text[0] = '\0';
	for (i = 0; i < d->n; i++)
		n += (size_t)snprintf(fx->text + n, sizeof(fx->text) - n, "%s:%u:%u: %s\n",
				      d->v[i].file, d->v[i].line, d->v[i].col, d->v[i].msg);
}

/* Writes the YAML (PKI=... replaced by the test's PKI dir) and loads it. */
static enum o8_rc load(struct fx *fx, const char *yaml)
{
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char text[4096];
	const char *at = strstr(yaml, "PKI");
	enum o8_rc rc;

	if (at)
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - yaml), yaml, fx->pki, at + 3);
	else
		snprintf(text, sizeof(text), "%s", yaml);
	spit(fx->yaml, text, 0644);
	rc = syncd_config_load(&fx->c, fx->yaml, &d, &err);
	collect(fx, &d);
	o8_diags_free(&d);
	return rc;
}

static enum o8_rc check(struct fx *fx)
{
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	enum o8_rc rc = syncd_config_check(&fx->c, &d, &err);

	collect(fx, &d);
	o8_diags_free(&d);
	return rc;
}

static void has(const struct fx *fx, const char *part)
{
	if (!strstr(fx->text, part))
		fail_msg("no '%s' in:\n%s", part, fx->text);
}

/* has(FILE ":" rest) */
static void has_at(const struct fx *fx, const char *file, const char *rest)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s:%s", file, rest);
	has(fx, want);
}

#define MINIMAL "pki: PKI\nrepo:\n  url: https://git.example.org/n.git\n"

static void defaults__and_derived(void **state)
{
	struct fx *fx = *state;
	char want[256];

	assert_int_equal(load(fx, MINIMAL), O8_OK);
	assert_int_equal(check(fx), O8_OK);
	assert_string_equal(fx->c.listen, "0.0.0.0:7443");
	assert_string_equal(fx->c.bootstrap, "0.0.0.0:7444");
	assert_string_equal(fx->c.api, "127.0.0.1:7445");
	assert_true(fx->c.api_tls);
	assert_string_equal(fx->c.state_dir, "/var/lib/orc8r");
	assert_string_equal(fx->c.store, "sqlite:/var/lib/orc8r/syncd.db");
	assert_string_equal(fx->c.repo_branch, "main");
	assert_string_equal(fx->c.repo_dir, "/var/lib/orc8r/repo");
	assert_int_equal(fx->c.repo_poll, 30);
	assert_null(fx->c.webhook_secret_file);
	assert_null(fx->c.webhook_secret);
	snprintf(want, sizeof(want), "%s/api-tokens", fx->pki);
	assert_string_equal(fx->c.api_tokens_file, want);
	assert_int_equal(fx->c.max_frame, 16u << 20);
	assert_int_equal(fx->c.checkin, 60);
	assert_int_equal(fx->c.log_level, SYNCD_LOG_INFO);
	assert_string_equal(syncd_config_level_name(fx->c.log_level), "info");
}

static void load__every_key(void **state)
{
	struct fx *fx = *state;

	spit(fx->secret, "hunter2\n\n", 0600);
	assert_int_equal(load(fx,
		"# syncd\n"
		"listen: '[::]:8443'\n"
		"bootstrap: 0.0.0.0:8444\n"
		"api: 127.0.0.1:0\n"
		"api_tls: false\n"
		"pki: PKI\n"
		"state_dir: /srv/orc8r\n"
		"store: sqlite:/tmp/x.db\n"
		"repo:\n"
		"  url: git@example.org:lab/networks.git\n"
		"  branch: prod\n"
		"  dir: /srv/clone\n"
		"  poll: 0\n"
		"webhook_secret_file: WEBHOOK\n"
		"api_tokens_file: /srv/tokens\n"
		"max_frame: 1MiB\n"
		"checkin: 15\n"
		"log_level: debug\n"), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, ":14:22: cannot read 'WEBHOOK': no such file or directory");
	assert_int_equal(fx->c.checkin, 15);
	assert_string_equal(fx->c.repo_branch, "prod");
	/* the same in flow style, the secret given on the command line */
	syncd_config_done(&fx->c);
	syncd_config_init(&fx->c);
	assert_int_equal(syncd_config_set(&fx->c, "webhook-secret-file", fx->secret, NULL),
			 O8_OK);
	assert_int_equal(load(fx,
		"listen: '[::]:8443'\nbootstrap: 0.0.0.0:8444\napi: 127.0.0.1:0\napi_tls: false\n"
		"pki: PKI\nstate_dir: /srv/orc8r\nstore: sqlite:/tmp/x.db\n"
		"repo: {url: 'git@example.org:lab/networks.git', branch: prod, dir: /srv/clone, "
		"poll: 0}\n"
		"webhook_secret_file: ~\napi_tokens_file: /srv/tokens\nmax_frame: 1MiB\n"
		"checkin: 15\nlog_level: debug\n"), O8_OK);
	assert_int_equal(check(fx), O8_OK);
	assert_string_equal(fx->c.listen, "[::]:8443");
	assert_string_equal(fx->c.bootstrap, "0.0.0.0:8444");
	assert_false(fx->c.api_tls);
	assert_string_equal(fx->c.state_dir, "/srv/orc8r");
	assert_string_equal(fx->c.store, "sqlite:/tmp/x.db");
	assert_string_equal(fx->c.repo_url, "git@example.org:lab/networks.git");
	assert_string_equal(fx->c.repo_branch, "prod");
	assert_string_equal(fx->c.repo_dir, "/srv/clone");
	assert_int_equal(fx->c.repo_poll, 0);
	/* the command line beat the file's null */
	assert_string_equal(fx->c.webhook_secret_file, fx->secret);
	assert_int_equal(fx->c.webhook_secret_len, 7);
	assert_memory_equal(fx->c.webhook_secret, "hunter2", 7);
	assert_string_equal(fx->c.api_tokens_file, "/srv/tokens");
	assert_int_equal(fx->c.max_frame, 1u << 20);
	assert_int_equal(fx->c.checkin, 15);
	assert_int_equal(fx->c.log_level, SYNCD_LOG_DEBUG);
}

static void load__findings_with_positions(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(load(fx,
		"lisen: 0.0.0.0:1\n"                    /* 1 */
		"api: 127.0.0.1:99999\n"                /* 2 */
		"api_tls: maybe\n"                      /* 3 */
		"repo:\n"                               /* 4 */
		"  url: x\n"                            /* 5 */
		"  pol: 3\n"                            /* 6 */
		"  poll: -1\n"                          /* 7 */
		"max_frame: 12 MiB\n"                   /* 8 */
		"checkin: [1]\n"                        /* 9 */
		"log_level: loud\n"                     /* 10 */
		"state_dir: ''\n"), O8_EINVALID);       /* 11 */
	{
		static const char *const want[] = {
			"1:1: unknown key 'lisen' (did you mean 'listen'?)",
			"2:6: api: '127.0.0.1:99999': the port must be",
			"3:10: api_tls is true or false, not 'maybe'",
			"6:3: unknown key 'repo.pol' (did you mean 'poll'?)",
			"7:9: repo.poll is a number of seconds from 0 to 86400",
			"8:12: max_frame is a size",
			"9:10: checkin takes a single value, not a list",
			"10:12: log_level is debug, info, warn or error",
			"11:12: state_dir needs a value",
		};

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			has_at(fx, fx->yaml, want[i]);
	}

	assert_int_equal(load(fx, "repo: https://x\n"), O8_EINVALID);
	has(fx, ":1:7: repo is a map (url, branch, dir, poll)");
	assert_int_equal(load(fx, "- listen\n"), O8_EINVALID);
	has(fx, ":1:1: expected a map of settings");
	assert_int_equal(load(fx, "listen: [\n"), O8_EINVALID);
	has(fx, "syncd.yaml:");
	assert_int_equal(load(fx, "pki: a\n---\npki: b\n"), O8_EINVALID);
	has(fx, ":2:1: one YAML document only");
	/* a file syncd cannot read at all */
	{
		struct o8_diags d = O8_DIAGS_INIT;
		struct o8_err err = O8_ERR_INIT;
		char missing[160];

		snprintf(missing, sizeof(missing), "%s/none.yaml", fx->dir);
		assert_int_equal(syncd_config_load(&fx->c, missing, &d, &err), O8_ENOTFOUND);
		assert_non_null(strstr(err.msg, missing));
		o8_diags_free(&d);
	}
}

static void set__command_line_wins_and_is_checked(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;

	assert_int_equal(syncd_config_set(&fx->c, "listen", "127.0.0.1:9443", &err), O8_OK);
	assert_int_equal(syncd_config_set(&fx->c, "repo.poll", "5", &err), O8_OK);
	assert_int_equal(syncd_config_set(&fx->c, "log-level", "warn", &err), O8_OK);
	assert_int_equal(load(fx, MINIMAL "listen: 0.0.0.0:1\nrepo_poll_is_not_a_key: 1\n"),
			 O8_EINVALID);
	has(fx, "unknown key 'repo_poll_is_not_a_key'");
	assert_int_equal(load(fx, MINIMAL "listen: 0.0.0.0:1\nlog_level: error\n"), O8_OK);
	assert_string_equal(fx->c.listen, "127.0.0.1:9443");
	assert_int_equal(fx->c.repo_poll, 5);
	assert_int_equal(fx->c.log_level, SYNCD_LOG_WARN);

	assert_int_equal(syncd_config_set(&fx->c, "lisen", "x", &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "unknown setting 'lisen' (did you mean 'listen'?)"));
	o8_err_clear(&err);
	assert_int_equal(syncd_config_set(&fx->c, "max-frame", "10", &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "max_frame is a size from 1KiB"));
	o8_err_clear(&err);
	assert_int_equal(syncd_config_set(&fx->c, "api", "example.org:1", &err), O8_EINVALID);
	assert_string_equal(fx->c.api, "127.0.0.1:7445");   /* a refused value changes nothing */

	/* every key has a flag, help and an argument name */
	for (size_t i = 0; syncd_config_key(i); i++) {
		const struct syncd_config_key *k = syncd_config_key(i);

		assert_non_null(k->flag);
		assert_non_null(k->arg);
		assert_true(k->doc && k->doc[0]);
		assert_null(strchr(k->flag, '.'));
		assert_null(strchr(k->flag, '_'));
	}
}

static void check__pki_is_required_and_complete(void **state)
{
	static const char *const files[] = { "ca.crt", "server.crt", "server.key", "crl.pem" };
	struct fx *fx = *state;
	char path[256], want[512];
	size_t i;

	assert_int_equal(load(fx, "listen: 0.0.0.0:7443\n"), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, ":1:1: pki is required");
	has(fx, ":1:1: repo.url is required");

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char moved[300];

		snprintf(path, sizeof(path), "%s/%s", fx->pki, files[i]);
		snprintf(moved, sizeof(moved), "%s.away", path);
		assert_int_equal(rename(path, moved), 0);
		assert_int_equal(load(fx, MINIMAL), O8_OK);
		assert_int_equal(check(fx), O8_EINVALID);
		snprintf(want, sizeof(want), "syncd.yaml:1:6: cannot read '%s': no such file", path);
		has(fx, want);
		assert_int_equal(rename(moved, path), 0);
	}
	snprintf(path, sizeof(path), "%s/server.key", fx->pki);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(load(fx, MINIMAL), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, "server.key' is readable by group or others");
	assert_int_equal(chmod(path, 0600), 0);
	/* from the command line, the finding says so */
	syncd_config_done(&fx->c);
	syncd_config_init(&fx->c);
	assert_int_equal(syncd_config_set(&fx->c, "pki", fx->dir, NULL), O8_OK);
	assert_int_equal(syncd_config_set(&fx->c, "repo-url", "x", NULL), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, SYNCD_CONFIG_CMDLINE ":0:0: cannot read '");
}

static void check__secrets_tokens_listeners_webhook_only(void **state)
{
	struct fx *fx = *state;
	char yaml[1024], tokens[200];

	/* a secret others can read; an empty one */
	spit(fx->secret, "k\n", 0644);
	snprintf(yaml, sizeof(yaml), MINIMAL "webhook_secret_file: %s\n", fx->secret);
	assert_int_equal(load(fx, yaml), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, ":4:22: '");
	has(fx, "only its owner can read (chmod 600)");
	spit(fx->secret, " \n", 0600);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, "holds no secret");

	/* webhook only without a secret */
	syncd_config_done(&fx->c);
	syncd_config_init(&fx->c);
	assert_int_equal(load(fx, MINIMAL "  poll: 0\n"), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, ":4:9: repo.poll is 0 (webhook only) but there is no webhook_secret_file");

	/* plain HTTP away from loopback, two listeners on one port */
	syncd_config_done(&fx->c);
	syncd_config_init(&fx->c);
	assert_int_equal(load(fx, MINIMAL "api_tls: false\napi: 0.0.0.0:7445\n"
					  "bootstrap: 0.0.0.0:7443\n"), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	has(fx, ":4:10: api_tls is false but api '0.0.0.0:7445' is not a loopback address");
	has(fx, ":6:12: bootstrap: port 7443 is already listen's");
	assert_int_equal(load(fx, MINIMAL "api_tls: false\napi: '[::1]:0'\nlisten: 0.0.0.0:0\n"
					  "bootstrap: 0.0.0.0:0\n"), O8_OK);
	assert_int_equal(check(fx), O8_OK);

	/* a broken tokens file is reported at its own line */
	snprintf(tokens, sizeof(tokens), "%s/api-tokens", fx->pki);
	spit(tokens, "# ok\nwrite ci nothex\n", 0600);
	syncd_config_done(&fx->c);
	syncd_config_init(&fx->c);
	assert_int_equal(load(fx, MINIMAL), O8_OK);
	assert_int_equal(check(fx), O8_EINVALID);
	snprintf(yaml, sizeof(yaml), "%s:2:10: bad hash", tokens);
	has(fx, yaml);
}

static void reload__swaps_only_a_valid_config(void **state)
{
	struct fx *fx = *state;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;

	assert_int_equal(syncd_config_set(&fx->c, "checkin", "7", &err), O8_OK);
	assert_int_equal(load(fx, MINIMAL "  branch: one\ncheckin: 99\n"), O8_OK);
	assert_int_equal(check(fx), O8_OK);
	assert_string_equal(fx->c.repo_branch, "one");

	/* valid: swapped, the command line still wins */
	spit(fx->yaml, "pki: x\n", 0644);
	{
		char text[512];

		snprintf(text, sizeof(text),
			 "pki: %s\nrepo: {url: https://x, branch: two}\ncheckin: 99\n", fx->pki);
		spit(fx->yaml, text, 0644);
	}
	assert_int_equal(syncd_config_reload(&fx->c, &d, &err), O8_OK);
	assert_int_equal(d.n, 0);
	assert_string_equal(fx->c.repo_branch, "two");
	assert_int_equal(fx->c.checkin, 7);
	assert_string_equal(fx->c.path, fx->yaml);

	/* invalid (syntax, then a failed check): the old config stays */
	spit(fx->yaml, "repo: {url: https://x, branch: three\n", 0644);
	assert_int_equal(syncd_config_reload(&fx->c, &d, &err), O8_EINVALID);
	assert_true(d.n > 0);
	o8_diags_free(&d);
	spit(fx->yaml, "repo: {url: https://x, branch: three}\n", 0644);    /* no pki */
	assert_int_equal(syncd_config_reload(&fx->c, &d, &err), O8_EINVALID);
	collect(fx, &d);
	has(fx, "pki is required");
	o8_diags_free(&d);
	assert_string_equal(fx->c.repo_branch, "two");
	assert_int_equal(fx->c.checkin, 7);
	assert_non_null(fx->c.pki);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults__and_derived, setup, teardown),
		cmocka_unit_test_setup_teardown(load__every_key, setup, teardown),
		cmocka_unit_test_setup_teardown(load__findings_with_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(set__command_line_wins_and_is_checked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(check__pki_is_required_and_complete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(check__secrets_tokens_listeners_webhook_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reload__swaps_only_a_valid_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
