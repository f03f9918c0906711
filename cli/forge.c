#include "forge.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include "util/http.h"
#include <jansson.h>

#ifndef O8_VERSION
#define O8_VERSION "0.0.0"
#endif

/*
 * Limits.  Responses are read into a capped buffer: a hostile or broken
 * server must not make us allocate without bound.  The page bound turns a
 * server that always returns full pages into an error, not a loop.
 */
enum {
	RESPONSE_CAP = 1 << 20,         /* bytes per response (one page) */
	PER_PAGE = 100,                 /* the most both forges allow */
	MAX_PAGES = 100,                /* 10,000 comments */
	CONNECT_TIMEOUT_S = 10,
	TOTAL_TIMEOUT_S = 60,
	API_MESSAGE_MAX = 200,          /* bytes of the API's message we quote */
	MAX_CLOSERS = 16,               /* </details> added after a cut */
};

static const char truncated_note[] =
	"\n**Note:** plan truncated; run `orc8r plan` locally for the rest.\n";

struct o8_forge;

/*
 * What differs between the forges.  Paths are built by small functions
 * because their arguments differ (GitHub's comment edits do not name the
 * pull request).
 */
struct forge_kind {
	const char *name;               /* "github" */
	const char *label;              /* "GitHub", in messages */
	const char *detect_env;         /* "true" there means we run on it */
	const char *url_env;
	const char *default_url;        /* NULL: url_env is required */
	const char *repo_env;
	const char *repo_what;          /* how repo_env should look */
	const char *auth;               /* auth header up to the token */
	const char *job_auth;           /* same, for a CI job token */
	const char *accept;             /* Accept header */
	const char *extra_header;       /* NULL or one more fixed header */
	const char *update_method;      /* PATCH or PUT */
	size_t body_limit;              /* comment body, in bytes (<= characters) */
	bool escape_repo;               /* repo is one path segment (group%2Fproject) */
	bool skip_system;               /* ignore notes with "system": true */
	enum o8_rc (*resolve_token)(struct o8_forge *f, const char *opt,
				    struct o8_err *err);
	enum o8_rc (*resolve_pr)(struct o8_forge *f, struct o8_err *err);
	bool (*repo_ok)(const char *repo);
	char *(*list_path)(const struct o8_forge *f, unsigned page);
	char *(*create_path)(const struct o8_forge *f);
	char *(*update_path)(const struct o8_forge *f, json_int_t id);
	/* NULL: the answer to POST/PATCH has "html_url" */
	char *(*comment_url)(struct o8_forge *f, json_int_t id);
};

struct o8_forge {
	const struct forge_kind *k;
	char *api_url;                  /* no trailing slash */
	char *token;                    /* wiped on free */
	bool job_token;                 /* GitLab CI_JOB_TOKEN */
	char *repo;                     /* as given, for messages */
	char *repo_path;                /* as it goes in a URL path */
	long pr;
	struct o8_http *http;           /* headers: auth + accept + UA */
};

/* What a request with a body adds (no "Expect: 100-continue" round trip
 * before large bodies). */
static const char *const body_headers[] = {
	"Content-Type: application/json", "Expect:", NULL,
};

/* ---- small helpers ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

/* A positive decimal number and nothing else. */
static bool parse_number(const char *s, long *out)
{
	char *end;
	long v;

	if (!s || !isdigit((unsigned char)*s))
		return false;
	v = strtol(s, &end, 10);
	if (*end || v <= 0 || v == LONG_MAX)
		return false;
	*out = v;
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* ---- GitHub ---- */

static enum o8_rc github_token(struct o8_forge *f, const char *opt,
			       struct o8_err *err)
{
	const char *t = opt ? opt : env("GITHUB_TOKEN");

	if (!t)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "GITHUB_TOKEN is not set; the plan comment needs a token with pull-requests: write");
	if (!(f->token = strdup(t)))
		return oom(err);
	return O8_OK;
}

static enum o8_rc github_pr(struct o8_forge *f, struct o8_err *err)
{
	/* pull_request events carry both; .number alone in some others */
	static const char *const paths[][2] = {
		{ "pull_request", "number" },
		{ "number", NULL },
	};
	const char *path = env("GITHUB_EVENT_PATH");
	json_error_t jerr;
	json_t *ev, *v = NULL;
	size_t i;

	if (!path)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "GITHUB_EVENT_PATH is not set; give the pull request number");
	ev = json_load_file(path, 0, &jerr);
	if (!ev)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot read the GitHub event '%s' (GITHUB_EVENT_PATH): %s",
				  path, jerr.text);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && !json_is_integer(v); i++) {
		v = json_object_get(ev, paths[i][0]);
		if (paths[i][1])
			v = json_object_get(v, paths[i][1]);
	}
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) < LONG_MAX)
		f->pr = (long)json_integer_value(v);
	json_decref(ev);
	if (!f->pr)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "the GitHub event '%s' (GITHUB_EVENT_PATH) has no pull request number; run on pull_request events or give the number",
				  path);
	return O8_OK;
}

/* owner/name: GitHub allows letters, digits, '-', '_' and '.' in both. */
static bool github_repo_ok(const char *repo)
{
	const char *slash = strchr(repo, '/');
	const char *p;

	if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/'))
		return false;
	if (!strcmp(slash + 1, ".") || !strcmp(slash + 1, ".."))
		return false;
	for (p = repo; *p; p++)
		if (p != slash && !isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return false;
	return true;
}

static char *github_list_path(const struct o8_forge *f, unsigned page)
{
	return xasprintf("/repos/%s/issues/%ld/comments?per_page=%d&page=%u",
			 f->repo_path, f->pr, PER_PAGE, page);
}

static char *github_create_path(const struct o8_forge *f)
{
	return xasprintf("/repos/%s/issues/%ld/comments", f->repo_path, f->pr);
}

static char *github_update_path(const struct o8_forge *f, json_int_t id)
{
	return xasprintf("/repos/%s/issues/comments/%" JSON_INTEGER_FORMAT,
			 f->repo_path, id);
}

/* ---- GitLab ---- */

static enum o8_rc gitlab_token(struct o8_forge *f, const char *opt,
			       struct o8_err *err)
{
	const char *t = opt ? opt : env("GITLAB_TOKEN");

	if (!t && (t = env("CI_JOB_TOKEN")))
		f->job_token = true;
	if (!t)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "GITLAB_TOKEN is not set (nor CI_JOB_TOKEN); the plan comment needs a token with the api scope");
	if (!(f->token = strdup(t)))
		return oom(err);
	return O8_OK;
}

static enum o8_rc gitlab_pr(struct o8_forge *f, struct o8_err *err)
{
	const char *v = env("CI_MERGE_REQUEST_IID");

	if (!v)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "CI_MERGE_REQUEST_IID is not set; run in a merge request pipeline or give the merge request number");
	if (!parse_number(v, &f->pr))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "CI_MERGE_REQUEST_IID '%s' is not a merge request number", v);
	return O8_OK;
}

/* A numeric id or a path; either way it is escaped into one path segment. */
static bool gitlab_repo_ok(const char *repo)
{
	return !has_control(repo);
}

static char *gitlab_list_path(const struct o8_forge *f, unsigned page)
{
	/* notes come newest first by default; ascending keeps pages stable
	 * while others comment */
	return xasprintf("/projects/%s/merge_requests/%ld/notes?per_page=%d&page=%u&sort=asc&order_by=created_at",
			 f->repo_path, f->pr, PER_PAGE, page);
}

static char *gitlab_create_path(const struct o8_forge *f)
{
	return xasprintf("/projects/%s/merge_requests/%ld/notes", f->repo_path, f->pr);
}

static char *gitlab_update_path(const struct o8_forge *f, json_int_t id)
{
	return xasprintf("/projects/%s/merge_requests/%ld/notes/%" JSON_INTEGER_FORMAT,
			 f->repo_path, f->pr, id);
}

static char *gitlab_note_url(struct o8_forge *f, json_int_t id);

static const struct forge_kind kinds[] = {
	{
		.name = "github", .label = "GitHub",
		.detect_env = "GITHUB_ACTIONS",
		.url_env = "GITHUB_API_URL", .default_url = "https://api.github.com",
		.repo_env = "GITHUB_REPOSITORY", .repo_what = "owner/name",
		.auth = "Authorization: Bearer ", .job_auth = NULL,
		.accept = "Accept: application/vnd.github+json",
		.extra_header = "X-GitHub-Api-Version: 2022-11-28",
		.update_method = "PATCH",
		.body_limit = 65536,
		.resolve_token = github_token, .resolve_pr = github_pr,
		.repo_ok = github_repo_ok,
		.list_path = github_list_path, .create_path = github_create_path,
		.update_path = github_update_path,
	},
	{
		.name = "gitlab", .label = "GitLab",
		.detect_env = "GITLAB_CI",
		.url_env = "CI_API_V4_URL", .default_url = NULL,
		.repo_env = "CI_PROJECT_ID", .repo_what = "a project id or group/project",
		.auth = "PRIVATE-TOKEN: ", .job_auth = "JOB-TOKEN: ",
		.accept = "Accept: application/json",
		.extra_header = NULL,
		.update_method = "PUT",
		/* GitLab takes 1,000,000 characters, but the note must leave
		 * room in a 1 MiB page of notes for the next run to read it */
		.body_limit = 262144,
		.escape_repo = true, .skip_system = true,
		.resolve_token = gitlab_token, .resolve_pr = gitlab_pr,
		.repo_ok = gitlab_repo_ok,
		.list_path = gitlab_list_path, .create_path = gitlab_create_path,
		.update_path = gitlab_update_path,
		.comment_url = gitlab_note_url,
	},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/*
 * Advice for the statuses an operator can fix.  job_token: the row applies
 * only when GitLab's CI_JOB_TOKEN was used (-1: always).
 */
static const struct hint {
	const char *kind;
	long status;
	int job_token;
	const char *text;
} hints[] = {
	{ "github", 401, -1, "the token was refused; is GITHUB_TOKEN current?" },
	{ "github", 403, -1, "the token needs pull-requests: write (pull requests from forks get a read-only token)" },
	{ "github", 404, -1, "check the repository (GITHUB_REPOSITORY), the pull request number and that the token can see them" },
	{ "gitlab", 401, 1, "GitLab does not accept CI_JOB_TOKEN for notes; set GITLAB_TOKEN (a masked variable with the api scope)" },
	{ "gitlab", 403, 1, "GitLab does not accept CI_JOB_TOKEN for notes; set GITLAB_TOKEN (a masked variable with the api scope)" },
	{ "gitlab", 401, 0, "the token was refused; is GITLAB_TOKEN current?" },
	{ "gitlab", 403, 0, "the token needs the api scope and at least the Reporter role" },
	{ "gitlab", 404, -1, "check the project (CI_PROJECT_ID), the merge request number and that the token can see them" },
};

static const char *hint_for(const struct o8_forge *f, long status)
{
	size_t i;

	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (!strcmp(hints[i].kind, f->k->name) && hints[i].status == status &&
		    (hints[i].job_token < 0 || hints[i].job_token == (int)f->job_token))
			return hints[i].text;
	return NULL;
}

/* ---- setup ---- */

static enum o8_rc resolve_kind(struct o8_forge *f, const char *name,
			       struct o8_err *err)
{
	size_t i;

	for (i = 0; i < NKINDS; i++) {
		const char *d = getenv(kinds[i].detect_env);

		if (name ? !strcmp(name, kinds[i].name) : d && !strcmp(d, "true")) {
			f->k = &kinds[i];
			return O8_OK;
		}
	}
	if (name)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "unknown forge '%s' (github or gitlab)", name);
	return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
			  "cannot tell which forge to comment on: neither GITHUB_ACTIONS nor GITLAB_CI is 'true'; name the forge (github or gitlab)");
}

/*
 * The token goes to this URL in every request, so it must be one we can
 * trust: http(s) only, no credentials or query of its own, and plain http
 * only to this machine (tests), never across a network.
 */
static enum o8_rc resolve_url(struct o8_forge *f, const char *opt,
			      struct o8_err *err)
{
	const char *src = opt ? "the API URL" : f->k->url_env;
	const char *u = opt ? opt : env(f->k->url_env);
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *frag = NULL;
	enum o8_rc rc = O8_OK;
	CURLU *h;
	size_t n;

	if (!u && !(u = f->k->default_url))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s is not set; the %s API URL is needed for the plan comment",
				  f->k->url_env, f->k->label);
	if (!(h = curl_url()))
		return oom(err);
	if (curl_url_set(h, CURLUPART_URL, u, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		/* not echoed: a mistyped URL may hold a credential */
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"%s is not a URL like https://api.github.com", src);
		goto out;
	}
	if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"%s must not hold a user name, a query or a fragment", src);
		goto out;
	}
	if (strcmp(scheme, "https") &&
	    !(!strcmp(scheme, "http") &&
	      (!strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") ||
	       !strcmp(host, "[::1]")))) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"%s '%s' must use https (plain http only to this machine): the token would travel in clear",
				src, u);
		goto out;
	}
	if (!(f->api_url = strdup(u))) {
		rc = oom(err);
		goto out;
	}
	n = strlen(f->api_url);
	while (n && f->api_url[n - 1] == '/')
		f->api_url[--n] = '\0';
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(h);
	return rc;
}

static enum o8_rc resolve_repo(struct o8_forge *f, const char *opt,
			       struct o8_err *err)
{
	const char *src = opt ? "the repository" : f->k->repo_env;
	const char *r = opt ? opt : env(f->k->repo_env);

	if (!r)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s is not set; give the repository (%s)",
				  f->k->repo_env, f->k->repo_what);
	if (!f->k->repo_ok(r))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s '%s' is not %s", src, r, f->k->repo_what);
	if (!(f->repo = strdup(r)))
		return oom(err);
	if (f->k->escape_repo) {
		/* GitLab takes group/project as one segment: group%2Fproject */
		f->repo_path = o8_http_escape(f->http, r);
	} else {
		f->repo_path = strdup(r);
	}
	return f->repo_path ? O8_OK : oom(err);
}

static enum o8_rc build_headers(struct o8_forge *f, struct o8_err *err)
{
	const char *fixed[] = {
		f->k->accept, f->k->extra_header,
		"User-Agent: orc8r/" O8_VERSION,
	};
	const char *name = f->job_token ? f->k->job_auth : f->k->auth;
	enum o8_rc rc;
	char *auth;
	size_t j;

	if (!(auth = xasprintf("%s%s", name, f->token)))
		return oom(err);
	rc = o8_http_header(f->http, auth, err);
	for (j = 0; j < sizeof(fixed) / sizeof(fixed[0]) && rc == O8_OK; j++)
		if (fixed[j])
			rc = o8_http_header(f->http, fixed[j], err);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return rc;
}

static enum o8_rc new_http(struct o8_forge *f, struct o8_err *err)
{
	struct o8_http_opts o = O8_HTTP_OPTS_INIT;

	o.connect_ms = CONNECT_TIMEOUT_S * 1000L;
	o.total_ms = TOTAL_TIMEOUT_S * 1000L;
	o.body_cap = RESPONSE_CAP;
	o.protocols = "http,https";     /* resolve_url allows http to localhost only */
	o.decode = true;
	return o8_http_new(&f->http, &o, err);
}

enum o8_rc o8_forge_new(struct o8_forge **out, const struct o8_forge_opts *o,
			struct o8_err *err)
{
	static const struct o8_forge_opts none = O8_FORGE_OPTS_INIT;
	struct o8_forge *f;
	enum o8_rc rc;

	*out = NULL;
	if (!o)
		o = &none;
	if (o8_http_global_init(err))
		return err->rc;
	if (!(f = calloc(1, sizeof(*f))))
		return oom(err);
	if (new_http(f, err)) {
		o8_forge_free(f);
		return err->rc;
	}
	rc = resolve_kind(f, o->kind, err);
	if (rc == O8_OK)
		rc = resolve_url(f, o->api_url, err);
	if (rc == O8_OK)
		rc = f->k->resolve_token(f, o->token, err);
	if (rc == O8_OK && has_control(f->token))
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"the %s token contains a control character (a stray newline?)",
				f->k->label);
	if (rc == O8_OK)
		rc = resolve_repo(f, o->repo, err);
	if (rc == O8_OK) {
		if (o->pr < 0)
			rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					"pull request number %ld is not positive", o->pr);
		else if (o->pr > 0)
			f->pr = o->pr;
		else
			rc = f->k->resolve_pr(f, err);
	}
	if (rc == O8_OK)
		rc = build_headers(f, err);
	if (rc != O8_OK) {
		o8_forge_free(f);
		return rc;
	}
	*out = f;
	return O8_OK;
}

const char *o8_forge_kind(const struct o8_forge *f)
{
	return f->k->name;
}

long o8_forge_pr(const struct o8_forge *f)
{
	return f->pr;
}

void o8_forge_free(struct o8_forge *f)
{
	if (!f)
		return;
	o8_http_free(f->http);  /* wipes the auth header */
	if (f->token) {
		explicit_bzero(f->token, strlen(f->token));
		free(f->token);
	}
	free(f->api_url);
	free(f->repo);
	free(f->repo_path);
	free(f);
}

/* ---- one request ---- */

/*
 * The API's own words for a failure: GitHub {"message": "..."}, GitLab
 * {"message": "..." or {field: [...]}} or {"error": "..."}.  Quoted only
 * in part, without control characters, and never if it holds the token.
 */
static void api_message(const struct o8_forge *f, const struct o8_http_resp *b,
			char *out, size_t outsz)
{
	json_t *j = b->len ? json_loadb(b->body, b->len, 0, NULL) : NULL;
	json_t *m = json_object_get(j, "message");
	char *dumped = NULL;
	const char *s = NULL;
	size_t i;

	if (!m)
		m = json_object_get(j, "error");
	if (json_is_string(m))
		s = json_string_value(m);
	else if (m && (dumped = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS)))
		s = dumped;
	snprintf(out, outsz, "%s", s ? s : "");
	if (strlen(out) > API_MESSAGE_MAX)
		out[API_MESSAGE_MAX] = '\0';
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	if (f->token && *f->token && strstr(out, f->token))
		snprintf(out, outsz, "(message withheld: it quoted the token)");
	free(dumped);
	json_decref(j);
}

/*
 * method path [body] -> *out (parsed JSON of a 2xx answer; NULL allowed).
 * path starts with '/' and is relative to api_url.
 */
static enum o8_rc request(struct o8_forge *f, const char *method,
			  const char *path, const char *body, json_t **out,
			  struct o8_err *err)
{
	struct o8_http_resp b = O8_HTTP_RESP_INIT;
	struct o8_err herr = O8_ERR_INIT;
	enum o8_rc rc = O8_OK, hrc;
	json_error_t jerr;
	long status = 0;
	char *url;

	if (out)
		*out = NULL;
	if (!(url = xasprintf("%s%s", f->api_url, path)))
		return oom(err);
	hrc = o8_http_request(f->http, method, url, body, body ? strlen(body) : 0,
			      body ? body_headers : NULL, &b, &herr);
	if (hrc == O8_ELIMIT) {
		rc = o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
				"%s API: %s %s: the response is larger than %d MiB",
				f->k->label, method, path, RESPONSE_CAP >> 20);
		goto out;
	}
	if (hrc) {
		rc = o8_err_set(err, hrc, NULL, 0, 0, "%s API: %s %s%s: %s",
				f->k->label, method, f->api_url, path,
				b.curl_code ? b.curl_msg : herr.msg);
		goto out;
	}
	status = b.status;
	if (status < 200 || status > 299) {
		char msg[API_MESSAGE_MAX * 2 + 64];
		const char *hint = hint_for(f, status);

		api_message(f, &b, msg, sizeof(msg));
		rc = o8_err_set(err, status == 404 ? O8_ENOTFOUND : O8_ERR, NULL, 0, 0,
				"%s API: %s %s: HTTP %ld%s%s%s%s", f->k->label, method,
				path, status, *msg ? ": " : "", msg,
				hint ? "; " : "", hint ? hint : "");
		goto out;
	}
	if (out && !(*out = json_loadb(b.body ? b.body : "", b.len, 0, &jerr)))
		rc = o8_err_set(err, O8_ERR, NULL, 0, 0,
				"%s API: %s %s: the response is not JSON: %s",
				f->k->label, method, path, jerr.text);
out:
	o8_http_resp_done(&b);
	free(url);
	return rc;
}

/* ---- the comment ---- */

static bool starts_with_marker(const char *s)
{
	size_t n = strlen(O8_FORGE_MARKER);

	return !strncmp(s, O8_FORGE_MARKER, n) &&
	       (s[n] == '\0' || s[n] == '\n' || s[n] == '\r');
}

/*
 * Finds the oldest plan comment (smallest id: both forges number comments
 * in creation order) over every page; *id = 0 when there is none.
 */
static enum o8_rc find_comment(struct o8_forge *f, json_int_t *id,
			       struct o8_err *err)
{
	unsigned page;

	*id = 0;
	for (page = 1; page <= MAX_PAGES; page++) {
		char *path = f->k->list_path(f, page);
		json_t *arr, *c;
		enum o8_rc rc;
		size_t i, n;

		if (!path)
			return oom(err);
		rc = request(f, "GET", path, NULL, &arr, err);
		if (rc == O8_OK && !json_is_array(arr))
			rc = o8_err_set(err, O8_ERR, NULL, 0, 0,
					"%s API: GET %s: expected a list of comments",
					f->k->label, path);
		free(path);
		if (rc != O8_OK) {
			json_decref(arr);
			return rc;
		}
		n = json_array_size(arr);
		json_array_foreach(arr, i, c) {
			json_t *jid = json_object_get(c, "id");
			json_t *body = json_object_get(c, "body");

			if (!json_is_integer(jid) || !json_is_string(body))
				continue;
			if (f->k->skip_system && json_is_true(json_object_get(c, "system")))
				continue;
			if (!starts_with_marker(json_string_value(body)))
				continue;
			if (!*id || json_integer_value(jid) < *id)
				*id = json_integer_value(jid);
		}
		json_decref(arr);
		if (n < PER_PAGE)
			return O8_OK;
	}
	return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
			  "%s pull request #%ld has more than %d comments; not looking further for the plan comment",
			  f->k->label, f->pr, PER_PAGE * MAX_PAGES);
}

/*
 * What a cut leaves open, closed again: a code fence (a line starting with
 * ```) and <details> sections, so the rest of the page renders normally.
 */
static void open_blocks(const char *s, size_t n, bool *fence, unsigned *details)
{
	const char *end = s + n, *line = s;

	*fence = false;
	*details = 0;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		const char *p = line;

		while (p < le && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(le - p) >= 3 && !memcmp(p, "```", 3)) {
			*fence = !*fence;
		} else if (!*fence) {
			for (p = line; p < le; p++) {
				if ((size_t)(le - p) >= 8 && !memcmp(p, "<details", 8))
					(*details)++;
				else if ((size_t)(le - p) >= 10 && !memcmp(p, "</details>", 10) &&
					 *details)
					(*details)--;
			}
		}
		line = le + 1;
	}
}

/* The marker line + markdown, cut to the forge's limit.  malloc'ed. */
static char *comment_body(const struct o8_forge *f, const char *md)
{
	const char *prefix = starts_with_marker(md) ? "" : O8_FORGE_MARKER "\n";
	size_t plen = strlen(prefix), mlen = strlen(md), limit = f->k->body_limit;
	size_t reserve, cut, i, len;
	unsigned details;
	bool fence;
	char *out;

	if (plen + mlen <= limit)
		return xasprintf("%s%s", prefix, md);
	reserve = plen + 1 + 4 + MAX_CLOSERS * 11 + strlen(truncated_note);
	cut = limit - reserve;
	/* keep whole lines; one giant line is cut between characters */
	for (i = cut; i > 0 && md[i - 1] != '\n'; i--)
		;
	if (i > 0)
		cut = i;
	else
		while (cut > 0 && ((unsigned char)md[cut] & 0xC0) == 0x80)
			cut--;
	open_blocks(md, cut, &fence, &details);
	if (details > MAX_CLOSERS)
		details = MAX_CLOSERS;
	if (!(out = malloc(limit + 1)))
		return NULL;
	memcpy(out, prefix, plen);
	memcpy(out + plen, md, cut);
	len = plen + cut;
	if (cut && md[cut - 1] != '\n')
		out[len++] = '\n';
	if (fence) {
		memcpy(out + len, "```\n", 4);
		len += 4;
	}
	while (details--) {
		memcpy(out + len, "</details>\n", 11);
		len += 11;
	}
	memcpy(out + len, truncated_note, strlen(truncated_note));
	len += strlen(truncated_note);
	out[len] = '\0';
	return out;
}

/* GitLab answers notes without a web address; the merge request has one. */
static char *gitlab_note_url(struct o8_forge *f, json_int_t id)
{
	char *path = xasprintf("/projects/%s/merge_requests/%ld", f->repo_path, f->pr);
	struct o8_err ignored = O8_ERR_INIT;
	json_t *mr = NULL, *web;
	char *url = NULL;

	if (path && request(f, "GET", path, NULL, &mr, &ignored) == O8_OK &&
	    json_is_string(web = json_object_get(mr, "web_url")))
		url = xasprintf("%s#note_%" JSON_INTEGER_FORMAT, json_string_value(web), id);
	json_decref(mr);
	free(path);
	return url;
}

/*
 * Last line of defence: no message leaves with the token in it, whatever
 * a server echoed (jansson's parse errors quote the text they choked on).
 */
static enum o8_rc scrub(const struct o8_forge *f, enum o8_rc rc, struct o8_err *err)
{
	if (rc != O8_OK && err && *f->token && strstr(err->msg, f->token))
		snprintf(err->msg, sizeof(err->msg),
			 "%s API: request failed (details withheld: they quoted the token)",
			 f->k->label);
	return rc;
}

/*
 * Replaces comment id's body; when the comment vanished since it was
 * listed (deleted by someone), posts a new one instead.
 */
static enum o8_rc write_comment(struct o8_forge *f, json_int_t id,
				const char *payload, json_t **res, struct o8_err *err)
{
	struct o8_err lerr = O8_ERR_INIT;
	enum o8_rc rc;
	char *path;

	if (id) {
		if (!(path = f->k->update_path(f, id)))
			return oom(err);
		rc = request(f, f->k->update_method, path, payload, res, &lerr);
		free(path);
		if (rc != O8_ENOTFOUND) {
			if (rc != O8_OK && err && err->rc == O8_OK)
				*err = lerr;
			return rc;
		}
	}
	if (!(path = f->k->create_path(f)))
		return oom(err);
	rc = request(f, "POST", path, payload, res, err);
	free(path);
	return rc;
}

enum o8_rc o8_forge_upsert_comment(struct o8_forge *f, const char *markdown,
				   char **out_url, struct o8_err *err)
{
	char *text = NULL, *payload = NULL;
	json_t *req = NULL, *res = NULL, *v;
	json_int_t id;
	enum o8_rc rc;

	if (out_url)
		*out_url = NULL;
	if (!(text = comment_body(f, markdown)))
		return oom(err);
	/* jansson refuses invalid UTF-8, which the forge would refuse too */
	if (!(req = json_pack("{s:s}", "body", text))) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"the plan comment is not valid UTF-8");
		goto out;
	}
	if (!(payload = json_dumps(req, JSON_COMPACT))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = find_comment(f, &id, err)) != O8_OK)
		goto out;
	if ((rc = write_comment(f, id, payload, &res, err)) != O8_OK)
		goto out;
	if (!out_url)
		goto out;
	if (json_is_string(v = json_object_get(res, "html_url"))) {
		if (!(*out_url = strdup(json_string_value(v))))
			rc = oom(err);
	} else if (f->k->comment_url &&
		   json_is_integer(v = json_object_get(res, "id"))) {
		*out_url = f->k->comment_url(f, json_integer_value(v));
	}
out:
	json_decref(res);
	json_decref(req);
	free(payload);
	free(text);
	return scrub(f, rc, err);
}
