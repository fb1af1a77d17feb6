/* cmd_version.c - `qdb version`. */
#include "config.h"

#include <stdio.h>

#include "cli/cli.h"

int qdb_cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("qdb %s\n", PACKAGE_VERSION);
	return QDB_EXIT_OK;
}
