/*
 * test_yaml.c - o8_yaml_parse keeps exact 1-based positions, refuses
 * aliases and deep nesting, reports syntax errors where they are, and the
 * node accessors follow lib/repo/yaml.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "repo/yaml.h"

/* One parse: its arena, documents and findings. */
struct parse {
	struct o8_arena arena;
	struct o8_ydoc *docs;
	size_t ndocs;
	struct o8_diags diags;
	struct o8_err err;
};

/*
 * Parses the first len bytes of text from a heap copy that is exactly len
 * bytes long and not NUL-terminated, so ASan catches a read past the end.
 */
static void parse_lim(struct parse *p, const char *text, size_t len,
		      const struct o8_yaml_limits *lim)
{
	char *copy = malloc(len ? len : 1);
	enum o8_rc rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	memset(p, 0, sizeof(*p));
	rc = o8_yaml_parse(&p->docs, &p->ndocs, &p->arena, "t.yaml", copy, len,
			   lim, &p->diags, &p->err);
	/* The tree lives in the arena, not in the caller's buffer. */
	memset(copy, 'X', len);
	free(copy);
	assert_int_equal(rc, O8_OK);
	assert_int_equal(p->err.rc, O8_OK);
}

static void parse(struct parse *p, const char *text)
{
	struct o8_yaml_limits lim = O8_YAML_LIMITS_INIT;

	parse_lim(p, text, strlen(text), &lim);
}

static void parse_done(struct parse *p)
{
	o8_diags_free(&p->diags);
	o8_arena_free(&p->arena);
}

static void assert_at(const struct o8_node *n, unsigned line, unsigned col)
{
	assert_non_null(n);
	assert_int_equal(n->line, line);
	assert_int_equal(n->col, col);
}

static const char gateway_doc[] =
	"apiVersion: orc8r/v1\n"          /* 1 */
	"kind: Gateway\n"                 /* 2 */
	"metadata:\n"                     /* 3 */
	"  name: \"agw-1\"\n"             /* 4 */
	"  labels: {site: berlin}\n"      /* 5 */
	"spec:\n"                         /* 6 */
	"  list:\n"                       /* 7 */
	"    - a\n"                       /* 8 */
	"    - 'b'\n"                     /* 9 */
	"  n: 42\n"                       /* 10 */
	"  empty:\n"                      /* 11 */
	"  block: |\n"                    /* 12 */
	"    text\n"                      /* 13 */
	"  folded: >\n"                   /* 14 */
	"    x\n"                         /* 15 */
	"  quoted: \"42\"\n";             /* 16 */

static void yaml__positions_are_exact(void **state)
{
	const struct o8_node *root, *md, *spec, *n;
	struct parse p;

	(void)state;
	parse(&p, gateway_doc);
	assert_int_equal(p.diags.n, 0);
	assert_int_equal(p.ndocs, 1);
	root = p.docs[0].root;
	assert_at(root, 1, 1);
	assert_int_equal(root->type, O8_N_MAP);
	assert_int_equal(root->n, 4);
	/* map kids are key, value, key, value... */
	assert_at(&root->u.kids[0], 1, 1);
	assert_string_equal(root->u.kids[0].u.str, "apiVersion");
	assert_at(&root->u.kids[1], 1, 13);
	assert_string_equal(root->u.kids[1].u.str, "orc8r/v1");
	assert_at(o8_node_get(root, "kind"), 2, 7);

	md = o8_node_get(root, "metadata");
	assert_at(md, 4, 3);
	assert_int_equal(md->type, O8_N_MAP);
	n = o8_node_get(md, "name");
	assert_at(n, 4, 9);             /* the opening quote */
	assert_int_equal(n->n, 5);
	assert_at(o8_node_get(md, "labels"), 5, 11);
	assert_at(o8_node_path(root, "metadata.labels.site"), 5, 18);

	spec = o8_node_get(root, "spec");
	assert_at(spec, 7, 3);
	n = o8_node_get(spec, "list");
	assert_at(n, 8, 5);             /* the first dash */
	assert_int_equal(n->type, O8_N_SEQ);
	assert_int_equal(n->n, 2);
	assert_at(&n->u.kids[0], 8, 7);
	assert_at(&n->u.kids[1], 9, 7);
	assert_at(o8_node_get(spec, "n"), 10, 6);
	assert_at(o8_node_get(spec, "block"), 12, 10);
	assert_at(o8_node_get(spec, "folded"), 14, 11);
	assert_at(o8_node_get(spec, "quoted"), 16, 11);
	parse_done(&p);
}

static void yaml__scalar_styles(void **state)
{
	const struct o8_node *spec, *n;
	struct parse p;

	(void)state;
	parse(&p, gateway_doc);
	spec = o8_node_get(p.docs[0].root, "spec");

	n = o8_node_get(spec, "n");
	assert_int_equal(n->type, O8_N_SCALAR);
	assert_int_equal(n->style, O8_S_PLAIN);
	assert_string_equal(n->u.str, "42");

	n = o8_node_get(spec, "quoted");
	assert_int_equal(n->style, O8_S_QUOTED);
	assert_string_equal(n->u.str, "42");
	assert_int_equal(n->n, 2);

	n = o8_node_get(spec, "list");
	assert_int_equal(n->u.kids[0].style, O8_S_PLAIN);
	assert_int_equal(n->u.kids[1].style, O8_S_QUOTED);   /* single quotes */
	assert_string_equal(n->u.kids[1].u.str, "b");

	n = o8_node_get(spec, "block");
	assert_int_equal(n->style, O8_S_BLOCK);
	assert_string_equal(n->u.str, "text\n");
	n = o8_node_get(spec, "folded");
	assert_int_equal(n->style, O8_S_BLOCK);
	assert_string_equal(n->u.str, "x\n");

	n = o8_node_get(spec, "empty");
	assert_non_null(n);
	assert_int_equal(n->type, O8_N_SCALAR);
	assert_true(o8_node_is_null(n));
	parse_done(&p);
}

static void yaml__escapes_decoded(void **state)
{
	const struct o8_node *n;
	struct parse p;

	(void)state;
	parse(&p, "a: \"x\\ty\\u00e9\"\n");
	n = o8_node_get(p.docs[0].root, "a");
	/* "x", tab, "y", U+00E9 as two UTF-8 bytes */
	assert_int_equal(n->n, 5);
	assert_memory_equal(n->u.str, "x\ty\xc3\xa9", 6);
	parse_done(&p);
}

static void yaml__multi_document(void **state)
{
	struct parse p;

	(void)state;
	parse(&p,
	      "a: 1\n"          /* 1 */
	      "---\n"           /* 2 */
	      "b: 2\n"          /* 3 */
	      "---\n"           /* 4 */
	      "- x\n");         /* 5 */
	assert_int_equal(p.diags.n, 0);
	assert_int_equal(p.ndocs, 3);
	assert_string_equal(o8_node_str(o8_node_get(p.docs[0].root, "a")), "1");
	assert_null(o8_node_get(p.docs[0].root, "b"));
	assert_string_equal(o8_node_str(o8_node_get(p.docs[1].root, "b")), "2");
	assert_int_equal(p.docs[1].line, 2);    /* the "---" */
	assert_at(p.docs[1].root, 3, 1);
	assert_int_equal(p.docs[2].line, 4);
	assert_int_equal(p.docs[2].root->type, O8_N_SEQ);
	assert_at(p.docs[2].root, 5, 1);
	parse_done(&p);
}

static void yaml__empty_documents(void **state)
{
	struct parse p;

	(void)state;
	parse(&p, "");
	assert_int_equal(p.ndocs, 0);
	assert_int_equal(p.diags.n, 0);
	parse_done(&p);

	parse(&p, "# only a comment\n\n");
	assert_int_equal(p.ndocs, 0);
	assert_int_equal(p.diags.n, 0);
	parse_done(&p);

	/* "---" alone is one document without content */
	parse(&p, "a: 1\n---\n");
	assert_int_equal(p.diags.n, 0);
	assert_int_equal(p.ndocs, 2);
	assert_non_null(p.docs[0].root);
	assert_true(p.docs[1].root == NULL || o8_node_is_null(p.docs[1].root));
	parse_done(&p);
}

static void yaml__alias_refused(void **state)
{
	struct parse p;

	(void)state;
	parse(&p,
	      "a: &x 1\n"
	      "b: *x\n");
	assert_true(p.diags.n >= 1);
	assert_string_equal(p.diags.v[0].file, "t.yaml");
	assert_int_equal(p.diags.v[0].line, 2);
	assert_int_equal(p.diags.v[0].col, 4);
	parse_done(&p);
}

static void yaml__alias_bomb_refused(void **state)
{
	struct parse p;

	(void)state;
	parse(&p,
	      "a: &a [x, x, x, x, x, x, x, x, x]\n"
	      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	      "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n");
	assert_true(p.diags.n >= 1);
	assert_int_equal(p.diags.v[0].line, 2);
	parse_done(&p);
}

static void yaml__anchor_without_alias_is_fine(void **state)
{
	struct parse p;

	(void)state;
	parse(&p,
	      "a: &x 1\n"
	      "b: &y {c: 2}\n");
	assert_int_equal(p.diags.n, 0);
	assert_int_equal(p.ndocs, 1);
	assert_string_equal(o8_node_str(o8_node_get(p.docs[0].root, "a")), "1");
	assert_string_equal(o8_node_str(o8_node_path(p.docs[0].root, "b.c")), "2");
	parse_done(&p);
}

/* depth nested flow sequences: "[[[ x ]]]" */
static char *nested(unsigned depth)
{
	char *s = malloc(2 * depth + 2);
	unsigned i;

	assert_non_null(s);
	for (i = 0; i < depth; i++)
		s[i] = '[';
	s[depth] = 'x';
	for (i = 0; i < depth; i++)
		s[depth + 1 + i] = ']';
	s[2 * depth + 1] = '\0';
	return s;
}

/* depth nested block maps: "k:\n k:\n  k: x" */
static char *nested_maps(unsigned depth)
{
	size_t cap = (size_t)depth * (depth + 4) + 8, off = 0;
	char *s = malloc(cap);
	unsigned i;

	assert_non_null(s);
	for (i = 0; i < depth; i++) {
		memset(s + off, ' ', i);
		off += i;
		memcpy(s + off, i + 1 < depth ? "k:\n" : "k: x\n", i + 1 < depth ? 3 : 5);
		off += i + 1 < depth ? 3 : 5;
	}
	s[off] = '\0';
	return s;
}

static void yaml__depth_limit(void **state)
{
	const struct o8_node *n;
	struct parse p;
	unsigned d;
	char *s;

	(void)state;
	s = nested(64);
	parse(&p, s);
	assert_int_equal(p.diags.n, 0);
	assert_int_equal(p.ndocs, 1);
	n = p.docs[0].root;
	for (d = 1; d < 64; d++) {
		assert_int_equal(n->type, O8_N_SEQ);
		assert_int_equal(n->n, 1);
		n = &n->u.kids[0];
	}
	assert_int_equal(n->type, O8_N_SEQ);
	assert_string_equal(o8_node_str(&n->u.kids[0]), "x");
	parse_done(&p);
	free(s);

	s = nested(65);
	parse(&p, s);
	assert_true(p.diags.n >= 1);
	assert_int_equal(p.diags.v[0].line, 1);
	parse_done(&p);
	free(s);

	s = nested_maps(64);
	parse(&p, s);
	assert_int_equal(p.diags.n, 0);
	parse_done(&p);
	free(s);

	s = nested_maps(65);
	parse(&p, s);
	assert_true(p.diags.n >= 1);
	assert_int_equal(p.diags.v[0].line, 65);
	parse_done(&p);
	free(s);
}

static void yaml__custom_limits(void **state)
{
	struct o8_yaml_limits lim = O8_YAML_LIMITS_INIT;
	struct parse p;
	const char *seq20 = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]";

	(void)state;
	lim.max_depth = 3;
	parse_lim(&p, "[[[x]]]", 7, &lim);
	assert_int_equal(p.diags.n, 0);
	parse_done(&p);
	parse_lim(&p, "[[[[x]]]]", 9, &lim);
	assert_true(p.diags.n >= 1);
	parse_done(&p);

	lim.max_depth = 64;
	lim.max_nodes = 100;
	parse_lim(&p, seq20, strlen(seq20), &lim);
	assert_int_equal(p.diags.n, 0);
	parse_done(&p);
	lim.max_nodes = 10;
	parse_lim(&p, seq20, strlen(seq20), &lim);
	assert_true(p.diags.n >= 1);
	assert_string_equal(p.diags.v[0].file, "t.yaml");
	parse_done(&p);
}

static void yaml__syntax_error_line(void **state)
{
	struct parse p;

	(void)state;
	parse(&p,
	      "a: 1\n"
	      "b: 2\n"
	      "  c: 3\n");
	assert_true(p.diags.n >= 1);
	assert_string_equal(p.diags.v[0].file, "t.yaml");
	assert_int_equal(p.diags.v[0].line, 3);
	assert_null(p.diags.v[0].kind);
	assert_true(strlen(p.diags.v[0].msg) > 0);
	parse_done(&p);

	/* a tab cannot indent YAML */
	parse(&p,
	      "a:\n"
	      "\tb: 1\n");
	assert_true(p.diags.n >= 1);
	assert_int_equal(p.diags.v[0].line, 2);
	parse_done(&p);
}

static void yaml__syntax_error_keeps_earlier_documents(void **state)
{
	struct parse p;

	(void)state;
	parse(&p,
	      "a: 1\n"
	      "---\n"
	      "b: [\n");
	assert_true(p.diags.n >= 1);
	assert_true(p.diags.v[0].line >= 3);
	assert_true(p.ndocs >= 1);
	assert_string_equal(o8_node_str(o8_node_get(p.docs[0].root, "a")), "1");
	parse_done(&p);
}

static void yaml__bad_utf8_refused(void **state)
{
	struct parse p;

	(void)state;
	parse(&p, "a: \xff\xfe\n");
	assert_true(p.diags.n >= 1);
	assert_string_equal(p.diags.v[0].file, "t.yaml");
	parse_done(&p);
}

static void yaml__buffer_without_nul(void **state)
{
	struct o8_yaml_limits lim = O8_YAML_LIMITS_INIT;
	struct parse p;

	(void)state;
	/* only the first 7 bytes count: "k: val1", never "k: val1ue" */
	parse_lim(&p, "k: val1ue", 7, &lim);
	assert_int_equal(p.diags.n, 0);
	assert_int_equal(p.ndocs, 1);
	assert_string_equal(o8_node_str(o8_node_get(p.docs[0].root, "k")), "val1");
	parse_done(&p);
}

static void node__get_and_path(void **state)
{
	const struct o8_node *root;
	struct parse p;

	(void)state;
	parse(&p, gateway_doc);
	root = p.docs[0].root;
	assert_null(o8_node_get(root, "nope"));
	assert_null(o8_node_get(root, "Kind"));         /* case-sensitive */
	assert_null(o8_node_get(o8_node_get(root, "kind"), "x"));   /* not a map */
	assert_null(o8_node_get(o8_node_path(root, "spec.list"), "a")); /* a seq */
	assert_string_equal(o8_node_str(o8_node_path(root, "metadata.name")), "agw-1");
	assert_string_equal(o8_node_str(o8_node_path(root, "kind")), "Gateway");
	assert_true(o8_node_path(root, "spec") == o8_node_get(root, "spec"));
	assert_null(o8_node_path(root, "metadata.nope"));
	assert_null(o8_node_path(root, "kind.deeper"));  /* through a scalar */
	assert_null(o8_node_path(root, "metadata.name.x"));
	parse_done(&p);
}

static void node__str(void **state)
{
	const struct o8_node *root;
	struct parse p;

	(void)state;
	parse(&p, gateway_doc);
	root = p.docs[0].root;
	assert_null(o8_node_str(root));
	assert_null(o8_node_str(o8_node_get(root, "metadata")));
	assert_null(o8_node_str(o8_node_path(root, "spec.list")));
	assert_string_equal(o8_node_str(o8_node_path(root, "spec.n")), "42");
	parse_done(&p);
}

static void node__is_null(void **state)
{
	/* only plain scalars can be null: quoting makes a string */
	static const char *const nulls[] = { "a: ~\n", "a: null\n", "a: Null\n",
					     "a: NULL\n", "a:\n", "a: {b: }\n" };
	static const char *const not_nulls[] = { "a: \"null\"\n", "a: 'null'\n",
						 "a: ''\n", "a: nul\n", "a: nULL\n",
						 "a: 0\n", "a: {}\n", "a: []\n",
						 "a: \"~\"\n", "a: |\n  null\n" };
	const struct o8_node *n;
	struct parse p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
		parse(&p, nulls[i]);
		n = o8_node_get(p.docs[0].root, "a");
		if (n->type == O8_N_MAP)
			n = o8_node_get(n, "b");
		assert_true(o8_node_is_null(n));
		parse_done(&p);
	}
	for (i = 0; i < sizeof(not_nulls) / sizeof(not_nulls[0]); i++) {
		parse(&p, not_nulls[i]);
		assert_false(o8_node_is_null(o8_node_get(p.docs[0].root, "a")));
		parse_done(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yaml__positions_are_exact),
		cmocka_unit_test(yaml__scalar_styles),
		cmocka_unit_test(yaml__escapes_decoded),
		cmocka_unit_test(yaml__multi_document),
		cmocka_unit_test(yaml__empty_documents),
		cmocka_unit_test(yaml__alias_refused),
		cmocka_unit_test(yaml__alias_bomb_refused),
		cmocka_unit_test(yaml__anchor_without_alias_is_fine),
		cmocka_unit_test(yaml__depth_limit),
		cmocka_unit_test(yaml__custom_limits),
		cmocka_unit_test(yaml__syntax_error_line),
		cmocka_unit_test(yaml__syntax_error_keeps_earlier_documents),
		cmocka_unit_test(yaml__bad_utf8_refused),
		cmocka_unit_test(yaml__buffer_without_nul),
		cmocka_unit_test(node__get_and_path),
		cmocka_unit_test(node__str),
		cmocka_unit_test(node__is_null),
	};

	return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
