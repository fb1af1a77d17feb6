-- sensitivity.lua - the engine against its slow paths: the naive re-run
-- per unit (same numbers exactly), a Lua loop of m:run (same ranking and
-- scores), thread counts, custom and top1 metrics, progress, misuse. And
-- on the demo: the broken hardswish comes out first.
local tap = dofile((arg[0]:match("^(.*)/") or ".") .. "/tap.lua")
local qdb = require "qdb"

local D = tap.data("testdata/digits/")
local qat = assert(qdb.load(D .. "qat.qbc"))
local bad = assert(qdb.load(D .. "quantized-bad.qbc"))
local ds = assert(qdb.load(D .. "digits.qds"))
local recs = {}
for i = 1, 60 do recs[i] = i * 7 end

local function same_units(a, b, what, field)
  local ok = #a.units == #b.units
  for i = 1, #a.units do
    local x, y = a.units[i], b.units[i]
    ok = ok and x.name == y.name and x[field] == y[field]
  end
  return tap.ok(ok, what)
end

-- revert
local fast = qdb.sensitivity(bad, ds, {reference = qat, records = recs, threads = 2})
local naive = qdb.sensitivity(bad, ds, {reference = qat, records = recs, threads = 1, naive = true})
tap.is(fast.mode, "revert", "a quantized model defaults to revert")
tap.is(fast.metric, "cosine", "cosine with a reference")
same_units(fast, naive, "revert: engine == naive full re-runs (names and scores)", "score")
tap.is(fast.units[1].name, "act3", "the broken hardswish ranks first")
tap.ok(fast.units[1].effect > 0.1, "with a large gain")
tap.ok(fast.computed < naive.computed, "the engine evaluates fewer nodes")
tap.is(naive.computed, naive.full, "naive evaluates every node of every unit")
local t1 = qdb.sensitivity(bad, ds, {reference = qat, records = recs, threads = 1})
same_units(fast, t1, "revert: 1 and 2 threads agree", "score")

-- nodes already on cpu next to the reverted ones (values cross as float there)
local mixed = bad:clone()
mixed:device("conv3", "cpu")
mixed:device("fc1", "cpu")
local mf = qdb.sensitivity(mixed, ds, {reference = qat, records = recs, threads = 2})
local mn = qdb.sensitivity(mixed, ds, {reference = qat, records = recs, naive = true})
same_units(mf, mn, "revert next to cpu nodes: engine == naive", "score")
tap.is(#mf.units, #fast.units - 2, "nodes already on cpu are not units")

-- the slow path in Lua: one m:run per record and node
local slow = {}
local ref_out = {}
for _, i in ipairs(recs) do ref_out[i] = qat:run(ds, i):output() end
for _, n in ipairs(bad:nodes{device = "bpu"}) do
  local sum = 0
  for _, i in ipairs(recs) do
    sum = sum + qdb.metrics(ref_out[i], bad:run(ds, i, {cpu = {n.name}}):output()).cosine
  end
  slow[n.name] = sum / #recs
end
local close = true
for _, u in ipairs(fast.units) do
  close = close and math.abs(u.score - slow[u.name]) < 1e-12
end
tap.ok(close, "revert scores equal a Lua loop of m:run{cpu = {node}}")

-- top1 against labels, and against a trace reference
local top = qdb.sensitivity(bad, ds, {metric = "top1", records = recs})
local acc = qdb.eval(bad, ds, {records = recs}).accuracy
tap.near(top.baseline, acc, 1e-12, "top1 baseline is the accuracy")
local acc3 = qdb.eval(bad, ds, {records = recs, cpu = {"act3"}}).accuracy
local u3
for _, u in ipairs(top.units) do if u.name == "act3" then u3 = u end end
tap.near(u3.score, acc3, 1e-12, "top1 score of act3 is the accuracy with act3 on cpu")
local tr = qdb.sensitivity(bad, ds, {reference = qdb.load(D .. "qat.pt.qtr"), records = {1, 2, 3, 4}})
tap.is(tr.units[1].name, "act3", "a trace reference works too")

-- quantize
local q = qdb.sensitivity(qat, ds, {records = recs, threads = 2})
local qn = qdb.sensitivity(qat, ds, {records = recs, naive = true, threads = 1})
tap.is(q.mode, "quantize", "a qat model defaults to quantize")
same_units(q, qn, "quantize only: engine == naive graph copies", "score")
same_units(q, qn, "quantize except: engine == naive graph copies", "score_except")
tap.is(q.float_score, 1.0, "the float run against itself")
local qv = qdb.sensitivity(qat, ds, {records = recs, by = "value", metric = "sqnr"})
local qvn = qdb.sensitivity(qat, ds, {records = recs, by = "value", metric = "sqnr", naive = true})
same_units(qv, qvn, "quantize by value, sqnr: engine == naive", "score")
local has_weight = false
for _, u in ipairs(qv.units) do has_weight = has_weight or u.op == "weight" end
tap.ok(has_weight, "by value lists weights")

-- custom metric and progress
local calls = 0
local cm = qdb.sensitivity(bad, ds, {reference = qat, records = {1, 2, 3},
  metric = function(out, ref, rec)
    calls = calls + 1
    return qdb.metrics(ref, out).cosine
  end})
local cc = qdb.sensitivity(bad, ds, {reference = qat, records = {1, 2, 3}})
same_units(cm, cc, "a Lua metric computing cosine equals the built-in", "score")
tap.ok(calls == 3 * (#cm.units + 1), "the metric is called per record and unit (and baseline)")
local prog = {}
qdb.sensitivity(bad, ds, {reference = qat, records = {1, 2, 3}, threads = 1,
  progress = function(done, total) prog[#prog + 1] = done .. "/" .. total end})
tap.is(prog[#prog], "3/3", "progress reaches the total")
tap.raises(function()
  qdb.sensitivity(bad, ds, {reference = qat, records = {1, 2, 3}, threads = 1,
    progress = function(done) return done >= 1 end})
end, "stopped", "progress returning true stops")
tap.raises(function()
  qdb.sensitivity(bad, ds, {reference = qat, records = {1}, metric = function() return "x" end})
end, "must return a number", "a metric returning no number raises")
tap.raises(function()
  qdb.sensitivity(bad, ds, {reference = qat, records = {1}, metric = function() error("metric boom") end})
end, "metric boom", "a metric error propagates")

-- misuse and expected failures
tap.fails(function() return qdb.sensitivity(qat, ds, {mode = "revert"}) end, "quantized graph",
  "revert on a qat graph -> nil, msg")
tap.fails(function() return qdb.sensitivity(bad, ds, {metric = "cosine"}) end, "needs a reference",
  "cosine without a reference -> nil, msg")
tap.raises(function() qdb.sensitivity(bad, ds, {metric = "psnr"}) end, "option 'metric'", "unknown metric raises")
tap.raises(function() qdb.sensitivity(bad, ds, {reference = bad}) end, "another model", "self reference raises")
tap.raises(function() qdb.sensitivity(bad, ds, {nodes = {"nope"}}) end, "no node 'nope'", "unknown node raises")
local sub = qdb.sensitivity(bad, ds, {reference = qat, records = {1}, nodes = {"act3", "conv1"}})
tap.is(#sub.units, 2, "nodes = {...} restricts the units")

return tap.done()
