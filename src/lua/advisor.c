/* advisor.c - Lua bindings of the advisor (analysis/advisor.h) and of the
 * bootstrap CI (analysis/bootstrap.h), used by `qdb check`'s Lua form and
 * by lua/qdb/triage.lua.
 *
 *   qdb.check(model[, trace][, opts]) -> findings, summary
 *       findings: list of {rule, severity, where, evidence, suggestion,
 *       measure, limit}, worst first; summary: {errors, warnings, infos,
 *       layers_scanned, layers_unmatched, samples}. opts: range_ratio,
 *       beyond, sat, asym, pow2, lut_jump, margin, scale_rtol, samples,
 *       only, skip (as the options of qdb check).
 *   qdb.check_rules() -> list of {id, severity, needs_trace, measures, suggestion}
 *   qdb.bootstrap(a[, b][, {reps = 1000, level = 0.95, seed = 1}])
 *       -> {estimate, lo, hi, se, reps, level, n}: percentile CI of mean(a)
 *       (or of mean(a) - mean(b), paired); a and b are lists of numbers
 *       (booleans count as 1/0).
 *   qdb.write_file(path, string) -> true | nil, msg: writes a whole file
 *       atomically (temporary beside it, fsync, rename), as every qdb
 *       writer does; the triage bundle's reports and charts go through it.
 */
#include "config.h"

#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "analysis/advisor.h"
#include "analysis/bootstrap.h"
#include "io/file.h"
#include "lua/lmodel.h"
#include "lua/lqdb.h"

static int advice_gc(lua_State *L)
{
	qdb_advice_done(lua_touserdata(L, 1));
	return 0;
}

/* The findings live in a userdata while they are turned into tables, so an
 * error raised on the way (out of memory) cannot leak them. */
static struct qdb_advice *advice_box(lua_State *L)
{
	struct qdb_advice *a = lua_newuserdatauv(L, sizeof *a, 0);
	qdb_advice_init(a);
	if (luaL_newmetatable(L, "qdb.advice_box")) {
		lua_pushcfunction(L, advice_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return a;
}

static int check_progress(void *user, int64_t done, int64_t total)
{
	(void)done;
	(void)total;
	return qdb_lua_interrupted(user);
}

static int l_check(lua_State *L)
{
	static const char *const allowed[] = {"range_ratio", "beyond", "sat", "asym", "pow2",
					      "lut_jump", "margin", "scale_rtol", "samples",
					      "only", "skip", NULL};
	struct qdb_lua_model *m = qdb_lua_check_model(L, 1);
	lua_settop(L, 3);
	int opts = 3;
	const struct qdb_trace *t = NULL;
	if (lua_type(L, 2) == LUA_TTABLE)
		opts = 2; /* check(model, opts) */
	else if (!lua_isnil(L, 2))
		t = qdb_lua_check_trace(L, 2);
	if (!lua_isnil(L, opts))
		luaL_checktype(L, opts, LUA_TTABLE);
	qdb_lua_check_opts(L, opts, allowed);

	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	o.range_ratio = qdb_lua_opt_num(L, opts, "range_ratio", o.range_ratio);
	o.beyond_share = qdb_lua_opt_num(L, opts, "beyond", o.beyond_share);
	o.sat_share = qdb_lua_opt_num(L, opts, "sat", o.sat_share);
	o.asym = qdb_lua_opt_num(L, opts, "asym", o.asym);
	o.pow2 = qdb_lua_opt_bool(L, opts, "pow2", 0);
	o.lut_jump = qdb_lua_opt_num(L, opts, "lut_jump", o.lut_jump);
	o.margin_share = qdb_lua_opt_num(L, opts, "margin", o.margin_share);
	o.scale_rtol = qdb_lua_opt_num(L, opts, "scale_rtol", o.scale_rtol);
	lua_Integer ns = qdb_lua_opt_int(L, opts, "samples", 0);
	if (ns < 0 || ns > 1000000000)
		return luaL_error(L, "option 'samples': expected 0..1e9, got %d", (int)ns);
	o.max_samples = (int)ns;
	struct qdb_err err;
	qdb_err_clear(&err);
	if (qdb_advisor_select(&o, qdb_lua_opt_str(L, opts, "only", NULL),
			       qdb_lua_opt_str(L, opts, "skip", NULL), &err))
		return qdb_lua_raise(L, &err);
	o.progress = check_progress;
	o.user = L;

	struct qdb_advice *a = advice_box(L);
	int rc = qdb_advise(m->g, t, &o, a, &err);
	if (rc == QDB_ESTOPPED) {
		qdb_lua_check_interrupt(L);
		return luaL_error(L, "interrupted");
	}
	if (rc)
		return qdb_lua_fail(L, &err);
	lua_createtable(L, a->n, 0);
	for (int i = 0; i < a->n; i++) {
		const struct qdb_finding *f = &a->findings[i];
		lua_createtable(L, 0, 7);
		qdb_lua_set_str(L, "rule", qdb_advisor_rule(f->rule)->id);
		qdb_lua_set_str(L, "severity", qdb_severity_name(f->severity));
		qdb_lua_set_str(L, "where", f->where);
		qdb_lua_set_str(L, "evidence", f->evidence);
		qdb_lua_set_str(L, "suggestion", f->suggestion);
		qdb_lua_set_num(L, "measure", f->measure);
		qdb_lua_set_num(L, "limit", f->limit);
		lua_rawseti(L, -2, i + 1);
	}
	lua_createtable(L, 0, 6);
	qdb_lua_set_int(L, "errors", a->counts[QDB_SEV_ERROR]);
	qdb_lua_set_int(L, "warnings", a->counts[QDB_SEV_WARNING]);
	qdb_lua_set_int(L, "infos", a->counts[QDB_SEV_INFO]);
	qdb_lua_set_int(L, "layers_scanned", a->layers_scanned);
	qdb_lua_set_int(L, "layers_unmatched", a->layers_unmatched);
	qdb_lua_set_int(L, "samples", a->samples);
	return 2;
}

static int l_check_rules(lua_State *L)
{
	int n = qdb_advisor_n_rules();
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		const struct qdb_advisor_rule *r = qdb_advisor_rule(i);
		lua_createtable(L, 0, 5);
		qdb_lua_set_str(L, "id", r->id);
		qdb_lua_set_str(L, "severity", qdb_severity_name(r->severity));
		lua_pushboolean(L, r->needs_trace);
		lua_setfield(L, -2, "needs_trace");
		qdb_lua_set_str(L, "measures", r->measures);
		qdb_lua_set_str(L, "suggestion", r->suggestion);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* A list of numbers (booleans as 1/0) into scratch memory. */
static double *number_list(lua_State *L, int idx, lua_Integer *n)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	*n = (lua_Integer)lua_rawlen(L, idx);
	double *v = qdb_lua_scratch(L, (size_t)(*n ? *n : 1), sizeof *v);
	for (lua_Integer i = 0; i < *n; i++) {
		int ty = lua_rawgeti(L, idx, i + 1);
		if (ty == LUA_TBOOLEAN) {
			v[i] = lua_toboolean(L, -1);
		} else {
			int isnum;
			v[i] = lua_tonumberx(L, -1, &isnum);
			if (!isnum)
				luaL_error(L, "bootstrap: item %d is %s, not a number", (int)(i + 1),
					   luaL_typename(L, -1));
		}
		lua_pop(L, 1);
	}
	return v;
}

static int l_bootstrap(lua_State *L)
{
	static const char *const allowed[] = {"reps", "level", "seed", NULL};
	lua_settop(L, 3);
	/* (a, b[, opts]) with b a list, or (a[, opts]) */
	int opts = 3, has_b = lua_istable(L, 2);
	if (has_b && lua_rawlen(L, 2) == 0) {
		lua_pushnil(L);
		if (lua_next(L, 2)) {
			lua_pop(L, 2);
			has_b = 0;
			opts = 2;
		}
	}
	if (!has_b && opts == 3 && !lua_isnil(L, 2))
		luaL_typeerror(L, 2, "list of numbers or options table");
	qdb_lua_check_opts(L, opts, allowed);
	lua_Integer reps = qdb_lua_opt_int(L, opts, "reps", 1000);
	lua_Number level = qdb_lua_opt_num(L, opts, "level", 0.95);
	lua_Integer seed = qdb_lua_opt_int(L, opts, "seed", 1);
	lua_Integer n, nb = 0;
	double *a = number_list(L, 1, &n), *b = NULL;
	if (has_b) {
		b = number_list(L, 2, &nb);
		if (nb != n)
			return luaL_error(L, "bootstrap: paired lists differ in length (%d and %d)",
					  (int)n, (int)nb);
	}
	if (reps > 10000000)
		reps = 10000001; /* let the core refuse it with its message */
	struct qdb_ci ci;
	struct qdb_err err;
	if (qdb_bootstrap_mean(a, b, n, (int)(reps < 0 ? 0 : reps), level, (uint64_t)seed, &ci,
			       &err))
		return qdb_lua_raise(L, &err);
	lua_createtable(L, 0, 7);
	qdb_lua_set_num(L, "estimate", ci.estimate);
	qdb_lua_set_num(L, "lo", ci.lo);
	qdb_lua_set_num(L, "hi", ci.hi);
	qdb_lua_set_num(L, "se", ci.se);
	qdb_lua_set_int(L, "reps", ci.reps);
	qdb_lua_set_num(L, "level", ci.level);
	qdb_lua_set_int(L, "n", (lua_Integer)ci.n);
	return 1;
}

static int l_write_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t n;
	const char *data = luaL_checklstring(L, 2, &n);
	struct qdb_atomic a;
	struct qdb_err err;
	if (qdb_atomic_open(&a, path, &err))
		return qdb_lua_fail(L, &err);
	if (n && fwrite(data, 1, n, a.fp) != n) {
		qdb_atomic_abort(&a);
		return qdb_lua_failf(L, "%s: write failed", path);
	}
	if (qdb_atomic_commit(&a, &err))
		return qdb_lua_fail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

void qdb_lua_advisor_register(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{"check", l_check},
		{"check_rules", l_check_rules},
		{"bootstrap", l_bootstrap},
		{"write_file", l_write_file},
		{NULL, NULL},
	};
	luaL_setfuncs(L, funcs, 0);
}
