/*
 * walk.c - the work tree's configuration files (walk.h).
 */
#include "repo/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct walk {
	struct o8_walk *w;
	struct o8_diags *diags;
	struct o8_err *err;
};

int o8_walk_is_config_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int oom(struct walk *k)
{
	o8_err_set(k->err, O8_ERR, NULL, 0, 0, "out of memory");
	return -1;
}

/* Returns 0, or -1 when out of memory. */
static int diag(struct walk *k, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int diag(struct walk *k, const char *rel, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return o8_diags_add(k->diags, rel, 1, 1, NULL, NULL, "%s", msg) ? oom(k) : 0;
}

static int found(struct walk *k, const char *rel, const char *abs, const struct stat *st)
{
	struct o8_walk_file f = { rel, abs, st };

	return k->w->on_file(k->w->payload, &f) ? oom(k) : 0;
}

static int inside_root(const struct walk *k, const char *real)
{
	const char *root = k->w->real_root;
	size_t n = strlen(root);

	if (!strcmp(root, "/"))
		return 1;
	return !strncmp(real, root, n) && (real[n] == '/' || real[n] == '\0');
}

/* Followed only when it resolves to a regular file inside the root. */
static int visit_link(struct walk *k, const char *rel)
{
	char full[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (snprintf(full, sizeof(full), "%s/%s", k->w->root, rel) >= (int)sizeof(full))
		return diag(k, rel, "path too long, ignoring");
	if (!realpath(full, real))
		return diag(k, rel, "cannot follow symbolic link: %s", strerror(errno));
	if (!inside_root(k, real))
		return diag(k, rel, "symbolic link points outside the repository, refusing to read it");
	if (stat(real, &st) < 0)
		return diag(k, rel, "cannot stat link target: %s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return diag(k, rel, "symbolic link to a directory is not followed; link the files instead");
	if (!S_ISREG(st.st_mode))
		return diag(k, rel, "not a regular file, refusing to read it");
	return found(k, rel, real, &st);
}

static int walk_dir(struct walk *k, int dfd, const char *rel, unsigned depth);

static int visit(struct walk *k, int dfd, const char *name, const char *rel,
		 unsigned depth)
{
	struct stat st, t;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return diag(k, rel, "cannot stat: %s", strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if (depth >= O8_WALK_MAX_DEPTH)
			return diag(k, rel, "directories nested deeper than %d levels, ignoring",
				    O8_WALK_MAX_DEPTH);
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return diag(k, rel, "cannot open directory: %s", strerror(errno));
		/* a submodule (or a repository inside this one) has a .git */
		if (fstatat(fd, ".git", &t, AT_SYMLINK_NOFOLLOW) == 0) {
			close(fd);
			return diag(k, rel, "submodule is not read as configuration, refusing it; copy its files into this repository");
		}
		return walk_dir(k, fd, rel, depth + 1);
	}
	if (S_ISLNK(st.st_mode)) {
		/* a linked directory gets a word too: its files would be missed */
		if (o8_walk_is_config_name(name) ||
		    (fstatat(dfd, name, &t, 0) == 0 && S_ISDIR(t.st_mode)))
			return visit_link(k, rel);
		return 0;
	}
	if (!o8_walk_is_config_name(name))
		return 0;
	if (!S_ISREG(st.st_mode))
		return diag(k, rel, "not a regular file, refusing to read it");
	return found(k, rel, NULL, &st);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Takes ownership of dfd. */
static int walk_dir(struct walk *k, int dfd, const char *rel, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	char **names = NULL, child[PATH_MAX];
	struct dirent *de;
	size_t n = 0, cap = 0, i;
	int r = 0;

	if (!d) {
		close(dfd);
		return diag(k, rel, "cannot read directory: %s", strerror(errno));
	}
	while ((de = readdir(d))) {
		/* dot-directories (.git, .orc8r) and dot-files are not config */
		if (de->d_name[0] == '.') {
			if (!strcmp(de->d_name, ".gitattributes"))
				k->w->saw_attributes = 1;
			continue;
		}
		if (n == cap) {
			char **v;
			cap = cap ? cap * 2 : 32;
			if (!(v = realloc(names, cap * sizeof(*v)))) {
				r = oom(k);
				goto out;
			}
			names = v;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = oom(k);
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && !r; i++) {
		if (snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "",
			     names[i]) >= (int)sizeof(child)) {
			r = diag(k, names[i], "path too long, ignoring");
			continue;
		}
		r = visit(k, dirfd(d), names[i], child, depth);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

enum o8_rc o8_walk_tree(struct o8_walk *w, int root_fd, struct o8_diags *diags,
			struct o8_err *err)
{
	struct walk k = { w, diags, err };

	/* a failed dup is fdopendir's failure: a finding, as for any directory */
	if (walk_dir(&k, dup(root_fd), "", 0))
		return err->rc ? err->rc : o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
	return O8_OK;
}
