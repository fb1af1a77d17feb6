/* module.c - luaopen_qdb, the package path, and helpers every binding uses. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "base/alloc.h"
#include "cli/filekind.h"
#include "io/trace.h"
#include "lua/lmodel.h"
#include "lua/lqdb.h"
#include "lua/qdb_lua.h"

/* Registry key (its address) of the interrupt flag pointer. */
static const char interrupt_key = 'i';

static int class_index(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TSTRING) {
		lua_pushvalue(L, 2);
		if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
			return 1;
		lua_pop(L, 1);
	}
	lua_CFunction getter = lua_tocfunction(L, lua_upvalueindex(2));
	if (getter) {
		lua_settop(L, 2);
		return getter(L);
	}
	return 0;
}

void qdb_lua_class(lua_State *L, const char *name, const luaL_Reg *meta,
		   const luaL_Reg *methods, lua_CFunction getter,
		   const char *const *props)
{
	luaL_newmetatable(L, name);
	luaL_setfuncs(L, meta, 0);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "__methods");
	if (getter)
		lua_pushcfunction(L, getter);
	else
		lua_pushnil(L);
	lua_pushcclosure(L, class_index, 2);
	lua_setfield(L, -2, "__index");
	lua_newtable(L);
	for (int i = 0; props && props[i]; i++) {
		lua_pushstring(L, props[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "__props");
	lua_pop(L, 1);
}

void qdb_lua_add_methods(lua_State *L, const char *name, const luaL_Reg *methods)
{
	luaL_getmetatable(L, name);
	lua_getfield(L, -1, "__methods");
	luaL_setfuncs(L, methods, 0);
	lua_pop(L, 2);
}

int qdb_lua_fail(lua_State *L, const struct qdb_err *err)
{
	luaL_pushfail(L);
	lua_pushstring(L, err->msg[0] ? err->msg : qdb_status_name(err->code));
	return 2;
}

int qdb_lua_failf(lua_State *L, const char *fmt, ...)
{
	va_list ap;
	luaL_pushfail(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return 2;
}

int qdb_lua_raise(lua_State *L, const struct qdb_err *err)
{
	return luaL_error(L, "%s", err->msg[0] ? err->msg : qdb_status_name(err->code));
}

static int scratch_gc(lua_State *L)
{
	void **p = lua_touserdata(L, 1);
	qdb_free(*p);
	*p = NULL;
	return 0;
}

void *qdb_lua_scratch(lua_State *L, size_t count, size_t size)
{
	size_t n;
	if (qdb_mul_size(count, size, &n))
		luaL_error(L, "qdb: scratch size overflow");
	void **p = lua_newuserdatauv(L, sizeof *p, 0);
	*p = NULL;
	if (luaL_newmetatable(L, "qdb.scratch")) {
		lua_pushcfunction(L, scratch_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	*p = qdb_malloc(n ? n : 1);
	if (!*p)
		luaL_error(L, "qdb: out of memory (%zu bytes)", n);
	return *p;
}

void qdb_lua_set_num(lua_State *L, const char *k, double v)
{
	lua_pushnumber(L, v);
	lua_setfield(L, -2, k);
}

void qdb_lua_set_int(lua_State *L, const char *k, int64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, k);
}

void qdb_lua_set_str(lua_State *L, const char *k, const char *v)
{
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

lua_Integer qdb_lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def)
{
	if (!lua_istable(L, idx))
		return def;
	lua_getfield(L, idx, key);
	lua_Integer v = def;
	if (!lua_isnil(L, -1)) {
		int isnum;
		v = lua_tointegerx(L, -1, &isnum);
		if (!isnum)
			luaL_error(L, "option '%s': integer expected, got %s", key, luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	return v;
}

lua_Number qdb_lua_opt_num(lua_State *L, int idx, const char *key, lua_Number def)
{
	if (!lua_istable(L, idx))
		return def;
	lua_getfield(L, idx, key);
	lua_Number v = def;
	if (!lua_isnil(L, -1)) {
		int isnum;
		v = lua_tonumberx(L, -1, &isnum);
		if (!isnum)
			luaL_error(L, "option '%s': number expected, got %s", key, luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	return v;
}

/* The returned string stays valid: it is a value inside the options table,
 * which is on the caller's stack. */
const char *qdb_lua_opt_str(lua_State *L, int idx, const char *key, const char *def)
{
	if (!lua_istable(L, idx))
		return def;
	lua_getfield(L, idx, key);
	const char *v = def;
	if (!lua_isnil(L, -1)) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "option '%s': string expected, got %s", key, luaL_typename(L, -1));
		v = lua_tostring(L, -1);
	}
	lua_pop(L, 1);
	return v;
}

int qdb_lua_opt_bool(lua_State *L, int idx, const char *key, int def)
{
	if (!lua_istable(L, idx))
		return def;
	lua_getfield(L, idx, key);
	int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

void qdb_lua_check_opts(lua_State *L, int idx, const char *const *allowed)
{
	if (!lua_istable(L, idx))
		return;
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING) {
			luaL_error(L, "options: unexpected %s key", luaL_typename(L, -1));
		}
		const char *k = lua_tostring(L, -1);
		int found = 0;
		for (int i = 0; allowed[i]; i++)
			if (!strcmp(k, allowed[i]))
				found = 1;
		if (!found) {
			luaL_Buffer b;
			luaL_buffinit(L, &b);
			for (int i = 0; allowed[i]; i++) {
				luaL_addstring(&b, i ? ", " : "");
				luaL_addstring(&b, allowed[i]);
			}
			luaL_pushresult(&b);
			luaL_error(L, "unknown option '%s' (known: %s)", k, lua_tostring(L, -1));
		}
	}
}

void qdb_lua_set_interrupt(lua_State *L, struct qdb_lua_interrupt *intr)
{
	lua_pushlightuserdata(L, intr);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &interrupt_key);
}

static struct qdb_lua_interrupt *interrupt_get(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &interrupt_key);
	struct qdb_lua_interrupt *intr = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return intr;
}

int qdb_lua_interrupted(lua_State *L)
{
	struct qdb_lua_interrupt *intr = interrupt_get(L);
	if (!intr)
		return 0;
	if (!intr->flag && intr->poll && intr->poll(intr->user))
		intr->flag = 1;
	return intr->flag != 0;
}

void qdb_lua_check_interrupt(lua_State *L)
{
	if (qdb_lua_interrupted(L)) {
		interrupt_get(L)->flag = 0;
		luaL_error(L, "interrupted");
	}
}

void qdb_lua_push_sample_id(lua_State *L, const struct qdb_sample_id *id)
{
	if (id->is_str)
		lua_pushstring(L, id->str);
	else
		lua_pushinteger(L, id->num);
}

void qdb_lua_check_sample_id(lua_State *L, int idx, struct qdb_sample_id *id)
{
	memset(id, 0, sizeof *id);
	if (lua_type(L, idx) == LUA_TNUMBER) {
		int isint;
		id->num = lua_tointegerx(L, idx, &isint);
		if (!isint)
			luaL_argerror(L, idx, "sample id must be an integer or a string");
	} else if (lua_type(L, idx) == LUA_TSTRING) {
		id->is_str = 1;
		id->str = (char *)lua_tostring(L, idx);
	} else {
		luaL_typeerror(L, idx, "sample id (integer or string)");
	}
}

/* qdb.load(path) -> Model | Trace | Dataset | Tensor, by content. */
static int l_load(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_settop(L, 1);
	enum qdb_file_kind kind;
	struct qdb_err err;
	if (qdb_file_kind(path, &kind, &err))
		return qdb_lua_fail(L, &err);
	switch (kind) {
	case QDB_KIND_TRACE:
		return qdb_lua_trace_open(L);
	case QDB_KIND_DATASET:
		return qdb_lua_dataset_open(L);
	case QDB_KIND_GRAPH:
		return qdb_lua_model_open(L);
	case QDB_KIND_NPY:
		return qdb_lua_npy_open(L);
	}
	return qdb_lua_failf(L, "%s: unknown file kind", path);
}

/* qdb.type(v) -> "Tensor", "Model", ... or nil for other values. */
static int l_type(lua_State *L)
{
	luaL_checkany(L, 1);
	if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING) {
		const char *n = lua_tostring(L, -1);
		if (!strncmp(n, "qdb.", 4)) {
			lua_pushstring(L, n + 4);
			return 1;
		}
	}
	return 0;
}

/* qdb.sweep, qdb.report, ...: the Lua library (lua/qdb/NAME.lua) loads on
 * first use, so scripts need no require for it. */
static int module_index(lua_State *L)
{
	const char *key = luaL_checkstring(L, 2);
	if (!strchr(key, '.') && !strchr(key, '/')) {
		lua_getglobal(L, "package");
		if (lua_istable(L, -1)) {
			lua_getfield(L, -1, "searchpath");
			lua_pushfstring(L, "qdb.%s", key);
			lua_getfield(L, -3, "path");
			if (lua_isfunction(L, -3) && lua_isstring(L, -1)) {
				lua_call(L, 2, 1);
				if (lua_isstring(L, -1)) {
					lua_getglobal(L, "require");
					lua_pushfstring(L, "qdb.%s", key);
					lua_call(L, 1, 1);
					lua_pushvalue(L, 2);
					lua_pushvalue(L, -2);
					lua_rawset(L, 1);
					return 1;
				}
			}
		}
		/* the shipped library missing is an installation problem: say so */
		static const char *const shipped[] = {"report", "sweep", "badcase", "svg",
						      "triage", NULL};
		for (int i = 0; shipped[i]; i++)
			if (!strcmp(key, shipped[i]))
				return luaL_error(L, "qdb.%s: lua/qdb/%s.lua not found (installed "
						  "under %s; or set QDB_LUA_PATH to a lua/ directory)",
						  key, key, QDB_DATADIR "/lua");
	}
	return 0;
}

int luaopen_qdb(lua_State *L)
{
	lua_newtable(L);
	static const luaL_Reg funcs[] = {
		{"load", l_load},
		{"type", l_type},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
	qdb_lua_tensor_register(L);
	qdb_lua_model_register(L);
	qdb_lua_trace_register(L);
	qdb_lua_dataset_register(L);
	qdb_lua_run_register(L);
	qdb_lua_compare_register(L);
	qdb_lua_advisor_register(L); /* advisor.c: check, check_rules, bootstrap */
	qdb_lua_sensitivity_register(L);
	lua_pushstring(L, PACKAGE_VERSION);
	lua_setfield(L, -2, "version");
	lua_newtable(L);
	lua_pushcfunction(L, module_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	return 1;
}

/* Adds "DIR/?.lua;DIR/?/init.lua;" for one directory to the buffer. */
static void add_dir(luaL_Buffer *b, const char *dir, size_t len)
{
	if (!len)
		return;
	for (int k = 0; k < 2; k++) {
		luaL_addlstring(b, dir, len);
		luaL_addstring(b, k ? "/?/init.lua;" : "/?.lua;");
	}
}

void qdb_lua_openlibs(lua_State *L)
{
	luaL_openlibs(L);
	luaL_requiref(L, "qdb", luaopen_qdb, 1);
	lua_pop(L, 1);

	lua_getglobal(L, "package");
	lua_getfield(L, -1, "path");
	const char *deflt = lua_tostring(L, -1);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	const char *env = getenv("QDB_LUA_PATH");
	while (env && *env) {
		const char *end = strchr(env, ';');
		size_t len = end ? (size_t)(end - env) : strlen(env);
		add_dir(&b, env, len);
		env += len + (end ? 1 : 0);
	}
	add_dir(&b, "./lua", 5);
	add_dir(&b, QDB_DATADIR "/lua", strlen(QDB_DATADIR "/lua"));
	luaL_addstring(&b, deflt ? deflt : "");
	luaL_pushresult(&b);
	lua_setfield(L, -3, "path");
	lua_pop(L, 2);
}
