/* fileio: reads are capped and checked on the descriptor, writes are
 * atomic with their mode set, and a failed write leaves nothing behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/fileio.h"

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/o8-fileio-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/f", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(const char *path, const char *text)
{
	struct o8_err e = O8_ERR_INIT;

	assert_int_equal(o8_fileio_write_atomic(path, text, strlen(text), 0600, true, &e), O8_OK);
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void fileio__read_round_trip(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	size_t len;
	mode_t mode;
	char *buf;

	put(f->path, "hello\n");
	assert_int_equal(o8_fileio_read(&buf, &len, &mode, f->path, NULL, &e), O8_OK);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	assert_int_equal(mode, 0600);
	free(buf);
}

static void fileio__cap_refused_before_allocation(void **state)
{
	struct fx *f = *state;
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_buf b = O8_FILEIO_BUF_INIT;
	struct o8_fileio_info in;
	struct o8_err e = O8_ERR_INIT;
	char msg[256], *buf = (char *)1;
	size_t len;
	int fd;

	put(f->path, "0123456789abcdef");
	o.max = 10;
	assert_int_equal(o8_fileio_read(&buf, &len, NULL, f->path, &o, &e), O8_ELIMIT);
	assert_null(buf);
	snprintf(msg, sizeof(msg), "cannot read '%s': larger than 10 bytes", f->path);
	assert_string_equal(e.msg, msg);

	/* the reusable buffer shows it: nothing was allocated */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(o8_fileio_read_fd(fd, "f", &b, &len, &in, &o, NULL), O8_ELIMIT);
	close(fd);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_int_equal(in.size, 16);

	o.max = 16;                     /* the cap itself is allowed */
	o8_err_clear(&e);
	assert_int_equal(o8_fileio_read(&buf, &len, NULL, f->path, &o, &e), O8_OK);
	assert_int_equal(len, 16);
	free(buf);
}

static void fileio__not_a_regular_file(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	char msg[256], *buf;
	size_t len;

	assert_int_equal(o8_fileio_read(&buf, &len, NULL, f->dir, NULL, &e), O8_EINVALID);
	assert_null(buf);
	snprintf(msg, sizeof(msg), "cannot read '%s': not a regular file", f->dir);
	assert_string_equal(e.msg, msg);
}

static void fileio__missing_with_hint(void **state)
{
	struct fx *f = *state;
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_err e = O8_ERR_INIT;
	char msg[256], *buf;
	size_t len;

	o.hint = "; run 'orc8r pki init' first";
	assert_int_equal(o8_fileio_read(&buf, &len, NULL, f->path, &o, &e), O8_ENOTFOUND);
	snprintf(msg, sizeof(msg),
		 "cannot read '%s': no such file or directory; run 'orc8r pki init' first",
		 f->path);
	assert_string_equal(e.msg, msg);

	/* the hint is for a missing file only */
	o8_err_clear(&e);
	assert_int_equal(o8_fileio_read(&buf, &len, NULL, f->dir, &o, &e), O8_EINVALID);
	assert_null(strstr(e.msg, "pki init"));
}

static void fileio__mode_from_the_descriptor(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct stat st;
	mode_t mode;
	size_t len;
	char *buf;

	assert_int_equal(o8_fileio_write_atomic(f->path, "x", 1, 0640, true, &e), O8_OK);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(o8_fileio_read(&buf, &len, &mode, f->path, NULL, &e), O8_OK);
	assert_int_equal(mode, 0640);
	free(buf);

	/* the mode asked for, whatever the umask */
	umask(077);
	assert_int_equal(o8_fileio_write_atomic(f->path, "y", 1, 0644, true, &e), O8_OK);
	umask(022);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

static void fileio__replace_or_not(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	char msg[256], *buf;
	size_t len;

	assert_int_equal(o8_fileio_write_atomic(f->path, "one", 3, 0600, false, &e), O8_OK);
	assert_int_equal(o8_fileio_write_atomic(f->path, "two", 3, 0600, false, &e),
			 O8_ECONFLICT);
	snprintf(msg, sizeof(msg), "cannot write '%s': it already exists", f->path);
	assert_string_equal(e.msg, msg);
	o8_err_clear(&e);
	assert_int_equal(o8_fileio_read(&buf, &len, NULL, f->path, NULL, &e), O8_OK);
	assert_string_equal(buf, "one");
	free(buf);

	assert_int_equal(o8_fileio_write_atomic(f->path, "three", 5, 0600, true, &e), O8_OK);
	assert_int_equal(o8_fileio_read(&buf, &len, NULL, f->path, NULL, &e), O8_OK);
	assert_string_equal(buf, "three");
	free(buf);
	assert_int_equal(entries(f->dir), 1);   /* no temp file left either way */
}

static void fileio__failed_write_leaves_no_temp(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	char sub[160], inner[200], msg[256];

	/* a directory that does not exist: nothing can be created */
	snprintf(sub, sizeof(sub), "%s/none/f", f->dir);
	assert_int_equal(o8_fileio_write_atomic(sub, "x", 1, 0600, true, &e), O8_ENOTFOUND);
	snprintf(msg, sizeof(msg), "cannot create a file in '%s/none': no such file or directory",
		 f->dir);
	assert_string_equal(e.msg, msg);
	assert_int_equal(errno, ENOENT);        /* kept for callers' own wording */
	assert_int_equal(entries(f->dir), 0);

	/* the name is a non-empty directory: the rename fails after the write */
	snprintf(sub, sizeof(sub), "%s/d", f->dir);
	snprintf(inner, sizeof(inner), "%s/d/keep", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	put(inner, "k");
	o8_err_clear(&e);
	assert_int_equal(o8_fileio_write_atomic(sub, "x", 1, 0600, true, &e), O8_ERR);
	assert_non_null(strstr(e.msg, "cannot write '"));
	assert_int_equal(entries(f->dir), 1);
	assert_int_equal(entries(sub), 1);
}

static void fileio__fd_reuses_its_buffer(void **state)
{
	struct fx *f = *state;
	struct o8_fileio_buf b = O8_FILEIO_BUF_INIT;
	struct o8_fileio_info in;
	struct o8_err e = O8_ERR_INIT;
	char small[160];
	const char *data;
	size_t len, cap;
	int fd;

	put(f->path, "a longer file, read first");
	snprintf(small, sizeof(small), "%s/small", f->dir);
	put(small, "short");

	fd = open(f->path, O_RDONLY);
	assert_int_equal(o8_fileio_read_fd(fd, "big", &b, &len, &in, NULL, &e), O8_OK);
	close(fd);
	assert_string_equal(b.data, "a longer file, read first");
	assert_int_equal(in.mode, 0600);
	data = b.data;
	cap = b.cap;

	fd = open(small, O_RDONLY);
	assert_int_equal(o8_fileio_read_fd(fd, "small", &b, &len, NULL, NULL, &e), O8_OK);
	close(fd);
	assert_int_equal(len, 5);
	assert_string_equal(b.data, "short");
	assert_ptr_equal(b.data, data);         /* no allocation for a smaller file */
	assert_int_equal(b.cap, cap);
	o8_fileio_buf_free(&b);
	assert_null(b.data);
}

static void fileio__streams_only_when_asked(void **state)
{
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;
	struct o8_fileio_buf b = O8_FILEIO_BUF_INIT;
	struct o8_fileio_info in;
	struct o8_err e = O8_ERR_INIT;
	size_t len;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(o8_fileio_write_all(p[1], "token\n", 6), 0);
	close(p[1]);
	assert_int_equal(o8_fileio_read_fd(p[0], "pipe", &b, &len, &in, &o, &e), O8_EINVALID);
	assert_string_equal(e.msg, "cannot read 'pipe': not a regular file");
	o.streams = true;
	o8_err_clear(&e);
	assert_int_equal(o8_fileio_read_fd(p[0], "pipe", &b, &len, &in, &o, &e), O8_OK);
	close(p[0]);
	assert_int_equal(len, 6);
	assert_string_equal(b.data, "token\n");

	/* a stream over the cap */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(o8_fileio_write_all(p[1], "0123456789", 10), 0);
	close(p[1]);
	o.max = 4;
	assert_int_equal(o8_fileio_read_fd(p[0], "pipe", &b, &len, &in, &o, &e), O8_ELIMIT);
	close(p[0]);
	o8_fileio_buf_free(&b);
}

static void fileio__at_a_directory_fd(void **state)
{
	struct fx *f = *state;
	struct o8_fileio_info in;
	struct o8_err e = O8_ERR_INIT;
	char link[160], *buf;
	size_t len;
	int dfd;

	put(f->path, "data");
	snprintf(link, sizeof(link), "%s/l", f->dir);
	assert_int_equal(symlink("f", link), 0);
	dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(o8_fileio_read_at(dfd, "f", O_NOFOLLOW, &buf, &len, &in, NULL, &e),
			 O8_OK);
	assert_string_equal(buf, "data");
	free(buf);
	assert_int_equal(o8_fileio_read_at(dfd, "l", 0, &buf, &len, NULL, NULL, &e), O8_OK);
	free(buf);
	assert_int_equal(o8_fileio_read_at(dfd, "l", O_NOFOLLOW, &buf, &len, &in, NULL, &e),
			 O8_ERR);
	assert_null(buf);
	assert_int_equal(in.errnum, ELOOP);
	assert_string_equal(e.msg, "cannot read 'l': too many levels of symbolic links");
	o8_err_clear(&e);
	assert_int_equal(o8_fileio_read_at(dfd, "gone", 0, &buf, &len, &in, NULL, NULL),
			 O8_ENOTFOUND);
	assert_int_equal(in.errnum, ENOENT);
	close(dfd);
}

static void fileio__fsync_parent(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	char sub[160];

	assert_int_equal(o8_fileio_fsync_parent(f->path, &e), O8_OK);
	snprintf(sub, sizeof(sub), "%s/none/f", f->dir);
	assert_int_equal(o8_fileio_fsync_parent(sub, &e), O8_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fileio__read_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__cap_refused_before_allocation, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__not_a_regular_file, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__missing_with_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__mode_from_the_descriptor, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__replace_or_not, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__failed_write_leaves_no_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__fd_reuses_its_buffer, setup, teardown),
		cmocka_unit_test(fileio__streams_only_when_asked),
		cmocka_unit_test_setup_teardown(fileio__at_a_directory_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(fileio__fsync_parent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
