/*
 * store.c - picks the backend from the URL, checks arguments once for
 * every backend, and dispatches.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

struct o8_store {
	const struct o8_store__ops *ops;
	void *impl;
};

/*
 * URL schemes.  SQLite's backend gets the path after "sqlite:"; libpq
 * parses a whole "postgresql://" URL itself (user, host list, port,
 * database, parameters such as sslmode), so it gets the URL unchanged.
 */
static const struct {
	const char *scheme;
	const struct o8_store__ops *ops;
	bool whole_url;
} schemes[] = {
	{ "postgres", &o8_store__pg, true },
	{ "postgresql", &o8_store__pg, true },
	{ "sqlite", &o8_store__sqlite, false },
};

/*
 * "scheme:rest" when url starts like an RFC 3986 scheme; otherwise a path.
 * Returns the scheme's length, 0 for a path.
 */
static size_t scheme_len(const char *url)
{
	size_t i;

	if (!((url[0] >= 'a' && url[0] <= 'z') || (url[0] >= 'A' && url[0] <= 'Z')))
		return 0;
	for (i = 1; url[i]; i++) {
		char c = url[i];

		if (c == ':')
			return i;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
			return 0;
	}
	return 0;
}

/* url as messages may show it: without a user or password. */
static const char *shown(const char *url, char *buf, size_t len)
{
	snprintf(buf, len, "%s", url);
	o8_redact_urls(buf);
	return buf;
}

enum o8_rc o8_store_open_opts(struct o8_store **out, const char *url,
			      const struct o8_store_opts *opts,
			      struct o8_err *err)
{
	struct o8_store_opts o = O8_STORE_OPTS_INIT;
	const struct o8_store__ops *ops = &o8_store__sqlite;
	const char *target = url;
	struct o8_store *s;
	enum o8_rc rc;
	size_t n, i;
	char buf[512];

	*out = NULL;
	if (!url || !*url)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot open the store: no URL or path given");
	if (opts)
		o = *opts;
	n = scheme_len(url);
	if (n) {
		for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
			if (strlen(schemes[i].scheme) == n &&
			    !strncasecmp(schemes[i].scheme, url, n))
				break;
		if (i == sizeof(schemes) / sizeof(schemes[0]))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "cannot open the store '%s': unknown "
					  "scheme '%.*s' (use sqlite:PATH, a path "
					  "or postgresql://...; write './%s' for a "
					  "file of that name)",
					  shown(url, buf, sizeof(buf)), (int)n, url,
					  shown(url, buf, sizeof(buf)));
		ops = schemes[i].ops;
		target = schemes[i].whole_url ? url : url + n + 1;
		if (!url[n + 1])
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "cannot open the store '%s': no "
					  "path after the scheme", url);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "cannot open the store '%s': out of memory",
				  shown(url, buf, sizeof(buf)));
	s->ops = ops;
	rc = ops->open(&s->impl, target, &o, err);
	if (rc != O8_OK) {
		free(s);
		return rc;
	}
	*out = s;
	return O8_OK;
}

enum o8_rc o8_store_open(struct o8_store **out, const char *url,
			 struct o8_err *err)
{
	return o8_store_open_opts(out, url, NULL, err);
}

void o8_store_close(struct o8_store *s)
{
	if (!s)
		return;
	s->ops->close(s->impl);
	free(s);
}

enum o8_rc o8_store_begin(struct o8_store *s, struct o8_err *err)
{
	return s->ops->begin(s->impl, err);
}

enum o8_rc o8_store_commit(struct o8_store *s, struct o8_err *err)
{
	return s->ops->commit(s->impl, err);
}

enum o8_rc o8_store_rollback(struct o8_store *s, struct o8_err *err)
{
	return s->ops->rollback(s->impl, err);
}

enum o8_rc o8_store_check(struct o8_store *s, struct o8_err *err)
{
	return s->ops->check(s->impl, err);
}

/* Versions are stored as SQL's signed 64-bit integers. */
#define VERSION_MAX ((uint64_t)INT64_MAX)

static enum o8_rc check_agent(const char *what, const char *network,
			      const char *gateway, struct o8_err *err)
{
	if (!network || !*network || !gateway || !*gateway)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot %s: the agent needs a network and "
				  "a gateway name", what);
	return O8_OK;
}

static enum o8_rc check_version(const char *what, const char *network,
				const char *gateway, uint64_t v,
				struct o8_err *err)
{
	if (v > VERSION_MAX)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot %s of %s/%s: version %llu is too "
				  "large", what, network, gateway,
				  (unsigned long long)v);
	return O8_OK;
}

void o8_store_agent_done(struct o8_store_agent *a)
{
	if (!a)
		return;
	free(a->network);
	free(a->gateway);
	free(a->acked_commit);
	free(a->digests);
	free(a->desired_commit);
	free(a->failed_reason);
	free(a->last_error);
	free(a->cert_serial);
	memset(a, 0, sizeof(*a));
}

enum o8_rc o8_store_agent_upsert_seen(struct o8_store *s, const char *network,
				      const char *gateway, int64_t now,
				      const char *cert_serial,
				      struct o8_err *err)
{
	if (check_agent("record that an agent was seen", network, gateway,
			err) != O8_OK)
		return O8_EINVALID;
	return s->ops->agent_upsert_seen(s->impl, network, gateway, now,
					 cert_serial, err);
}

enum o8_rc o8_store_agent_set_desired(struct o8_store *s, const char *network,
				      const char *gateway, uint64_t version,
				      const char *commit, struct o8_err *err)
{
	if (check_agent("set a desired version", network, gateway, err) != O8_OK ||
	    check_version("set the desired version", network, gateway, version,
			  err) != O8_OK)
		return O8_EINVALID;
	return s->ops->agent_set_desired(s->impl, network, gateway, version,
					 commit, err);
}

enum o8_rc o8_store_agent_set_failed(struct o8_store *s, const char *network,
				     const char *gateway, uint64_t version,
				     const char *reason, struct o8_err *err)
{
	if (check_agent("record a failed version", network, gateway, err) != O8_OK ||
	    check_version("record the failed version", network, gateway,
			  version, err) != O8_OK)
		return O8_EINVALID;
	return s->ops->agent_set_failed(s->impl, network, gateway, version,
					reason, err);
}

enum o8_rc o8_store_agent_set_error(struct o8_store *s, const char *network,
				    const char *gateway, const char *msg,
				    struct o8_err *err)
{
	if (check_agent("record an agent's error", network, gateway, err) != O8_OK)
		return O8_EINVALID;
	return s->ops->agent_set_error(s->impl, network, gateway, msg, err);
}

enum o8_rc o8_store_agent_ack(struct o8_store *s, const char *network,
			      const char *gateway, const struct o8_store_ack *a,
			      struct o8_err *err)
{
	if (check_agent("record an ack", network, gateway, err) != O8_OK ||
	    check_version("record the ack", network, gateway, a->version,
			  err) != O8_OK)
		return O8_EINVALID;
	if (a->version == 0)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot record the ack of %s/%s: version 0 "
				  "means never acked", network, gateway);
	if ((a->ndigests && !a->digests) || (a->nupserts && !a->upserts) ||
	    (a->ndeletes && !a->deletes))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot record the ack of %s/%s: a count "
				  "without its array", network, gateway);
	return s->ops->agent_ack(s->impl, network, gateway, a, err);
}

enum o8_rc o8_store_agent_get(struct o8_store *s, const char *network,
			      const char *gateway, struct o8_store_agent *out,
			      struct o8_err *err)
{
	memset(out, 0, sizeof(*out));
	if (check_agent("read an agent", network, gateway, err) != O8_OK)
		return O8_EINVALID;
	return s->ops->agent_get(s->impl, network, gateway, out, err);
}

enum o8_rc o8_store_agent_records(struct o8_store *s, const char *network,
				  const char *gateway,
				  enum o8_rc (*cb)(const struct o8_store_record *r,
						   void *payload),
				  void *payload, struct o8_err *err)
{
	if (check_agent("read an agent's records", network, gateway, err) != O8_OK)
		return O8_EINVALID;
	return s->ops->agent_records(s->impl, network, gateway, cb, payload, err);
}

enum o8_rc o8_store_agents_list(struct o8_store *s,
				enum o8_rc (*cb)(const struct o8_store_agent *a,
						 void *payload),
				void *payload, struct o8_err *err)
{
	return s->ops->agents_list(s->impl, cb, payload, err);
}

void o8_store_report_done(struct o8_store_report *r)
{
	if (!r)
		return;
	/* report_get's strings are malloc'd; the struct says const because
	 * callers fill it with their own strings for report_put */
	free((void *)r->status);
	free((void *)r->kpis);
	memset(r, 0, sizeof(*r));
}

enum o8_rc o8_store_report_put(struct o8_store *s, const char *network,
			       const char *gateway,
			       const struct o8_store_report *r,
			       struct o8_err *err)
{
	if (check_agent("store a state report", network, gateway, err) != O8_OK ||
	    check_version("store the state report", network, gateway,
			  r->version, err) != O8_OK)
		return O8_EINVALID;
	return s->ops->report_put(s->impl, network, gateway, r, err);
}

enum o8_rc o8_store_report_get(struct o8_store *s, const char *network,
			       const char *gateway, struct o8_store_report *out,
			       struct o8_err *err)
{
	memset(out, 0, sizeof(*out));
	if (check_agent("read a state report", network, gateway, err) != O8_OK)
		return O8_EINVALID;
	return s->ops->report_get(s->impl, network, gateway, out, err);
}

enum o8_rc o8_store_report_history(struct o8_store *s, const char *network,
				   const char *gateway, unsigned limit,
				   enum o8_rc (*cb)(const struct o8_store_report *r,
						    void *payload),
				   void *payload, struct o8_err *err)
{
	if (check_agent("read the report history", network, gateway, err) != O8_OK)
		return O8_EINVALID;
	return s->ops->report_history(s->impl, network, gateway, limit, cb,
				      payload, err);
}

enum o8_rc o8_store_event_add(struct o8_store *s,
			      const struct o8_store_event *ev, int64_t *id,
			      struct o8_err *err)
{
	if (!ev->who || !*ev->who || !ev->what || !*ev->what || !ev->result)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot add the event: it needs who, what "
				  "and a result");
	return s->ops->event_add(s->impl, ev, id, err);
}

enum o8_rc o8_store_events_list(struct o8_store *s,
				const struct o8_store_event_filter *f,
				enum o8_rc (*cb)(const struct o8_store_event *ev,
						 void *payload),
				void *payload, struct o8_err *err)
{
	static const struct o8_store_event_filter dflt = O8_STORE_EVENT_FILTER_INIT;

	return s->ops->events_list(s->impl, f ? f : &dflt, cb, payload, err);
}
