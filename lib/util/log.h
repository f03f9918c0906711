/*
 * log.h - one line per event, for syncd and agwd.
 *
 *   [2024-05-01T12:00:00.123Z ]NAME[\[SCOPE\]]: MESSAGE[ level=L][ key=value...]
 *
 * The message keeps the words the programs have always printed (tests and
 * operators grep them); what is new goes after it as key=value fields.
 * Info lines carry no level field, so an info line reads as it always did.
 *
 * Levels filter: a logger at warn drops debug and info.  Nothing a peer
 * sends can forge a line: CR, LF, ESC and every other control character of
 * the message and of field values is written as an escape (\r, \n, \x1b),
 * and a field value with a space, quote, '=' or backslash is quoted.  Every
 * URL loses its user and password (o8_redact_urls) on the way out.
 *
 * A logger is an object passed explicitly (no global state).  Lines are
 * formatted whole and written with one call, so threads may share one.
 * This is the one part of lib/ that writes: only where it was told to.
 */
#ifndef O8_LOG_H
#define O8_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "util/err.h"

enum o8_log_level { O8_LOG_DEBUG = 0, O8_LOG_INFO, O8_LOG_WARN, O8_LOG_ERROR };

struct o8_log_opts {
	const char *name;               /* "syncd"; copied */
	enum o8_log_level level;        /* lines below it are dropped */
	bool timestamps;                /* UTC, milliseconds, ISO 8601 */
	const char *path;               /* appended to; NULL: out, or stderr */
	FILE *out;                      /* borrowed (tests); NULL: stderr */
};

#define O8_LOG_OPTS_INIT { "o8", O8_LOG_INFO, true, NULL, NULL }

/* One field; an array of them ends with a NULL key. */
struct o8_log_kv {
	const char *key;                /* [a-z_]+, written as is */
	const char *val;                /* NULL: written as "-" */
};

struct o8_log;

/* *out is owned: o8_log_free.  Fails only when path cannot be opened. */
enum o8_rc o8_log_new(struct o8_log **out, const struct o8_log_opts *o,
		      struct o8_err *err);
void o8_log_free(struct o8_log *l);            /* NULL is a no-op */

void o8_log_set_level(struct o8_log *l, enum o8_log_level level);
bool o8_log_enabled(const struct o8_log *l, enum o8_log_level level);

/* "debug", "info", "warn", "error" */
const char *o8_log_level_name(enum o8_log_level level);
/* 0, or -1 when s names no level. */
int o8_log_level_parse(const char *s, enum o8_log_level *out);

/*
 * Writes one line when level passes.  scope (NULL: none) goes in brackets
 * after the name: "agwd[lab/gw1]: ".  kv: NULL, or fields ending with a
 * NULL key.  A NULL l is a no-op.
 */
void o8_log(struct o8_log *l, enum o8_log_level level, const char *scope,
	    const struct o8_log_kv *kv, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void o8_logv(struct o8_log *l, enum o8_log_level level, const char *scope,
	     const struct o8_log_kv *kv, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/*
 * Formats the line o8_log would write (without its timestamp and newline)
 * into buf; returns strlen of the full line, as snprintf does.
 */
size_t o8_log_format(char *buf, size_t len, const char *name,
		     enum o8_log_level level, const char *scope,
		     const struct o8_log_kv *kv, const char *msg);

/*
 * Drops "user[:password]@" from every URL in s, in place: a token in a
 * remote's URL must never reach a terminal, a log or a CI log.
 */
void o8_redact_urls(char *s);

#endif
