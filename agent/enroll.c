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

#include <curl/curl.h>
#include <jansson.h>

#include "proto/pki.h"
#include "util/fileio.h"

#define REPLY_MAX (256u * 1024u)

struct reply {
	char *buf;
	size_t len;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t add = size * n;
	char *nb;

	if (r->len + add > REPLY_MAX) {
		r->too_big = true;
		return 0;
	}
	nb = realloc(r->buf, r->len + add + 1);
	if (!nb)
		return 0;
	r->buf = nb;
	memcpy(r->buf + r->len, p, add);
	r->len += add;
	r->buf[r->len] = '\0';
	return add;
}

/* The "error" of syncd's JSON reply, or the HTTP status. */
static void http_error(struct o8_err *err, const char *what, const char *url,
		       long status, const struct reply *r)
{
	json_t *j = r->buf ? json_loads(r->buf, 0, NULL) : NULL;
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
	char full[1024], keyp[PATH_MAX], certp[PATH_MAX], cerr[CURL_ERROR_SIZE] = "";
	struct reply r = { 0 };
	struct curl_slist *hdr = NULL;
	CURL *h = curl_easy_init();
	long status = 0;
	json_t *j = NULL;
	const char *pem;
	CURLcode cc;

	if (!h)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot start libcurl");
	snprintf(full, sizeof(full), "%s%s", url, path);
	o8_pki_path(keyp, sizeof(keyp), dir, O8_PKI_AGENT_KEY, NULL);
	o8_pki_path(certp, sizeof(certp), dir, O8_PKI_AGENT_CRT, NULL);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	if (client) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, certp);
		curl_easy_setopt(h, CURLOPT_SSLKEY, keyp);
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	if (cc != CURLE_OK && !r.too_big) {
		o8_err_set(err, O8_ERR, NULL, 0, 0, "%s at %s: %s", what, full,
			   cerr[0] ? cerr : curl_easy_strerror(cc));
		goto out;
	}
	if (r.too_big || status != 200) {
		http_error(err, what, full, status, &r);
		goto out;
	}
	j = json_loads(r.buf, 0, NULL);
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
	free(r.buf);
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
