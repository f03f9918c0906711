/*
 * test_load.c - o8_model_load_dir reads exactly the operator's YAML files,
 * refuses what could escape or hang (symlinks out of the root, FIFOs, huge
 * files), classifies documents and gives the same answer on any number of
 * threads (lib/repo/model.h).  Every test builds its own repository with mkdtemp.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* nftw, asprintf, open_memstream */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo/model.h"

/* A temporary repository: root (and a sibling dir outside it). */
struct repo {
	char root[PATH_MAX];
	char outside[PATH_MAX];
};

static void tmpdir(char *out, size_t len)
{
	const char *t = getenv("TMPDIR");

	snprintf(out, len, "%s/o8-test-load-XXXXXX", t && *t ? t : "/tmp");
	assert_non_null(mkdtemp(out));
}

static int setup(void **state)
{
	struct repo *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	tmpdir(r->root, sizeof(r->root));
	tmpdir(r->outside, sizeof(r->outside));
	*state = r;
	/* A loader that blocks on a FIFO must fail the test, not hang CI. */
	alarm(60);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct repo *r = *state;

	alarm(0);
	nftw(r->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(r->outside, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(r);
	return 0;
}

static void join(char *out, size_t len, const char *dir, const char *rel)
{
	int n = snprintf(out, len, "%s/%s", dir, rel);

	assert_true(n > 0 && (size_t)n < len);
}

/* mkdir -p for the parents of rel under dir */
static void mkparents(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	char *p;

	join(path, sizeof(path), dir, rel);
	for (p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
}

static void put(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	mkparents(dir, rel);
	join(path, sizeof(path), dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void link_to(const char *dir, const char *rel, const char *target)
{
	char path[PATH_MAX];

	mkparents(dir, rel);
	join(path, sizeof(path), dir, rel);
	if (symlink(target, path))
		fail_msg("symlink %s: %s", path, strerror(errno));
}

/* A minimal document of kind in network "lab" (the loader does not check
   spec, so any spec will do). */
static char *doc(const char *kind, const char *name)
{
	char *s;

	if (!strcmp(kind, "Network"))
		assert_true(asprintf(&s, "apiVersion: orc8r/v1\nkind: Network\n"
				     "metadata:\n  name: %s\nspec: {}\n", name) > 0);
	else
		assert_true(asprintf(&s, "apiVersion: orc8r/v1\nkind: %s\n"
				     "metadata:\n  name: %s\n  network: lab\n"
				     "spec: {}\n", kind, name) > 0);
	return s;
}

static void put_doc(const char *dir, const char *rel, const char *kind,
		    const char *name)
{
	char *s = doc(kind, name);

	put(dir, rel, s);
	free(s);
}

struct loaded {
	struct o8_model *m;
	struct o8_diags diags;
	struct o8_err err;
	enum o8_rc rc;
};

static void load_opts(struct loaded *l, const char *root, const struct o8_load_opts *o)
{
	memset(l, 0, sizeof(*l));
	l->rc = o8_model_load_dir(&l->m, root, o, &l->diags, &l->err);
}

static void load(struct loaded *l, const char *root)
{
	load_opts(l, root, NULL);
	assert_int_equal(l->rc, O8_OK);
	assert_non_null(l->m);
}

static void load_done(struct loaded *l)
{
	o8_model_free(l->m);
	o8_diags_free(&l->diags);
}

/* The first object named name, or NULL. */
static const struct o8_obj *find(const struct o8_model *m, const char *name)
{
	size_t i;

	for (i = 0; i < o8_model_nobjs(m); i++) {
		const struct o8_obj *o = o8_model_obj(m, i);
		if (o->name && !strcmp(o->name, name))
			return o;
	}
	return NULL;
}

/* Index of the first finding about `what` (in its file or its message). */
static long diag_about(const struct o8_diags *d, const char *what)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strstr(d->v[i].file, what) || strstr(d->v[i].msg, what))
			return (long)i;
	return -1;
}

static void print_diags(const struct o8_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		print_message("  diag: %s:%u:%u: %s\n", d->v[i].file, d->v[i].line,
			      d->v[i].col, d->v[i].msg);
}

static void assert_no_diags(const struct o8_diags *d)
{
	print_diags(d);
	assert_int_equal(d->n, 0);
}

static void load__finds_yaml_and_yml_only(void **state)
{
	struct repo *r = *state;
	struct loaded l;
	size_t i;

	put_doc(r->root, "a.yaml", "Gateway", "a");
	put_doc(r->root, "n/b.yml", "Gateway", "b");
	put_doc(r->root, "n/deep/er/c.yaml", "Gateway", "c");
	put_doc(r->root, "dir.yaml/d.yaml", "Gateway", "d");   /* a directory */
	put_doc(r->root, "notes.txt", "Gateway", "x1");
	put_doc(r->root, "a.yaml.bak", "Gateway", "x2");
	put_doc(r->root, "yaml", "Gateway", "x3");
	put_doc(r->root, "n/README.md", "Gateway", "x4");
	put_doc(r->root, "n/c.yaml~", "Gateway", "x5");
	put_doc(r->root, "n/cyaml", "Gateway", "x6");

	load(&l, r->root);
	assert_no_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), 4);
	assert_int_equal(o8_model_nfiles(l.m), 4);
	assert_string_equal(find(l.m, "a")->file, "a.yaml");
	assert_string_equal(find(l.m, "b")->file, "n/b.yml");
	assert_string_equal(find(l.m, "c")->file, "n/deep/er/c.yaml");
	assert_string_equal(find(l.m, "d")->file, "dir.yaml/d.yaml");
	for (i = 0; i < o8_model_nobjs(l.m); i++)
		assert_int_equal(o8_model_obj(l.m, i)->name[0] != 'x', 1);
	load_done(&l);
}

static void load__skips_dot_directories(void **state)
{
	struct repo *r = *state;
	struct loaded l;

	put_doc(r->root, ".git/x.yaml", "Gateway", "x1");
	put_doc(r->root, ".orc8r/config.yaml", "Gateway", "x2");
	put_doc(r->root, "net/.hidden/y.yaml", "Gateway", "x3");
	put(r->root, ".orc8r/repo.yaml", "apiVersion: orc8r/v1\nkind: RepoConfig\n");
	put_doc(r->root, "net/z.yaml", "Gateway", "z");

	load(&l, r->root);
	assert_no_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), 1);
	assert_string_equal(o8_model_obj(l.m, 0)->name, "z");
	assert_string_equal(o8_model_obj(l.m, 0)->file, "net/z.yaml");
	load_done(&l);
}

static void load__symlink_out_of_root_refused(void **state)
{
	struct repo *r = *state;
	char target[PATH_MAX], rel[PATH_MAX];
	struct loaded l;

	put_doc(r->outside, "evil.yaml", "Gateway", "evil");
	put_doc(r->root, "ok.yaml", "Gateway", "ok");

	join(target, sizeof(target), r->outside, "evil.yaml");
	link_to(r->root, "abs-link.yaml", target);      /* absolute */
	snprintf(rel, sizeof(rel), "../../%s/evil.yaml", strrchr(r->outside, '/') + 1);
	link_to(r->root, "n/rel-link.yaml", rel);       /* relative, via .. */

	load(&l, r->root);
	print_diags(&l.diags);
	assert_null(find(l.m, "evil"));
	assert_non_null(find(l.m, "ok"));
	assert_int_equal(o8_model_nobjs(l.m), 1);
	assert_true(diag_about(&l.diags, "abs-link.yaml") >= 0);
	assert_true(diag_about(&l.diags, "rel-link.yaml") >= 0);
	load_done(&l);
}

/*
 * A link to a directory outside the root must not be walked, and must not
 * be dropped silently either: the operator would believe the files behind
 * it were validated.
 */
static void load__symlink_dir_out_of_root_reported(void **state)
{
	struct repo *r = *state;
	char target[PATH_MAX];
	struct loaded l;

	put_doc(r->outside, "sub/evil2.yaml", "Gateway", "evil2");
	put_doc(r->root, "ok.yaml", "Gateway", "ok");
	join(target, sizeof(target), r->outside, "sub");
	link_to(r->root, "networks/dir-link", target);

	load(&l, r->root);
	print_diags(&l.diags);
	assert_null(find(l.m, "evil2"));
	assert_int_equal(o8_model_nobjs(l.m), 1);
	assert_true(diag_about(&l.diags, "dir-link") >= 0);
	load_done(&l);
}

static void load__symlink_inside_root_followed(void **state)
{
	struct repo *r = *state;
	char target[PATH_MAX];
	struct loaded l;

	/* the targets are not YAML by name, so only the links load them */
	put_doc(r->root, "store/gw.txt", "Gateway", "via-link");
	put_doc(r->root, "store/enb.data", "ENodeB", "via-abs-link");
	link_to(r->root, "n/gw.yaml", "../store/gw.txt");
	join(target, sizeof(target), r->root, "store/enb.data");
	link_to(r->root, "enb.yaml", target);

	load(&l, r->root);
	assert_no_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), 2);
	assert_string_equal(find(l.m, "via-link")->file, "n/gw.yaml");
	assert_string_equal(find(l.m, "via-abs-link")->file, "enb.yaml");
	load_done(&l);
}

static void load__symlink_loops_terminate(void **state)
{
	struct repo *r = *state;
	struct loaded l;

	put_doc(r->root, "a.yaml", "Gateway", "a");
	link_to(r->root, "self.yaml", "self.yaml");
	link_to(r->root, "ping.yaml", "pong.yaml");
	link_to(r->root, "pong.yaml", "ping.yaml");
	link_to(r->root, "d/up", "..");         /* a directory cycle */

	load(&l, r->root);
	print_diags(&l.diags);
	assert_non_null(find(l.m, "a"));
	/* at most a bounded number of copies of a.yaml, never an endless walk */
	assert_true(o8_model_nobjs(l.m) < 10);
	assert_true(diag_about(&l.diags, "self.yaml") >= 0);
	load_done(&l);
}

static void load__fifo_refused(void **state)
{
	struct repo *r = *state;
	char path[PATH_MAX];
	struct loaded l;

	put_doc(r->root, "ok.yaml", "Gateway", "ok");
	join(path, sizeof(path), r->root, "pipe.yaml");
	assert_int_equal(mkfifo(path, 0644), 0);

	load(&l, r->root);
	print_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), 1);
	assert_non_null(find(l.m, "ok"));
	assert_true(diag_about(&l.diags, "pipe.yaml") >= 0);
	load_done(&l);
}

static void load__file_size_limit(void **state)
{
	struct o8_load_opts opts = O8_LOAD_OPTS_INIT;
	struct repo *r = *state;
	char text[512];
	struct loaded l;
	long i;
	int n;

	/* at the limit: loaded */
	n = snprintf(text, sizeof(text), "apiVersion: orc8r/v1\nkind: Network\n"
		     "metadata: {name: fits}\n#");
	memset(text + n, 'p', (size_t)(200 - n - 1));
	text[199] = '\n';
	text[200] = '\0';
	put(r->root, "fits.yaml", text);
	/* one byte over: refused */
	n = snprintf(text, sizeof(text), "apiVersion: orc8r/v1\nkind: Network\n"
		     "metadata: {name: big}\n#");
	memset(text + n, 'p', (size_t)(201 - n - 1));
	text[200] = '\n';
	text[201] = '\0';
	put(r->root, "big.yaml", text);

	opts.max_file_bytes = 200;
	load_opts(&l, r->root, &opts);
	assert_int_equal(l.rc, O8_OK);
	print_diags(&l.diags);
	assert_non_null(find(l.m, "fits"));
	assert_null(find(l.m, "big"));
	assert_int_equal(l.diags.n, 1);
	i = diag_about(&l.diags, "big.yaml");
	assert_true(i >= 0);
	assert_null(strstr(l.diags.v[i].file, "fits"));
	load_done(&l);

	/* default limit (64 MiB): both load */
	load(&l, r->root);
	assert_no_diags(&l.diags);
	assert_non_null(find(l.m, "big"));
	load_done(&l);
}

static void load__sorted_by_path_then_document(void **state)
{
	static const struct {
		const char *file, *name;
		unsigned line;
	} want[] = {
		{ "B.yaml", "upper", 1 },       /* strcmp: 'B' < 'a' */
		{ "a.yaml", "a1", 1 },
		{ "a.yaml", "a0", 8 },
		{ "a/z.yaml", "az", 1 },        /* '.' < '/' */
		{ "a_b.yaml", "ab", 1 },
		{ "b.yml", "b", 1 },
		{ "sub/c.yaml", "c", 1 },
	};
	struct repo *r = *state;
	struct loaded l;
	char *d1, *d2, *two;
	size_t i;

	put_doc(r->root, "sub/c.yaml", "APN", "c");
	put_doc(r->root, "b.yml", "APN", "b");
	put_doc(r->root, "a_b.yaml", "APN", "ab");
	put_doc(r->root, "a/z.yaml", "APN", "az");
	d1 = doc("APN", "a1");
	d2 = doc("APN", "a0");
	assert_true(asprintf(&two, "%s---\n%s", d1, d2) > 0);
	put(r->root, "a.yaml", two);
	free(d1);
	free(d2);
	free(two);
	put_doc(r->root, "B.yaml", "APN", "upper");

	load(&l, r->root);
	assert_no_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct o8_obj *o = o8_model_obj(l.m, i);
		assert_string_equal(o->file, want[i].file);
		assert_string_equal(o->name, want[i].name);
		assert_int_equal(o->line, want[i].line);
	}
	load_done(&l);
}

static void load__kinds_names_networks(void **state)
{
	static const struct {
		const char *kind;
		enum o8_kind k;
	} kinds[] = {
		{ "Network", O8_KIND_NETWORK },
		{ "Gateway", O8_KIND_GATEWAY },
		{ "ENodeB", O8_KIND_ENODEB },
		{ "APN", O8_KIND_APN },
		{ "Subscriber", O8_KIND_SUBSCRIBER },
		{ "SubscriberSet", O8_KIND_SUBSCRIBERSET },
		{ "PolicyRule", O8_KIND_POLICYRULE },
		{ "Tier", O8_KIND_TIER },
	};
	struct repo *r = *state;
	struct loaded l;
	char *all = NULL, name[32];
	size_t i, len = 0;
	FILE *f;

	f = open_memstream(&all, &len);
	assert_non_null(f);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char *d;
		snprintf(name, sizeof(name), "obj-%zu", i);
		d = doc(kinds[i].kind, name);
		fprintf(f, "%s%s", i ? "---\n" : "", d);
		free(d);
	}
	/* leading comment and a document without spec */
	fprintf(f, "---\n# no spec here\napiVersion: orc8r/v1\nkind: Tier\n"
		"metadata: {name: nospec, network: other}\n");
	assert_int_equal(fclose(f), 0);
	put(r->root, "n/all.yaml", all);
	free(all);

	load(&l, r->root);
	assert_no_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), 9);
	for (i = 0; i < 8; i++) {
		const struct o8_obj *o = o8_model_obj(l.m, i);
		/* the Network doc is 5 lines, the others 6, each after a "---" */
		unsigned first = i == 0 ? 1 : 7 + 7 * ((unsigned)i - 1);
		snprintf(name, sizeof(name), "obj-%zu", i);
		assert_int_equal(o->kind, kinds[i].k);
		assert_string_equal(o->name, name);
		/* a Network's network is its own name */
		assert_string_equal(o->network, i == 0 ? "obj-0" : "lab");
		assert_string_equal(o->file, "n/all.yaml");
		assert_non_null(o->root);
		assert_true(o->spec == o8_node_get(o->root, "spec"));
		assert_non_null(o->spec);
		assert_int_equal(o->line, first);
		assert_int_equal(o->col, 1);
		assert_int_equal(o->root->line, o->line);
	}
	assert_string_equal(o8_node_str(o8_node_path(o8_model_obj(l.m, 3)->root,
						     "metadata.name")), "obj-3");
	assert_int_equal(o8_model_obj(l.m, 8)->kind, O8_KIND_TIER);
	assert_string_equal(o8_model_obj(l.m, 8)->network, "other");
	assert_null(o8_model_obj(l.m, 8)->spec);
	assert_int_equal(o8_model_obj(l.m, 8)->line, 57);  /* after the comment */
	load_done(&l);
}

static void load__bad_kind_and_api_version(void **state)
{
	struct repo *r = *state;
	struct loaded l;
	long i;

	put(r->root, "bad.yaml",
	    "apiVersion: orc8r/v1\n"            /* 1 */
	    "kind: Gatway\n"                    /* 2 */
	    "metadata: {name: typo, network: lab}\n"
	    "---\n"
	    "apiVersion: orc8r/v2\n"            /* 5 */
	    "kind: Gateway\n"
	    "metadata: {name: future, network: lab}\n"
	    "---\n"
	    "apiVersion: orc8r/v1\n"            /* 9 */
	    "kind: gateway\n"                   /* 10: case matters */
	    "metadata: {name: lower, network: lab}\n");
	put_doc(r->root, "good.yaml", "Gateway", "good");

	load(&l, r->root);
	print_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), 4);
	assert_int_equal(o8_model_obj(l.m, 0)->kind, O8_KIND_NONE);
	assert_int_equal(o8_model_obj(l.m, 1)->kind, O8_KIND_NONE);
	assert_int_equal(o8_model_obj(l.m, 2)->kind, O8_KIND_NONE);
	assert_int_equal(o8_model_obj(l.m, 3)->kind, O8_KIND_GATEWAY);
	assert_int_equal(l.diags.n, 3);
	o8_diags_sort(&l.diags);
	for (i = 0; i < 3; i++)
		assert_string_equal(l.diags.v[i].file, "bad.yaml");
	assert_int_equal(l.diags.v[0].line, 2);
	assert_non_null(strstr(l.diags.v[0].msg, "Gatway"));
	assert_int_equal(l.diags.v[1].line, 5);
	assert_non_null(strstr(l.diags.v[1].msg, "orc8r/v2"));
	assert_int_equal(l.diags.v[2].line, 10);
	load_done(&l);
}

static void load__not_an_object(void **state)
{
	struct repo *r = *state;
	struct loaded l;

	put(r->root, "list.yaml", "- a\n- b\n");
	put(r->root, "scalar.yaml", "hello\n");
	put(r->root, "nokind.yaml", "apiVersion: orc8r/v1\nmetadata: {name: x}\n");
	put(r->root, "syntax.yaml", "a: [\n");
	put_doc(r->root, "z.yaml", "Gateway", "z");

	load(&l, r->root);
	print_diags(&l.diags);
	assert_true(diag_about(&l.diags, "list.yaml") >= 0);
	assert_true(diag_about(&l.diags, "scalar.yaml") >= 0);
	assert_true(diag_about(&l.diags, "nokind.yaml") >= 0);
	assert_true(diag_about(&l.diags, "syntax.yaml") >= 0);
	/* the good file still loads */
	assert_int_equal(find(l.m, "z")->kind, O8_KIND_GATEWAY);
	load_done(&l);
}

/* Everything observable about a load, for comparing two of them. */
static void assert_same(const struct loaded *a, const struct loaded *b)
{
	size_t i;

	assert_int_equal(a->rc, b->rc);
	assert_int_equal(o8_model_nobjs(a->m), o8_model_nobjs(b->m));
	assert_int_equal(o8_model_nfiles(a->m), o8_model_nfiles(b->m));
	for (i = 0; i < o8_model_nobjs(a->m); i++) {
		const struct o8_obj *x = o8_model_obj(a->m, i), *y = o8_model_obj(b->m, i);
		assert_int_equal(x->kind, y->kind);
		assert_string_equal(x->file, y->file);
		assert_int_equal(x->line, y->line);
		assert_int_equal(x->col, y->col);
		assert_true((x->name == NULL) == (y->name == NULL));
		if (x->name)
			assert_string_equal(x->name, y->name);
		assert_true((x->network == NULL) == (y->network == NULL));
		if (x->network)
			assert_string_equal(x->network, y->network);
		assert_true((x->spec == NULL) == (y->spec == NULL));
		if (x->spec)
			assert_int_equal(x->spec->n, y->spec->n);
	}
	assert_int_equal(a->diags.n, b->diags.n);
	for (i = 0; i < a->diags.n; i++) {
		assert_string_equal(a->diags.v[i].file, b->diags.v[i].file);
		assert_int_equal(a->diags.v[i].line, b->diags.v[i].line);
		assert_int_equal(a->diags.v[i].col, b->diags.v[i].col);
		assert_string_equal(a->diags.v[i].msg, b->diags.v[i].msg);
	}
}

static void load__threads_give_identical_results(void **state)
{
	struct o8_load_opts one = O8_LOAD_OPTS_INIT, two = O8_LOAD_OPTS_INIT,
			    any = O8_LOAD_OPTS_INIT;
	struct repo *r = *state;
	struct loaded a, b, c;
	char rel[64], name[64];
	unsigned i, j;

	for (i = 0; i < 40; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		assert_non_null(f);
		for (j = 0; j < 3; j++) {
			char *d;
			snprintf(name, sizeof(name), "gw-%u-%u", i, j);
			d = doc(j == 1 ? "Subscriber" : "Gateway", name);
			fprintf(f, "%s%s", j ? "---\n" : "", d);
			free(d);
		}
		if (i % 7 == 3)         /* some files have errors too */
			fprintf(f, "---\napiVersion: orc8r/v1\nkind: Nope\n");
		if (i % 11 == 5)
			fprintf(f, "---\nbroken: [\n");
		assert_int_equal(fclose(f), 0);
		snprintf(rel, sizeof(rel), "net%u/sub%u/f%u.yaml", i % 4, i % 3, i);
		put(r->root, rel, text);
		free(text);
	}
	one.threads = 1;
	two.threads = 2;
	any.threads = 0;
	load_opts(&a, r->root, &one);
	load_opts(&b, r->root, &two);
	load_opts(&c, r->root, &any);
	assert_int_equal(a.rc, O8_OK);
	assert_true(o8_model_nobjs(a.m) >= 120);
	assert_true(a.diags.n >= 8);
	o8_diags_sort(&a.diags);
	o8_diags_sort(&b.diags);
	o8_diags_sort(&c.diags);
	assert_same(&a, &b);
	assert_same(&a, &c);
	load_done(&a);
	load_done(&b);
	load_done(&c);
}

static void load__example_repository(void **state)
{
	struct o8_load_opts one = O8_LOAD_OPTS_INIT, two = O8_LOAD_OPTS_INIT;
	const char *src = getenv("O8_SOURCE_DIR");
	char root[PATH_MAX];
	struct loaded a, b;
	const struct o8_obj *o;

	(void)state;
	assert_non_null(src);
	join(root, sizeof(root), src, "examples/networks");
	one.threads = 1;
	two.threads = 2;
	load_opts(&a, root, &one);
	load_opts(&b, root, &two);
	assert_int_equal(a.rc, O8_OK);
	assert_no_diags(&a.diags);
	/* .orc8r/config.yaml (kind RepoConfig) is not part of the model */
	assert_int_equal(o8_model_nfiles(a.m), 8);
	assert_int_equal(o8_model_nobjs(a.m), 14);
	o = o8_model_obj(a.m, 0);
	assert_string_equal(o->file, "networks/lab/apns.yaml");
	assert_int_equal(o->kind, O8_KIND_APN);
	assert_string_equal(o->name, "internet");
	o = find(a.m, "agw-berlin-1");
	assert_int_equal(o->kind, O8_KIND_GATEWAY);
	assert_int_equal(o->line, 2);   /* after the comment line */
	assert_string_equal(o->network, "lab");
	o = find(a.m, "lab-sims");
	assert_int_equal(o->kind, O8_KIND_SUBSCRIBERSET);
	assert_int_equal(o8_node_get(o->spec, "subscribers")->n, 98);
	assert_same(&a, &b);
	load_done(&a);
	load_done(&b);
}

static void load__root_errors(void **state)
{
	struct repo *r = *state;
	char path[PATH_MAX];
	struct loaded l;

	join(path, sizeof(path), r->root, "does-not-exist");
	load_opts(&l, path, NULL);
	assert_int_equal(l.rc, O8_ERR);
	assert_int_not_equal(l.err.rc, O8_OK);
	assert_true(strlen(l.err.msg) > 0);
	load_done(&l);

	put(r->root, "file.yaml", "a: 1\n");
	join(path, sizeof(path), r->root, "file.yaml");
	load_opts(&l, path, NULL);
	assert_int_equal(l.rc, O8_ERR);
	assert_int_not_equal(l.err.rc, O8_OK);
	load_done(&l);

	/* an empty repository is valid and empty */
	join(path, sizeof(path), r->root, "empty");
	assert_int_equal(mkdir(path, 0755), 0);
	load_opts(&l, path, NULL);
	assert_int_equal(l.rc, O8_OK);
	assert_int_equal(o8_model_nobjs(l.m), 0);
	assert_int_equal(l.diags.n, 0);
	load_done(&l);

	o8_model_free(NULL);
}

static void load__from_memory(void **state)
{
	struct o8_load_opts opts = O8_LOAD_OPTS_INIT;
	struct o8_src srcs[2];
	struct loaded l;
	char *a = doc("Network", "lab"), *b = doc("APN", "internet");
	size_t alen = strlen(a), blen = strlen(b);
	char *ca = malloc(alen), *cb = malloc(blen);

	(void)state;
	/* exact-length copies without a NUL: ASan catches reading past them */
	assert_non_null(ca);
	assert_non_null(cb);
	memcpy(ca, a, alen);
	memcpy(cb, b, blen);
	srcs[0] = (struct o8_src){ "networks/lab/apns.yaml", cb, blen };
	srcs[1] = (struct o8_src){ "networks/lab/network.yaml", ca, alen };
	opts.threads = 1;
	memset(&l, 0, sizeof(l));
	l.rc = o8_model_load_srcs(&l.m, srcs, 2, &opts, &l.diags, &l.err);
	/* buffers are copied: the caller may reuse them at once */
	memset(ca, 'X', alen);
	memset(cb, 'X', blen);
	free(ca);
	free(cb);
	assert_int_equal(l.rc, O8_OK);
	assert_no_diags(&l.diags);
	assert_int_equal(o8_model_nobjs(l.m), 2);
	assert_int_equal(o8_model_nfiles(l.m), 2);
	assert_string_equal(o8_model_obj(l.m, 0)->file, "networks/lab/apns.yaml");
	assert_string_equal(o8_model_obj(l.m, 0)->name, "internet");
	assert_int_equal(o8_model_obj(l.m, 1)->kind, O8_KIND_NETWORK);
	assert_string_equal(o8_model_obj(l.m, 1)->network, "lab");
	load_done(&l);
	free(a);
	free(b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(load__finds_yaml_and_yml_only),
		T(load__skips_dot_directories),
		T(load__symlink_out_of_root_refused),
		T(load__symlink_dir_out_of_root_reported),
		T(load__symlink_inside_root_followed),
		T(load__symlink_loops_terminate),
		T(load__fifo_refused),
		T(load__file_size_limit),
		T(load__sorted_by_path_then_document),
		T(load__kinds_names_networks),
		T(load__bad_kind_and_api_version),
		T(load__not_an_object),
		T(load__threads_give_identical_results),
		cmocka_unit_test(load__example_repository),
		T(load__root_errors),
		cmocka_unit_test(load__from_memory),
	};

	return cmocka_run_group_tests_name("load", tests, NULL, NULL);
}
