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

/* Options of o8_fileio_read (transparent, with an _INIT macro). */
struct o8_fileio_read_opts {
	size_t max;             /* larger files: O8_ELIMIT */
	const char *hint;       /* appended to the message when missing, or NULL */
	bool secret;            /* wipe the buffer on a failed read */
};

#define O8_FILEIO_READ_OPTS_INIT { 1u << 20, NULL, false }

/*
 * Reads the regular file path (at most opts->max bytes) into a malloc'd,
 * NUL-terminated *out (the caller frees it) of *len bytes.  *mode (may be
 * NULL) receives its permission bits, taken from the open descriptor.
 * O8_ENOTFOUND when it does not exist, O8_EINVALID when it is not a regular
 * file, O8_ELIMIT when it is too large.  opts may be NULL (the defaults).
 */
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
 * "cannot write 'PATH': it already exists").
 */
enum o8_rc o8_fileio_write_atomic(const char *path, const void *data, size_t len,
				  mode_t mode, bool replace, struct o8_err *err);

/* lowercased strerror(e) into buf, for messages in the house style. */
const char *o8_fileio_strerror(int e, char *buf, size_t n);

#endif
