/*
 * fileio.h - the one place that reads whole files and writes them safely.
 *
 * Reads are capped (a file larger than the cap is refused before any
 * allocation) and checked on the open descriptor, so what was checked is
 * what was read.  Writes go through a temporary file in the same directory:
 * write, fsync, rename (or link, never replacing), fsync of the directory;
 * a crash at any instant leaves the old file or the new one.
 *
 * Messages read "cannot read 'PATH': no such file or directory" (strerror,
 * lowercased), with the caller's hint appended when the file is missing.
 */
#ifndef O8_FILEIO_H
#define O8_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Options of the o8_fileio_read* functions (transparent, with an _INIT macro). */
struct o8_fileio_read_opts {
	size_t max;             /* larger files: O8_ELIMIT */
	const char *hint;       /* appended to the message when missing, or NULL */
	bool secret;            /* wipe the buffer on a failed read */
	bool streams;           /* also read pipes and devices, to EOF, at most max */
};

#define O8_FILEIO_READ_OPTS_INIT { 1u << 20, NULL, false, false }

/*
 * A buffer reused from read to read (one per thread, say): it grows to the
 * largest file and never shrinks.  data is malloc'd; free it with
 * o8_fileio_buf_free, or take it (then reset the struct).
 */
struct o8_fileio_buf {
	char *data;
	size_t cap;
};

#define O8_FILEIO_BUF_INIT { NULL, 0 }

void o8_fileio_buf_free(struct o8_fileio_buf *b);

/* What a read found, for callers that word their own messages. */
struct o8_fileio_info {
	mode_t mode;            /* permission bits, from the descriptor */
	unsigned long long size;        /* the file's size, also when over max */
	int errnum;             /* errno of the failed call, ENOMEM, or 0 */
};

/*
 * Reads the file open on fd (left open: it is the caller's) into b,
 * NUL-terminated, *len bytes; name is only for messages.  Reads st_size
 * bytes at most: a file that shrinks meanwhile is read short.  info (may be
 * NULL) gets the facts behind a failure.  O8_EINVALID when it is not a
 * regular file (unless opts->streams), O8_ELIMIT when it is larger than
 * opts->max (refused before any allocation), O8_ERR otherwise.  err may be
 * NULL when the caller words the message from info.
 */
enum o8_rc o8_fileio_read_fd(int fd, const char *name, struct o8_fileio_buf *b,
			     size_t *len, struct o8_fileio_info *info,
			     const struct o8_fileio_read_opts *opts, struct o8_err *err);

/*
 * Opens name relative to dirfd (AT_FDCWD, or a directory) with O_RDONLY |
 * O_CLOEXEC | O_NOCTTY | flags (O_NOFOLLOW, say) and reads it into a
 * malloc'd, NUL-terminated *out (the caller frees it) of *len bytes.  *mode
 * (may be NULL) receives its permission bits, taken from the open
 * descriptor.  O8_ENOTFOUND when it does not exist, then the O8_* of
 * o8_fileio_read_fd; info and err as there.  opts may be NULL (defaults).
 */
enum o8_rc o8_fileio_read_at(int dirfd, const char *name, int flags, char **out,
			     size_t *len, struct o8_fileio_info *info,
			     const struct o8_fileio_read_opts *opts, struct o8_err *err);

/* o8_fileio_read_at(AT_FDCWD, path, 0, ...) with *mode out. */
enum o8_rc o8_fileio_read(char **out, size_t *len, mode_t *mode, const char *path,
			  const struct o8_fileio_read_opts *opts, struct o8_err *err);

/* Writes all of data to fd, retrying short writes and EINTR; -1 + errno. */
int o8_fileio_write_all(int fd, const void *data, size_t len);

/* fsync of a directory, which makes a new name or a rename durable. */
enum o8_rc o8_fileio_fsync_dir(const char *dir, struct o8_err *err);

/* fsync of the directory that holds path (after creating or renaming it). */
enum o8_rc o8_fileio_fsync_parent(const char *path, struct o8_err *err);

/*
 * Writes path atomically with the given mode (set before any byte is
 * written).  replace false: never replaces an existing path (O8_ECONFLICT,
 * "cannot write 'PATH': it already exists").  On failure errno is that of
 * the call that failed, for callers that word their own message.
 */
enum o8_rc o8_fileio_write_atomic(const char *path, const void *data, size_t len,
				  mode_t mode, bool replace, struct o8_err *err);

/* lowercased strerror(e) into buf, for messages in the house style. */
const char *o8_fileio_strerror(int e, char *buf, size_t n);

#endif
