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

static enum o8_rc sys_err(struct o8_err *err, const char *verb, const char *path,
			  int e, const char *hint)
{
	char b[128];

	return o8_err_set(err, e == ENOENT ? O8_ENOTFOUND : O8_ERR, NULL, 0, 0,
			  "cannot %s '%s': %s%s", verb, path,
			  o8_fileio_strerror(e, b, sizeof(b)), hint ? hint : "");
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static void drop(char *buf, size_t n, bool secret)
{
	if (buf && secret)
		explicit_bzero(buf, n);
	free(buf);
}

enum o8_rc o8_fileio_read(char **out, size_t *len, mode_t *mode, const char *path,
			  const struct o8_fileio_read_opts *opts, struct o8_err *err)
{
	static const struct o8_fileio_read_opts defaults = O8_FILEIO_READ_OPTS_INIT;
	struct stat st;
	size_t n = 0, size;
	char *buf;
	int fd, e;

	if (!opts)
		opts = &defaults;
	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sys_err(err, "read", path, errno, errno == ENOENT ? opts->hint : NULL);
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return sys_err(err, "read", path, e, NULL);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot read '%s': not a regular file", path);
	}
	if ((unsigned long long)st.st_size > opts->max) {
		close(fd);
		return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
				  "cannot read '%s': larger than %zu bytes", path, opts->max);
	}
	size = (size_t)st.st_size;
	if (!(buf = malloc(size + 1))) {
		close(fd);
		return oom(err);
	}
	while (n < size) {
		ssize_t r = read(fd, buf + n, size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : EIO;
			close(fd);
			drop(buf, size + 1, opts->secret);
			return sys_err(err, "read", path, e, NULL);
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	if (mode)
		*mode = st.st_mode & 07777;
	return O8_OK;
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
	int fd, e;

	base = base ? base + 1 : path;
	if (!dir || asprintf(&tmp, "%s/.%s.tmp-XXXXXX", dir, base) < 0) {
		free(dir);
		return oom(err);
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = sys_err(err, "create a file in", dir, errno, NULL);
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
	rc = o8_fileio_fsync_dir(dir, err);
out:
	free(tmp);
	free(dir);
	return rc;
}
