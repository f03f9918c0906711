/*
 * enroll.c - an AGW gets its identity: a key made here (it never leaves
 * the AGW), a CSR, and a short-lived certificate from syncd's bootstrap
 * port over server-authenticated TLS (the token authenticates the AGW the
 * first time, its current certificate afterwards).
 */
#include "agent.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/pki.h"
#include "util/fileio.h"
#include "util/http.h"

#define REPLY_MAX (256u * 1024u)

/* The "error" of syncd's JSON reply, or the HTTP status. */
static void http_error(struct o8_err *err, const char *what, const char *url,
		       long status, const struct o8_http_resp *r)
{
	json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "error"));

	o8_err_set(err, status == 403 || status == 404 || status == 401 ?
		   O8_EINVALID : O8_ERR, NULL, 0, 0, "%s at %s: HTTP %ld%s%s",
		   what, url, status, msg ? ": " : "", msg ? msg : "");
	json_decref(j);
}

/*
 * POSTs body to url + path and stores the certificate of the reply as
 * dir/agw.crt.  With client, authenticates with dir's current key and
 * certificate.
 */
static enum o8_rc post_for_cert(const char *url, const char *path,
				const char *ca, const char *dir, bool client,
				const char *body, const char *what,
				struct o8_err *err)
{
	static const char *const json[] = { "Content-Type: application/json", NULL };
	char full[1024], keyp[PATH_MAX], certp[PATH_MAX];
	struct o8_http_opts o = O8_HTTP_OPTS_INIT;
	struct o8_http_resp r = O8_HTTP_RESP_INIT;
	struct o8_err herr = O8_ERR_INIT;
	struct o8_http *h;
	json_t *j = NULL;
	const char *pem;
	enum o8_rc hrc;

	snprintf(full, sizeof(full), "%s%s", url, path);
	o8_pki_path(keyp, sizeof(keyp), dir, O8_PKI_AGENT_KEY, NULL);
	o8_pki_path(certp, sizeof(certp), dir, O8_PKI_AGENT_CRT, NULL);
	o.connect_ms = 10000;
	o.total_ms = 30000;
	o.body_cap = REPLY_MAX;
	o.tls13 = true;
	o.ca_file = ca;
	if (client) {
		o.cert_file = certp;
		o.key_file = keyp;
	}
	if (o8_http_new(&h, &o, &herr))
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot start libcurl");
	hrc = o8_http_request(h, "POST", full, body, strlen(body), json, &r, &herr);
	o8_http_free(h);
	if (hrc && !r.over_cap) {
		o8_err_set(err, O8_ERR, NULL, 0, 0, "%s at %s: %s", what, full,
			   r.curl_code ? r.curl_msg : herr.msg);
		goto out;
	}
	if (r.over_cap || r.status != 200) {
		http_error(err, what, full, r.status, &r);
		goto out;
	}
	j = json_loads(r.body ? r.body : "", 0, NULL);
	pem = json_string_value(json_object_get(j, "certificate"));
	if (!pem) {
		o8_err_set(err, O8_ERR, NULL, 0, 0, "%s at %s: no certificate in the reply",
			   what, full);
		goto out;
	}
	if (o8_pki_cert_identity(pem, strlen(pem), NULL, NULL, NULL, NULL, err) == O8_OK)
		o8_fileio_write_atomic(certp, pem, strlen(pem), 0600, true, err);
out:
	json_decref(j);
	o8_http_resp_done(&r);
	return err->rc;
}

static enum o8_rc csr_body(char **out, const char *dir, const char *token,
			   struct o8_err *err)
{
	char keyp[PATH_MAX];
	char *csr = NULL;
	json_t *j;

	*out = NULL;
	o8_pki_path(keyp, sizeof(keyp), dir, O8_PKI_AGENT_KEY, NULL);
	if (o8_pki_make_csr(keyp, NULL, &csr, err))
		return err->rc;
	j = json_pack("{s:s}", "csr", csr);
	if (j && token)
		json_object_set_new(j, "token", json_string(token));
	*out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	free(csr);
	if (!*out)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	return O8_OK;
}

enum o8_rc agent_enroll(const char *url, const char *ca, const char *dir,
			const char *token, struct o8_err *err)
{
	char *body = NULL;
	enum o8_rc rc;

	if (csr_body(&body, dir, token, err))
		return err->rc;
	rc = post_for_cert(url, "/v1/enroll", ca, dir, false, body,
			   "enrolment", err);
	explicit_bzero(body, strlen(body));     /* it holds the token */
	free(body);
	return rc;
}

enum o8_rc agent_renew(const char *url, const char *ca, const char *dir,
		       struct o8_err *err)
{
	char *body = NULL;
	enum o8_rc rc;

	if (csr_body(&body, dir, NULL, err))
		return err->rc;
	rc = post_for_cert(url, "/v1/renew", ca, dir, true, body, "renewal", err);
	free(body);
	return rc;
}

enum o8_rc agent_identity(const char *dir, char **network, char **gateway,
			  time_t *not_before, time_t *not_after,
			  struct o8_err *err)
{
	char path[PATH_MAX];
	char buf[16384];
	FILE *f;
	size_t n;

	o8_pki_path(path, sizeof(path), dir, O8_PKI_AGENT_CRT, NULL);
	f = fopen(path, "re");
	if (!f)
		return o8_err_set(err, O8_ENOTFOUND, path, 0, 0,
				  "%s: no certificate: enrol first (agwd --enroll TOKEN)",
				  path);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (o8_pki_cert_identity(buf, n, network, gateway, not_before, not_after, err))
		o8_err_prefix(err, "%s", path);
	return err->rc;
}
