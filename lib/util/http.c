/*
 * http.c - see http.h.  One easy handle per client: its connection cache
 * lets pages and polls reuse one TLS session.
 */
#include "util/http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct o8_http {
	CURL *curl;
	struct o8_http_opts o;          /* strings below are owned copies */
	struct curl_slist *hdr;
	char curl_msg[CURL_ERROR_SIZE];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum o8_rc o8_http_global_init(struct o8_err *err)
{
	pthread_once(&init_once, global_init);
	if (init_rc != CURLE_OK)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot initialise libcurl: %s",
				  curl_easy_strerror(init_rc));
	return O8_OK;
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static bool dup_str(const char **dst, const char *src)
{
	if (!src)
		return true;
	return (*dst = strdup(src)) != NULL;
}

enum o8_rc o8_http_new(struct o8_http **out, const struct o8_http_opts *o,
		       struct o8_err *err)
{
	static const struct o8_http_opts dflt = O8_HTTP_OPTS_INIT;
	struct o8_http *h;

	*out = NULL;
	if (o8_http_global_init(err))
		return err->rc;
	if (!(h = calloc(1, sizeof(*h))))
		return oom(err);
	h->o = o ? *o : dflt;
	h->o.protocols = h->o.user_agent = h->o.ca_file = NULL;
	h->o.cert_file = h->o.key_file = NULL;
	if (!o)
		o = &dflt;
	if (!dup_str(&h->o.protocols, o->protocols ? o->protocols : "https") ||
	    !dup_str(&h->o.user_agent, o->user_agent) ||
	    !dup_str(&h->o.ca_file, o->ca_file) ||
	    !dup_str(&h->o.cert_file, o->cert_file) ||
	    !dup_str(&h->o.key_file, o->key_file)) {
		o8_http_free(h);
		return oom(err);
	}
	if (!(h->curl = curl_easy_init())) {
		o8_http_free(h);
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot create a libcurl handle");
	}
	*out = h;
	return O8_OK;
}

static void wipe(struct curl_slist *l)
{
	for (; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
}

void o8_http_free(struct o8_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	wipe(h->hdr);
	curl_slist_free_all(h->hdr);
	free((char *)h->o.protocols);
	free((char *)h->o.user_agent);
	free((char *)h->o.ca_file);
	free((char *)h->o.cert_file);
	free((char *)h->o.key_file);
	free(h);
}

enum o8_rc o8_http_header(struct o8_http *h, const char *line, struct o8_err *err)
{
	struct curl_slist *n = curl_slist_append(h->hdr, line);

	if (!n)
		return oom(err);
	h->hdr = n;
	return O8_OK;
}

char *o8_http_escape(struct o8_http *h, const char *s)
{
	char *e = curl_easy_escape(h->curl, s, 0);
	char *r = e ? strdup(e) : NULL;

	curl_free(e);
	return r;
}

void o8_http_resp_done(struct o8_http_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/* --- one request ---------------------------------------------------------- */

struct sink {
	struct o8_http_resp *r;
	size_t alloc, cap;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	struct o8_http_resp *r = s->r;
	size_t len = size * nmemb;

	if (len > s->cap - r->len) {
		r->over_cap = true;
		return 0;               /* curl stops with CURLE_WRITE_ERROR */
	}
	if (r->len + len + 1 > s->alloc) {
		size_t a = s->alloc ? s->alloc : 8192;
		char *p;

		while (a < r->len + len + 1)
			a *= 2;
		if (!(p = realloc(r->body, a)))
			return 0;
		r->body = p;
		s->alloc = a;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

/* The options of every request; curl_easy_reset keeps the connections. */
static void set_common(struct o8_http *h)
{
	CURL *c = h->curl;
	const struct o8_http_opts *o = &h->o;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, o->protocols);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->total_ms);
	if (o->low_speed_s > 0) {
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->low_speed_s);
	}
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, o->tls13 ? (long)CURL_SSLVERSION_TLSv1_3 :
			 (long)CURL_SSLVERSION_TLSv1_2);
	if (o->decode)
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (o->user_agent)
		curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert_file);
		if (o->key_file)
			curl_easy_setopt(c, CURLOPT_SSLKEY, o->key_file);
	}
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_msg);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
}

/* The client's headers and this request's, or NULL when out of memory. */
static struct curl_slist *all_headers(const struct o8_http *h,
				      const char *const *extra, bool *ok)
{
	struct curl_slist *l = NULL, *n;
	const struct curl_slist *p;

	*ok = true;
	for (p = h->hdr; p; p = p->next)
		if (!(n = curl_slist_append(l, p->data)))
			goto fail;
		else
			l = n;
	for (; extra && *extra; extra++)
		if (!(n = curl_slist_append(l, *extra)))
			goto fail;
		else
			l = n;
	return l;
fail:
	*ok = false;
	wipe(l);
	curl_slist_free_all(l);
	return NULL;
}

enum o8_rc o8_http_request(struct o8_http *h, const char *method, const char *url,
			   const char *body, size_t len, const char *const *headers,
			   struct o8_http_resp *resp, struct o8_err *err)
{
	struct sink s = { resp, 0, h->o.body_cap };
	struct curl_slist *hdr;
	enum o8_rc rc = O8_OK;
	CURLcode cc;
	bool ok;

	*resp = (struct o8_http_resp)O8_HTTP_RESP_INIT;
	if (!(hdr = all_headers(h, headers, &ok)) && !ok)
		return oom(err);
	set_common(h);
	h->curl_msg[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdr);
	if (body) {
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (method && strcmp(method, "POST"))
			curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
	} else if (method && strcmp(method, "GET")) {
		curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
	}
	cc = curl_easy_perform(h->curl);
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->curl_code = (int)cc;
	if (cc != CURLE_OK)
		snprintf(resp->curl_msg, sizeof(resp->curl_msg), "%s",
			 h->curl_msg[0] ? h->curl_msg : curl_easy_strerror(cc));
	if (cc == CURLE_WRITE_ERROR && resp->over_cap)
		rc = o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
				"the response is larger than %zu bytes", h->o.body_cap);
	else if (cc != CURLE_OK)
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "%s", resp->curl_msg);
	/* the request's headers may hold a token */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	wipe(hdr);
	curl_slist_free_all(hdr);
	return rc;
}
