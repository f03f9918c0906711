/*
 * config.h - syncd's configuration: the YAML file (/etc/orc8r/syncd.yaml),
 * command-line overrides, defaults, and the check run by `syncd -n`, at
 * start-up and on every SIGHUP reload.
 *
 *   listen: 0.0.0.0:7443            # AGWs (mutual TLS)
 *   bootstrap: 0.0.0.0:7444         # enrolment (server TLS)
 *   api: 127.0.0.1:7445             # HTTP API
 *   api_tls: true                   # false: plain HTTP, loopback only
 *   ports_file: /run/syncd.ports    # {"listen": "HOST:PORT", ...} once bound
 *   pki: /etc/orc8r/pki             # required: ca.crt server.crt server.key crl.pem
 *   state_dir: /var/lib/orc8r
 *   store: sqlite:/var/lib/orc8r/syncd.db   # default: sqlite:<state_dir>/syncd.db
 *   repo:
 *     url: https://git.example.org/lab/networks.git    # required
 *     branch: main
 *     dir: /var/lib/orc8r/repo      # default: <state_dir>/repo
 *     poll: 30                      # seconds; 0: webhook only
 *   webhook_secret_file: /etc/orc8r/webhook-secret
 *   api_tokens_file: /etc/orc8r/pki/api-tokens      # default: <pki>/api-tokens
 *   max_frame: 16MiB                # bytes, or with KiB/MiB/GiB
 *   checkin: 60                     # seconds (informational)
 *   log_level: info                 # debug | info | warn | error
 *
 * Every key can also be given on the command line (syncd_config_set), and
 * the command line wins over the file, on reload too.  A reload builds a
 * new config, checks it, and replaces the old one only when it is valid:
 * syncd_config_reload.
 *
 * Errors are findings "FILE:LINE:COL: message" in a struct o8_diags, all of
 * them in one run; a problem with a value given on the command line is
 * reported against the file "(command line)", line 0.
 *
 * Every string in the struct is owned by it (syncd_config_done frees them).
 */
#ifndef O8_SYNCD_CONFIG_H
#define O8_SYNCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SYNCD_CONFIG_PATH "/etc/orc8r/syncd.yaml"
#define SYNCD_CONFIG_CMDLINE "(command line)"

enum syncd_log_level {
	SYNCD_LOG_DEBUG = 0,
	SYNCD_LOG_INFO,
	SYNCD_LOG_WARN,
	SYNCD_LOG_ERROR,
};

struct syncd_config_override;

#define SYNCD_CONFIG_NKEYS 17           /* rows of the key table in config.c */

/* Where a key got its value: the file (line > 0), the command line, or neither. */
struct syncd_config_pos {
	unsigned line, col;
	bool cmdline;
};

struct syncd_config {
	char *listen;                   /* southbound "HOST:PORT" */
	char *bootstrap;                /* enrolment port */
	char *api;                      /* HTTP API */
	bool api_tls;
	char *ports_file;               /* NULL: none; port 0 picks a free one */
	char *pki;                      /* PKI directory */
	char *store;                    /* store URL */
	char *state_dir;
	char *repo_url, *repo_branch, *repo_dir;
	unsigned repo_poll;             /* seconds, 0: webhook only */
	char *webhook_secret_file;      /* NULL: webhooks refused */
	char *api_tokens_file;
	size_t max_frame;               /* bytes */
	unsigned checkin;               /* seconds */
	enum syncd_log_level log_level;

	/* Filled by syncd_config_check: */
	uint8_t *webhook_secret;        /* the file's content, trailing
					   whitespace removed; NULL without a file */
	size_t webhook_secret_len;

	/* Private: */
	char *path;                     /* the file loaded, NULL: none */
	struct syncd_config_override *ov;       /* command line, kept for reload */
	size_t nov;
	struct syncd_config_pos pos[SYNCD_CONFIG_NKEYS];
};

/* One settable key, for the command line's option list and its --help. */
struct syncd_config_key {
	const char *key;                /* "repo.url" */
	const char *flag;               /* "repo-url": --repo-url */
	const char *arg;                /* "URL" */
	const char *doc;
	const char *def;                /* default as text, NULL: none or derived */
};

/* Key i (0-based) of the table; NULL past the end. */
const struct syncd_config_key *syncd_config_key(size_t i);

/* Fills c with the defaults; c is then ready for set, load and check. */
void syncd_config_init(struct syncd_config *c);

/*
 * Sets key (a key "repo.url" or its flag name "repo-url") from the command
 * line.  The value is checked now (O8_EINVALID with the reason; an unknown
 * key says which one was meant) and remembered, so that load and reload
 * keep it over the file's value.
 */
enum o8_rc syncd_config_set(struct syncd_config *c, const char *key, const char *value,
			    struct o8_err *err);

/*
 * Reads the YAML file at path into c (then re-applies the command line).
 * Findings (syntax, unknown keys with a suggestion, wrong types and values)
 * go to diags; returns O8_EINVALID when there is any, O8_ENOTFOUND when the
 * file does not exist (err names it), O8_ERR on I/O or memory failure.
 */
enum o8_rc syncd_config_load(struct syncd_config *c, const char *path,
			     struct o8_diags *diags, struct o8_err *err);

/*
 * Fills the derived defaults (store, repo.dir, api_tokens_file) and checks
 * the whole: required keys (pki, repo.url); the PKI files exist and
 * server.key is private; the webhook secret file (read into c) and the
 * tokens file are private and well-formed; a webhook-only setup has a
 * secret; plain HTTP only on loopback; no two listeners on one port.
 * Findings go to diags; O8_EINVALID when there is any.
 */
enum o8_rc syncd_config_check(struct syncd_config *c, struct o8_diags *diags,
			      struct o8_err *err);

/*
 * SIGHUP: loads c's file again into a new config with c's command-line
 * values, checks it, and only when it is valid frees the old contents and
 * moves the new ones into *c.  On failure *c is unchanged.
 */
enum o8_rc syncd_config_reload(struct syncd_config *c, struct o8_diags *diags,
			       struct o8_err *err);

/* "debug" | "info" | "warn" | "error". */
const char *syncd_config_level_name(enum syncd_log_level l);

/* Frees what c holds (the secret is wiped first); c can be init'ed again. */
void syncd_config_done(struct syncd_config *c);

#endif
