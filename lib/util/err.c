#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum o8_rc o8_err__set(struct o8_err *e, enum o8_rc rc, const char *path,
		       unsigned line, unsigned col, const char *src_file,
		       int src_line, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->rc != O8_OK)
		return rc;
	e->rc = rc;
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	e->line = line;
	e->col = col;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->src_file = src_file;
	e->src_line = src_line;
	return rc;
}

void o8_err_prefix(struct o8_err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	va_list ap;
	size_t len;
	int n;

	if (!e || e->rc == O8_OK)
		return;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(e->msg) - 2)
		return;
	e->msg[n++] = ':';
	e->msg[n++] = ' ';
	len = strlen(old);
	if (len > sizeof(e->msg) - (size_t)n - 1)
		len = sizeof(e->msg) - (size_t)n - 1;
	memcpy(e->msg + n, old, len);
	e->msg[n + len] = '\0';
}

void o8_err_clear(struct o8_err *e)
{
	memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

enum o8_rc o8_diags_add(struct o8_diags *d, const char *file, unsigned line,
			unsigned col, const char *kind, const char *name,
			const char *fmt, ...)
{
	struct o8_diag *x;
	va_list ap;
	char *msg;
	int n;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct o8_diag *v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return O8_ERR;
		d->v = v;
		d->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return O8_ERR;
	x = &d->v[d->n++];
	x->file = dup_or_null(file ? file : "");
	x->line = line;
	x->col = col;
	x->kind = dup_or_null(kind);
	x->name = dup_or_null(name);
	x->msg = msg;
	return O8_OK;
}

enum o8_rc o8_diags_move(struct o8_diags *dst, struct o8_diags *src)
{
	if (!src->n)
		return O8_OK;
	if (dst->n + src->n > dst->cap) {
		size_t cap = dst->n + src->n;
		struct o8_diag *v = realloc(dst->v, cap * sizeof(*v));
		if (!v)
			return O8_ERR;
		dst->v = v;
		dst->cap = cap;
	}
	memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
	dst->n += src->n;
	free(src->v);
	src->v = NULL;
	src->n = src->cap = 0;
	return O8_OK;
}

static int strcmp0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int diag_cmp(const void *pa, const void *pb)
{
	const struct o8_diag *a = pa, *b = pb;
	int c = strcmp(a->file, b->file);

	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	if ((c = strcmp(a->msg, b->msg)))
		return c;
	if ((c = strcmp0(a->kind, b->kind)))
		return c;
	return strcmp0(a->name, b->name);
}

static void diag_done(struct o8_diag *x)
{
	free(x->file);
	free(x->kind);
	free(x->name);
	free(x->msg);
}

void o8_diags_sort(struct o8_diags *d)
{
	size_t i, w = 0;

	if (d->n < 2)
		return;
	qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
	for (i = 0; i < d->n; i++) {
		if (w && diag_cmp(&d->v[w - 1], &d->v[i]) == 0) {
			diag_done(&d->v[i]);
			continue;
		}
		d->v[w++] = d->v[i];
	}
	d->n = w;
}

void o8_diags_free(struct o8_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		diag_done(&d->v[i]);
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}
