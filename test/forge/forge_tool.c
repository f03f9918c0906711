/*
 * forge_tool - drives cli/forge.c the way `orc8r plan --comment` does, for
 * the tests in this directory: reads markdown from FILE (or stdin) and
 * posts or updates the plan comment.  Settings come from the environment
 * unless given as options.
 *
 * usage: forge_tool [--kind K] [--api-url URL] [--repo R] [--pr N] [FILE|-]
 * Prints the comment's URL (or "(no url)") on success; exit 1 on error.
 */
#include "forge.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(FILE *in)
{
	size_t n = 0, cap = 1 << 16;
	char *p = malloc(cap), *q;
	size_t r;

	while (p && (r = fread(p + n, 1, cap - n - 1, in)) > 0) {
		n += r;
		if (n + 1 == cap) {
			cap *= 2;
			if (!(q = realloc(p, cap)))
				free(p);
			p = q;
		}
	}
	if (p)
		p[n] = '\0';
	return p;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "api-url", required_argument, NULL, 'u' },
		{ "repo", required_argument, NULL, 'r' },
		{ "pr", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct o8_forge_opts o = O8_FORGE_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_forge *f = NULL;
	char *md, *url = NULL;
	FILE *in = stdin;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o.kind = optarg; break;
		case 'u': o.api_url = optarg; break;
		case 'r': o.repo = optarg; break;
		case 'p': o.pr = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: forge_tool [--kind K] [--api-url URL] [--repo R] [--pr N] [FILE|-]\n");
			return 64;
		}
	}
	if (optind < argc && strcmp(argv[optind], "-") && !(in = fopen(argv[optind], "r"))) {
		perror(argv[optind]);
		return 1;
	}
	md = slurp(in);
	if (in != stdin)
		fclose(in);
	if (!md) {
		fprintf(stderr, "forge_tool: out of memory\n");
		return 1;
	}
	if (o8_forge_new(&f, &o, &err) == O8_OK &&
	    o8_forge_upsert_comment(f, md, &url, &err) == O8_OK)
		printf("%s #%ld: %s\n", o8_forge_kind(f), o8_forge_pr(f), url ? url : "(no url)");
	else
		fprintf(stderr, "forge_tool: %s\n", err.msg);
	free(url);
	free(md);
	o8_forge_free(f);
	return err.rc == O8_OK ? 0 : 1;
}
