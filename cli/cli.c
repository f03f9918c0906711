#include "cmds.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "repo/validate.h"

int o8_cli_parse_output(const char *s, bool allow_markdown)
{
	if (!strcmp(s, "text"))
		return O8_OUT_TEXT;
	if (!strcmp(s, "json"))
		return O8_OUT_JSON;
	if (allow_markdown && (!strcmp(s, "markdown") || !strcmp(s, "md")))
		return O8_OUT_MARKDOWN;
	return -1;
}

void o8_cli_error(const struct o8_err *err)
{
	if (err->path[0] && err->line)
		fprintf(stderr, "orc8r: %s:%u:%u: %s\n", err->path, err->line,
			err->col, err->msg);
	else if (err->path[0])
		fprintf(stderr, "orc8r: %s: %s\n", err->path, err->msg);
	else
		fprintf(stderr, "orc8r: %s\n", err->msg);
	if (getenv("O8_DEBUG") && err->src_file)
		fprintf(stderr, "orc8r: (at %s:%d)\n", err->src_file, err->src_line);
}

void o8_cli_errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("orc8r: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void o8_cli_print_diags(FILE *f, const struct o8_diags *d, bool color)
{
	const char *bold = color ? "\033[1m" : "", *red = color ? "\033[31m" : "",
		   *off = color ? "\033[0m" : "";
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct o8_diag *x = &d->v[i];

		fprintf(f, "%s%s:%u:%u:%s ", bold, x->file, x->line, x->col, off);
		if (x->kind)
			fprintf(f, "%s%s/%s:%s ", red, x->kind,
				x->name ? x->name : "?", off);
		fprintf(f, "%s\n", x->msg);
	}
}

static json_t *counts_json(const struct o8_counts *c)
{
	json_t *o = json_object();
	int k;

	for (k = 1; k < O8_KIND__COUNT; k++)
		json_object_set_new(o, o8_schema_kind(k)->name, json_integer((json_int_t)c->kinds[k]));
	json_object_set_new(o, "subscribers", json_integer((json_int_t)c->subscribers));
	return o;
}

static int print_json(const struct o8_counts *c, const struct o8_diags *d)
{
	json_t *root = json_object(), *errs = json_array();
	size_t i;
	int r;

	json_object_set_new(root, "valid", json_boolean(d->n == 0));
	json_object_set_new(root, "counts", counts_json(c));
	for (i = 0; i < d->n; i++) {
		const struct o8_diag *x = &d->v[i];
		json_array_append_new(errs, json_pack("{s:s, s:I, s:I, s:s?, s:s?, s:s}",
			"file", x->file, "line", (json_int_t)x->line, "col", (json_int_t)x->col,
			"kind", x->kind, "name", x->name, "message", x->msg));
	}
	json_object_set_new(root, "errors", errs);
	r = json_dumpf(root, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(root);
	return r;
}

static void print_summary(const struct o8_counts *c, const struct o8_diags *d,
			  size_t nfiles, bool color)
{
	const char *g = color ? "\033[32m" : "", *r = color ? "\033[31m" : "",
		   *off = color ? "\033[0m" : "";
	int k, first = 1;

	if (d->n)
		printf("%s%zu error%s%s (%zu file%s checked)\n", r, d->n,
		       d->n == 1 ? "" : "s", off, nfiles, nfiles == 1 ? "" : "s");
	else
		printf("%svalid%s: %zu file%s, ", g, off, nfiles, nfiles == 1 ? "" : "s");
	if (d->n)
		return;
	for (k = 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);
		if (!c->kinds[k] || k == O8_KIND_SUBSCRIBER)
			continue;
		/* kind names pluralise with an "s": Gateways, ENodeBs, APNs */
		printf("%s%zu %s%s", first ? "" : ", ", c->kinds[k], ks->name,
		       c->kinds[k] == 1 ? "" : "s");
		first = 0;
	}
	printf("%s%zu subscriber%s\n", first ? "" : ", ", c->subscribers,
	       c->subscribers == 1 ? "" : "s");
}

void o8_cli_report_validation(const struct o8_counts *c, const struct o8_diags *d,
			      size_t nfiles, int out, bool quiet, bool color)
{
	if (out == O8_OUT_JSON) {
		print_json(c, d);
		return;
	}
	o8_cli_print_diags(stdout, d, color);
	if (!quiet)
		print_summary(c, d, nfiles, color);
}
