/*
 * apitoken.h - who may use syncd's HTTP API and with which role (read,
 * write): bearer tokens, and operators' client certificates.
 *
 * A tokens file (default <pki>/api-tokens, written by `orc8r pki
 * api-token` and `orc8r pki api-cert`) holds one line per token, never the
 * token itself, and one line per operator certificate:
 *
 *   ROLE NAME SHA256HEX        e.g. "write ci 9f86d0...": role read|write,
 *                              NAME [A-Za-z0-9._@-]{1,64}, SHA-256 of the
 *                              whole token in lowercase hex
 *   ROLE NAME cert             e.g. "read alice cert": ROLE for the client
 *                              certificate of operator NAME (CN=NAME,
 *                              OU=orc8r-operator, issued by the orc8r CA;
 *                              pki.h o8_pki_trust_verify_operator checks it)
 *
 * Blank lines and lines starting with '#' are ignored; a name appears once,
 * whatever its kind, so a name in a log line means one principal.
 * A token reads "o8a1.<64 hex>" (32 random bytes from gnutls_rnd).  The file
 * must not be readable or writable by group or others: such a file is
 * refused, as ssh refuses a private key anyone can read.
 *
 * syncd loads the file once (a missing file is an empty set, so the API
 * starts before the first token exists) and calls o8_apitoken_refresh,
 * which re-reads it when stat says it changed, so a new or removed token
 * takes effect without a restart.  An allow list fails closed: a refresh
 * that cannot read or parse the file leaves the set empty.
 *
 * A set is used by one thread at a time (syncd's loop).  Nothing here
 * prints, and no error message ever contains a token.
 */
#ifndef O8_APITOKEN_H
#define O8_APITOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define O8_APITOKEN_PREFIX "o8a1."
#define O8_APITOKEN_NAME_MAX 64

enum o8_apitoken_role {         /* ordered: a higher role can do what a lower can */
	O8_APITOKEN_NONE = 0,
	O8_APITOKEN_READ = 1,
	O8_APITOKEN_WRITE = 2,
};

/* "read" | "write" into *out; false for anything else. */
bool o8_apitoken_role_parse(const char *s, enum o8_apitoken_role *out);

/* "read", "write" or "none". */
const char *o8_apitoken_role_name(enum o8_apitoken_role role);

/* True when name can go in the file (see the line format above). */
bool o8_apitoken_name_ok(const char *name);

/*
 * Makes a token for name with role and adds its line to the tokens file at
 * path: under an exclusive flock on the file's directory (so two
 * concurrent creations both land), the file is rewritten through a temp
 * file + fsync + rename with mode 0600, created if missing (its directory
 * must exist).  O8_ECONFLICT when name is already in the file, O8_EINVALID
 * for a bad name or role or a file readable by group or others.
 * *out_token is the only copy of the secret: the caller shows it once and
 * frees it with free() after explicit_bzero.
 */
enum o8_rc o8_apitoken_create(char **out_token, const char *path, const char *name,
			      enum o8_apitoken_role role, struct o8_err *err);

struct o8_apitoken_set;

/*
 * Reads the tokens file at path into *out (the caller frees it with
 * o8_apitoken_free).  A missing file gives an empty set.  O8_EINVALID
 * with "PATH:LINE: message" for a malformed line, a duplicate name or a
 * mode that lets group or others in.
 */
enum o8_rc o8_apitoken_load(struct o8_apitoken_set **out, const char *path,
			    struct o8_err *err);

/*
 * Re-reads the file when its inode, size or mtime changed since the last
 * read (one stat otherwise).  On failure the set is emptied (fail closed)
 * and the error returned; a later refresh that succeeds restores it.
 */
enum o8_rc o8_apitoken_refresh(struct o8_apitoken_set *set, struct o8_err *err);

/* Number of entries in the set (tokens and certificate grants). */
size_t o8_apitoken_count(const struct o8_apitoken_set *set);

/*
 * True when token is in the set: *role and *name (each may be NULL)
 * receive its role and name (borrowed from the set, valid until the next
 * refresh or free).  The digest of token is compared with every entry,
 * without stopping at a match, so the time taken does not depend on which
 * entry matched or how much of a digest agreed.  set may be NULL (false).
 */
bool o8_apitoken_check(const struct o8_apitoken_set *set, const char *token,
		       enum o8_apitoken_role *role, const char **name);

/*
 * True when the set grants a role to the operator certificate named name
 * (a "ROLE NAME cert" line); *role (may be NULL) receives it.  Only for a
 * name taken from a certificate that passed o8_pki_trust_verify_operator:
 * the line is no credential by itself.  set may be NULL (false).
 */
bool o8_apitoken_check_cert(const struct o8_apitoken_set *set, const char *name,
			    enum o8_apitoken_role *role);

/*
 * Adds "ROLE NAME cert" to the tokens file at path, as o8_apitoken_create
 * adds a token line (flock, temp + fsync + rename, 0600, created if
 * missing).  A cert line for name with the same role is left as it is
 * (renewing an operator's certificate); *out_added (may be NULL) says
 * whether a line was written.  O8_ECONFLICT when name is a token or a cert
 * line with another role (the message says which line to edit),
 * O8_EINVALID for a bad name or role.
 */
enum o8_rc o8_apitoken_grant_cert(const char *path, const char *name,
				  enum o8_apitoken_role role, bool *out_added,
				  struct o8_err *err);

void o8_apitoken_free(struct o8_apitoken_set *set);     /* NULL is a no-op */

#endif
