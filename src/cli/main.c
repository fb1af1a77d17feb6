/* main.c - qdb entry point: dispatches to one file per subcommand. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct qdb_cmd *const commands[] = {
#define X(name, fn, summary) &(const struct qdb_cmd){#name, fn, summary},
	QDB_COMMANDS(X)
#undef X
};

/* Command names are C identifiers in QDB_COMMANDS; users type '-' for '_'
 * ("import-npy"). */
static int name_is(const char *arg, const char *name)
{
	for (; *arg && *name; arg++, name++)
		if (*arg != *name && !(*arg == '-' && *name == '_'))
			return 0;
	return !*arg && !*name;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: qdb COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		char name[32];
		snprintf(name, sizeof name, "%s", commands[i]->name);
		for (char *p = name; *p; p++)
			*p = *p == '_' ? '-' : *p;
		fprintf(f, "  %-12s %s\n", name, commands[i]->summary);
	}
	fprintf(f, "\nqdb COMMAND --help for options; man qdb for everything.\n");
}

int main(int argc, char **argv)
{
	/* `qdb` alone opens the bundled demo in the debugger (on a terminal). */
	if (argc < 2) {
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
			return qdb_cmd_tui(argc, argv);
		usage(stderr);
		return QDB_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("qdb %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (name_is(argv[1], commands[i]->name))
			return commands[i]->fn(argc - 1, argv + 1);
	/* Not a command: `qdb A B [--data DS] ...` and `qdb --script F A B`
	 * open the debugger. */
	if ((argv[1][0] == '-' && argv[1][1] == '-') || access(argv[1], F_OK) == 0)
		return qdb_cmd_tui(argc, argv);
	fprintf(stderr, "qdb: unknown command '%s' (qdb --help lists them)\n", argv[1]);
	return QDB_EXIT_USAGE;
}
