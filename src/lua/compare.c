/* compare.c - the Comparison userdata: a session (analysis/session.h)
 * comparing a reference A with a candidate B layer by layer.
 *
 * The sides are files: a path, a Trace (its file), or a Model (its file;
 * a model with unsaved edits is first written to a temporary .qbc, which
 * the session loads and which is then removed). So the numbers are the
 * ones `qdb compare` and the TUI show. Rows (aligned layers) and samples
 * are 1-based; a sample may also be given by its id as a string.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "analysis/session.h"
#include "io/dataset.h"
#include "io/qbc.h"
#include "io/trace.h"
#include "lua/lmodel.h"
#include "lua/lqdb.h"
#include "lua/qdb_lua.h"

struct lcompare {
	struct qdb_session *s;
};

static struct qdb_session *check_cmp(lua_State *L, int idx)
{
	struct lcompare *c = luaL_checkudata(L, idx, QDB_LUA_COMPARISON);
	if (!c->s)
		luaL_error(L, "comparison is closed");
	return c->s;
}

static int cmp_gc(lua_State *L)
{
	struct lcompare *c = luaL_checkudata(L, 1, QDB_LUA_COMPARISON);
	if (c->s)
		qdb_session_close(c->s);
	c->s = NULL;
	return 0;
}

/* Temporary files made for unsaved models; removed after the session
 * opened (the session keeps its own copy of the graph). */
struct tmpfiles {
	char path[2][64];
};

static void check_side(lua_State *L, int idx)
{
	if (lua_type(L, idx) == LUA_TSTRING)
		return;
	if (luaL_testudata(L, idx, QDB_LUA_TRACE))
		qdb_lua_check_trace(L, idx);
	else if (luaL_testudata(L, idx, QDB_LUA_MODEL))
		qdb_lua_check_model(L, idx);
	else
		luaL_typeerror(L, idx, "path, Trace or Model");
}

/* The file behind a checked side argument; NULL (err set) when an unsaved
 * model cannot be written. Raises nothing. */
static const char *side_path(lua_State *L, int idx, struct tmpfiles *tf, int k,
			     struct qdb_err *err)
{
	if (lua_type(L, idx) == LUA_TSTRING)
		return lua_tostring(L, idx);
	if (luaL_testudata(L, idx, QDB_LUA_TRACE))
		return qdb_trace_path(qdb_lua_check_trace(L, idx));
	struct qdb_lua_model *m = luaL_testudata(L, idx, QDB_LUA_MODEL);
	if (m->g->path && !m->dirty)
		return m->g->path;
	snprintf(tf->path[k], sizeof tf->path[k], "/tmp/qdb-lua-XXXXXX.qbc");
	int fd = mkstemps(tf->path[k], 4);
	if (fd < 0) {
		tf->path[k][0] = '\0';
		qdb_err_set(err, QDB_EIO, "cannot create a temporary file for an unsaved model");
		return NULL;
	}
	close(fd);
	if (qdb_graph_save(m->g, tf->path[k], err))
		return NULL;
	return tf->path[k];
}

static const char *const compare_opts[] = {"data", "map", "mode", "threshold", "atol",
					   "samples", NULL};

/* qdb.compare(a, b[, {data=, map=, mode=, threshold=, atol=, samples=}]) */
static int l_compare(lua_State *L)
{
	qdb_lua_check_opts(L, 3, compare_opts);
	struct tmpfiles tf;
	memset(&tf, 0, sizeof tf);
	struct qdb_session_opts o;
	qdb_session_opts_init(&o);
	struct qdb_err err;
	o.atol = qdb_lua_opt_num(L, 3, "atol", o.atol);
	o.max_samples = qdb_lua_opt_int(L, 3, "samples", 0);
	o.map_path = qdb_lua_opt_str(L, 3, "map", NULL);
	const char *mode = qdb_lua_opt_str(L, 3, "mode", "cumulative");
	enum qdb_session_mode m;
	if (!strcmp(mode, "cumulative"))
		m = QDB_MODE_CUMULATIVE;
	else if (!strcmp(mode, "isolated"))
		m = QDB_MODE_ISOLATED;
	else
		return luaL_error(L, "option 'mode': \"cumulative\" or \"isolated\" expected, got '%s'",
				  mode);
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "threshold");
		if (lua_type(L, -1) == LUA_TSTRING) {
			if (qdb_threshold_parse(lua_tostring(L, -1), &o.thresholds[0], &err))
				return qdb_lua_raise(L, &err);
			o.n_thresholds = 1;
		} else if (lua_istable(L, -1)) {
			int n = (int)lua_rawlen(L, -1);
			if (n > QDB_SESSION_MAX_THRESHOLDS)
				return luaL_error(L, "at most %d thresholds", QDB_SESSION_MAX_THRESHOLDS);
			for (int i = 0; i < n; i++) {
				lua_rawgeti(L, -1, i + 1);
				const char *s = lua_tostring(L, -1);
				if (!s)
					return luaL_error(L, "threshold %d: string expected", i + 1);
				if (qdb_threshold_parse(s, &o.thresholds[i], &err))
					return qdb_lua_raise(L, &err);
				lua_pop(L, 1);
			}
			o.n_thresholds = n;
		} else if (!lua_isnil(L, -1)) {
			return luaL_error(L, "option 'threshold': string or list of strings expected");
		}
		lua_pop(L, 1);
		lua_getfield(L, 3, "data");
		if (lua_type(L, -1) == LUA_TSTRING)
			o.data_path = lua_tostring(L, -1);
		else if (!lua_isnil(L, -1))
			o.data_path = qdb_dataset_path(qdb_lua_check_dataset(L, -1));
		lua_pop(L, 1); /* the string stays referenced by the options table */
	}
	struct lcompare *c = lua_newuserdatauv(L, sizeof *c, 2);
	c->s = NULL;
	luaL_setmetatable(L, QDB_LUA_COMPARISON);
	/* keep the side objects alive with the comparison (their files) */
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, 2);
	check_side(L, 1);
	check_side(L, 2);
	int rc = QDB_OK;
	if (!(o.a_path = side_path(L, 1, &tf, 0, &err)) ||
	    !(o.b_path = side_path(L, 2, &tf, 1, &err)))
		rc = err.code ? err.code : QDB_EIO;
	if (!rc)
		rc = qdb_session_open(&o, &c->s, &err);
	if (!rc && m != QDB_MODE_CUMULATIVE)
		rc = qdb_session_set_mode(c->s, m, &err);
	for (int k = 0; k < 2; k++)
		if (tf.path[k][0])
			unlink(tf.path[k]);
	if (rc)
		return qdb_lua_fail(L, &err);
	return 1;
}

static int sample_arg(lua_State *L, struct qdb_session *s, int idx)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		int i = qdb_session_find_sample(s, lua_tostring(L, idx));
		if (i < 0)
			luaL_error(L, "comparison has no sample '%s'", lua_tostring(L, idx));
		return i;
	}
	lua_Integer i = luaL_checkinteger(L, idx);
	if (i < 1 || i > qdb_session_n_samples(s))
		luaL_error(L, "sample %d out of range 1..%d", (int)i, qdb_session_n_samples(s));
	return (int)i - 1;
}

static int row_arg(lua_State *L, struct qdb_session *s, int idx)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		int r = qdb_session_find_row(s, lua_tostring(L, idx));
		if (r < 0)
			luaL_error(L, "comparison has no layer '%s'", lua_tostring(L, idx));
		return r;
	}
	lua_Integer i = luaL_checkinteger(L, idx);
	if (i < 1 || i > qdb_session_n_rows(s))
		luaL_error(L, "row %d out of range 1..%d", (int)i, qdb_session_n_rows(s));
	return (int)i - 1;
}

void qdb_lua_set_row_fields(lua_State *L, const struct qdb_session *s, int r)
{
	const struct qdb_session_row *row = qdb_session_row(s, r);
	lua_pushinteger(L, r + 1);
	lua_setfield(L, -2, "index");
	lua_pushstring(L, row->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, row->name_b);
	lua_setfield(L, -2, "name_b");
	lua_pushstring(L, row->op ? row->op : "");
	lua_setfield(L, -2, "op");
	int dev = qdb_session_device(s, r);
	if (dev >= 0) {
		lua_pushstring(L, dev == QDB_DEV_CPU ? "cpu" : "bpu");
		lua_setfield(L, -2, "device");
	}
}

static void push_row(lua_State *L, struct qdb_session *s, int r)
{
	const struct qdb_session_row *row = qdb_session_row(s, r);
	lua_createtable(L, 0, 6);
	qdb_lua_set_row_fields(L, s, r);
	if (row->via_rule) {
		lua_pushstring(L, row->via_rule == 2 ? "fused" : "rule");
		lua_setfield(L, -2, "via");
	}
}

static int c_rows(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int n = qdb_session_n_rows(s);
	lua_createtable(L, n, 0);
	for (int r = 0; r < n; r++) {
		push_row(L, s, r);
		lua_rawseti(L, -2, r + 1);
	}
	return 1;
}

static int c_samples(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int n = qdb_session_n_samples(s);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, qdb_session_sample_name(s, i));
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* {a = {names}, b = {names}}: layers present on one side only. */
static int c_unmatched(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	lua_createtable(L, 0, 2);
	for (int k = 0; k < 2; k++) {
		int n = qdb_session_n_only(s, k);
		lua_createtable(L, n, 0);
		for (int i = 0; i < n; i++) {
			lua_pushstring(L, qdb_session_only_name(s, k, i));
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, k ? "b" : "a");
	}
	return 1;
}

static void push_cell(lua_State *L, struct qdb_session *s, const struct qdb_compare_cell *cell)
{
	static const char *const states[] = {"empty", "ok", "missing", "numel", "error"};
	if (cell->state == QDB_CELL_OK)
		qdb_lua_push_metrics(L, &cell->m);
	else
		lua_createtable(L, 0, 4);
	lua_pushstring(L, cell->state < 5 ? states[cell->state] : "?");
	lua_setfield(L, -2, "state");
	lua_pushboolean(L, qdb_session_divergent(s, cell, NULL));
	lua_setfield(L, -2, "diverged");
	char flags[128];
	qdb_compare_flags_str(cell->flags, flags, sizeof flags);
	lua_pushstring(L, flags);
	lua_setfield(L, -2, "flags");
	if (cell->state == QDB_CELL_OK && !qdb_compare_metric_applies(cell->flags, &cell->m,
								      QDB_M_MAX_STEPS)) {
		lua_pushnil(L);
		lua_setfield(L, -2, "max_steps");
	}
}

/* c:cell(sample, row) -> metrics table | nil, msg */
static int c_cell(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int sample = sample_arg(L, s, 2);
	int row = row_arg(L, s, 3);
	const struct qdb_compare_cell *cell;
	struct qdb_err err;
	if (qdb_session_cell(s, sample, row, &cell, &err))
		return qdb_lua_fail(L, &err);
	push_cell(L, s, cell);
	return 1;
}

/* c:layers(sample) -> one row table per layer with its metrics */
static int c_layers(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int sample = sample_arg(L, s, 2);
	int n = qdb_session_n_rows(s);
	lua_createtable(L, n, 0);
	for (int r = 0; r < n; r++) {
		qdb_lua_check_interrupt(L);
		const struct qdb_compare_cell *cell;
		struct qdb_err err;
		if (qdb_session_cell(s, sample, r, &cell, &err))
			return qdb_lua_fail(L, &err);
		push_cell(L, s, cell);
		const struct qdb_session_row *row = qdb_session_row(s, r);
		lua_pushstring(L, row->name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, row->op ? row->op : "");
		lua_setfield(L, -2, "op");
		lua_pushinteger(L, r + 1);
		lua_setfield(L, -2, "index");
		int dev = qdb_session_device(s, r);
		if (dev >= 0) {
			lua_pushstring(L, dev == QDB_DEV_CPU ? "cpu" : "bpu");
			lua_setfield(L, -2, "device");
		}
		lua_rawseti(L, -2, r + 1);
	}
	return 1;
}

static int optional_threshold(lua_State *L, int idx, struct qdb_threshold *t)
{
	if (lua_isnoneornil(L, idx))
		return 0;
	struct qdb_err err;
	if (qdb_threshold_parse(luaL_checkstring(L, idx), t, &err))
		qdb_lua_raise(L, &err);
	return 1;
}

/* c:first_divergent(sample[, threshold]) -> row, name | nil */
static int c_first_divergent(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int sample = sample_arg(L, s, 2);
	struct qdb_threshold t;
	int have = optional_threshold(L, 3, &t);
	struct qdb_err err;
	qdb_err_clear(&err);
	int r = qdb_session_find_divergent(s, sample, 0, 1, have ? &t : NULL, &err);
	if (r < 0) {
		if (err.code != QDB_OK)
			return qdb_lua_fail(L, &err);
		lua_pushnil(L);
		return 1;
	}
	lua_pushinteger(L, r + 1);
	lua_pushstring(L, qdb_session_row(s, r)->name);
	return 2;
}

struct progress_ctx {
	lua_State *L;
	int fn; /* stack index of a Lua progress function, 0 if none */
};

static int progress_cb(void *user, int64_t done, int64_t total)
{
	struct progress_ctx *p = user;
	if (qdb_lua_interrupted(p->L))
		return 1;
	if (p->fn) {
		lua_pushvalue(p->L, p->fn);
		lua_pushinteger(p->L, (lua_Integer)done);
		lua_pushinteger(p->L, (lua_Integer)total);
		if (lua_pcall(p->L, 2, 1, 0) != LUA_OK) {
			lua_pop(p->L, 1);
			return 1;
		}
		int stop = lua_toboolean(p->L, -1); /* true: stop */
		lua_pop(p->L, 1);
		return stop;
	}
	return 0;
}

static void push_agg_row(lua_State *L, struct qdb_session *s, int r, const struct qdb_compare_row *a)
{
	push_row(L, s, r);
	lua_pushinteger(L, a->n_ok);
	lua_setfield(L, -2, "n_ok");
	lua_pushinteger(L, a->n_diverged);
	lua_setfield(L, -2, "n_diverged");
	lua_pushinteger(L, a->n_missing);
	lua_setfield(L, -2, "n_missing");
	if (a->first_diverged_sample >= 0) {
		lua_pushinteger(L, a->first_diverged_sample + 1);
		lua_setfield(L, -2, "first_diverged_sample");
	}
	lua_createtable(L, 0, QDB_M_COUNT);
	lua_createtable(L, 0, QDB_M_COUNT);
	lua_createtable(L, 0, QDB_M_COUNT);
	for (int m = 0; m < QDB_M_COUNT; m++) {
		if (a->agg[m].n == 0)
			continue;
		lua_pushnumber(L, a->agg[m].mean);
		lua_setfield(L, -4, qdb_metric_name(m));
		lua_pushnumber(L, a->agg[m].worst);
		lua_setfield(L, -3, qdb_metric_name(m));
		if (a->agg[m].worst_sample >= 0) {
			lua_pushinteger(L, a->agg[m].worst_sample + 1);
			lua_setfield(L, -2, qdb_metric_name(m));
		}
	}
	lua_setfield(L, -4, "worst_sample");
	lua_setfield(L, -3, "worst");
	lua_setfield(L, -2, "mean");
}

/* c:aggregate([progress]) -> rows with mean/worst per metric over all samples */
static int c_aggregate(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	struct progress_ctx p = {L, 0};
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TFUNCTION);
		p.fn = 2;
	}
	struct qdb_err err;
	int rc = qdb_session_aggregate(s, progress_cb, &p, &err);
	if (rc == QDB_ESTOPPED) {
		qdb_lua_check_interrupt(L);
		return luaL_error(L, "aggregate: stopped by the progress function");
	}
	if (rc)
		return qdb_lua_fail(L, &err);
	int n = qdb_session_n_rows(s);
	lua_createtable(L, n, 0);
	for (int r = 0; r < n; r++) {
		const struct qdb_compare_row *a = qdb_session_agg(s, r);
		if (!a)
			continue;
		push_agg_row(L, s, r, a);
		lua_rawseti(L, -2, r + 1);
	}
	return 1;
}

/* c:tensors(sample, row) -> a, b (copies) | nil, msg */
static int c_tensors(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int sample = sample_arg(L, s, 2);
	int row = row_arg(L, s, 3);
	struct qdb_tensor *tv = qdb_lua_scratch(L, 2, sizeof *tv);
	qdb_tensor_init(&tv[0]);
	qdb_tensor_init(&tv[1]);
	struct qdb_err err;
	if (qdb_session_tensors(s, sample, row, &tv[0], &tv[1], &err)) {
		qdb_tensor_done(&tv[0]);
		qdb_tensor_done(&tv[1]);
		return qdb_lua_fail(L, &err);
	}
	/* copy before anything can raise, then release the views */
	struct qdb_lua_tensor *a = qdb_lua_new_tensor(L, 0);
	struct qdb_lua_tensor *b = qdb_lua_new_tensor(L, 0);
	int rc = qdb_tensor_copy(&a->t, &tv[0], &err);
	if (!rc)
		rc = qdb_tensor_copy(&b->t, &tv[1], &err);
	qdb_tensor_done(&tv[0]);
	qdb_tensor_done(&tv[1]);
	if (rc)
		return qdb_lua_raise(L, &err);
	return 2;
}

static int c_set_mode(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	const char *mode = luaL_checkstring(L, 2);
	enum qdb_session_mode m;
	if (!strcmp(mode, "cumulative"))
		m = QDB_MODE_CUMULATIVE;
	else if (!strcmp(mode, "isolated"))
		m = QDB_MODE_ISOLATED;
	else
		return luaL_error(L, "mode: \"cumulative\" or \"isolated\" expected, got '%s'", mode);
	struct qdb_err err;
	if (qdb_session_set_mode(s, m, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/* c:toggle_cpu(row[, sample]) -> new device | nil, msg */
static int c_toggle_cpu(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int row = row_arg(L, s, 2);
	int sample = lua_isnoneornil(L, 3) ? 0 : sample_arg(L, s, 3);
	if (!qdb_session_editable(s))
		return qdb_lua_failf(L, "B is not a quantized graph: its devices cannot be edited");
	struct qdb_err err;
	if (qdb_session_toggle_cpu(s, row, sample, &err))
		return qdb_lua_fail(L, &err);
	lua_pushstring(L, qdb_session_device(s, row) == QDB_DEV_CPU ? "cpu" : "bpu");
	return 1;
}

static int c_undo(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int sample = lua_isnoneornil(L, 2) ? 0 : sample_arg(L, s, 2);
	struct qdb_err err;
	if (qdb_session_undo(s, sample, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

static int c_edits(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	int n = qdb_session_n_edits(s);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		char buf[256];
		lua_pushstring(L, qdb_session_edit_str(s, i, buf, sizeof buf));
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

static int c_save(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	const char *path = luaL_checkstring(L, 2);
	struct qdb_err err;
	if (qdb_session_save(s, path, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

static const char *const cmp_props[] = {"a", "b", "stage_a", "stage_b", "data", "mode",
					"n_rows", "n_samples", "output_row", "editable",
					"unsaved", NULL};

static int cmp_getter(lua_State *L)
{
	struct qdb_session *s = check_cmp(L, 1);
	const char *k = lua_tostring(L, 2);
	if (!k || lua_type(L, 2) != LUA_TSTRING)
		return 0;
	if (!strcmp(k, "a") || !strcmp(k, "b"))
		lua_pushstring(L, qdb_session_path(s, k[0] == 'b'));
	else if (!strcmp(k, "stage_a") || !strcmp(k, "stage_b"))
		lua_pushstring(L, qdb_session_stage(s, k[6] == 'b'));
	else if (!strcmp(k, "data")) {
		if (!qdb_session_data_path(s))
			return 0;
		lua_pushstring(L, qdb_session_data_path(s));
	} else if (!strcmp(k, "mode"))
		lua_pushstring(L, qdb_session_mode(s) == QDB_MODE_ISOLATED ? "isolated" : "cumulative");
	else if (!strcmp(k, "n_rows"))
		lua_pushinteger(L, qdb_session_n_rows(s));
	else if (!strcmp(k, "n_samples"))
		lua_pushinteger(L, qdb_session_n_samples(s));
	else if (!strcmp(k, "output_row")) {
		int r = qdb_session_output_row(s);
		if (r < 0)
			return 0;
		lua_pushinteger(L, r + 1);
	} else if (!strcmp(k, "editable"))
		lua_pushboolean(L, qdb_session_editable(s));
	else if (!strcmp(k, "unsaved"))
		lua_pushboolean(L, qdb_session_unsaved(s));
	else
		return 0;
	return 1;
}

static int cmp_len(lua_State *L)
{
	lua_pushinteger(L, qdb_session_n_rows(check_cmp(L, 1)));
	return 1;
}

static int cmp_tostring(lua_State *L)
{
	struct lcompare *c = luaL_checkudata(L, 1, QDB_LUA_COMPARISON);
	if (!c->s) {
		lua_pushliteral(L, "Comparison(closed)");
		return 1;
	}
	lua_pushfstring(L, "Comparison(%s vs %s: %d layers, %d samples, %s)",
			qdb_session_path(c->s, 0), qdb_session_path(c->s, 1),
			qdb_session_n_rows(c->s), qdb_session_n_samples(c->s),
			qdb_session_mode(c->s) == QDB_MODE_ISOLATED ? "isolated" : "cumulative");
	return 1;
}

void qdb_lua_compare_register(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{"__gc", cmp_gc},
		{"__close", cmp_gc},
		{"__len", cmp_len},
		{"__tostring", cmp_tostring},
		{NULL, NULL},
	};
	static const luaL_Reg methods[] = {
		{"rows", c_rows},
		{"samples", c_samples},
		{"unmatched", c_unmatched},
		{"cell", c_cell},
		{"layers", c_layers},
		{"first_divergent", c_first_divergent},
		{"aggregate", c_aggregate},
		{"tensors", c_tensors},
		{"set_mode", c_set_mode},
		{"toggle_cpu", c_toggle_cpu},
		{"undo", c_undo},
		{"edits", c_edits},
		{"save", c_save},
		{NULL, NULL},
	};
	qdb_lua_class(L, QDB_LUA_COMPARISON, meta, methods, cmp_getter, cmp_props);
	static const luaL_Reg funcs[] = {
		{"compare", l_compare},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}
