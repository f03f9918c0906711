/*
 * fileio.c - whole-file reads with a cap, atomic durable writes.
 */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *o8_fileio_strerror(int e, char *buf, size_t n)
{
	snprintf(buf, n, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* errno is left at e: callers that word their own message can use it */
static enum o8_rc sys_err(struct o8_err *err, const char *verb, const char *path,
			  int e, const char *hint)
{
	char b[128];
	enum o8_rc rc;

	rc = o8_err_set(err, e == ENOENT ? O8_ENOTFOUND : O8_ERR, NULL, 0, 0,
			"cannot %s '%s': %s%s", verb, path,
			o8_fileio_strerror(e, b, sizeof(b)), hint ? hint : "");
	errno = e;
	return rc;
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

void o8_fileio_buf_free(struct o8_fileio_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = 0;
}

/* keep: the bytes already read must survive (a stream); otherwise a new
 * block is cheaper than realloc copying what is about to be overwritten */
static int grow(struct o8_fileio_buf *b, size_t need, bool keep)
{
	size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
	char *p;

	if (b->cap >= need)
		return 0;
	if (keep) {
		if (!(p = realloc(b->data, cap)))
			return -1;
	} else {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
		if (!(p = malloc(cap)))
			return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

static enum o8_rc read_fail(struct o8_err *err, struct o8_fileio_info *info,
			    const char *name, int e)
{
	info->errnum = e;
	return e == ENOMEM ? oom(err) : sys_err(err, "read", name, e, NULL);
}

static enum o8_rc too_large(struct o8_err *err, const char *name, size_t max)
{
	return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
			  "cannot read '%s': larger than %zu bytes", name, max);
}

/* A pipe or a device has no size to check first: read to EOF, at most max. */
static enum o8_rc read_stream(int fd, const char *name, struct o8_fileio_buf *b,
			      size_t *len, struct o8_fileio_info *info, size_t max,
			      struct o8_err *err)
{
	size_t n = 0, want;
	ssize_t r;

	for (;;) {
		if (n > max) {
			info->size = n;
			return too_large(err, name, max);
		}
		want = max - n < 65536 ? max + 1 : n + 65536;
		if (grow(b, want + 1, true))
			return read_fail(err, info, name, ENOMEM);
		r = read(fd, b->data + n, want - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return read_fail(err, info, name, errno);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	info->size = n;
	b->data[n] = '\0';
	*len = n;
	return O8_OK;
}

enum o8_rc o8_fileio_read_fd(int fd, const char *name, struct o8_fileio_buf *b,
			     size_t *len, struct o8_fileio_info *info,
			     const struct o8_fileio_read_opts *opts, struct o8_err *err)
{
	static const struct o8_fileio_read_opts defaults = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_info ignored;
	struct stat st;
	size_t n = 0, size;
	ssize_t r;

	if (!opts)
		opts = &defaults;
	if (!info)
		info = &ignored;
	memset(info, 0, sizeof(*info));
	*len = 0;
	if (fstat(fd, &st) < 0)
		return read_fail(err, info, name, errno);
	info->mode = st.st_mode & 07777;
	if (!S_ISREG(st.st_mode)) {
		if (opts->streams)
			return read_stream(fd, name, b, len, info, opts->max, err);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot read '%s': not a regular file", name);
	}
	info->size = (unsigned long long)st.st_size;
	if (info->size > opts->max)
		return too_large(err, name, opts->max);
	size = (size_t)st.st_size;
	if (grow(b, size + 1, false))
		return read_fail(err, info, name, ENOMEM);
	while (n < size) {
		r = read(fd, b->data + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return read_fail(err, info, name, errno);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b->data[n] = '\0';
	*len = n;
	return O8_OK;
}

enum o8_rc o8_fileio_read_at(int dirfd, const char *name, int flags, char **out,
			     size_t *len, struct o8_fileio_info *info,
			     const struct o8_fileio_read_opts *opts, struct o8_err *err)
{
	static const struct o8_fileio_read_opts defaults = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_buf b = O8_FILEIO_BUF_INIT;
	struct o8_fileio_info ignored;
	enum o8_rc rc;
	int fd;

	if (!opts)
		opts = &defaults;
	if (!info)
		info = &ignored;
	*out = NULL;
	*len = 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags);
	if (fd < 0) {
		memset(info, 0, sizeof(*info));
		info->errnum = errno;
		return sys_err(err, "read", name, errno, errno == ENOENT ? opts->hint : NULL);
	}
	rc = o8_fileio_read_fd(fd, name, &b, len, info, opts, err);
	close(fd);
	if (rc) {
		if (b.data && opts->secret)
			explicit_bzero(b.data, b.cap);
		o8_fileio_buf_free(&b);
		return rc;
	}
	*out = b.data;
	return O8_OK;
}

enum o8_rc o8_fileio_read(char **out, size_t *len, mode_t *mode, const char *path,
			  const struct o8_fileio_read_opts *opts, struct o8_err *err)
{
	struct o8_fileio_info info;
	enum o8_rc rc;

	rc = o8_fileio_read_at(AT_FDCWD, path, 0, out, len, &info, opts, err);
	if (!rc && mode)
		*mode = info.mode;
	return rc;
}

int o8_fileio_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

enum o8_rc o8_fileio_fsync_dir(const char *dir, struct o8_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e;

	if (fd < 0)
		return sys_err(err, "open", dir, errno, NULL);
	/* some file systems cannot sync a directory: EINVAL is not a failure */
	if (fsync(fd) < 0 && errno != EINVAL) {
		e = errno;
		close(fd);
		return sys_err(err, "sync", dir, e, NULL);
	}
	close(fd);
	return O8_OK;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

enum o8_rc o8_fileio_fsync_parent(const char *path, struct o8_err *err)
{
	char *dir = dir_of(path);
	enum o8_rc rc;

	if (!dir)
		return oom(err);
	rc = o8_fileio_fsync_dir(dir, err);
	free(dir);
	return rc;
}

enum o8_rc o8_fileio_write_atomic(const char *path, const void *data, size_t len,
				  mode_t mode, bool replace, struct o8_err *err)
{
	char *dir = dir_of(path), *tmp = NULL;
	const char *base = strrchr(path, '/');
	enum o8_rc rc = O8_OK;
	int fd, e = 0;

	base = base ? base + 1 : path;
	if (!dir || asprintf(&tmp, "%s/.%s.tmp-XXXXXX", dir, base) < 0) {
		free(dir);
		errno = ENOMEM;
		return oom(err);
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		rc = sys_err(err, "create a file in", dir, e, NULL);
		goto out;
	}
	if (fchmod(fd, mode) < 0 || o8_fileio_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		rc = sys_err(err, "write", path, e, NULL);
		goto out;
	}
	if (close(fd) < 0) {
		e = errno;
		unlink(tmp);
		rc = sys_err(err, "write", path, e, NULL);
		goto out;
	}
	if (replace ? rename(tmp, path) < 0 : link(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		rc = e == EEXIST
			? o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				     "cannot write '%s': it already exists", path)
			: sys_err(err, "write", path, e, NULL);
		goto out;
	}
	if (!replace)
		unlink(tmp);
	if ((rc = o8_fileio_fsync_dir(dir, err)))
		e = errno;
out:
	free(tmp);
	free(dir);
	if (rc)
		errno = e;
	return rc;
}
