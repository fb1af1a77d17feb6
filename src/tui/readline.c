/* readline.c - GNU readline inside curses, as tig does it.
 *
 * readline never touches the terminal: its terminal preparation and signal
 * handling are switched off, it reads keys we hand it (rl_getc_function
 * returns the bytes tui_input fed), and it draws through our
 * rl_redisplay_function (the console or the status line draws rl_line_buffer
 * and rl_point). Lines come back through the callback interface. Function
 * keys arrive from curses already decoded and are turned back into the
 * escape sequences readline's default keymaps know.
 *
 * One readline state exists per process, so one line is edited at a time:
 * the console's, or a prompt's. The console's lines go to the history file
 * shared with `qdb lua`; prompt answers do not.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "base/alloc.h"
#include "tui/tui.h"

static unsigned char pending[64];
static int n_pending, pos_pending;
static tui_rl_line_fn line_fn;
static int active;
static char *history_path;
static char *initial_text;
static HISTORY_STATE *console_hist; /* set aside while a prompt is active */
static int live_is_console = 1;

static int getc_fn(FILE *f)
{
	(void)f;
	if (pos_pending < n_pending)
		return pending[pos_pending++];
	return EOF;
}

static int input_avail(void)
{
	return pos_pending < n_pending;
}

/* The console and the status line draw rl_line_buffer themselves on every
 * screen update, so readline's own redisplay has nothing to do. */
static void redisplay(void)
{
}

static void no_prep(int meta)
{
	(void)meta;
}

static void no_deprep(void)
{
}

/* Completion listings go to whoever asked (the console), never to the
 * terminal readline does not own. */
static void (*matches_fn)(char **matches, int n);

void tui_rl_set_matches(void (*fn)(char **matches, int n))
{
	matches_fn = fn;
}

static void display_matches(char **matches, int n, int max)
{
	(void)max;
	if (matches_fn && n > 0)
		matches_fn(matches + 1, n);
}

static int pre_input(void)
{
	if (initial_text) {
		rl_insert_text(initial_text);
		qdb_free(initial_text);
		initial_text = NULL;
	}
	return 0;
}

static rl_completion_func_t *console_completion;
static const char lua_word_breaks[] = " \t\n\"\\'`@$><=;|&{(,)}[]+-*/%^~#";
static const char *default_word_breaks;

void tui_rl_set_completion(rl_completion_func_t *fn)
{
	console_completion = fn;
}

void tui_rl_init(const char *hist)
{
	rl_readline_name = "qdb";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_change_environment = 0;
	rl_prep_term_function = no_prep;
	rl_deprep_term_function = no_deprep;
	rl_getc_function = getc_fn;
	rl_input_available_hook = input_avail;
	rl_redisplay_function = redisplay;
	rl_completion_display_matches_hook = display_matches;
	rl_pre_input_hook = pre_input;
	rl_outstream = fopen("/dev/null", "w");
	rl_variable_bind("bell-style", "none");
	rl_variable_bind("enable-bracketed-paste", "off");
	rl_completion_append_character = '\0';
	default_word_breaks = rl_completer_word_break_characters;
	rl_variable_bind("show-all-if-ambiguous", "on");
	using_history();
	if (hist) {
		/* append_history needs the file to exist (as `qdb lua` does it). */
		int fd = open(hist, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			close(fd);
			history_path = qdb_strdup(hist);
			read_history(hist);
		}
		stifle_history(1000);
	}
}

static void use_console_history(int console)
{
	if (console && !live_is_console) {
		history_set_history_state(console_hist);
		free(console_hist);
		console_hist = NULL;
		live_is_console = 1;
	} else if (!console && live_is_console) {
		HISTORY_STATE empty;
		console_hist = history_get_history_state();
		memset(&empty, 0, sizeof empty);
		history_set_history_state(&empty);
		live_is_console = 0;
	}
}

static void got_line(char *line)
{
	/* readline calls us from inside rl_callback_read_char: remove the
	 * handler first so the callback may start a new one (next prompt). */
	tui_rl_line_fn fn = line_fn;
	rl_callback_handler_remove();
	active = 0;
	if (fn)
		fn(line);
	free(line);
}

void tui_rl_begin(const char *prompt, const char *initial, tui_rl_line_fn fn, int history)
{
	if (active)
		tui_rl_end();
	line_fn = fn;
	active = 1;
	qdb_free(initial_text);
	initial_text = initial && *initial ? qdb_strdup(initial) : NULL;
	/* Prompts see no history and complete file names; the console gets
	 * its history back and completes Lua. */
	use_console_history(history);
	rl_attempted_completion_function = history ? console_completion : NULL;
	rl_completer_word_break_characters = history ? lua_word_breaks : default_word_breaks;
	rl_callback_handler_install(prompt, got_line);
}

void tui_rl_end(void)
{
	if (!active)
		return;
	rl_callback_handler_remove();
	active = 0;
	n_pending = pos_pending = 0;
}

static void push(const char *bytes, int n)
{
	if (pos_pending >= n_pending)
		n_pending = pos_pending = 0;
	for (int i = 0; i < n && n_pending < (int)sizeof pending; i++)
		pending[n_pending++] = (unsigned char)bytes[i];
}

void tui_rl_feed(int key)
{
	const char *seq = NULL;
	char u[8];

	if (!active)
		return;
	switch (key) {
	case KEY_UP: seq = "\033[A"; break;
	case KEY_DOWN: seq = "\033[B"; break;
	case KEY_RIGHT: seq = "\033[C"; break;
	case KEY_LEFT: seq = "\033[D"; break;
	case KEY_HOME: seq = "\001"; break;
	case KEY_END: seq = "\005"; break;
	case KEY_DC: seq = "\004"; break;
	case KEY_BACKSPACE: seq = "\177"; break;
	case '\n': seq = "\r"; break;
	default: break;
	}
	if (seq) {
		/* C-d on a non-empty line deletes forward; on an empty one it
		 * would end input: do not let Delete do that. */
		if (key == KEY_DC && rl_end == 0)
			return;
		push(seq, (int)strlen(seq));
	} else if (TUI_IS_CHAR(key)) {
		int cp = TUI_CODEPOINT(key);
		int n = 0;
		if (cp < 0x80)
			u[n++] = (char)cp;
		else if (cp < 0x800)
			u[n++] = (char)(0xc0 | cp >> 6), u[n++] = (char)(0x80 | (cp & 0x3f));
		else if (cp < 0x10000)
			u[n++] = (char)(0xe0 | cp >> 12), u[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)),
			u[n++] = (char)(0x80 | (cp & 0x3f));
		else
			u[n++] = (char)(0xf0 | cp >> 18), u[n++] = (char)(0x80 | ((cp >> 12) & 0x3f)),
			u[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[n++] = (char)(0x80 | (cp & 0x3f));
		push(u, n);
	} else {
		return; /* other function keys mean nothing to a line */
	}
	while (active && input_avail())
		rl_callback_read_char();
	if (!active)
		n_pending = pos_pending = 0;
}

const char *tui_rl_buffer(void)
{
	return active && rl_line_buffer ? rl_line_buffer : "";
}

int tui_rl_point(void)
{
	return active ? rl_point : 0;
}

const char *tui_rl_prompt(void)
{
	return active && rl_display_prompt ? rl_display_prompt : "";
}

void tui_rl_history_add(const char *line)
{
	HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
	if (last && last->line && !strcmp(last->line, line))
		return;
	add_history(line);
	if (history_path)
		append_history(1, history_path);
}

void tui_rl_done(void)
{
	tui_rl_end();
	if (history_path) {
		history_truncate_file(history_path, 1000);
		qdb_free(history_path);
		history_path = NULL;
	}
	use_console_history(1);
	qdb_free(initial_text);
	initial_text = NULL;
	clear_history();
	if (rl_outstream && rl_outstream != stdout) {
		fclose(rl_outstream);
		rl_outstream = NULL;
	}
}
