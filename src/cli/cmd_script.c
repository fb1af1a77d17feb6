/* cmd_script.c - `qdb script FILE.lua [ARGS...]`: run a Lua script with the
 * qdb module loaded (arg table and exit status as the lua interpreter). */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lua/repl.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: qdb script FILE.lua [ARGS...]\n"
		   "Runs FILE.lua with the qdb module (man qdb-lua). ARGS are in the\n"
		   "global table arg (arg[0] is FILE.lua) and in `...`. The exit status\n"
		   "is the integer the script returns (or gives to os.exit); an error\n"
		   "prints a traceback and exits 1. FILE '-' reads standard input.\n");
}

int qdb_cmd_script(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return QDB_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return QDB_EXIT_OK;
	}
	struct qdb_repl *r = qdb_repl_new(NULL);
	if (!r)
		return QDB_EXIT_INTERNAL;
	const char *path = argv[1];
	if (!strcmp(path, "-"))
		path = NULL; /* luaL_loadfile reads stdin */
	struct sigaction old;
	qdb_repl_sigint_begin(r, &old);
	int status = qdb_repl_run_script(r, path, argc - 2, argv + 2);
	qdb_repl_sigint_end(&old);
	fflush(stdout);
	qdb_repl_delete(r);
	return status;
}
