/*
 * cmd_init.c - `orc8r init [DIR]`: start a repository with settings, an
 * operator's README and one example network that validates as written.
 *
 * init only creates files: it never overwrites one (O_EXCL) and never runs
 * git, so running it twice, or in the wrong directory, cannot destroy work.
 * The files come from the table in init_templates.c.
 */
#include "cmds.h"
#include "init_templates.h"
#include "repo/schema.h"
#include "util/fileio.h"

#include <argp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define INIT_NSIMS 10
#define IMSI_DIGITS 15

struct init_opts {
	const char *dir;
	const char *network;
	const char *mcc, *mnc;
	bool force;
};

/* One @KEY@ placeholder of the templates and its value. */
struct init_var {
	const char *key;
	const char *value;
};

static const char init_doc[] =
	"Create a new orc8r repository in DIR (default: the -C directory, else the\n"
	"current one): .orc8r/config.yaml, a README.md for operators, a .gitignore\n"
	"and one example network under networks/NAME/ with 2 gateways, 2 eNodeBs,\n"
	"2 APNs, a tier, a policy rule and 10 test SIMs with random Ki/OPc.  The\n"
	"example validates as written; edit it into your real network.\n"
	"\n"
	"DIR must be empty or missing (it is created).  --force accepts a non-empty\n"
	"DIR, but init never overwrites a file: if any file it would write already\n"
	"exists, it writes nothing.  init does not run git."
	"\v"
	"example:\n"
	"  orc8r init berlin-lte --network berlin --mcc 001 --mnc 01\n"
	"  cd berlin-lte && git init && orc8r validate\n"
	"\n"
	"exit status: 0 created, 1 failure (nothing or only part written, see the\n"
	"message), 64 usage error.";

static const struct argp_option init_options[] = {
	{ "network", 'n', "NAME", 0,
	  "name of the example network (default lab; lowercase letters, digits, '-')", 0 },
	{ "mcc", 'm', "MCC", 0, "mobile country code, 3 digits (default 001, test)", 0 },
	{ "mnc", 'M', "MNC", 0, "mobile network code, 2 or 3 digits (default 01, test)", 0 },
	{ "force", 'f', NULL, 0,
	  "accept a non-empty DIR (existing files are still never overwritten)", 0 },
	{ 0 }
};

static error_t init_parse(int key, char *arg, struct argp_state *state)
{
	struct init_opts *o = state->input;

	switch (key) {
	case 'n':
		if (!o8_schema_fmt_ok(O8_FMT_NAME, arg, strlen(arg)))
			argp_error(state, "network name '%s' is not valid: use %s",
				   arg, o8_schema_fmt_doc(O8_FMT_NAME));
		o->network = arg;
		break;
	case 'm':
		if (!o8_schema_fmt_ok(O8_FMT_MCC, arg, strlen(arg)))
			argp_error(state, "mcc '%s' is not valid: use %s", arg,
				   o8_schema_fmt_doc(O8_FMT_MCC));
		o->mcc = arg;
		break;
	case 'M':
		if (!o8_schema_fmt_ok(O8_FMT_MNC, arg, strlen(arg)))
			argp_error(state, "mnc '%s' is not valid: use %s", arg,
				   o8_schema_fmt_doc(O8_FMT_MNC));
		o->mnc = arg;
		break;
	case 'f':
		o->force = true;
		break;
	case ARGP_KEY_ARG:
		if (o->dir)
			argp_error(state, "too many arguments: '%s' (give one DIR)", arg);
		o->dir = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int fill_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void to_hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A random (version 4) UUID: out needs 37 bytes. */
static int random_uuid(char out[37])
{
	unsigned char b[16];
	char h[33];

	if (fill_random(b, sizeof(b)) < 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	to_hex(h, b, sizeof(b));
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
	return 0;
}

/*
 * The SubscriberSet's entries: IMSIs MCC MNC 0..01 to 0..10, fresh random
 * keys.  The last SIM overrides the defaults to show how that reads.
 */
static char *make_sims(const char *mcc, const char *mnc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int width = IMSI_DIGITS - (int)(strlen(mcc) + strlen(mnc));
	unsigned i;

	if (!f)
		return NULL;
	for (i = 1; i <= INIT_NSIMS; i++) {
		unsigned char key[32];
		char ki[33], opc[33];

		if (fill_random(key, sizeof(key)) < 0) {
			fclose(f);
			free(text);
			return NULL;
		}
		to_hex(ki, key, 16);
		to_hex(opc, key + 16, 16);
		fprintf(f, "    - imsi: \"%s%s%0*u\"\n      ki: \"%s\"\n      opc: \"%s\"\n",
			mcc, mnc, width, i, ki, opc);
		/* the keys live on only in the text, which the caller wipes */
		explicit_bzero(key, sizeof(key));
		explicit_bzero(ki, sizeof(ki));
		explicit_bzero(opc, sizeof(opc));
		if (i == INIT_NSIMS)
			fputs("      apns: [internet, ims]\n      policies: [allow-web]\n", f);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* tmpl with every @KEY@ of vars replaced; malloc'd, NULL when out of memory. */
static char *expand(const char *tmpl, const struct init_var *vars, size_t nvars)
{
	char *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);
	const char *p = tmpl;

	if (!f)
		return NULL;
	while (*p) {
		const char *at = strchr(p, '@');
		bool hit = false;

		if (!at) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(at - p), f);
		for (i = 0; i < nvars && !hit; i++) {
			size_t kl = strlen(vars[i].key);

			if (!strncmp(at + 1, vars[i].key, kl) && at[1 + kl] == '@') {
				fputs(vars[i].value, f);
				p = at + kl + 2;
				hit = true;
			}
		}
		if (!hit) {             /* a plain '@' in the text */
			fputc('@', f);
			p = at + 1;
		}
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* mkdir -p for an operator-given path. */
static int mkdir_p(const char *path)
{
	char *copy = strdup(path), *s;
	int rc = 0;

	if (!copy)
		return -1;
	for (s = copy + 1; rc == 0; s++) {
		bool end = *s == '\0';

		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			rc = -1;
		if (end)
			break;
		*s = '/';
	}
	free(copy);
	return rc;
}

/* Creates the directories leading to rel (a path below dirfd). */
static int mkparents_at(int dirfd, const char *rel, char *fail, size_t failsz)
{
	char buf[1024];
	char *s;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		snprintf(fail, failsz, "%s", rel);
		return -1;
	}
	for (s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST) {
			snprintf(fail, failsz, "%s", buf);
			return -1;
		}
		*s = '/';
	}
	return 0;
}

static int dir_is_empty(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	int empty = 1;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/* How a path below the new root is shown: "lab/README.md", or "README.md"
 * when the root is the current directory. */
static void show_path(char *out, size_t n, const char *root, const char *rel)
{
	if (!strcmp(root, "."))
		snprintf(out, n, "%s", rel);
	else
		snprintf(out, n, "%s%s%s", root,
			 root[strlen(root) - 1] == '/' ? "" : "/", rel);
}

int cmd_init(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = { init_options, init_parse, "[DIR]", init_doc,
					  NULL, NULL, NULL };
	struct init_opts o = { NULL, "lab", "001", "01", false };
	char hwid1[37], hwid2[37], shown[2048], fail[1024];
	char *sims = NULL, *root = NULL, **paths = NULL, **texts = NULL;
	char **av = NULL;
	int rc = O8_EXIT_FAIL, rootfd = -1, empty, i;
	size_t k, conflicts = 0;

	/* argp names the program after argv[0]: make it "orc8r init". */
	av = calloc((size_t)argc + 1, sizeof(*av));
	paths = calloc(o8_init_nfiles, sizeof(*paths));
	texts = calloc(o8_init_nfiles, sizeof(*texts));
	if (!av || !paths || !texts)
		goto oom;
	av[0] = (char *)"orc8r init";
	for (i = 1; i < argc; i++)
		av[i] = argv[i];
	argp_parse(&argp, argc, av, 0, NULL, &o);

	if (!o.dir)
		root = strdup(cli->dir ? cli->dir : ".");
	else if (cli->dir && o.dir[0] != '/') {
		size_t n = strlen(cli->dir) + strlen(o.dir) + 2;

		if ((root = malloc(n)))
			snprintf(root, n, "%s/%s", cli->dir, o.dir);
	} else
		root = strdup(o.dir);
	if (!root)
		goto oom;

	if (random_uuid(hwid1) < 0 || random_uuid(hwid2) < 0 ||
	    !(sims = make_sims(o.mcc, o.mnc))) {
		if (errno == ENOMEM)
			goto oom;
		o8_cli_errorf("cannot get random bytes for keys and ids: %s", strerror(errno));
		goto out;
	}
	{
		const struct init_var vars[] = {
			{ "NETWORK", o.network }, { "MCC", o.mcc }, { "MNC", o.mnc },
			{ "HWID1", hwid1 }, { "HWID2", hwid2 }, { "SUBSCRIBERS", sims },
		};
		size_t nv = sizeof(vars) / sizeof(vars[0]);

		for (k = 0; k < o8_init_nfiles; k++) {
			paths[k] = expand(o8_init_files[k].path, vars, nv);
			texts[k] = expand(o8_init_files[k].text, vars, nv);
			if (!paths[k] || !texts[k])
				goto oom;
		}
	}

	if (mkdir_p(root) < 0) {
		o8_cli_errorf("cannot create directory '%s': %s", root, strerror(errno));
		goto out;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		o8_cli_errorf("cannot open directory '%s': %s", root, strerror(errno));
		goto out;
	}
	empty = dir_is_empty(rootfd);
	if (empty < 0) {
		o8_cli_errorf("cannot read directory '%s': %s", root, strerror(errno));
		goto out;
	}
	if (!empty && !o.force) {
		o8_cli_errorf("'%s' is not empty; pick a new directory, or use --force to "
			      "add the example next to what is there", root);
		goto out;
	}

	/* Check everything before writing anything: a conflict should leave
	 * the directory exactly as it was, not half-initialised. */
	for (k = 0; k < o8_init_nfiles; k++) {
		struct stat st;

		show_path(shown, sizeof(shown), root, paths[k]);
		if (fstatat(rootfd, paths[k], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			o8_cli_errorf("'%s' already exists; init never overwrites a file",
				      shown);
			conflicts++;
		} else if (errno != ENOENT && errno != ENOTDIR) {
			o8_cli_errorf("cannot check '%s': %s", shown, strerror(errno));
			conflicts++;
		}
	}
	if (conflicts) {
		o8_cli_errorf("nothing was written to '%s'", root);
		goto out;
	}

	for (k = 0; k < o8_init_nfiles; k++) {
		int fd;

		show_path(shown, sizeof(shown), root, paths[k]);
		if (mkparents_at(rootfd, paths[k], fail, sizeof(fail)) < 0) {
			char dshown[2048];

			show_path(dshown, sizeof(dshown), root, fail);
			o8_cli_errorf("cannot create directory '%s': %s", dshown,
				      strerror(errno));
			goto partial;
		}
		fd = openat(rootfd, paths[k],
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			o8_cli_errorf("cannot create '%s': %s", shown, strerror(errno));
			goto partial;
		}
		if (o8_fileio_write_all(fd, texts[k], strlen(texts[k])) < 0) {
			o8_cli_errorf("cannot write '%s': %s", shown, strerror(errno));
			close(fd);
			goto partial;
		}
		if (close(fd) < 0) {
			o8_cli_errorf("cannot write '%s': %s", shown, strerror(errno));
			goto partial;
		}
	}

	printf("created an orc8r repository in '%s' with the example network '%s':\n",
	       root, o.network);
	for (k = 0; k < o8_init_nfiles; k++) {
		show_path(shown, sizeof(shown), root, paths[k]);
		printf("  %s\n", shown);
	}
	printf("\nnext steps:\n");
	if (strcmp(root, "."))
		printf("  cd %s && git init && orc8r validate\n", root);
	else
		printf("  git init && orc8r validate\n");
	printf("then read README.md, and replace the example gateways, eNodeBs and\n"
	       "SIMs with your own.\n");
	rc = O8_EXIT_OK;
	goto out;

partial:
	if (k)
		o8_cli_errorf("%zu of %zu files were written to '%s' before this failure",
			      k, o8_init_nfiles, root);
	goto out;
oom:
	o8_cli_errorf("out of memory");
out:
	if (rootfd >= 0)
		close(rootfd);
	for (k = 0; k < o8_init_nfiles; k++) {
		if (texts && texts[k]) {
			explicit_bzero(texts[k], strlen(texts[k]));
			free(texts[k]);
		}
		if (paths)
			free(paths[k]);
	}
	if (sims)
		explicit_bzero(sims, strlen(sims));
	free(sims);
	free(texts);
	free(paths);
	free(root);
	free(av);
	return rc;
}
