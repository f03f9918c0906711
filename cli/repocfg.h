/*
 * repocfg.h - .orc8r/config.yaml, the repository's settings for the CLI:
 * its keys as one table, and the one parser that both the API client
 * (apiclient.c) and `orc8r validate` use.
 *
 *   key         type     meaning
 *   apiVersion  string   orc8r/v1
 *   kind        string   RepoConfig
 *   server      URL      syncd's API, https://HOST:PORT (http only to
 *                        127.0.0.1, ::1 or localhost)
 *   ca          path     PEM file of the CA that signed syncd's certificate
 *   token_file  path     file holding the API bearer token
 *   cert        path     PEM client certificate, instead of a token
 *   key         path     its private key (default: in the cert file)
 *
 * Paths are relative to the repository root and are not opened here: a CI
 * runner validating a pull request has neither the CA nor the token.
 *
 * Two modes, because the two readers want different things:
 *   client  what the API client has always done: it stops at the first
 *           problem (a YAML syntax error may add several; the first counts);
 *           keys other than the five settings are left alone, except
 *           near-misses of them ("tokenFile"), and values are only checked
 *           to be non-empty strings (the client checks what it resolved,
 *           which may come from an option instead).
 *   strict  validate: every problem, including unknown keys, apiVersion
 *           and kind, a server the client would refuse, and settings
 *           that cannot go together.
 * Findings are diagnostics against O8_REPOCFG_PATH, kind and name NULL.
 */
#ifndef O8_CLI_REPOCFG_H
#define O8_CLI_REPOCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/err.h"

/* Relative to the repository root; also the file name in messages. */
#define O8_REPOCFG_PATH ".orc8r/config.yaml"

/* The keys; rows of o8_repocfg_keys follow this order. */
enum o8_repocfg_key {
	O8_RCK_API_VERSION,
	O8_RCK_KIND,
	O8_RCK_SERVER,
	O8_RCK_CA,
	O8_RCK_TOKEN_FILE,
	O8_RCK_CERT,
	O8_RCK_KEY,
	O8_RCK__COUNT
};

struct o8_repocfg_key_def {
	const char *name;
	const char *type;       /* for documentation: "string", "URL", "path" */
	const char *meaning;
	const char *want;       /* the one value allowed, or NULL */
	bool setting;           /* read by the API client */
};

extern const struct o8_repocfg_key_def o8_repocfg_keys[O8_RCK__COUNT];

/* One value as written; s is NULL when the key is absent. */
struct o8_repocfg_value {
	const char *s;          /* in the config's arena */
	unsigned line, col;
};

struct o8_repocfg {
	struct o8_repocfg_value v[O8_RCK__COUNT];
	struct o8_arena a;
};

#define O8_REPOCFG_INIT { { { NULL, 0, 0 } }, O8_ARENA_INIT }

/*
 * Parses buf (len bytes, the file's text) into cfg (O8_REPOCFG_INIT;
 * released by o8_repocfg_done even on error).  Problems are appended to d
 * in the order of the file (client mode stops at the first); values found
 * before a problem are set.  Returns O8_ERR only when out of memory.
 */
enum o8_rc o8_repocfg_parse(struct o8_repocfg *cfg, const char *buf, size_t len,
			    bool strict, struct o8_diags *d, struct o8_err *err);

void o8_repocfg_done(struct o8_repocfg *cfg);

/*
 * Why a `server` URL is refused (static text), or NULL when it is fine:
 * http(s) only, no user name or password in it, plain http only to this
 * machine (the token would travel in clear), no query or fragment.  Parsing
 * only: no name is resolved, nothing is sent.  The API client and validate
 * both ask this, so they cannot disagree.
 */
const char *o8_repocfg_server_problem(const char *url);

/*
 * Checks <root>/.orc8r/config.yaml in strict mode (a missing file is
 * fine).  A file that cannot be read is a finding too, since validate
 * reports every problem of the repository.  O8_ERR only when out of memory.
 */
enum o8_rc o8_repocfg_check(const char *root, struct o8_diags *d,
			    struct o8_err *err);

#endif
