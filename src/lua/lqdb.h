/* lqdb.h - internals shared by the files of the qdb Lua module (src/lua/).
 *
 * Conventions every binding follows:
 *  - A userdata is created empty with its metatable set before the resource
 *    is acquired, so a failed acquisition leaves a consistent object that
 *    __gc can release (as liolib.c does).
 *  - No C function raises while it holds memory that only a C local points
 *    to: temporaries live in userdata (qdb_lua_scratch) or are freed first.
 *  - A view keeps its parent alive through user value 1.
 */
#ifndef QDB_LQDB_H
#define QDB_LQDB_H

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "base/err.h"
#include "tensor/tensor.h"

#define QDB_LUA_TENSOR "qdb.Tensor"
#define QDB_LUA_MODEL "qdb.Model"
#define QDB_LUA_TRACE "qdb.Trace"
#define QDB_LUA_DATASET "qdb.Dataset"
#define QDB_LUA_RUN "qdb.Run"
#define QDB_LUA_COMPARISON "qdb.Comparison"

/* Every userdata that tensors can be views into starts with this. Its
 * __gc and __close call qdb_lua_owner_close: the object is marked closed
 * (methods refuse it from then on) and its resource released at once if no
 * view is alive, otherwise when the last view is collected. So an explicit
 * close (`local tr <close> = ...`) never pulls memory from under a view. */
struct qdb_lua_owner {
	int views;
	int closed;
	void (*release)(struct qdb_lua_owner *o);
};
void qdb_lua_owner_close(struct qdb_lua_owner *o);
/* A view (tensor, run) starts / stops depending on its owner. */
void qdb_lua_owner_ref(struct qdb_lua_owner *o);
void qdb_lua_owner_unref(struct qdb_lua_owner *o);
/* Pushes a new userdata of `size` bytes (zeroed, `nuv` user values) whose
 * struct starts with a struct qdb_lua_owner using `release`, with the
 * metatable `tname` already set; returns it. */
void *qdb_lua_new_owner(lua_State *L, size_t size, int nuv, const char *tname,
			void (*release)(struct qdb_lua_owner *o));
/* The userdata of class `tname` at idx; raises "<what> is closed" once it
 * has been closed. */
void *qdb_lua_check_owner(lua_State *L, int idx, const char *tname, const char *what);
/* Body of the __gc / __close of an owner class: closes argument 1. */
int qdb_lua_owner_gc(lua_State *L, const char *tname);

/* Tensor userdata. `readonly` views (mmapped files, a model's constants)
 * refuse t:set(). `owner` is the parent of a view (also held in user value
 * 1 so the collector keeps it), NULL for an owned tensor. */
struct qdb_lua_tensor {
	struct qdb_tensor t;
	int readonly;
	int closed;
	struct qdb_lua_owner *owner;
};

/* Registers a class: metatable `name` with __name, the given metamethods,
 * and an __index that looks up `methods` first and then calls `getter`
 * (may be NULL) as getter(self, key) for properties and numeric keys. The
 * metatable also keeps the methods table in __methods and the property
 * names (`props`, NULL-terminated, may be NULL) in __props, which the REPL's
 * completion lists. */
void qdb_lua_class(lua_State *L, const char *name, const luaL_Reg *meta,
		   const luaL_Reg *methods, lua_CFunction getter,
		   const char *const *props);

/* Adds methods to an existing class (files that extend Model, say). */
void qdb_lua_add_methods(lua_State *L, const char *name, const luaL_Reg *methods);

/* Returns nil, msg (2 results) for an expected failure. */
int qdb_lua_fail(lua_State *L, const struct qdb_err *err);
int qdb_lua_failf(lua_State *L, const char *fmt, ...);
/* Raises err's message as a Lua error (misuse, or an internal failure). */
int qdb_lua_raise(lua_State *L, const struct qdb_err *err);

/* Tensors. new_tensor pushes an empty tensor userdata (initialised, owns
 * nothing); when parent != 0 the userdata at that index (which must start
 * with a struct qdb_lua_owner) becomes its parent and the tensor is
 * read-only. */
struct qdb_lua_tensor *qdb_lua_new_tensor(lua_State *L, int parent);
struct qdb_tensor *qdb_lua_check_tensor(lua_State *L, int idx);
struct qdb_tensor *qdb_lua_test_tensor(lua_State *L, int idx);
/* Pushes a deep copy of t (owned). Raises on allocation failure. */
void qdb_lua_push_tensor_copy(lua_State *L, const struct qdb_tensor *t);
/* Converts the Lua value at idx into a tensor: a Tensor (returned as is) or
 * a table of numbers (nested = shape), made into an f32 tensor held by a
 * new userdata pushed on the stack. Always pushes exactly one value. */
struct qdb_tensor *qdb_lua_to_tensor(lua_State *L, int idx);

/* Pushes a table of a tensor's statistics / two tensors' metrics. */
void qdb_lua_push_stats(lua_State *L, const struct qdb_tensor *t);
struct qdb_metrics;
void qdb_lua_push_metrics(lua_State *L, const struct qdb_metrics *m);

/* Sample ids: pushes an integer or a string. */
struct qdb_sample_id;
void qdb_lua_push_sample_id(lua_State *L, const struct qdb_sample_id *id);
/* Reads an integer or string id at idx (string not copied: valid while the
 * Lua value is on the stack). */
void qdb_lua_check_sample_id(lua_State *L, int idx, struct qdb_sample_id *id);

/* Other types' accessors and constructors (qdb.load dispatches to them). */
struct qdb_trace;
struct qdb_dataset;
struct qdb_trace *qdb_lua_check_trace(lua_State *L, int idx);
struct qdb_dataset *qdb_lua_check_dataset(lua_State *L, int idx);
int qdb_lua_trace_open(lua_State *L);
int qdb_lua_dataset_open(lua_State *L);
int qdb_lua_npy_open(lua_State *L);

/* Scratch memory owned by a userdata pushed on the stack (freed by the GC,
 * so a later error cannot leak it). Raises on overflow. */
void *qdb_lua_scratch(lua_State *L, size_t count, size_t size);

/* Set field k of the table on top of the stack to a number, an integer
 * or a string. */
void qdb_lua_set_num(lua_State *L, const char *k, double v);
void qdb_lua_set_int(lua_State *L, const char *k, int64_t v);
void qdb_lua_set_str(lua_State *L, const char *k, const char *v);

/* Reads optional fields of an options table at idx (absent -> def). */
lua_Integer qdb_lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def);
lua_Number qdb_lua_opt_num(lua_State *L, int idx, const char *key, lua_Number def);
const char *qdb_lua_opt_str(lua_State *L, int idx, const char *key, const char *def);
int qdb_lua_opt_bool(lua_State *L, int idx, const char *key, int def);
/* Raises if the table at idx (if a table) has a key outside `allowed`
 * (NULL-terminated): catches typos such as {mdoe="isolated"}. */
void qdb_lua_check_opts(lua_State *L, int idx, const char *const *allowed);

/* Polls the interrupt flag (qdb_lua_set_interrupt); raises "interrupted"
 * when it is set, after resetting it. */
void qdb_lua_check_interrupt(lua_State *L);
/* Non-raising form for C callbacks: 1 if interrupted (flag left set). */
int qdb_lua_interrupted(lua_State *L);

/* Per-type registration: creates the metatable and adds the type's module
 * functions to the table on top of the stack. */
void qdb_lua_tensor_register(lua_State *L);
void qdb_lua_model_register(lua_State *L);
void qdb_lua_trace_register(lua_State *L);
void qdb_lua_dataset_register(lua_State *L);
void qdb_lua_run_register(lua_State *L);
void qdb_lua_compare_register(lua_State *L);
void qdb_lua_advisor_register(lua_State *L);
void qdb_lua_sensitivity_register(lua_State *L);

#endif
