/*
 * cmds.h - one entry point per subcommand (cli/cmd_<name>.c) and the few
 * helpers they share (cli/cli.c).
 *
 * Adding a subcommand: write cli/cmd_<name>.c, declare it here, add a row to
 * the commands[] table in cli/main.c.
 */
#ifndef O8_CLI_CMDS_H
#define O8_CLI_CMDS_H

#include <stdbool.h>
#include <stdio.h>

#include "apiclient.h"
#include "util/err.h"

/* Exit codes: scripts rely on these (DESIGN.md section 6). */
enum {
	O8_EXIT_OK = 0,
	O8_EXIT_FAIL = 1,
	O8_EXIT_CHANGES = 2,    /* plan --detailed-exitcode */
	O8_EXIT_INVALID = 3,    /* the repository does not validate (or syncd
				   rejected the commit: apply --wait) */
	O8_EXIT_NOT_IN_SYNC = 5, /* status --check: not every gateway in sync */
	O8_EXIT_USAGE = 64,     /* argp's EX_USAGE */
};

/* Options given before the subcommand, e.g. `orc8r -C DIR validate`. */
struct o8_cli {
	const char *dir;        /* -C: repository root, NULL = "." */
	bool color;             /* stdout is a TTY and NO_COLOR is unset */
};

typedef int o8_cmd_fn(int argc, char **argv, struct o8_cli *cli);

o8_cmd_fn cmd_init;
o8_cmd_fn cmd_validate;
o8_cmd_fn cmd_schema;
o8_cmd_fn cmd_plan;
o8_cmd_fn cmd_apply;
o8_cmd_fn cmd_pki;
o8_cmd_fn cmd_status;
o8_cmd_fn cmd_diff;


/* cli.c */

/* "text" | "json" (| "markdown" when allowed); -1 when unknown. */
enum o8_out { O8_OUT_TEXT = 0, O8_OUT_JSON, O8_OUT_MARKDOWN };
int o8_cli_parse_output(const char *s, bool allow_markdown);

/* Prints "orc8r: <msg>" for err to stderr. */
void o8_cli_error(const struct o8_err *err);

/* Prints "orc8r: " + message to stderr. */
void o8_cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints findings as FILE:LINE:COL: KIND/NAME: message, one per line. */
void o8_cli_print_diags(FILE *f, const struct o8_diags *d, bool color);

/*
 * The result of a validation as `orc8r validate` prints it: findings and
 * a summary line (text), or {"valid", "counts", "errors"} (json).
 */
struct o8_counts;
void o8_cli_report_validation(const struct o8_counts *c, const struct o8_diags *d,
			      size_t nfiles, int out, bool quiet, bool color);

/* cmd_status.c: how status, diff and apply --wait reach syncd. */

/*
 * argp child for --server, --ca, --token-file, --cert and --key; its input
 * (state->child_inputs[i], set by the parent on ARGP_KEY_INIT) is a
 * struct o8_api_opts.
 */
extern const struct argp o8_cli_api_argp;

/* What status and diff share: -C, -o text|json and the server options. */
struct o8_cli_query {
	struct o8_api_opts api;         /* api.dir: -C, else the global -C */
	int out;                        /* enum o8_out */
};

/* argp child for struct o8_cli_query (with o8_cli_api_argp as its own). */
extern const struct argp o8_cli_query_argp;

/*
 * The syncd client for o (o->dir defaults to dir), or NULL after printing
 * why not.  Free it with o8_api_free.
 */
struct o8_api *o8_cli_api_open(struct o8_api_opts *o, const char *dir);

/* argp_program_version etc. live in main.c. */
extern const char o8_cli_version[];

#endif
