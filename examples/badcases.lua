-- badcases.lua - the records where the quantized model disagrees with the
-- QAT model, where inside the network each of them goes wrong first, and
-- (optionally) those records as a dataset of their own.
--
--   qdb script examples/badcases.lua QAT.qbc QUANT.qbc DATA.qds [OUT.qds]
local qdb = require "qdb"

local qat_path, quant_path, data_path, out = ...
if not data_path then
  io.stderr:write("usage: qdb script badcases.lua QAT.qbc QUANT.qbc DATA.qds [OUT.qds]\n")
  return 2
end
local qat = assert(qdb.load(qat_path))
local quant = assert(qdb.load(quant_path))
local ds = assert(qdb.load(data_path))

local cases, summary = qdb.badcase.find(qat, quant, ds)
io.write(qdb.badcase.report(cases, summary, 10))
if #cases == 0 then return 0 end
local rows = qdb.badcase.first_divergent(qat, quant, ds, cases, {max = 50})
print("first divergent layer (cosine < 0.99) of the first " .. math.min(#cases, 50) .. " bad cases:")
io.write(qdb.report.table(rows, {"layer", "count", {key = "share", fmt = "%.0f%%",
  get = function(r) return 100 * r.share end}}, {indent = 2}))
if out then
  assert(qdb.badcase.write(ds, cases, out))
  print("wrote " .. #cases .. " records to " .. out)
end
return 0
