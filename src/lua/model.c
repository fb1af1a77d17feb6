/* model.c - the Model userdata (a .qbc graph): nodes, values, qparams,
 * constants, devices, save, clone, convert.
 *
 * Nodes are 1-based when addressed by number (m:node(1) is the first in
 * execution order); names are the layer names. Constants are read-only
 * tensor views that keep the Model alive. Running lives in run.c.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "base/alloc.h"
#include "graph/convert.h"
#include "graph/edit.h"
#include "graph/exec.h"
#include "graph/graph.h"
#include "io/qbc.h"
#include "lua/lmodel.h"
#include "lua/lqdb.h"

static void model_release(struct qdb_lua_owner *o)
{
	struct qdb_lua_model *m = (struct qdb_lua_model *)o;
	/* no run is alive any more (runs are views), so nothing uses these */
	qdb_lua_model_retire_execs(m);
	qdb_graph_delete(m->g);
	m->g = NULL;
}

static int model_gc(lua_State *L)
{
	return qdb_lua_owner_gc(L, QDB_LUA_MODEL);
}

struct qdb_lua_model *qdb_lua_check_model(lua_State *L, int idx)
{
	return qdb_lua_check_owner(L, idx, QDB_LUA_MODEL, "model");
}

struct qdb_lua_model *qdb_lua_push_model(lua_State *L, struct qdb_graph *g)
{
	struct qdb_lua_model *m = qdb_lua_new_owner(L, sizeof *m, 0, QDB_LUA_MODEL, model_release);
	m->g = g;
	return m;
}

/* qdb.model(path) -> Model | nil, msg */
int qdb_lua_model_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct qdb_lua_model *m = qdb_lua_push_model(L, NULL);
	struct qdb_err err;
	if (qdb_graph_load_checked(path, &m->g, &err))
		return qdb_lua_fail(L, &err);
	return 1;
}

int qdb_lua_node_arg(lua_State *L, const struct qdb_graph *g, int idx)
{
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer i = luaL_checkinteger(L, idx);
		if (i < 1 || i > g->n_nodes)
			luaL_error(L, "node %d out of range 1..%d", (int)i, g->n_nodes);
		return (int)i - 1;
	}
	const char *name = luaL_checkstring(L, idx);
	int n = qdb_graph_find_node(g, name);
	if (n < 0) {
		const char *close[4];
		int k = qdb_graph_close_nodes(g, name, close, 4);
		luaL_Buffer b;
		luaL_buffinit(L, &b);
		for (int i = 0; i < k; i++) {
			luaL_addstring(&b, i ? ", " : " (close: ");
			luaL_addstring(&b, close[i]);
		}
		if (k)
			luaL_addchar(&b, ')');
		luaL_pushresult(&b);
		luaL_error(L, "model has no node '%s'%s", name, lua_tostring(L, -1));
	}
	return n;
}

static const char *device_name(enum qdb_device d)
{
	return d == QDB_DEV_CPU ? "cpu" : "bpu";
}

static void push_names(lua_State *L, const struct qdb_graph *g, const int *v, int n)
{
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, g->values[v[i]].name);
		lua_rawseti(L, -2, i + 1);
	}
}

static void push_shape(lua_State *L, int rank, const int64_t *shape)
{
	lua_createtable(L, rank > 0 ? rank : 0, 0);
	for (int i = 0; i < rank; i++) {
		lua_pushinteger(L, (lua_Integer)shape[i]);
		lua_rawseti(L, -2, i + 1);
	}
}

static void push_attr(lua_State *L, const struct qdb_attr *a)
{
	switch (a->kind) {
	case QDB_ATTR_INT:
		lua_pushinteger(L, (lua_Integer)a->i);
		break;
	case QDB_ATTR_FLOAT:
		lua_pushnumber(L, a->f);
		break;
	case QDB_ATTR_STR:
		lua_pushstring(L, a->s);
		break;
	case QDB_ATTR_INTS:
		lua_createtable(L, a->n, 0);
		for (int i = 0; i < a->n; i++) {
			lua_pushinteger(L, (lua_Integer)a->ints[i]);
			lua_rawseti(L, -2, i + 1);
		}
		break;
	case QDB_ATTR_FLOATS:
		lua_createtable(L, a->n, 0);
		for (int i = 0; i < a->n; i++) {
			lua_pushnumber(L, a->floats[i]);
			lua_rawseti(L, -2, i + 1);
		}
		break;
	default:
		lua_pushnil(L);
	}
}

static void push_node(lua_State *L, const struct qdb_graph *g, int n)
{
	const struct qdb_node *nd = &g->nodes[n];
	lua_createtable(L, 0, 7);
	lua_pushinteger(L, n + 1);
	lua_setfield(L, -2, "index");
	lua_pushstring(L, nd->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, nd->op_name);
	lua_setfield(L, -2, "op");
	lua_pushstring(L, device_name(nd->device));
	lua_setfield(L, -2, "device");
	push_names(L, g, nd->inputs, nd->n_inputs);
	lua_setfield(L, -2, "inputs");
	push_names(L, g, nd->outputs, nd->n_outputs);
	lua_setfield(L, -2, "outputs");
	lua_createtable(L, 0, nd->n_attrs);
	for (int i = 0; i < nd->n_attrs; i++) {
		push_attr(L, &nd->attrs[i]);
		lua_setfield(L, -2, nd->attrs[i].key);
	}
	lua_setfield(L, -2, "attrs");
}

/* m:nodes([{op=, device=}]) -> array of node tables (filtered) */
static int m_nodes(lua_State *L)
{
	static const char *const opts[] = {"op", "device", NULL};
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	qdb_lua_check_opts(L, 2, opts);
	const char *op = qdb_lua_opt_str(L, 2, "op", NULL);
	const char *dev = qdb_lua_opt_str(L, 2, "device", NULL);
	if (dev && strcmp(dev, "cpu") && strcmp(dev, "bpu"))
		return luaL_error(L, "option 'device': \"cpu\" or \"bpu\" expected, got '%s'", dev);
	lua_createtable(L, m->g->n_nodes, 0);
	int k = 0;
	for (int i = 0; i < m->g->n_nodes; i++) {
		const struct qdb_node *nd = &m->g->nodes[i];
		if (op && strcmp(op, nd->op_name))
			continue;
		if (dev && strcmp(dev, device_name(nd->device)))
			continue;
		push_node(L, m->g, i);
		lua_rawseti(L, -2, ++k);
	}
	return 1;
}

static int m_node(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	if (lua_type(L, 2) == LUA_TSTRING && qdb_graph_find_node(m->g, lua_tostring(L, 2)) < 0)
		return qdb_lua_failf(L, "model has no node '%s'", lua_tostring(L, 2));
	push_node(L, m->g, qdb_lua_node_arg(L, m->g, 2));
	return 1;
}

void qdb_lua_push_qparams(lua_State *L, const struct qdb_quant *q, enum qdb_dtype qdtype)
{
	if (q->n == 0) {
		lua_pushnil(L);
		return;
	}
	lua_createtable(L, 0, 6);
	lua_pushstring(L, qdb_dtype_name(qdtype));
	lua_setfield(L, -2, "dtype");
	if (q->n == 1) {
		lua_pushnumber(L, q->scale[0]);
		lua_setfield(L, -2, "scale");
		lua_pushinteger(L, (lua_Integer)q->zero_point[0]);
		lua_setfield(L, -2, "zero_point");
	} else {
		lua_createtable(L, q->n, 0);
		for (int i = 0; i < q->n; i++) {
			lua_pushnumber(L, q->scale[i]);
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, "scale");
		lua_createtable(L, q->n, 0);
		for (int i = 0; i < q->n; i++) {
			lua_pushinteger(L, (lua_Integer)q->zero_point[i]);
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, "zero_point");
		lua_pushinteger(L, q->axis);
		lua_setfield(L, -2, "axis");
	}
	int64_t lo, hi;
	qdb_quant_range(q, qdtype, &lo, &hi);
	lua_pushinteger(L, (lua_Integer)lo);
	lua_setfield(L, -2, "qmin");
	lua_pushinteger(L, (lua_Integer)hi);
	lua_setfield(L, -2, "qmax");
}

static int value_arg(lua_State *L, const struct qdb_graph *g, int idx)
{
	const char *name = luaL_checkstring(L, idx);
	int v = qdb_graph_find_value(g, name);
	if (v < 0)
		luaL_error(L, "model has no value '%s'", name);
	return v;
}

/* m:value(name) -> {name, dtype, shape, qparams, producer, constant, input, output} */
static int m_value(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const struct qdb_graph *g = m->g;
	const struct qdb_value *v = &g->values[value_arg(L, g, 2)];
	lua_createtable(L, 0, 8);
	lua_pushstring(L, v->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, qdb_dtype_name(v->dtype));
	lua_setfield(L, -2, "dtype");
	if (v->rank >= 0) {
		push_shape(L, v->rank, v->shape);
		lua_setfield(L, -2, "shape");
	}
	qdb_lua_push_qparams(L, &v->q, v->qdtype);
	lua_setfield(L, -2, "qparams");
	if (v->producer >= 0) {
		lua_pushstring(L, g->nodes[v->producer].name);
		lua_setfield(L, -2, "producer");
	}
	lua_pushboolean(L, v->constant >= 0);
	lua_setfield(L, -2, "constant");
	lua_pushboolean(L, v->input >= 0);
	lua_setfield(L, -2, "input");
	lua_pushboolean(L, v->is_output);
	lua_setfield(L, -2, "output");
	return 1;
}

/* m:values([{quantized=true}]) -> names in definition order */
static int m_values(lua_State *L)
{
	static const char *const opts[] = {"quantized", NULL};
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	qdb_lua_check_opts(L, 2, opts);
	int only_q = qdb_lua_opt_bool(L, 2, "quantized", 0);
	lua_newtable(L);
	int k = 0;
	for (int i = 0; i < m->g->n_values; i++) {
		if (only_q && m->g->values[i].q.n == 0)
			continue;
		lua_pushstring(L, m->g->values[i].name);
		lua_rawseti(L, -2, ++k);
	}
	return 1;
}

static int m_qparams(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const struct qdb_value *v = &m->g->values[value_arg(L, m->g, 2)];
	qdb_lua_push_qparams(L, &v->q, v->qdtype);
	return 1;
}

static int m_inputs(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const struct qdb_graph *g = m->g;
	lua_createtable(L, g->n_inputs, 0);
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		lua_createtable(L, 0, 3);
		lua_pushstring(L, v->name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, qdb_dtype_name(v->dtype));
		lua_setfield(L, -2, "dtype");
		push_shape(L, v->rank, v->shape);
		lua_setfield(L, -2, "shape");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

static int m_outputs(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	push_names(L, m->g, m->g->outputs, m->g->n_outputs);
	return 1;
}

/* m:constant(name) -> Tensor view (read-only) */
static int m_constant(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const struct qdb_value *v = &m->g->values[value_arg(L, m->g, 2)];
	if (v->constant < 0)
		return luaL_error(L, "value '%s' is not a constant", v->name);
	const struct qdb_tensor *src = &m->g->constants[v->constant].t;
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 1);
	struct qdb_err err;
	if (qdb_tensor_view(&lt->t, src->dtype, src->rank, src->shape, src->data, src->nbytes,
			    &err) ||
	    qdb_quant_copy(&lt->t.q, &src->q, &err))
		return qdb_lua_raise(L, &err);
	return 1;
}

static int m_edits(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const struct qdb_graph *g = m->g;
	lua_createtable(L, g->n_edits, 0);
	for (int i = 0; i < g->n_edits; i++) {
		const struct qdb_edit *e = &g->edits[i];
		lua_createtable(L, 0, 4);
		lua_pushstring(L, e->node);
		lua_setfield(L, -2, "node");
		lua_pushstring(L, e->field);
		lua_setfield(L, -2, "field");
		lua_pushstring(L, e->from);
		lua_setfield(L, -2, "from");
		lua_pushstring(L, e->to);
		lua_setfield(L, -2, "to");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

static int check_device(lua_State *L, const char *s)
{
	if (!strcmp(s, "cpu"))
		return QDB_DEV_CPU;
	if (!strcmp(s, "bpu"))
		return QDB_DEV_BPU;
	return luaL_error(L, "device: \"cpu\" or \"bpu\" expected, got '%s'", s);
}

/* m:device(node) -> "bpu" | "cpu"
 * m:device(node, dev) -> previous device | nil, msg: moves the node and
 * records the edit in the graph's history (saved with m:save). */
static int m_device(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	int n = qdb_lua_node_arg(L, m->g, 2);
	struct qdb_node *nd = &m->g->nodes[n];
	const char *old = device_name(nd->device);
	if (lua_isnoneornil(L, 3)) {
		lua_pushstring(L, old);
		return 1;
	}
	int dev = check_device(L, luaL_checkstring(L, 3));
	if (m->g->stage != QDB_STAGE_QUANTIZED)
		return luaL_error(L, "devices apply to quantized graphs; this one is %s",
				  qdb_stage_name(m->g->stage));
	if ((enum qdb_device)dev == nd->device) {
		lua_pushstring(L, old);
		return 1;
	}
	/* qdb_graph_edit_devices checks (bpu: the integer kernel prepares) and
	 * records the edit as `qdb edit` does */
	struct qdb_err err;
	char *names[1] = {nd->name};
	if (qdb_graph_edit_devices(m->g, dev == QDB_DEV_CPU ? names : NULL, dev == QDB_DEV_CPU,
				   dev == QDB_DEV_BPU ? names : NULL, dev == QDB_DEV_BPU, NULL, &err))
		return qdb_lua_fail(L, &err);
	m->dirty = 1;
	lua_pushstring(L, old);
	return 1;
}

/* m:set_rounding(mode) -> previous: requantization rounding of a "fixed"
 * profile graph (half_away, half_up, half_even). */
static int m_set_rounding(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const char *s = luaL_checkstring(L, 2);
	enum qdb_rounding r;
	if (qdb_rounding_parse(s, &r))
		return luaL_error(L, "rounding: half_away, half_up or half_even expected, got '%s'", s);
	const char *old = qdb_rounding_name(m->g->rounding);
	if (r != m->g->rounding) {
		struct qdb_err err;
		if (qdb_graph_add_edit(m->g, "", "rounding", old, s, &err))
			return qdb_lua_raise(L, &err);
		m->g->rounding = r;
		m->dirty = 1;
		qdb_lua_model_retire_execs(m);
	}
	lua_pushstring(L, old);
	return 1;
}

/* m:set_scale(value, scale) -> previous qparams: replaces a value's
 * quantization scale (a number for every channel, or a table per channel).
 * m:set_scale(value, {factor = f}) multiplies it instead. */
static int m_set_scale(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	struct qdb_value *v = &m->g->values[value_arg(L, m->g, 2)];
	if (v->q.n == 0)
		return luaL_error(L, "value '%s' has no qparams", v->name);
	int n = v->q.n;
	double *ns = qdb_lua_scratch(L, (size_t)n, sizeof *ns);
	if (lua_type(L, 3) == LUA_TNUMBER) {
		for (int i = 0; i < n; i++)
			ns[i] = lua_tonumber(L, 3);
	} else {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "factor");
		if (!lua_isnil(L, -1)) {
			double f = luaL_checknumber(L, -1);
			for (int i = 0; i < n; i++)
				ns[i] = v->q.scale[i] * f;
		} else {
			if ((int)lua_rawlen(L, 3) != n)
				return luaL_error(L, "value '%s' has %d scales, %d given", v->name, n,
						  (int)lua_rawlen(L, 3));
			for (int i = 0; i < n; i++) {
				lua_rawgeti(L, 3, i + 1);
				ns[i] = luaL_checknumber(L, -1);
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
	}
	for (int i = 0; i < n; i++)
		if (!(ns[i] > 0) || !isfinite(ns[i]))
			return luaL_error(L, "scale must be finite and positive");
	qdb_lua_push_qparams(L, &v->q, v->qdtype); /* returned: the previous qparams */
	char from[32], to[32];
	snprintf(from, sizeof from, "%.9g%s", v->q.scale[0], n > 1 ? ",..." : "");
	snprintf(to, sizeof to, "%.9g%s", ns[0], n > 1 ? ",..." : "");
	struct qdb_err err;
	if (qdb_graph_add_edit(m->g, v->producer >= 0 ? m->g->nodes[v->producer].name : v->name,
			       "scale", from, to, &err))
		return qdb_lua_raise(L, &err);
	memcpy(v->q.scale, ns, (size_t)n * sizeof *ns);
	m->dirty = 1;
	qdb_lua_model_retire_execs(m);
	return 1;
}

/* m:save(path) -> true | nil, msg */
static int m_save(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const char *path = luaL_checkstring(L, 2);
	struct qdb_err err;
	if (qdb_graph_save(m->g, path, &err))
		return qdb_lua_fail(L, &err);
	/* the model now is that file (compare() may use it as is) */
	char *p = qdb_strdup(path);
	if (p) {
		qdb_free(m->g->path);
		m->g->path = p;
		m->dirty = 0;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* m:clone() -> Model (independent copy: edits to one do not touch the other) */
static int m_clone(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	struct qdb_lua_model *c = qdb_lua_push_model(L, NULL);
	struct qdb_err err;
	c->g = qdb_graph_clone(m->g, &err);
	if (!c->g)
		return qdb_lua_raise(L, &err);
	return 1;
}

/* qdb.convert(model[, {profile = "torch" | "fixed", rounding = ...}])
 * -> Model (quantized, unsaved), report | nil, msg */
static int l_convert(lua_State *L)
{
	static const char *const opts[] = {"profile", "rounding", NULL};
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	qdb_lua_check_opts(L, 2, opts);
	struct qdb_convert_opts o;
	qdb_convert_opts_init(&o);
	const char *p = qdb_lua_opt_str(L, 2, "profile", NULL);
	if (p && qdb_profile_parse(p, &o.profile))
		return luaL_error(L, "option 'profile': torch or fixed expected, got '%s'", p);
	const char *r = qdb_lua_opt_str(L, 2, "rounding", NULL);
	if (r && qdb_rounding_parse(r, &o.rounding))
		return luaL_error(L, "option 'rounding': half_away, half_up or half_even expected, got '%s'", r);
	if (!r && o.profile == QDB_PROFILE_FIXED)
		o.rounding = QDB_ROUND_HALF_AWAY; /* as `qdb convert` */
	struct qdb_lua_model *out = qdb_lua_push_model(L, NULL);
	struct qdb_convert_report *rep = lua_newuserdatauv(L, sizeof *rep, 0);
	memset(rep, 0, sizeof *rep);
	struct qdb_err err;
	int rc = qdb_convert(m->g, &o, &out->g, rep, &err);
	if (rc) {
		qdb_convert_report_done(rep);
		return qdb_lua_fail(L, &err);
	}
	out->dirty = 1;
	/* the report as a table (then freed) */
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, rep->n_bpu);
	lua_setfield(L, -2, "n_bpu");
	lua_pushinteger(L, rep->n_cpu);
	lua_setfield(L, -2, "n_cpu");
	lua_pushinteger(L, (lua_Integer)rep->weights_at_limit);
	lua_setfield(L, -2, "weights_at_limit");
	lua_pushinteger(L, (lua_Integer)rep->bias_overflow);
	lua_setfield(L, -2, "bias_overflow");
	lua_pushinteger(L, rep->mult_underflow + rep->mult_overflow);
	lua_setfield(L, -2, "multiplier_issues");
	lua_createtable(L, rep->n_nodes, 0);
	for (int i = 0; i < rep->n_nodes; i++) {
		const struct qdb_convert_node *cn = &rep->nodes[i];
		lua_createtable(L, 0, 5);
		lua_pushstring(L, cn->node);
		lua_setfield(L, -2, "node");
		lua_pushstring(L, cn->op ? cn->op : "");
		lua_setfield(L, -2, "op");
		lua_pushstring(L, device_name(cn->device));
		lua_setfield(L, -2, "device");
		lua_pushinteger(L, (lua_Integer)cn->weights_at_limit);
		lua_setfield(L, -2, "weights_at_limit");
		if (cn->note) {
			lua_pushstring(L, cn->note);
			lua_setfield(L, -2, "note");
		}
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "nodes");
	qdb_convert_report_done(rep);
	lua_remove(L, -2); /* the report box */
	return 2;
}

static const char *const model_props[] = {"path", "name", "stage", "profile", "rounding",
					  "producer", "n_nodes", NULL};

static int model_getter(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	const char *k = lua_tostring(L, 2);
	if (!k || lua_type(L, 2) != LUA_TSTRING)
		return 0;
	const struct qdb_graph *g = m->g;
	if (!strcmp(k, "path")) {
		if (!g->path)
			return 0;
		lua_pushstring(L, g->path);
	} else if (!strcmp(k, "name"))
		lua_pushstring(L, g->name ? g->name : "");
	else if (!strcmp(k, "stage"))
		lua_pushstring(L, qdb_stage_name(g->stage));
	else if (!strcmp(k, "profile"))
		lua_pushstring(L, qdb_profile_name(g->profile));
	else if (!strcmp(k, "rounding"))
		lua_pushstring(L, qdb_rounding_name(g->rounding));
	else if (!strcmp(k, "producer"))
		lua_pushstring(L, g->producer ? g->producer : "");
	else if (!strcmp(k, "n_nodes"))
		lua_pushinteger(L, g->n_nodes);
	else
		return 0;
	return 1;
}

static int model_len(lua_State *L)
{
	lua_pushinteger(L, qdb_lua_check_model(L, 1)->g->n_nodes);
	return 1;
}

static int model_tostring(lua_State *L)
{
	struct qdb_lua_model *m = luaL_checkudata(L, 1, QDB_LUA_MODEL);
	if (m->own.closed || !m->g) {
		lua_pushliteral(L, "Model(closed)");
		return 1;
	}
	int cpu = 0;
	for (int i = 0; i < m->g->n_nodes; i++)
		cpu += m->g->nodes[i].device == QDB_DEV_CPU;
	lua_pushfstring(L, "Model(%s: stage %s, %d nodes", m->g->name ? m->g->name : "?",
			qdb_stage_name(m->g->stage), m->g->n_nodes);
	if (m->g->stage == QDB_STAGE_QUANTIZED)
		lua_pushfstring(L, ", %d on cpu", cpu);
	else
		lua_pushliteral(L, "");
	lua_pushfstring(L, "%s%s)", m->g->path ? ", " : "", m->g->path ? m->g->path : "");
	lua_concat(L, 3);
	return 1;
}

void qdb_lua_model_register(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{"__gc", model_gc},
		{"__close", model_gc},
		{"__len", model_len},
		{"__tostring", model_tostring},
		{NULL, NULL},
	};
	luaL_Reg methods[] = {
		{"nodes", m_nodes},
		{"node", m_node},
		{"value", m_value},
		{"values", m_values},
		{"qparams", m_qparams},
		{"inputs", m_inputs},
		{"outputs", m_outputs},
		{"constant", m_constant},
		{"edits", m_edits},
		{"device", m_device},
		{"set_rounding", m_set_rounding},
		{"set_scale", m_set_scale},
		{"save", m_save},
		{"clone", m_clone},
		{"convert", l_convert},
		{NULL, NULL},
	};
	qdb_lua_class(L, QDB_LUA_MODEL, meta, methods, model_getter, model_props);
	static const luaL_Reg funcs[] = {
		{"model", qdb_lua_model_open},
		{"convert", l_convert},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}

void qdb_lua_exec_ref(struct qdb_lua_exec *e)
{
	e->refs++;
}

void qdb_lua_exec_unref(struct qdb_lua_exec *e)
{
	if (--e->refs == 0 && e->retired) {
		qdb_exec_delete(e->x);
		qdb_free(e);
	}
}

void qdb_lua_model_retire_execs(struct qdb_lua_model *m)
{
	for (int i = 0; i < 4; i++) {
		struct qdb_lua_exec *e = m->ex[i];
		m->ex[i] = NULL;
		if (!e)
			continue;
		e->retired = 1;
		if (e->refs == 0) {
			qdb_exec_delete(e->x);
			qdb_free(e);
		}
	}
}

struct qdb_lua_exec *qdb_lua_model_exec(struct qdb_lua_model *m, int sem, struct qdb_err *err)
{
	if (sem == QDB_SEM_NATIVE)
		sem = m->g->stage == QDB_STAGE_QUANTIZED ? QDB_SEM_INTEGER
		      : m->g->stage == QDB_STAGE_QAT     ? QDB_SEM_FAKEQUANT
							 : QDB_SEM_FLOAT;
	if (sem < 0 || sem > 3)
		return NULL;
	if (m->ex[sem])
		return m->ex[sem];
	struct qdb_lua_exec *e = qdb_calloc(1, sizeof *e);
	if (!e) {
		qdb_err_set(err, QDB_ENOMEM, "out of memory");
		return NULL;
	}
	if (qdb_exec_new(m->g, (enum qdb_exec_sem)sem, &e->x, err)) {
		qdb_free(e);
		return NULL;
	}
	m->ex[sem] = e;
	return e;
}
