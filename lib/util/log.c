/*
 * log.c - see log.h.  A line is built whole in memory, then written with
 * one fwrite: stdio locks the stream per call, so lines from the thread
 * pool never interleave with the loop's.
 */
#include "util/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct o8_log {
	char *name;
	enum o8_log_level level;
	bool timestamps;
	FILE *out;
	bool owned;                     /* out was opened here */
};

static const char *const level_names[] = { "debug", "info", "warn", "error" };

const char *o8_log_level_name(enum o8_log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

int o8_log_level_parse(const char *s, enum o8_log_level *out)
{
	for (unsigned i = 0; s && i < 4; i++)
		if (!strcmp(s, level_names[i])) {
			*out = (enum o8_log_level)i;
			return 0;
		}
	return -1;
}

enum o8_rc o8_log_new(struct o8_log **out, const struct o8_log_opts *o,
		      struct o8_err *err)
{
	static const struct o8_log_opts dflt = O8_LOG_OPTS_INIT;
	struct o8_log *l;

	*out = NULL;
	if (!o)
		o = &dflt;
	if (!(l = calloc(1, sizeof(*l))) || !(l->name = strdup(o->name ? o->name : ""))) {
		free(l);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	}
	l->level = o->level;
	l->timestamps = o->timestamps;
	l->out = o->out ? o->out : stderr;
	if (o->path) {
		if (!(l->out = fopen(o->path, "ae"))) {
			o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot open the log file '%s': %m",
				   o->path);
			o8_log_free(l);
			return O8_ERR;
		}
		l->owned = true;
		setvbuf(l->out, NULL, _IOLBF, 0);
	}
	*out = l;
	return O8_OK;
}

void o8_log_free(struct o8_log *l)
{
	if (!l)
		return;
	if (l->owned && l->out)
		fclose(l->out);
	free(l->name);
	free(l);
}

void o8_log_set_level(struct o8_log *l, enum o8_log_level level)
{
	l->level = level;
}

bool o8_log_enabled(const struct o8_log *l, enum o8_log_level level)
{
	return l && level >= l->level;
}

void o8_redact_urls(char *s)
{
	char *p = s, *q, *at, *end;

	while ((p = strstr(p, "://"))) {
		q = p + 3;
		end = q + strcspn(q, "/ \t\n'\"");
		at = memchr(q, '@', (size_t)(end - q));
		if (at) {
			memmove(q, at + 1, strlen(at + 1) + 1);
			continue;
		}
		p = q;
	}
}

/* --- formatting ------------------------------------------------------------ */

/* A bounded writer that counts what it could not store, as snprintf does. */
struct out {
	char *p;
	size_t len, n;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->n < o->len) {
		size_t room = o->len - o->n - 1;

		memcpy(o->p + o->n, s, n < room ? n : room);
		o->p[o->n + (n < room ? n : room)] = '\0';
	}
	o->n += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Control characters as escapes; with quoted, '"' and '\\' too. */
static void put_escaped(struct out *o, const char *s, bool quoted)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[4] = { '\\', 0, 0, 0 };

		if (c == '\n')
			e[1] = 'n';
		else if (c == '\r')
			e[1] = 'r';
		else if (c == '\t')
			e[1] = 't';
		else if (quoted && (c == '"' || c == '\\'))
			e[1] = (char)c;
		if (e[1]) {
			put(o, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			char x[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

			put(o, x, 4);
		} else {
			put(o, s, 1);
		}
	}
}

static bool needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (; *v; v++)
		if ((unsigned char)*v <= 0x20 || *v == 0x7f || strchr("\"=\\", *v))
			return true;
	return false;
}

static void put_field(struct out *o, const char *key, const char *val)
{
	put(o, " ", 1);
	puts_(o, key);
	put(o, "=", 1);
	if (!val) {
		put(o, "-", 1);
	} else if (needs_quotes(val)) {
		put(o, "\"", 1);
		put_escaped(o, val, true);
		put(o, "\"", 1);
	} else {
		puts_(o, val);
	}
}

size_t o8_log_format(char *buf, size_t len, const char *name,
		     enum o8_log_level level, const char *scope,
		     const struct o8_log_kv *kv, const char *msg)
{
	struct out o = { buf, len, 0 };

	if (len)
		buf[0] = '\0';
	puts_(&o, name);
	if (scope) {
		put(&o, "[", 1);
		put_escaped(&o, scope, false);
		put(&o, "]", 1);
	}
	put(&o, ": ", 2);
	put_escaped(&o, msg, false);
	if (level != O8_LOG_INFO)
		put_field(&o, "level", o8_log_level_name(level));
	for (; kv && kv->key; kv++)
		put_field(&o, kv->key, kv->val);
	return o.n;
}

static void timestamp(char *out, size_t len)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03uZ ", ts, (unsigned)(tv.tv_usec / 1000) % 1000u);
}

void o8_logv(struct o8_log *l, enum o8_log_level level, const char *scope,
	     const struct o8_log_kv *kv, const char *fmt, va_list ap)
{
	char ts[40] = "", small[1024], *line = small, *msg;
	size_t n, tn;

	if (!o8_log_enabled(l, level) || vasprintf(&msg, fmt, ap) < 0)
		return;
	if (l->timestamps)
		timestamp(ts, sizeof(ts));
	tn = strlen(ts);
	n = o8_log_format(NULL, 0, l->name, level, scope, kv, msg);
	if (tn + n + 2 > sizeof(small) && !(line = malloc(tn + n + 2))) {
		free(msg);
		return;
	}
	memcpy(line, ts, tn);
	o8_log_format(line + tn, n + 1, l->name, level, scope, kv, msg);
	o8_redact_urls(line + tn);
	n = strlen(line);
	line[n++] = '\n';
	fwrite(line, 1, n, l->out);
	if (line != small)
		free(line);
	free(msg);
}

void o8_log(struct o8_log *l, enum o8_log_level level, const char *scope,
	    const struct o8_log_kv *kv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	o8_logv(l, level, scope, kv, fmt, ap);
	va_end(ap);
}
