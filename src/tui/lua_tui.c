/* lua_tui.c - the console's Lua state (the REPL core of src/lua/repl.h with
 * the whole `qdb` module) and the `tui` table that lets scripts drive the
 * debugger:
 *
 *   tui.selected()            the selected layer as a table (name, op, device,
 *                             sample, metrics of the current sample, ...)
 *   tui.row(i), tui.rows()    the same for row i (1-based); the row count
 *   tui.goto(name | i)        select a layer; true, or nil and a message
 *                             (`goto` is a Lua keyword: call it as
 *                             tui["goto"](x), or use the alias tui.go(x))
 *   tui.sample([i | id])      select a sample; returns its id and position
 *   tui.add_column(title, fn) a list column showing fn(row) for every row
 *   tui.bind(key, fn)         run fn(tui.selected()) on a key ("x", "C-x", "F5")
 *   tui.message(text)         status line message
 *   tui.refresh()             recompute Lua columns and redraw now
 *
 * print() and results go to the console pane; an error shows its traceback
 * there and the TUI keeps running. Ctrl-C (SIGINT) or Esc stops running
 * Lua code.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <readline/readline.h>

#include "base/alloc.h"
#include "graph/graph.h"
#include "lua/qdb_lua.h"
#include "lua/repl.h"
#include "tui/tui.h"

static struct qdb_repl *g_repl;
static volatile sig_atomic_t g_sigint;
static struct qdb_buf_line {
	char buf[4096];
	size_t n;
	int err;
} g_out;

static struct tui *tui_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* ---- output: the REPL writes pieces; the console wants lines ---------- */

static void flush_out(struct tui *t)
{
	if (!g_out.n)
		return;
	g_out.buf[g_out.n] = 0;
	tui_console_print(t, g_out.err ? COL_ERROR : COL_DEFAULT, g_out.buf);
	g_out.n = 0;
}

static void repl_write(void *user, const char *s, size_t n, int err)
{
	struct tui *t = user;
	if (err != g_out.err)
		flush_out(t);
	g_out.err = err;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' || g_out.n == sizeof g_out.buf - 1) {
			g_out.buf[g_out.n] = 0;
			tui_console_print(t, err ? COL_ERROR : COL_DEFAULT, g_out.n ? g_out.buf : " ");
			g_out.n = 0;
			if (s[i] == '\n')
				continue;
		}
		g_out.buf[g_out.n++] = s[i];
	}
}

/* Polled while Lua runs: Esc or Ctrl-C stops it. */
static double g_started; /* when the running Lua code started */

/* Polled while Lua runs: shows for how long, and Esc or Ctrl-C stops it. */
static int repl_poll(void *user)
{
	struct tui *t = user;
	if (g_sigint) {
		g_sigint = 0;
		return 1;
	}
	return tui_busy(t, "running Lua", g_started);
}

static void on_sigint(int sig)
{
	(void)sig;
	g_sigint = 1;
	if (g_repl)
		qdb_repl_interrupt(g_repl);
}

/* ---- calling Lua functions of ours (bindings, columns) ----------------- */

static int msgh(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static struct tui *g_tui_for_hook;

static void stop_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	if (repl_poll(g_tui_for_hook))
		luaL_error(L, "interrupted!");
}

/* Calls the function under narg args with a traceback; 0 or a Lua status
 * with the message written to the console (when `report`). */
static int pcall_tb(struct tui *t, int narg, int nres, int report)
{
	lua_State *L = t->L;
	int base = lua_gettop(L) - narg;
	lua_pushcfunction(L, msgh);
	lua_insert(L, base);
	g_sigint = 0;
	g_started = tui_now_ms();
	g_tui_for_hook = t;
	lua_sethook(L, stop_hook, LUA_MASKCOUNT, 10000);
	int st = lua_pcall(L, narg, nres, base);
	lua_sethook(L, NULL, 0, 0);
	lua_remove(L, base);
	if (st != LUA_OK) {
		flush_out(t);
		if (report)
			tui_console_print(t, COL_ERROR,
					  lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
		lua_pop(L, 1);
	}
	flush_out(t);
	return st;
}

/* ---- row tables ------------------------------------------------------- */

static void push_row(lua_State *L, struct tui *t, int row)
{
	const struct qdb_compare_cell *c = tui_cell(t, t->sample, row);

	lua_createtable(L, 0, 20);
	qdb_lua_set_row_fields(L, t->s, row);
	lua_pushstring(L, qdb_session_sample_name(t->s, t->sample));
	lua_setfield(L, -2, "sample");
	lua_pushinteger(L, t->sample + 1);
	lua_setfield(L, -2, "sample_index");
	static const char *const states[] = {"empty", "ok", "missing", "numel", "error"};
	lua_pushstring(L, c && c->state < 5 ? states[c->state] : "error");
	lua_setfield(L, -2, "state");
	lua_pushboolean(L, c && qdb_session_divergent(t->s, c, NULL));
	lua_setfield(L, -2, "divergent");
	if (c && c->state == QDB_CELL_OK)
		for (int k = 0; k < QDB_M_COUNT; k++) {
			if (!qdb_compare_metric_applies(c->flags, &c->m, k))
				continue;
			if (k == QDB_M_TOP1)
				lua_pushboolean(L, c->m.top1 == 1);
			else
				lua_pushnumber(L, qdb_metric_value(&c->m, k));
			lua_setfield(L, -2, qdb_metric_name(k));
		}
}

/* ---- the tui table ---------------------------------------------------- */

static int l_selected(lua_State *L)
{
	struct tui *t = tui_of(L);
	if (t->row < 0)
		return 0;
	push_row(L, t, t->row);
	return 1;
}

static int l_rows(lua_State *L)
{
	lua_pushinteger(L, qdb_session_n_rows(tui_of(L)->s));
	return 1;
}

static int l_row(lua_State *L)
{
	struct tui *t = tui_of(L);
	lua_Integer i = luaL_checkinteger(L, 1);
	if (i < 1 || i > qdb_session_n_rows(t->s))
		return luaL_error(L, "tui.row: no row %d (1..%d)", (int)i, qdb_session_n_rows(t->s));
	push_row(L, t, (int)i - 1);
	return 1;
}

static int l_goto(lua_State *L)
{
	struct tui *t = tui_of(L);
	int row;
	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_Integer i = luaL_checkinteger(L, 1);
		row = i >= 1 && i <= qdb_session_n_rows(t->s) ? (int)i - 1 : -1;
	} else {
		row = qdb_session_find_row(t->s, luaL_checkstring(L, 1));
	}
	if (row < 0) {
		const char *what = luaL_tolstring(L, 1, NULL);
		lua_pushnil(L);
		lua_pushfstring(L, "no layer %s", what);
		return 2;
	}
	tui_select_row(t, row);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_sample(lua_State *L)
{
	struct tui *t = tui_of(L);
	if (!lua_isnoneornil(L, 1)) {
		int s;
		if (lua_type(L, 1) == LUA_TNUMBER) {
			lua_Integer i = luaL_checkinteger(L, 1);
			s = i >= 1 && i <= qdb_session_n_samples(t->s) ? (int)i - 1 : -1;
		} else {
			s = qdb_session_find_sample(t->s, luaL_checkstring(L, 1));
		}
		if (s < 0) {
			const char *what = luaL_tolstring(L, 1, NULL);
			lua_pushnil(L);
			lua_pushfstring(L, "no sample %s", what);
			return 2;
		}
		tui_select_sample(t, s);
	}
	lua_pushstring(L, qdb_session_sample_name(t->s, t->sample));
	lua_pushinteger(L, t->sample + 1);
	return 2;
}

static int l_add_column(lua_State *L)
{
	struct tui *t = tui_of(L);
	const char *title = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	if (t->n_columns >= TUI_MAX_COLUMNS)
		return luaL_error(L, "tui.add_column: at most %d columns", TUI_MAX_COLUMNS);
	struct tui_column *c = &t->columns[t->n_columns];
	memset(c, 0, sizeof *c);
	snprintf(c->title, sizeof c->title, "%s", title);
	lua_pushvalue(L, 2);
	c->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	c->cache_sample = -1;
	t->n_columns++;
	lua_pushinteger(L, t->n_columns);
	return 1;
}

static int l_bind(lua_State *L)
{
	struct tui *t = tui_of(L);
	const char *name = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	int key = tui_key_parse(name);
	if (key < 0)
		return luaL_error(L, "tui.bind: unknown key name '%s' (e.g. \"x\", \"C-x\", \"F5\")", name);
	/* Release a previous Lua binding of the same key. */
	int old;
	tui_keymap_lookup(t, key, &old);
	if (old >= 0)
		luaL_unref(L, LUA_REGISTRYINDEX, old);
	lua_pushvalue(L, 2);
	int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (tui_bind_lua(t, key, ref))
		return luaL_error(L, "tui.bind: out of memory");
	return 0;
}

static int l_message(lua_State *L)
{
	struct tui *t = tui_of(L);
	tui_message(t, "%s", luaL_tolstring(L, 1, NULL));
	return 0;
}

static void columns_invalidate(struct tui *t)
{
	for (int i = 0; i < t->n_columns; i++)
		t->columns[i].cache_sample = -1;
}

static int l_refresh(lua_State *L)
{
	struct tui *t = tui_of(L);
	columns_invalidate(t);
	tui_redraw(t);
	return 0;
}

static const luaL_Reg tui_funcs[] = {
	/* `goto` is a Lua keyword: tui["goto"](x) as the name, tui.go(x) for short */
	{"selected", l_selected}, {"row", l_row}, {"rows", l_rows}, {"goto", l_goto}, {"go", l_goto},
	{"sample", l_sample}, {"add_column", l_add_column}, {"bind", l_bind},
	{"message", l_message}, {"refresh", l_refresh}, {NULL, NULL},
};

/* ---- completion --------------------------------------------------------- */

static char **completion(const char *text, int start, int end)
{
	(void)start;
	return qdb_repl_rl_complete(g_repl, text, end);
}

/* ---- life cycle ------------------------------------------------------- */

int tui_lua_init(struct tui *t)
{
	struct qdb_repl_io io = {repl_write, repl_poll, t};
	struct sigaction sa;

	g_repl = qdb_repl_new(&io);
	if (!g_repl)
		return -1;
	t->L = qdb_repl_state(g_repl);
	lua_State *L = t->L;
	luaL_newlibtable(L, tui_funcs);
	lua_pushlightuserdata(L, t);
	luaL_setfuncs(L, tui_funcs, 1);
	lua_setglobal(L, "tui");
	tui_rl_set_completion(completion);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	return 0;
}

void tui_lua_done(struct tui *t)
{
	for (int i = 0; i < t->n_columns; i++) {
		struct tui_column *c = &t->columns[i];
		if (c->cache)
			for (int r = 0; r < qdb_session_n_rows(t->s); r++)
				qdb_free(c->cache[r]);
		qdb_free(c->cache);
		c->cache = NULL;
	}
	t->n_columns = 0;
	signal(SIGINT, SIG_DFL);
	if (g_repl)
		qdb_repl_delete(g_repl);
	g_repl = NULL;
	t->L = NULL;
}

int tui_lua_line(struct tui *t, const char *line)
{
	if (!g_repl) {
		tui_console_print(t, COL_ERROR, "Lua is not available");
		return 0;
	}
	g_sigint = 0;
	g_started = tui_now_ms();
	enum qdb_repl_status st = qdb_repl_feed(g_repl, line);
	flush_out(t);
	if (st != QDB_REPL_INCOMPLETE)
		tui_rl_history_add(qdb_repl_chunk(g_repl));
	return st == QDB_REPL_INCOMPLETE;
}

void tui_lua_reset_chunk(struct tui *t)
{
	(void)t;
	if (g_repl)
		qdb_repl_reset(g_repl);
}

int tui_lua_script(struct tui *t, const char *path)
{
	lua_State *L = t->L;
	if (!L)
		return -1;
	if (luaL_loadfile(L, path) != LUA_OK) {
		tui_console_print(t, COL_ERROR, lua_tostring(L, -1));
		tui_error(t, "script %s failed to load (see the console)", path);
		lua_pop(L, 1);
		return -1;
	}
	tui_console_printf(t, COL_DIM, "running %s", path);
	if (pcall_tb(t, 0, 0, 1) != LUA_OK) {
		tui_error(t, "script %s failed (traceback in the console)", path);
		return -1;
	}
	return 0;
}

void tui_lua_call_ref(struct tui *t, int ref)
{
	lua_State *L = t->L;
	if (!L)
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	if (t->row >= 0)
		push_row(L, t, t->row);
	else
		lua_pushnil(L);
	if (pcall_tb(t, 1, 0, 1) != LUA_OK)
		tui_error(t, "Lua binding failed (traceback in the console)");
	columns_invalidate(t);
}

const char *tui_lua_column(struct tui *t, int ci, int row)
{
	struct tui_column *c = &t->columns[ci];
	lua_State *L = t->L;
	int n = qdb_session_n_rows(t->s);

	if (!L || row < 0 || row >= n)
		return "";
	if (c->cache_sample != t->sample || c->cache_gen != t->gen || !c->cache) {
		if (c->cache)
			for (int r = 0; r < n; r++) {
				qdb_free(c->cache[r]);
				c->cache[r] = NULL;
			}
		else
			c->cache = qdb_calloc((size_t)n, sizeof *c->cache);
		if (!c->cache)
			return "";
		c->cache_sample = t->sample;
		c->cache_gen = t->gen;
		c->err_shown = 0;
	}
	if (c->cache[row])
		return c->cache[row];
	/* A column function that makes the list draw again (tui.refresh,
	 * tui.sample) must not recompute columns under itself. */
	static int computing;
	if (computing)
		return "";
	computing = 1;
	char buf[64] = "";
	int top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn_ref);
	push_row(L, t, row);
	/* Report the first failure of a column per refresh, not one per row. */
	if (pcall_tb(t, 1, 1, !c->err_shown) == LUA_OK) {
		if (lua_type(L, -1) == LUA_TNUMBER)
			snprintf(buf, sizeof buf, "%.4g", lua_tonumber(L, -1));
		else if (!lua_isnil(L, -1))
			snprintf(buf, sizeof buf, "%s", luaL_tolstring(L, -1, NULL));
	} else {
		if (!c->err_shown)
			tui_error(t, "column '%s' failed (traceback in the console)", c->title);
		c->err_shown = 1;
		snprintf(buf, sizeof buf, "err");
	}
	lua_settop(L, top);
	computing = 0;
	/* The function may have moved to another sample: cache only if the
	 * cache still belongs to this one. */
	if (c->cache_sample != t->sample || c->cache_gen != t->gen)
		return "";
	qdb_free(c->cache[row]);
	c->cache[row] = qdb_strdup(buf);
	return c->cache[row] ? c->cache[row] : "";
}
