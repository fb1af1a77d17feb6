/* cli.h - the subcommand table and helpers shared by src/cli/ files.
 *
 * Each subcommand lives in src/cli/cmd_<name>.c and exports
 * `int qdb_cmd_<name>(int argc, char **argv)` (argv[0] is the command name).
 * Exit statuses: 0 success/consistent, 1 threshold crossed (compare-like
 * commands), 2 bad input or usage, 3 internal/resource failure.
 */
#ifndef QDB_CLI_H
#define QDB_CLI_H

#include <stdio.h>

#define QDB_EXIT_OK 0
#define QDB_EXIT_DIVERGED 1
#define QDB_EXIT_USAGE 2
#define QDB_EXIT_BADINPUT 2
#define QDB_EXIT_INTERNAL 3

struct qdb_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* X(name, function, one-line summary): the one list main() and help use. */
#define QDB_COMMANDS(X) \
	X(info, qdb_cmd_info, "describe traces, datasets, graphs and .npy files") \
	X(compare, qdb_cmd_compare, "compare two stages layer by layer (graphs run on --data)") \
	X(check, qdb_cmd_check, "advisor: what in a model (and trace) breaks consistency") \
	X(triage, qdb_cmd_triage, "run the consistency procedure, write a support bundle") \
	X(run, qdb_cmd_run, "run a graph over a dataset (outputs, accuracy, --trace)") \
	X(eval, qdb_cmd_eval, "accuracy of models on a dataset, their agreement, per class") \
	X(badcases, qdb_cmd_badcases, "the records where two stages disagree most (-o: a dataset)") \
	X(convert, qdb_cmd_convert, "qat graph -> integer graph (profile torch or fixed)") \
	X(edit, qdb_cmd_edit, "move nodes of a quantized graph to cpu or bpu") \
	X(lua, qdb_cmd_lua, "interactive Lua console with the qdb module") \
	X(script, qdb_cmd_script, "run a Lua script with the qdb module") \
	X(sensitivity, qdb_cmd_sensitivity, "rank the nodes or values the output is most sensitive to") \
	X(import_npy, qdb_cmd_import_npy, "turn per-layer .npy dumps into a trace") \
	X(tui, qdb_cmd_tui, "the full-screen debugger (also `qdb A B`; `qdb` alone: the demo)") \
	X(version, qdb_cmd_version, "print the version")

int qdb_cmd_lua(int argc, char **argv);
int qdb_cmd_script(int argc, char **argv);
int qdb_cmd_sensitivity(int argc, char **argv);
int qdb_cmd_version(int argc, char **argv);
int qdb_cmd_tui(int argc, char **argv); /* src/tui/tui.c */
int qdb_cmd_import_npy(int argc, char **argv);
int qdb_cmd_info(int argc, char **argv);
int qdb_cmd_compare(int argc, char **argv);
int qdb_cmd_check(int argc, char **argv);
int qdb_cmd_triage(int argc, char **argv);
int qdb_cmd_run(int argc, char **argv);
int qdb_cmd_eval(int argc, char **argv);
int qdb_cmd_badcases(int argc, char **argv);
int qdb_cmd_convert(int argc, char **argv);
int qdb_cmd_edit(int argc, char **argv);

#endif
