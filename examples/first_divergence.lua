-- first_divergence.lua - for every sample two traces share, the first
-- layer whose cosine drops below a threshold; then how often each layer
-- is the first.
--
--   qdb script examples/first_divergence.lua A.qtr B.qtr [THRESHOLD]
local qdb = require "qdb"

local a, b, threshold = ...
if not b then
  io.stderr:write("usage: qdb script first_divergence.lua A.qtr B.qtr [THRESHOLD]\n")
  return 2
end
threshold = threshold or "cosine<0.99"
local c = assert(qdb.compare(a, b, {threshold = threshold}))
local count, order = {}, {}
for i, id in ipairs(c:samples()) do
  local _, name = c:first_divergent(i)
  name = name or "(none)"
  if not count[name] then count[name] = 0; order[#order + 1] = name end
  count[name] = count[name] + 1
  print(string.format("sample %-10s %s", id, name))
end
local rows = {}
for _, name in ipairs(order) do rows[#rows + 1] = {layer = name, samples = count[name]} end
table.sort(rows, function(x, y) return x.samples > y.samples end)
print(string.format("%d samples, threshold %s:", c.n_samples, threshold))
io.write(qdb.report.table(rows, {"layer", "samples"}, {indent = 2}))
return 0
