/*
 * o8-bench-floor - the cheapest possible pass over a repository: read every
 * *.yaml / *.yml file (dot-directories skipped, as the loader does) and run
 * libyaml's event parser over it on one thread, building nothing.
 *
 * bench/load divides this time by orc8r's load+validate time: it is the
 * floor any libyaml-based loader stands on, so the ratio shows how much our
 * tree building, checking and threading cost (or save) on top of it.
 *
 * usage: o8-bench-floor DIR
 * prints: files=N events=N bytes=N seconds=S
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

struct totals {
	unsigned long files;
	unsigned long long events;
	unsigned long long bytes;
	unsigned long errors;
	unsigned char *buf;     /* reused from file to file */
	size_t cap;
};

static int has_yaml_ext(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/* Reads the whole file into t->buf; returns its length or -1. */
static long read_all(int fd, const char *path, size_t size, struct totals *t)
{
	size_t got = 0;

	if (size + 1 > t->cap) {
		unsigned char *nb = realloc(t->buf, size + 1);

		if (!nb) {
			fprintf(stderr, "o8-bench-floor: '%s': out of memory\n", path);
			return -1;
		}
		t->buf = nb;
		t->cap = size + 1;
	}
	while (got < size) {
		ssize_t r = read(fd, t->buf + got, size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "o8-bench-floor: cannot read '%s': %s\n",
				path, strerror(errno));
			return -1;
		}
		if (r == 0)
			break;  /* the file shrank under us: parse what is there */
		got += (size_t)r;
	}
	return (long)got;
}

static int parse_file(const char *path, size_t size, struct totals *t)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	long len;
	int fd, done = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "o8-bench-floor: cannot open '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	len = read_all(fd, path, size, t);
	close(fd);
	if (len < 0)
		return -1;
	t->files++;
	t->bytes += (unsigned long long)len;

	if (!yaml_parser_initialize(&parser)) {
		fprintf(stderr, "o8-bench-floor: out of memory\n");
		return -1;
	}
	yaml_parser_set_input_string(&parser, t->buf, (size_t)len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			/* A broken file still counts: the floor measures work,
			 * not correctness; report it so nobody trusts the run. */
			fprintf(stderr, "o8-bench-floor: %s:%zu:%zu: %s\n", path,
				parser.problem_mark.line + 1,
				parser.problem_mark.column + 1,
				parser.problem ? parser.problem : "syntax error");
			t->errors++;
			break;
		}
		t->events++;
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return 0;
}

static int walk(const char *dir, struct totals *t)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "o8-bench-floor: cannot open directory '%s': %s\n",
			dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;       /* ., .., .git, .orc8r: never operator data */
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path)) {
			fprintf(stderr, "o8-bench-floor: path too long under '%s'\n", dir);
			rc = -1;
			break;
		}
		if (stat(path, &st) < 0) {
			fprintf(stderr, "o8-bench-floor: cannot stat '%s': %s\n",
				path, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(path, t);
		} else if (S_ISREG(st.st_mode) && has_yaml_ext(de->d_name)) {
			rc = parse_file(path, (size_t)st.st_size, t);
		}
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	struct totals t = { 0 };
	struct timespec a, b;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr,
			"usage: o8-bench-floor DIR\n"
			"parses every *.yaml/*.yml under DIR with libyaml's event API\n"
			"on one thread and prints files, events, bytes and seconds\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 64;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = walk(argv[1], &t);
	clock_gettime(CLOCK_MONOTONIC, &b);
	free(t.buf);
	if (rc < 0)
		return 1;
	printf("files=%lu events=%llu bytes=%llu seconds=%.3f\n", t.files,
	       t.events, t.bytes,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return t.errors ? 3 : 0;
}
