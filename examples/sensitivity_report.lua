-- sensitivity_report.lua - rank the nodes of a quantized model (revert)
-- or the quantized values of a QAT model (quantize) and print the ranking
-- as a table, CSV or JSON, with the numbers the summary needs.
--
--   qdb script examples/sensitivity_report.lua MODEL.qbc DATA.qds [REF] [table|csv|json]
local qdb = require "qdb"

local model_path, data_path, ref_path, format = ...
if not data_path then
  io.stderr:write("usage: qdb script sensitivity_report.lua MODEL.qbc DATA.qds [REF] [table|csv|json]\n")
  return 2
end
if ref_path == "table" or ref_path == "csv" or ref_path == "json" then
  ref_path, format = nil, ref_path
end
local m = assert(qdb.load(model_path))
local ds = assert(qdb.load(data_path))
local ref = ref_path and assert(qdb.load(ref_path)) or nil

local r = assert(qdb.sensitivity(m, ds, {reference = ref,
  metric = (ref or m.stage == "qat") and "cosine" or "top1"}))
local cols = {"rank", "name", "op", {key = "score", fmt = "%.6f"}}
if r.mode == "quantize" then cols[#cols + 1] = {key = "score_except", fmt = "%.6f"} end
cols[#cols + 1] = {key = "effect", title = r.mode == "revert" and "gain" or "damage", fmt = "%.3g"}
format = format or "table"
if format == "json" then
  io.write(qdb.report.json({model = model_path, mode = r.mode, metric = r.metric,
    baseline = r.baseline, float_score = r.float_score, records = r.n_records, units = r.units}))
elseif format == "csv" then
  io.write(qdb.report.csv(r.units, cols))
else
  print(string.format("%s: %s sensitivity, %s over %d records (baseline %.6f), %.2fs",
    model_path, r.mode, r.metric, r.n_records, r.baseline, r.seconds))
  io.write(qdb.report.table(r.units, cols))
end
return 0
