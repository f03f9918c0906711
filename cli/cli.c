#include "cmds.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
