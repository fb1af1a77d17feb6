-- revert_op.lua - move every node of one op type to CPU and show what it
-- does to the accuracy; without an op, try each op type in turn.
--
--   qdb script examples/revert_op.lua QUANT.qbc DATA.qds [OP] [-o OUT.qbc]
--
-- With OP and -o, the edited model (those nodes on CPU) is written to OUT.
local qdb = require "qdb"

local args = {...}
local out
for i = #args - 1, 1, -1 do
  if args[i] == "-o" then out = table.remove(args, i + 1); table.remove(args, i) end
end
local model_path, data_path, op = args[1], args[2], args[3]
if not data_path then
  io.stderr:write("usage: qdb script revert_op.lua QUANT.qbc DATA.qds [OP] [-o OUT.qbc]\n")
  return 2
end
local m = assert(qdb.load(model_path))
local ds = assert(qdb.load(data_path))

if not op then
  local rows, base = qdb.sweep.per_op(m, {data = ds})
  print(string.format("%s on %s: accuracy %.4f with every node on bpu", model_path, data_path, base))
  io.write(qdb.report.table(rows, {"rank", "op", {key = "n", title = "nodes"},
    {key = "score", title = "accuracy", fmt = "%.4f"}, {key = "gain", fmt = "%+.4f"}}))
  return 0
end

local nodes = {}
for _, n in ipairs(m:nodes{op = op, device = "bpu"}) do nodes[#nodes + 1] = n.name end
if #nodes == 0 then
  io.stderr:write("revert_op: no " .. op .. " node runs on bpu in " .. model_path .. "\n")
  return 1
end
local before = qdb.eval(m, ds).accuracy
local after = qdb.eval(m, ds, {cpu = nodes}).accuracy
print(string.format("%d %s node(s) on cpu (%s): accuracy %.4f -> %.4f (%+.4f)",
  #nodes, op, table.concat(nodes, ", "), before, after, after - before))
if out then
  for _, n in ipairs(nodes) do m:device(n, "cpu") end
  assert(m:save(out))
  print("wrote " .. out)
end
return 0
