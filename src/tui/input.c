/* input.c - the one door every keystroke goes through, the keymap and the
 * key names. The keymap starts from the request list's default keys (tui.h)
 * and Lua's tui.bind adds to it; the help view reads the same keymap. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tui/tui.h"

/* Key names: X(name, code). Characters name themselves; C-a..C-z are
 * computed. */
#define TUI_KEY_NAMES(X) \
	X("Up", KEY_UP) X("Down", KEY_DOWN) X("Left", KEY_LEFT) X("Right", KEY_RIGHT) \
	X("PgUp", KEY_PPAGE) X("PgDn", KEY_NPAGE) X("Home", KEY_HOME) X("End", KEY_END) \
	X("Enter", '\n') X("Tab", '\t') X("BackTab", KEY_BTAB) X("Esc", 27) \
	X("Space", ' ') X("Backspace", KEY_BACKSPACE) X("Delete", KEY_DC) \
	X("Insert", KEY_IC) X("F1", KEY_F(1)) X("F2", KEY_F(2)) X("F3", KEY_F(3)) \
	X("F4", KEY_F(4)) X("F5", KEY_F(5)) X("F6", KEY_F(6)) X("F7", KEY_F(7)) \
	X("F8", KEY_F(8)) X("F9", KEY_F(9)) X("F10", KEY_F(10)) X("F11", KEY_F(11)) \
	X("F12", KEY_F(12))

static const struct {
	const char *name;
	int code;
} key_names[] = {
#define TUI_X_(name, code) {name, code},
	TUI_KEY_NAMES(TUI_X_)
#undef TUI_X_
};

static const struct {
	const char *keys, *help, *group;
} req_info[REQ_COUNT] = {
	[REQ_NONE] = {"", "", ""},
#define TUI_G_(title) /* group titles are attached below */
#define TUI_X_(id, k, h) [REQ_##id] = {k, h, NULL},
	TUI_REQUESTS(TUI_G_, TUI_X_)
#undef TUI_G_
#undef TUI_X_
};

/* The group of each request: walk the same list once more, remembering the
 * last group title seen. */
static const char *req_group[REQ_COUNT];
static void init_groups(void)
{
	const char *g = "";
#define TUI_G_(title) g = title;
#define TUI_X_(id, k, h) req_group[REQ_##id] = g;
	TUI_REQUESTS(TUI_G_, TUI_X_)
#undef TUI_G_
#undef TUI_X_
	(void)g;
}

const char *tui_request_help(enum tui_request req)
{
	return (unsigned)req < REQ_COUNT ? req_info[req].help : "";
}

const char *tui_request_group(enum tui_request req)
{
	return (unsigned)req < REQ_COUNT && req_group[req] ? req_group[req] : "";
}

int tui_key_parse(const char *name)
{
	for (size_t i = 0; i < sizeof key_names / sizeof *key_names; i++)
		if (!strcmp(name, key_names[i].name))
			return key_names[i].code;
	if ((name[0] == 'C' || name[0] == 'c') && name[1] == '-' && name[2] && !name[3]) {
		int c = name[2] | 0x20;
		if (c >= 'a' && c <= 'z')
			return c - 'a' + 1;
	}
	/* One character (UTF-8 decoded). */
	const unsigned char *s = (const unsigned char *)name;
	if (s[0] && !s[1])
		return s[0] >= 0x80 ? -1 : s[0];
	int cp = -1, n = 0;
	if ((s[0] & 0xe0) == 0xc0)
		cp = s[0] & 0x1f, n = 1;
	else if ((s[0] & 0xf0) == 0xe0)
		cp = s[0] & 0x0f, n = 2;
	else if ((s[0] & 0xf8) == 0xf0)
		cp = s[0] & 0x07, n = 3;
	else
		return -1;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (s[n + 1])
		return -1;
	return TUI_CHAR(cp);
}

const char *tui_key_name(int key, char *dst, size_t n)
{
	for (size_t i = 0; i < sizeof key_names / sizeof *key_names; i++)
		if (key == key_names[i].code) {
			snprintf(dst, n, "%s", key_names[i].name);
			return dst;
		}
	if (key >= 1 && key <= 26) {
		snprintf(dst, n, "C-%c", 'a' + key - 1);
		return dst;
	}
	if (TUI_IS_CHAR(key)) {
		int cp = TUI_CODEPOINT(key);
		char u[8] = {0};
		if (cp < 0x80)
			u[0] = (char)cp;
		else if (cp < 0x800)
			u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f));
		else if (cp < 0x10000)
			u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
			u[2] = (char)(0x80 | (cp & 0x3f));
		else
			u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
			u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f));
		snprintf(dst, n, "%s", u);
		return dst;
	}
	snprintf(dst, n, "key%d", key);
	return dst;
}

static int add_binding(struct tui *t, int key, enum tui_request req, int lua_ref)
{
	for (int i = 0; i < t->n_keys; i++)
		if (t->keys[i].key == key) {
			t->keys[i].req = req;
			t->keys[i].lua_ref = lua_ref;
			return 0;
		}
	if (t->n_keys == t->cap_keys) {
		int cap = t->cap_keys ? 2 * t->cap_keys : 64;
		struct tui_binding *k = qdb_realloc(t->keys, (size_t)cap * sizeof *k);
		if (!k)
			return -1;
		t->keys = k;
		t->cap_keys = cap;
	}
	t->keys[t->n_keys++] = (struct tui_binding){key, req, lua_ref};
	return 0;
}

int tui_keymap_init(struct tui *t)
{
	init_groups();
	for (int r = 1; r < REQ_COUNT; r++) {
		char buf[64];
		snprintf(buf, sizeof buf, "%s", req_info[r].keys);
		for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
			int key = tui_key_parse(tok);
			if (key < 0) {
				/* A typo in the request list: caught by the tests. */
				fprintf(stderr, "qdb: bad default key '%s'\n", tok);
				abort();
			}
			if (add_binding(t, key, (enum tui_request)r, -1))
				return -1;
		}
	}
	return 0;
}

void tui_keymap_done(struct tui *t)
{
	qdb_free(t->keys);
	t->keys = NULL;
	t->n_keys = t->cap_keys = 0;
}

enum tui_request tui_keymap_lookup(const struct tui *t, int key, int *lua_ref)
{
	*lua_ref = -1;
	for (int i = 0; i < t->n_keys; i++)
		if (t->keys[i].key == key) {
			*lua_ref = t->keys[i].lua_ref;
			return t->keys[i].req;
		}
	return REQ_NONE;
}

int tui_bind_lua(struct tui *t, int key, int lua_ref)
{
	return add_binding(t, key, REQ_NONE, lua_ref);
}

const char *tui_request_keys(const struct tui *t, enum tui_request req, char *dst, size_t n)
{
	size_t len = 0;
	dst[0] = 0;
	for (int i = 0; i < t->n_keys; i++) {
		char name[16];
		if (t->keys[i].req != req || t->keys[i].lua_ref >= 0)
			continue;
		tui_key_name(t->keys[i].key, name, sizeof name);
		int k = snprintf(dst + len, n - len, "%s%s", len ? " " : "", name);
		if (k < 0 || (size_t)k >= n - len)
			break;
		len += (size_t)k;
	}
	return dst;
}

/* ---- prompts (status line) ----------------------------------------------- */

static int prompt_key(struct tui *t, int key)
{
	if (t->prompt_yesno) {
		int c = TUI_IS_CHAR(key) ? TUI_CODEPOINT(key) : 0;
		tui_answer_fn fn = t->on_answer;
		if (c == 'y' || c == 'Y' || c == 'n' || c == 'N' || key == 27 || key == 7) {
			t->prompt_yesno = 0;
			t->prompt = NULL;
			t->on_answer = NULL;
			t->focus = FOCUS_LIST;
			t->status[0] = 0;
			fn(t, (c == 'y' || c == 'Y') ? "y" : NULL);
		}
		return TUI_HANDLED | TUI_REDRAW;
	}
	if (key == 27 || key == 7 /* C-g */) {
		tui_answer_fn fn = t->on_answer;
		tui_rl_end();
		t->prompt = NULL;
		t->on_answer = NULL;
		t->focus = FOCUS_LIST;
		fn(t, NULL);
		return TUI_HANDLED | TUI_REDRAW;
	}
	tui_rl_feed(key);
	return TUI_HANDLED | TUI_REDRAW;
}

/* ---- mouse ---------------------------------------------------------------- */

static int in_view(const struct view *v, int y, int x)
{
	return v->win && y >= v->y && y < v->y + v->h && x >= v->x && x < v->x + v->w;
}

static int mouse_event(struct tui *t)
{
	MEVENT ev;
	if (getmouse(&ev) != OK)
		return TUI_HANDLED;
	t->status[0] = 0;
	struct view *order[] = {t->overlay, &t->console, &t->layers, &t->detail};
	for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
		struct view *v = order[i];
		if (!v || !in_view(v, ev.y, ev.x))
			continue;
		if (v == &t->console) {
			if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_RELEASED)) {
				tui_console_focus(t, 1);
				return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
			}
		}
		if (v->ops->mouse)
			return v->ops->mouse(v, ev.y - v->y, ev.x - v->x, ev.bstate) | TUI_HANDLED;
		return TUI_HANDLED;
	}
	return TUI_HANDLED;
}

/* ---- the door --------------------------------------------------------------- */

int tui_input(struct tui *t, int key)
{
	if (key == KEY_RESIZE)
		return TUI_HANDLED | TUI_LAYOUT | TUI_REDRAW;
	if (key == '\r' || key == KEY_ENTER)
		key = '\n';
	if (t->focus == FOCUS_PROMPT)
		return prompt_key(t, key);
	if (t->focus == FOCUS_CONSOLE) {
		if (key == KEY_MOUSE) {
			MEVENT ev;
			/* A click outside the console gives the focus back. */
			if (getmouse(&ev) == OK && !in_view(&t->console, ev.y, ev.x) &&
			    (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED))) {
				tui_console_focus(t, 0);
				return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
			}
			return TUI_HANDLED;
		}
		return tui_console_key(t, key);
	}
	if (key == KEY_MOUSE)
		return mouse_event(t);

	int lua_ref;
	enum tui_request req = tui_keymap_lookup(t, key, &lua_ref);
	if (lua_ref >= 0) {
		tui_lua_call_ref(t, lua_ref);
		return TUI_HANDLED | TUI_REDRAW;
	}
	if (req != REQ_NONE)
		return tui_request(t, req);
	char name[16];
	tui_message(t, "%s is not bound (? lists the keys)", tui_key_name(key, name, sizeof name));
	return TUI_HANDLED | TUI_REDRAW;
}
