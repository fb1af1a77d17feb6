/* dataset.c - the Dataset userdata (a .qds file, mmapped).
 *
 * Records are 1-based (ds[1] is the first); input tensors are read-only
 * views that keep the Dataset alive. Class labels are returned as stored
 * in the file (class numbers start at 0).
 */
#include "config.h"

#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "io/dataset.h"
#include "lua/lqdb.h"

struct ldataset {
	struct qdb_lua_owner own; /* first: tensors view the mapping */
	struct qdb_dataset *d;
};

struct qdb_dataset *qdb_lua_check_dataset(lua_State *L, int idx)
{
	struct ldataset *ld = qdb_lua_check_owner(L, idx, QDB_LUA_DATASET, "dataset");
	return ld->d;
}

static void dataset_release(struct qdb_lua_owner *o)
{
	struct ldataset *ld = (struct ldataset *)o;
	if (ld->d)
		qdb_dataset_close(ld->d);
	ld->d = NULL;
}

static int dataset_gc(lua_State *L)
{
	return qdb_lua_owner_gc(L, QDB_LUA_DATASET);
}

/* qdb.dataset(path) -> Dataset | nil, msg */
int qdb_lua_dataset_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct ldataset *ld = qdb_lua_new_owner(L, sizeof *ld, 0, QDB_LUA_DATASET, dataset_release);
	struct qdb_err err;
	if (qdb_dataset_open(path, &ld->d, &err))
		return qdb_lua_fail(L, &err);
	return 1;
}

static int64_t record_arg(lua_State *L, struct qdb_dataset *d, int idx)
{
	lua_Integer i = luaL_checkinteger(L, idx);
	if (i < 1 || i > qdb_dataset_count(d))
		luaL_error(L, "record %d out of range 1..%d", (int)i, (int)qdb_dataset_count(d));
	return (int64_t)i - 1;
}

static int input_arg(lua_State *L, struct qdb_dataset *d, int idx)
{
	if (lua_isnoneornil(L, idx))
		return 0;
	int n = qdb_dataset_n_inputs(d);
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer i = luaL_checkinteger(L, idx);
		if (i < 1 || i > n)
			luaL_error(L, "input %d out of range 1..%d", (int)i, n);
		return (int)i - 1;
	}
	const char *name = luaL_checkstring(L, idx);
	for (int i = 0; i < n; i++)
		if (!strcmp(qdb_dataset_input_info(d, i)->name, name))
			return i;
	return luaL_error(L, "dataset has no input '%s'", name);
}

static void push_input(lua_State *L, struct qdb_dataset *d, int64_t rec, int input)
{
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 1);
	struct qdb_err err;
	if (qdb_dataset_input(d, rec, input, &lt->t, &err))
		qdb_lua_raise(L, &err);
}

/* Pushes the label of record rec, or nil. */
static void push_label(lua_State *L, struct qdb_dataset *d, int64_t rec)
{
	switch (qdb_dataset_label_kind(d)) {
	case QDB_LABEL_CLASS: {
		int64_t c = qdb_dataset_label_class(d, rec);
		if (c < 0)
			lua_pushnil(L);
		else
			lua_pushinteger(L, (lua_Integer)c);
		break;
	}
	case QDB_LABEL_TENSOR: {
		struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 1);
		struct qdb_err err;
		if (qdb_dataset_label_tensor(d, rec, &lt->t, &err)) {
			lua_pop(L, 1);
			lua_pushnil(L);
		}
		break;
	}
	default:
		lua_pushnil(L);
	}
}

/* ds:get(i) -> {id=, inputs={name=Tensor}, label=} */
static int ds_get(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	int64_t rec = record_arg(L, d, 2);
	lua_createtable(L, 0, 4);
	qdb_lua_push_sample_id(L, qdb_dataset_id(d, rec));
	lua_setfield(L, -2, "id");
	lua_pushinteger(L, (lua_Integer)rec + 1);
	lua_setfield(L, -2, "index");
	int n = qdb_dataset_n_inputs(d);
	lua_createtable(L, 0, n);
	for (int i = 0; i < n; i++) {
		push_input(L, d, rec, i);
		lua_setfield(L, -2, qdb_dataset_input_info(d, i)->name);
	}
	lua_setfield(L, -2, "inputs");
	push_label(L, d, rec);
	lua_setfield(L, -2, "label");
	return 1;
}

/* ds:input(i[, name or index]) -> Tensor view */
static int ds_input(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	int64_t rec = record_arg(L, d, 2);
	int input = input_arg(L, d, 3);
	push_input(L, d, rec, input);
	return 1;
}

static int ds_label(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	push_label(L, d, record_arg(L, d, 2));
	return 1;
}

static int ds_id(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	qdb_lua_push_sample_id(L, qdb_dataset_id(d, record_arg(L, d, 2)));
	return 1;
}

static int ds_ids(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	int64_t n = qdb_dataset_count(d);
	lua_createtable(L, (int)n, 0);
	for (int64_t i = 0; i < n; i++) {
		qdb_lua_push_sample_id(L, qdb_dataset_id(d, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* ds:find(id) -> index | nil */
static int ds_find(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	struct qdb_sample_id id;
	qdb_lua_check_sample_id(L, 2, &id);
	int64_t i = qdb_dataset_find(d, &id);
	if (i < 0)
		return 0;
	lua_pushinteger(L, (lua_Integer)i + 1);
	return 1;
}

static int ds_inputs(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	int n = qdb_dataset_n_inputs(d);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		const struct qdb_dataset_input *in = qdb_dataset_input_info(d, i);
		lua_createtable(L, 0, 3);
		lua_pushstring(L, in->name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, qdb_dtype_name(in->dtype));
		lua_setfield(L, -2, "dtype");
		lua_createtable(L, in->rank, 0);
		for (int k = 0; k < in->rank; k++) {
			lua_pushinteger(L, (lua_Integer)in->shape[k]);
			lua_rawseti(L, -2, k + 1);
		}
		lua_setfield(L, -2, "shape");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* ds:write(path, indices[, name]) writes the listed records (1-based) to a
 * new dataset file. -> true | nil, msg */
static int ds_write(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	const char *path = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	const char *name = luaL_optstring(L, 4, qdb_dataset_name(d));
	int64_t count = (int64_t)lua_rawlen(L, 3);
	int64_t *recs = qdb_lua_scratch(L, (size_t)(count ? count : 1), sizeof *recs);
	for (int64_t i = 0; i < count; i++) {
		lua_rawgeti(L, 3, (lua_Integer)i + 1);
		recs[i] = record_arg(L, d, lua_gettop(L));
		lua_pop(L, 1);
	}
	struct qdb_err err;
	if (qdb_dataset_write_records(d, path, name, recs, count, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/* --- writer --- */

#define QDB_LUA_DATASET_WRITER "qdb.DatasetWriter"

struct lwriter {
	struct qdb_dataset_writer *w;
	int n_inputs;
	enum qdb_label_kind kind;
};

static struct lwriter *check_writer(lua_State *L, int idx)
{
	struct lwriter *w = luaL_checkudata(L, idx, QDB_LUA_DATASET_WRITER);
	if (!w->w)
		luaL_error(L, "dataset writer already committed or aborted");
	return w;
}

static int writer_gc(lua_State *L)
{
	struct lwriter *w = luaL_checkudata(L, 1, QDB_LUA_DATASET_WRITER);
	if (w->w)
		qdb_dataset_writer_abort(w->w);
	w->w = NULL;
	return 0;
}

static const char *const writer_opts[] = {"name", "inputs", "label", "classes", NULL};

/* qdb.dataset_writer(path, {name=, inputs={{name=, dtype=, shape=}...},
 * label="class"|"tensor"|"none", classes={...}}) -> DatasetWriter | nil, msg */
static int l_dataset_writer(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	qdb_lua_check_opts(L, 2, writer_opts);
	struct qdb_dataset_header h;
	memset(&h, 0, sizeof h);
	h.name = qdb_lua_opt_str(L, 2, "name", "dataset");
	const char *label = qdb_lua_opt_str(L, 2, "label", "class");
	if (!strcmp(label, "class"))
		h.label_kind = QDB_LABEL_CLASS;
	else if (!strcmp(label, "tensor"))
		h.label_kind = QDB_LABEL_TENSOR;
	else if (!strcmp(label, "none"))
		h.label_kind = QDB_LABEL_NONE;
	else
		return luaL_error(L, "option 'label': \"class\", \"tensor\" or \"none\" expected");
	if (lua_getfield(L, 2, "inputs") != LUA_TTABLE)
		return luaL_error(L, "dataset_writer: option 'inputs' (list of {name, dtype, shape}) is required");
	int in_idx = lua_gettop(L);
	int n = (int)lua_rawlen(L, in_idx);
	struct qdb_dataset_input *ins = qdb_lua_scratch(L, (size_t)(n ? n : 1), sizeof *ins);
	memset(ins, 0, (size_t)(n ? n : 1) * sizeof *ins);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, in_idx, i + 1);
		int e = lua_gettop(L);
		if (!lua_istable(L, e))
			return luaL_error(L, "inputs[%d]: table expected", i + 1);
		ins[i].name = (char *)qdb_lua_opt_str(L, e, "name", NULL);
		if (!ins[i].name)
			return luaL_error(L, "inputs[%d]: name missing", i + 1);
		const char *dt = qdb_lua_opt_str(L, e, "dtype", "f32");
		if (qdb_dtype_parse(dt, strlen(dt), &ins[i].dtype))
			return luaL_error(L, "inputs[%d]: unknown dtype '%s'", i + 1, dt);
		if (lua_getfield(L, e, "shape") != LUA_TTABLE)
			return luaL_error(L, "inputs[%d]: shape missing", i + 1);
		ins[i].rank = (int)lua_rawlen(L, -1);
		if (ins[i].rank > QDB_MAX_RANK)
			return luaL_error(L, "inputs[%d]: more than %d dimensions", i + 1, QDB_MAX_RANK);
		for (int k = 0; k < ins[i].rank; k++) {
			lua_rawgeti(L, -1, k + 1);
			ins[i].shape[k] = luaL_checkinteger(L, -1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
		/* the input table stays on the stack: its strings stay valid */
	}
	h.n_inputs = n;
	h.inputs = ins;
	if (lua_getfield(L, 2, "classes") == LUA_TTABLE) {
		int nc = (int)lua_rawlen(L, -1);
		const char **cl = qdb_lua_scratch(L, (size_t)(nc ? nc : 1), sizeof *cl);
		for (int c = 0; c < nc; c++) {
			lua_rawgeti(L, -2, c + 1);
			cl[c] = lua_tostring(L, -1);
			if (!cl[c])
				return luaL_error(L, "classes[%d]: string expected", c + 1);
			lua_pop(L, 1);
		}
		h.n_classes = nc;
		h.classes = cl;
	}
	struct lwriter *w = lua_newuserdatauv(L, sizeof *w, 0);
	w->w = NULL;
	w->n_inputs = n;
	w->kind = h.label_kind;
	luaL_setmetatable(L, QDB_LUA_DATASET_WRITER);
	struct qdb_err err;
	if (qdb_dataset_writer_open(path, &h, &w->w, &err))
		return qdb_lua_fail(L, &err);
	return 1;
}

/* w:add(id, inputs[, label]): inputs is a Tensor (one input) or a list of
 * Tensors in header order; label a class number or a Tensor. */
static int w_add(lua_State *L)
{
	struct lwriter *w = check_writer(L, 1);
	struct qdb_sample_id id;
	qdb_lua_check_sample_id(L, 2, &id);
	lua_settop(L, 4);
	const struct qdb_tensor **ptrs = qdb_lua_scratch(L, (size_t)w->n_inputs + 1, sizeof *ptrs);
	if (qdb_lua_test_tensor(L, 3)) {
		if (w->n_inputs != 1)
			return luaL_error(L, "add: %d inputs expected, got one tensor", w->n_inputs);
		ptrs[0] = qdb_lua_test_tensor(L, 3);
	} else {
		luaL_checktype(L, 3, LUA_TTABLE);
		if ((int)lua_rawlen(L, 3) != w->n_inputs)
			return luaL_error(L, "add: %d inputs expected, got %d", w->n_inputs,
					  (int)lua_rawlen(L, 3));
		for (int i = 0; i < w->n_inputs; i++) {
			lua_rawgeti(L, 3, i + 1);
			ptrs[i] = qdb_lua_to_tensor(L, -1); /* the tensor stays on the stack */
		}
	}
	int64_t cls = -1;
	const struct qdb_tensor *lab = NULL;
	if (!lua_isnil(L, 4)) {
		if (w->kind == QDB_LABEL_CLASS)
			cls = luaL_checkinteger(L, 4);
		else if (w->kind == QDB_LABEL_TENSOR)
			lab = qdb_lua_to_tensor(L, 4);
		else
			return luaL_error(L, "add: the dataset has no labels");
	}
	struct qdb_err err;
	if (qdb_dataset_writer_add(w->w, &id, ptrs, cls, lab, &err))
		return qdb_lua_raise(L, &err);
	return 0;
}

static int w_commit(lua_State *L)
{
	struct lwriter *w = check_writer(L, 1);
	struct qdb_dataset_writer *dw = w->w;
	w->w = NULL;
	struct qdb_err err;
	if (qdb_dataset_writer_commit(dw, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

static int w_abort(lua_State *L)
{
	struct lwriter *w = check_writer(L, 1);
	qdb_dataset_writer_abort(w->w);
	w->w = NULL;
	return 0;
}

static int writer_tostring(lua_State *L)
{
	struct lwriter *w = luaL_checkudata(L, 1, QDB_LUA_DATASET_WRITER);
	lua_pushstring(L, w->w ? "DatasetWriter(open)" : "DatasetWriter(finished)");
	return 1;
}

static const char *const dataset_props[] = {"path", "name", "count", "label_kind",
					    "classes", "n_inputs", NULL};

static int dataset_getter(lua_State *L)
{
	struct qdb_dataset *d = qdb_lua_check_dataset(L, 1);
	if (lua_type(L, 2) == LUA_TNUMBER) {
		lua_settop(L, 2);
		return ds_get(L);
	}
	const char *k = lua_tostring(L, 2);
	if (!k)
		return 0;
	if (!strcmp(k, "path"))
		lua_pushstring(L, qdb_dataset_path(d));
	else if (!strcmp(k, "name"))
		lua_pushstring(L, qdb_dataset_name(d));
	else if (!strcmp(k, "count"))
		lua_pushinteger(L, (lua_Integer)qdb_dataset_count(d));
	else if (!strcmp(k, "n_inputs"))
		lua_pushinteger(L, qdb_dataset_n_inputs(d));
	else if (!strcmp(k, "label_kind")) {
		static const char *const kinds[] = {"none", "class", "tensor"};
		lua_pushstring(L, kinds[qdb_dataset_label_kind(d)]);
	} else if (!strcmp(k, "classes")) {
		int nc = qdb_dataset_n_classes(d);
		if (nc == 0)
			return 0;
		lua_createtable(L, nc, 0);
		for (int c = 0; c < nc; c++) {
			const char *s = qdb_dataset_class_name(d, c);
			lua_pushstring(L, s ? s : "");
			lua_rawseti(L, -2, c + 1);
		}
	} else
		return 0;
	return 1;
}

static int dataset_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)qdb_dataset_count(qdb_lua_check_dataset(L, 1)));
	return 1;
}

static int dataset_tostring(lua_State *L)
{
	struct ldataset *ld = luaL_checkudata(L, 1, QDB_LUA_DATASET);
	if (ld->own.closed) {
		lua_pushliteral(L, "Dataset(closed)");
		return 1;
	}
	lua_pushfstring(L, "Dataset(%s: %s, %d records, %d inputs)", qdb_dataset_path(ld->d),
			qdb_dataset_name(ld->d), (int)qdb_dataset_count(ld->d),
			qdb_dataset_n_inputs(ld->d));
	return 1;
}

void qdb_lua_dataset_register(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{"__gc", dataset_gc},
		{"__close", dataset_gc},
		{"__len", dataset_len},
		{"__tostring", dataset_tostring},
		{NULL, NULL},
	};
	static const luaL_Reg methods[] = {
		{"get", ds_get},
		{"input", ds_input},
		{"label", ds_label},
		{"id", ds_id},
		{"ids", ds_ids},
		{"find", ds_find},
		{"inputs", ds_inputs},
		{"write", ds_write},
		{NULL, NULL},
	};
	qdb_lua_class(L, QDB_LUA_DATASET, meta, methods, dataset_getter, dataset_props);
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
	qdb_lua_class(L, QDB_LUA_DATASET_WRITER, wmeta, wmethods, NULL, NULL);
	static const luaL_Reg funcs[] = {
		{"dataset", qdb_lua_dataset_open},
		{"dataset_writer", l_dataset_writer},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}
