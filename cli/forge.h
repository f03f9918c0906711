/*
 * forge.h - the plan comment on a pull request (GitHub) or merge request
 * (GitLab), through the forge's REST API with libcurl.
 *
 * One comment per pull request, never two: its body starts with the hidden
 * marker line O8_FORGE_MARKER, and o8_forge_upsert_comment edits the oldest
 * comment that starts with it, or posts a new one when there is none.
 *
 * Everything the calls need is resolved once, by o8_forge_new, from the
 * options or else from the CI environment:
 *
 *   what      GitHub                         GitLab
 *   kind      GITHUB_ACTIONS=true            GITLAB_CI=true
 *   api_url   GITHUB_API_URL, else           CI_API_V4_URL
 *             https://api.github.com
 *   token     GITHUB_TOKEN                   GITLAB_TOKEN (sent as PRIVATE-TOKEN),
 *             (Authorization: Bearer)        else CI_JOB_TOKEN (JOB-TOKEN)
 *   repo      GITHUB_REPOSITORY (owner/name) CI_PROJECT_ID (id or group/project)
 *   pr        GITHUB_EVENT_PATH's            CI_MERGE_REQUEST_IID
 *             .pull_request.number / .number
 *
 * An explicit opts->token on GitLab is sent as PRIVATE-TOKEN.  GitLab only
 * accepts CI_JOB_TOKEN on the endpoints it allows for job tokens, and notes
 * are not among them by default: CI should set GITLAB_TOKEN (a project
 * access token with the api scope, as a masked variable).
 *
 * The token is never part of an error message, and never leaves the process
 * except in the auth header of requests to api_url (redirects are not
 * followed, so it cannot be forwarded to another host).
 *
 * libcurl: o8_forge_new calls curl_global_init(CURL_GLOBAL_DEFAULT) once per
 * process (pthread_once), so callers need no set-up of their own; it is
 * never undone (curl_global_cleanup is left to process exit), which is what
 * a CLI and a long-lived daemon both want.  A struct o8_forge is used by one
 * thread at a time.
 */
#ifndef O8_FORGE_H
#define O8_FORGE_H

#include "util/err.h"

/* First line of the plan comment; how the comment is found again. */
#define O8_FORGE_MARKER "<!-- orc8r:plan -->"

struct o8_forge;                /* opaque */

struct o8_forge_opts {
	const char *kind;       /* "github", "gitlab"; NULL: from the environment */
	const char *api_url;    /* NULL: GITHUB_API_URL / https://api.github.com,
				   or CI_API_V4_URL */
	const char *token;      /* NULL: GITHUB_TOKEN, or GITLAB_TOKEN / CI_JOB_TOKEN */
	const char *repo;       /* NULL: GITHUB_REPOSITORY (owner/name), or
				   CI_PROJECT_ID (numeric id or group/project) */
	long pr;                /* 0: from GITHUB_EVENT_PATH or CI_MERGE_REQUEST_IID */
};

#define O8_FORGE_OPTS_INIT { NULL, NULL, NULL, NULL, 0 }

/*
 * Resolves the forge, URL, token, repository and pull request from o (may
 * be NULL: all from the environment) and prepares the HTTP client.  Sends
 * nothing.  A missing or malformed setting is O8_EINVALID with a message
 * that names the variable and what it must hold, e.g. "GITHUB_TOKEN is not
 * set; the plan comment needs a token with pull-requests: write".  *out is
 * the caller's (o8_forge_free); NULL on error.
 */
enum o8_rc o8_forge_new(struct o8_forge **out, const struct o8_forge_opts *o,
			struct o8_err *err);

/*
 * Posts markdown as the plan comment, or replaces the body of the existing
 * one (the oldest comment whose body starts with O8_FORGE_MARKER; later ones
 * are left alone).  The marker line is prepended unless markdown already
 * starts with it.  A body over the limit (GitHub's: 65,536 characters; on
 * GitLab, which takes 1,000,000, 256 KiB so that a page of notes holding
 * it stays under the response cap; both counted in bytes) is cut at a line
 * boundary, open <details> and code fences are closed, and a note says the
 * plan was truncated.
 *
 * Requests: list the comments (100 a page, every page), then one PATCH
 * (GitLab: PUT) or one POST (also when the comment to edit was deleted
 * meanwhile: 404); for GitLab one more GET for the merge request's web URL.  Each request: connect timeout 10 s, total 60 s, response capped
 * at 1 MiB.  Errors: HTTP failures say the method, the API path, the status
 * and the API's message (O8_ENOTFOUND for 404, else O8_ERR); O8_ELIMIT for
 * a response over the cap or too many pages.
 *
 * out_url (may be NULL): on success the comment's web address, malloc'ed
 * and the caller's, or NULL when the forge did not give one (GitLab: when
 * the merge request's web_url could not be read).
 */
enum o8_rc o8_forge_upsert_comment(struct o8_forge *f, const char *markdown,
				   char **out_url, struct o8_err *err);

/* "github" or "gitlab" (static string). */
const char *o8_forge_kind(const struct o8_forge *f);

/* The pull request (GitHub) or merge request IID (GitLab) number. */
long o8_forge_pr(const struct o8_forge *f);

/* Wipes the token from memory and releases f; NULL is a no-op. */
void o8_forge_free(struct o8_forge *f);

#endif
