-- gc.lua - objects and their views collected in every order: tensors of
-- runs, constants of models, runs of models, models closed while runs and
-- views live, executors retired (by an edit) while runs use them. Under
-- ASan (make check in a --enable-sanitizers build) a use-after-free here
-- aborts the test.
local tap = dofile((arg[0]:match("^(.*)/") or ".") .. "/tap.lua")
local qdb = require "qdb"

local D = tap.data("testdata/digits/")
local ds = assert(qdb.load(D .. "digits.qds"))

-- Views of a run outlive the run and its model.
local outs, consts = {}, {}
for i = 1, 30 do
  local m = qdb.load(D .. "quantized.qbc")
  local r = m:run(ds, i)
  outs[i] = r:output()
  consts[i] = m:constant(m:node("conv1").inputs[2])
  if i % 2 == 0 then getmetatable(m).__close(m) end -- explicit close, views alive
  m, r = nil, nil
  if i % 5 == 0 then collectgarbage("collect") end
end
collectgarbage("collect")
collectgarbage("collect")
local m = qdb.load(D .. "quantized.qbc")
local ok = true
for i = 1, 30 do
  ok = ok and qdb.metrics(outs[i], m:run(ds, i):output()).max_abs == 0
  ok = ok and consts[i]:stats().count == consts[1]:stats().count
end
tap.ok(ok, "outputs and constants stay valid after their runs and models are collected")
outs, consts = nil, nil
collectgarbage("collect")

-- A run keeps its model: closing the model variable does not break it.
local r
do
  local m2 <close> = qdb.load(D .. "quantized.qbc")
  r = m2:run(ds, 7)
end
tap.raises(function() return getmetatable(r).__index(r, "model"):nodes() end, "model is closed",
  "a closed model refuses use")
tap.is(r:output().numel, 10, "a run survives its model's <close>")
tap.ok(r:rerun{cpu = {"act3"}}.complete, "and can still be re-run")
r = nil
collectgarbage("collect")

-- Retired executors: an edit that re-prepares while runs of the old
-- executor are alive.
local m3 = qdb.load(D .. "quantized.qbc")
local runs = {}
for i = 1, 10 do
  runs[i] = m3:run(ds, i)
  m3:set_scale(m3:node("conv1").outputs[1], {factor = 1.0 + i / 100})
end
local all = true
for i = 1, 10 do
  all = all and runs[i]:output().numel == 10 and runs[i]:rerun{cpu = {"fc1"}}.complete
end
tap.ok(all, "runs of retired executors stay usable")
runs = nil
collectgarbage("collect")

-- Churn: random interleavings of creation and collection.
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end
local keep = {}
for i = 1, 300 do
  local k = rnd(6)
  if k == 1 then
    keep[rnd(20)] = qdb.load(D .. "quantized.qbc")
  elseif k == 2 then
    local mm = keep[rnd(20)]
    if qdb.type(mm) == "Model" then keep[rnd(20)] = mm:run(ds, rnd(50)) end
  elseif k == 3 then
    local rr = keep[rnd(20)]
    if qdb.type(rr) == "Run" then keep[rnd(20)] = rr:layer(rnd(5)) end
  elseif k == 4 then
    local x = keep[rnd(20)]
    if x and getmetatable(x).__close then getmetatable(x).__close(x) end
  elseif k == 5 then
    keep[rnd(20)] = nil
  else
    collectgarbage("step", 50)
  end
end
keep = nil
collectgarbage("collect")
collectgarbage("collect")
tap.ok(true, "300 random create/view/close/collect steps")

-- Comparisons keep their sides alive.
local cmp
do
  local a = qdb.trace(tap.data("testdata/traces/ref.qtr"))
  local b = qdb.trace(tap.data("testdata/traces/perturbed.qtr"))
  cmp = qdb.compare(a, b)
end
collectgarbage("collect")
tap.is(cmp.n_rows, 8, "a comparison outlives its trace variables")
local ta, tb = cmp:tensors(1, "conv2")
cmp = nil
collectgarbage("collect")
tap.ok(ta.numel == tb.numel, "comparison tensors are copies that outlive it")

return tap.done()
