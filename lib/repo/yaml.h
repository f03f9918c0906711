/*
 * yaml.h - YAML text to a compact node tree that remembers positions.
 *
 * Built on libyaml's event API.  Every node keeps its 1-based line and
 * column so that any later check can point the operator at the exact spot.
 * Aliases are refused (no billion-laughs), nesting is capped.  Nodes and
 * strings are allocated in the caller's arena and live as long as it does.
 */
#ifndef O8_YAML_H
#define O8_YAML_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

enum o8_node_type { O8_N_SCALAR = 1, O8_N_MAP, O8_N_SEQ };

enum o8_scalar_style {
	O8_S_PLAIN = 0,         /* may be a number, bool or null */
	O8_S_QUOTED,            /* always a string */
	O8_S_BLOCK,             /* | or >, always a string */
};

struct o8_node {
	uint8_t type;           /* enum o8_node_type */
	uint8_t style;          /* enum o8_scalar_style, scalars only */
	uint32_t line, col;
	uint32_t n;             /* scalar: length; map: pairs; seq: items */
	union {
		const char *str;        /* scalar, NUL-terminated */
		struct o8_node *kids;   /* map: 2n (key, value, ...); seq: n */
	} u;
};

/* One YAML document of a file. */
struct o8_ydoc {
	struct o8_node *root;   /* NULL for an empty document */
	uint32_t line;          /* where the document starts */
};

struct o8_yaml_limits {
	unsigned max_depth;     /* nesting of maps and sequences */
	size_t max_nodes;       /* per file, a cheap guard on memory */
};

#define O8_YAML_LIMITS_INIT { 64, 50u * 1000 * 1000 }

/*
 * Parses buf (len bytes, need not be NUL-terminated) into documents.  *docs
 * is allocated in arena a.  Syntax errors and limit violations are added to
 * diags against `file` (a YAML file with a syntax error yields the documents
 * before the error).  Returns O8_ERR only when out of memory.
 */
enum o8_rc o8_yaml_parse(struct o8_ydoc **docs, size_t *ndocs,
			 struct o8_arena *a, const char *file,
			 const char *buf, size_t len,
			 const struct o8_yaml_limits *lim,
			 struct o8_diags *diags, struct o8_err *err);

/* Value of key in a map node, or NULL. */
const struct o8_node *o8_node_get(const struct o8_node *map, const char *key);

/* Follows a dotted path of map keys ("metadata.name"), or NULL. */
const struct o8_node *o8_node_path(const struct o8_node *map, const char *path);

/* Scalar text or NULL when n is not a scalar. */
const char *o8_node_str(const struct o8_node *n);

/* True for a plain null scalar: "", "~", "null", "Null", "NULL". */
int o8_node_is_null(const struct o8_node *n);

#endif
