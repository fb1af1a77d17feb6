/* tensor.c - the Tensor userdata: element access, slices, tables, .npy,
 * statistics, histograms and metrics.
 *
 * Element and channel indices are 1-based (Lua's convention); axes are
 * 0-based and may be negative, as in the file format and numpy. Values read
 * through t[i], t:get() and t:totable() are dequantized (real); t:raw()
 * gives the stored number.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "base/alloc.h"
#include "io/npy.h"
#include "lua/lqdb.h"
#include "tensor/metrics.h"
#include "tensor/stats.h"

void qdb_lua_owner_close(struct qdb_lua_owner *o)
{
	o->closed = 1;
	if (o->views == 0 && o->release) {
		o->release(o);
		o->release = NULL;
	}
}

void qdb_lua_owner_ref(struct qdb_lua_owner *o)
{
	o->views++;
}

void qdb_lua_owner_unref(struct qdb_lua_owner *o)
{
	if (--o->views == 0 && o->closed)
		qdb_lua_owner_close(o);
}

void *qdb_lua_new_owner(lua_State *L, size_t size, int nuv, const char *tname,
			void (*release)(struct qdb_lua_owner *o))
{
	struct qdb_lua_owner *o = lua_newuserdatauv(L, size, nuv);
	memset(o, 0, size);
	o->release = release;
	luaL_setmetatable(L, tname);
	return o;
}

void *qdb_lua_check_owner(lua_State *L, int idx, const char *tname, const char *what)
{
	struct qdb_lua_owner *o = luaL_checkudata(L, idx, tname);
	if (o->closed)
		luaL_error(L, "%s is closed", what);
	return o;
}

int qdb_lua_owner_gc(lua_State *L, const char *tname)
{
	qdb_lua_owner_close(luaL_checkudata(L, 1, tname));
	return 0;
}

static int tensor_gc(lua_State *L)
{
	struct qdb_lua_tensor *lt = luaL_checkudata(L, 1, QDB_LUA_TENSOR);
	qdb_tensor_done(&lt->t);
	lt->closed = 1;
	if (lt->owner) {
		struct qdb_lua_owner *o = lt->owner;
		lt->owner = NULL;
		qdb_lua_owner_unref(o);
	}
	return 0;
}

struct qdb_lua_tensor *qdb_lua_new_tensor(lua_State *L, int parent)
{
	if (parent)
		parent = lua_absindex(L, parent);
	struct qdb_lua_tensor *lt = lua_newuserdatauv(L, sizeof *lt, 1);
	qdb_tensor_init(&lt->t);
	lt->readonly = 0;
	lt->closed = 0;
	lt->owner = NULL;
	luaL_setmetatable(L, QDB_LUA_TENSOR);
	if (parent) {
		lua_pushvalue(L, parent);
		lua_setiuservalue(L, -2, 1);
		lt->readonly = 1;
		lt->owner = lua_touserdata(L, parent);
		qdb_lua_owner_ref(lt->owner);
	}
	return lt;
}

struct qdb_tensor *qdb_lua_check_tensor(lua_State *L, int idx)
{
	struct qdb_lua_tensor *lt = luaL_checkudata(L, idx, QDB_LUA_TENSOR);
	if (lt->closed)
		luaL_error(L, "tensor is closed");
	if (!lt->t.data && lt->t.nbytes == 0 && qdb_tensor_numel(&lt->t) > 0)
		luaL_error(L, "tensor has no data"); /* never filled: a failed read */
	return &lt->t;
}

struct qdb_tensor *qdb_lua_test_tensor(lua_State *L, int idx)
{
	struct qdb_lua_tensor *lt = luaL_testudata(L, idx, QDB_LUA_TENSOR);
	if (lt && lt->closed)
		luaL_error(L, "tensor is closed");
	return lt ? &lt->t : NULL;
}

void qdb_lua_push_tensor_copy(lua_State *L, const struct qdb_tensor *t)
{
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 0);
	struct qdb_err err;
	if (qdb_tensor_copy(&lt->t, t, &err))
		qdb_lua_raise(L, &err);
}

/* Stores v into element i of an owned tensor; integers must be exact and
 * in range (misuse otherwise). */
static void store(lua_State *L, struct qdb_tensor *t, int64_t i, lua_Number v)
{
	unsigned char *p = (unsigned char *)t->data + (size_t)i * qdb_dtype_size(t->dtype);
	if (t->dtype == QDB_F32) {
		float f = (float)v;
		memcpy(p, &f, sizeof f);
		return;
	}
	if (t->dtype == QDB_F64) {
		memcpy(p, &v, sizeof v);
		return;
	}
	if (v != floor(v) || v < (lua_Number)qdb_dtype_min(t->dtype) ||
	    v > (lua_Number)qdb_dtype_max(t->dtype))
		luaL_error(L, "value %f does not fit %s", v, qdb_dtype_name(t->dtype));
	int64_t x = (int64_t)v;
	switch (t->dtype) {
	case QDB_I8: { int8_t y = (int8_t)x; memcpy(p, &y, 1); break; }
	case QDB_U8: { uint8_t y = (uint8_t)x; memcpy(p, &y, 1); break; }
	case QDB_I16: { int16_t y = (int16_t)x; memcpy(p, &y, 2); break; }
	case QDB_I32: { int32_t y = (int32_t)x; memcpy(p, &y, 4); break; }
	default: memcpy(p, &x, 8); break;
	}
}

static void push_number(lua_State *L, const struct qdb_tensor *t, double v, int raw)
{
	if (raw && qdb_dtype_is_int(t->dtype))
		lua_pushinteger(L, (lua_Integer)v);
	else
		lua_pushnumber(L, v);
}

/* Shape of a nested table: descends first elements. */
static int table_shape(lua_State *L, int idx, int64_t *shape)
{
	int rank = 0;
	lua_pushvalue(L, idx);
	while (lua_istable(L, -1)) {
		if (rank == QDB_MAX_RANK)
			luaL_error(L, "tensor: more than %d dimensions", QDB_MAX_RANK);
		shape[rank++] = (int64_t)lua_rawlen(L, -1);
		if (shape[rank - 1] == 0)
			break;
		lua_rawgeti(L, -1, 1);
		lua_remove(L, -2);
	}
	lua_pop(L, 1);
	return rank;
}

static void fill_from_table(lua_State *L, int idx, struct qdb_tensor *t, int depth,
			    int64_t *pos)
{
	if ((int64_t)lua_rawlen(L, idx) != t->shape[depth])
		luaL_error(L, "tensor: ragged table (dimension %d has length %d, expected %d)",
			   depth, (int)lua_rawlen(L, idx), (int)t->shape[depth]);
	for (int64_t i = 1; i <= t->shape[depth]; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i);
		if (depth + 1 < t->rank) {
			if (!lua_istable(L, -1))
				luaL_error(L, "tensor: ragged table (a number where a table was expected)");
			fill_from_table(L, lua_gettop(L), t, depth + 1, pos);
		} else {
			int isnum;
			lua_Number v = lua_tonumberx(L, -1, &isnum);
			if (!isnum)
				luaL_error(L, "tensor: element %d is %s, not a number",
					   (int)*pos + 1, luaL_typename(L, -1));
			store(L, t, (*pos)++, v);
		}
		lua_pop(L, 1);
	}
}

/* Reads a "shape" option (table of non-negative integers). */
static int read_shape(lua_State *L, int idx, int64_t *shape)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	int rank = (int)lua_rawlen(L, idx);
	if (rank > QDB_MAX_RANK)
		luaL_error(L, "shape: more than %d dimensions", QDB_MAX_RANK);
	for (int i = 0; i < rank; i++) {
		lua_rawgeti(L, idx, i + 1);
		int isint;
		lua_Integer d = lua_tointegerx(L, -1, &isint);
		if (!isint || d < 0)
			luaL_error(L, "shape: dimension %d must be a non-negative integer", i + 1);
		shape[i] = d;
		lua_pop(L, 1);
	}
	return rank;
}

static enum qdb_dtype check_dtype(lua_State *L, const char *name)
{
	enum qdb_dtype d;
	if (qdb_dtype_parse(name, strlen(name), &d))
		luaL_error(L, "unknown dtype '%s' (f32 f64 i8 u8 i16 i32 i64)", name);
	return d;
}

/* Applies scale/zero_point/axis options to t. */
static void apply_quant_opts(lua_State *L, int opts, struct qdb_tensor *t)
{
	lua_getfield(L, opts, "scale");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	struct qdb_err err;
	int rc;
	if (lua_istable(L, -1)) {
		int n = (int)lua_rawlen(L, -1);
		if (n < 1)
			luaL_error(L, "option 'scale': empty table");
		double *sc = qdb_lua_scratch(L, (size_t)n, sizeof *sc);
		int64_t *zp = qdb_lua_scratch(L, (size_t)n, sizeof *zp);
		for (int i = 0; i < n; i++) {
			lua_rawgeti(L, -3, i + 1);
			sc[i] = luaL_checknumber(L, -1);
			lua_pop(L, 1);
		}
		lua_getfield(L, opts, "zero_point");
		for (int i = 0; i < n; i++) {
			if (lua_istable(L, -1)) {
				lua_rawgeti(L, -1, i + 1);
				zp[i] = luaL_optinteger(L, -1, 0);
				lua_pop(L, 1);
			} else {
				zp[i] = luaL_optinteger(L, -1, 0);
			}
		}
		lua_pop(L, 1);
		lua_Integer axis = qdb_lua_opt_int(L, opts, "axis", 1);
		if (axis < 0)
			axis += t->rank;
		rc = qdb_quant_set_channels(&t->q, n, (int32_t)axis, sc, zp, 1, 0, &err);
		lua_pop(L, 2);
	} else {
		double sc = luaL_checknumber(L, -1);
		lua_Integer zp = qdb_lua_opt_int(L, opts, "zero_point", 0);
		rc = qdb_quant_set(&t->q, sc, zp, 1, 0, &err);
	}
	lua_pop(L, 1);
	if (!rc && qdb_dtype_is_int(t->dtype)) {
		t->q.qmin = qdb_lua_opt_int(L, opts, "qmin", t->q.qmin);
		t->q.qmax = qdb_lua_opt_int(L, opts, "qmax", t->q.qmax);
	}
	if (!rc)
		rc = qdb_quant_validate(&t->q, t->dtype, t->rank, t->shape, "tensor", &err);
	if (rc)
		qdb_lua_raise(L, &err);
}

static const char *const tensor_opts[] = {"shape", "dtype", "scale", "zero_point",
					  "axis", "qmin", "qmax", NULL};

/* qdb.tensor(data[, {shape=, dtype=, scale=, zero_point=, axis=}]) */
static int l_tensor(lua_State *L)
{
	int has_opts = lua_istable(L, 2);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	qdb_lua_check_opts(L, 2, tensor_opts);
	luaL_checktype(L, 1, LUA_TTABLE);
	enum qdb_dtype dt = check_dtype(L, qdb_lua_opt_str(L, 2, "dtype", "f32"));
	int64_t shape[QDB_MAX_RANK];
	int rank;
	int flat = 0;
	if (has_opts && lua_getfield(L, 2, "shape") != LUA_TNIL) {
		rank = read_shape(L, lua_gettop(L), shape);
		flat = 1;
	} else {
		rank = table_shape(L, 1, shape);
	}
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 0);
	int ud = lua_gettop(L);
	struct qdb_err err;
	if (qdb_tensor_alloc(&lt->t, dt, rank, shape, &err))
		qdb_lua_raise(L, &err);
	int64_t pos = 0;
	if (flat) {
		int64_t n = qdb_tensor_numel(&lt->t);
		if ((int64_t)lua_rawlen(L, 1) != n)
			luaL_error(L, "tensor: %d values for shape with %d elements",
				   (int)lua_rawlen(L, 1), (int)n);
		for (int64_t i = 0; i < n; i++) {
			lua_rawgeti(L, 1, (lua_Integer)i + 1);
			int isnum;
			lua_Number v = lua_tonumberx(L, -1, &isnum);
			if (!isnum)
				luaL_error(L, "tensor: element %d is not a number", (int)i + 1);
			store(L, &lt->t, i, v);
			lua_pop(L, 1);
		}
	} else if (rank > 0 && qdb_tensor_numel(&lt->t) > 0) {
		fill_from_table(L, 1, &lt->t, 0, &pos);
	}
	if (has_opts)
		apply_quant_opts(L, 2, &lt->t);
	lua_settop(L, ud);
	return 1;
}

/* qdb.zeros(shape[, dtype]) */
static int l_zeros(lua_State *L)
{
	int64_t shape[QDB_MAX_RANK];
	int rank = read_shape(L, 1, shape);
	enum qdb_dtype dt = check_dtype(L, luaL_optstring(L, 2, "f32"));
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 0);
	struct qdb_err err;
	if (qdb_tensor_alloc(&lt->t, dt, rank, shape, &err))
		qdb_lua_raise(L, &err);
	return 1;
}

struct qdb_tensor *qdb_lua_to_tensor(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	struct qdb_tensor *t = qdb_lua_test_tensor(L, idx);
	if (t) {
		lua_pushvalue(L, idx);
		return t;
	}
	if (!lua_istable(L, idx))
		luaL_typeerror(L, idx, "Tensor or table of numbers");
	lua_pushcfunction(L, l_tensor);
	lua_pushvalue(L, idx);
	lua_call(L, 1, 1);
	return qdb_lua_check_tensor(L, -1);
}

/* qdb.npy(path) -> Tensor | nil, msg */
int qdb_lua_npy_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 0);
	struct qdb_err err;
	if (qdb_npy_load(path, &lt->t, &err))
		return qdb_lua_fail(L, &err);
	return 1;
}

static int64_t check_flat_index(lua_State *L, const struct qdb_tensor *t, int arg)
{
	lua_Integer i = luaL_checkinteger(L, arg);
	int64_t n = qdb_tensor_numel(t);
	if (i < 1 || i > n)
		luaL_error(L, "index %d out of range 1..%d", (int)i, (int)n);
	return (int64_t)i - 1;
}

/* Flat index from 1-based arguments starting at `first`: one argument is a
 * flat index, otherwise one per dimension. */
static int64_t check_index(lua_State *L, const struct qdb_tensor *t, int first)
{
	int nargs = lua_gettop(L) - first + 1;
	if (nargs == 1)
		return check_flat_index(L, t, first);
	if (nargs != t->rank)
		luaL_error(L, "%d indices for a tensor of rank %d", nargs, t->rank);
	int64_t flat = 0;
	for (int d = 0; d < t->rank; d++) {
		lua_Integer i = luaL_checkinteger(L, first + d);
		if (i < 1 || i > t->shape[d])
			luaL_error(L, "index %d of dimension %d out of range 1..%d", (int)i, d + 1,
				   (int)t->shape[d]);
		flat = flat * t->shape[d] + (i - 1);
	}
	return flat;
}

static int t_get(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	int64_t i = check_index(L, t, 2);
	lua_pushnumber(L, qdb_tensor_get_real(t, i));
	return 1;
}

static int t_raw(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	int64_t i = check_index(L, t, 2);
	push_number(L, t, qdb_tensor_get(t, i), 1);
	return 1;
}

/* t:set(i..., v): v is the stored (raw) value. */
static int t_set(lua_State *L)
{
	struct qdb_lua_tensor *lt = luaL_checkudata(L, 1, QDB_LUA_TENSOR);
	qdb_lua_check_tensor(L, 1);
	if (lt->readonly)
		return luaL_error(L, "tensor is a read-only view (use t:copy())");
	int top = lua_gettop(L);
	if (top < 3)
		return luaL_error(L, "t:set(index..., value): missing value");
	lua_Number v = luaL_checknumber(L, top);
	lua_settop(L, top - 1);
	int64_t i = check_index(L, &lt->t, 2);
	store(L, &lt->t, i, v);
	return 0;
}

static int axis_arg(lua_State *L, const struct qdb_tensor *t, lua_Integer axis)
{
	if (axis < 0)
		axis += t->rank;
	if (axis < 0 || axis >= t->rank)
		luaL_error(L, "axis out of range for a tensor of rank %d", t->rank);
	return (int)axis;
}

/* Channel axis: the per-channel quant axis, else 1 (NCHW), else 0. */
static int channel_axis(const struct qdb_tensor *t)
{
	if (t->q.n > 1)
		return t->q.axis;
	return t->rank >= 2 ? 1 : 0;
}

/* Copies index `idx` along `axis` into a new tensor of rank - 1. */
static void push_slice(lua_State *L, const struct qdb_tensor *t, int axis, int64_t idx)
{
	int64_t shape[QDB_MAX_RANK];
	int rank = 0;
	int64_t outer = 1, inner = 1;
	for (int d = 0; d < t->rank; d++) {
		if (d < axis)
			outer *= t->shape[d];
		if (d > axis)
			inner *= t->shape[d];
		if (d != axis)
			shape[rank++] = t->shape[d];
	}
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 0);
	struct qdb_err err;
	if (qdb_tensor_alloc(&lt->t, t->dtype, rank, shape, &err))
		qdb_lua_raise(L, &err);
	size_t es = qdb_dtype_size(t->dtype);
	size_t row = (size_t)inner * es;
	const unsigned char *src = t->data;
	unsigned char *dst = lt->t.data;
	for (int64_t o = 0; o < outer; o++)
		memcpy(dst + (size_t)o * row,
		       src + ((size_t)o * (size_t)t->shape[axis] + (size_t)idx) * row, row);
	int rc = QDB_OK;
	if (t->q.n > 1 && t->q.axis == axis)
		rc = qdb_quant_set(&lt->t.q, t->q.scale[idx], t->q.zero_point[idx], t->q.qmin,
				   t->q.qmax, &err);
	else if (t->q.n > 1)
		rc = qdb_quant_set_channels(&lt->t.q, t->q.n,
					    t->q.axis > axis ? t->q.axis - 1 : t->q.axis,
					    t->q.scale, t->q.zero_point, t->q.qmin, t->q.qmax, &err);
	else if (t->q.n == 1)
		rc = qdb_quant_copy(&lt->t.q, &t->q, &err);
	if (rc)
		qdb_lua_raise(L, &err);
}

/* t:slice(axis, index) */
static int t_slice(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	int axis = axis_arg(L, t, luaL_checkinteger(L, 2));
	lua_Integer i = luaL_checkinteger(L, 3);
	if (i < 1 || i > t->shape[axis])
		return luaL_error(L, "index %d out of range 1..%d on axis %d", (int)i,
				  (int)t->shape[axis], axis);
	push_slice(L, t, axis, i - 1);
	return 1;
}

/* t:channel(c) */
static int t_channel(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	if (t->rank == 0)
		return luaL_error(L, "a scalar has no channels");
	int axis = channel_axis(t);
	lua_Integer c = luaL_checkinteger(L, 2);
	if (c < 1 || c > t->shape[axis])
		return luaL_error(L, "channel %d out of range 1..%d", (int)c, (int)t->shape[axis]);
	push_slice(L, t, axis, c - 1);
	return 1;
}

static int t_channels(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	if (t->rank == 0)
		return luaL_error(L, "a scalar has no channels");
	int axis = channel_axis(t);
	lua_pushinteger(L, t->shape[axis]);
	lua_pushinteger(L, axis);
	return 2;
}

static void push_nested(lua_State *L, const struct qdb_tensor *t, int depth, int64_t *pos,
			int raw)
{
	luaL_checkstack(L, 3, "tensor too deep");
	lua_createtable(L, (int)t->shape[depth], 0);
	for (int64_t i = 0; i < t->shape[depth]; i++) {
		if (depth + 1 < t->rank) {
			push_nested(L, t, depth + 1, pos, raw);
		} else {
			double v = raw ? qdb_tensor_get(t, *pos) : qdb_tensor_get_real(t, *pos);
			push_number(L, t, v, raw);
			(*pos)++;
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* t:totable([{raw=, flat=}]) */
static int t_totable(lua_State *L)
{
	static const char *const opts[] = {"raw", "flat", NULL};
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	qdb_lua_check_opts(L, 2, opts);
	int raw = qdb_lua_opt_bool(L, 2, "raw", 0);
	int flat = qdb_lua_opt_bool(L, 2, "flat", 0);
	int64_t n = qdb_tensor_numel(t);
	if (n > (int64_t)1 << 28)
		return luaL_error(L, "tensor too large for a Lua table (%d elements)", (int)n);
	if (t->rank == 0) {
		push_number(L, t, raw ? qdb_tensor_get(t, 0) : qdb_tensor_get_real(t, 0), raw);
		return 1;
	}
	if (flat) {
		lua_createtable(L, (int)n, 0);
		for (int64_t i = 0; i < n; i++) {
			push_number(L, t, raw ? qdb_tensor_get(t, i) : qdb_tensor_get_real(t, i), raw);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		return 1;
	}
	int64_t pos = 0;
	push_nested(L, t, 0, &pos, raw);
	return 1;
}

static int t_save(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	const char *path = luaL_checkstring(L, 2);
	struct qdb_err err;
	if (qdb_npy_save(t, path, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

static int t_copy(lua_State *L)
{
	qdb_lua_push_tensor_copy(L, qdb_lua_check_tensor(L, 1));
	return 1;
}

static int t_dequantize(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	struct qdb_lua_tensor *lt = qdb_lua_new_tensor(L, 0);
	struct qdb_err err;
	if (qdb_tensor_dequantize(&lt->t, t, &err))
		qdb_lua_raise(L, &err);
	return 1;
}

void qdb_lua_push_stats(lua_State *L, const struct qdb_tensor *t)
{
	struct qdb_stats *s = lua_newuserdatauv(L, sizeof *s, 0);
	struct qdb_err err;
	if (qdb_tensor_stats(t, s, &err))
		qdb_lua_raise(L, &err);
	lua_createtable(L, 0, 20);
	qdb_lua_set_int(L, "count", s->count);
	qdb_lua_set_int(L, "finite", s->finite);
	qdb_lua_set_int(L, "nan", s->nan);
	qdb_lua_set_int(L, "inf", s->inf);
	qdb_lua_set_num(L, "min", s->min);
	qdb_lua_set_num(L, "max", s->max);
	qdb_lua_set_num(L, "mean", s->mean);
	qdb_lua_set_num(L, "std", s->std);
	qdb_lua_set_num(L, "absmean", s->absmean);
	qdb_lua_set_num(L, "p01", s->p01);
	qdb_lua_set_num(L, "p50", s->p50);
	qdb_lua_set_num(L, "p99", s->p99);
	qdb_lua_set_num(L, "zero_frac", s->zero_frac);
	qdb_lua_set_num(L, "sat_frac", s->sat_frac);
	qdb_lua_set_num(L, "hist_lo", s->hist_lo);
	qdb_lua_set_num(L, "hist_hi", s->hist_hi);
	lua_createtable(L, QDB_HIST_BINS, 0);
	for (int i = 0; i < QDB_HIST_BINS; i++) {
		lua_pushinteger(L, (lua_Integer)s->hist[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "hist");
	lua_remove(L, -2);
}

static int t_stats(lua_State *L)
{
	qdb_lua_push_stats(L, qdb_lua_check_tensor(L, 1));
	return 1;
}

/* qdb.stats(t) also accepts a table of numbers. */
static int l_stats(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_to_tensor(L, 1);
	qdb_lua_push_stats(L, t);
	return 1;
}

/* Histogram of the values at idx (Tensor or table of numbers): counts, lo, hi. */
static int histogram_of(lua_State *L, int idx, int nbins_arg)
{
	lua_settop(L, nbins_arg + 2);
	struct qdb_tensor *t = qdb_lua_to_tensor(L, idx);
	lua_Integer nbins = luaL_optinteger(L, nbins_arg, QDB_HIST_BINS);
	if (nbins < 1 || nbins > 1 << 20)
		return luaL_error(L, "histogram: bins must be in 1..%d", 1 << 20);
	int64_t n = qdb_tensor_numel(t);
	double *v = qdb_lua_scratch(L, (size_t)(n ? n : 1), sizeof *v);
	qdb_tensor_to_f64(t, v);
	double lo = INFINITY, hi = -INFINITY;
	for (int64_t i = 0; i < n; i++)
		if (isfinite(v[i])) {
			lo = v[i] < lo ? v[i] : lo;
			hi = v[i] > hi ? v[i] : hi;
		}
	if (lo > hi)
		lo = hi = 0;
	lo = luaL_optnumber(L, nbins_arg + 1, lo);
	hi = luaL_optnumber(L, nbins_arg + 2, hi);
	if (!(lo <= hi))
		return luaL_error(L, "histogram: lo must not exceed hi");
	int64_t *bins = qdb_lua_scratch(L, (size_t)nbins, sizeof *bins);
	memset(bins, 0, (size_t)nbins * sizeof *bins);
	qdb_histogram(v, n, lo, hi, bins, (int)nbins);
	lua_createtable(L, (int)nbins, 0);
	for (lua_Integer i = 0; i < nbins; i++) {
		lua_pushinteger(L, (lua_Integer)bins[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushnumber(L, lo);
	lua_pushnumber(L, hi);
	return 3;
}

static int t_histogram(lua_State *L)
{
	qdb_lua_check_tensor(L, 1);
	return histogram_of(L, 1, 2);
}

static int l_histogram(lua_State *L)
{
	return histogram_of(L, 1, 2);
}

void qdb_lua_push_metrics(lua_State *L, const struct qdb_metrics *m)
{
	lua_createtable(L, 0, 20);
	qdb_lua_set_int(L, "count", m->count);
	qdb_lua_set_int(L, "nan_a", m->nan_a);
	qdb_lua_set_int(L, "inf_a", m->inf_a);
	qdb_lua_set_int(L, "nan_b", m->nan_b);
	qdb_lua_set_int(L, "inf_b", m->inf_b);
	qdb_lua_set_num(L, "cosine", m->cosine);
	qdb_lua_set_num(L, "max_abs", m->max_abs);
	qdb_lua_set_num(L, "mean_abs", m->mean_abs);
	qdb_lua_set_num(L, "mse", m->mse);
	qdb_lua_set_num(L, "sqnr_db", m->sqnr_db);
	qdb_lua_set_num(L, "rel_l2", m->rel_l2);
	qdb_lua_set_num(L, "max_steps", m->max_steps);
	qdb_lua_set_num(L, "mismatch", m->mismatch);
	qdb_lua_set_num(L, "sat_a", m->sat_a);
	qdb_lua_set_num(L, "sat_b", m->sat_b);
	if (m->top1 >= 0) {
		lua_pushboolean(L, m->top1);
		lua_setfield(L, -2, "top1");
	}
	if (m->argmax_worst >= 0)
		qdb_lua_set_int(L, "worst", m->argmax_worst + 1);
}

/* qdb.metrics(a, b[, {atol=, top1=}]) */
static int l_metrics(lua_State *L)
{
	static const char *const opts[] = {"atol", "top1", NULL};
	struct qdb_tensor *a = qdb_lua_to_tensor(L, 1);
	struct qdb_tensor *b = qdb_lua_to_tensor(L, 2);
	qdb_lua_check_opts(L, 3, opts);
	double atol = qdb_lua_opt_num(L, 3, "atol", 1e-5);
	int top1 = qdb_lua_opt_bool(L, 3, "top1", 0);
	struct qdb_metrics m;
	struct qdb_err err;
	if (qdb_metrics_compute(a, b, atol, top1, &m, &err))
		return qdb_lua_raise(L, &err);
	qdb_lua_push_metrics(L, &m);
	return 1;
}

static int t_argmax(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	int64_t n = qdb_tensor_numel(t), best = -1;
	double bv = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		double v = qdb_tensor_get_real(t, i);
		if (v > bv || best < 0) {
			if (isnan(v))
				continue;
			bv = v;
			best = i;
		}
	}
	if (best < 0)
		return 0;
	lua_pushinteger(L, best + 1);
	lua_pushnumber(L, bv);
	return 2;
}

static void push_quant(lua_State *L, const struct qdb_tensor *t)
{
	if (t->q.n == 0) {
		lua_pushnil(L);
		return;
	}
	lua_createtable(L, 0, 5);
	if (t->q.n == 1) {
		qdb_lua_set_num(L, "scale", t->q.scale[0]);
		qdb_lua_set_int(L, "zero_point", t->q.zero_point[0]);
	} else {
		lua_createtable(L, t->q.n, 0);
		for (int i = 0; i < t->q.n; i++) {
			lua_pushnumber(L, t->q.scale[i]);
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, "scale");
		lua_createtable(L, t->q.n, 0);
		for (int i = 0; i < t->q.n; i++) {
			lua_pushinteger(L, (lua_Integer)t->q.zero_point[i]);
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, "zero_point");
		qdb_lua_set_int(L, "axis", t->q.axis);
	}
	int64_t lo, hi;
	qdb_quant_range(&t->q, t->dtype, &lo, &hi);
	qdb_lua_set_int(L, "qmin", lo);
	qdb_lua_set_int(L, "qmax", hi);
}

static int t_quant(lua_State *L)
{
	push_quant(L, qdb_lua_check_tensor(L, 1));
	return 1;
}

static int t_metrics(lua_State *L)
{
	qdb_lua_check_tensor(L, 1);
	return l_metrics(L);
}

static void push_shape(lua_State *L, const struct qdb_tensor *t)
{
	lua_createtable(L, t->rank, 0);
	for (int i = 0; i < t->rank; i++) {
		lua_pushinteger(L, (lua_Integer)t->shape[i]);
		lua_rawseti(L, -2, i + 1);
	}
}

static int tensor_getter(lua_State *L)
{
	struct qdb_tensor *t = qdb_lua_check_tensor(L, 1);
	if (lua_type(L, 2) == LUA_TNUMBER) {
		int64_t i = check_flat_index(L, t, 2);
		lua_pushnumber(L, qdb_tensor_get_real(t, i));
		return 1;
	}
	const char *k = lua_tostring(L, 2);
	if (!k)
		return 0;
	if (!strcmp(k, "dtype"))
		lua_pushstring(L, qdb_dtype_name(t->dtype));
	else if (!strcmp(k, "shape"))
		push_shape(L, t);
	else if (!strcmp(k, "rank"))
		lua_pushinteger(L, t->rank);
	else if (!strcmp(k, "numel"))
		lua_pushinteger(L, (lua_Integer)qdb_tensor_numel(t));
	else if (!strcmp(k, "quantized"))
		lua_pushboolean(L, t->q.n > 0);
	else if (!strcmp(k, "scale") && t->q.n == 1)
		lua_pushnumber(L, t->q.scale[0]);
	else if (!strcmp(k, "zero_point") && t->q.n == 1)
		lua_pushinteger(L, (lua_Integer)t->q.zero_point[0]);
	else if (!strcmp(k, "scale") || !strcmp(k, "zero_point") || !strcmp(k, "axis")) {
		push_quant(L, t);
		if (lua_istable(L, -1))
			lua_getfield(L, -1, k);
	} else
		return 0;
	return 1;
}

static int tensor_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)qdb_tensor_numel(qdb_lua_check_tensor(L, 1)));
	return 1;
}

static int tensor_tostring(lua_State *L)
{
	struct qdb_lua_tensor *lt = luaL_checkudata(L, 1, QDB_LUA_TENSOR);
	if (lt->closed) {
		lua_pushliteral(L, "Tensor(closed)");
		return 1;
	}
	struct qdb_tensor *t = &lt->t;
	char shape[128];
	qdb_shape_str(shape, sizeof shape, t->rank, t->shape);
	if (t->q.n == 1)
		lua_pushfstring(L, "Tensor(%s %s scale=%f zp=%d)", qdb_dtype_name(t->dtype), shape,
				t->q.scale[0], (int)t->q.zero_point[0]);
	else if (t->q.n > 1)
		lua_pushfstring(L, "Tensor(%s %s per-channel axis=%d)", qdb_dtype_name(t->dtype),
				shape, (int)t->q.axis);
	else
		lua_pushfstring(L, "Tensor(%s %s)", qdb_dtype_name(t->dtype), shape);
	return 1;
}

void qdb_lua_tensor_register(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{"__gc", tensor_gc},
		{"__close", tensor_gc},
		{"__len", tensor_len},
		{"__tostring", tensor_tostring},
		{NULL, NULL},
	};
	static const luaL_Reg methods[] = {
		{"get", t_get},
		{"raw", t_raw},
		{"set", t_set},
		{"slice", t_slice},
		{"channel", t_channel},
		{"channels", t_channels},
		{"totable", t_totable},
		{"save", t_save},
		{"copy", t_copy},
		{"dequantize", t_dequantize},
		{"stats", t_stats},
		{"histogram", t_histogram},
		{"metrics", t_metrics},
		{"argmax", t_argmax},
		{"quant", t_quant},
		{NULL, NULL},
	};
	static const char *const props[] = {"dtype", "shape", "rank", "numel", "quantized",
					    "scale", "zero_point", "axis", NULL};
	qdb_lua_class(L, QDB_LUA_TENSOR, meta, methods, tensor_getter, props);
	static const luaL_Reg funcs[] = {
		{"tensor", l_tensor},
		{"zeros", l_zeros},
		{"npy", qdb_lua_npy_open},
		{"stats", l_stats},
		{"histogram", l_histogram},
		{"metrics", l_metrics},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}
