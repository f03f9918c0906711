/*
 * git_push_tool.c - drives lib/repo/git.h from test scripts, so that commit and
 * push run against real remotes (a bare repository, a git daemon).
 *
 *   git_push_tool DIR commit MSG   commit the work tree's configuration
 *   git_push_tool DIR push         push the branch to its upstream
 *   git_push_tool DIR upstream     print the upstream, or nothing
 *
 * Exit status: 0 done, 2 nothing to do (O8_ENOTFOUND), 3 invalid
 * (O8_EINVALID), 4 conflict (O8_ECONFLICT), 1 any other failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/git.h"

static int status(enum o8_rc rc)
{
	switch (rc) {
	case O8_OK:
		return 0;
	case O8_ENOTFOUND:
		return 2;
	case O8_EINVALID:
		return 3;
	case O8_ECONFLICT:
		return 4;
	default:
		return 1;
	}
}

int main(int argc, char **argv)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_git *g = NULL;
	enum o8_rc rc;

	if (argc < 3 || (!strcmp(argv[2], "commit") && argc != 4)) {
		fprintf(stderr, "usage: git_push_tool DIR commit MSG | DIR push | DIR upstream\n");
		return 64;
	}
	if ((rc = o8_git_open(&g, argv[1], &err)))
		goto out;
	if (!strcmp(argv[2], "commit")) {
		char oid[O8_OID_HEX_SIZE];
		if ((rc = o8_git_commit_all(oid, g, argv[3], &err)) == O8_OK)
			printf("committed %s\n", oid);
	} else if (!strcmp(argv[2], "push")) {
		struct o8_git_push_info info;
		if ((rc = o8_git_push(&info, g, &err)) == O8_OK)
			printf("pushed remote=%s branch=%s url=%s old=%s new=%s rebased=%u up_to_date=%d\n",
			       info.remote, info.branch, info.url, info.old_oid, info.new_oid,
			       info.rebased, info.up_to_date);
	} else if (!strcmp(argv[2], "upstream")) {
		char *up = NULL;
		if ((rc = o8_git_upstream(&up, g, &err)) == O8_OK && up)
			printf("%s\n", up);
		free(up);
	} else {
		fprintf(stderr, "git_push_tool: unknown command '%s'\n", argv[2]);
		o8_git_free(g);
		return 64;
	}
out:
	if (rc)
		fprintf(stderr, "git_push_tool: %s\n", err.msg);
	o8_git_free(g);
	return status(rc);
}
