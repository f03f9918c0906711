/*
 * test_git_fetch.c - o8_git_fetch_remote (lib/repo/git.h): the mirror syncd
 * keeps of the operators' branch, over a plain path, file:// and git://
 * (a real `git daemon`, started per connection in inetd mode on a port
 * this test bound on 127.0.0.1, so no port is ever guessed).  The remote's
 * history is made with the git CLI under a HOME of the test's own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "repo/git.h"

extern char **environ;

static char home[PATH_MAX];

struct fx {
	char root[1024];
	char srv[1100];         /* base path of the daemon */
	char origin[PATH_MAX];  /* srv/origin.git, bare */
	char work[PATH_MAX];    /* where commits are made and pushed from */
	char mirror[PATH_MAX];  /* not there yet: the fetch creates it */
};

/*
 * Runs a shell command, which must succeed; out (when not NULL) gets the
 * first line it printed, without the newline.
 */
static void sh(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sh(char *out, size_t len, const char *fmt, ...)
{
	char *cmd, line[512] = "";
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	assert_non_null(p = popen(cmd, "r"));
	if (fgets(line, sizeof(line), p))
		line[strcspn(line, "\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	if (pclose(p) != 0)
		fail_msg("command failed: %s", cmd);
	if (out)
		snprintf(out, len, "%s", line);
	free(cmd);
}

/* Commits one file in work and pushes it (forced: history may be rewritten). */
static void commit_push(const struct fx *f, const char *file, const char *text)
{
	char path[PATH_MAX + 64];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->work, file);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	sh(NULL, 0, "git -C '%s' add -A && git -C '%s' commit -q -m 'change %s' && "
	    "git -C '%s' push -q -f origin main", f->work, f->work, file, f->work);
}

static void tip_of(char out[O8_OID_HEX_SIZE], const char *repo, const char *ref)
{
	sh(out, 41, "git -C '%s' rev-parse '%s'", repo, ref);
}

static int fx_setup(void **state)
{
	const char *t = getenv("TMPDIR");
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/o8-test-fetch-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->srv, sizeof(f->srv), "%s/srv", f->root);
	snprintf(f->origin, sizeof(f->origin), "%s/origin.git", f->srv);
	snprintf(f->work, sizeof(f->work), "%s/work", f->root);
	snprintf(f->mirror, sizeof(f->mirror), "%s/state/mirror", f->root);
	sh(NULL, 0, "git init -q --bare -b main '%s' && git init -q -b main '%s' && "
	    "git -C '%s' remote add origin '%s'", f->origin, f->work, f->work, f->origin);
	commit_push(f, "network.yaml", "kind: Network\n");
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	sh(NULL, 0, "rm -rf '%s'", f->root);
	free(f);
	return 0;
}

/* Fetches and checks that the answer is the remote's tip. */
static void fetch_ok(const struct fx *f, const char *url, char commit[O8_OID_HEX_SIZE])
{
	struct o8_err err = O8_ERR_INIT;
	char want[O8_OID_HEX_SIZE], tracking[O8_OID_HEX_SIZE];

	if (o8_git_fetch_remote(NULL, f->mirror, url, "main", commit, &err))
		fail_msg("o8_git_fetch_remote(%s): %s", url, err.msg);
	tip_of(want, f->origin, "main");
	assert_string_equal(commit, want);
	tip_of(tracking, f->mirror, "refs/remotes/origin/main");
	assert_string_equal(tracking, want);
}

/* New commits, then a force-push that drops one: each fetch follows. */
static void follow_history(const struct fx *f, const char *url)
{
	char c1[O8_OID_HEX_SIZE], c2[O8_OID_HEX_SIZE], c3[O8_OID_HEX_SIZE], parent[O8_OID_HEX_SIZE];

	fetch_ok(f, url, c1);
	commit_push(f, "gateways.yaml", "kind: Gateway\n");
	fetch_ok(f, url, c2);
	assert_string_not_equal(c1, c2);
	/* rewrite: c2 is gone from the remote's branch */
	sh(NULL, 0, "git -C '%s' reset -q --hard HEAD~1", f->work);
	commit_push(f, "apns.yaml", "kind: APN\n");
	fetch_ok(f, url, c3);
	assert_string_not_equal(c3, c2);
	tip_of(parent, f->mirror, "refs/remotes/origin/main~1");
	assert_string_equal(parent, c1);
}

static void fetch__first_fetch_makes_a_bare_mirror(void **state)
{
	struct fx *f = *state;
	struct o8_err err = O8_ERR_INIT;
	struct o8_snapshot *s = NULL;
	struct o8_git *g = NULL;
	char url[PATH_MAX + 16], commit[O8_OID_HEX_SIZE], tags[64], bare[16];

	sh(NULL, 0, "git -C '%s' tag v1 && git -C '%s' push -q origin v1", f->work, f->work);
	snprintf(url, sizeof(url), "file://%s", f->origin);
	assert_int_equal(o8_git_fetch_remote(&g, f->mirror, url, "main", commit, &err), O8_OK);
	assert_non_null(g);
	assert_null(o8_git_workdir(g));
	sh(bare, sizeof(bare), "git -C '%s' rev-parse --is-bare-repository", f->mirror);
	assert_string_equal(bare, "true");
	sh(tags, sizeof(tags), "git -C '%s' tag -l", f->mirror);
	assert_string_equal(tags, "");          /* only the branch is fetched */
	/* the commit reads straight from the mirror */
	assert_int_equal(o8_git_snapshot(&s, g, commit, NULL, &err), O8_OK);
	assert_int_equal(o8_snapshot_count(s), 1);
	assert_string_equal(o8_snapshot_file(s, 0)->path, "network.yaml");
	assert_string_equal(o8_snapshot_commit(s), commit);
	o8_snapshot_free(s);
	o8_git_free(g);
}

static void fetch__follows_commits_and_force_push_file_url(void **state)
{
	struct fx *f = *state;
	char url[PATH_MAX + 16];

	snprintf(url, sizeof(url), "file://%s", f->origin);
	follow_history(f, url);
}

static void fetch__follows_commits_and_force_push_plain_path(void **state)
{
	struct fx *f = *state;

	follow_history(f, f->origin);
}

/* --- git daemon ------------------------------------------------------------ */

struct daemon {
	int lfd;
	int port;
	const char *base;
	pthread_t tid;
	pid_t kids[64];
	size_t nkids;
};

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
static int listen_any(int *port, int do_listen)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Each connection gets its own `git daemon --inetd` on stdin/stdout. */
static void *daemon_accept(void *arg)
{
	struct daemon *d = arg;
	char base[PATH_MAX + 16];
	char *argv[] = { "git", "daemon", "--inetd", "--export-all",
			 "--informative-errors", base, NULL };
	posix_spawn_file_actions_t fa;
	int c;

	snprintf(base, sizeof(base), "--base-path=%s", d->base);
	for (;;) {
		c = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			return NULL;    /* shut down */
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, c, 0);
		posix_spawn_file_actions_adddup2(&fa, c, 1);
		if (d->nkids < sizeof(d->kids) / sizeof(d->kids[0]) &&
		    posix_spawnp(&d->kids[d->nkids], "git", &fa, NULL, argv, environ) == 0)
			d->nkids++;
		posix_spawn_file_actions_destroy(&fa);
		close(c);
	}
}

static void daemon_start(struct daemon *d, const char *base)
{
	memset(d, 0, sizeof(*d));
	d->base = base;
	d->lfd = listen_any(&d->port, 1);
	assert_int_equal(pthread_create(&d->tid, NULL, daemon_accept, d), 0);
}

static void daemon_stop(struct daemon *d)
{
	size_t i;
	int st;

	shutdown(d->lfd, SHUT_RDWR);    /* wakes accept() */
	pthread_join(d->tid, NULL);
	close(d->lfd);
	for (i = 0; i < d->nkids; i++) {
		assert_int_equal(waitpid(d->kids[i], &st, 0), d->kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

static void fetch__git_daemon(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	char url[128];

	daemon_start(&d, f->srv);
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/origin.git", d.port);
	follow_history(f, url);
	daemon_stop(&d);
	assert_true(d.nkids >= 3);              /* every fetch went through it */
}

/* --- failures ---------------------------------------------------------------- */

static void fetch__unreachable_remote_keeps_the_mirror(void **state)
{
	struct fx *f = *state;
	struct o8_err err = O8_ERR_INIT;
	char url[PATH_MAX + 16], dead[PATH_MAX + 64], before[O8_OID_HEX_SIZE], after[O8_OID_HEX_SIZE], commit[O8_OID_HEX_SIZE];
	int port, fd = listen_any(&port, 0);   /* bound, never listening: refused */

	snprintf(url, sizeof(url), "file://%s", f->origin);
	fetch_ok(f, url, before);
	commit_push(f, "tiers.yaml", "kind: Tier\n");

	snprintf(dead, sizeof(dead), "git://127.0.0.1:%d/origin.git", port);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, dead, "main", commit, &err), O8_ERR);
	assert_string_equal(commit, "");
	assert_non_null(strstr(err.msg, dead));
	tip_of(after, f->mirror, "refs/remotes/origin/main");
	assert_string_equal(after, before);

	/* https, with a token in the URL that no message may show */
	o8_err_clear(&err);
	snprintf(dead, sizeof(dead), "https://robot:s3cr3t-token@127.0.0.1:%d/origin.git", port);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, dead, "main", commit, &err), O8_ERR);
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	assert_null(strstr(err.msg, "s3cr3t"));
	assert_null(strstr(err.msg, "robot"));
	tip_of(after, f->mirror, "refs/remotes/origin/main");
	assert_string_equal(after, before);

	/* a missing repository over a path */
	o8_err_clear(&err);
	snprintf(dead, sizeof(dead), "%s/no-such.git", f->srv);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, dead, "main", commit, &err), O8_ERR);
	assert_non_null(strstr(err.msg, dead));

	/* and back: the remote's new commit arrives */
	fetch_ok(f, url, after);
	assert_string_not_equal(after, before);
	close(fd);
}

static void fetch__unknown_or_invalid_branch(void **state)
{
	struct fx *f = *state;
	struct o8_err err = O8_ERR_INIT;
	char before[O8_OID_HEX_SIZE], after[O8_OID_HEX_SIZE], commit[O8_OID_HEX_SIZE];

	fetch_ok(f, f->origin, before);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, f->origin, "release", commit, &err),
			 O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no branch 'release'"));
	assert_string_equal(commit, "");

	o8_err_clear(&err);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, f->origin, "a..b", commit, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "'a..b'"));

	/* a branch deleted on the remote is no longer answered from the mirror */
	sh(NULL, 0, "git -C '%s' push -q origin main:gone", f->work);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, f->origin, "gone", commit, &err), O8_OK);
	sh(NULL, 0, "git -C '%s' push -q origin :gone", f->work);
	o8_err_clear(&err);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, f->origin, "gone", commit, &err),
			 O8_ENOTFOUND);
	tip_of(after, f->mirror, "refs/remotes/origin/main");
	assert_string_equal(after, before);
}

static void fetch__refuses_a_foreign_directory(void **state)
{
	struct fx *f = *state;
	struct o8_err err = O8_ERR_INIT;
	char commit[O8_OID_HEX_SIZE], kept[64];

	sh(NULL, 0, "mkdir -p '%s' && echo mine > '%s/notes.txt'", f->mirror, f->mirror);
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, f->origin, "main", commit, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "not a git repository"));
	sh(kept, sizeof(kept), "ls -A '%s'", f->mirror);
	assert_string_equal(kept, "notes.txt");
}

/* The URL in syncd's config changed: origin follows it. */
static void fetch__follows_a_new_url(void **state)
{
	struct fx *f = *state;
	char other[PATH_MAX + 16], c1[O8_OID_HEX_SIZE], c2[O8_OID_HEX_SIZE], want[O8_OID_HEX_SIZE], url[PATH_MAX + 16];
	struct o8_err err = O8_ERR_INIT;

	fetch_ok(f, f->origin, c1);
	snprintf(other, sizeof(other), "%s/moved.git", f->srv);
	sh(NULL, 0, "git clone -q --bare '%s' '%s'", f->origin, other);
	commit_push(f, "later.yaml", "kind: Tier\n");  /* only at the old URL */
	assert_int_equal(o8_git_fetch_remote(NULL, f->mirror, other, "main", c2, &err), O8_OK);
	tip_of(want, other, "main");
	assert_string_equal(c2, want);
	assert_string_equal(c2, c1);
	sh(url, sizeof(url), "git -C '%s' remote get-url origin", f->mirror);
	assert_string_equal(url, other);
}

#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(fetch__first_fetch_makes_a_bare_mirror),
		FX_TEST(fetch__follows_commits_and_force_push_file_url),
		FX_TEST(fetch__follows_commits_and_force_push_plain_path),
		FX_TEST(fetch__git_daemon),
		FX_TEST(fetch__unreachable_remote_keeps_the_mirror),
		FX_TEST(fetch__unknown_or_invalid_branch),
		FX_TEST(fetch__refuses_a_foreign_directory),
		FX_TEST(fetch__follows_a_new_url),
	};
	const char *t = getenv("TMPDIR");
	char cfg[PATH_MAX + 32];
	FILE *fp;
	int rc;

	/* git and libgit2 see only what this test configures */
	snprintf(home, sizeof(home), "%s/o8-test-fetch-home-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(home))
		return 1;
	snprintf(cfg, sizeof(cfg), "%s/.gitconfig", home);
	if (!(fp = fopen(cfg, "w")))
		return 1;
	fputs("[user]\n\tname = Test User\n\temail = test@example.com\n", fp);
	fclose(fp);
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_TERMINAL_PROMPT", "0", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_CONFIG_GLOBAL");
	unsetenv("ORC8R_GIT_TOKEN");
	unsetenv("GIT_TOKEN");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cfg, sizeof(cfg), "rm -rf '%s'", home);
	if (system(cfg) != 0)
		rc = 1;
	return rc;
}
