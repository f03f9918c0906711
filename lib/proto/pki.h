/*
 * pki.h - the orc8r certificate authority: syncd's server certificate,
 * one-time enrolment tokens, short-lived gateway client certificates,
 * operators' client certificates for syncd's HTTP API, revocation
 * (GnuTLS X.509, ECDSA P-256 everywhere).
 *
 * A PKI directory (`orc8r pki init`, 0700) holds:
 *
 *   ca.key, ca.crt          the CA (key 0600); never overwritten
 *   server.key, server.crt  syncd's TLS server certificate (SANs = --host)
 *   tokens/<id>.json        enrolment tokens: identity, expiry, SHA-256 of
 *                           the secret (never the secret), used flag; 0600
 *   serial                  counter that makes every serial unique
 *   issued                  one line per client certificate:
 *                           SERIAL NETWORK/GATEWAY NOT_BEFORE NOT_AFTER
 *                           SERIAL operator:NAME NOT_BEFORE NOT_AFTER
 *   revoked                 one line per revoked certificate:
 *                           SERIAL REVOKED_AT NOT_AFTER
 *   crl.pem                 the CRL built from `revoked`, signed by the CA
 *   .gitignore              "*": the directory never ends up in git
 *
 * A gateway's identity is the subject CN "network/gateway" of its client
 * certificate; both halves are DNS-1123 labels (schema.h O8_FMT_NAME).
 * An operator's is CN=NAME with OU=orc8r-operator (NAME as apitoken.h
 * names, which never contain '/'); a gateway certificate has no OU.  Each
 * verifier refuses the other kind, so neither can pass for the other.
 * Operations that change state (enrol, redeem, revoke) hold an exclusive
 * flock on the directory, so a token cannot be redeemed twice even by two
 * processes at once, and files are replaced by temp + fsync + rename.
 *
 * There is no insecure fallback: a missing or unreadable CA, key or CRL is
 * an error whose message names the file.  Secrets (private keys, token
 * secrets) never appear in an error message.
 */
#ifndef O8_PKI_H
#define O8_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/err.h"

#define O8_PKI_CA_DAYS 3650                     /* CA validity */
#define O8_PKI_SERVER_DAYS 365                  /* server certificate */
#define O8_PKI_TOKEN_TTL (24u * 3600u)          /* enrolment token */
#define O8_PKI_TOKEN_TTL_MAX (30u * 24u * 3600u)
#define O8_PKI_CERT_TTL (7u * 24u * 3600u)      /* gateway client certificate */
#define O8_PKI_SKEW 300                         /* not_before = now - 5 min */
#define O8_PKI_NAME_MAX 64                      /* a DNS label + NUL */
/* "network/gateway": two names, the slash and the NUL */
#define O8_PKI_GATEWAY_ID_MAX (2 * (O8_PKI_NAME_MAX - 1) + 1 + 1)

/*
 * The files above, plus those next to them that other programs look for
 * (operators' certificates, syncd's API tokens) and an agent's own key and
 * certificate: every program names them through here, never by a literal.
 */
enum o8_pki_file {
	O8_PKI_CA_KEY,          /* ca.key */
	O8_PKI_CA_CRT,          /* ca.crt */
	O8_PKI_SERVER_KEY,      /* server.key */
	O8_PKI_SERVER_CRT,      /* server.crt */
	O8_PKI_TOKENS,          /* tokens (a directory) */
	O8_PKI_SERIAL,          /* serial */
	O8_PKI_ISSUED,          /* issued */
	O8_PKI_REVOKED,         /* revoked */
	O8_PKI_CRL,             /* crl.pem */
	O8_PKI_GITIGNORE,       /* .gitignore */
	O8_PKI_API_TOKENS,      /* api-tokens: syncd's default api_tokens_file */
	O8_PKI_OPERATORS,       /* operators: default home of operators' pairs */
	O8_PKI_AGENT_KEY,       /* agw.key, in agwd's directory */
	O8_PKI_AGENT_CRT,       /* agw.crt, in agwd's directory */
	O8_PKI_FILE__COUNT
};

/* The file's name inside its directory ("ca.crt"); static storage. */
const char *o8_pki_file_name(enum o8_pki_file f);

/*
 * "dir/name" into out (n bytes).  O8_ELIMIT when it does not fit (out then
 * holds as much as fits, NUL-terminated).
 */
enum o8_rc o8_pki_path(char *out, size_t n, const char *dir, enum o8_pki_file f,
		       struct o8_err *err);
#define O8_PKI_OPERATOR_TTL (90u * 24u * 3600u) /* operator client certificate */
#define O8_PKI_OPERATOR_OU "orc8r-operator"     /* subject OU of every operator cert */
#define O8_PKI_OPERATOR_MAX 65                  /* O8_APITOKEN_NAME_MAX + NUL */

struct o8_pki_opts {
	unsigned ca_days;       /* 0: O8_PKI_CA_DAYS */
	unsigned server_days;   /* 0: O8_PKI_SERVER_DAYS */
	time_t now;             /* 0: time(NULL); tests pass a fixed time */
};

#define O8_PKI_OPTS_INIT { 0, 0, 0 }

/*
 * Creates the PKI directory dir (0700, parents created as needed) with a
 * new CA and a server certificate for hosts[0..nhosts-1] (each a DNS name,
 * an IPv4 or an IPv6 literal; at least one).  Everything is written into a
 * temporary directory that is renamed to dir at the end, so a failure
 * leaves nothing behind.  dir may exist only if it is empty: a directory
 * holding ca.key is refused with O8_ECONFLICT (a CA is never overwritten).
 * o may be NULL.
 */
enum o8_rc o8_pki_init(const char *dir, const char *const *hosts, size_t nhosts,
		       const struct o8_pki_opts *o, struct o8_err *err);

/* True when host can go in a certificate: a DNS name, IPv4 or IPv6 literal. */
bool o8_pki_host_ok(const char *host);

/*
 * Makes a one-time enrolment token for network/gateway, valid for
 * ttl_seconds (0: O8_PKI_TOKEN_TTL; at most O8_PKI_TOKEN_TTL_MAX), and
 * stores its hash as tokens/<id>.json.  *out_token ("o8e1.<id>.<secret>",
 * hex) is the only copy of the secret: the caller shows it once, never logs
 * it, and frees it with free() (after explicit_bzero).  *out_expires
 * (may be NULL) receives the expiry.
 */
enum o8_rc o8_pki_enroll_token(char **out_token, time_t *out_expires, const char *dir,
			       const char *network, const char *gateway,
			       unsigned ttl_seconds, struct o8_err *err);

/*
 * What syncd's bootstrap port does with (token, CSR): checks the token
 * (O8_EINVALID: malformed, wrong secret or expired at `now`; O8_ENOTFOUND:
 * unknown id; O8_ECONFLICT: already used), checks the CSR (PEM or DER, at
 * most 16 KiB; its self-signature must verify and its key must be ECDSA
 * P-256; O8_EINVALID otherwise), then marks the token used and issues a
 * client certificate for the key of the CSR: CN "network/gateway" from the
 * token (whatever the CSR asked for), clientAuth, not a CA, valid from
 * now - 5 min to now + cert_ttl (0: O8_PKI_CERT_TTL; never past the CA's
 * own expiry), a fresh unique serial, recorded in `issued`.
 * now 0 means time(NULL).  *out_cert_pem is a NUL-terminated PEM the
 * caller frees with free().
 */
enum o8_rc o8_pki_redeem(const char *dir, const char *token, const void *csr,
			 size_t len, time_t now, unsigned cert_ttl,
			 char **out_cert_pem, struct o8_err *err);

/*
 * Renewal: issues a new client certificate to network/gateway for the key
 * of csr, exactly as o8_pki_redeem does but without a token.  Only for a
 * caller that has just authenticated network/gateway itself (syncd, on a
 * gateway's mTLS connection whose certificate passed o8_pki_trust_verify).
 */
enum o8_rc o8_pki_issue(const char *dir, const char *network, const char *gateway,
			const void *csr, size_t len, time_t now, unsigned cert_ttl,
			char **out_cert_pem, struct o8_err *err);

/*
 * Issues an operator's client certificate for the key of csr (checked as
 * o8_pki_redeem checks it): CN=name, OU=orc8r-operator, clientAuth, not a
 * CA, valid from now - 5 min to now + ttl (0: O8_PKI_OPERATOR_TTL; never
 * past the CA's own expiry), recorded in `issued` as "operator:NAME".
 * name follows apitoken.h's rules (O8_EINVALID otherwise); issuing again
 * to the same name is a renewal, not a conflict.  What the certificate
 * may do is the tokens file's business ("ROLE NAME cert").  now 0 means
 * time(NULL); *out_cert_pem is freed with free().
 */
enum o8_rc o8_pki_issue_operator(const char *dir, const char *name, const void *csr,
				 size_t len, time_t now, unsigned ttl,
				 char **out_cert_pem, struct o8_err *err);

/*
 * Revokes network/gateway: every serial `issued` to it goes to `revoked`,
 * its unused tokens are deleted, and crl.pem is re-signed.  O8_ENOTFOUND
 * when it has neither a certificate nor an unused token.  *out_ncerts and
 * *out_ntokens (each may be NULL) receive the number of certificates newly
 * revoked and of tokens deleted.
 */
enum o8_rc o8_pki_revoke(const char *dir, const char *network, const char *gateway,
			 size_t *out_ncerts, size_t *out_ntokens, struct o8_err *err);

/*
 * Revokes operator name: every serial `issued` to it goes to `revoked` and
 * crl.pem is re-signed.  O8_ENOTFOUND when it was never issued one.
 * *out_ncerts (may be NULL) receives the number newly revoked.
 */
enum o8_rc o8_pki_revoke_operator(const char *dir, const char *name, size_t *out_ncerts,
				  struct o8_err *err);

/* One row of `issued`, as `orc8r pki list` shows it. */
struct o8_pki_issued {
	char serial[41];                /* lowercase hex */
	char network[O8_PKI_NAME_MAX];  /* "" for an operator */
	char gateway[O8_PKI_NAME_MAX];  /* "" for an operator */
	char operator_name[O8_PKI_OPERATOR_MAX];        /* "" for a gateway */
	time_t not_before, not_after;
	bool revoked;
};

/* Every issued certificate, oldest first; *out is freed with free(). */
enum o8_rc o8_pki_list(struct o8_pki_issued **out, size_t *n, const char *dir,
		       struct o8_err *err);

/*
 * What syncd's mTLS handshake trusts: the CA certificate and the CRL it
 * signed (its signature is checked at load time).  Load once, check many
 * handshakes; o8_pki_trust_refresh re-reads the CRL when its file changed
 * (a stat per call), so `orc8r pki revoke` takes effect without a restart.
 */
struct o8_pki_trust;

enum o8_rc o8_pki_trust_load(struct o8_pki_trust **out, const char *ca_pem_path,
			     const char *crl_pem_path, struct o8_err *err);
enum o8_rc o8_pki_trust_refresh(struct o8_pki_trust *t, struct o8_err *err);
void o8_pki_trust_free(struct o8_pki_trust *t);     /* NULL is a no-op */

/* True when serial (the raw bytes, as gnutls_x509_crt_get_serial gives) is on the CRL. */
bool o8_pki_is_revoked(const struct o8_pki_trust *t, const void *serial, size_t len);

/*
 * Checks a peer's client certificate (PEM or DER): signed by the CA, valid
 * at now (0: time(NULL)), clientAuth, not a CA, not revoked, no
 * OU=orc8r-operator, CN "network/gateway".  On success *network and
 * *gateway (each may be NULL) are malloc'd copies of its identity.
 * O8_EINVALID with the reason otherwise.
 */
enum o8_rc o8_pki_trust_verify(const struct o8_pki_trust *t, const void *cert,
			       size_t len, time_t now, char **network, char **gateway,
			       struct o8_err *err);

/*
 * The same checks for an operator's client certificate (syncd's HTTP
 * API): chain, validity, clientAuth, not a CA, not revoked, then
 * OU=orc8r-operator and one CN that is a valid name.  *name (may be NULL)
 * is a malloc'd copy of that CN.  O8_EINVALID with the reason otherwise.
 */
enum o8_rc o8_pki_trust_verify_operator(const struct o8_pki_trust *t, const void *cert,
					size_t len, time_t now, char **name,
					struct o8_err *err);

/* One-shot form of load + verify + free, for tools and tests. */
enum o8_rc o8_pki_verify_peer(const char *ca_pem_path, const char *crl_pem_path,
			      const void *cert, size_t len, time_t now,
			      char **network, char **gateway, struct o8_err *err);

/*
 * Client side (agwd).  Makes a CSR for the ECDSA P-256 key in key_path,
 * creating the key (0600, never replacing a file) when the file does not
 * exist; an existing key must be P-256 and not readable by group or others.
 * identity_hint (may be NULL) becomes the CSR's CN; the CA ignores it.
 * *out_csr_pem is freed with free().
 */
enum o8_rc o8_pki_make_csr(const char *key_path, const char *identity_hint,
			   char **out_csr_pem, struct o8_err *err);

/*
 * Parses a certificate (PEM or DER) without verifying it: its identity CN
 * "network/gateway" and validity.  Outputs may be NULL; strings are freed
 * with free().
 */
enum o8_rc o8_pki_cert_identity(const char *cert_pem, size_t len, char **network,
				char **gateway, time_t *not_before, time_t *not_after,
				struct o8_err *err);

/* When to renew: not_before + 2/3 of the lifetime. */
time_t o8_pki_renew_at(time_t not_before, time_t not_after);

#endif
