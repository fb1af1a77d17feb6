/* qdb_lua.h - the `qdb` Lua module: bindings of the core to Lua 5.4.
 *
 * luaopen_qdb pushes the module table (it is also what `require "qdb"`
 * returns once qdb_lua_openlibs registered it in package.preload). Every C
 * object reaches Lua as full userdata with one metatable per type (Tensor,
 * Model, Trace, Dataset, Run, Comparison, and the writers); the garbage
 * collector (or a to-be-closed variable) frees it. A view (a Tensor read
 * from a Trace, a Run or a Model's constant) holds a reference to its parent
 * in a user value, so the parent cannot be collected first. Misuse raises a
 * Lua error; an expected failure (a file that does not load) returns
 * nil, message. man/qdb-lua.7 documents the Lua side.
 *
 * Nothing here owns global state: several lua_States may coexist (the CLI,
 * the TUI console), each with its own module table.
 */
#ifndef QDB_LUA_H
#define QDB_LUA_H

#include <signal.h>

#include <lua.h>

/* Pushes the module table. */
int luaopen_qdb(lua_State *L);

/* Opens the standard libraries, registers `qdb` in package.preload and as
 * the global `qdb`, and sets package.path to search, in this order:
 * $QDB_LUA_PATH (a directory, or ;-separated directories), ./lua,
 * QDB_DATADIR/lua, then Lua's default path. */
void qdb_lua_openlibs(lua_State *L);

/* How long-running C functions of the module (runs over a dataset, sweeps,
 * sensitivity) learn that the user wants to stop: they check `flag` (set
 * by a signal handler, say) and call `poll` (may be NULL; the TUI reads
 * Esc there, returning non-zero to stop) between units of work. When
 * stopped they raise "interrupted" (the flag is reset). The REPL installs
 * its own; NULL disables the check. The struct must outlive L. */
struct qdb_lua_interrupt {
	volatile sig_atomic_t flag;
	int (*poll)(void *user);
	void *user;
};
void qdb_lua_set_interrupt(lua_State *L, struct qdb_lua_interrupt *intr);

/* Sets the fields every Lua view of a comparison row has (index (1-based),
 * name, name_b, op, device when known) in the table on top of the stack:
 * c:rows() and the TUI's tui.row() build on it, so the two agree. */
struct qdb_session;
void qdb_lua_set_row_fields(lua_State *L, const struct qdb_session *s, int row);

#endif
