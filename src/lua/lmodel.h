/* lmodel.h - the Model userdata, shared by model.c, run.c, compare.c and
 * sensitivity.c (internal to src/lua/).
 *
 * A Model owns its graph and, per semantics, a prepared executor made on
 * first use. Device edits keep the executors (they only read devices when a
 * run starts); edits of qparams or rounding retire them, so the next run
 * prepares afresh. A retired executor lives on while runs made with it do
 * (they count references), and the Model itself is released only after its
 * last Run and constant view (struct qdb_lua_owner), so no executor or run
 * ever outlives the graph it points to.
 */
#ifndef QDB_LMODEL_H
#define QDB_LMODEL_H

#include <lua.h>

#include "graph/graph.h"
#include "lua/lqdb.h"

struct qdb_exec;

/* A prepared executor shared by the runs made with it. */
struct qdb_lua_exec {
	struct qdb_exec *x;
	int refs;        /* runs using it */
	int retired;     /* no longer the model's current one */
};

struct qdb_lua_model {
	struct qdb_lua_owner own;    /* first: tensors and runs count as views */
	struct qdb_graph *g;
	int dirty;                   /* edited since loaded or saved */
	struct qdb_lua_exec *ex[4];  /* by enum qdb_exec_sem (resolved) */
};

struct qdb_lua_model *qdb_lua_check_model(lua_State *L, int idx);
/* Pushes a new Model owning g (may be NULL, set by the caller right after). */
struct qdb_lua_model *qdb_lua_push_model(lua_State *L, struct qdb_graph *g);
/* The model's executor for semantics sem (NATIVE resolves to the stage's),
 * prepared on first use; NULL with err set when preparation fails. */
struct qdb_lua_exec *qdb_lua_model_exec(struct qdb_lua_model *m, int sem, struct qdb_err *err);
/* Retires every executor (after an edit that changes what they prepared). */
void qdb_lua_model_retire_execs(struct qdb_lua_model *m);
void qdb_lua_exec_ref(struct qdb_lua_exec *e);
void qdb_lua_exec_unref(struct qdb_lua_exec *e);
/* Node argument: a name or a 1-based index; returns the 0-based index.
 * Unknown names and indices out of range raise. */
int qdb_lua_node_arg(lua_State *L, const struct qdb_graph *g, int idx);
int qdb_lua_model_open(lua_State *L);
/* Pushes a qparams table ({dtype, scale, zero_point, axis?, qmin, qmax}) or nil. */
void qdb_lua_push_qparams(lua_State *L, const struct qdb_quant *q, enum qdb_dtype qdtype);

#endif
