-- trace.lua - the Trace and TraceWriter types, views keeping their trace
-- alive through garbage collection and explicit close.
local tap = dofile((arg[0]:match("^(.*)/") or ".") .. "/tap.lua")
local qdb = require "qdb"

local ref_path = tap.data("testdata/traces/ref.qtr")
local tr = qdb.load(ref_path)
tap.is(qdb.type(tr), "Trace", "qdb.load detects a trace")
tap.is(tr.n_layers, 8, "layer count")
tap.is(#tr, 4, "#trace is the sample count")
tap.is(tr.stage, "float", "stage")
local layers = tr:layers()
tap.is(layers[2].name, "conv1", "layers() in execution order")
tap.is(layers[2].op, "conv2d", "layer op")
tap.is(tr:layer("fc").index, 7, "layer(name).index")
tap.is(tr:samples()[1], 0, "sample ids as written (integers)")
tap.is(tr:sample(4), 3, "sample(i)")
local x = tr:get(0, "conv1")
tap.is(x and x.shape[2], 8, "get(sample, layer) returns the tensor")
tap.is(tr:get(0, 2).numel, x.numel, "layer by 1-based index")
tap.ok(tr:has(1, "fc"), "has()")
tap.ok(not tr:has(99, "fc"), "has() on a missing sample")
tap.fails(function() return tr:get(99, "fc") end, "no sample 99", "missing sample -> nil, msg")
tap.fails(function() return tr:get(0, "nope") end, "no layer nope", "missing layer -> nil, msg")
tap.raises(function() tr:get(0, 99) end, "out of range", "layer index out of range raises")
tap.raises(function() x:set(1, 0) end, "read-only", "a trace view is read-only")
tap.fails(function() return qdb.trace("/nonexistent.qtr") end, "/nonexistent.qtr", "open failure -> nil, msg")
tap.fails(function() return qdb.load("/nonexistent.qtr") end, "/nonexistent.qtr", "load failure -> nil, msg")

-- Views outlive their trace variable.
local want = 0
for s = 0, 3 do want = want + tr:get(s, "softmax"):stats().mean end
local views = {}
do
  local t2 = qdb.trace(ref_path)
  for s = 0, 3 do views[#views + 1] = t2:get(s, "softmax") end
end
for _ = 1, 3 do collectgarbage("collect") end
local sum = 0
for _, v in ipairs(views) do sum = sum + v:stats().mean end
tap.near(sum, want, 1e-9, "views stay valid after their trace is collected")

-- Explicit close with live views: the mapping stays until the views go.
local keep
do
  local t3 <close> = qdb.trace(ref_path)
  keep = t3:get(2, "fc")
end
tap.ok(keep:stats().count == 10, "a view survives its trace's <close>")
local t4 = qdb.trace(ref_path)
getmetatable(t4).__close(t4)
tap.raises(function() return t4:layers() end, "trace is closed", "a closed trace refuses use")
tap.is(tostring(t4), "Trace(closed)", "tostring of a closed trace")
keep = nil
views = nil

-- Churn: many traces and views, collected in every order.
for i = 1, 200 do
  local t5 = qdb.trace(ref_path)
  local v = t5:get(i % 4, "conv2")
  if i % 3 == 0 then getmetatable(t5).__close(t5) end
  t5 = nil
  if i % 7 == 0 then collectgarbage("collect") end
  assert(v.numel == 128)
end
collectgarbage("collect")
tap.ok(true, "open/view/close churn survives collection")

-- Writer round trip
local dir = tap.tmpdir()
local out = dir .. "/w.qtr"
local w = qdb.trace_writer(out, {stage = "qat", model = "m", layers = {"a", "b"}, ops = {"conv2d", "relu"}})
w:add(0, "a", qdb.tensor{1, 2, 3})
w:add("s1", "b", {4, 5})
tap.ok(w:commit(), "writer commit")
tap.raises(function() w:add(0, "a", {1}) end, "already committed", "writer after commit raises")
local rt = qdb.trace(out)
tap.is(rt and rt.stage, "qat", "written trace stage")
tap.is(rt and rt:get("s1", "b")[2], 5.0, "written trace record with a string id")
tap.is(rt and rt:layer("a").op, "conv2d", "written layer op")
local w2 = qdb.trace_writer(dir .. "/aborted.qtr", {model = "m", layers = {"a"}, ops = {"relu"}})
w2:abort()
tap.fails(function() return qdb.trace(dir .. "/aborted.qtr") end, "aborted.qtr", "aborted writer leaves no file")
tap.raises(function() qdb.trace_writer(out, {stage = "x"}) end, "layers", "writer without layers raises")

tap.cleanup()
return tap.done()
