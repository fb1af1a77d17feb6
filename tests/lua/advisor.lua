-- advisor.lua - the Lua face of the advisor and the bootstrap: qdb.check,
-- qdb.check_rules, qdb.bootstrap (the numbers are the C engine's, tested in
-- tests/unit; here the bindings: arguments, results, errors).
local tap = dofile((os.getenv("QDB_SRCDIR") or ".") .. "/tests/lua/tap.lua")
local src = tap.srcdir

local rules = qdb.check_rules()
local ids = {}
for _, r in ipairs(rules) do ids[r.id] = r end
tap.ok(#rules >= 11 and ids["lut-table"] and ids["qstate-observer"], "check_rules lists the rules")
tap.ok(ids["qstate-observer"].needs_trace == true and ids["lut-table"].needs_trace == false and
  ids["nonfinite"].severity == "error" and #ids["range-int8"].suggestion > 0,
  "a rule has id, severity, needs_trace, measures and suggestion")

local m = assert(qdb.load(src .. "/testdata/good/small.qbc"))
local f, s = qdb.check(m)
tap.ok(type(f) == "table" and #f == 0 and s.errors == 0 and s.warnings == 0,
  "a healthy graph: no finding")
tap.ok(s.layers_scanned == 0 and s.samples == 0, "without a trace nothing is scanned")
f, s = qdb.check(m, {pow2 = true, only = "scale-pow2"})
tap.ok(type(f) == "table" and s.errors == 0, "options table as second argument")
tap.raises(function() qdb.check(m, {bogus = 1}) end, "unknown option 'bogus'", "unknown option raises")
tap.raises(function() qdb.check(m, {only = "nope"}) end, "unknown rule 'nope'", "unknown rule raises")
tap.raises(function() qdb.check("x.qbc") end, "Model", "a path is not a model")

local bad = src .. "/testdata/digits/quantized-bad.qbc"
local fh = io.open(bad, "rb")
if fh then
  fh:close()
  local mb = assert(qdb.load(bad))
  f, s = qdb.check(mb)
  tap.ok(#f >= 1 and f[1].rule == "lut-table" and f[1].where == "act3" and f[1].severity == "error"
    and f[1].measure > f[1].limit and s.errors >= 1, "the demo's broken table is found")
  local drift = assert(qdb.load(src .. "/testdata/digits/qat-drift.qtr"))
  local qat = assert(qdb.load(src .. "/testdata/digits/qat.qbc"))
  f, s = qdb.check(qat, drift, {only = "qstate-observer", samples = 2})
  tap.is(#f, 9, "observers still on at the 9 layers of qat-drift.qtr")
else
  tap.skip(2, "testdata/digits is not in the tree")
end

local ci = qdb.bootstrap({1, 1, 0, 1, true, false, 1, 1, 1, 1}, {reps = 200, seed = 3})
tap.near(ci.estimate, 0.8, 1e-12, "bootstrap: estimate (booleans count as 1/0)")
tap.ok(ci.lo <= 0.8 and ci.hi >= 0.8 and ci.reps == 200 and ci.level == 0.95 and ci.n == 10,
  "bootstrap: interval and its parameters")
local again = qdb.bootstrap({1, 1, 0, 1, 1, 0, 1, 1, 1, 1}, {reps = 200, seed = 3})
tap.ok(again.lo == ci.lo and again.hi == ci.hi and again.se == ci.se, "bootstrap: seeded")
local d = qdb.bootstrap({1, 1, 1, 1}, {0, 1, 1, 1})
tap.near(d.estimate, 0.25, 1e-12, "bootstrap: paired difference")
tap.raises(function() qdb.bootstrap({1, 2}, {1}) end, "differ in length", "paired lengths must agree")
tap.raises(function() qdb.bootstrap({}) end, "1..2^32-1", "empty list refused")
tap.raises(function() qdb.bootstrap({1, "x"}) end, "not a number", "non-numbers refused")
tap.raises(function() qdb.bootstrap({1, 0}, {level = 1}) end, "level", "level checked")
return tap.done()
