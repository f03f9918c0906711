/*
 * test_apitoken.c - the API tokens file (lib/proto/apitoken.h): a created token
 * is stored only as its SHA-256 on a 0600 line, checks in and out with its
 * role and name, names are unique even under concurrent creation, the
 * operator's comments survive, a malformed line is reported at its line and
 * column, a file open to group or others is refused, and refresh picks up
 * new and removed tokens and fails closed.  "ROLE NAME cert" lines grant a
 * role to an operator certificate by name, never to a token; a name is
 * unique across both kinds; granting again is a no-op, with another role
 * a conflict.
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
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "proto/apitoken.h"

struct fx {
	char dir[64];
	char path[128];
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
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/o8-apitoken-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/api-tokens", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void spit(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static char *create(const char *path, const char *name, enum o8_apitoken_role role)
{
	struct o8_err err = O8_ERR_INIT;
	char *tok = NULL;

	if (o8_apitoken_create(&tok, path, name, role, &err))
		fail_msg("create '%s': %s", name, err.msg);
	return tok;
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char d[32];
	size_t i;

	assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), d), 0);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void create__only_the_hash_on_a_0600_line(void **state)
{
	struct fx *fx = *state;
	char *tok = create(fx->path, "ci", O8_APITOKEN_WRITE), hex[65], want[128];
	struct stat st;
	size_t i;

	assert_int_equal(strlen(tok), 5 + 64);
	assert_memory_equal(tok, "o8a1.", 5);
	for (i = 5; tok[i]; i++)
		assert_non_null(strchr("0123456789abcdef", tok[i]));
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	sha256_hex(tok, hex);
	snprintf(want, sizeof(want), "write ci %s\n", hex);
	assert_string_equal(slurp(fx->path), want);
	assert_null(strstr(slurp(fx->path), tok + 5));
	free(tok);
}

static void check__role_name_and_refusals(void **state)
{
	struct fx *fx = *state;
	char *w = create(fx->path, "ci", O8_APITOKEN_WRITE);
	char *r = create(fx->path, "grafana@ops", O8_APITOKEN_READ);
	struct o8_apitoken_set *set = NULL;
	struct o8_err err = O8_ERR_INIT;
	enum o8_apitoken_role role = O8_APITOKEN_NONE;
	const char *name = NULL;
	char forged[128];

	assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_OK);
	assert_int_equal(o8_apitoken_count(set), 2);
	assert_true(o8_apitoken_check(set, w, &role, &name));
	assert_int_equal(role, O8_APITOKEN_WRITE);
	assert_string_equal(name, "ci");
	assert_true(o8_apitoken_check(set, r, &role, &name));
	assert_int_equal(role, O8_APITOKEN_READ);
	assert_string_equal(name, "grafana@ops");
	/* one digit off, truncated, extended, other prefix, empty, NULL */
	snprintf(forged, sizeof(forged), "%s", w);
	forged[10] = forged[10] == 'a' ? 'b' : 'a';
	assert_false(o8_apitoken_check(set, forged, NULL, NULL));
	forged[strlen(w) - 1] = '\0';
	assert_false(o8_apitoken_check(set, forged, NULL, NULL));
	snprintf(forged, sizeof(forged), "%s0", w);
	assert_false(o8_apitoken_check(set, forged, NULL, NULL));
	snprintf(forged, sizeof(forged), "o8e1.%s", w + 5);
	assert_false(o8_apitoken_check(set, forged, NULL, NULL));
	assert_false(o8_apitoken_check(set, "", NULL, NULL));
	assert_false(o8_apitoken_check(set, NULL, NULL, NULL));
	assert_false(o8_apitoken_check(NULL, w, NULL, NULL));
	o8_apitoken_free(set);
	free(w);
	free(r);
}

static void create__refuses_duplicates_and_bad_input(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *tok = create(fx->path, "ci", O8_APITOKEN_READ), *again = NULL;
	char *before = strdup(slurp(fx->path));

	assert_int_equal(o8_apitoken_create(&again, fx->path, "ci", O8_APITOKEN_WRITE, &err),
			 O8_ECONFLICT);
	assert_null(again);
	assert_non_null(strstr(err.msg, "'ci'"));
	o8_err_clear(&err);
	assert_int_equal(o8_apitoken_create(&again, fx->path, "two words", O8_APITOKEN_READ,
					    &err), O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_apitoken_create(&again, fx->path, "x", O8_APITOKEN_NONE, &err),
			 O8_EINVALID);
	assert_string_equal(slurp(fx->path), before);
	free(before);
	free(tok);
}

static void create__keeps_comments_and_lines(void **state)
{
	struct fx *fx = *state;
	char hex[65], text[256], *tok;

	sha256_hex("o8a1.whatever", hex);
	snprintf(text, sizeof(text), "# tokens for the lab\nread old %s", hex);   /* no final newline */
	spit(fx->path, text, 0600);
	tok = create(fx->path, "new", O8_APITOKEN_WRITE);
	assert_memory_equal(slurp(fx->path), text, strlen(text));
	assert_memory_equal(slurp(fx->path) + strlen(text), "\nwrite new ", 11);
	free(tok);
}

static void load__missing_file_is_empty(void **state)
{
	struct fx *fx = *state;
	struct o8_apitoken_set *set = NULL;
	struct o8_err err = O8_ERR_INIT;

	assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_OK);
	assert_int_equal(o8_apitoken_count(set), 0);
	assert_int_equal(o8_apitoken_refresh(set, &err), O8_OK);
	o8_apitoken_free(set);
}

static void load__malformed_line_names_line_and_column(void **state)
{
	static const struct { const char *text; unsigned line, col; const char *msg; } cases[] = {
		{ "\n# c\nwrite ci abc\n", 3, 10, "bad hash" },
		{ "admin ci 0000000000000000000000000000000000000000000000000000000000000000\n",
		  1, 1, "unknown role" },
		{ "read  a/b 0000000000000000000000000000000000000000000000000000000000000000\n",
		  1, 7, "bad token name" },
		{ "read ci\n", 1, 8, "expected 'ROLE NAME SHA256HEX'" },
		{ "read a 0000000000000000000000000000000000000000000000000000000000000000 x\n",
		  1, 73, "unexpected text" },
		{ "read a 0000000000000000000000000000000000000000000000000000000000000000\n"
		  "write a 1111111111111111111111111111111111111111111111111111111111111111\n",
		  2, 1, "appears twice" },
		{ "read a certs\n", 1, 8, "or 'cert'" },
		{ "read a CERT\n", 1, 8, "bad hash" },
		{ "read a cert extra\n", 1, 13, "unexpected text" },
		{ "read a cert\n"
		  "write a 1111111111111111111111111111111111111111111111111111111111111111\n",
		  2, 1, "appears twice" },
	};
	struct fx *fx = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct o8_apitoken_set *set = NULL;
		struct o8_err err = O8_ERR_INIT;

		spit(fx->path, cases[i].text, 0600);
		assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_EINVALID);
		assert_null(set);
		assert_string_equal(err.path, fx->path);
		assert_int_equal(err.line, cases[i].line);
		assert_int_equal(err.col, cases[i].col);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
	}
}

static void load__refuses_a_file_open_to_others(void **state)
{
	static const mode_t modes[] = { 0640, 0604, 0620, 0602 };
	struct fx *fx = *state;
	char *tok = create(fx->path, "ci", O8_APITOKEN_READ), *again = NULL;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct o8_apitoken_set *set = NULL;
		struct o8_err err = O8_ERR_INIT;

		assert_int_equal(chmod(fx->path, modes[i]), 0);
		assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_EINVALID);
		assert_non_null(strstr(err.msg, "chmod 600"));
		o8_err_clear(&err);
		assert_int_equal(o8_apitoken_create(&again, fx->path, "x", O8_APITOKEN_READ,
						    &err), O8_EINVALID);
	}
	free(tok);
}

static void refresh__sees_new_and_removed_tokens_and_fails_closed(void **state)
{
	struct fx *fx = *state;
	struct o8_apitoken_set *set = NULL;
	struct o8_err err = O8_ERR_INIT;
	char *a = create(fx->path, "a", O8_APITOKEN_READ), *b;
	char *keep;

	assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_OK);
	assert_true(o8_apitoken_check(set, a, NULL, NULL));
	b = create(fx->path, "b", O8_APITOKEN_WRITE);
	assert_false(o8_apitoken_check(set, b, NULL, NULL));
	assert_int_equal(o8_apitoken_refresh(set, &err), O8_OK);
	assert_true(o8_apitoken_check(set, b, NULL, NULL));

	/* a broken file: nothing is allowed until it is fixed */
	keep = strdup(slurp(fx->path));
	spit(fx->path, "garbage\n", 0600);
	assert_int_equal(o8_apitoken_refresh(set, &err), O8_EINVALID);
	assert_int_equal(o8_apitoken_count(set), 0);
	assert_false(o8_apitoken_check(set, a, NULL, NULL));
	o8_err_clear(&err);
	spit(fx->path, keep, 0600);
	free(keep);
	assert_int_equal(o8_apitoken_refresh(set, &err), O8_OK);
	assert_true(o8_apitoken_check(set, a, NULL, NULL));

	/* removing the file removes every token */
	assert_int_equal(unlink(fx->path), 0);
	assert_int_equal(o8_apitoken_refresh(set, &err), O8_OK);
	assert_false(o8_apitoken_check(set, b, NULL, NULL));
	o8_apitoken_free(set);
	free(a);
	free(b);
}

static void create__concurrent_creations_all_land(void **state)
{
	enum { N = 8 };
	struct fx *fx = *state;
	struct o8_apitoken_set *set = NULL;
	struct o8_err err = O8_ERR_INIT;
	pid_t pids[N];
	int i, st;

	for (i = 0; i < N; i++) {
		assert_true((pids[i] = fork()) >= 0);
		if (!pids[i]) {
			struct o8_err e = O8_ERR_INIT;
			char name[16], *tok = NULL;

			snprintf(name, sizeof(name), "p%d", i);
			_exit(o8_apitoken_create(&tok, fx->path, name, O8_APITOKEN_READ, &e)
			      ? 1 : 0);
		}
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_OK);
	assert_int_equal(o8_apitoken_count(set), N);
	o8_apitoken_free(set);
}

static bool grant(const char *path, const char *name, enum o8_apitoken_role role)
{
	struct o8_err err = O8_ERR_INIT;
	bool added = false;

	if (o8_apitoken_grant_cert(path, name, role, &added, &err))
		fail_msg("grant '%s': %s", name, err.msg);
	return added;
}

static void cert__grant_checks_by_name_never_as_a_token(void **state)
{
	struct fx *fx = *state;
	char *tok = create(fx->path, "ci", O8_APITOKEN_WRITE), hex[65], line[128];
	struct o8_apitoken_set *set = NULL;
	struct o8_err err = O8_ERR_INIT;
	enum o8_apitoken_role role = O8_APITOKEN_NONE;
	struct stat st;

	assert_true(grant(fx->path, "alice", O8_APITOKEN_READ));
	assert_true(grant(fx->path, "ops@example.org", O8_APITOKEN_WRITE));
	sha256_hex(tok, hex);
	snprintf(line, sizeof(line), "write ci %s\nread alice cert\nwrite ops@example.org cert\n",
		 hex);
	assert_string_equal(slurp(fx->path), line);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_OK);
	assert_int_equal(o8_apitoken_count(set), 3);
	assert_true(o8_apitoken_check_cert(set, "alice", &role));
	assert_int_equal(role, O8_APITOKEN_READ);
	assert_true(o8_apitoken_check_cert(set, "ops@example.org", &role));
	assert_int_equal(role, O8_APITOKEN_WRITE);
	/* a token's name is no certificate grant, and unknown names have none */
	assert_false(o8_apitoken_check_cert(set, "ci", &role));
	assert_false(o8_apitoken_check_cert(set, "bob", NULL));
	assert_false(o8_apitoken_check_cert(set, NULL, NULL));
	assert_false(o8_apitoken_check_cert(NULL, "alice", NULL));
	/* a cert line is no token: not even a token whose hash would be all zeros */
	assert_true(o8_apitoken_check(set, tok, NULL, NULL));
	assert_false(o8_apitoken_check(set, "cert", NULL, NULL));
	assert_false(o8_apitoken_check(set, "o8a1.0000000000000000000000000000000000000000"
				       "000000000000000000000000", NULL, NULL));
	o8_apitoken_free(set);
	free(tok);
}

static void cert__grant_again_same_role_other_role_or_token(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	struct o8_apitoken_set *set = NULL;
	char *before, *tok, *again = NULL;
	bool added = true;

	spit(fx->path, "# operators\nread alice cert", 0600);  /* no final newline */
	tok = create(fx->path, "ci", O8_APITOKEN_READ);
	assert_memory_equal(slurp(fx->path), "# operators\nread alice cert\nread ci ", 36);
	before = strdup(slurp(fx->path));

	/* a renewal: the same role again changes nothing */
	assert_false(grant(fx->path, "alice", O8_APITOKEN_READ));
	assert_string_equal(slurp(fx->path), before);
	/* another role is for the operator to edit, not for a renewal to flip */
	assert_int_equal(o8_apitoken_grant_cert(fx->path, "alice", O8_APITOKEN_WRITE, &added,
						&err), O8_ECONFLICT);
	assert_false(added);
	assert_non_null(strstr(err.msg, "grants role read"));
	/* names are unique across kinds, both ways */
	o8_err_clear(&err);
	assert_int_equal(o8_apitoken_grant_cert(fx->path, "ci", O8_APITOKEN_READ, &added, &err),
			 O8_ECONFLICT);
	assert_non_null(strstr(err.msg, "already has a token named 'ci'"));
	o8_err_clear(&err);
	assert_int_equal(o8_apitoken_create(&again, fx->path, "alice", O8_APITOKEN_READ, &err),
			 O8_ECONFLICT);
	assert_null(again);
	assert_non_null(strstr(err.msg, "certificate 'alice'"));
	/* bad input */
	o8_err_clear(&err);
	assert_int_equal(o8_apitoken_grant_cert(fx->path, "a/b", O8_APITOKEN_READ, NULL, &err),
			 O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_apitoken_grant_cert(fx->path, "bob", O8_APITOKEN_NONE, NULL, &err),
			 O8_EINVALID);
	assert_string_equal(slurp(fx->path), before);

	/* a set loaded before a grant sees it after a refresh */
	assert_int_equal(o8_apitoken_load(&set, fx->path, &err), O8_OK);
	assert_false(o8_apitoken_check_cert(set, "bob", NULL));
	assert_true(grant(fx->path, "bob", O8_APITOKEN_WRITE));
	assert_int_equal(o8_apitoken_refresh(set, &err), O8_OK);
	assert_true(o8_apitoken_check_cert(set, "bob", NULL));
	o8_apitoken_free(set);
	free(before);
	free(tok);
}

static void roles__parse_and_names(void **state)
{
	enum o8_apitoken_role r = O8_APITOKEN_NONE;

	(void)state;
	assert_true(o8_apitoken_role_parse("read", &r) && r == O8_APITOKEN_READ);
	assert_true(o8_apitoken_role_parse("write", &r) && r == O8_APITOKEN_WRITE);
	assert_false(o8_apitoken_role_parse("admin", &r));
	assert_false(o8_apitoken_role_parse("Read", &r));
	assert_string_equal(o8_apitoken_role_name(O8_APITOKEN_WRITE), "write");
	assert_true(o8_apitoken_name_ok("ci-bot.prod_1@ops"));
	assert_false(o8_apitoken_name_ok(""));
	assert_false(o8_apitoken_name_ok("a b"));
	assert_false(o8_apitoken_name_ok("0123456789012345678901234567890123456789"
					 "0123456789012345678901234"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create__only_the_hash_on_a_0600_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(check__role_name_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(create__refuses_duplicates_and_bad_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(create__keeps_comments_and_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(load__missing_file_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(load__malformed_line_names_line_and_column, setup,
						teardown),
		cmocka_unit_test_setup_teardown(load__refuses_a_file_open_to_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(refresh__sees_new_and_removed_tokens_and_fails_closed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(create__concurrent_creations_all_land, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cert__grant_checks_by_name_never_as_a_token, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cert__grant_again_same_role_other_role_or_token,
						setup, teardown),
		cmocka_unit_test(roles__parse_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
