/* cmd_lua.c - `qdb lua`: the interactive Lua console (readline front end
 * of src/lua/repl.h).
 *
 * readline runs in callback mode behind select(), so a Ctrl-C at the
 * prompt discards the line (and a pending multi-line statement) instead of
 * killing qdb, and a Ctrl-C while a statement runs interrupts it through
 * the REPL's debug hook. The history file is shared with the TUI console.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli/cli.h"
#include "lua/repl.h"

#define HISTORY_MAX 1000

static struct qdb_repl *repl;
static volatile sig_atomic_t got_sigint;
static int done;
static const char *hist_path;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
	if (repl)
		qdb_repl_interrupt(repl);
}

static void remember(const char *chunk)
{
	if (!chunk || !*chunk)
		return;
	HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
	if (last && !strcmp(last->line, chunk))
		return;
	add_history(chunk);
	if (hist_path)
		append_history(1, hist_path);
}

static void line_handler(char *line)
{
	if (!line) {
		done = 1;
		rl_callback_handler_remove();
		fputc('\n', stdout);
		return;
	}
	enum qdb_repl_status st = qdb_repl_feed(repl, line);
	if (st != QDB_REPL_INCOMPLETE)
		remember(qdb_repl_chunk(repl));
	free(line);
	got_sigint = 0;
	rl_callback_handler_install(qdb_repl_prompt(repl), line_handler);
}

static char **completion(const char *text, int start, int end)
{
	(void)start;
	return qdb_repl_rl_complete(repl, text, end);
}

static int interactive(void)
{
	hist_path = qdb_repl_history_path();
	if (hist_path) {
		int fd = open(hist_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0)
			close(fd);
		else
			hist_path = NULL;
	}
	using_history();
	if (hist_path)
		read_history(hist_path);
	rl_readline_name = "qdb";
	rl_catch_signals = 0;
	rl_attempted_completion_function = completion;
	rl_completer_word_break_characters = " \t\n\"\\'`@$><=;|&{(,)}[]+-*/%^~#";
	rl_completion_append_character = '\0';
	rl_basic_quote_characters = "";

	printf("qdb %s Lua console (%s). Ctrl-D quits, Ctrl-C interrupts; man qdb-lua.\n",
	       PACKAGE_VERSION, LUA_RELEASE);
	rl_callback_handler_install(qdb_repl_prompt(repl), line_handler);
	while (!done) {
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(STDIN_FILENO, &fds);
		int n = select(STDIN_FILENO + 1, &fds, NULL, NULL, NULL);
		if (got_sigint) {
			/* Ctrl-C at the prompt: drop the line and any pending
			 * statement, start over on a fresh line. */
			got_sigint = 0;
			rl_free_line_state();
			rl_callback_sigcleanup();
			rl_replace_line("", 0);
			qdb_repl_reset(repl);
			fputs("^C\n", stdout);
			rl_callback_handler_remove();
			rl_callback_handler_install(qdb_repl_prompt(repl), line_handler);
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		rl_callback_read_char();
	}
	if (!done)
		rl_callback_handler_remove();
	if (hist_path)
		history_truncate_file(hist_path, HISTORY_MAX);
	return QDB_EXIT_OK;
}

/* Standard input is not a terminal: read lines plainly, no prompts. */
static int batch(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int status = QDB_EXIT_OK;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (qdb_repl_feed(repl, line) == QDB_REPL_ERROR)
			status = 1;
	}
	if (qdb_repl_pending(repl)) {
		fprintf(stderr, "qdb lua: unfinished statement at end of input\n");
		status = 1;
	}
	free(line);
	return status;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: qdb lua [-e STATEMENT]... [-i] [FILE.lua [ARGS...]]\n"
		   "Interactive Lua console with the qdb module (man qdb-lua).\n"
		   "  -e STATEMENT  run STATEMENT (repeatable)\n"
		   "  -i            enter the console after -e / FILE\n"
		   "History: $QDB_HISTORY, else ~/.qdb_history (shared with the TUI).\n");
}

int qdb_cmd_lua(int argc, char **argv)
{
	int i = 1, want_repl = 0, ran = 0, status = QDB_EXIT_OK;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return QDB_EXIT_OK;
		} else if (!strcmp(argv[i], "-i")) {
			want_repl = 1;
		} else if (!strcmp(argv[i], "-e")) {
			if (++i >= argc) {
				usage(stderr);
				return QDB_EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else {
			fprintf(stderr, "qdb lua: unknown option %s\n", argv[i]);
			usage(stderr);
			return QDB_EXIT_USAGE;
		}
	}
	int first_file = i;
	repl = qdb_repl_new(NULL);
	if (!repl)
		return QDB_EXIT_INTERNAL;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint; /* no SA_RESTART: select() must wake up */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);

	for (int k = 1; k < first_file; k++) {
		if (!strcmp(argv[k], "-e")) {
			ran = 1;
			enum qdb_repl_status st = qdb_repl_feed(repl, argv[++k]);
			if (st == QDB_REPL_INCOMPLETE) {
				fprintf(stderr, "qdb lua: -e: incomplete statement\n");
				qdb_repl_reset(repl);
				status = 1;
			} else if (st == QDB_REPL_ERROR) {
				status = 1;
			}
		}
	}
	if (status == QDB_EXIT_OK && first_file < argc) {
		ran = 1;
		status = qdb_repl_run_script(repl, argv[first_file], argc - first_file - 1,
					     argv + first_file + 1);
	}
	if (!ran || want_repl)
		status = isatty(STDIN_FILENO) ? interactive() : batch();
	sigaction(SIGINT, &old, NULL);
	fflush(stdout);
	qdb_repl_delete(repl);
	repl = NULL;
	return status;
}
