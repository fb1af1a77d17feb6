/* run.c - running a Model (m:run, qdb.run) and the Run userdata: every
 * value one execution produced.
 *
 * A Run never changes once made: r:rerun{cpu = ...} copies it, moves the
 * nodes and recomputes only their downstream cone into a new Run. So the
 * tensors read from a Run (read-only views that keep it alive) stay valid.
 * A Run keeps its Model (and the executor it used) alive.
 */
#include "config.h"

#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "analysis/eval.h"
#include "base/alloc.h"
#include "graph/exec.h"
#include "io/dataset.h"
#include "io/trace.h"
#include "lua/lmodel.h"
#include "lua/lqdb.h"

struct lrun {
	struct qdb_lua_owner own;   /* first: tensors view its values */
	struct qdb_run *r;
	struct qdb_lua_exec *ex;
	struct qdb_lua_model *m;    /* kept alive: user value 1 */
};

static struct lrun *check_run(lua_State *L, int idx)
{
	return qdb_lua_check_owner(L, idx, QDB_LUA_RUN, "run");
}

static void run_release(struct qdb_lua_owner *o)
{
	struct lrun *r = (struct lrun *)o;
	qdb_run_delete(r->r);
	r->r = NULL;
	if (r->ex)
		qdb_lua_exec_unref(r->ex);
	r->ex = NULL;
	if (r->m)
		qdb_lua_owner_unref(&r->m->own);
	r->m = NULL;
}

static int run_gc(lua_State *L)
{
	return qdb_lua_owner_gc(L, QDB_LUA_RUN);
}

/* Pushes an empty Run bound to the model at index midx and executor ex. */
static struct lrun *push_run(lua_State *L, int midx, struct qdb_lua_exec *ex)
{
	midx = lua_absindex(L, midx);
	struct lrun *r = qdb_lua_new_owner(L, sizeof *r, 1, QDB_LUA_RUN, run_release);
	lua_pushvalue(L, midx);
	lua_setiuservalue(L, -2, 1);
	/* not qdb_lua_check_model: a run of a closed model may be re-run
	 * (the graph lives until its last run goes) */
	r->m = luaL_checkudata(L, midx, QDB_LUA_MODEL);
	qdb_lua_owner_ref(&r->m->own);
	r->ex = ex;
	qdb_lua_exec_ref(ex);
	return r;
}

static int sem_arg(lua_State *L, const char *s)
{
	enum qdb_exec_sem sem;
	if (qdb_exec_sem_parse(s, &sem))
		return luaL_error(L, "semantics: native, float, qat or int expected, got '%s'", s);
	return (int)sem;
}

/* Applies opts.cpu / opts.bpu (lists of node names or indices). */
static void apply_devices(lua_State *L, int opts, struct lrun *r)
{
	static const char *const keys[2] = {"bpu", "cpu"};
	if (!lua_istable(L, opts))
		return;
	for (int d = 0; d < 2; d++) {
		if (lua_getfield(L, opts, keys[d]) == LUA_TNIL) {
			lua_pop(L, 1);
			continue;
		}
		int list = lua_gettop(L);
		if (lua_type(L, list) == LUA_TSTRING || lua_type(L, list) == LUA_TNUMBER) {
			lua_createtable(L, 1, 0);
			lua_pushvalue(L, list);
			lua_rawseti(L, -2, 1);
			lua_replace(L, list);
		}
		luaL_checktype(L, list, LUA_TTABLE);
		int n = (int)lua_rawlen(L, list);
		for (int i = 1; i <= n; i++) {
			lua_rawgeti(L, list, i);
			int node = qdb_lua_node_arg(L, r->m->g, lua_gettop(L));
			lua_pop(L, 1);
			struct qdb_err err;
			if (qdb_run_set_device(r->r, node, d ? QDB_DEV_CPU : QDB_DEV_BPU, &err))
				qdb_lua_raise(L, &err);
		}
		lua_pop(L, 1);
	}
}

/* Pushes a read-only view of t, a value of the run at stack index run
 * (which it keeps alive), or nil. */
static void push_view_of(lua_State *L, int run, const struct qdb_tensor *t)
{
	if (!t) {
		lua_pushnil(L);
		return;
	}
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, run);
	struct qdb_err err;
	if (qdb_tensor_view(&lt->t, t->dtype, t->rank, t->shape, t->data, t->nbytes, &err) ||
	    qdb_quant_copy(&lt->t.q, &t->q, &err))
		qdb_lua_raise(L, &err);
}

/* The per-node hook: calls a Lua function with (node name, first output
 * view, node index); a true return stops the run. Errors are caught here
 * (a longjmp must not cross the executor) and re-raised after it. */
struct hook_ctx {
	lua_State *L;
	int fn, run;     /* stack indices */
	int failed;
};

static int lua_hook(void *ctx, struct qdb_run *run, int node, const struct qdb_tensor *const *out,
		    int n_out)
{
	struct hook_ctx *h = ctx;
	lua_State *L = h->L;
	if (qdb_lua_interrupted(L))
		return 1;
	const struct qdb_graph *g = qdb_exec_graph(qdb_run_exec(run));
	if (!lua_checkstack(L, 6)) {
		h->failed = 1;
		lua_pushliteral(L, "hook: stack overflow");
		return 1;
	}
	lua_pushvalue(L, h->fn);
	lua_pushstring(L, g->nodes[node].name);
	if (n_out > 0 && out[0]) {
		struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, h->run);
		struct qdb_err err;
		if (qdb_tensor_view(&lt->t, out[0]->dtype, out[0]->rank, out[0]->shape,
				    out[0]->data, out[0]->nbytes, &err) ||
		    qdb_quant_copy(&lt->t.q, &out[0]->q, &err)) {
			lua_pop(L, 3);
			h->failed = 1;
			lua_pushstring(L, err.msg);
			return 1;
		}
	} else {
		lua_pushnil(L);
	}
	lua_pushinteger(L, node + 1);
	if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
		h->failed = 1; /* the message stays on the stack */
		return 1;
	}
	int stop = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return stop;
}

/* Runs r forward with an optional Lua hook at stack index hook (0: none).
 * Returns 0, or pushes nil, msg and returns 2 (run failures), or raises
 * (hook errors, interrupts). */
static int forward(lua_State *L, struct lrun *r, int hook, int run_idx)
{
	struct hook_ctx h = {L, hook, run_idx, 0};
	struct qdb_err err;
	int top = lua_gettop(L);
	int rc = qdb_run_forward(r->r, hook ? lua_hook : NULL, &h, &err);
	if (h.failed)
		return lua_error(L);
	lua_settop(L, top);
	if (rc == QDB_ESTOPPED) {
		qdb_lua_check_interrupt(L);
		return 0; /* stopped by the hook: the run stays partial */
	}
	if (rc)
		return qdb_lua_fail(L, &err);
	return 0;
}

static const char *const run_opts[] = {"semantics", "cpu", "bpu", "hook", NULL};

/* m:run(input[, opts]) / m:run(dataset, record[, opts]) / qdb.run(m, ...)
 * input: a Tensor (single-input models), a table {name = Tensor} or a
 * list of Tensors in input order. */
static int m_run(lua_State *L)
{
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	struct qdb_dataset *d = NULL;
	int64_t rec = 0;
	int opts = 3;
	if (luaL_testudata(L, 2, QDB_LUA_DATASET)) {
		d = qdb_lua_check_dataset(L, 2);
		lua_Integer i = luaL_checkinteger(L, 3);
		if (i < 1 || i > qdb_dataset_count(d))
			return luaL_error(L, "record %d out of range 1..%d", (int)i,
					  (int)qdb_dataset_count(d));
		rec = i - 1;
		opts = 4;
	}
	lua_settop(L, opts);
	if (!lua_isnil(L, opts))
		luaL_checktype(L, opts, LUA_TTABLE);
	qdb_lua_check_opts(L, opts, run_opts);
	int sem = sem_arg(L, qdb_lua_opt_str(L, opts, "semantics", "native"));
	int hook = 0;
	if (lua_istable(L, opts)) {
		lua_getfield(L, opts, "hook");
		if (!lua_isnil(L, -1)) {
			luaL_checktype(L, -1, LUA_TFUNCTION);
			hook = lua_gettop(L);
		} else {
			lua_pop(L, 1);
		}
	}
	const struct qdb_graph *g = m->g;
	/* inputs as tensors on the stack, in graph input order */
	int first_in = lua_gettop(L) + 1;
	if (!d) {
		if (g->n_inputs == 1 && !qdb_lua_test_tensor(L, 2) && lua_istable(L, 2) &&
		    lua_getfield(L, 2, g->values[g->inputs[0]].name) == LUA_TNIL &&
		    (lua_rawgeti(L, 2, 1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TTABLE)) {
			/* one input given as a table of numbers */
			lua_pop(L, 2);
			qdb_lua_to_tensor(L, 2);
		} else if (g->n_inputs == 1 && qdb_lua_test_tensor(L, 2)) {
			lua_settop(L, first_in - 1);
			lua_pushvalue(L, 2);
		} else {
			lua_settop(L, first_in - 1);
			luaL_checktype(L, 2, LUA_TTABLE);
			for (int i = 0; i < g->n_inputs; i++) {
				const char *name = g->values[g->inputs[i]].name;
				if (lua_getfield(L, 2, name) == LUA_TNIL) {
					lua_pop(L, 1);
					lua_rawgeti(L, 2, i + 1);
				}
				if (lua_isnil(L, -1))
					return luaL_error(L, "run: no tensor for input '%s'", name);
				qdb_lua_to_tensor(L, -1);
				lua_remove(L, -2);
			}
		}
	}
	struct qdb_err err;
	struct qdb_lua_exec *ex = qdb_lua_model_exec(m, sem, &err);
	if (!ex)
		return qdb_lua_fail(L, &err);
	struct lrun *r = push_run(L, 1, ex);
	int run_idx = lua_gettop(L);
	if (qdb_run_new(ex->x, &r->r, &err))
		return qdb_lua_fail(L, &err);
	apply_devices(L, opts, r);
	if (d) {
		int *map = qdb_lua_scratch(L, (size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *map);
		if (qdb_eval_bind_inputs(g, d, map, &err) ||
		    qdb_eval_set_inputs(r->r, d, rec, map, &err))
			return qdb_lua_fail(L, &err);
		lua_pop(L, 1);
	} else {
		for (int i = 0; i < g->n_inputs; i++)
			if (qdb_run_set_input(r->r, i, qdb_lua_check_tensor(L, first_in + i), &err))
				return qdb_lua_fail(L, &err);
	}
	int nret = forward(L, r, hook, run_idx);
	if (nret)
		return nret;
	lua_settop(L, run_idx);
	return 1;
}

/* r:rerun(opts) -> a new Run: this one's values, the given devices, and
 * only the changed nodes' downstream cones recomputed. */
static int r_rerun(lua_State *L)
{
	static const char *const opts[] = {"cpu", "bpu", "hook", NULL};
	struct lrun *src = check_run(L, 1);
	lua_settop(L, 2);
	qdb_lua_check_opts(L, 2, opts);
	int hook = 0;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "hook");
		if (!lua_isnil(L, -1)) {
			luaL_checktype(L, -1, LUA_TFUNCTION);
			hook = lua_gettop(L);
		} else {
			lua_pop(L, 1);
		}
	}
	lua_getiuservalue(L, 1, 1); /* the model */
	struct lrun *r = push_run(L, -1, src->ex);
	int run_idx = lua_gettop(L);
	struct qdb_err err;
	if (qdb_run_new(src->ex->x, &r->r, &err) || qdb_run_copy(r->r, src->r, &err))
		return qdb_lua_fail(L, &err);
	apply_devices(L, 2, r);
	int nret = forward(L, r, hook, run_idx);
	if (nret)
		return nret;
	lua_settop(L, run_idx);
	return 1;
}

/* Pushes a view of tensor t (owned by the run at index 1) or nil. */
#define push_view(L, t) push_view_of(L, 1, t)
static const struct qdb_graph *run_graph(struct lrun *r)
{
	return qdb_exec_graph(qdb_run_exec(r->r));
}

/* r:value(name) -> Tensor | nil (not computed) */
static int r_value(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const struct qdb_graph *g = run_graph(r);
	const char *name = luaL_checkstring(L, 2);
	int v = qdb_graph_find_value(g, name);
	if (v < 0)
		return luaL_error(L, "model has no value '%s'", name);
	push_view(L, qdb_run_value(r->r, v));
	return 1;
}

/* r:layer(node) -> the node's first output */
static int r_layer(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const struct qdb_graph *g = run_graph(r);
	int n = qdb_lua_node_arg(L, g, 2);
	push_view(L, g->nodes[n].n_outputs ? qdb_run_value(r->r, g->nodes[n].outputs[0]) : NULL);
	return 1;
}

static int output_arg(lua_State *L, const struct qdb_graph *g, int idx)
{
	if (lua_isnoneornil(L, idx))
		return 0;
	if (lua_type(L, idx) == LUA_TSTRING) {
		const char *name = lua_tostring(L, idx);
		for (int i = 0; i < g->n_outputs; i++)
			if (!strcmp(g->values[g->outputs[i]].name, name))
				return i;
		return luaL_error(L, "model has no output '%s'", name);
	}
	lua_Integer i = luaL_checkinteger(L, idx);
	if (i < 1 || i > g->n_outputs)
		luaL_error(L, "output %d out of range 1..%d", (int)i, g->n_outputs);
	return (int)i - 1;
}

/* r:output([i or name]) -> Tensor */
static int r_output(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	push_view(L, qdb_run_output(r->r, output_arg(L, run_graph(r), 2)));
	return 1;
}

static int r_outputs(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const struct qdb_graph *g = run_graph(r);
	lua_createtable(L, g->n_outputs, 0);
	for (int i = 0; i < g->n_outputs; i++) {
		push_view(L, qdb_run_output(r->r, i));
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* r:top1([output]) -> class (0-based, as dataset labels) */
static int r_top1(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const struct qdb_tensor *t = qdb_run_output(r->r, output_arg(L, run_graph(r), 2));
	if (!t)
		return 0;
	lua_pushinteger(L, (lua_Integer)qdb_eval_top1(t));
	return 1;
}

static int r_device(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	int n = qdb_lua_node_arg(L, run_graph(r), 2);
	lua_pushstring(L, qdb_run_device(r->r, n) == QDB_DEV_CPU ? "cpu" : "bpu");
	return 1;
}

/* r:layers() -> {{name, op, device, done}} in execution order */
static int r_layers(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const struct qdb_graph *g = run_graph(r);
	lua_createtable(L, g->n_nodes, 0);
	for (int n = 0; n < g->n_nodes; n++) {
		lua_createtable(L, 0, 5);
		lua_pushinteger(L, n + 1);
		lua_setfield(L, -2, "index");
		lua_pushstring(L, g->nodes[n].name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, g->nodes[n].op_name);
		lua_setfield(L, -2, "op");
		lua_pushstring(L, qdb_run_device(r->r, n) == QDB_DEV_CPU ? "cpu" : "bpu");
		lua_setfield(L, -2, "device");
		lua_pushboolean(L, qdb_run_node_done(r->r, n));
		lua_setfield(L, -2, "done");
		lua_rawseti(L, -2, n + 1);
	}
	return 1;
}

/* r:eval_node(node, inputs) -> outputs: the node alone on given inputs
 * (a list in the node's input order; nil entries take the run's values),
 * as the isolated comparison does. */
static int r_eval_node(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const struct qdb_graph *g = run_graph(r);
	int n = qdb_lua_node_arg(L, g, 2);
	const struct qdb_node *nd = &g->nodes[n];
	lua_settop(L, 3);
	if (!lua_isnil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	const struct qdb_tensor **in = qdb_lua_scratch(L, (size_t)nd->n_inputs + 1, sizeof *in);
	for (int i = 0; i < nd->n_inputs; i++) {
		in[i] = NULL;
		if (lua_istable(L, 3) && lua_rawgeti(L, 3, i + 1) != LUA_TNIL)
			in[i] = qdb_lua_to_tensor(L, -1); /* stays on the stack */
		else if (lua_istable(L, 3))
			lua_pop(L, 1);
	}
	struct qdb_tensor **out = qdb_lua_scratch(L, (size_t)nd->n_outputs + 1, sizeof *out);
	for (int i = 0; i < nd->n_outputs; i++) {
		struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 0);
		out[i] = &lt->t;
	}
	struct qdb_err err;
	if (qdb_run_eval_node(r->r, n, in, out, &err))
		return qdb_lua_fail(L, &err);
	return nd->n_outputs; /* the output tensors, on top */
}

/* r:trace(writer, sample) -> adds every computed layer output (node name
 * = layer) to a TraceWriter. */
static int r_trace(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const struct qdb_graph *g = run_graph(r);
	luaL_checkudata(L, 2, "qdb.TraceWriter");
	luaL_checkany(L, 3);
	for (int n = 0; n < g->n_nodes; n++) {
		if (!g->nodes[n].n_outputs)
			continue;
		const struct qdb_tensor *t = qdb_run_value(r->r, g->nodes[n].outputs[0]);
		if (!t)
			continue;
		lua_getfield(L, 2, "add");
		lua_pushvalue(L, 2);
		lua_pushvalue(L, 3);
		lua_pushstring(L, g->nodes[n].name);
		push_view(L, t);
		lua_call(L, 4, 0);
	}
	return 0;
}

static const char *const run_props[] = {"model", "semantics", "complete", NULL};

static int run_getter(lua_State *L)
{
	struct lrun *r = check_run(L, 1);
	const char *k = lua_tostring(L, 2);
	if (!k || lua_type(L, 2) != LUA_TSTRING)
		return 0;
	if (!strcmp(k, "model"))
		lua_getiuservalue(L, 1, 1);
	else if (!strcmp(k, "semantics"))
		lua_pushstring(L, qdb_exec_sem_name(qdb_exec_semantics(r->ex->x)));
	else if (!strcmp(k, "complete"))
		lua_pushboolean(L, qdb_run_next(r->r) < 0);
	else {
		/* r.name: a value by name */
		const struct qdb_graph *g = run_graph(r);
		int v = qdb_graph_find_value(g, k);
		if (v < 0)
			return 0;
		push_view(L, qdb_run_value(r->r, v));
	}
	return 1;
}

static int run_tostring(lua_State *L)
{
	struct lrun *r = luaL_checkudata(L, 1, QDB_LUA_RUN);
	if (r->own.closed || !r->r) {
		lua_pushliteral(L, "Run(closed)");
		return 1;
	}
	const struct qdb_graph *g = run_graph(r);
	int cpu = 0, done = 0;
	for (int n = 0; n < g->n_nodes; n++) {
		cpu += qdb_run_device(r->r, n) == QDB_DEV_CPU;
		done += qdb_run_node_done(r->r, n);
	}
	lua_pushfstring(L, "Run(%s, %s: %d/%d nodes done, %d on cpu)", g->name ? g->name : "?",
			qdb_exec_sem_name(qdb_exec_semantics(r->ex->x)), done, g->n_nodes, cpu);
	return 1;
}

/* ---- qdb.eval, qdb.badcases ---- */

struct lprogress {
	lua_State *L;
	int fn;          /* stack index of a Lua function, 0 if none */
	int failed;      /* the function raised: its message is on the stack */
};

/* Progress for C loops: polls the interrupt, calls the Lua function
 * (protected; a true return or an error stops). */
static int progress_cb(void *user, int64_t done, int64_t total)
{
	struct lprogress *p = user;
	if (qdb_lua_interrupted(p->L))
		return 1;
	if (!p->fn)
		return 0;
	lua_pushvalue(p->L, p->fn);
	lua_pushinteger(p->L, (lua_Integer)done);
	lua_pushinteger(p->L, (lua_Integer)total);
	if (lua_pcall(p->L, 2, 1, 0) != LUA_OK) {
		p->failed = 1;
		return 1;
	}
	int stop = lua_toboolean(p->L, -1);
	lua_pop(p->L, 1);
	return stop;
}

/* After a C loop returned QDB_ESTOPPED: re-raise the progress function's
 * error, or "interrupted", or report the stop. */
static int stopped(lua_State *L, struct lprogress *p, const char *what)
{
	if (p->failed)
		return lua_error(L);
	qdb_lua_check_interrupt(L);
	return luaL_error(L, "%s: stopped by the progress function", what);
}

/* Fills an eval source from a Model or Trace at idx and per-side options
 * at opts (semantics, cpu, bpu, output, layer). Scratch arrays and the
 * executor reference live on the stack / in the model. */
static void eval_source(lua_State *L, int idx, int opts, struct qdb_eval_src *src)
{
	static const char *const allowed[] = {"semantics", "cpu", "bpu", "output", "layer", NULL};
	qdb_lua_check_opts(L, opts, allowed);
	qdb_eval_src_init(src);
	if (luaL_testudata(L, idx, QDB_LUA_TRACE)) {
		src->t = qdb_lua_check_trace(L, idx);
		if (lua_istable(L, opts)) {
			lua_getfield(L, opts, "layer");
			if (lua_type(L, -1) == LUA_TNUMBER) {
				lua_Integer l = lua_tointeger(L, -1);
				if (l < 1 || l > qdb_trace_n_layers(src->t))
					luaL_error(L, "layer %d out of range", (int)l);
				src->layer = (int)l - 1;
			} else if (lua_type(L, -1) == LUA_TSTRING) {
				src->layer = qdb_trace_find_layer(src->t, lua_tostring(L, -1));
				if (src->layer < 0)
					luaL_error(L, "trace has no layer '%s'", lua_tostring(L, -1));
			}
			lua_pop(L, 1);
		}
		return;
	}
	struct qdb_lua_model *m = luaL_testudata(L, idx, QDB_LUA_MODEL);
	if (!m)
		luaL_typeerror(L, idx, "Model or Trace");
	qdb_lua_check_model(L, idx);
	int sem = sem_arg(L, qdb_lua_opt_str(L, opts, "semantics", "native"));
	struct qdb_err err;
	struct qdb_lua_exec *ex = qdb_lua_model_exec(m, sem, &err);
	if (!ex)
		qdb_lua_raise(L, &err);
	src->x = ex->x;
	if (lua_istable(L, opts)) {
		lua_getfield(L, opts, "output");
		if (!lua_isnil(L, -1))
			src->output = output_arg(L, m->g, lua_gettop(L));
		lua_pop(L, 1);
	}
	int n = 0, cap = m->g->n_nodes;
	int *nodes = qdb_lua_scratch(L, (size_t)(cap ? cap : 1), sizeof *nodes);
	enum qdb_device *devs = qdb_lua_scratch(L, (size_t)(cap ? cap : 1), sizeof *devs);
	for (int d = 0; d < 2 && lua_istable(L, opts); d++) {
		lua_getfield(L, opts, d ? "cpu" : "bpu");
		if (lua_type(L, -1) == LUA_TSTRING) {
			lua_createtable(L, 1, 0);
			lua_insert(L, -2);
			lua_rawseti(L, -2, 1);
		}
		if (lua_istable(L, -1)) {
			int len = (int)lua_rawlen(L, -1);
			for (int i = 1; i <= len; i++) {
				lua_rawgeti(L, -1, i);
				int node = qdb_lua_node_arg(L, m->g, lua_gettop(L));
				lua_pop(L, 1);
				if (n == cap)
					luaL_error(L, "a node is listed twice");
				nodes[n] = node;
				devs[n++] = d ? QDB_DEV_CPU : QDB_DEV_BPU;
			}
		} else if (!lua_isnil(L, -1)) {
			luaL_error(L, "option '%s': list of nodes expected", d ? "cpu" : "bpu");
		}
		lua_pop(L, 1);
	}
	src->dev_nodes = nodes;
	src->devs = devs;
	src->n_dev = n;
	/* the two scratch blocks stay on the stack for the caller */
}

/* Reads opts.records (1-based list) into a scratch array; NULL = all. */
static const int64_t *records_opt(lua_State *L, int opts, int64_t *n)
{
	*n = -1;
	if (!lua_istable(L, opts) || lua_getfield(L, opts, "records") == LUA_TNIL) {
		if (lua_istable(L, opts))
			lua_pop(L, 1);
		return NULL;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	int64_t len = (int64_t)lua_rawlen(L, -1);
	int64_t *v = qdb_lua_scratch(L, (size_t)(len ? len : 1), sizeof *v);
	for (int64_t i = 0; i < len; i++) {
		lua_rawgeti(L, -2, (lua_Integer)i + 1);
		v[i] = (int64_t)luaL_checkinteger(L, -1) - 1;
		lua_pop(L, 1);
	}
	lua_remove(L, -2); /* the list; the scratch block stays */
	*n = len;
	return v;
}

static void push_eval(lua_State *L, const struct qdb_eval *e, int outputs)
{
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, (lua_Integer)e->n);
	lua_setfield(L, -2, "n");
	lua_pushinteger(L, (lua_Integer)e->n_labeled);
	lua_setfield(L, -2, "n_labeled");
	lua_pushinteger(L, (lua_Integer)e->correct);
	lua_setfield(L, -2, "correct");
	if (e->n_labeled) {
		lua_pushnumber(L, e->accuracy);
		lua_setfield(L, -2, "accuracy");
	}
	const char *keys[3] = {"records", "predictions", "labels"};
	const int64_t *arrs[3] = {e->record, e->pred, e->label};
	for (int k = 0; k < 3; k++) {
		lua_createtable(L, (int)e->n, 0);
		for (int64_t i = 0; i < e->n; i++) {
			lua_pushinteger(L, (lua_Integer)(arrs[k][i] + (k == 0)));
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, -2, keys[k]);
	}
	if (outputs) {
		lua_createtable(L, (int)e->n, 0);
		for (int64_t i = 0; i < e->n; i++) {
			qdb_lua_push_tensor_copy(L, &e->out[i]);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, -2, "outputs");
	}
}

/* A struct qdb_eval owned by a userdata (its __gc frees it), so a Lua
 * error cannot leak the outputs. */
static int eval_box_gc(lua_State *L)
{
	qdb_eval_done(lua_touserdata(L, 1));
	return 0;
}

static struct qdb_eval *eval_box(lua_State *L)
{
	struct qdb_eval *e = lua_newuserdatauv(L, sizeof *e, 0);
	qdb_eval_init(e);
	if (luaL_newmetatable(L, "qdb.eval_box")) {
		lua_pushcfunction(L, eval_box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return e;
}

/* qdb.eval(model_or_trace, dataset[, opts]) -> {n, correct, accuracy,
 * predictions, labels, records[, outputs]} | nil, msg */
static int l_eval(lua_State *L)
{
	static const char *const allowed[] = {"semantics", "cpu", "bpu", "output", "layer",
					      "records", "threads", "progress", "outputs", NULL};
	lua_settop(L, 3);
	qdb_lua_check_opts(L, 3, allowed);
	struct qdb_dataset *d = lua_isnil(L, 2) ? NULL : qdb_lua_check_dataset(L, 2);
	/* per-source options are the same table; check only its own keys */
	lua_newtable(L);
	int side = lua_gettop(L);
	static const char *const src_keys[] = {"semantics", "cpu", "bpu", "output", "layer"};
	for (int i = 0; i < 5 && lua_istable(L, 3); i++) {
		lua_getfield(L, 3, src_keys[i]);
		lua_setfield(L, side, src_keys[i]);
	}
	struct qdb_eval_src src;
	eval_source(L, 1, side, &src);
	if (src.x && !d)
		return luaL_error(L, "eval: a model needs a dataset");
	struct qdb_eval_opts o;
	qdb_eval_opts_init(&o);
	o.records = records_opt(L, 3, &o.n_records);
	o.threads = (int)qdb_lua_opt_int(L, 3, "threads", 0);
	struct lprogress p = {L, 0, 0};
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "progress");
		if (!lua_isnil(L, -1)) {
			luaL_checktype(L, -1, LUA_TFUNCTION);
			p.fn = lua_gettop(L);
		}
	}
	o.progress = progress_cb;
	o.user = &p;
	struct qdb_eval *e = eval_box(L);
	struct qdb_err err;
	int rc = qdb_eval_run(&src, d, &o, e, &err);
	if (rc == QDB_ESTOPPED)
		return stopped(L, &p, "eval");
	if (rc)
		return qdb_lua_fail(L, &err);
	push_eval(L, e, qdb_lua_opt_bool(L, 3, "outputs", 0));
	return 1;
}

/* qdb.badcases(a, b, dataset[, {a = {...}, b = {...}, by = "top1" |
 * "cosine", min_cosine = 0.99, records, threads, progress, write = path}])
 * -> list of {record, id, pred_a, pred_b, label, cosine}, summary */
static int l_badcases(lua_State *L)
{
	static const char *const allowed[] = {"a", "b", "by", "min_cosine", "records", "threads",
					      "progress", "write", NULL};
	lua_settop(L, 4);
	qdb_lua_check_opts(L, 4, allowed);
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 3);
	const char *by = qdb_lua_opt_str(L, 4, "by", "top1");
	int by_top1 = 0;
	double min_cos = -3;
	if (!strcmp(by, "top1"))
		by_top1 = 1;
	else if (!strcmp(by, "cosine"))
		min_cos = qdb_lua_opt_num(L, 4, "min_cosine", 0.99);
	else if (!strcmp(by, "both")) {
		by_top1 = 1;
		min_cos = qdb_lua_opt_num(L, 4, "min_cosine", 0.99);
	} else
		return luaL_error(L, "option 'by': \"top1\", \"cosine\" or \"both\" expected");
	struct qdb_eval_src src[2];
	for (int k = 0; k < 2; k++) {
		if (lua_istable(L, 4))
			lua_getfield(L, 4, k ? "b" : "a");
		else
			lua_pushnil(L);
		eval_source(L, 1 + k, lua_gettop(L), &src[k]);
	}
	struct qdb_eval_opts o;
	qdb_eval_opts_init(&o);
	o.records = records_opt(L, 4, &o.n_records);
	o.threads = (int)qdb_lua_opt_int(L, 4, "threads", 0);
	struct lprogress p = {L, 0, 0};
	if (lua_istable(L, 4)) {
		lua_getfield(L, 4, "progress");
		if (!lua_isnil(L, -1)) {
			luaL_checktype(L, -1, LUA_TFUNCTION);
			p.fn = lua_gettop(L);
		}
	}
	o.progress = progress_cb;
	o.user = &p;
	struct qdb_eval *e[2];
	struct qdb_err err;
	for (int k = 0; k < 2; k++) {
		e[k] = eval_box(L);
		int rc = qdb_eval_run(&src[k], d, &o, e[k], &err);
		if (rc == QDB_ESTOPPED)
			return stopped(L, &p, "badcases");
		if (rc)
			return qdb_lua_fail(L, &err);
	}
	struct qdb_badcase *bc;
	int64_t n;
	if (qdb_eval_badcases(e[0], e[1], by_top1, min_cos, &bc, &n, &err))
		return qdb_lua_fail(L, &err);
	/* into a scratch block first: building the tables below may raise */
	struct qdb_badcase *keep = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *keep, 0);
	memcpy(keep, bc, (size_t)n * sizeof *bc);
	qdb_free(bc);
	lua_createtable(L, (int)n, 0);
	for (int64_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 6);
		lua_pushinteger(L, (lua_Integer)keep[i].record + 1);
		lua_setfield(L, -2, "record");
		qdb_lua_push_sample_id(L, qdb_dataset_id(d, keep[i].record));
		lua_setfield(L, -2, "id");
		lua_pushinteger(L, (lua_Integer)keep[i].pred_a);
		lua_setfield(L, -2, "pred_a");
		lua_pushinteger(L, (lua_Integer)keep[i].pred_b);
		lua_setfield(L, -2, "pred_b");
		if (keep[i].label >= 0) {
			lua_pushinteger(L, (lua_Integer)keep[i].label);
			lua_setfield(L, -2, "label");
		}
		lua_pushnumber(L, keep[i].cosine);
		lua_setfield(L, -2, "cosine");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	int list = lua_gettop(L);
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, (lua_Integer)e[0]->n);
	lua_setfield(L, -2, "n");
	lua_pushinteger(L, (lua_Integer)n);
	lua_setfield(L, -2, "bad");
	if (e[0]->n_labeled) {
		lua_pushnumber(L, e[0]->accuracy);
		lua_setfield(L, -2, "accuracy_a");
	}
	if (e[1]->n_labeled) {
		lua_pushnumber(L, e[1]->accuracy);
		lua_setfield(L, -2, "accuracy_b");
	}
	int64_t agree = 0;
	for (int64_t i = 0; i < e[0]->n; i++)
		agree += e[0]->pred[i] == e[1]->pred[i];
	lua_pushnumber(L, e[0]->n ? (double)agree / (double)e[0]->n : 1.0);
	lua_setfield(L, -2, "agreement");
	const char *write = qdb_lua_opt_str(L, 4, "write", NULL);
	if (write) {
		/* ds:write(path, records) */
		lua_getfield(L, 3, "write");
		lua_pushvalue(L, 3);
		lua_pushstring(L, write);
		lua_createtable(L, (int)n, 0);
		for (int64_t i = 0; i < n; i++) {
			lua_pushinteger(L, (lua_Integer)keep[i].record + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_call(L, 3, 2);
		if (lua_isnil(L, -2))
			return 2; /* nil, msg from ds:write */
		lua_pop(L, 2);
		lua_pushstring(L, write);
		lua_setfield(L, -2, "written");
	}
	lua_pushvalue(L, list);
	lua_insert(L, -2);
	return 2;
}

static int l_run(lua_State *L)
{
	qdb_lua_check_model(L, 1);
	return m_run(L);
}

void qdb_lua_run_register(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{"__gc", run_gc},
		{"__close", run_gc},
		{"__tostring", run_tostring},
		{NULL, NULL},
	};
	static const luaL_Reg methods[] = {
		{"value", r_value},
		{"layer", r_layer},
		{"output", r_output},
		{"outputs", r_outputs},
		{"top1", r_top1},
		{"device", r_device},
		{"layers", r_layers},
		{"rerun", r_rerun},
		{"eval_node", r_eval_node},
		{"trace", r_trace},
		{NULL, NULL},
	};
	qdb_lua_class(L, QDB_LUA_RUN, meta, methods, run_getter, run_props);
	static const luaL_Reg mmethods[] = {
		{"run", m_run},
		{NULL, NULL},
	};
	qdb_lua_add_methods(L, QDB_LUA_MODEL, mmethods);
	static const luaL_Reg funcs[] = {
		{"run", l_run},
		{"eval", l_eval},
		{"badcases", l_badcases},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}
