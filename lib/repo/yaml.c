#include "repo/yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/*
 * Children of an open map or sequence are collected in a per-depth scratch
 * vector and copied into the arena when the collection ends, so each node
 * is allocated exactly once and siblings are contiguous.
 */
struct scratch {
	struct o8_node *v;
	size_t n, cap;
};

struct parse {
	struct o8_arena *a;
	const char *file;
	const struct o8_yaml_limits *lim;
	struct o8_diags *diags;
	struct scratch *levels;         /* [max_depth + 1] */
	struct o8_node open[128];       /* the open collection at each depth */
	unsigned depth;
	size_t nodes;
	struct o8_ydoc *docs;
	size_t ndocs, capdocs;
	int bad;                        /* the current file is abandoned */
	const char *keys[256];          /* interned map keys, see intern() */
	size_t keylen[256];
};

static int push_child(struct parse *p, const struct o8_node *n)
{
	struct scratch *s = &p->levels[p->depth];

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct o8_node *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *n;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct o8_node *x = *(const struct o8_node *const *)a;
	const struct o8_node *y = *(const struct o8_node *const *)b;
	int c = strcmp(x->u.str, y->u.str);

	if (c)
		return c;
	return x->line != y->line ? (x->line < y->line ? -1 : 1) :
	       (x->col < y->col ? -1 : x->col > y->col);
}

/* YAML forbids duplicate keys; libyaml does not check, so we do. */
static int check_dup_keys(struct parse *p, const struct o8_node *kids, size_t pairs)
{
	const struct o8_node **keys;
	size_t i, j;

	if (pairs < 2)
		return 0;
	if (pairs <= 16) {
		for (i = 1; i < pairs; i++)
			for (j = 0; j < i; j++)
				if (!strcmp(kids[2 * i].u.str, kids[2 * j].u.str)) {
					if (o8_diags_add(p->diags, p->file, kids[2 * i].line,
							 kids[2 * i].col, NULL, NULL,
							 "duplicate key '%s' (first at line %u)",
							 kids[2 * i].u.str, kids[2 * j].line))
						return -1;
					break;
				}
		return 0;
	}
	keys = malloc(pairs * sizeof(*keys));
	if (!keys)
		return -1;
	for (i = 0; i < pairs; i++)
		keys[i] = &kids[2 * i];
	qsort(keys, pairs, sizeof(*keys), key_cmp);
	for (i = 1; i < pairs; i++)
		if (!strcmp(keys[i]->u.str, keys[i - 1]->u.str) &&
		    o8_diags_add(p->diags, p->file, keys[i]->line, keys[i]->col,
				 NULL, NULL, "duplicate key '%s' (first at line %u)",
				 keys[i]->u.str, keys[i - 1]->line)) {
			free(keys);
			return -1;
		}
	free(keys);
	return 0;
}

static int add_doc(struct parse *p, struct o8_node *root, uint32_t line)
{
	if (p->ndocs == p->capdocs) {
		size_t cap = p->capdocs ? p->capdocs * 2 : 4;
		struct o8_ydoc *v = realloc(p->docs, cap * sizeof(*v));
		if (!v)
			return -1;
		p->docs = v;
		p->capdocs = cap;
	}
	p->docs[p->ndocs].root = root;
	p->docs[p->ndocs].line = line;
	p->ndocs++;
	return 0;
}

/* A finished node goes to its parent, or becomes a document's root. */
static int place(struct parse *p, const struct o8_node *n, uint32_t doc_line)
{
	struct o8_node *root;

	if (p->depth > 0)
		return push_child(p, n);
	root = o8_arena_alloc(p->a, sizeof(*root));
	if (!root)
		return -1;
	*root = *n;
	return add_doc(p, root, doc_line);
}

/* Finishes the collection open at p->depth and hands it to its parent. */
static int close_collection(struct parse *p, uint32_t *doc_line)
{
	struct scratch *s = &p->levels[p->depth];
	struct o8_node n = p->open[p->depth];
	size_t bytes = s->n * sizeof(struct o8_node);

	n.u.kids = NULL;
	if (s->n) {
		n.u.kids = o8_arena_alloc(p->a, bytes);
		if (!n.u.kids)
			return -1;
		memcpy(n.u.kids, s->v, bytes);
	}
	if (n.type == O8_N_MAP) {
		n.n = (uint32_t)(s->n / 2);
		if (check_dup_keys(p, n.u.kids, n.n))
			return -1;
	} else {
		n.n = (uint32_t)s->n;
	}
	s->n = 0;
	p->depth--;
	return place(p, &n, *doc_line);
}

static int is_str_tag(const yaml_char_t *tag)
{
	return !strcmp((const char *)tag, "tag:yaml.org,2002:str") ||
	       !strcmp((const char *)tag, "!!str");
}

static int refuse(struct parse *p, const yaml_mark_t *m, const char *msg)
{
	p->bad = 1;
	return o8_diags_add(p->diags, p->file, (unsigned)m->line + 1,
			    (unsigned)m->column + 1, NULL, NULL, "%s", msg) ? -1 : 0;
}

/*
 * A million subscribers repeat the same few keys ("imsi", "ki", "opc"):
 * share one copy of each short key instead of allocating it every time.
 */
static const char *intern(struct parse *p, const char *s, size_t len)
{
	unsigned h = 2166136261u;
	const char **slot;
	size_t i;

	if (len > 24)
		return o8_arena_strndup(p->a, s, len);
	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	slot = &p->keys[h & 255];
	if (*slot && p->keylen[h & 255] == len && !memcmp(*slot, s, len))
		return *slot;
	*slot = o8_arena_strndup(p->a, s, len);
	p->keylen[h & 255] = len;
	return *slot;
}

static int on_scalar(struct parse *p, const yaml_event_t *ev, uint32_t *doc_line)
{
	struct o8_node n = { 0 };
	const yaml_char_t *tag = ev->data.scalar.tag;

	n.type = O8_N_SCALAR;
	n.line = (uint32_t)ev->start_mark.line + 1;
	n.col = (uint32_t)ev->start_mark.column + 1;
	switch (ev->data.scalar.style) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		n.style = O8_S_QUOTED;
		break;
	case YAML_LITERAL_SCALAR_STYLE:
	case YAML_FOLDED_SCALAR_STYLE:
		n.style = O8_S_BLOCK;
		break;
	default:
		n.style = O8_S_PLAIN;
	}
	if (tag && !ev->data.scalar.quoted_implicit && !ev->data.scalar.plain_implicit) {
		if (!is_str_tag(tag))
			return refuse(p, &ev->start_mark,
				      "yaml tags are not supported (remove the '!' tag)");
		n.style = O8_S_QUOTED;
	}
	if (ev->data.scalar.length > UINT32_MAX)
		return refuse(p, &ev->start_mark, "scalar too long");
	n.n = (uint32_t)ev->data.scalar.length;
	if (p->depth > 0 && p->open[p->depth].type == O8_N_MAP &&
	    p->levels[p->depth].n % 2 == 0)
		n.u.str = intern(p, (const char *)ev->data.scalar.value,
				 ev->data.scalar.length);
	else
		n.u.str = o8_arena_strndup(p->a, (const char *)ev->data.scalar.value,
					   ev->data.scalar.length);
	if (!n.u.str)
		return -1;
	return place(p, &n, *doc_line);
}

static int on_open(struct parse *p, const yaml_event_t *ev, enum o8_node_type t)
{
	struct o8_node *n;
	const yaml_char_t *tag = t == O8_N_MAP ? ev->data.mapping_start.tag :
				 ev->data.sequence_start.tag;
	int implicit = t == O8_N_MAP ? ev->data.mapping_start.implicit :
		       ev->data.sequence_start.implicit;

	if (tag && !implicit)
		return refuse(p, &ev->start_mark,
			      "yaml tags are not supported (remove the '!' tag)");
	if (p->depth >= p->lim->max_depth ||
	    p->depth + 1 >= sizeof(p->open) / sizeof(p->open[0])) {
		char msg[96];
		snprintf(msg, sizeof(msg), "nesting deeper than %u levels",
			 p->lim->max_depth);
		return refuse(p, &ev->start_mark, msg);
	}
	/* A map key must be a scalar: our format never uses complex keys. */
	if (p->depth > 0 && p->open[p->depth].type == O8_N_MAP &&
	    p->levels[p->depth].n % 2 == 0)
		return refuse(p, &ev->start_mark,
			      "a map key must be a plain value, not a map or list");
	p->depth++;
	n = &p->open[p->depth];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)t;
	n->line = (uint32_t)ev->start_mark.line + 1;
	n->col = (uint32_t)ev->start_mark.column + 1;
	return 0;
}

static int handle(struct parse *p, const yaml_event_t *ev, uint32_t *doc_line)
{
	if (++p->nodes > p->lim->max_nodes)
		return refuse(p, &ev->start_mark, "file has too many yaml nodes");
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		*doc_line = (uint32_t)ev->start_mark.line + 1;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_ALIAS_EVENT:
		return refuse(p, &ev->start_mark,
			      "yaml aliases ('*name') are not allowed; write the value out");
	case YAML_SCALAR_EVENT:
		if (p->depth > 0 && p->open[p->depth].type == O8_N_MAP &&
		    p->levels[p->depth].n % 2 == 0 && ev->data.scalar.length == 2 &&
		    !memcmp(ev->data.scalar.value, "<<", 2) &&
		    ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return refuse(p, &ev->start_mark,
				      "yaml merge keys ('<<') are not allowed; write the fields out");
		return on_scalar(p, ev, doc_line);
	case YAML_SEQUENCE_START_EVENT:
		return on_open(p, ev, O8_N_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_open(p, ev, O8_N_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return close_collection(p, doc_line);
	default:
		return 0;
	}
}

/* Is there a tab in the indentation of line `line` (0-based) of buf? */
static int tab_indent(const char *buf, size_t len, size_t line)
{
	size_t i = 0;

	for (; line && i < len; i++)
		if (buf[i] == '\n')
			line--;
	for (; i < len && (buf[i] == ' ' || buf[i] == '\t'); i++)
		if (buf[i] == '\t')
			return 1;
	return 0;
}

static int syntax_error(struct parse *p, const yaml_parser_t *y,
			const char *buf, size_t len)
{
	const yaml_mark_t *m = &y->problem_mark;
	unsigned line = (unsigned)m->line + 1, col = (unsigned)m->column + 1;
	int r;

	p->bad = 1;
	if (y->error == YAML_MEMORY_ERROR)
		return -1;
	/* libyaml's words for a tab are cryptic; the fix is simple */
	if (tab_indent(buf, len, m->line))
		r = o8_diags_add(p->diags, p->file, line, col, NULL, NULL,
				 "yaml syntax error: tab character in indentation; indent with spaces");
	else if (y->context)
		r = o8_diags_add(p->diags, p->file, line, col, NULL, NULL,
				 "yaml syntax error: %s (%s at line %u)",
				 y->problem ? y->problem : "unknown problem",
				 y->context, (unsigned)y->context_mark.line + 1);
	else
		r = o8_diags_add(p->diags, p->file, line, col, NULL, NULL,
				 "yaml syntax error: %s",
				 y->problem ? y->problem : "unknown problem");
	return r ? -1 : 0;
}

enum o8_rc o8_yaml_parse(struct o8_ydoc **docs, size_t *ndocs,
			 struct o8_arena *a, const char *file,
			 const char *buf, size_t len,
			 const struct o8_yaml_limits *lim,
			 struct o8_diags *diags, struct o8_err *err)
{
	static const struct o8_yaml_limits deflim = O8_YAML_LIMITS_INIT;
	struct parse p = { 0 };
	yaml_parser_t y;
	yaml_event_t ev;
	uint32_t doc_line = 1;
	int oom = 0, done = 0;
	size_t i;

	*docs = NULL;
	*ndocs = 0;
	p.a = a;
	p.file = file;
	p.lim = lim ? lim : &deflim;
	p.diags = diags;
	p.levels = calloc(p.lim->max_depth + 2, sizeof(*p.levels));
	if (!p.levels || !yaml_parser_initialize(&y)) {
		free(p.levels);
		return o8_err_set(err, O8_ERR, file, 0, 0, "out of memory");
	}
	yaml_parser_set_input_string(&y, (const unsigned char *)buf, len);
	while (!done && !p.bad) {
		if (!yaml_parser_parse(&y, &ev)) {
			oom = syntax_error(&p, &y, buf, len) != 0;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		oom = handle(&p, &ev, &doc_line) != 0;
		yaml_event_delete(&ev);
		if (oom)
			break;
	}
	yaml_parser_delete(&y);
	for (i = 0; i <= p.lim->max_depth + 1; i++)
		free(p.levels[i].v);
	free(p.levels);
	if (oom) {
		free(p.docs);
		return o8_err_set(err, O8_ERR, file, 0, 0, "out of memory");
	}
	/* Hand the documents over in the arena so the caller frees nothing. */
	if (p.ndocs) {
		*docs = o8_arena_alloc(a, p.ndocs * sizeof(**docs));
		if (!*docs) {
			free(p.docs);
			return o8_err_set(err, O8_ERR, file, 0, 0, "out of memory");
		}
		memcpy(*docs, p.docs, p.ndocs * sizeof(**docs));
		*ndocs = p.ndocs;
	}
	free(p.docs);
	return O8_OK;
}

const struct o8_node *o8_node_get(const struct o8_node *map, const char *key)
{
	uint32_t i;

	if (!map || map->type != O8_N_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (!strcmp(map->u.kids[2 * i].u.str, key))
			return &map->u.kids[2 * i + 1];
	return NULL;
}

const struct o8_node *o8_node_path(const struct o8_node *map, const char *path)
{
	char seg[128];
	const char *dot;
	size_t n;

	while (map && (dot = strchr(path, '.'))) {
		n = (size_t)(dot - path);
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		map = o8_node_get(map, seg);
		path = dot + 1;
	}
	return o8_node_get(map, path);
}

const char *o8_node_str(const struct o8_node *n)
{
	return n && n->type == O8_N_SCALAR ? n->u.str : NULL;
}

int o8_node_is_null(const struct o8_node *n)
{
	const char *s;

	if (!n || n->type != O8_N_SCALAR || n->style != O8_S_PLAIN)
		return 0;
	s = n->u.str;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}
