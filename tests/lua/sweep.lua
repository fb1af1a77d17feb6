-- sweep.lua - the Lua library against slow paths: per-op, per-node,
-- greedy, bisection, rounding and scales sweeps recomputed by plain loops
-- of qdb.eval / m:run; qdb.badcase; qdb.report's formats.
local tap = dofile((arg[0]:match("^(.*)/") or ".") .. "/tap.lua")
local qdb = require "qdb"

local D = tap.data("testdata/digits/")
local qat = assert(qdb.load(D .. "qat.qbc"))
local bad = assert(qdb.load(D .. "quantized-bad.qbc"))
local ds = assert(qdb.load(D .. "digits.qds"))
local recs = {}
for i = 1, 150 do recs[i] = i * 11 end
local opts = {data = ds, records = recs}

-- the slow path: accuracy with some nodes on cpu, one m:run per record
local function slow_acc(m, cpu)
  local hit = 0
  for _, i in ipairs(recs) do
    if m:run(ds, i, {cpu = cpu}):top1() == ds:label(i) then hit = hit + 1 end
  end
  return hit / #recs
end

local base0 = slow_acc(bad, {})
local rows, base = qdb.sweep.per_op(bad, opts)
tap.near(base, base0, 1e-12, "per_op baseline equals the slow path")
local ok = true
for _, r in ipairs(rows) do
  ok = ok and math.abs(r.score - slow_acc(bad, r.nodes)) < 1e-12
end
tap.ok(ok, "per_op scores equal the slow path for every op")
tap.is(rows[1].op, "hardswish", "per_op ranks hardswish first")

local pn = qdb.sweep.per_node(bad, opts)
ok = true
for _, r in ipairs(pn) do ok = ok and math.abs(r.score - slow_acc(bad, {r.name})) < 1e-12 end
tap.ok(ok, "per_node scores (sensitivity engine) equal the slow path")
tap.is(pn[1].name, "act3", "per_node ranks act3 first")

local g = qdb.sweep.greedy(bad, {data = ds, records = recs, target = 0.99})
tap.ok(g.reached, "greedy reaches 99% accuracy")
tap.is(g.cpu[1], "act3", "greedy moves act3 first")
tap.near(g.score, slow_acc(bad, g.cpu), 1e-12, "greedy's final score equals the slow path")
tap.is(g.model:device("act3"), "cpu", "greedy returns the edited model")
tap.is(bad:device("act3"), "bpu", "greedy leaves the input model alone")
local gq = qdb.sweep.greedy(bad, {data = ds, records = recs, reference = qat, metric = "cosine",
  target = 0.999})
tap.is(gq.cpu[1], "act3", "greedy with a reference and cosine")

local b = qdb.sweep.bisect(bad, {data = ds, records = recs, target = 0.99})
tap.is(b and #b.cpu, 1, "bisect finds a single node")
tap.is(b and b.cpu[1], "act3", "bisect finds act3")
tap.ok(b and slow_acc(bad, b.cpu) >= 0.99, "bisect's set reaches the target on the slow path")
local nb, msg = qdb.sweep.bisect(bad, {data = ds, records = recs, target = 1.5})
tap.ok(nb == nil and msg:find("not reachable"), "an unreachable target -> nil, msg")

local quant = assert(qdb.load(D .. "quantized.qbc"))
local rr = qdb.sweep.rounding(quant, {data = ds, records = {1, 2, 3, 4, 5}})
tap.is(#rr, 3, "rounding sweeps three modes")
local c = quant:clone()
c:set_rounding("half_up")
local row
for _, r in ipairs(rr) do if r.rounding == "half_up" then row = r end end
tap.near(row.score, qdb.eval(c, ds, {records = {1, 2, 3, 4, 5}}).accuracy, 1e-12,
  "rounding score equals an eval of an edited copy")
tap.raises(function() qdb.sweep.rounding(qat, {data = ds}) end, "fixed profile", "rounding on a qat model raises")

local v = quant:node("conv1").outputs[1]
local sc = qdb.sweep.scales(quant, {data = ds, records = {1, 2, 3}, values = {v}, factors = {0.5, 2}})
tap.is(#sc, 2, "scales: values x factors rows")
local c2 = quant:clone()
c2:set_scale(v, {factor = 2})
local want = qdb.eval(c2, ds, {records = {1, 2, 3}}).accuracy
local got
for _, r in ipairs(sc) do if r.factor == 2 then got = r.score end end
tap.near(got, want, 1e-12, "scale sweep score equals an eval of an edited copy")

tap.raises(function() qdb.sweep.per_op(bad, {records = recs}) end, "option 'data'", "missing data raises")
tap.raises(function() qdb.sweep.per_op(bad, {data = ds, metric = "psnr"}) end, "metric", "bad metric raises")
tap.raises(function() qdb.sweep.per_op(bad, {data = ds, taget = 1}) end, "unknown option 'taget'", "typo raises")
tap.raises(function() qdb.sweep.per_op(ds, {data = ds}) end, "a Model expected", "non-model raises")

-- badcase
local cases, sum = qdb.badcase.find(qat, bad, ds, {records = recs})
local manual = 0
for _, i in ipairs(recs) do
  if qat:run(ds, i):top1() ~= bad:run(ds, i):top1() then manual = manual + 1 end
end
tap.is(#cases, manual, "badcase.find equals a manual loop")
local text = qdb.badcase.report(cases, sum, 3)
tap.ok(text:find("records disagree", 1, true), "badcase.report")
local fd = qdb.badcase.first_divergent(qat, bad, ds, cases, {max = 5})
tap.is(fd[1].layer, "act3", "bad cases first diverge at act3")
local lay = qdb.badcase.layers(qat, bad, ds, cases[1].record)
local first
for _, r in ipairs(lay) do if r.diverged then first = r.name; break end end
tap.is(first, "act3", "badcase.layers marks act3 first")
local dir = tap.tmpdir()
tap.ok(qdb.badcase.write(ds, cases, dir .. "/bad.qds"), "badcase.write")
tap.is(#qdb.dataset(dir .. "/bad.qds"), #cases, "the written subset")
local tlay = qdb.badcase.layers(qdb.load(D .. "qat.pt.qtr"), bad, ds, 1)
tap.ok(#tlay > 0, "badcase.layers with a trace side")

-- report
local R = qdb.report
local data = {{name = "a", score = 0.5, n = 3}, {name = "b,c", score = 1 / 3, n = 10}}
local t = R.table(data, {"name", {key = "score", fmt = "%.3f"}, "n"})
tap.is(t, "name  score   n\na     0.500   3\nb,c   0.333  10\n", "report.table aligns")
local csv = R.csv(data, {"name", "score"})
tap.is(csv, 'name,score\na,0.5\n"b,c",0.3333333333333333\n', "report.csv quotes and writes exact numbers")
local js = R.json({units = data, inf = math.huge, nan = 0 / 0, ok = true}, {compact = true})
tap.is(js, '{"inf":"inf","nan":"nan","ok":true,"units":[{"n":3,"name":"a","score":0.5},' ..
  '{"n":10,"name":"b,c","score":0.3333333333333333}]}\n', "report.json (sorted keys, inf/nan)")
tap.ok(R.table(data):find("name", 1, true), "report.table without columns")
tap.ok(R.format(data, nil, "json"):find('"name"', 1, true), "report.format json")
tap.raises(function() R.format(data, nil, "xml") end, "table, csv or json", "unknown format raises")
local cyc = {}
cyc.self = cyc
tap.raises(function() R.json(cyc) end, "contains itself", "a cycle raises")
tap.ok(R.write(dir .. "/r.csv", csv), "report.write")
local f = io.open(dir .. "/r.csv")
tap.is(f:read("a"), csv, "report.write content")
f:close()

tap.cleanup()
return tap.done()
