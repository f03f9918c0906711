/*
 * bootstrap.h - syncd's enrolment port (api.md "Bootstrap port").
 *
 * An HTTPS listener with syncd's server certificate from the PKI directory.
 * A client certificate is requested but optional, with the CA as trust:
 *
 *   POST /v1/enroll {"token": "o8e1...", "csr": "PEM"}
 *       a one-time token (orc8r pki enroll-token) and a CSR become a client
 *       certificate for the token's network/gateway (o8_pki_redeem)
 *   POST /v1/renew {"csr": "PEM"}
 *       a gateway presenting its current, valid, unrevoked certificate
 *       (o8_pki_trust_verify) gets a new one for the same identity
 *
 * Both answer 200 {"certificate": "PEM", "ca": "PEM of ca.crt"}, or an
 * error: 400 malformed request, CSR or token; 401 renewal without a valid
 * certificate; 403 token wrong, expired or used; 404 unknown token; 500.
 * No reply or event ever contains the token.
 *
 * Issuing signs and syncs files on the loop thread (milliseconds); AGWs
 * enrol once and renew weekly, so this is not worth a thread.
 */
#ifndef O8_SYNCD_BOOTSTRAP_H
#define O8_SYNCD_BOOTSTRAP_H

#include <uv.h>

#include "util/err.h"
#include "httpd.h"

struct syncd_bootstrap;

/* What happened to one enrolment or renewal, for the audit log. */
struct syncd_bootstrap_event {
	const char *action;             /* "enroll" | "renew" */
	const char *peer;               /* "ADDR:PORT" */
	const char *network, *gateway;  /* NULL when not known (refused token) */
	const char *serial;             /* the new certificate's, hex; or NULL */
	unsigned status;                /* the HTTP status sent */
	const char *result;             /* "ok" | "refused" | "error" */
	const char *detail;             /* why, when not ok; never a secret */
};

struct syncd_bootstrap_opts {
	const char *listen;             /* "HOST:PORT" */
	const char *pki;                /* ca.crt, crl.pem, server.crt, server.key */
	unsigned cert_ttl;              /* seconds; 0: O8_PKI_CERT_TTL */
	void (*event)(const struct syncd_bootstrap_event *ev, void *payload);
	void (*log)(const struct o8_httpd_log *entry, void *payload);
	void (*note)(const char *msg, void *payload);
	void *payload;
};

#define SYNCD_BOOTSTRAP_OPTS_INIT { NULL, NULL, 0, NULL, NULL, NULL, NULL }

/*
 * Loads the CA, the CRL and the server certificate from o->pki (a missing
 * file is an error naming it) and starts listening on loop.  *out belongs
 * to the caller: syncd_bootstrap_free it.
 */
enum o8_rc syncd_bootstrap_start(struct syncd_bootstrap **out, uv_loop_t *loop,
				 const struct syncd_bootstrap_opts *o, struct o8_err *err);

/* The port bound (the one the kernel picked for port 0). */
unsigned syncd_bootstrap_port(const struct syncd_bootstrap *b);

/*
 * Stops listening and frees b; as with o8_httpd_free, the loop must run
 * once more to release the server's handles.  NULL is a no-op.
 */
void syncd_bootstrap_free(struct syncd_bootstrap *b);

#endif
