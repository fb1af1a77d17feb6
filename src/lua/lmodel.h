/* lmodel.h - the Model userdata, shared by model.c, run.c, compare.c and
 * sensitivity.c (internal to src/lua/).
 *
 * A Model owns its graph. The executor's prepared state for it (packed
 * weights, lookup tables) is made on the first run and dropped whenever the
 * graph is edited (device changes, qparams), so a run never sees stale
 * preparation. Runs made earlier keep their own values and stay readable.
 */
#ifndef QDB_LMODEL_H
#define QDB_LMODEL_H

#include <lua.h>

#include "graph/graph.h"
#include "lua/lqdb.h"

struct qdb_lua_model {
	struct qdb_lua_owner own; /* first: constants are viewed by tensors */
	struct qdb_graph *g;
	int dirty;                    /* edited since loaded or saved */
	void *plan;                   /* executor state, NULL until needed */
	void (*plan_free)(void *plan);
};

struct qdb_lua_model *qdb_lua_check_model(lua_State *L, int idx);
/* Pushes a new Model owning g (may be NULL, set by the caller right after). */
struct qdb_lua_model *qdb_lua_push_model(lua_State *L, struct qdb_graph *g);
void qdb_lua_model_drop_plan(struct qdb_lua_model *m);
/* Node argument: a name or a 1-based index; returns the 0-based index.
 * Unknown names and indices out of range raise. */
int qdb_lua_node_arg(lua_State *L, const struct qdb_graph *g, int idx);
int qdb_lua_model_open(lua_State *L);
/* Pushes a qparams table ({dtype, scale, zero_point, axis?, qmin, qmax}) or nil. */
void qdb_lua_push_qparams(lua_State *L, const struct qdb_quant *q, enum qdb_dtype qdtype);

#endif
