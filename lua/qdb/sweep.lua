-- qdb.sweep - experiments over many variants of a model: which ops, moved
-- to CPU, restore agreement; which rounding mode or scale fits best.
--
-- Every sweep scores a variant the same way (see M.scorer):
--   opts.data       Dataset (required)
--   opts.reference  Model or Trace whose outputs are the target (optional)
--   opts.metric     "top1" (default: accuracy against the labels, or agreement
--                   with the reference), "cosine" or "sqnr" (need a
--                   reference), or function(out, ref, record) -> number
--   opts.records    list of records (1-based; default all)
--   opts.threads    threads for evaluation
-- Scores are "higher is better"; gains are differences to the baseline.
--
--   local sweep = qdb.sweep
--   local rows, base = sweep.per_op(m, {data = ds})
--   local g = sweep.greedy(m, {data = ds, reference = qat, metric = "top1", target = 0.99})

local qdb = require "qdb"

local M = {}

local function check_model(m, where)
  if qdb.type(m) ~= "Model" then error(where .. ": a Model expected, got " .. (qdb.type(m) or type(m)), 3) end
end

local known = {data = true, reference = true, metric = true, records = true, threads = true,
               target = true, max = true, candidates = true, values = true, factors = true,
               modes = true, progress = true, ops = true}

local function check_opts(opts, where)
  if type(opts) ~= "table" then error(where .. ": an options table expected", 3) end
  for k in pairs(opts) do
    if not known[k] then error(where .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  if qdb.type(opts.data) ~= "Dataset" then error(where .. ": option 'data' (a Dataset) is required", 3) end
end

-- A scorer: scorer(model[, cpu_list]) -> score. It caches the reference's
-- outputs, so scoring many variants costs one reference evaluation.
function M.scorer(opts)
  local metric = opts.metric or "top1"
  local ds = opts.data
  local custom = type(metric) == "function"
  if not custom and metric ~= "top1" and metric ~= "cosine" and metric ~= "sqnr" then
    error("sweep: metric must be top1, cosine, sqnr or a function, not " .. tostring(metric), 3)
  end
  local ref
  if opts.reference then
    ref = qdb.eval(opts.reference, ds, {records = opts.records, threads = opts.threads,
                                        outputs = metric ~= "top1"})
    if not ref then error("sweep: the reference cannot be evaluated", 3) end
  elseif metric == "cosine" or metric == "sqnr" then
    error("sweep: metric " .. metric .. " needs a reference", 3)
  elseif metric == "top1" and ds.label_kind ~= "class" then
    error("sweep: top1 without a reference needs class labels", 3)
  end
  local n_evals = 0
  local function score(model, cpu)
    n_evals = n_evals + 1
    local e, err = qdb.eval(model, ds, {cpu = cpu, records = opts.records,
                                        threads = opts.threads, outputs = metric ~= "top1"})
    if not e then error("sweep: " .. err, 2) end
    if metric == "top1" then
      if not ref then return e.accuracy end
      local agree = 0
      for i = 1, e.n do
        if e.predictions[i] == ref.predictions[i] then agree = agree + 1 end
      end
      return agree / e.n
    end
    if metric == "sqnr" then
      local sig, noise = 0, 0
      for i = 1, e.n do
        local m = qdb.metrics(ref.outputs[i], e.outputs[i])
        noise = noise + m.mse * m.count
        for k = 1, #ref.outputs[i] do
          local a = ref.outputs[i][k]
          sig = sig + a * a
        end
      end
      return noise > 0 and 10 * math.log(sig / noise, 10) or math.huge
    end
    local sum = 0
    for i = 1, e.n do
      if custom then
        sum = sum + metric(e.outputs[i], ref and ref.outputs[i], e.records[i])
      else
        sum = sum + qdb.metrics(ref.outputs[i], e.outputs[i]).cosine
      end
    end
    return sum / e.n
  end
  return score, function() return n_evals end
end

-- sweep.per_op(model, opts) -> rows, baseline
-- For each op type, all bpu nodes of that type on CPU at once.
-- rows: {op, nodes = {names}, n, score, gain}, best gain first.
function M.per_op(m, opts)
  check_model(m, "sweep.per_op")
  check_opts(opts, "sweep.per_op")
  local score = M.scorer(opts)
  local base = score(m)
  local ops, order = {}, {}
  for _, n in ipairs(m:nodes{device = "bpu"}) do
    if not ops[n.op] then ops[n.op] = {}; order[#order + 1] = n.op end
    table.insert(ops[n.op], n.name)
  end
  local rows = {}
  for i, op in ipairs(order) do
    if opts.progress then opts.progress(i - 1, #order) end
    local s = score(m, ops[op])
    rows[#rows + 1] = {op = op, nodes = ops[op], n = #ops[op], score = s, gain = s - base}
  end
  table.sort(rows, function(a, b)
    if a.gain ~= b.gain then return a.gain > b.gain end
    return a.op < b.op
  end)
  for i, r in ipairs(rows) do r.rank = i end
  return rows, base
end

-- The engine's metric name for the scorer's metric.
local function engine_metric(opts)
  return opts.metric or "top1"
end

-- sweep.per_node(model, opts) -> rows, baseline: each bpu node alone on
-- CPU, through the sensitivity engine (cone reuse, threads).
-- rows: {rank, name, op, score, gain}.
function M.per_node(m, opts)
  check_model(m, "sweep.per_node")
  check_opts(opts, "sweep.per_node")
  local r, err = qdb.sensitivity(m, opts.data, {mode = "revert", metric = engine_metric(opts),
    reference = opts.reference, records = opts.records, threads = opts.threads,
    progress = opts.progress, nodes = opts.candidates})
  if not r then error("sweep.per_node: " .. err, 2) end
  local rows = {}
  for i, u in ipairs(r.units) do
    rows[i] = {rank = i, name = u.name, op = u.op, score = u.score, gain = u.effect}
  end
  return rows, r.baseline
end

-- sweep.greedy(model, opts) -> {steps = {{node, op, score, gain}}, cpu = {names},
-- score, baseline, reached, model}
-- Adds the node whose move to CPU helps most, one at a time, until the score
-- reaches opts.target (default 0.99) or opts.max nodes (default 10) or no
-- node helps. `model` is an edited copy with those nodes on CPU.
function M.greedy(m, opts)
  check_model(m, "sweep.greedy")
  check_opts(opts, "sweep.greedy")
  local target = opts.target or 0.99
  local max = opts.max or 10
  local work = m:clone()
  local score = M.scorer(opts)
  local base = score(work)
  local cur = base
  local steps, cpu = {}, {}
  while cur < target and #steps < max do
    local r, err = qdb.sensitivity(work, opts.data, {mode = "revert", metric = engine_metric(opts),
      reference = opts.reference, records = opts.records, threads = opts.threads,
      nodes = opts.candidates and (function()
        local left = {}
        for _, n in ipairs(opts.candidates) do
          if work:device(n) == "bpu" then left[#left + 1] = n end
        end
        return left
      end)() or nil})
    if not r then error("sweep.greedy: " .. err, 2) end
    local best = r.units[1]
    if not best or not (best.effect > 0) then break end
    work:device(best.name, "cpu")
    cpu[#cpu + 1] = best.name
    local s = score(work)
    steps[#steps + 1] = {node = best.name, op = best.op, score = s, gain = s - cur}
    cur = s
    if opts.progress then opts.progress(#steps, max) end
  end
  return {steps = steps, cpu = cpu, score = cur, baseline = base, reached = cur >= target,
          model = work}
end

-- sweep.bisect(model, opts) -> {cpu = {names}, score, baseline, evaluations} | nil, msg
-- A small set of nodes whose move to CPU reaches opts.target: candidates
-- (default: every bpu node) ranked by the sensitivity engine, the shortest
-- prefix of that ranking that reaches the target found by bisection, then
-- every node of it dropped again if the target holds without it.
function M.bisect(m, opts)
  check_model(m, "sweep.bisect")
  check_opts(opts, "sweep.bisect")
  local target = opts.target or 0.99
  local score, evals = M.scorer(opts)
  local base = score(m)
  if base >= target then
    return {cpu = {}, score = base, baseline = base, evaluations = evals()}
  end
  local ranked = M.per_node(m, opts)
  local cand = {}
  for i, r in ipairs(ranked) do cand[i] = r.name end
  local function prefix(k)
    local t = {}
    for i = 1, k do t[i] = cand[i] end
    return t
  end
  local all = score(m, cand)
  if all < target then
    return nil, string.format("target %g not reachable: every candidate on CPU scores %g", target, all)
  end
  -- smallest k with score(prefix(k)) >= target (bisection over k)
  local lo, hi, best_s = 0, #cand, all
  while hi - lo > 1 do
    local mid = (lo + hi) // 2
    local s = score(m, prefix(mid))
    if s >= target then hi, best_s = mid, s else lo = mid end
  end
  local set = prefix(hi)
  -- drop what is not needed, least sensitive first
  for i = #set, 1, -1 do
    if #set > 1 then
      local trial = {}
      for j, n in ipairs(set) do if j ~= i then trial[#trial + 1] = n end end
      local s = score(m, trial)
      if s >= target then set, best_s = trial, s end
    end
  end
  return {cpu = set, score = best_s, baseline = base, evaluations = evals()}
end

-- sweep.rounding(model, opts) -> rows {rounding, score, gain}, baseline
-- The requantization rounding of a fixed-profile graph, each mode in turn
-- (opts.modes, default all three).
function M.rounding(m, opts)
  check_model(m, "sweep.rounding")
  check_opts(opts, "sweep.rounding")
  if m.stage ~= "quantized" or m.profile ~= "fixed" then
    error("sweep.rounding: needs a quantized graph with the fixed profile", 2)
  end
  local score = M.scorer(opts)
  local base = score(m)
  local rows = {}
  for _, mode in ipairs(opts.modes or {"half_away", "half_up", "half_even"}) do
    local c = m:clone()
    c:set_rounding(mode)
    local s = score(c)
    rows[#rows + 1] = {rounding = mode, score = s, gain = s - base, current = mode == m.rounding}
  end
  table.sort(rows, function(a, b) return a.score > b.score end)
  return rows, base
end

-- sweep.scales(model, opts) -> rows {value, factor, score, gain}, baseline
-- Each quantized value's scale (opts.values, default every value with
-- qparams produced by a node) multiplied by each of opts.factors (default
-- 0.5, 0.8, 1.25, 2), one at a time; best gain first.
function M.scales(m, opts)
  check_model(m, "sweep.scales")
  check_opts(opts, "sweep.scales")
  local score = M.scorer(opts)
  local base = score(m)
  local values = opts.values
  if not values then
    values = {}
    for _, v in ipairs(m:values{quantized = true}) do
      local info = m:value(v)
      if info.producer then values[#values + 1] = v end
    end
  end
  local factors = opts.factors or {0.5, 0.8, 1.25, 2}
  local rows = {}
  local total, done = #values * #factors, 0
  for _, v in ipairs(values) do
    for _, f in ipairs(factors) do
      local c = m:clone()
      c:set_scale(v, {factor = f})
      local s = score(c)
      rows[#rows + 1] = {value = v, factor = f, score = s, gain = s - base}
      done = done + 1
      if opts.progress then opts.progress(done, total) end
    end
  end
  table.sort(rows, function(a, b)
    if a.gain ~= b.gain then return a.gain > b.gain end
    if a.value ~= b.value then return a.value < b.value end
    return a.factor < b.factor
  end)
  return rows, base
end

return M
