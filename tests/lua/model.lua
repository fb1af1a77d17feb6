-- model.lua - Model and Run: graph inspection, edits, save/clone/convert,
-- runs (inputs three ways, outputs, layers, hooks, rerun, eval_node,
-- traces), qdb.eval and qdb.badcases, and misuse.
local tap = dofile((arg[0]:match("^(.*)/") or ".") .. "/tap.lua")
local qdb = require "qdb"

local D = tap.data("testdata/digits/")
local qat = assert(qdb.load(D .. "qat.qbc"))
local bad = assert(qdb.load(D .. "quantized-bad.qbc"))
local ds = assert(qdb.load(D .. "digits.qds"))
local dir = tap.tmpdir()

tap.is(qdb.type(qat), "Model", "qdb.load detects a graph")
tap.is(qat.stage, "qat", "stage")
tap.is(bad.stage, "quantized", "quantized stage")
tap.is(bad.profile, "fixed", "profile")
tap.ok(#qat > 0 and #qat == qat.n_nodes, "#model is the node count")
local nodes = qat:nodes()
tap.is(nodes[1].index, 1, "nodes() are 1-based, in order")
tap.is(qat:node(nodes[2].name).name, nodes[2].name, "node(name)")
tap.is(qat:node(2).op, nodes[2].op, "node(index)")
tap.fails(function() return qat:node("no_such_node") end, "no node 'no_such_node'", "node(unknown) -> nil, msg")
tap.is(#qat:nodes{op = "hardswish"}, 1, "nodes{op = ...} filters")
tap.ok(#bad:nodes{device = "bpu"} > 0, "nodes{device = ...} filters")
local inp = qat:inputs()[1]
tap.is(inp.dtype, "f32", "inputs() dtype")
tap.is(#qat:outputs(), 1, "outputs()")
local conv1 = qat:node("conv1")
local w = qat:constant(conv1.inputs[2])
tap.is(w.rank, 4, "constant(name) is a tensor view")
tap.raises(function() w:set(1, 0) end, "read-only", "a constant view is read-only")
tap.raises(function() qat:constant(conv1.outputs[1]) end, "not a constant", "constant() of an activation raises")
local v = qat:value(conv1.outputs[1])
tap.is(v.producer, "conv1", "value() producer")
tap.ok(v.qparams and v.qparams.scale > 0, "value() qparams")
tap.ok(qat:qparams(conv1.outputs[1]).zero_point ~= nil, "qparams(value)")
tap.ok(#qat:values{quantized = true} > 0, "values{quantized = true}")
tap.raises(function() qat:value("nope") end, "no value 'nope'", "value(unknown) raises")

-- devices and edits
local m = bad:clone()
tap.is(m:device("act3"), "bpu", "device(node) reads")
tap.is(m:device("act3", "cpu"), "bpu", "device(node, dev) returns the previous device")
tap.is(m:device("act3"), "cpu", "device changed")
tap.is(bad:device("act3"), "bpu", "clone() is independent")
local ed = m:edits()
tap.is(ed[#ed].node, "act3", "edit recorded")
tap.is(ed[#ed].to, "cpu", "edit records the new device")
tap.raises(function() m:device("act3", "gpu") end, "\"cpu\" or \"bpu\"", "bad device name raises")
tap.raises(function() m:device("act33", "cpu") end, "close: act3", "unknown node names close ones")
tap.raises(function() qat:device("conv1", "cpu") end, "quantized graphs", "devices of a qat graph raise")
tap.ok(m:save(dir .. "/edited.qbc"), "save")
local back = qdb.load(dir .. "/edited.qbc")
tap.is(back:device("act3"), "cpu", "saved device round-trips")
tap.is(back:edits()[#back:edits()].node, "act3", "saved edit history")
tap.fails(function() return m:save("/nonexistent-dir/x.qbc") end, "nonexistent", "save failure -> nil, msg")

-- runs
local r = qat:run(ds, 1)
tap.is(qdb.type(r), "Run", "m:run(ds, i)")
tap.ok(r.complete, "the run is complete")
tap.is(r.semantics, "qat", "semantics of a qat graph")
local out = r:output()
tap.is(out.numel, 10, "output()")
tap.is(r:top1(), ds:label(1), "top1 of record 1 is its label")
local r2 = qat:run(ds:input(1))
tap.is(qdb.metrics(out, r2:output()).max_abs, 0, "m:run(tensor) equals m:run(ds, i)")
local r3 = qat:run({[inp.name] = ds:input(1)})
tap.is(qdb.metrics(out, r3:output()).max_abs, 0, "m:run{name = tensor}")
local r4 = qdb.run(qat, ds, 1, {semantics = "float"})
tap.is(r4.semantics, "float", "qdb.run with semantics")
tap.ok(qdb.metrics(out, r4:output()).max_abs > 0, "float semantics differs from fake quant")
tap.is(r:layer("conv1").numel, r:value(conv1.outputs[1]).numel, "layer(node) is its first output")
tap.is(r.conv1 ~= nil, true, "r.value_name reads a value")
tap.is(#r:layers(), #qat, "layers()")
tap.is(#r:outputs(), 1, "outputs()")
tap.raises(function() qat:run(ds, 0) end, "out of range", "record 0 raises")
tap.raises(function() qat:run({}) end, "no tensor for input", "missing input raises")
tap.raises(function() qat:run(ds, 1, {semantics = "exact"}) end, "semantics", "bad semantics raises")
tap.raises(function() qat:run(ds, 1, {cpus = {"a"}}) end, "unknown option 'cpus'", "unknown run option raises")
tap.fails(function() return qat:run(qdb.zeros({1, 1, 4, 4})) end, "shape", "wrong input shape -> nil, msg")

-- hooks
local seen = {}
qat:run(ds, 1, {hook = function(name, t, i) seen[#seen + 1] = name end})
tap.is(#seen, #qat, "the hook sees every node")
local partial = qat:run(ds, 1, {hook = function(name) return name == "conv2" end})
tap.ok(not partial.complete, "a hook returning true stops the run")
tap.is(partial:layer("fc2"), nil, "values after the stop are not computed")
tap.raises(function() qat:run(ds, 1, {hook = function() error("hook failed") end}) end,
  "hook failed", "a hook error propagates")

-- rerun with cone reuse equals a full run with the same devices
local rb = bad:run(ds, 35)
local rc = rb:rerun{cpu = {"act3"}}
local full = bad:run(ds, 35, {cpu = {"act3"}})
tap.is(qdb.metrics(rc:output(), full:output()).max_abs, 0, "rerun{cpu} equals a full run")
tap.is(rc:device("act3"), "cpu", "rerun device")
tap.is(rb:device("act3"), "bpu", "the original run is unchanged")
tap.ok(qdb.metrics(rb:output(), rc:output()).max_abs > 0, "moving act3 changes the output of record 35")

-- eval_node on the run's own inputs reproduces the layer
local act3 = bad:node("act3")
local o1 = rb:eval_node("act3", {rb:value(act3.inputs[1])})
tap.is(qdb.metrics(o1, rb:layer("act3")).max_abs, 0, "eval_node reproduces the layer")

-- a run written as a trace
local tw = qdb.trace_writer(dir .. "/run.qtr", {stage = "qat", model = "digits", layers = (function()
  local t = {}
  for i, n in ipairs(qat:nodes()) do t[i] = n.name end
  return t end)()})
r:trace(tw, ds:id(1))
tap.ok(tw:commit(), "r:trace into a TraceWriter")
local rt = qdb.trace(dir .. "/run.qtr")
tap.is(qdb.metrics(rt:get(ds:id(1), "fc2"), out).max_abs, 0, "the written trace holds the run's output")

-- eval and badcases
local recs = {}
for i = 1, 200 do recs[i] = i end
local e = qdb.eval(qat, ds, {records = recs})
tap.is(e.n, 200, "eval over 200 records")
tap.ok(e.accuracy > 0.97, "qat accuracy on 200 records")
tap.is(e.records[200], 200, "eval records are 1-based")
local e1 = qdb.eval(bad, ds, {records = recs, threads = 1})
local e3 = qdb.eval(bad, ds, {records = recs, threads = 3})
local same = true
for i = 1, 200 do same = same and e1.predictions[i] == e3.predictions[i] end
tap.ok(same, "eval does not depend on the thread count")
local slow = 0
for _, i in ipairs(recs) do
  if bad:run(ds, i):top1() == ds:label(i) then slow = slow + 1 end
end
tap.is(e1.correct, slow, "eval equals a loop of m:run")
local ec = qdb.eval(bad, ds, {records = recs, cpu = {"act3"}})
tap.ok(ec.accuracy > e1.accuracy, "eval{cpu = ...} moves nodes")
local et = qdb.eval(qdb.load(D .. "qat.pt.qtr"), ds, {records = {1, 2, 3}})
tap.is(et.n, 3, "eval of a trace")
local eo = qdb.eval(qat, ds, {records = {5}, outputs = true})
tap.is(eo.outputs[1].numel, 10, "eval{outputs = true}")
local cases, sum = qdb.badcases(qat, bad, ds, {records = recs})
local manual = 0
for _, i in ipairs(recs) do
  if qat:run(ds, i):top1() ~= bad:run(ds, i):top1() then manual = manual + 1 end
end
tap.is(#cases, manual, "badcases equals a manual loop")
tap.is(sum.bad, manual, "badcases summary")
tap.ok(cases[1] and cases[1].pred_a ~= cases[1].pred_b, "a bad case disagrees")
local cs = qdb.badcases(qat, bad, ds, {records = recs, by = "cosine", min_cosine = 0.999})
tap.ok(#cs >= #cases, "cosine bad cases")
local _, s2 = qdb.badcases(qat, bad, ds, {records = recs, write = dir .. "/bc.qds"})
tap.is(#qdb.dataset(dir .. "/bc.qds"), manual, "badcases{write} writes the subset")
tap.is(s2.written, dir .. "/bc.qds", "summary names the written file")
tap.raises(function() qdb.eval(qat, nil) end, "needs a dataset", "eval of a model without dataset raises")
tap.raises(function() qdb.badcases(qat, bad, ds, {by = "votes"}) end, "option 'by'", "bad 'by' raises")

-- convert, rounding, scales
local conv, rep = qdb.convert(qat, {profile = "fixed"})
tap.is(conv.stage, "quantized", "qdb.convert makes a quantized model")
tap.ok(rep.n_bpu > 0, "convert report")
local ecv = qdb.eval(conv, ds, {records = recs})
local good = qdb.eval(qdb.load(D .. "quantized.qbc"), ds, {records = recs})
tap.is(ecv.correct, good.correct, "converting again gives the demo's quantized.qbc accuracy")
tap.is(conv:set_rounding("half_even"), "half_away", "set_rounding returns the previous mode")
tap.is(conv.rounding, "half_even", "rounding changed")
tap.raises(function() conv:set_rounding("stochastic") end, "half_away", "bad rounding raises")
local qv = conv1.outputs[1]
local s0 = conv:qparams(qv).scale
local prev = conv:set_scale(qv, {factor = 2})
tap.near(conv:qparams(qv).scale, 2 * s0, 1e-12, "set_scale{factor}")
tap.ok(prev.scale == s0, "set_scale returns the previous qparams")
tap.raises(function() conv:set_scale(qv, -1) end, "positive", "a negative scale raises")
local e_sc = qdb.eval(conv, ds, {records = recs})
tap.ok(e_sc.n == 200, "a model runs after its scale changed (executor re-prepared)")

tap.cleanup()
return tap.done()
