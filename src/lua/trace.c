/* trace.c - the Trace userdata (a .qtr file, mmapped) and TraceWriter.
 *
 * Tensors read from a trace are views into the mapping: they keep the
 * Trace alive (user value) and are read-only.
 */
#include "config.h"

#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "base/alloc.h"
#include "io/trace.h"
#include "lua/lqdb.h"

#define QDB_LUA_TRACE_WRITER "qdb.TraceWriter"

struct ltrace {
	struct qdb_lua_owner own; /* first: tensors view the mapping */
	struct qdb_trace *t;
};

struct qdb_trace *qdb_lua_check_trace(lua_State *L, int idx)
{
	struct ltrace *lt = qdb_lua_check_owner(L, idx, QDB_LUA_TRACE, "trace");
	return lt->t;
}

static void trace_release(struct qdb_lua_owner *o)
{
	struct ltrace *lt = (struct ltrace *)o;
	if (lt->t)
		qdb_trace_close(lt->t);
	lt->t = NULL;
}

static int trace_gc(lua_State *L)
{
	return qdb_lua_owner_gc(L, QDB_LUA_TRACE);
}

/* qdb.trace(path) -> Trace | nil, msg */
int qdb_lua_trace_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct ltrace *lt = qdb_lua_new_owner(L, sizeof *lt, 0, QDB_LUA_TRACE, trace_release);
	struct qdb_err err;
	if (qdb_trace_open(path, &lt->t, &err))
		return qdb_lua_fail(L, &err);
	return 1;
}

/* Layer argument: a name or a 1-based index. Returns the 0-based index,
 * -1 for an unknown name; an index out of range is misuse. */
static int layer_arg(lua_State *L, struct qdb_trace *t, int idx)
{
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer i = luaL_checkinteger(L, idx);
		if (i < 1 || i > qdb_trace_n_layers(t))
			luaL_error(L, "layer index %d out of range 1..%d", (int)i, qdb_trace_n_layers(t));
		return (int)i - 1;
	}
	return qdb_trace_find_layer(t, luaL_checkstring(L, idx));
}

static int sample_arg(lua_State *L, struct qdb_trace *t, int idx)
{
	struct qdb_sample_id id;
	qdb_lua_check_sample_id(L, idx, &id);
	return qdb_trace_find_sample(t, &id);
}

/* tr:get(sample, layer) -> Tensor view | nil, msg */
static int tr_get(lua_State *L)
{
	struct qdb_trace *t = qdb_lua_check_trace(L, 1);
	int s = sample_arg(L, t, 2);
	int l = layer_arg(L, t, 3);
	if (s < 0)
		return qdb_lua_failf(L, "%s: no sample %s", qdb_trace_path(t), luaL_tolstring(L, 2, NULL));
	if (l < 0)
		return qdb_lua_failf(L, "%s: no layer %s", qdb_trace_path(t), luaL_tolstring(L, 3, NULL));
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 1);
	struct qdb_err err;
	if (qdb_trace_get(t, s, l, &lt->t, &err))
		return qdb_lua_fail(L, &err);
	return 1;
}

static int tr_has(lua_State *L)
{
	struct qdb_trace *t = qdb_lua_check_trace(L, 1);
	int s = sample_arg(L, t, 2);
	int l = layer_arg(L, t, 3);
	lua_pushboolean(L, s >= 0 && l >= 0 && qdb_trace_has(t, s, l));
	return 1;
}

static void push_layer(lua_State *L, const struct qdb_trace_layer *ly, int index)
{
	lua_createtable(L, 0, 4);
	lua_pushstring(L, ly->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, ly->op);
	lua_setfield(L, -2, "op");
	lua_pushinteger(L, index);
	lua_setfield(L, -2, "index");
	if (ly->has_qstate) {
		lua_createtable(L, 0, 4);
		lua_pushboolean(L, ly->fake_quant);
		lua_setfield(L, -2, "fake_quant");
		lua_pushboolean(L, ly->observer);
		lua_setfield(L, -2, "observer");
		if (ly->qs_nscale > 0) {
			lua_pushnumber(L, ly->qs_scale);
			lua_setfield(L, -2, "scale");
			lua_pushinteger(L, (lua_Integer)ly->qs_zero_point);
			lua_setfield(L, -2, "zero_point");
			lua_pushinteger(L, ly->qs_nscale);
			lua_setfield(L, -2, "nscale");
		}
		lua_setfield(L, -2, "qstate");
	}
}

static int tr_layers(lua_State *L)
{
	struct qdb_trace *t = qdb_lua_check_trace(L, 1);
	int n = qdb_trace_n_layers(t);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		push_layer(L, qdb_trace_layer(t, i), i + 1);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* tr:layer(name or index) -> table | nil */
static int tr_layer(lua_State *L)
{
	struct qdb_trace *t = qdb_lua_check_trace(L, 1);
	int l = layer_arg(L, t, 2);
	if (l < 0)
		return qdb_lua_failf(L, "%s: no layer %s", qdb_trace_path(t), luaL_tolstring(L, 2, NULL));
	push_layer(L, qdb_trace_layer(t, l), l + 1);
	return 1;
}

static int tr_samples(lua_State *L)
{
	struct qdb_trace *t = qdb_lua_check_trace(L, 1);
	int n = qdb_trace_n_samples(t);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		qdb_lua_push_sample_id(L, qdb_trace_sample(t, i));
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* tr:sample(i) -> id of the i-th sample (1-based) */
static int tr_sample(lua_State *L)
{
	struct qdb_trace *t = qdb_lua_check_trace(L, 1);
	lua_Integer i = luaL_checkinteger(L, 2);
	if (i < 1 || i > qdb_trace_n_samples(t))
		return luaL_error(L, "sample index %d out of range 1..%d", (int)i,
				  qdb_trace_n_samples(t));
	qdb_lua_push_sample_id(L, qdb_trace_sample(t, (int)i - 1));
	return 1;
}

static const char *const trace_props[] = {"path", "stage", "model", "producer", "n_layers",
					  "n_samples", "n_records", NULL};

static int trace_getter(lua_State *L)
{
	struct qdb_trace *t = qdb_lua_check_trace(L, 1);
	const char *k = lua_tostring(L, 2);
	if (!k || lua_type(L, 2) != LUA_TSTRING)
		return 0;
	if (!strcmp(k, "path"))
		lua_pushstring(L, qdb_trace_path(t));
	else if (!strcmp(k, "stage"))
		lua_pushstring(L, qdb_trace_stage(t));
	else if (!strcmp(k, "model"))
		lua_pushstring(L, qdb_trace_model(t));
	else if (!strcmp(k, "producer"))
		lua_pushstring(L, qdb_trace_producer(t));
	else if (!strcmp(k, "n_layers"))
		lua_pushinteger(L, qdb_trace_n_layers(t));
	else if (!strcmp(k, "n_samples"))
		lua_pushinteger(L, qdb_trace_n_samples(t));
	else if (!strcmp(k, "n_records"))
		lua_pushinteger(L, (lua_Integer)qdb_trace_n_records(t));
	else
		return 0;
	return 1;
}

static int trace_len(lua_State *L)
{
	lua_pushinteger(L, qdb_trace_n_samples(qdb_lua_check_trace(L, 1)));
	return 1;
}

static int trace_tostring(lua_State *L)
{
	struct ltrace *lt = luaL_checkudata(L, 1, QDB_LUA_TRACE);
	if (lt->own.closed) {
		lua_pushliteral(L, "Trace(closed)");
		return 1;
	}
	lua_pushfstring(L, "Trace(%s: stage %s, %d layers, %d samples)", qdb_trace_path(lt->t),
			qdb_trace_stage(lt->t), qdb_trace_n_layers(lt->t),
			qdb_trace_n_samples(lt->t));
	return 1;
}

/* --- writer --- */

struct lwriter {
	struct qdb_trace_writer *w;
};

static struct lwriter *check_writer(lua_State *L, int idx)
{
	struct lwriter *w = luaL_checkudata(L, idx, QDB_LUA_TRACE_WRITER);
	if (!w->w)
		luaL_error(L, "trace writer already committed or aborted");
	return w;
}

static int writer_gc(lua_State *L)
{
	struct lwriter *w = luaL_checkudata(L, 1, QDB_LUA_TRACE_WRITER);
	if (w->w)
		qdb_trace_writer_abort(w->w);
	w->w = NULL;
	return 0;
}

/* Reads a table of strings at idx into a scratch array of n pointers (the
 * strings stay valid while the table is on the stack). */
static const char **string_list(lua_State *L, int idx, const char *what, int *n)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	*n = (int)lua_rawlen(L, idx);
	const char **v = qdb_lua_scratch(L, (size_t)(*n ? *n : 1), sizeof *v);
	for (int i = 0; i < *n; i++) {
		lua_rawgeti(L, idx, i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s[%d]: string expected", what, i + 1);
		v[i] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	return v;
}

/* qdb.trace_writer(path, {stage=, model=, producer=, layers={names}, ops={ops}[, append=true]}) */
static int l_trace_writer(lua_State *L)
{
	static const char *const opts[] = {"stage", "model", "producer", "layers", "ops",
					   "append", NULL};
	const char *path = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	qdb_lua_check_opts(L, 2, opts);
	struct qdb_trace_header h;
	memset(&h, 0, sizeof h);
	h.stage = qdb_lua_opt_str(L, 2, "stage", "float");
	h.model = qdb_lua_opt_str(L, 2, "model", "");
	h.producer = qdb_lua_opt_str(L, 2, "producer", "qdb lua");
	int append = qdb_lua_opt_bool(L, 2, "append", 0);
	if (lua_getfield(L, 2, "layers") != LUA_TTABLE)
		return luaL_error(L, "trace_writer: option 'layers' (table of names) is required");
	int n;
	h.layer_names = string_list(L, lua_gettop(L) - 0, "layers", &n);
	/* string_list pushed a scratch userdata above the layers table */
	h.n_layers = n;
	if (lua_getfield(L, 2, "ops") == LUA_TTABLE) {
		int nops;
		h.layer_ops = string_list(L, lua_gettop(L), "ops", &nops);
		if (nops != n)
			return luaL_error(L, "trace_writer: %d ops for %d layers", nops, n);
	}
	struct lwriter *w = lua_newuserdatauv(L, sizeof *w, 0);
	w->w = NULL;
	luaL_setmetatable(L, QDB_LUA_TRACE_WRITER);
	struct qdb_err err;
	if (qdb_trace_writer_open(path, &h, append ? QDB_TRACE_APPEND : 0, &w->w, &err))
		return qdb_lua_fail(L, &err);
	return 1;
}

/* w:add(sample, layer, tensor) */
static int w_add(lua_State *L)
{
	struct lwriter *w = check_writer(L, 1);
	struct qdb_sample_id id;
	qdb_lua_check_sample_id(L, 2, &id);
	const char *layer = luaL_checkstring(L, 3);
	struct qdb_tensor *t = qdb_lua_to_tensor(L, 4);
	struct qdb_err err;
	if (qdb_trace_writer_add(w->w, &id, layer, t, &err))
		return qdb_lua_raise(L, &err);
	return 0;
}

static int w_commit(lua_State *L)
{
	struct lwriter *w = check_writer(L, 1);
	struct qdb_trace_writer *tw = w->w;
	w->w = NULL;
	struct qdb_err err;
	if (qdb_trace_writer_commit(tw, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

static int w_abort(lua_State *L)
{
	struct lwriter *w = check_writer(L, 1);
	qdb_trace_writer_abort(w->w);
	w->w = NULL;
	return 0;
}

static int writer_tostring(lua_State *L)
{
	struct lwriter *w = luaL_checkudata(L, 1, QDB_LUA_TRACE_WRITER);
	lua_pushstring(L, w->w ? "TraceWriter(open)" : "TraceWriter(finished)");
	return 1;
}

void qdb_lua_trace_register(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{"__gc", trace_gc},
		{"__close", trace_gc},
		{"__len", trace_len},
		{"__tostring", trace_tostring},
		{NULL, NULL},
	};
	static const luaL_Reg methods[] = {
		{"get", tr_get},
		{"has", tr_has},
		{"layers", tr_layers},
		{"layer", tr_layer},
		{"samples", tr_samples},
		{"sample", tr_sample},
		{NULL, NULL},
	};
	qdb_lua_class(L, QDB_LUA_TRACE, meta, methods, trace_getter, trace_props);
	static const luaL_Reg wmeta[] = {
		{"__gc", writer_gc},
		{"__close", writer_gc},
		{"__tostring", writer_tostring},
		{NULL, NULL},
	};
	static const luaL_Reg wmethods[] = {
		{"add", w_add},
		{"commit", w_commit},
		{"abort", w_abort},
		{NULL, NULL},
	};
	qdb_lua_class(L, QDB_LUA_TRACE_WRITER, wmeta, wmethods, NULL, NULL);
	static const luaL_Reg funcs[] = {
		{"trace", qdb_lua_trace_open},
		{"trace_writer", l_trace_writer},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}
