/* view_help.c - every key, from the same tables the input uses: the request
 * list with the live keymap (Lua bindings included) and the console keys. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "tui/tui.h"

struct help {
	int top;
};

static const struct {
	const char *keys, *help;
} console_keys[] = {
#define TUI_X_(id, k, h) {k, h},
	TUI_CONSOLE_KEYS(TUI_X_)
#undef TUI_X_
};

static int help_open(struct view *v)
{
	v->priv = qdb_calloc(1, sizeof(struct help));
	return v->priv ? 0 : -1;
}

static void help_done(struct view *v)
{
	qdb_free(v->priv);
	v->priv = NULL;
}

/* Emits line i of the help text (or counts lines when w is NULL). */
struct emit {
	WINDOW *w;
	int y0, top, rows, width, line;
};

static void emit(struct emit *e, enum tui_color c, const char *keys, const char *text)
{
	int y = e->line - e->top;
	e->line++;
	if (!e->w || y < 0 || y >= e->rows)
		return;
	y += e->y0;
	if (!keys) {
		tui_put(e->w, y, 0, e->width, c, text);
		return;
	}
	int kw = e->width >= 60 ? 18 : 12;
	tui_put(e->w, y, 2, kw - 2, COL_LABEL, keys);
	tui_put(e->w, y, kw + 1, e->width - kw - 1, c, text);
}

static int help_lines(struct view *v, struct emit *e)
{
	struct tui *t = v->t;
	const char *group = NULL;
	char keys[64];

	for (int r = 1; r < REQ_COUNT; r++) {
		const char *g = tui_request_group((enum tui_request)r);
		if (!group || strcmp(g, group)) {
			if (group)
				emit(e, COL_DEFAULT, NULL, "");
			emit(e, COL_TITLE, NULL, g);
			group = g;
		}
		tui_request_keys(t, (enum tui_request)r, keys, sizeof keys);
		emit(e, COL_DEFAULT, keys[0] ? keys : "(unbound)", tui_request_help((enum tui_request)r));
	}
	int lua = 0;
	for (int i = 0; i < t->n_keys; i++) {
		if (t->keys[i].lua_ref < 0)
			continue;
		if (!lua++) {
			emit(e, COL_DEFAULT, NULL, "");
			emit(e, COL_TITLE, NULL, "Bound from Lua (tui.bind)");
		}
		tui_key_name(t->keys[i].key, keys, sizeof keys);
		emit(e, COL_DEFAULT, keys, "Lua function");
	}
	emit(e, COL_DEFAULT, NULL, "");
	emit(e, COL_TITLE, NULL, "In the console");
	for (size_t i = 0; i < sizeof console_keys / sizeof *console_keys; i++)
		emit(e, COL_DEFAULT, console_keys[i].keys, console_keys[i].help);
	emit(e, COL_DEFAULT, "C-c", "stop a running Lua script (Esc cancels long work)");
	emit(e, COL_DEFAULT, NULL, "");
	emit(e, COL_TITLE, NULL, "Mouse");
	emit(e, COL_DEFAULT, "click", "select a layer; double-click: channels; wheel scrolls");
	return e->line;
}

static void help_draw(struct view *v)
{
	struct help *h = v->priv;
	WINDOW *w = v->win;

	if (!w)
		return;
	struct emit count = {NULL, 0, 0, 0, 0, 0};
	int n = help_lines(v, &count);
	int rows = v->h - 1;
	if (h->top > n - rows)
		h->top = n - rows;
	if (h->top < 0)
		h->top = 0;
	tui_fill(w, 0, 0, v->w, COL_TITLE);
	tui_put(w, 0, 0, v->w, COL_TITLE, "qdb keys (q or Esc closes, j/k scroll)");
	struct emit e = {w, 1, h->top, rows, v->w, 0};
	help_lines(v, &e);
}

static int help_request(struct view *v, enum tui_request req)
{
	struct help *h = v->priv;
	int page = v->h > 3 ? v->h - 2 : 1;

	switch (req) {
	case REQ_MOVE_DOWN:
		h->top++;
		break;
	case REQ_MOVE_UP:
		if (h->top > 0)
			h->top--;
		break;
	case REQ_PAGE_DOWN:
		h->top += page;
		break;
	case REQ_PAGE_UP:
		h->top = h->top > page ? h->top - page : 0;
		break;
	case REQ_MOVE_FIRST:
		h->top = 0;
		break;
	case REQ_MOVE_LAST:
		h->top = 1 << 20;
		break;
	case REQ_HELP:
	case REQ_CLOSE:
	case REQ_QUIT:
		v->t->overlay = NULL;
		return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
	default:
		/* Everything else is swallowed: the help is modal. */
		return TUI_HANDLED;
	}
	return TUI_HANDLED | TUI_REDRAW;
}

static int help_mouse(struct view *v, int y, int x, mmask_t b)
{
	(void)y, (void)x;
	if (b & BUTTON4_PRESSED)
		return help_request(v, REQ_MOVE_UP);
	if (b & BUTTON5_PRESSED)
		return help_request(v, REQ_MOVE_DOWN);
	return 0;
}

const struct view_ops tui_help_ops = {
	"help", help_open, help_draw, help_request, help_mouse, help_done,
};
