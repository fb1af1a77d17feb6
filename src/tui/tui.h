/* tui.h - internals shared by the files of the full-screen debugger (src/tui/).
 *
 * Structure (after tig): every keystroke enters through tui_input(); it maps
 * keys to requests through one keymap built from the request list below, so
 * the help screen and the key map cannot disagree. A view is a table of
 * operations (struct view_ops: open, draw, request, done) plus private
 * state; the screen is the header, the layer list, the detail pane, the
 * console and the status line, and an overlay view (help, channels) may
 * take the place of list and detail. Handlers return TUI_* flags instead of
 * acting globally (as htop does). No analysis happens here: everything
 * numeric comes from the session (analysis/session.h) and inspect.h.
 *
 * Ownership: struct tui owns the session, the views, the Lua state and the
 * console; tui_main() creates and frees all of it.
 */
#ifndef QDB_TUI_H
#define QDB_TUI_H

#include <curses.h>
#include <stdint.h>

#include "analysis/session.h"

/* ---- requests: X(ID, default keys, help); G(group title) --------------- */
#define TUI_REQUESTS(G, X) \
	G("Moving") \
	X(MOVE_DOWN, "j Down", "next layer") \
	X(MOVE_UP, "k Up", "previous layer") \
	X(PAGE_DOWN, "PgDn C-f Space", "page down") \
	X(PAGE_UP, "PgUp C-b", "page up") \
	X(MOVE_FIRST, "g Home", "first layer") \
	X(MOVE_LAST, "G End", "last layer") \
	X(NEXT_DIVERGENT, "]", "next layer crossing the threshold (run to divergence)") \
	X(PREV_DIVERGENT, "[", "previous layer crossing the threshold") \
	X(FIRST_DIVERGENT, "d", "first divergent layer of this sample") \
	X(SEARCH, "/", "search a layer by name or op (empty: search again)") \
	G("Samples") \
	X(NEXT_SAMPLE, "n Right", "next sample") \
	X(PREV_SAMPLE, "p Left", "previous sample") \
	X(GOTO_SAMPLE, "#", "go to a sample by id or position") \
	X(BREAKPOINT, "b", "break on a condition (e.g. max_steps>8): run to the next sample/layer where it holds") \
	X(AGGREGATE, "a", "toggle worst-over-all-samples view (computes once; Esc cancels)") \
	G("Comparison") \
	X(SORT, "s", "sort by metric (cycles: order, cosine, max_steps, sqnr, mismatch)") \
	X(MODE, "m", "cumulative / isolated comparison (B graph only)") \
	X(THRESHOLD, "t", "set the threshold (e.g. cosine<0.995)") \
	X(CHANNELS, "Enter", "per-channel view of the selected layer, worst first") \
	G("Editing B") \
	X(TOGGLE_CPU, "c", "toggle CPU for B's node; re-run its downstream cone") \
	X(UNDO, "u", "undo the last edit") \
	X(WRITE, "w", "write the edited model (asks the path; atomic)") \
	G("Other") \
	X(CONSOLE, ": Tab", "focus the Lua console (Esc returns)") \
	X(HELP, "? F1", "show this help") \
	X(REDRAW, "C-l", "redraw the screen") \
	X(CLOSE, "Esc", "close the help or channel view") \
	X(QUIT, "q", "quit (asks when edits are unsaved); closes an open view first")

enum tui_request {
	REQ_NONE,
#define TUI_G_(title)
#define TUI_X_(id, keys, help) REQ_##id,
	TUI_REQUESTS(TUI_G_, TUI_X_)
#undef TUI_G_
#undef TUI_X_
	REQ_COUNT
};

/* Keys of the focused console: X(ID, keys, help). console.c maps keys to
 * these; the rest go to readline (emacs keys, Up/Down history, C-r). */
#define TUI_CONSOLE_KEYS(X) \
	X(LEAVE, "Esc", "back to the layer list (Tab on an empty line, C-d too)") \
	X(COMPLETE, "Tab", "complete a Lua name") \
	X(SCROLL_UP, "PgUp", "scroll the console back") \
	X(SCROLL_DOWN, "PgDn", "scroll the console forward") \
	X(CANCEL, "C-g", "drop a half-typed multi-line statement")

enum tui_console_req {
	CREQ_NONE,
#define TUI_X_(id, keys, help) CREQ_##id,
	TUI_CONSOLE_KEYS(TUI_X_)
#undef TUI_X_
	CREQ_COUNT
};

/* ---- colours: X(ID, fg, bg, colour attrs, monochrome attrs) ------------- */
#define TUI_COLORS(X) \
	X(DEFAULT, -1, -1, A_NORMAL, A_NORMAL) \
	X(HEADER, COLOR_WHITE, COLOR_BLUE, A_BOLD, A_REVERSE) \
	X(TITLE, COLOR_YELLOW, -1, A_BOLD, A_BOLD) \
	X(LABEL, COLOR_CYAN, -1, A_NORMAL, A_NORMAL) \
	X(CURSOR, COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE) \
	X(GOOD, COLOR_GREEN, -1, A_NORMAL, A_NORMAL) \
	X(WARN, COLOR_YELLOW, -1, A_BOLD, A_NORMAL) \
	X(BAD, COLOR_RED, -1, A_BOLD, A_BOLD) \
	X(MARK, COLOR_MAGENTA, -1, A_BOLD, A_BOLD) \
	X(CPU, COLOR_CYAN, -1, A_BOLD, A_UNDERLINE) \
	X(DIM, COLOR_WHITE, -1, A_DIM, A_DIM) \
	X(HIST_A, COLOR_BLUE, -1, A_BOLD, A_NORMAL) \
	X(HIST_B, COLOR_MAGENTA, -1, A_NORMAL, A_NORMAL) \
	X(HIST_E, COLOR_RED, -1, A_NORMAL, A_NORMAL) \
	X(STATUS, -1, -1, A_NORMAL, A_NORMAL) \
	X(ERROR, COLOR_RED, -1, A_BOLD, A_BOLD) \
	X(ECHO, COLOR_CYAN, -1, A_NORMAL, A_BOLD) \
	X(BORDER, COLOR_BLUE, -1, A_NORMAL, A_NORMAL)

enum tui_color {
#define TUI_X_(id, fg, bg, attr, mono) COL_##id,
	TUI_COLORS(TUI_X_)
#undef TUI_X_
	COL_COUNT
};

/* ---- glyphs: X(ID, UTF-8, ASCII) ----------------------------------------- */
#define TUI_GLYPHS(X) \
	X(MARK, "\xe2\x96\xb6", ">") \
	X(HLINE, "\xe2\x94\x80", "-") \
	X(VLINE, "\xe2\x94\x82", "|") \
	X(ARROW, "\xe2\x86\x92", "->") \
	X(UP, "\xe2\x86\x91", "^") \
	X(DOWN, "\xe2\x86\x93", "v") \
	X(ELLIPSIS, "\xe2\x80\xa6", "~")

enum tui_glyph {
#define TUI_X_(id, u, a) GL_##id,
	TUI_GLYPHS(TUI_X_)
#undef TUI_X_
	GL_COUNT
};

/* Handler results (or-ed). */
enum {
	TUI_UNHANDLED = 0,
	TUI_HANDLED = 1 << 0,
	TUI_REDRAW = 1 << 1,   /* something visible changed */
	TUI_LAYOUT = 1 << 2,   /* sizes changed: recompute the layout */
	TUI_QUIT = 1 << 3
};

struct tui;
struct view;

struct view_ops {
	const char *name;
	int (*open)(struct view *v);                      /* allocate v->priv */
	void (*draw)(struct view *v);                     /* into v->win */
	int (*request)(struct view *v, enum tui_request req); /* TUI_* flags */
	int (*mouse)(struct view *v, int y, int x, mmask_t bstate); /* may be NULL */
	void (*done)(struct view *v);                     /* free v->priv */
};

struct view {
	const struct view_ops *ops;
	struct tui *t;
	WINDOW *win;     /* NULL when the layout gives it no room */
	int y, x, h, w;
	void *priv;
};

extern const struct view_ops tui_layers_ops, tui_detail_ops, tui_channels_ops,
	tui_help_ops, tui_console_ops;

enum tui_focus { FOCUS_LIST, FOCUS_CONSOLE, FOCUS_PROMPT };
enum tui_sort { SORT_ORDER, SORT_COSINE, SORT_MAX_STEPS, SORT_SQNR, SORT_MISMATCH, SORT_COUNT };

/* A prompt on the status line; on_answer gets NULL when cancelled. */
typedef void (*tui_answer_fn)(struct tui *t, const char *answer);

/* Extra columns from Lua (tui.add_column). */
#define TUI_MAX_COLUMNS 8
struct tui_column {
	char title[16];
	int fn_ref;          /* registry reference of the Lua function */
	char **cache;        /* per row, for cache_sample/cache_gen */
	int cache_sample;
	unsigned cache_gen;
	int err_shown;       /* its first error of this refresh was reported */
};

struct tui_binding {
	int key;
	enum tui_request req;   /* REQ_NONE with lua_ref >= 0: a Lua binding */
	int lua_ref;
};

struct tui {
	struct qdb_session *s;
	int sample;              /* current sample */
	int row;                 /* selected row (session row index) */
	int *order;              /* display order of rows */
	int *pos_of;             /* row -> display position */
	enum tui_sort sort;
	int aggregate;           /* list shows the worst over all samples */
	unsigned gen;            /* bumped on every change of cells (edit, mode) */
	int *first_div;          /* per sample: first divergent row, -1 none, -2 unknown */
	int fill_next;           /* background: next row of `sample` to compute */

	struct view layers, detail, console;
	struct view *overlay;    /* help or channels, or NULL */
	struct view help, channels;
	enum tui_focus focus;

	/* status line / prompt */
	char status[512];
	int status_error;
	const char *prompt;
	tui_answer_fn on_answer;
	int prompt_yesno;        /* single-key y/n question */
	char last_search[128];
	struct qdb_threshold brk;
	int have_brk;

	/* terminal capabilities */
	int utf8, colors, mouse;
	int lines, cols;

	/* keymap: defaults then Lua bindings (later ones win) */
	struct tui_binding *keys;
	int n_keys, cap_keys;

	/* Lua */
	struct lua_State *L;
	struct tui_column columns[TUI_MAX_COLUMNS];
	int n_columns;

	WINDOW *cursor_win;      /* where the edit cursor goes (NULL: hidden) */
	int cursor_y, cursor_x;

	int want_quit;
	char *write_default;     /* default path for `w` */
	FILE *latency_log;       /* QDB_TUI_LATENCY_LOG: key-to-redraw times */
};

/* tui.c */
int tui_main(int argc, char **argv);
void tui_message(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tui_error(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tui_prompt(struct tui *t, const char *prompt, const char *initial, tui_answer_fn fn);
void tui_ask_yesno(struct tui *t, const char *question, tui_answer_fn fn);
void tui_select_row(struct tui *t, int row);
void tui_select_sample(struct tui *t, int sample);
void tui_cells_changed(struct tui *t);  /* after an edit or mode change */
void tui_redraw(struct tui *t);          /* draw everything now */
int tui_request(struct tui *t, enum tui_request req);
int tui_progress(void *user, int64_t done, int64_t total); /* session progress fn */
/* For work of unknown length (running Lua): elapsed time on the status line
 * (at most every 200 ms); 1 when the user asked to stop (Esc). */
int tui_busy(struct tui *t, const char *what, double since_ms);
double tui_now_ms(void);
const struct qdb_compare_cell *tui_cell(struct tui *t, int sample, int row);
void tui_open_overlay(struct tui *t, struct view *v);

/* input.c: the one door for keystrokes, the keymap and key names */
int tui_input(struct tui *t, int key);
int tui_keymap_init(struct tui *t);
void tui_keymap_done(struct tui *t);
enum tui_request tui_keymap_lookup(const struct tui *t, int key, int *lua_ref);
int tui_key_parse(const char *name);                   /* -1 if unknown */
const char *tui_key_name(int key, char *dst, size_t n);
int tui_bind_lua(struct tui *t, int key, int lua_ref); /* replaces the old one */
const char *tui_request_help(enum tui_request req);
const char *tui_request_group(enum tui_request req);   /* group title of req */
/* Keys currently bound to req, "j Down". */
const char *tui_request_keys(const struct tui *t, enum tui_request req, char *dst, size_t n);
/* Key codes: KEY_* values as is; a character is its code point, moved up
 * by TUI_KEY_CHAR when it would collide with the KEY_* range. */
#define TUI_KEY_CHAR 0x1000000
#define TUI_CHAR(c) ((int)(c) < KEY_MIN ? (int)(c) : (int)(c) + TUI_KEY_CHAR)
#define TUI_IS_CHAR(k) ((k) < KEY_MIN || (k) >= TUI_KEY_CHAR)
#define TUI_CODEPOINT(k) ((k) >= TUI_KEY_CHAR ? (k) - TUI_KEY_CHAR : (k))

/* draw.c: clipped, charset-aware drawing */
void tui_colors_init(struct tui *t);
attr_t tui_attr(enum tui_color c);
const char *tui_glyph(enum tui_glyph g);
/* Prints s at (y, x) in at most `width` columns (truncating with an
 * ellipsis when `ellipsis`), returns columns used. Non-ASCII text becomes
 * '?' in a non-UTF-8 locale. */
int tui_put(WINDOW *w, int y, int x, int width, enum tui_color c, const char *s);
int tui_putf(WINDOW *w, int y, int x, int width, enum tui_color c, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
int tui_put_right(WINDOW *w, int y, int x, int width, enum tui_color c, const char *s);
void tui_fill(WINDOW *w, int y, int x, int width, enum tui_color c);
int tui_text_width(const char *s);
/* Bytes of s that fit in width columns; *cols gets the columns they take. */
size_t tui_fit(const char *s, int width, int *cols);
/* Sparkline of n counts in `width` cells (resampled), UTF-8 blocks or ASCII. */
void tui_spark(WINDOW *w, int y, int x, int width, enum tui_color c,
	       const int64_t *v, int n);
/* Horizontal bar of fill in [0,1] over width cells. */
void tui_bar(WINDOW *w, int y, int x, int width, enum tui_color c, double fill);
/* Number formatting for metric columns (fixed width, "-" when NaN/n.a.). */
const char *tui_fmt_metric(char *dst, size_t n, enum qdb_metric_id id, double v, int width);
enum tui_color tui_grade_color(int grade);

/* console.c */
void tui_console_print(struct tui *t, enum tui_color c, const char *text);
void tui_console_printf(struct tui *t, enum tui_color c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int tui_console_key(struct tui *t, int key);
void tui_console_focus(struct tui *t, int on);
void tui_console_done(struct tui *t);

/* readline.c: readline driven from tui_input, drawing through us */
typedef void (*tui_rl_line_fn)(char *line); /* NULL at EOF (C-d on empty) */
void tui_rl_init(const char *history_path);
/* history: 1 for the console (its history, Lua completion), 0 for a
 * prompt (no history, file name completion). */
void tui_rl_begin(const char *prompt, const char *initial, tui_rl_line_fn fn, int history);
void tui_rl_end(void);
void tui_rl_feed(int key);
const char *tui_rl_buffer(void);
int tui_rl_point(void);
const char *tui_rl_prompt(void);
void tui_rl_history_add(const char *line);
/* Where a completion listing goes (matches[0..n-1]). */
void tui_rl_set_matches(void (*fn)(char **matches, int n));
/* Completion for the console's lines (readline's rl_completion_func_t). */
void tui_rl_set_completion(char **(*fn)(const char *text, int start, int end));
void tui_rl_done(void);

/* lua_tui.c: the console's Lua state and the `tui` table */
int tui_lua_init(struct tui *t);
void tui_lua_done(struct tui *t);
/* Runs one console line; returns 1 when the statement is incomplete. */
int tui_lua_line(struct tui *t, const char *line);
void tui_lua_reset_chunk(struct tui *t);
int tui_lua_script(struct tui *t, const char *path);
void tui_lua_call_ref(struct tui *t, int ref);
/* Text of column c for a row (cached per sample/generation). */
const char *tui_lua_column(struct tui *t, int c, int row);

#endif
