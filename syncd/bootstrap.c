/*
 * bootstrap.c - POST /v1/enroll and POST /v1/renew on an o8_httpd.
 *
 * lib/proto/pki.c does the work; this file maps its answers to HTTP.  Its one
 * ambiguity, O8_EINVALID for a bad CSR as for a wrong or expired token, is
 * settled by checking the token's shape and the CSR here first: what
 * o8_pki_redeem still calls invalid after that is the token.
 */
#include "bootstrap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "proto/pki.h"

#define BODY_MAX (64u * 1024u)          /* a CSR is < 1 KiB; pki caps it at 16 */
#define TOKEN_PREFIX "o8e1."            /* pki.h: "o8e1.<16 hex id>.<64 hex secret>" */
#define TOKEN_ID_HEX 16
#define TOKEN_SECRET_HEX 64
#define HEX "0123456789abcdef"

struct syncd_bootstrap {
	struct syncd_bootstrap_opts o;  /* listen and pki not kept */
	char *pki;
	char *ca_pem;                   /* returned with every certificate */
	struct o8_pki_trust *trust;
	struct o8_httpd *http;
};

static void on_enroll(struct o8_httpd_req *req, void *payload);
static void on_renew(struct o8_httpd_req *req, void *payload);

static const struct o8_httpd_route routes[] = {
	{ "POST", "/v1/enroll", O8_HTTPD_PUBLIC, on_enroll },
	{ "POST", "/v1/renew", O8_HTTPD_PUBLIC, on_renew },
};

/* --- helpers ------------------------------------------------------------- */

static void event(const struct syncd_bootstrap *b, const struct o8_httpd_req *req,
		  const char *action, const char *network, const char *gateway,
		  const char *serial, unsigned status, const char *detail)
{
	struct syncd_bootstrap_event ev = {
		action, o8_httpd_req_peer(req), network, gateway, serial, status,
		status == 200 ? "ok" : status >= 500 ? "error" : "refused", detail,
	};

	if (b->o.event)
		b->o.event(&ev, b->o.payload);
}

/* Replies {"error": msg} and reports the event. */
static void refuse(const struct syncd_bootstrap *b, struct o8_httpd_req *req,
		   const char *action, const char *network, const char *gateway,
		   unsigned status, const char *reply, const char *detail)
{
	o8_httpd_reply_error(req, status, "%s", reply);
	event(b, req, action, network, gateway, NULL, status, detail ? detail : reply);
}

/* The hex serial of a PEM certificate, for the audit log ("" if unreadable). */
static void serial_of(const char *pem, char *out, size_t n)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)pem, (unsigned)strlen(pem) };
	unsigned char raw[64];
	size_t rlen = sizeof(raw), hlen = n;
	gnutls_datum_t rd = { raw, 0 };
	gnutls_x509_crt_t crt;

	out[0] = '\0';
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_get_serial(crt, raw, &rlen) >= 0) {
		rd.size = (unsigned)rlen;
		if (gnutls_hex_encode(&rd, out, &hlen) < 0)
			out[0] = '\0';
	}
	gnutls_x509_crt_deinit(crt);
}

/*
 * The CSR checks that make a 400 (so that O8_EINVALID from pki afterwards
 * means the token): a PKCS#10 request whose signature verifies, for an
 * ECDSA P-256 key.
 */
static const char *csr_problem(const char *csr)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)csr, (unsigned)strlen(csr) };
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t pub = NULL;
	const char *why = NULL;

	if (gnutls_x509_crq_init(&crq) < 0)
		return "cannot read the certificate request";
	if (gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM) < 0)
		why = "csr is not a PEM certificate request (PKCS#10)";
	else if (gnutls_x509_crq_verify(crq, 0) < 0)
		why = "the certificate request's signature does not verify";
	else if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_x509_crq(pub, crq, 0) < 0 ||
		 gnutls_pubkey_export_ecc_raw(pub, &curve, NULL, NULL) < 0 ||
		 curve != GNUTLS_ECC_CURVE_SECP256R1)
		why = "the certificate request's key is not ECDSA P-256";
	if (pub)
		gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	return why;
}

static bool token_shape_ok(const char *t)
{
	const char *id = t + sizeof(TOKEN_PREFIX) - 1, *secret = id + TOKEN_ID_HEX + 1;

	return strlen(t) == sizeof(TOKEN_PREFIX) - 1 + TOKEN_ID_HEX + 1 + TOKEN_SECRET_HEX &&
	       !strncmp(t, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1) &&
	       strspn(id, HEX) == TOKEN_ID_HEX && id[TOKEN_ID_HEX] == '.' &&
	       strspn(secret, HEX) == TOKEN_SECRET_HEX;
}

/* {"certificate": pem, "ca": ...} and the "ok" event. */
static void issued(const struct syncd_bootstrap *b, struct o8_httpd_req *req,
		   const char *action, const char *pem)
{
	char serial[130], *network = NULL, *gateway = NULL;
	struct o8_err ignored = O8_ERR_INIT;

	serial_of(pem, serial, sizeof(serial));
	o8_pki_cert_identity(pem, strlen(pem), &network, &gateway, NULL, NULL, &ignored);
	o8_httpd_reply_json(req, 200, json_pack("{s:s, s:s}", "certificate", pem, "ca",
						b->ca_pem));
	event(b, req, action, network, gateway, serial[0] ? serial : NULL, 200, NULL);
	free(network);
	free(gateway);
}

/* The JSON body; NULL after a 400 reply. */
static json_t *body_json(const struct syncd_bootstrap *b, struct o8_httpd_req *req,
			 const char *action)
{
	size_t len;
	const char *body = o8_httpd_req_body(req, &len);
	json_t *j = json_loadb(body, len, 0, NULL);

	if (!json_is_object(j)) {
		json_decref(j);
		refuse(b, req, action, NULL, NULL, 400, "the body is not a JSON object", NULL);
		return NULL;
	}
	return j;
}

/* --- POST /v1/enroll ----------------------------------------------------- */

static unsigned redeem_status(enum o8_rc rc, const char **reply)
{
	switch (rc) {
	case O8_ENOTFOUND:
		*reply = "unknown enrolment token (revoked, or made for another PKI)";
		return 404;
	case O8_ECONFLICT:
		*reply = "enrolment token already used: make a new one with "
			 "'orc8r pki enroll-token'";
		return 403;
	case O8_EINVALID:
		*reply = "enrolment token refused: wrong or expired";
		return 403;
	case O8_ELIMIT:
		*reply = "certificate request too large";
		return 400;
	default:
		*reply = "cannot issue a certificate now (see syncd's log)";
		return 500;
	}
}

static void on_enroll(struct o8_httpd_req *req, void *payload)
{
	const struct syncd_bootstrap *b = payload;
	struct o8_err err = O8_ERR_INIT;
	const char *token, *csr, *why, *reply;
	char *pem = NULL;
	json_t *j;
	enum o8_rc rc;
	unsigned status;

	if (!(j = body_json(b, req, "enroll")))
		return;
	token = json_string_value(json_object_get(j, "token"));
	csr = json_string_value(json_object_get(j, "csr"));
	if (!token || !csr) {
		refuse(b, req, "enroll", NULL, NULL, 400,
		       "expected {\"token\": \"o8e1...\", \"csr\": \"PEM\"}", NULL);
	} else if (!token_shape_ok(token)) {
		refuse(b, req, "enroll", NULL, NULL, 400,
		       "malformed enrolment token: expected what 'orc8r pki enroll-token' printed",
		       NULL);
	} else if ((why = csr_problem(csr))) {
		refuse(b, req, "enroll", NULL, NULL, 400, why, NULL);
	} else if ((rc = o8_pki_redeem(b->pki, token, csr, strlen(csr), 0, b->o.cert_ttl,
				       &pem, &err))) {
		/* pki's message names the token's id, never its secret: fine for
		   the log, kept out of the reply anyway */
		status = redeem_status(rc, &reply);
		refuse(b, req, "enroll", NULL, NULL, status, reply, err.msg);
	} else {
		issued(b, req, "enroll", pem);
	}
	if (token)
		explicit_bzero((char *)(uintptr_t)token, strlen(token));
	json_decref(j);
	free(pem);
}

/* --- POST /v1/renew ------------------------------------------------------ */

static void on_renew(struct o8_httpd_req *req, void *payload)
{
	const struct syncd_bootstrap *b = payload;
	struct o8_err err = O8_ERR_INIT;
	char *network = NULL, *gateway = NULL, *pem = NULL;
	const void *der;
	const char *csr;
	json_t *j = NULL;
	size_t len = 0;
	enum o8_rc rc;

	if (!(der = o8_httpd_req_peer_cert(req, &len))) {
		refuse(b, req, "renew", NULL, NULL, 401,
		       "renewal needs the gateway's current client certificate", NULL);
		return;
	}
	/* A failed refresh keeps the revocations already known: still safe. */
	o8_pki_trust_refresh(b->trust, &err);
	o8_err_clear(&err);
	if (o8_pki_trust_verify(b->trust, der, len, 0, &network, &gateway, &err)) {
		char reply[600];

		snprintf(reply, sizeof(reply), "client certificate refused: %s", err.msg);
		refuse(b, req, "renew", NULL, NULL, 401, reply, NULL);
		goto out;
	}
	if (!(j = body_json(b, req, "renew")))
		goto out;
	if (!(csr = json_string_value(json_object_get(j, "csr")))) {
		refuse(b, req, "renew", network, gateway, 400, "expected {\"csr\": \"PEM\"}", NULL);
	} else if ((rc = o8_pki_issue(b->pki, network, gateway, csr, strlen(csr), 0,
				      b->o.cert_ttl, &pem, &err))) {
		refuse(b, req, "renew", network, gateway, rc == O8_ERR ? 500 : 400,
		       rc == O8_ERR ? "cannot issue a certificate now (see syncd's log)" : err.msg,
		       err.msg);
	} else {
		issued(b, req, "renew", pem);
	}
out:
	json_decref(j);
	free(pem);
	free(network);
	free(gateway);
}

/* --- start and stop ------------------------------------------------------ */

/* The server's callbacks get b; the owner's get its own payload. */
static void on_log(const struct o8_httpd_log *entry, void *payload)
{
	const struct syncd_bootstrap *b = payload;

	if (b->o.log)
		b->o.log(entry, b->o.payload);
}

static void on_note(const char *msg, void *payload)
{
	const struct syncd_bootstrap *b = payload;

	if (b->o.note)
		b->o.note(msg, b->o.payload);
}

void syncd_bootstrap_free(struct syncd_bootstrap *b)
{
	if (!b)
		return;
	o8_httpd_free(b->http);
	o8_pki_trust_free(b->trust);
	free(b->ca_pem);
	free(b->pki);
	free(b);
}

unsigned syncd_bootstrap_port(const struct syncd_bootstrap *b)
{
	return o8_httpd_port(b->http);
}

static enum o8_rc load_ca_pem(struct syncd_bootstrap *b, const char *path,
			      struct o8_err *err)
{
	gnutls_datum_t d = { NULL, 0 };

	if (gnutls_load_file(path, &d) < 0)
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0, "cannot read '%s'", path);
	b->ca_pem = strndup((const char *)d.data, d.size);
	gnutls_free(d.data);
	return b->ca_pem ? O8_OK : o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

enum o8_rc syncd_bootstrap_start(struct syncd_bootstrap **out, uv_loop_t *loop,
				 const struct syncd_bootstrap_opts *o, struct o8_err *err)
{
	struct o8_httpd_opts ho = O8_HTTPD_OPTS_INIT;
	char ca[4200], crl[4200], crt[4200], key[4200];
	struct syncd_bootstrap *b;
	enum o8_rc rc;

	*out = NULL;
	if (!(b = calloc(1, sizeof(*b))) || !(b->pki = strdup(o->pki))) {
		free(b);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	}
	b->o = *o;
	b->o.listen = b->o.pki = NULL;
	o8_pki_path(ca, sizeof(ca), o->pki, O8_PKI_CA_CRT, NULL);
	o8_pki_path(crl, sizeof(crl), o->pki, O8_PKI_CRL, NULL);
	o8_pki_path(crt, sizeof(crt), o->pki, O8_PKI_SERVER_CRT, NULL);
	o8_pki_path(key, sizeof(key), o->pki, O8_PKI_SERVER_KEY, NULL);
	ho.listen = o->listen;
	ho.tls_cert = crt;
	ho.tls_key = key;
	ho.tls_trust = ca;
	ho.max_body = BODY_MAX;
	ho.routes = routes;
	ho.nroutes = sizeof(routes) / sizeof(routes[0]);
	ho.log = on_log;
	ho.note = on_note;
	ho.payload = b;
	if ((rc = o8_pki_trust_load(&b->trust, ca, crl, err)) ||
	    (rc = load_ca_pem(b, ca, err)) ||
	    (rc = o8_httpd_start(&b->http, loop, &ho, err))) {
		o8_err_prefix(err, "bootstrap port");
		syncd_bootstrap_free(b);
		return rc;
	}
	*out = b;
	return O8_OK;
}
