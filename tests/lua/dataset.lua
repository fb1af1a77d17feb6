-- dataset.lua - DatasetWriter and Dataset: records, inputs, labels, ids,
-- subsets written with ds:write, views surviving collection, misuse.
local tap = dofile((arg[0]:match("^(.*)/") or ".") .. "/tap.lua")
local qdb = require "qdb"

local dir = tap.tmpdir()
local path = dir .. "/d.qds"
local w = qdb.dataset_writer(path, {name = "toy", label = "class", classes = {"zero", "one", "two"},
  inputs = {{name = "x", dtype = "f32", shape = {1, 2}}, {name = "m", dtype = "i8", shape = {2}}}})
tap.ok(w, "dataset_writer opens")
for i = 0, 5 do
  w:add(i, {qdb.tensor{{i, i + 0.5}}, qdb.tensor({i, -i}, {dtype = "i8"})}, i % 3)
end
w:add("extra", {{{9, 9}}, qdb.tensor({1, 1}, {dtype = "i8"})})
tap.raises(function() w:add(7, {qdb.tensor{1}}, 0) end, "2 inputs expected", "wrong input count raises")
tap.ok(w:commit(), "commit")

local ds = qdb.load(path)
tap.is(qdb.type(ds), "Dataset", "qdb.load detects a dataset")
tap.is(#ds, 7, "#ds counts records")
tap.is(ds.name, "toy", "name")
tap.is(ds.label_kind, "class", "label kind")
tap.is(ds.classes[2], "one", "class names")
tap.is(ds.n_inputs, 2, "n_inputs")
tap.is(ds:inputs()[2].dtype, "i8", "inputs() info")
local r = ds[3]
tap.is(r.id, 2, "ds[i] record id (1-based records)")
tap.is(r.label, 2, "record label (class numbers as stored)")
tap.is(r.inputs.x[2], 2.5, "record inputs by name")
tap.is(ds:input(3, "m"):raw(2), -2, "input(i, name)")
tap.is(ds:input(3):raw(1), 2.0, "input(i) is the first input")
tap.is(ds:input(3, 2):raw(1), 2, "input(i, index)")
tap.is(ds:label(7), nil, "a record without label")
tap.is(ds:id(7), "extra", "string id")
tap.is(ds:find("extra"), 7, "find(id)")
tap.is(ds:find(4), 5, "find(int id)")
tap.is(ds:find(99), nil, "find of a missing id is nil")
tap.is(#ds:ids(), 7, "ids()")
tap.raises(function() return ds[0] end, "out of range", "record 0 raises")
tap.raises(function() ds:input(1, "nope") end, "no input 'nope'", "unknown input raises")
tap.raises(function() ds:input(1):set(1, 0) end, "read-only", "dataset views are read-only")
tap.fails(function() return qdb.dataset(dir .. "/none.qds") end, "none.qds", "missing file -> nil, msg")

-- subset
tap.ok(ds:write(dir .. "/sub.qds", {2, 7}, "sub"), "write a subset")
local sub = qdb.dataset(dir .. "/sub.qds")
tap.is(#sub, 2, "subset size")
tap.is(sub:id(2), "extra", "subset keeps ids")
tap.is(sub:label(1), 1, "subset keeps labels")
tap.is(sub.classes[3], "two", "subset keeps class names")
tap.raises(function() ds:write(dir .. "/bad.qds", {99}) end, "out of range", "subset with a bad index raises")

-- views survive their dataset
local keep = {}
do
  local d2 = qdb.dataset(path)
  for i = 1, #d2 do keep[i] = d2:input(i) end
end
collectgarbage("collect")
collectgarbage("collect")
local s = 0
for i = 1, #keep do s = s + keep[i][1] end
tap.is(s, 0 + 1 + 2 + 3 + 4 + 5 + 9, "input views survive collection of their dataset")
do
  local d3 <close> = qdb.dataset(path)
  keep[1] = d3[2].inputs.m
end
tap.is(keep[1]:raw(2), -1, "a view survives <close> of its dataset")

local dw = qdb.dataset_writer(dir .. "/t.qds", {inputs = {{name = "x", shape = {3}}}, label = "tensor"})
dw:add(1, qdb.tensor{1, 2, 3}, {0.5, 0.25})
dw:add(2, qdb.tensor{4, 5, 6})
tap.ok(dw:commit(), "tensor-labelled dataset")
local td = qdb.dataset(dir .. "/t.qds")
tap.is(td.label_kind, "tensor", "tensor label kind")
tap.is(td:label(1)[2], 0.25, "tensor label")
tap.raises(function() qdb.dataset_writer(dir .. "/x.qds", {label = "class"}) end, "inputs", "writer without inputs raises")

tap.cleanup()
return tap.done()
