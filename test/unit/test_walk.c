/* walk: the work tree's configuration files (lib/repo/walk.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo/walk.h"

struct tree {
	char root[PATH_MAX];
	char real[PATH_MAX];
	char list[4096];        /* "path path ...", as the walk found them */
	size_t off;
	int fail_after;         /* on_file fails from this call on; -1: never */
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int r;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
	free(cmd);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	const char *tmp = getenv("TMPDIR");

	if (!t)
		return -1;
	snprintf(t->root, sizeof(t->root), "%s/o8-test-walk-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->root) || !realpath(t->root, t->real))
		return -1;
	t->fail_after = -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	char out[PATH_MAX + 16];

	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(out, sizeof(out), "%s.out.yaml", t->root);
	remove(out);
	free(t);
	return 0;
}

static int on_file(void *payload, const struct o8_walk_file *f)
{
	struct tree *t = payload;

	if (t->fail_after == 0)
		return -1;
	if (t->fail_after > 0)
		t->fail_after--;
	assert_non_null(f->st);
	t->off += (size_t)snprintf(t->list + t->off, sizeof(t->list) - t->off, "%s%s%s",
				   t->off ? " " : "", f->path, f->abs ? "@" : "");
	return 0;
}

static enum o8_rc walk(struct tree *t, struct o8_walk *w, struct o8_diags *d,
		       struct o8_err *err)
{
	int fd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum o8_rc rc;

	assert_true(fd >= 0);
	*w = (struct o8_walk){ .root = t->root, .real_root = t->real,
			       .on_file = on_file, .payload = t };
	rc = o8_walk_tree(w, fd, d, err);
	close(fd);
	return rc;
}

static const char *diag_of(const struct o8_diags *d, const char *file)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].file, file))
			return d->v[i].msg;
	return NULL;
}

static void walk__the_rules(void **state)
{
	struct tree *t = *state;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_walk w;

	sh("cd '%s' && mkdir -p b a/z .hidden sub/x && touch b/n.yaml a.yaml a/z/m.yml "
	   "notes.txt .top.yaml .hidden/x.yaml .gitattributes sub/x/y.yaml && "
	   "git init -q sub && ln -s a.yaml l.yaml && touch '%s.out.yaml' && "
	   "ln -s '%s.out.yaml' out.yaml && ln -s a dir", t->root, t->root, t->root);
	assert_int_equal(walk(t, &w, &d, &err), O8_OK);
	/* sorted within each directory; the link's target resolved */
	assert_string_equal(t->list, "a/z/m.yml a.yaml b/n.yaml l.yaml@");
	assert_true(w.saw_attributes);
	assert_string_equal(diag_of(&d, "sub"),
			    "submodule is not read as configuration, refusing it; copy its files into this repository");
	assert_string_equal(diag_of(&d, "out.yaml"),
			    "symbolic link points outside the repository, refusing to read it");
	assert_string_equal(diag_of(&d, "dir"),
			    "symbolic link to a directory is not followed; link the files instead");
	assert_int_equal(d.n, 3);
	o8_diags_free(&d);
}

static void walk__too_deep(void **state)
{
	struct tree *t = *state;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char deep[PATH_MAX] = "", rel[PATH_MAX];
	struct o8_walk w;
	int i;

	for (i = 0; i <= O8_WALK_MAX_DEPTH; i++)
		strcat(deep, "d/");
	sh("mkdir -p '%s/%s' && touch '%s/%sx.yaml'", t->root, deep, t->root, deep);
	assert_int_equal(walk(t, &w, &d, &err), O8_OK);
	assert_string_equal(t->list, "");
	snprintf(rel, sizeof(rel), "%.*s", 2 * O8_WALK_MAX_DEPTH + 1, deep);
	assert_string_equal(diag_of(&d, rel), "directories nested deeper than 32 levels, ignoring");
	assert_int_equal(d.n, 1);
	o8_diags_free(&d);
}

static void walk__callback_failure_is_out_of_memory(void **state)
{
	struct tree *t = *state;
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_walk w;

	sh("touch '%s/a.yaml' '%s/b.yaml'", t->root, t->root);
	t->fail_after = 1;
	assert_int_equal(walk(t, &w, &d, &err), O8_ERR);
	assert_string_equal(err.msg, "out of memory");
	assert_string_equal(t->list, "a.yaml");
	o8_diags_free(&d);
}

static void walk__config_names(void **state)
{
	(void)state;
	assert_true(o8_walk_is_config_name("a.yaml"));
	assert_true(o8_walk_is_config_name("a.yml"));
	assert_false(o8_walk_is_config_name(".yaml"));
	assert_false(o8_walk_is_config_name("a.yaml~"));
	assert_false(o8_walk_is_config_name("yml"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(walk__the_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(walk__too_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(walk__callback_failure_is_out_of_memory, setup, teardown),
		cmocka_unit_test(walk__config_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
