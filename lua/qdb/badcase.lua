-- qdb.badcase - the records where a candidate disagrees with its reference,
-- and where inside the network each of them starts to go wrong.
--
--   local bc = qdb.badcase
--   local cases, summary = bc.find(qat, quant, ds)            -- top-1 disagreements
--   print(bc.report(cases, summary))
--   local rows = bc.first_divergent(qat, quant, ds, cases)    -- which layer, how often
--   bc.write(ds, cases, "badcases.qds")
--
-- Sides are Models (run on the record) or Traces (their record for the
-- record's sample id). Layers align by name: a node's name is its layer.

local qdb = require "qdb"

local M = {}

-- bc.find(a, b, ds[, opts]) -> cases, summary: qdb.badcases with the same
-- options (by = "top1" | "cosine" | "both", min_cosine, records, threads,
-- a = {...}, b = {...} per-side options, write = path).
function M.find(a, b, ds, opts)
  local cases, summary = qdb.badcases(a, b, ds, opts)
  if not cases then error("badcase.find: " .. tostring(summary), 2) end
  return cases, summary
end

-- One side's layers for one record: name -> Tensor, and the names in order.
local function side_layers(side, ds, record, opts)
  local kind = qdb.type(side)
  if kind == "Model" then
    local r, err = side:run(ds, record, opts)
    if not r then error("badcase: " .. err, 3) end
    local out, order = {}, {}
    for _, l in ipairs(r:layers()) do
      local t = r:layer(l.index)
      if t then out[l.name] = t; order[#order + 1] = l.name end
    end
    return out, order
  elseif kind == "Trace" then
    local id = ds:id(record)
    local out, order = {}, {}
    for _, l in ipairs(side:layers()) do
      local t = side:get(id, l.name)
      if t then out[l.name] = t; order[#order + 1] = l.name end
    end
    return out, order
  end
  error("badcase: a Model or Trace expected, got " .. (qdb.type(side) or type(side)), 3)
end

-- bc.layers(a, b, ds, record[, opts]) -> rows {name, cosine, max_abs, sqnr_db,
-- diverged} for every layer both sides have, in b's order. opts.threshold
-- (default "cosine<0.99") marks divergence; opts.a / opts.b run options.
function M.layers(a, b, ds, record, opts)
  opts = opts or {}
  local metric, limit = ("cosine<0.99"):match("(%w+)%s*<%s*([%d.e+-]+)")
  local below = true
  if opts.threshold then
    metric, limit = opts.threshold:match("^%s*([%w_]+)%s*<%s*([%d.e+-]+)%s*$")
    if not metric then
      metric, limit = opts.threshold:match("^%s*([%w_]+)%s*>%s*([%d.e+-]+)%s*$")
      below = false
    end
    if not metric then error("badcase.layers: threshold like 'cosine<0.99' expected", 2) end
  end
  limit = tonumber(limit)
  local la = side_layers(a, ds, record, opts.a)
  local lb, order = side_layers(b, ds, record, opts.b)
  local rows = {}
  for _, name in ipairs(order) do
    local ta, tb = la[name], lb[name]
    if ta and ta.numel == tb.numel then
      local m = qdb.metrics(ta, tb)
      local v = m[metric]
      local div = v == nil or v ~= v or (below and v < limit) or (not below and v > limit)
      rows[#rows + 1] = {name = name, cosine = m.cosine, max_abs = m.max_abs,
                         sqnr_db = m.sqnr_db, max_steps = m.max_steps, diverged = div}
    end
  end
  return rows
end

-- bc.first_divergent(a, b, ds, cases[, opts]) -> rows {layer, count, share,
-- records}, most frequent first: for each bad case (at most opts.max, default
-- 100), the first layer that crosses opts.threshold.
function M.first_divergent(a, b, ds, cases, opts)
  opts = opts or {}
  local counts, order = {}, {}
  local n = math.min(#cases, opts.max or 100)
  for i = 1, n do
    local rows = M.layers(a, b, ds, cases[i].record, opts)
    local first = "(none)"
    for _, r in ipairs(rows) do
      if r.diverged then first = r.name; break end
    end
    if not counts[first] then counts[first] = {}; order[#order + 1] = first end
    table.insert(counts[first], cases[i].record)
    if opts.progress then opts.progress(i, n) end
  end
  local out = {}
  for _, layer in ipairs(order) do
    out[#out + 1] = {layer = layer, count = #counts[layer], share = #counts[layer] / math.max(n, 1),
                     records = counts[layer]}
  end
  table.sort(out, function(x, y)
    if x.count ~= y.count then return x.count > y.count end
    return x.layer < y.layer
  end)
  return out
end

-- bc.report(cases, summary[, max]) -> text: the summary and the first cases.
function M.report(cases, summary, max)
  local report = require "qdb.report"
  local lines = {}
  local function pct(v) return v and string.format("%.2f%%", 100 * v) or "-" end
  lines[1] = string.format("%d of %d records disagree (agreement %s; accuracy a %s, b %s)",
    summary.bad, summary.n, pct(summary.agreement), pct(summary.accuracy_a), pct(summary.accuracy_b))
  local shown = {}
  for i = 1, math.min(#cases, max or 20) do shown[i] = cases[i] end
  if #shown > 0 then
    lines[2] = report.table(shown, {"record", "id", "label", "pred_a", "pred_b",
                                    {key = "cosine", fmt = "%.5f"}}, {indent = 2}):gsub("\n$", "")
    if #cases > #shown then lines[3] = string.format("  ... %d more", #cases - #shown) end
  end
  return table.concat(lines, "\n") .. (lines[3] and "\n" or "")
end

-- bc.write(ds, cases, path) -> true | nil, msg: the bad records as a dataset.
function M.write(ds, cases, path)
  local recs = {}
  for i, c in ipairs(cases) do recs[i] = c.record end
  return ds:write(path, recs, ds.name .. "-badcases")
end

return M
