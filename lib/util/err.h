/*
 * err.h - error codes, the single-error struct and the diagnostic list.
 *
 * Every fallible lib/ function returns enum o8_rc and takes a struct o8_err *
 * last.  The first error set is kept (later o8_err_set calls are no-ops), so
 * callers can chain calls and report once at the top.  Validation does not
 * stop at the first problem: it appends to a struct o8_diags instead.
 * Nothing in lib/ prints.
 */
#ifndef O8_ERR_H
#define O8_ERR_H

#include <stddef.h>

enum o8_rc {                    /* append only: scripts may see these */
	O8_OK = 0,
	O8_ERR = -1,            /* generic failure (I/O, memory) */
	O8_ENOTFOUND = -2,
	O8_EINVALID = -3,       /* the operator's input is wrong */
	O8_ECONFLICT = -4,
	O8_ELIMIT = -5,         /* a safety limit was hit */
};

struct o8_err {
	enum o8_rc rc;
	char path[512];         /* operator's file, relative to the repo root */
	unsigned line, col;     /* 1-based; 0 when unknown */
	char msg[512];
	const char *src_file;   /* C location, for debugging only */
	int src_line;
};

#define O8_ERR_INIT { 0 }

/* Sets *e unless an error is already recorded; returns rc for chaining. */
#define o8_err_set(e, rc, path, line, col, ...) \
	o8_err__set((e), (rc), (path), (line), (col), __FILE__, __LINE__, __VA_ARGS__)

enum o8_rc o8_err__set(struct o8_err *e, enum o8_rc rc, const char *path,
		       unsigned line, unsigned col, const char *src_file,
		       int src_line, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

/* Prepends "prefix: " to the recorded message (adds context on the way up). */
void o8_err_prefix(struct o8_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void o8_err_clear(struct o8_err *e);

/* One validation finding.  Strings are owned by the list. */
struct o8_diag {
	char *file;             /* relative to the repo root */
	unsigned line, col;
	char *kind;             /* "Gateway", or NULL when not known (syntax) */
	char *name;             /* object name, or NULL */
	char *msg;              /* lowercase, problem first, fix when known */
};

struct o8_diags {
	struct o8_diag *v;
	size_t n, cap;
};

#define O8_DIAGS_INIT { NULL, 0, 0 }

/* Appends a finding; returns O8_ERR only when out of memory. */
enum o8_rc o8_diags_add(struct o8_diags *d, const char *file, unsigned line,
			unsigned col, const char *kind, const char *name,
			const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* Moves every finding of src to the end of dst; src is left empty. */
enum o8_rc o8_diags_move(struct o8_diags *dst, struct o8_diags *src);

/* Sorts by file, line, col, then message; drops exact duplicates. */
void o8_diags_sort(struct o8_diags *d);

void o8_diags_free(struct o8_diags *d);

#endif
