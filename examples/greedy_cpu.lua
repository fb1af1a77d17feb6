-- greedy_cpu.lua - which ops, moved to CPU, bring the quantized model back
-- to agreement with the QAT model? Adds the most helpful node one at a
-- time (the sensitivity engine ranks them) until top-1 agreement reaches
-- TARGET, then writes the edited model.
--
--   qdb script examples/greedy_cpu.lua QUANT.qbc QAT.qbc DATA.qds [TARGET] [OUT.qbc]
local qdb = require "qdb"

local quant_path, qat_path, data_path, target, out = ...
if not data_path then
  io.stderr:write("usage: qdb script greedy_cpu.lua QUANT.qbc QAT.qbc DATA.qds [TARGET] [OUT.qbc]\n")
  return 2
end
target = tonumber(target or "0.99")
local quant = assert(qdb.load(quant_path))
local qat = assert(qdb.load(qat_path))
local ds = assert(qdb.load(data_path))

local g = qdb.sweep.greedy(quant, {data = ds, reference = qat, metric = "top1", target = target})
print(string.format("top-1 agreement with %s: %.4f with every node on bpu", qat_path, g.baseline))
for i, s in ipairs(g.steps) do
  print(string.format("  %d. %-12s %-10s -> %.4f (%+.4f)", i, s.node, s.op, s.score, s.gain))
end
if g.reached then
  print(string.format("target %.4f reached with %d node(s) on cpu: %s", target, #g.cpu,
    table.concat(g.cpu, ", ")))
else
  print(string.format("target %.4f not reached (%.4f)", target, g.score))
end
if out then
  assert(g.model:save(out))
  print("wrote " .. out)
end
return g.reached and 0 or 1
