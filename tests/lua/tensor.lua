-- tensor.lua - the Tensor type: construction, indexing, slices, tables,
-- .npy round trip, stats, histograms, metrics, and misuse.
local tap = dofile((arg[0]:match("^(.*)/") or ".") .. "/tap.lua")
local qdb = require "qdb"

local t = qdb.tensor{{1, 2, 3}, {4, 5, 6}}
tap.is(qdb.type(t), "Tensor", "qdb.type names the class")
tap.is(t.dtype, "f32", "default dtype f32")
tap.is(#t, 6, "#t is numel")
tap.is(t.rank, 2, "rank")
tap.is(t.shape[1] .. "x" .. t.shape[2], "2x3", "shape from nested table")
tap.is(t[1], 1.0, "t[1] flat 1-based")
tap.is(t:get(2, 3), 6.0, "t:get(i, j) multi-index")
tap.is(t:get(5), 5.0, "t:get(i) flat")
tap.is(tostring(t), "Tensor(f32 2x3)", "tostring")
tap.ok(not t.quantized, "unquantized")

local q = qdb.tensor({-128, 0, 10, 127}, {dtype = "i8", shape = {1, 4}, scale = 0.5, zero_point = 2})
tap.is(q:raw(3), 10, "raw integer value")
tap.is(math.type(q:raw(3)), "integer", "raw of an int tensor is a Lua integer")
tap.is(q[3], (10 - 2) * 0.5, "t[i] dequantizes")
tap.is(q.scale, 0.5, "scale property")
tap.is(q.zero_point, 2, "zero_point property")
tap.ok(q.quantized, "quantized")
tap.ok(tostring(q):find("scale=0.5", 1, true), "tostring shows scale")
local qp = q:quant()
tap.is(qp.qmin, -128, "quant().qmin resolves the dtype range")

-- per-channel: channel slices get their own scale
local pc = qdb.tensor({1, 2, 3, 4, 5, 6, 7, 8}, {dtype = "i8", shape = {1, 2, 2, 2},
  scale = {0.1, 0.5}, zero_point = {0, 3}, axis = 1})
local n, axis = pc:channels()
tap.is(n, 2, "channels() count")
tap.is(axis, 1, "channels() axis (0-based)")
local c2 = pc:channel(2)
tap.is(c2.rank, 3, "channel slice drops the axis")
tap.is(c2.scale, 0.5, "channel slice gets its channel's scale")
tap.is(c2:raw(1), 5, "channel slice data")
tap.near(c2[1], (5 - 3) * 0.5, 1e-12, "channel slice dequantizes with its zero point")
local s = t:slice(0, 2)
tap.is(table.concat(s:totable(), ","), "4.0,5.0,6.0", "slice(axis, index)")
local s1 = t:slice(-1, 1)
tap.is(table.concat(s1:totable(), ","), "1.0,4.0", "slice on a negative axis")

-- tables
local nested = t:totable()
tap.is(nested[2][3], 6.0, "totable nested")
local flat = q:totable{raw = true, flat = true}
tap.is(#flat, 4, "totable flat")
tap.is(flat[1], -128, "totable raw")

-- set / copy
local z = qdb.zeros({2, 2}, "i16")
z:set(2, 1, 300)
tap.is(z:raw(2, 1), 300, "set on an owned tensor")
tap.raises(function() z:set(1, 1, 1e9) end, "does not fit i16", "set out of range raises")
tap.raises(function() z:set(1, 1, 0.5) end, "does not fit", "set non-integer into int raises")
local zc = z:copy()
z:set(1, 1, 7)
tap.is(zc:raw(1, 1), 0, "copy is independent")

-- .npy round trip
local dir = tap.tmpdir()
local path = dir .. "/pc.npy"
tap.ok(pc:save(path), "save .npy")
local back = qdb.npy(path)
tap.is(back and back.dtype, "i8", "npy dtype round trip")
tap.is(back and back:raw(8), 8, "npy data round trip")
local back2 = qdb.load(path)
tap.is(qdb.type(back2), "Tensor", "qdb.load detects .npy by content")
tap.fails(function() return qdb.npy(dir .. "/missing.npy") end, "missing.npy", "npy on a missing file -> nil, msg")
tap.fails(function() return pc:save("/nonexistent-dir/x.npy") end, "nonexistent", "save to a bad path -> nil, msg")

-- stats and histograms
local st = qdb.tensor{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}:stats()
tap.is(st.count, 10, "stats count")
tap.is(st.min, 0.0, "stats min")
tap.is(st.max, 9.0, "stats max")
tap.near(st.mean, 4.5, 1e-12, "stats mean")
tap.near(st.zero_frac, 0.1, 1e-12, "stats zero_frac")
tap.is(#st.hist, 32, "stats histogram bins")
local st2 = qdb.stats{1, 2, 3}
tap.near(st2.mean, 2, 1e-12, "qdb.stats on a plain table")
local sat = q:stats()
tap.near(sat.sat_frac, 0.5, 1e-12, "saturation share of an int tensor")
local h, lo, hi = qdb.tensor{0, 1, 2, 3}:histogram(2)
tap.is(h[1] + h[2], 4, "histogram counts every value")
tap.is(lo, 0.0, "histogram lo")
tap.is(hi, 3.0, "histogram hi")
local h2 = qdb.histogram({0, 0.5, 1}, 4, 0, 1)
tap.is(h2[1], 1, "qdb.histogram with explicit range")

-- metrics
local a = qdb.tensor{1, 2, 3, 4}
local b = qdb.tensor{1, 2, 3, 5}
local m = qdb.metrics(a, b)
tap.near(m.max_abs, 1, 1e-12, "metrics max_abs")
tap.near(m.mse, 0.25, 1e-12, "metrics mse")
tap.ok(m.cosine < 1 and m.cosine > 0.99, "metrics cosine")
tap.is(m.worst, 4, "metrics worst element (1-based)")
local m2 = a:metrics(a, {top1 = true})
tap.is(m2.top1, true, "top1 agrees on equal tensors")
tap.is(m2.sqnr_db, math.huge, "sqnr +inf when equal")
tap.raises(function() qdb.metrics(a, qdb.tensor{1, 2}) end, "", "metrics on different sizes raises")
tap.raises(function() qdb.metrics(a, b, {tolerance = 1}) end, "unknown option 'tolerance'", "unknown option raises")

local i, v = qdb.tensor{3, 9, 1}:argmax()
tap.is(i, 2, "argmax index")
tap.is(v, 9.0, "argmax value")
local dq = q:dequantize()
tap.is(dq.dtype, "f32", "dequantize gives f32")
tap.is(dq[3], 4.0, "dequantize value")

-- misuse
tap.raises(function() return t[7] end, "out of range", "index out of range raises")
tap.raises(function() return t:get(1, 2, 3) end, "3 indices for a tensor of rank 2", "wrong index count raises")
tap.raises(function() qdb.tensor{{1, 2}, {3}} end, "ragged", "ragged table raises")
tap.raises(function() qdb.tensor{1, "x"} end, "not a number", "non-number element raises")
tap.raises(function() qdb.tensor({1}, {dtype = "q7"}) end, "unknown dtype", "unknown dtype raises")
tap.raises(function() qdb.tensor({1, 2}, {shape = {3}}) end, "2 values", "shape/data mismatch raises")
tap.raises(function() qdb.tensor({1}, {scale = -1}) end, "", "negative scale raises")
tap.raises(function() t:slice(2, 1) end, "axis out of range", "slice axis out of range raises")
tap.raises(function() t.get(42) end, "Tensor expected", "method on a non-tensor raises")
do
  local closed <close> = qdb.tensor{1, 2}
end
local tc = qdb.tensor{1, 2}
getmetatable(tc).__close(tc)
tap.raises(function() return tc[1] end, "tensor is closed", "a closed tensor refuses use")
tap.is(tostring(tc), "Tensor(closed)", "a closed tensor prints as closed")

tap.cleanup()
return tap.done()
