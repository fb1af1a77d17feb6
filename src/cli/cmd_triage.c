/* cmd_triage.c - `qdb triage ...`: runs lua/qdb/triage.lua (the procedure is
 * written in Lua on the C engine so users can copy and adapt it) and, with
 * --open, starts the debugger on the comparison the script names.
 *
 * The script's main(argv, ui) gets the arguments after `triage` and
 * ui = {tty = stderr is a terminal (progress bars), width = its columns};
 * it returns the exit status and, for --open, the debugger's arguments.
 * Ctrl-C stops the running step (the qdb module's loops poll the REPL's
 * interrupt flag) and exits 3.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/table.h"
#include "lua/repl.h"

static int msgh(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = luaL_tolstring(L, 1, NULL);
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Copies the list of strings at idx into a new argv ("tui" first). */
static char **open_args(lua_State *L, int idx, int *n)
{
	int len = (int)lua_rawlen(L, idx);
	char **v = qdb_calloc((size_t)len + 2, sizeof *v);
	if (!v)
		return NULL;
	v[0] = qdb_strdup("tui");
	int ok = v[0] != NULL;
	for (int i = 0; i < len && ok; i++) {
		lua_rawgeti(L, idx, i + 1);
		const char *s = lua_tostring(L, -1);
		v[i + 1] = qdb_strdup(s ? s : "");
		ok = v[i + 1] != NULL;
		lua_pop(L, 1);
	}
	if (!ok) {
		qdb_strv_free(v);
		return NULL;
	}
	*n = len + 1;
	return v;
}

int qdb_cmd_triage(int argc, char **argv)
{
	struct qdb_repl *r = qdb_repl_new(NULL);
	if (!r) {
		fprintf(stderr, "qdb triage: out of memory\n");
		return QDB_EXIT_INTERNAL;
	}
	lua_State *L = qdb_repl_state(r);
	int status = QDB_EXIT_INTERNAL;
	char **tui_argv = NULL;
	int tui_argc = 0;

	struct sigaction old;
	qdb_repl_sigint_begin(r, &old);

	lua_pushcfunction(L, msgh);
	int h = lua_gettop(L);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "qdb.triage");
	if (lua_pcall(L, 1, 1, h) != LUA_OK) {
		fprintf(stderr, "qdb triage: cannot load the triage script (lua/qdb/triage.lua; "
				"QDB_LUA_PATH): %s\n", lua_tostring(L, -1));
		goto out;
	}
	lua_getfield(L, -1, "main");
	lua_createtable(L, argc > 1 ? argc - 1 : 0, 0);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_createtable(L, 0, 2);
	lua_pushboolean(L, isatty(STDERR_FILENO));
	lua_setfield(L, -2, "tty");
	lua_pushinteger(L, qdb_term_width(stderr));
	lua_setfield(L, -2, "width");
	if (lua_pcall(L, 2, 2, h) != LUA_OK) {
		fprintf(stderr, "qdb triage: %s\n", lua_tostring(L, -1));
		goto out;
	}
	int isint;
	lua_Integer st = lua_tointegerx(L, -2, &isint);
	status = isint && st >= 0 && st <= 255 ? (int)st : QDB_EXIT_INTERNAL;
	if (lua_istable(L, -1)) {
		tui_argv = open_args(L, lua_gettop(L), &tui_argc);
		if (!tui_argv)
			fprintf(stderr, "qdb triage: --open: out of memory\n");
	}
out:
	fflush(stdout);
	qdb_repl_sigint_end(&old);
	qdb_repl_delete(r);
	if (tui_argv) {
		int ts = qdb_cmd_tui(tui_argc, tui_argv);
		if (ts != QDB_EXIT_OK && status < ts)
			status = ts;
		qdb_strv_free(tui_argv);
	}
	return status;
}
