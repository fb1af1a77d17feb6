/* sensitivity.c - qdb.sensitivity: the C engine of
 * analysis/sensitivity.h with Lua options, a Lua metric function and a Lua
 * progress function. The result is a plain table (ranked units), which
 * the qdb.report library prints as a table, CSV or JSON.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "analysis/sensitivity.h"
#include "graph/exec.h"
#include "io/trace.h"
#include "lua/lmodel.h"
#include "lua/lqdb.h"

struct lctx {
	lua_State *L;
	int metric_fn, progress_fn; /* stack indices, 0 if none */
	int failed;                 /* a Lua function raised: message on the stack */
};

static int metric_cb(void *user, int64_t record, const struct qdb_tensor *out,
		     const struct qdb_tensor *ref, double *score, struct qdb_err *err)
{
	struct lctx *c = user;
	lua_State *L = c->L;
	if (!lua_checkstack(L, 5))
		return qdb_err_set(err, QDB_ENOMEM, "metric: Lua stack overflow");
	lua_pushvalue(L, c->metric_fn);
	/* copies: the function may keep them */
	qdb_lua_push_tensor_copy(L, out);
	if (ref)
		qdb_lua_push_tensor_copy(L, ref);
	else
		lua_pushnil(L);
	lua_pushinteger(L, (lua_Integer)record + 1);
	if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
		c->failed = 1;
		return qdb_err_set(err, QDB_ESTOPPED, "metric function failed");
	}
	int isnum;
	*score = lua_tonumberx(L, -1, &isnum);
	lua_pop(L, 1);
	if (!isnum) {
		lua_pushliteral(L, "sensitivity: the metric function must return a number");
		c->failed = 1;
		return qdb_err_set(err, QDB_ESTOPPED, "metric function failed");
	}
	return QDB_OK;
}

static int progress_cb(void *user, int64_t done, int64_t total)
{
	struct lctx *c = user;
	if (qdb_lua_interrupted(c->L))
		return 1;
	if (!c->progress_fn)
		return 0;
	lua_pushvalue(c->L, c->progress_fn);
	lua_pushinteger(c->L, (lua_Integer)done);
	lua_pushinteger(c->L, (lua_Integer)total);
	if (lua_pcall(c->L, 2, 1, 0) != LUA_OK) {
		c->failed = 1;
		return 1;
	}
	int stop = lua_toboolean(c->L, -1);
	lua_pop(c->L, 1);
	return stop;
}

static void push_result(lua_State *L, const struct qdb_sens_result *r)
{
	lua_createtable(L, 0, 12);
	lua_pushstring(L, qdb_sens_mode_name(r->mode));
	lua_setfield(L, -2, "mode");
	lua_pushstring(L, qdb_sens_metric_name(r->metric));
	lua_setfield(L, -2, "metric");
	qdb_lua_set_int(L, "n_records", r->n_records);
	qdb_lua_set_num(L, "baseline", r->baseline);
	if (r->mode == QDB_SENS_QUANTIZE)
		qdb_lua_set_num(L, "float_score", r->float_score);
	qdb_lua_set_int(L, "computed", r->computed);
	qdb_lua_set_int(L, "full", r->full);
	qdb_lua_set_num(L, "seconds", r->seconds);
	qdb_lua_set_int(L, "threads", r->threads);
	lua_createtable(L, r->n_units, 0);
	for (int i = 0; i < r->n_units; i++) {
		const struct qdb_sens_unit *u = &r->units[i];
		lua_createtable(L, 0, 9);
		qdb_lua_set_int(L, "rank", i + 1);
		lua_pushstring(L, u->name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, u->op ? u->op : "");
		lua_setfield(L, -2, "op");
		if (u->node >= 0)
			qdb_lua_set_int(L, "node", u->node + 1);
		qdb_lua_set_num(L, "score", u->score);
		if (r->mode == QDB_SENS_QUANTIZE)
			qdb_lua_set_num(L, "score_except", u->score_except);
		qdb_lua_set_num(L, "effect", u->effect);
		qdb_lua_set_int(L, "computed", u->computed);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "units");
}

static int result_gc(lua_State *L)
{
	qdb_sens_result_done(lua_touserdata(L, 1));
	return 0;
}

static const char *const sens_opts[] = {"mode", "metric", "reference", "reference_semantics",
					"reference_output", "layer", "output", "records", "nodes",
					"by", "threads", "naive", "progress", NULL};

/* qdb.sensitivity(model, dataset[, opts]) -> result table | nil, msg */
static int l_sensitivity(lua_State *L)
{
	lua_settop(L, 3);
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 2);
	if (!lua_isnil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	qdb_lua_check_opts(L, 3, sens_opts);
	struct qdb_sens_opts o;
	qdb_sens_opts_init(&o);
	const char *mode = qdb_lua_opt_str(L, 3, "mode",
					   m->g->stage == QDB_STAGE_QAT ? "quantize" : "revert");
	if (qdb_sens_mode_parse(mode, &o.mode))
		return luaL_error(L, "option 'mode': \"revert\" or \"quantize\" expected, got '%s'", mode);
	struct lctx c = {L, 0, 0, 0};
	o.metric = QDB_SENS_COSINE;
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "metric");
		if (lua_isfunction(L, -1)) {
			o.metric = QDB_SENS_CUSTOM;
			c.metric_fn = lua_gettop(L);
			o.fn = metric_cb;
			o.fn_user = &c;
		} else {
			if (!lua_isnil(L, -1)) {
				const char *s = lua_tostring(L, -1);
				if (!s || qdb_sens_metric_parse(s, &o.metric) || o.metric == QDB_SENS_CUSTOM)
					return luaL_error(L, "option 'metric': cosine, sqnr, top1 or a function expected");
			}
			lua_pop(L, 1);
		}
		lua_getfield(L, 3, "progress");
		if (!lua_isnil(L, -1)) {
			luaL_checktype(L, -1, LUA_TFUNCTION);
			c.progress_fn = lua_gettop(L);
		} else {
			lua_pop(L, 1);
		}
	}
	o.progress = progress_cb;
	o.user = &c;
	o.threads = (int)qdb_lua_opt_int(L, 3, "threads", 0);
	o.naive = qdb_lua_opt_bool(L, 3, "naive", 0);
	const char *by = qdb_lua_opt_str(L, 3, "by", "node");
	if (strcmp(by, "node") && strcmp(by, "value"))
		return luaL_error(L, "option 'by': \"node\" or \"value\" expected, got '%s'", by);
	o.by_value = !strcmp(by, "value");
	/* output */
	if (lua_istable(L, 3) && lua_getfield(L, 3, "output") != LUA_TNIL) {
		lua_Integer i = luaL_checkinteger(L, -1);
		if (i < 1 || i > m->g->n_outputs)
			return luaL_error(L, "output %d out of range 1..%d", (int)i, m->g->n_outputs);
		o.output = (int)i - 1;
	}
	/* reference */
	struct qdb_err err;
	if (lua_istable(L, 3) && lua_getfield(L, 3, "reference") != LUA_TNIL) {
		int ri = lua_gettop(L);
		if (luaL_testudata(L, ri, QDB_LUA_TRACE)) {
			o.ref_t = qdb_lua_check_trace(L, ri);
			lua_getfield(L, 3, "layer");
			if (lua_type(L, -1) == LUA_TSTRING) {
				o.ref_layer = qdb_trace_find_layer(o.ref_t, lua_tostring(L, -1));
				if (o.ref_layer < 0)
					return luaL_error(L, "reference trace has no layer '%s'",
							  lua_tostring(L, -1));
			} else if (!lua_isnil(L, -1)) {
				lua_Integer l = luaL_checkinteger(L, -1);
				if (l < 1 || l > qdb_trace_n_layers(o.ref_t))
					return luaL_error(L, "layer %d out of range", (int)l);
				o.ref_layer = (int)l - 1;
			}
		} else {
			struct qdb_lua_model *rm = luaL_testudata(L, ri, QDB_LUA_MODEL);
			if (!rm)
				return luaL_typeerror(L, ri, "Model or Trace (option 'reference')");
			qdb_lua_check_model(L, ri);
			if (rm == m)
				return luaL_error(L, "the reference must be another model");
			enum qdb_exec_sem rs;
			const char *s = qdb_lua_opt_str(L, 3, "reference_semantics", "native");
			if (qdb_exec_sem_parse(s, &rs))
				return luaL_error(L, "option 'reference_semantics': native, float, qat or int");
			struct qdb_lua_exec *rx = qdb_lua_model_exec(rm, rs, &err);
			if (!rx)
				return qdb_lua_fail(L, &err);
			o.ref_x = rx->x;
			lua_Integer ro = qdb_lua_opt_int(L, 3, "reference_output", 1);
			if (ro < 1 || ro > rm->g->n_outputs)
				return luaL_error(L, "reference_output %d out of range", (int)ro);
			o.ref_output = (int)ro - 1;
		}
	}
	/* records and nodes */
	if (lua_istable(L, 3) && lua_getfield(L, 3, "records") != LUA_TNIL) {
		luaL_checktype(L, -1, LUA_TTABLE);
		int64_t n = (int64_t)lua_rawlen(L, -1);
		int64_t *v = qdb_lua_scratch(L, (size_t)(n ? n : 1), sizeof *v);
		for (int64_t i = 0; i < n; i++) {
			lua_rawgeti(L, -2, (lua_Integer)i + 1);
			v[i] = luaL_checkinteger(L, -1) - 1;
			lua_pop(L, 1);
		}
		o.records = v;
		o.n_records = n;
	}
	if (lua_istable(L, 3) && lua_getfield(L, 3, "nodes") != LUA_TNIL) {
		luaL_checktype(L, -1, LUA_TTABLE);
		int list = lua_gettop(L);
		int n = (int)lua_rawlen(L, list);
		int *v = qdb_lua_scratch(L, (size_t)(n ? n : 1), sizeof *v);
		for (int i = 0; i < n; i++) {
			lua_rawgeti(L, list, i + 1);
			v[i] = qdb_lua_node_arg(L, m->g, lua_gettop(L));
			lua_pop(L, 1);
		}
		o.nodes = v;
		o.n_nodes = n;
	}
	struct qdb_lua_exec *ex = qdb_lua_model_exec(
		m, o.mode == QDB_SENS_QUANTIZE ? QDB_SEM_FAKEQUANT : QDB_SEM_INTEGER, &err);
	if (!ex)
		return qdb_lua_fail(L, &err);
	struct qdb_sens_result *res = lua_newuserdatauv(L, sizeof *res, 0);
	qdb_sens_result_init(res);
	if (luaL_newmetatable(L, "qdb.sens_box")) {
		lua_pushcfunction(L, result_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	int rc = qdb_sens_run(ex->x, d, &o, res, &err);
	if (c.failed)
		return lua_error(L);
	if (rc == QDB_ESTOPPED) {
		qdb_lua_check_interrupt(L);
		return luaL_error(L, "sensitivity: stopped by the progress function");
	}
	if (rc)
		return qdb_lua_fail(L, &err);
	push_result(L, res);
	return 1;
}

void qdb_lua_sensitivity_register(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{"sensitivity", l_sensitivity},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}
