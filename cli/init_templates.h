/*
 * init_templates.h - the files `orc8r init` writes, as data.
 *
 * Paths and contents may hold @KEY@ placeholders; cmd_init.c replaces them
 * (network name, MCC/MNC, random hardwareIds and SIM keys).  Adding a file
 * to the scaffold is one row in o8_init_files[].
 */
#ifndef O8_CLI_INIT_TEMPLATES_H
#define O8_CLI_INIT_TEMPLATES_H

#include <stddef.h>

struct o8_init_file {
	const char *path;       /* relative to the new repository's root */
	const char *text;
};

extern const struct o8_init_file o8_init_files[];
extern const size_t o8_init_nfiles;

#endif
