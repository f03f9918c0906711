/*
 * orc8r - the operator's command line: validate, plan and apply a GitOps
 * repository that describes private LTE networks.
 *
 * Global options come before the subcommand (as with git); each subcommand
 * parses its own options with argp.
 */
#include "cmds.h"

#include <argp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef O8_VERSION
#define O8_VERSION "0.0.0"
#endif

const char o8_cli_version[] = "orc8r " O8_VERSION;
const char *argp_program_version = "orc8r " O8_VERSION;
const char *argp_program_bug_address = NULL;

static const struct command {
	const char *name;
	o8_cmd_fn *fn;
	const char *help;
} commands[] = {
	{ "apply", cmd_apply, "validate, commit and push the work tree's configuration" },
	{ "diff", cmd_diff, "what a gateway still lacks of its desired configuration" },
	{ "init", cmd_init, "create a new repository with an example network" },
	{ "pki", cmd_pki, "make the CA, enrolment tokens and revoke gateways" },
	{ "plan", cmd_plan, "show what a change does: objects and gateways affected" },
	{ "schema", cmd_schema, "describe the YAML format (text or JSON Schema)" },
	{ "status", cmd_status, "every gateway's desired and applied commit, as syncd sees it" },
	{ "validate", cmd_validate, "check every file of the repository" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: orc8r [-C DIR] [--version] [--help] COMMAND [ARGS]\n"
		"\n"
		"orc8r keeps a private LTE network's configuration in a git repository:\n"
		"networks, gateways, eNodeBs, APNs, policies and subscribers as YAML.\n"
		"\n"
		"commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\n"
		"global options:\n"
		"  -C DIR       run as if started in DIR (the repository root)\n"
		"  --version    print the version and exit\n"
		"\n"
		"example:\n"
		"  orc8r init lab && orc8r -C lab validate\n"
		"\n"
		"'orc8r COMMAND --help' explains a command; man orc8r and man 5 orc8r-yaml\n"
		"document the commands and the YAML format.\n"
		"exit status: 0 ok, 1 failure, 2 plan has changes (--detailed-exitcode),\n"
		"3 invalid configuration, 5 not in sync (status --check), 64 usage error.\n");
}

int main(int argc, char **argv)
{
	struct o8_cli cli = { 0 };
	const char *nc = getenv("NO_COLOR");
	int i = 1;
	size_t c;

	cli.color = isatty(STDOUT_FILENO) && !(nc && *nc);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-C")) {
			if (++i == argc) {
				o8_cli_errorf("option '-C' needs a directory");
				return O8_EXIT_USAGE;
			}
			cli.dir = argv[i];
		} else if (!strncmp(argv[i], "-C", 2)) {
			cli.dir = argv[i] + 2;
		} else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			printf("%s\n", o8_cli_version);
			return O8_EXIT_OK;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return O8_EXIT_OK;
		} else {
			o8_cli_errorf("unknown option '%s'", argv[i]);
			usage(stderr);
			return O8_EXIT_USAGE;
		}
	}
	if (i == argc) {
		usage(stderr);
		return O8_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return O8_EXIT_OK;
	}
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(argv[i], commands[c].name)) {
			/* argp names the program after argv[0]: "orc8r plan" */
			char name[64];
			snprintf(name, sizeof(name), "orc8r %s", commands[c].name);
			argv[i] = name;
			return commands[c].fn(argc - i, argv + i, &cli);
		}
	o8_cli_errorf("'%s' is not an orc8r command (see 'orc8r --help')", argv[i]);
	return O8_EXIT_USAGE;
}
