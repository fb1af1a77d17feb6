/* console.c - the Lua console pane: scrollback, and an input line edited by
 * readline (readline.c) when the console has the focus. Lines typed here go
 * to the console's Lua state (lua_tui.c); print() and errors come back as
 * scrollback lines. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "tui/tui.h"

#define SCROLLBACK 2000

struct cline {
	char *text;
	enum tui_color c;
};

struct console {
	struct cline lines[SCROLLBACK];
	int first, n;        /* ring */
	int scroll;          /* screen rows scrolled back from the bottom */
	int incomplete;      /* a multi-line statement is being typed */
};

static struct tui *g_t; /* readline's line callback carries no context */

static const struct {
	const char *keys;
} creq_keys[CREQ_COUNT] = {
	[CREQ_NONE] = {""},
#define TUI_X_(id, k, h) [CREQ_##id] = {k},
	TUI_CONSOLE_KEYS(TUI_X_)
#undef TUI_X_
};

static enum tui_console_req console_lookup(int key)
{
	for (int r = 1; r < CREQ_COUNT; r++) {
		char buf[64];
		snprintf(buf, sizeof buf, "%s", creq_keys[r].keys);
		for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
			if (tui_key_parse(tok) == key)
				return (enum tui_console_req)r;
	}
	return CREQ_NONE;
}

static int console_open(struct view *v)
{
	v->priv = qdb_calloc(1, sizeof(struct console));
	return v->priv ? 0 : -1;
}

static void console_free_lines(struct console *c)
{
	for (int i = 0; i < c->n; i++)
		qdb_free(c->lines[(c->first + i) % SCROLLBACK].text);
	c->n = c->first = 0;
}

static void console_done(struct view *v)
{
	struct console *c = v->priv;
	if (c)
		console_free_lines(c);
	qdb_free(c);
	v->priv = NULL;
}

static void add_line(struct console *c, enum tui_color color, const char *s, size_t n)
{
	char *text = qdb_malloc(n * 8 + 1);
	size_t k = 0;
	if (!text)
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\t') {
			do
				text[k++] = ' ';
			while (k % 8);
		} else if (s[i] != '\r') {
			text[k++] = s[i];
		}
	}
	text[k] = 0;
	int slot;
	if (c->n < SCROLLBACK) {
		slot = (c->first + c->n) % SCROLLBACK;
		c->n++;
	} else {
		slot = c->first;
		qdb_free(c->lines[slot].text);
		c->first = (c->first + 1) % SCROLLBACK;
	}
	c->lines[slot].text = text;
	c->lines[slot].c = color;
}

void tui_console_print(struct tui *t, enum tui_color color, const char *text)
{
	struct console *c = t->console.priv;
	if (!c)
		return;
	const char *p = text;
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (nl || n)
			add_line(c, color, p, n);
		if (!nl)
			break;
		p = nl + 1;
		if (!*p)
			break;
	}
	c->scroll = 0;
}

void tui_console_printf(struct tui *t, enum tui_color color, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	tui_console_print(t, color, buf);
}

/* Rows a line takes when wrapped at width. */
static int line_rows(const char *s, int width)
{
	int cols = tui_text_width(s);
	if (width <= 0)
		return 1;
	return cols == 0 ? 1 : (cols + width - 1) / width;
}

static void draw_wrapped(WINDOW *w, int y, int skip, int max_rows, int width,
			 enum tui_color color, const char *s)
{
	/* Rows `skip`.. of the wrapped line go to y.. (at most max_rows). */
	int row = 0;
	do {
		int cols;
		size_t n = tui_fit(s, width, &cols);
		if (n == 0 && *s)
			n = 1; /* a glyph wider than the pane: skip it */
		if (row >= skip && row - skip < max_rows) {
			char buf[1024];
			size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1;
			memcpy(buf, s, k);
			buf[k] = 0;
			tui_put(w, y + row - skip, 0, width, color, buf);
		}
		s += n;
		row++;
	} while (*s);
}

static const char *console_prompt(const struct console *c)
{
	return c->incomplete ? ">> " : "lua> ";
}

/* The input line, scrolled horizontally so the cursor shows. */
static void draw_input(struct tui *t, struct console *c, WINDOW *w, int y, int width)
{
	if (t->focus != FOCUS_CONSOLE) {
		tui_put(w, y, 0, width, COL_DIM, "lua> (: or Tab for the console, ? for help)");
		return;
	}
	const char *prompt = tui_rl_prompt();
	const char *buf = tui_rl_buffer();
	int point = tui_rl_point();
	if (!*prompt)
		prompt = console_prompt(c);
	int pw = tui_text_width(prompt);
	tui_put(w, y, 0, width, COL_ECHO, prompt);
	int avail = width - pw - 1;
	if (avail < 1)
		return;
	/* Columns before the cursor. */
	char head[4096];
	size_t hp = (size_t)point < sizeof head - 1 ? (size_t)point : sizeof head - 1;
	memcpy(head, buf, hp);
	head[hp] = 0;
	int cur = tui_text_width(head);
	const char *start = buf;
	int shift = cur > avail ? cur - avail : 0;
	while (shift > 0 && *start) {
		int cols;
		size_t n = tui_fit(start, 1, &cols);
		if (n == 0)
			n = 1;
		start += n;
		shift -= cols ? cols : 1;
		cur -= cols ? cols : 1;
	}
	tui_put(w, y, pw, avail, COL_DEFAULT, start);
	t->cursor_win = w;
	t->cursor_y = y;
	t->cursor_x = pw + cur;
}

static void console_draw(struct view *v)
{
	struct console *c = v->priv;
	struct tui *t = v->t;
	WINDOW *w = v->win;

	if (!w)
		return;
	int rows = v->h - 1, width = v->w;
	/* Separator title on the first row when there is room. */
	int y0 = 0;
	if (rows >= 3) {
		tui_fill(w, 0, 0, width, COL_BORDER);
		char title[64];
		snprintf(title, sizeof title, "console%s", c->scroll ? " (scrolled: PgDn)" : "");
		tui_put(w, 0, 0, width, COL_BORDER, title);
		y0 = 1;
		rows--;
	}
	/* Fill from the bottom up, newest line last. */
	int y = y0 + rows, skip = c->scroll;
	for (int i = c->n - 1; i >= 0 && y > y0; i--) {
		const struct cline *l = &c->lines[(c->first + i) % SCROLLBACK];
		int lr = line_rows(l->text, width);
		if (skip >= lr) {
			skip -= lr;
			continue;
		}
		int visible = lr - skip;
		int top = y - visible;
		int from = 0;
		if (top < y0) {
			from = y0 - top;
			top = y0;
		}
		draw_wrapped(w, top, from, y - top, width, l->c, l->text);
		y = top;
		skip = 0;
	}
	draw_input(t, c, w, v->h - 1, width);
}

static int console_request(struct view *v, enum tui_request req)
{
	(void)v;
	(void)req;
	return TUI_UNHANDLED;
}

static void scroll_by(struct tui *t, int d)
{
	struct console *c = t->console.priv;
	int total = 0;
	for (int i = 0; i < c->n; i++)
		total += line_rows(c->lines[(c->first + i) % SCROLLBACK].text, t->console.w);
	c->scroll += d;
	if (c->scroll > total - 1)
		c->scroll = total - 1;
	if (c->scroll < 0)
		c->scroll = 0;
}

static int console_mouse(struct view *v, int y, int x, mmask_t b)
{
	(void)y, (void)x;
	if (b & BUTTON4_PRESSED)
		scroll_by(v->t, 3);
	else if (b & BUTTON5_PRESSED)
		scroll_by(v->t, -3);
	return TUI_REDRAW;
}

static void on_line(char *line);

static void begin_line(struct tui *t)
{
	struct console *c = t->console.priv;
	tui_rl_begin(console_prompt(c), NULL, on_line, 1);
}

static void on_line(char *line)
{
	struct tui *t = g_t;
	struct console *c = t->console.priv;

	if (!line) {
		/* C-d on an empty line */
		tui_console_focus(t, 0);
		return;
	}
	tui_console_printf(t, COL_ECHO, "%s%s", console_prompt(c), line);
	c->incomplete = tui_lua_line(t, line);
	if (t->focus == FOCUS_CONSOLE)
		begin_line(t);
}

/* Tab twice: the candidates, as many to a line as fit. */
static void show_matches(char **m, int n)
{
	struct tui *t = g_t;
	struct qdb_buf line;
	int width = t->console.w > 10 ? t->console.w : 80, shown = 0;

	qdb_buf_init(&line);
	for (int i = 0; i < n && shown < 200; i++, shown++) {
		int w = tui_text_width(m[i]);
		if (line.len && tui_text_width(line.s) + 2 + w > width) {
			tui_console_print(t, COL_DIM, line.s);
			qdb_buf_reset(&line);
		}
		qdb_buf_printf(&line, "%s%s", line.len ? "  " : "", m[i]);
	}
	if (n > shown)
		qdb_buf_printf(&line, "%s(%d more)", line.len ? "  " : "", n - shown);
	if (line.len)
		tui_console_print(t, COL_DIM, line.s);
	qdb_buf_done(&line);
}

void tui_console_focus(struct tui *t, int on)
{
	g_t = t;
	tui_rl_set_matches(show_matches);
	if (on && t->focus != FOCUS_CONSOLE) {
		t->focus = FOCUS_CONSOLE;
		begin_line(t);
	} else if (!on && t->focus == FOCUS_CONSOLE) {
		tui_rl_end();
		t->focus = FOCUS_LIST;
	}
}

int tui_console_key(struct tui *t, int key)
{
	struct console *c = t->console.priv;

	switch (console_lookup(key)) {
	case CREQ_LEAVE:
		tui_console_focus(t, 0);
		return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
	case CREQ_COMPLETE:
		if (!*tui_rl_buffer() && !c->incomplete) {
			tui_console_focus(t, 0);
			return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
		}
		tui_rl_feed('\t');
		return TUI_HANDLED | TUI_REDRAW;
	case CREQ_SCROLL_UP:
		scroll_by(t, t->console.h > 3 ? t->console.h - 2 : 1);
		return TUI_HANDLED | TUI_REDRAW;
	case CREQ_SCROLL_DOWN:
		scroll_by(t, -(t->console.h > 3 ? t->console.h - 2 : 1));
		return TUI_HANDLED | TUI_REDRAW;
	case CREQ_CANCEL:
		tui_lua_reset_chunk(t);
		c->incomplete = 0;
		tui_console_print(t, COL_DIM, "(statement dropped)");
		begin_line(t);
		return TUI_HANDLED | TUI_REDRAW;
	default:
		break;
	}
	tui_rl_feed(key);
	/* The line callback may have left the console (C-d) or resized it. */
	return TUI_HANDLED | TUI_REDRAW | (t->focus != FOCUS_CONSOLE ? TUI_LAYOUT : 0);
}

void tui_console_done(struct tui *t)
{
	if (t->focus == FOCUS_CONSOLE)
		tui_rl_end();
	g_t = NULL;
}

const struct view_ops tui_console_ops = {
	"console", console_open, console_draw, console_request, console_mouse, console_done,
};
