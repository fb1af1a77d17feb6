/* repl.h - a Lua read-eval-print core that knows nothing of the terminal.
 *
 * The front end (`qdb lua` with readline, the TUI console with curses)
 * reads lines its own way and feeds them here one at a time; the core
 * answers whether the statement is complete, runs it, and writes results,
 * print() output and errors through the front end's write callback. It
 * follows lua.c: a line is first tried as `return <line>` so expressions
 * print their values; a chunk whose syntax error ends at <eof> waits for
 * more lines; errors carry a traceback. Values print through qdb_repl_format
 * (tables shown as {k = v, ...}, objects by their __tostring).
 *
 * Interrupting: qdb_repl_interrupt (async-signal-safe: call it from a
 * SIGINT handler) makes running Lua code raise "interrupted" at the next
 * instruction, through a debug hook as lua.c does, and makes the qdb
 * module's long C loops stop too. io.poll, when set, is called every few
 * thousand instructions while code runs (the TUI reads Esc there).
 *
 * Ownership: qdb_repl_new creates (and qdb_repl_delete closes) its own
 * lua_State with the standard libraries and `qdb` (qdb_lua_openlibs).
 * Completion results are a NULL-terminated array of new strings freed with
 * qdb_repl_free_completions.
 */
#ifndef QDB_REPL_H
#define QDB_REPL_H

#include <signal.h>
#include <stddef.h>

#include <lua.h>

struct qdb_repl_io {
	/* Output: results and print() (err = 0), error messages (err = 1).
	 * NULL writes to stdout/stderr. */
	void (*write)(void *user, const char *s, size_t n, int err);
	/* Optional: polled while code runs; non-zero interrupts it. */
	int (*poll)(void *user);
	void *user;
};

enum qdb_repl_status {
	QDB_REPL_OK,         /* ran (or the line was blank) */
	QDB_REPL_INCOMPLETE, /* needs more lines: prompt with qdb_repl_prompt */
	QDB_REPL_ERROR       /* syntax or run-time error (already written) */
};

struct qdb_repl;

/* NULL on allocation failure. io may be NULL (stdout/stderr). */
struct qdb_repl *qdb_repl_new(const struct qdb_repl_io *io);
void qdb_repl_delete(struct qdb_repl *r);
lua_State *qdb_repl_state(struct qdb_repl *r);

/* Feeds one line (without its newline). */
enum qdb_repl_status qdb_repl_feed(struct qdb_repl *r, const char *line);
/* Drops a pending incomplete statement (Ctrl-C at a continuation prompt). */
void qdb_repl_reset(struct qdb_repl *r);
/* 1 while a statement is incomplete. */
int qdb_repl_pending(const struct qdb_repl *r);
/* The whole statement just completed or pending, lines joined by '\n'
 * (for history); valid until the next feed. */
const char *qdb_repl_chunk(const struct qdb_repl *r);
/* "> " or ">> " (a continuation). */
const char *qdb_repl_prompt(const struct qdb_repl *r);

/* Async-signal-safe. Also callable from the poll callback's owner. */
void qdb_repl_interrupt(struct qdb_repl *r);

/* For a front end with no SIGINT handling of its own (`qdb script`,
 * `qdb triage`): from _begin to _end Ctrl-C calls qdb_repl_interrupt(r)
 * instead of ending the process. The previous action is kept in *old and
 * put back by _end. One REPL at a time. */
void qdb_repl_sigint_begin(struct qdb_repl *r, struct sigaction *old);
void qdb_repl_sigint_end(const struct sigaction *old);

/* Runs a file as a script: global `arg` = {[0] = path, args...} (and
 * negative indices for the interpreter, as lua.c), `...` = args. Returns
 * the process exit status: the script's returned integer (or 0/1 for a
 * returned boolean, 0 for nothing); an uncaught error is written with its
 * traceback and gives 1; a file that cannot be loaded gives 2. os.exit
 * ends the process as usual. path NULL reads standard input. */
int qdb_repl_run_script(struct qdb_repl *r, const char *path, int argc, char **argv);

/* Completion of the word ending at `text[len]` (an expression such as
 * "qdb.lo", "m:ru", "pri"): candidates are whole words ("qdb.load").
 * Looks at globals and keywords, table fields (metatables' __index tables
 * too) and the methods and properties of qdb objects. Never runs a
 * metamethod other than the module's own lazy library loading. */
char **qdb_repl_complete(struct qdb_repl *r, const char *text, size_t len);
void qdb_repl_free_completions(char **v);
/* The body of a readline rl_attempted_completion_function for r (repl_rl.c,
 * the one part that uses readline): qdb_repl_complete on rl_line_buffer up
 * to `end`, matched against `text`; readline's own filename completion is
 * switched off. r NULL: no candidates. */
char **qdb_repl_rl_complete(struct qdb_repl *r, const char *text, int end);

/* Pushes a readable rendering of the value at idx: strings quoted when
 * `quote`, tables as {1, 2, k = v} (keys sorted, depth and item limits,
 * long ones one entry per line), other values by tostring. Also available
 * to Lua as the global function `pp`. */
void qdb_repl_format(lua_State *L, int idx, int quote);

/* The history file shared by `qdb lua` and the TUI console: $QDB_HISTORY,
 * else ~/.qdb_history; NULL when neither can be formed. Static storage. */
const char *qdb_repl_history_path(void);

#endif
