-- qdb.triage: the consistency procedure of a quantized model, automated
-- (`qdb triage`; man qdb, section TRIAGE).
--
--   local triage = require "qdb.triage"
--   local result = triage.run{qat = "qat.pt.qtr", bc = "qat.qbc",
--                             quantized = "quantized.qbc", small = "small.qds",
--                             large = "large.qds", out = "bundle"}
--   os.exit(triage.main(arg))         -- the command line, as `qdb triage`
--
-- Steps (DESIGN.md section 1), each printing what it measured and what it
-- concluded:
--   0 advisor   qdb.check on qat.bc with the QAT trace (data rules and the
--               fake-quant/observer "qstate" audit) and on quantized.bc
--   1 large set enough frames; accuracy of qat.bc with a bootstrap CI
--               (stable?); quantized.bc's gap with a paired CI (does the set
--               reproduce a gap?)
--   2 user side qat.export (or qat.pt) against qat.bc on the small set:
--               top-1 agreement, output cosine, per-layer comparison (first
--               divergent layer); when inconsistent: fake quant disabled on
--               both (--qat-float trace), the qstate audit, and the verdict
--               fake-quant/observer state vs model/pre-processing mismatch
--   3 tool side quantized.bc against the QAT reference on the large set;
--               export stage (qat.pt vs qat.export) or convert stage (bad
--               cases between qat.bc and quantized.bc, per-layer comparison
--               on them cumulative and isolated, sensitivity in revert mode)
--   4 revert    greedy CPU revert of the ranked ops until quantized.bc is
--               consistent again; the edited model is saved
-- The bundle directory gets report.md (verdict first), report.json,
-- per-layer CSVs, badcases.qds, the edited model and SVG charts.
--
-- qat.pt is a trace, so on the large set qat.bc stands for it: step 2 is
-- what shows the two agree. Every threshold is an option (M.options).

local svg = require "qdb.svg"

local M = {}

-- name, key, kind, default, help
M.options = {
  {"qat", "qat", "path", nil, "QAT.pt.qtr: trace of the torch QAT model (required)"},
  {"export", "export", "path", nil, "QAT.EXPORT.qtr: trace after export-time replacements"},
  {"qat-float", "qat_float", "path", nil,
   "trace of the QAT model with fake quant disabled (step 2's re-check)"},
  {"bc", "bc", "path", nil, "QAT.qbc: the exported graph, fake-quant semantics (required)"},
  {"quantized", "quantized", "path", nil, "QUANT.qbc: the converted integer graph (required)"},
  {"small", "small", "path", nil, "SMALL.qds: small set for the user-side check (required)"},
  {"large", "large", "path", nil, "LARGE.qds: large set that reproduces the gap (required)"},
  {"output", "out", "path", "qdb-triage", "bundle directory (created; files replaced)"},
  {"open", "open", "flag", false, "start the TUI on the decisive comparison"},
  {"min-frames", "min_frames", "int", 1000, "frames the large set needs"},
  {"ci-width", "ci_width", "number", 0.02, "largest CI half-width of a stable accuracy"},
  {"level", "level", "number", 0.95, "confidence level of the bootstrap CIs"},
  {"reps", "reps", "int", 1000, "bootstrap replicates"},
  {"seed", "seed", "int", 1, "bootstrap seed"},
  {"acc-tol", "acc_tol", "number", 0.005, "accuracy gap that counts (tool side)"},
  {"tool-top1", "tool_top1", "number", 0.01,
   "share of large-set frames whose top-1 may differ (tool side)"},
  {"user-top1", "user_top1", "number", 0.0,
   "share of small-set frames whose top-1 may differ (user side)"},
  {"user-cosine", "user_cosine", "number", 0.9999, "lowest mean output cosine (user side)"},
  {"user-threshold", "user_threshold", "string", "max_steps>1",
   "per-layer divergence at the user side (identical numerics expected)"},
  {"threshold", "threshold", "string", "cosine<0.99",
   "per-layer divergence between qat.bc and quantized.bc"},
  {"max-revert", "max_revert", "int", 8, "ops the greedy CPU revert tries at most"},
  {"threads", "threads", "int", 0, "threads for evaluation (0: all CPUs)"},
  {"quiet", "quiet", "flag", false, "print only the verdict"},
}

local USAGE = [[
usage: qdb triage --qat QAT.pt.qtr [--export QAT.EXPORT.qtr] --bc QAT.qbc
                  --quantized QUANT.qbc --small SMALL.qds --large LARGE.qds
                  [-o DIR] [--open] [options]
Runs the consistency procedure (man qdb, TRIAGE) and writes a support bundle
to DIR: report.md (verdict first), report.json, per-layer CSVs, badcases.qds,
the edited model and SVG charts.
Exit status: 0 consistent, 1 an inconsistency was found, 2 bad input or
usage, 3 internal failure or interrupted.
options:
]]

function M.usage()
  local b = {USAGE}
  for _, o in ipairs(M.options) do
    local arg = o[3] == "flag" and "" or (" " .. o[3]:upper())
    local def = o[4] ~= nil and o[3] ~= "flag" and (" (" .. tostring(o[4]) .. ")") or ""
    b[#b + 1] = string.format("  %-26s %s%s\n", "--" .. o[1] .. arg, o[5], def)
  end
  b[#b + 1] = "  -o DIR is --output DIR, -q is --quiet; -h, --help this text\n"
  return table.concat(b)
end

-- Errors that are the user's (bad files, options): exit 2 with one line.
local BadInput = {}
BadInput.__index = BadInput
BadInput.__tostring = function(e) return e.msg end
local function bad(fmt, ...)
  error(setmetatable({msg = string.format(fmt, ...)}, BadInput), 0)
end

function M.parse_args(argv)
  local o, by_name = {}, {}
  for _, d in ipairs(M.options) do
    by_name[d[1]] = d
    o[d[2]] = d[4]
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      return nil, "help"
    end
    local name, val = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-]+)$") end
    if a == "-o" then name = "output" end
    if a == "-q" then name = "quiet" end
    local d = name and by_name[name]
    if not d then
      bad("unknown option or operand '%s' (qdb triage --help)", a)
    end
    if d[3] == "flag" then
      if val then bad("--%s takes no value", name) end
      o[d[2]] = true
    else
      if not val then
        i = i + 1
        val = argv[i]
        if val == nil then bad("--%s needs a value", name) end
      end
      if d[3] == "number" or d[3] == "int" then
        local v = tonumber(val)
        if not v or v ~= v or v == math.huge or v == -math.huge or v < 0 or
          (d[3] == "int" and math.type(v) ~= "integer" and v ~= math.floor(v)) then
          bad("--%s: expected a %s >= 0, not '%s'", name,
            d[3] == "int" and "whole number" or "number", val)
        end
        o[d[2]] = d[3] == "int" and math.tointeger(v) or v
      else
        o[d[2]] = val
      end
    end
    i = i + 1
  end
  for _, k in ipairs{"qat", "bc", "quantized", "small", "large"} do
    if not o[k] then bad("--%s is required (qdb triage --help)", k) end
  end
  if not (o.level > 0 and o.level < 1) then bad("--level: expected 0 < L < 1") end
  if o.reps < 10 then bad("--reps: at least 10") end
  return o
end

-- ---- small helpers ---------------------------------------------------------

local function fmt(v, prec)
  if type(v) ~= "number" then return tostring(v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  return string.format("%." .. (prec or 4) .. "f", v)
end
local function pct(v) return v == v and string.format("%.2f%%", 100 * v) or "nan" end
local function plural(n, word) return string.format("%d %s%s", n, word, n == 1 and "" or "s") end
local function basename(p) return (tostring(p):match("([^/]+)$")) or tostring(p) end

local function json_encode(v, indent)
  indent = indent or ""
  local t = type(v)
  if t == "nil" then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v then return '"nan"' end
    if v == math.huge then return '"inf"' end
    if v == -math.huge then return '"-inf"' end
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.17g", v)
  end
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      local map = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}
      return map[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  end
  if t == "table" then
    local inner = indent .. "  "
    local n = #v
    local is_array = n > 0 or next(v) == nil
    if is_array then
      for k in pairs(v) do
        if math.type(k) ~= "integer" or k < 1 or k > n then is_array = false break end
      end
    end
    local parts = {}
    if is_array then
      if n == 0 then return "[]" end
      for i = 1, n do parts[i] = inner .. json_encode(v[i], inner) end
      return "[\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local val = v[k]
      if val == nil then val = v[tonumber(k)] end
      parts[#parts + 1] = inner .. json_encode(k) .. ": " .. json_encode(val, inner)
    end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
  end
  return json_encode(tostring(v))
end
M.json_encode = json_encode

local function csv_field(s)
  s = tostring(s)
  if s:find('[,"\r\n]') or s:match("^%s") or s:match("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

local function csv(rows, cols)
  local out = {}
  local head = {}
  for i, c in ipairs(cols) do head[i] = csv_field(c[1]) end
  out[1] = table.concat(head, ",")
  for _, r in ipairs(rows) do
    local f = {}
    for i, c in ipairs(cols) do
      local v = c[2](r)
      if math.type(v) == "integer" then
        v = tostring(v)
      elseif type(v) == "number" then
        v = (v ~= v or v == math.huge or v == -math.huge) and fmt(v) or string.format("%.9g", v)
      end
      f[i] = csv_field(v == nil and "" or v)
    end
    out[#out + 1] = table.concat(f, ",")
  end
  return table.concat(out, "\n") .. "\n"
end

-- ---- the run -----------------------------------------------------------------

local Triage = {}
Triage.__index = Triage

function Triage:say(fmt_, ...)
  if not self.o.quiet then
    io.stdout:write(string.format(fmt_, ...), "\n")
    io.stdout:flush()
  end
end

-- A progress bar on stderr (only on a terminal) for the C loops that take
-- a progress function; returns nil (no bar) otherwise.
function Triage:progress(label)
  if not self.ui.tty or self.o.quiet then return nil end
  local width = math.max(20, math.min(60, (self.ui.width or 80) - #label - 16))
  local last = -1
  return function(done, total)
    if total <= 0 then return false end
    local f = done / total
    local cells = math.floor(f * width + 0.5)
    if cells ~= last or done == total then
      last = cells
      io.stderr:write(string.format("\r  %s [%s%s] %3d%%", label, string.rep("#", cells),
        string.rep(" ", width - cells), math.floor(100 * f + 0.5)))
      if done >= total then
        io.stderr:write("\r" .. string.rep(" ", #label + width + 12) .. "\r")
      end
      io.stderr:flush()
    end
    return false
  end
end

function Triage:step(id, title)
  local s = {id = id, title = title, measured = {}, lines = {}, conclusion = nil}
  self.steps[#self.steps + 1] = s
  self.cur = s
  self:say("")
  self:say("step %s  %s", id, title)
  return s
end

-- One measurement: printed indented, kept for the report.
function Triage:measured(key, value, fmt_, ...)
  local s = self.cur
  if key then s.measured[key] = value end
  if fmt_ then
    local line = string.format(fmt_, ...)
    s.lines[#s.lines + 1] = line
    self:say("  %s", line)
  end
end

function Triage:conclude(fmt_, ...)
  local line = string.format(fmt_, ...)
  self.cur.conclusion = line
  self:say("  => %s", line)
end

function Triage:file(name, content, what)
  local path = self.o.out .. "/" .. name
  local ok, err = qdb.write_file(path, content)
  if not ok then error("cannot write " .. path .. ": " .. tostring(err), 0) end
  self.files[#self.files + 1] = {name = name, what = what}
  return path
end

local function load_kind(path, kind, what)
  local v, err = qdb.load(path)
  if not v then bad("--%s: %s", what, err) end
  if qdb.type(v) ~= kind then
    bad("--%s: %s is a %s, expected a %s", what, path, qdb.type(v) or type(v), kind)
  end
  return v
end

function Triage:eval(src, ds, opts, label)
  opts = opts or {}
  opts.threads = self.o.threads
  opts.progress = self:progress(label)
  local e, err = qdb.eval(src, ds, opts)
  if not e then bad("%s: %s", label, err) end
  return e
end

-- Per-record scores: 1/0 correct against labels, or agreement with `ref`
-- predictions when the set has no labels.
local function scores(e, ref)
  local s = {}
  for i = 1, e.n do
    local lab = e.labels[i]
    if lab and lab >= 0 then
      s[i] = e.predictions[i] == lab and 1 or 0
    else
      s[i] = (ref and e.predictions[i] == ref.predictions[i]) and 1 or 0
    end
  end
  return s
end

local function mean(t)
  local s = 0
  for i = 1, #t do s = s + t[i] end
  return #t > 0 and s / #t or 0 / 0
end

local function agreement(a, b)
  local n = 0
  for i = 1, a.n do if a.predictions[i] == b.predictions[i] then n = n + 1 end end
  return a.n > 0 and n / a.n or 1
end

local function output_cosine(a, b)
  local s, n = 0, 0
  for i = 1, a.n do
    local m = qdb.metrics(a.outputs[i], b.outputs[i])
    s, n = s + m.cosine, n + 1
  end
  return n > 0 and s / n or 1
end

-- Records of dataset ds whose ids a trace holds (1-based, dataset order).
local function records_in(ds, tr)
  local ids = {}
  for _, id in ipairs(tr:samples()) do ids[tostring(id)] = true end
  local recs = {}
  for i, id in ipairs(ds:ids()) do
    if ids[tostring(id)] then recs[#recs + 1] = i end
  end
  return recs
end

-- Aggregated per-layer comparison: rows with mean/worst metrics, the first
-- row that diverged on some sample, and the comparison itself.
function Triage:layers(a, b, opts, label)
  local c, err = qdb.compare(a, b, opts)
  if not c then bad("%s: %s", label, err) end
  local rows = c:aggregate(self:progress(label))
  -- max_steps needs B's quantization step; two float traces have none, so
  -- judge those by the output-cosine limit instead of never diverging
  if opts.threshold and opts.threshold:find("max_steps", 1, true) then
    local applies = false
    for _, r in ipairs(rows) do
      if r.worst and r.worst.max_steps then applies = true end
    end
    if not applies then
      opts.threshold = "cosine<" .. string.format("%.10g", self.o.user_cosine)
      c, err = qdb.compare(a, b, opts)
      if not c then bad("%s: %s", label, err) end
      rows = c:aggregate(self:progress(label))
    end
  end
  local first
  for i, r in ipairs(rows) do
    if (r.n_diverged or 0) > 0 then first = i break end
  end
  return {c = c, rows = rows, first = first, n_samples = #c:samples(), label = label,
    threshold = opts.threshold}
end

local LAYER_COLS = {
  {"layer", function(r) return r.name end},
  {"layer_b", function(r) return r.name_b end},
  {"op", function(r) return r.op end},
  {"device", function(r) return r.device or "" end},
  {"samples", function(r) return r.n_ok end},
  {"diverged", function(r) return r.n_diverged end},
  {"mean_cosine", function(r) return r.mean and r.mean.cosine end},
  {"worst_cosine", function(r) return r.worst and r.worst.cosine end},
  {"mean_sqnr_db", function(r) return r.mean and r.mean.sqnr_db end},
  {"worst_max_abs", function(r) return r.worst and r.worst.max_abs end},
  {"worst_max_steps", function(r) return r.worst and r.worst.max_steps end},
  {"mean_mismatch", function(r) return r.mean and r.mean.mismatch end},
}

function Triage:layer_csv(name, L, what)
  self:file(name, csv(L.rows, LAYER_COLS), what)
  self.series[#self.series + 1] = {name = L.label, rows = L.rows}
end

-- ---- steps ---------------------------------------------------------------------

function Triage:step0()
  self:step("0", "advisor: what in the models usually breaks consistency")
  local R = self.export or self.qat
  local f1, s1 = qdb.check(self.bc, R)
  if not f1 then bad("advisor: %s", s1) end
  local f2, s2 = qdb.check(self.quantized, self.qat,
    {skip = "qstate-observer,qstate-fake-quant,qstate-scale"})
  if not f2 then bad("advisor: %s", s2) end
  local all = {}
  for _, f in ipairs(f1) do f.model = "qat.bc"; all[#all + 1] = f end
  for _, f in ipairs(f2) do f.model = "quantized.bc"; all[#all + 1] = f end
  self.findings = all
  local by_rule, order = {}, {}
  for _, f in ipairs(all) do
    if f.severity ~= "info" then
      local k = f.model .. " " .. f.rule
      if not by_rule[k] then
        by_rule[k] = {model = f.model, rule = f.rule, severity = f.severity, where = {}}
        order[#order + 1] = k
      end
      local w = by_rule[k].where
      w[#w + 1] = f.where
    end
  end
  self:measured("qat_bc", {errors = s1.errors, warnings = s1.warnings, infos = s1.infos},
    "qat.bc with %s: %s, %s, %d info", basename(R.path), plural(s1.errors, "error"),
    plural(s1.warnings, "warning"), s1.infos)
  self:measured("quantized_bc", {errors = s2.errors, warnings = s2.warnings, infos = s2.infos},
    "quantized.bc with %s: %s, %s, %d info", basename(self.qat.path),
    plural(s2.errors, "error"), plural(s2.warnings, "warning"), s2.infos)
  for _, k in ipairs(order) do
    local g = by_rule[k]
    local w = g.where
    local list = table.concat(w, ", ", 1, math.min(#w, 6)) .. (#w > 6 and ", ..." or "")
    self:measured(nil, nil, "%s %s %s at %d place%s (%s)", g.model, g.severity, g.rule, #w,
      #w == 1 and "" or "s", list)
  end
  self.qstate = {}
  for _, f in ipairs(f1) do
    if f.rule:match("^qstate%-") then self.qstate[#self.qstate + 1] = f end
  end
  if #order == 0 then
    self:conclude("nothing at warning or above")
  else
    self:conclude("%s at warning or above; the steps below test them (all findings: report.md)",
      plural(#order, "kind of finding"))
  end
end

function Triage:step1()
  local o = self.o
  self:step("1", "large set: enough frames, stable accuracy, a reproducible gap")
  local n = self.large.count
  self.eB = self:eval(self.bc, self.large, {}, "qat.bc on the large set")
  self.eQ = self:eval(self.quantized, self.large, {}, "quantized.bc on the large set")
  local labelled = self.eB.n_labeled == self.eB.n and self.eB.n > 0
  local sB, sQ = scores(self.eB, nil), scores(self.eQ, self.eB)
  if not labelled then
    -- without labels the score is top-1 agreement with qat.bc
    sB = {}
    for i = 1, self.eB.n do sB[i] = 1 end
  end
  self.sB, self.sQ, self.labelled = sB, sQ, labelled
  local accB, accQ = mean(sB), mean(sQ)
  local ciB = qdb.bootstrap(sB, {reps = o.reps, level = o.level, seed = o.seed})
  local gap = qdb.bootstrap(sB, sQ, {reps = o.reps, level = o.level, seed = o.seed})
  local half = (ciB.hi - ciB.lo) / 2
  local agree = agreement(self.eB, self.eQ)
  self.accB, self.accQ, self.gap, self.agreeBQ = accB, accQ, gap, agree
  local lv = math.floor(o.level * 100 + 0.5)
  self:measured("frames", n, "%s: %d frames (need %d)", basename(self.large.path), n, o.min_frames)
  if labelled then
    self:measured("accuracy_bc", {value = accB, lo = ciB.lo, hi = ciB.hi},
      "accuracy of qat.bc %s, %d%% CI [%s, %s] (half-width %s, limit %s)", fmt(accB),
      lv, fmt(ciB.lo), fmt(ciB.hi), fmt(half), fmt(o.ci_width))
  else
    self:measured("labels", false, "no class labels: scores are top-1 agreement with qat.bc")
  end
  self:measured("accuracy_quantized", accQ, "%s of quantized.bc %s; top-1 agreement with qat.bc %s",
    labelled and "accuracy" or "agreement", fmt(accQ), pct(agree))
  self:measured("gap", {value = gap.estimate, lo = gap.lo, hi = gap.hi},
    "gap qat.bc - quantized.bc %s, %d%% CI [%s, %s] (paired bootstrap, %d replicates)",
    fmt(gap.estimate), lv, fmt(gap.lo), fmt(gap.hi), o.reps)
  local problems = {}
  if n < o.min_frames then problems[#problems + 1] = string.format("only %d frames", n) end
  if labelled and half > o.ci_width then
    problems[#problems + 1] = "accuracy is not stable (CI too wide)"
  end
  self.gap_significant = gap.lo > 0 or gap.hi < 0
  self.large_problems = problems
  local reproduces = self.gap_significant or agree < 1 - o.tool_top1
  if #problems > 0 then
    self:conclude("warning: %s%s", table.concat(problems, "; "),
      reproduces and "" or "; and it shows no gap between qat.bc and quantized.bc")
  elseif reproduces then
    self:conclude("the large set is usable and reproduces a gap")
  else
    self:conclude("the large set is usable; it shows no gap between qat.bc and quantized.bc " ..
      "(a gap seen elsewhere is not reproduced here)")
  end
end

function Triage:step2()
  local o = self.o
  local R = self.export or self.qat
  local rname = self.export and "qat.export" or "qat.pt"
  self:step("2", string.format("user side: %s against qat.bc on the small set", rname))
  local recs = records_in(self.small, R)
  if #recs == 0 then
    bad("%s and %s share no sample id", R.path, self.small.path)
  end
  local eR = self:eval(R, self.small, {records = recs, outputs = true}, rname .. " on the small set")
  local eB = self:eval(self.bc, self.small, {records = recs, outputs = true}, "qat.bc on the small set")
  local agree, cos = agreement(eR, eB), output_cosine(eR, eB)
  local accR = eR.accuracy or mean(scores(eR, eB))
  local accB = eB.accuracy or 1
  self:measured("samples", #recs, "%d of %d small-set frames are in %s", #recs, self.small.count,
    basename(R.path))
  self:measured("accuracy", {[rname] = accR, qat_bc = accB}, "accuracy %s %s, qat.bc %s",
    rname, fmt(accR), fmt(accB))
  self:measured("top1_agreement", agree, "top-1 agreement %s (limit: %s may differ)", pct(agree),
    pct(o.user_top1))
  self:measured("output_cosine", cos, "mean output cosine %s (limit %s)", fmt(cos, 6),
    fmt(o.user_cosine, 6))
  local L = self:layers(R, self.bc, {data = o.small, threshold = o.user_threshold},
    rname .. " vs qat.bc (small set)")
  self:layer_csv("user_layers.csv", L, rname .. " vs qat.bc per layer on the small set")
  if L.first then
    local r = L.rows[L.first]
    self:measured("first_divergent", r.name,
      "per layer (%s): first divergent layer %s (%s) on %d of %d frames; worst max_steps %s",
      L.threshold, r.name, r.op, r.n_diverged, L.n_samples,
      r.worst.max_steps and fmt(r.worst.max_steps, 2) or "-")
  else
    self:measured("first_divergent", false, "per layer (%s): no layer diverges", L.threshold)
  end
  local inconsistent = (1 - agree) > o.user_top1 or cos < o.user_cosine or L.first ~= nil
  self.user = {consistent = not inconsistent, reference = rname, layers = L}
  if not inconsistent then
    self:conclude("consistent: %s and qat.bc compute the same", rname)
    return
  end
  -- fake quant disabled on both
  local fq_state
  if self.qat_float then
    local frecs = records_in(self.small, self.qat_float)
    if #frecs == 0 then bad("%s and %s share no sample id", self.qat_float.path, self.small.path) end
    local eF = self:eval(self.qat_float, self.small, {records = frecs, outputs = true},
      "qat (fake quant off) on the small set")
    local eBf = self:eval(self.bc, self.small, {records = frecs, outputs = true, semantics = "float"},
      "qat.bc (fake quant off) on the small set")
    local a2, c2 = agreement(eF, eBf), output_cosine(eF, eBf)
    self:measured("fake_quant_off", {top1_agreement = a2, output_cosine = c2},
      "fake quant off on both: top-1 agreement %s, output cosine %s", pct(a2), fmt(c2, 6))
    fq_state = (1 - a2) <= o.user_top1 and c2 >= o.user_cosine
  end
  if #self.qstate > 0 then
    local rules = {}
    for _, f in ipairs(self.qstate) do rules[f.rule] = (rules[f.rule] or 0) + 1 end
    local parts = {}
    for k, v in pairs(rules) do parts[#parts + 1] = string.format("%s x%d", k, v) end
    table.sort(parts)
    self:measured("qstate", self.qstate, "qstate audit of %s: %s", basename(R.path),
      table.concat(parts, ", "))
  else
    self:measured("qstate", {}, "qstate audit of %s: nothing (or no qstate in the trace)",
      basename(R.path))
  end
  local where = L.first and L.rows[L.first].name or nil
  if fq_state == true or (fq_state == nil and #self.qstate > 0) then
    self.user.cause = "fake-quant/observer state"
    self:conclude("inconsistent: the fake-quant/observer state of %s was not the validation state%s",
      rname, fq_state and " (consistent with fake quant off on both)" or " (qstate audit)")
  else
    -- from the first layer on, the input pipeline and the checkpoint are
    -- equally suspect (traces rarely record the input); later, the model
    self.user.cause = (where and L.first == 1) and "model or pre-processing mismatch" or
      "model version mismatch"
    self:conclude("inconsistent%s: %s from layer %s (same input, aligned names)",
      fq_state == false and " with fake quant off too" or "", self.user.cause, where or "?")
  end
  self.user.where = where
  local sample
  if L.first then
    local r = L.rows[L.first]
    local s = r.first_diverged_sample
    sample = s and L.c:samples()[s] or nil
  end
  self.decisive = self.decisive or {a = R.path, b = o.bc, data = o.small, select = where,
    sample = sample and tostring(sample) or nil}
end

function Triage:step3()
  local o = self.o
  self:step("3", "tool side: quantized.bc against the QAT reference on the large set")
  local convert_bad = (self.gap_significant and math.abs(self.gap.estimate) > o.acc_tol) or
    (1 - self.agreeBQ) > o.tool_top1
  self:measured(nil, nil, "qat.bc stands for qat.pt here%s",
    self.user.consistent and " (step 2: they agree)" or " (step 2 found them inconsistent)")
  self:measured("tool_gap", self.gap.estimate,
    "%s qat.bc %s vs quantized.bc %s: gap %s (%s), top-1 disagreement %s (limit %s)",
    self.labelled and "accuracy" or "agreement", fmt(self.accB), fmt(self.accQ),
    fmt(self.gap.estimate), self.gap_significant and "significant" or "not significant",
    pct(1 - self.agreeBQ), pct(o.tool_top1))
  -- the export stage: qat.pt against qat.export (traces: on the frames both hold)
  local export_bad = false
  if self.export then
    local L = self:layers(self.qat, self.export, {threshold = o.user_threshold},
      "qat.pt vs qat.export")
    self:layer_csv("export_layers.csv", L, "qat.pt vs qat.export per layer")
    local in_export, recs2 = {}, {}
    for _, r in ipairs(records_in(self.large, self.export)) do in_export[r] = true end
    for _, r in ipairs(records_in(self.large, self.qat)) do
      if in_export[r] then recs2[#recs2 + 1] = r end
    end
    if #recs2 > 0 then
      local eP = self:eval(self.qat, self.large, {records = recs2, outputs = true}, "qat.pt")
      local eX = self:eval(self.export, self.large, {records = recs2, outputs = true}, "qat.export")
      local a, c = agreement(eP, eX), output_cosine(eP, eX)
      self:measured("export_stage", {frames = #recs2, top1_agreement = a, output_cosine = c},
        "qat.pt vs qat.export on %d large-set frames: top-1 agreement %s, output cosine %s",
        #recs2, pct(a), fmt(c, 6))
      export_bad = (1 - a) > o.user_top1 or c < o.user_cosine
    end
    export_bad = export_bad or L.first ~= nil
    if L.first then
      self:measured(nil, nil, "qat.pt vs qat.export per layer (%s): first divergent layer %s",
        L.threshold, L.rows[L.first].name)
    else
      self:measured(nil, nil, "qat.pt vs qat.export per layer (%s): no layer diverges",
        L.threshold)
    end
    self.export_layers = L
  else
    self:measured(nil, nil, "no qat.export trace: the export stage is qat.pt -> qat.bc (step 2)")
  end
  local tool_bad = convert_bad or export_bad
  self.tool = {consistent = not tool_bad, convert_bad = convert_bad, export_bad = export_bad}
  if not tool_bad then
    self:conclude("consistent: quantized.bc computes what qat.bc does on the large set%s",
      self.export and ", and qat.export what qat.pt does" or "")
    return
  end
  local stage = export_bad and "export" or "convert"
  self.tool.stage = stage
  if stage == "export" then
    self:measured(nil, nil, "qat.pt and qat.export differ: the export-time replacements change the numerics%s",
      convert_bad and " (quantized.bc also differs from qat.bc: judge it once the export is fixed)" or "")
    local sens, err = qdb.sensitivity(self.bc, self.large, {mode = "quantize", metric =
      self.labelled and "top1" or "cosine", threads = o.threads,
      progress = self:progress("sensitivity (quantize) of qat.bc")})
    if not sens then bad("sensitivity: %s", err) end
    self.sens = sens
    self:sens_report(sens, "quantize")
    local L = self.export_layers
    local where = L.first and L.rows[L.first].name
    self.tool.where = where
    self:conclude("inconsistent in the export stage%s", where and (": from layer " .. where) or "")
    self.decisive = self.decisive or {a = o.qat, b = o.export, select = where}
    return
  end
  -- convert stage: bad cases, per layer on them, sensitivity
  local bcpath = o.out .. "/badcases.qds"
  local by = (1 - self.agreeBQ) > 0 and "top1" or "cosine"
  local list, sum = qdb.badcases(self.bc, self.quantized, self.large, {by = by,
    min_cosine = 1 - (1 - o.user_cosine) * 10, threads = o.threads, write = bcpath,
    progress = self:progress("bad cases")})
  if not list then bad("bad cases: %s", sum) end
  self.files[#self.files + 1] = {name = "badcases.qds", what = "the bad cases (dataset)"}
  self.badcases = list
  self:measured("badcases", #list, "bad cases (%s differs): %d of %d frames -> badcases.qds",
    by, #list, self.large.count)
  if #list == 0 then
    self:conclude("inconsistent, but no single frame stands out; see step 4")
    return
  end
  local recs = {}
  for i, b in ipairs(list) do recs[i] = b.record end
  self.bad_records = recs
  local Lc = self:layers(self.bc, self.quantized, {data = bcpath, threshold = o.threshold},
    "qat.bc vs quantized.bc (bad cases, cumulative)")
  local Li = self:layers(self.bc, self.quantized, {data = bcpath, threshold = o.threshold,
    mode = "isolated"}, "qat.bc vs quantized.bc (bad cases, isolated)")
  self:layer_csv("convert_cumulative.csv", Lc, "qat.bc vs quantized.bc per layer, bad cases, cumulative")
  self:layer_csv("convert_isolated.csv", Li, "qat.bc vs quantized.bc per layer, bad cases, isolated")
  self.convert = {cumulative = Lc, isolated = Li}
  if Lc.first then
    local r = Lc.rows[Lc.first]
    self:measured("first_divergent", r.name,
      "per layer, cumulative (%s): first divergent layer %s (%s) on %d of %d bad cases",
      o.threshold, r.name, r.op, r.n_diverged, Lc.n_samples)
  else
    self:measured("first_divergent", false, "per layer, cumulative (%s): no layer diverges", o.threshold)
  end
  local iso = {}
  for _, r in ipairs(Li.rows) do
    if r.mean and r.mean.cosine then iso[#iso + 1] = r end
  end
  table.sort(iso, function(a, b) return a.mean.cosine < b.mean.cosine end)
  self.iso_ranked = iso
  if iso[1] then
    local parts = {}
    for i = 1, math.min(3, #iso) do
      parts[i] = string.format("%s %s", iso[i].name, fmt(iso[i].mean.cosine, 6))
    end
    self:measured("isolated_worst", iso[1].name, "per layer, isolated: own error worst at %s (mean cosine)",
      table.concat(parts, ", "))
  end
  local sens, err = qdb.sensitivity(self.quantized, self.large, {mode = "revert",
    reference = self.bc, metric = "cosine", records = recs, threads = o.threads,
    progress = self:progress("sensitivity (revert) on the bad cases")})
  if not sens then bad("sensitivity: %s", err) end
  self.sens = sens
  self:sens_report(sens, "revert")
  local top = sens.units[1]
  self.tool.ranked = top and top.name
  self:conclude("inconsistent in the convert stage; %s ranks first", top and
    string.format("%s (%s)", top.name, top.op) or (iso[1] and iso[1].name) or "nothing")
end

function Triage:sens_report(sens, mode)
  local parts = {}
  for i = 1, math.min(5, #sens.units) do
    local u = sens.units[i]
    parts[i] = string.format("%d. %s (%s) %+.4g", i, u.name, u.op, u.effect)
  end
  self:measured("sensitivity", {mode = mode, metric = sens.metric, baseline = sens.baseline},
    "sensitivity (%s, %s, baseline %s): %s", mode, sens.metric, fmt(sens.baseline),
    table.concat(parts, "  "))
  self:file("sensitivity.csv", csv(sens.units, {
    {"rank", function(u) return u.rank end},
    {"unit", function(u) return u.name end},
    {"op", function(u) return u.op end},
    {"score", function(u) return u.score end},
    {"effect", function(u) return u.effect end},
  }), "sensitivity ranking (" .. mode .. ")")
end

function Triage:consistent_with_bc(e)
  local s = scores(e, self.eB)
  local g = qdb.bootstrap(self.sB, s, {reps = self.o.reps, level = self.o.level, seed = self.o.seed})
  local agree = agreement(self.eB, e)
  local sig = g.lo > 0 or g.hi < 0
  return not ((sig and math.abs(g.estimate) > self.o.acc_tol) or (1 - agree) > self.o.tool_top1),
    mean(s), agree, g
end

function Triage:step4()
  local o = self.o
  self:step("4", "greedy CPU revert: which ops, run in float, restore consistency")
  local cand, seen = {}, {}
  local function add(name)
    if name and not seen[name] then
      local ok = pcall(function() return self.quantized:device(name) end)
      if ok then
        seen[name] = true
        cand[#cand + 1] = name
      end
    end
  end
  if self.sens and self.sens.mode == "revert" then
    for _, u in ipairs(self.sens.units) do if u.effect > 0 then add(u.name) end end
  end
  for _, r in ipairs(self.iso_ranked or {}) do add(r.name_b or r.name) end
  if self.convert and self.convert.cumulative.first then
    local r = self.convert.cumulative.rows[self.convert.cumulative.first]
    add(r.name_b or r.name)
  end
  if #cand == 0 then
    for _, n in ipairs(self.quantized:nodes()) do
      if n.device == "bpu" then add(n.name) end
    end
  end
  local S, tried, history = {}, 0, {}
  local cur_acc, cur_agree = self.accQ, self.agreeBQ
  local done = false
  for _, name in ipairs(cand) do
    if tried >= o.max_revert or done then break end
    tried = tried + 1
    local trial = {table.unpack(S)}
    trial[#trial + 1] = name
    local e = self:eval(self.quantized, self.large, {cpu = trial}, "revert " .. name)
    local ok, acc, agree, g = self:consistent_with_bc(e)
    local better = acc > cur_acc + 1e-12 or agree > cur_agree + 1e-12
    history[#history + 1] = {op = name, cpu = table.concat(trial, "+"), accuracy = acc,
      agreement = agree, gap = g.estimate, accepted = better, consistent = ok}
    self:measured(nil, nil, "cpu %-24s %s %s, agreement %s, gap %s%s",
      table.concat(trial, "+"), self.labelled and "accuracy" or "score", fmt(acc), pct(agree),
      fmt(g.estimate), better and (ok and "  consistent" or "  better, kept") or "  no gain, dropped")
    if better then
      S, cur_acc, cur_agree = trial, acc, agree
      done = ok
    end
  end
  self:file("revert.csv", csv(history, {
    {"step", function(h) for i, x in ipairs(history) do if x == h then return i end end end},
    {"op", function(h) return h.op end},
    {"cpu", function(h) return h.cpu end},
    {"accuracy", function(h) return h.accuracy end},
    {"agreement", function(h) return h.agreement end},
    {"gap", function(h) return h.gap end},
    {"accepted", function(h) return h.accepted and "yes" or "no" end},
    {"consistent", function(h) return h.consistent and "yes" or "no" end},
  }), "the greedy CPU revert, step by step")
  self.revert = {ops = S, restored = done, history = history, accuracy = cur_acc}
  if #S == 0 then
    self:conclude("no op, moved to CPU, brings quantized.bc closer to qat.bc")
    return
  end
  -- the edited model that shows it, saved and evaluated again from the file
  local edited = self.quantized:clone()
  for _, name in ipairs(S) do
    local prev, err = edited:device(name, "cpu")
    if not prev then error("edit " .. name .. ": " .. tostring(err), 0) end
  end
  local path = o.out .. "/quantized.edited.qbc"
  local ok, err = edited:save(path)
  if not ok then error("cannot write " .. path .. ": " .. tostring(err), 0) end
  self.files[#self.files + 1] = {name = "quantized.edited.qbc",
    what = "quantized.bc with " .. table.concat(S, ", ") .. " on CPU"}
  local again = qdb.load(path)
  local e = self:eval(again, self.large, {}, "edited model")
  local ok2, acc2, agree2 = self:consistent_with_bc(e)
  self.revert.edited = {path = path, accuracy = acc2, agreement = agree2, consistent = ok2}
  self:measured("edited", self.revert.edited,
    "quantized.edited.qbc (%s on CPU), loaded again: %s %s (qat.bc %s), agreement %s",
    table.concat(S, ", "), self.labelled and "accuracy" or "score", fmt(acc2), fmt(self.accB),
    pct(agree2))
  self.revert.restored = ok2
  if ok2 then
    self:conclude("%s on CPU restore%s consistency", table.concat(S, ", "), #S == 1 and "s" or "")
  else
    self:conclude("partly explained: %s on CPU improve%s but do not restore consistency within %d ops",
      table.concat(S, ", "), #S == 1 and "s" or "", o.max_revert)
  end
  if self.decisive == nil then
    local sample
    if self.badcases and self.badcases[1] then sample = tostring(self.badcases[1].id) end
    local sel = S[1]
    if self.convert then
      -- the layer as the comparison names it
      for _, r in ipairs(self.convert.cumulative.rows) do
        if r.name_b == sel then sel = r.name break end
      end
    end
    self.decisive = {a = o.bc, b = o.quantized, data = o.out .. "/badcases.qds", select = sel,
      sample = sample}
  end
end

-- ---- verdict, report, charts -------------------------------------------------------

function Triage:verdict()
  local v = {}
  if not self.user.consistent then
    v.side, v.stage = "user", "fake quant / export"
    v.cause, v.where = self.user.cause, self.user.where
    v.text = string.format("user side: %s (%s vs qat.bc%s)", self.user.cause,
      self.user.reference, self.user.where and (", first divergent layer " .. self.user.where) or "")
  elseif self.tool and not self.tool.consistent then
    v.side, v.stage = "tool", self.tool.stage
    local ops = self.revert and self.revert.ops or {}
    v.ops = ops
    v.ranked_first = self.tool.ranked
    v.restored = self.revert and self.revert.restored or false
    local oplist = {}
    for i, name in ipairs(ops) do
      local op = ""
      for _, n in ipairs(self.quantized:nodes()) do if n.name == name then op = n.op end end
      oplist[i] = string.format("%s (%s)", name, op)
    end
    if v.stage == "export" then
      v.where = self.tool.where
      v.text = string.format("tool side, export stage%s", v.where and (": from layer " .. v.where) or "")
    else
      v.text = string.format("tool side, convert stage: %s%s",
        #oplist > 0 and table.concat(oplist, ", ") or (self.tool.ranked or "not located"),
        #oplist > 0 and (v.restored and
          (#oplist == 1 and "; run on CPU it restores consistency" or
           "; run on CPU they restore consistency") or
          "; running them on CPU helps but does not restore consistency") or "")
    end
  else
    v.side = "none"
    v.text = "consistent: no gap between the stages on these sets"
    if self.large_problems and #self.large_problems > 0 then
      v.text = v.text .. " (but the large set: " .. table.concat(self.large_problems, "; ") .. ")"
    end
  end
  self.result_verdict = v
  return v
end

function Triage:charts()
  -- x axis: qat.bc's layers in graph order
  local labels = {}
  for i, n in ipairs(self.bc:nodes()) do labels[i] = n.name end
  local index = {}
  for i, name in ipairs(labels) do index[name] = i end
  local series = {}
  for _, s in ipairs(self.series) do
    local vals = {}
    for i = 1, #labels do vals[i] = 0 / 0 end
    for _, r in ipairs(s.rows) do
      local i = index[r.name] or index[r.name_b or ""]
      if i and r.mean and r.mean.cosine then vals[i] = r.mean.cosine end
    end
    series[#series + 1] = {name = s.name, values = vals}
  end
  local v = self.result_verdict
  local culprit = v.where or (v.ops and v.ops[1]) or v.ranked_first
  local ymin = 1
  for _, s in ipairs(series) do
    for _, x in ipairs(s.values) do if x == x and x < ymin then ymin = x end end
  end
  if #series > 0 then
    self:file("cosine.svg", svg.line_chart{
      title = "mean cosine per layer along the network",
      x_labels = labels, series = series, y_label = "mean cosine",
      y_max = 1.0 + (1 - ymin) * 0.05, mark = culprit and index[culprit], mark_label = culprit,
    }, "per-layer cosine of each comparison (SVG)")
  end
  if self.sens and #self.sens.units > 0 then
    local lab, val, hl = {}, {}, {}
    local in_revert = {}
    for _, n in ipairs(self.revert and self.revert.ops or {}) do in_revert[n] = true end
    for i = 1, math.min(20, #self.sens.units) do
      local u = self.sens.units[i]
      lab[i] = string.format("%s (%s)", u.name, u.op)
      val[i] = u.effect
      hl[i] = in_revert[u.name] or (i == 1 and not next(in_revert))
    end
    self:file("sensitivity.svg", svg.bar_chart{
      title = string.format("sensitivity (%s mode, %s): effect of each unit", self.sens.mode,
        self.sens.metric),
      labels = lab, values = val, value_label = "effect on the score", highlight = hl,
      series = "sensitivity",
    }, "sensitivity bars (SVG)")
  end
end

function Triage:report()
  local o, v = self.o, self.result_verdict
  local md = {}
  local function p(fmt_, ...) md[#md + 1] = string.format(fmt_, ...) end
  p("# qdb triage report")
  p("")
  p("**Verdict: %s.**", v.text)
  p("")
  if v.side == "tool" and self.revert and self.revert.edited then
    local e = self.revert.edited
    p("Evidence: on %s (%d frames) quantized.bc scores %s against qat.bc's %s; with %s on CPU " ..
      "the edited model (`quantized.edited.qbc`) scores %s.", basename(o.large), self.large.count,
      fmt(self.accQ), fmt(self.accB), table.concat(self.revert.ops, ", "), fmt(e.accuracy))
    local at = {}
    for _, n in ipairs(self.revert.ops) do at[n] = true end
    for _, f in ipairs(self.findings) do
      if at[f.where] and f.severity ~= "info" then
        p("")
        p("The advisor (step 0) flagged it too: `%s` %s: %s.", f.rule, f.where, f.evidence)
      end
    end
    p("")
  elseif v.side == "user" then
    p("Evidence: %s and qat.bc should compute the same, and do not on the small set " ..
      "(step 2). Fix the user side before judging the conversion.", self.user.reference)
    for _, f in ipairs(self.qstate) do
      if f.severity == "error" then
        p("- %s: %s", f.where, f.evidence)
      end
    end
    p("")
  end
  p("## Inputs")
  p("")
  p("| role | file |")
  p("|---|---|")
  for _, k in ipairs{"qat", "export", "qat_float", "bc", "quantized", "small", "large"} do
    if o[k] then p("| %s | `%s` |", k, o[k]) end
  end
  p("")
  p("## Steps")
  for _, s in ipairs(self.steps) do
    p("")
    p("### Step %s: %s", s.id, s.title)
    p("")
    for _, l in ipairs(s.lines) do p("- %s", l) end
    if s.conclusion then
      p("")
      p("**%s**", s.conclusion)
    end
  end
  p("")
  p("## Advisor findings")
  p("")
  if #self.findings == 0 then p("None.") end
  for _, f in ipairs(self.findings) do
    p("- **%s** `%s` %s (%s): %s. Suggestion: %s.", f.severity, f.rule, f.where, f.model,
      f.evidence, f.suggestion)
  end
  p("")
  p("## Thresholds")
  p("")
  for _, d in ipairs(M.options) do
    if d[3] == "number" or d[3] == "int" or (d[3] == "string") then
      p("- `--%s %s`: %s", d[1], tostring(o[d[2]]), d[5])
    end
  end
  p("")
  p("## Files")
  p("")
  self.files[#self.files + 1] = {name = "report.md", what = "this report"}
  self.files[#self.files + 1] = {name = "report.json", what = "the same, machine-readable"}
  for _, f in ipairs(self.files) do p("- `%s`: %s", f.name, f.what) end
  if self.decisive then
    local d = self.decisive
    p("")
    p("Open the decisive comparison in the debugger:")
    p("")
    p("    qdb %s %s%s%s%s", d.a, d.b, d.data and (" --data " .. d.data) or "",
      d.select and (" --select " .. d.select) or "", d.sample and (" --sample " .. d.sample) or "")
  end
  qdb.write_file(o.out .. "/report.md", table.concat(md, "\n") .. "\n")

  local steps = {}
  for i, s in ipairs(self.steps) do
    steps[i] = {id = s.id, title = s.title, measured = s.measured, lines = s.lines,
      conclusion = s.conclusion}
  end
  local findings = {}
  for i, f in ipairs(self.findings) do
    findings[i] = {model = f.model, rule = f.rule, severity = f.severity, where = f.where,
      evidence = f.evidence, suggestion = f.suggestion, measure = f.measure, limit = f.limit}
  end
  local thresholds, inputs = {}, {}
  for _, d in ipairs(M.options) do
    if d[3] == "path" then inputs[d[2]] = o[d[2]]
    elseif d[3] ~= "flag" then thresholds[d[2]] = o[d[2]] end
  end
  local files = {}
  for i, f in ipairs(self.files) do files[i] = f.name end
  local doc = {
    format = "qdb.triage", version = 1, verdict = v, inputs = inputs, thresholds = thresholds,
    steps = steps, advisor = findings, files = files, decisive = self.decisive,
  }
  qdb.write_file(o.out .. "/report.json", json_encode(doc) .. "\n")
end

-- Runs the procedure. opts: the option keys of M.options; ui: {tty, width}.
-- Returns the result table (verdict, steps, files, decisive comparison).
function M.run(opts, ui)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  for _, d in ipairs(M.options) do
    if o[d[2]] == nil then o[d[2]] = d[4] end
  end
  for _, k in ipairs{"qat", "bc", "quantized", "small", "large"} do
    if not o[k] then bad("option %s is required", k) end
  end
  local self = setmetatable({o = o, ui = ui or {}, steps = {}, files = {}, series = {},
    findings = {}, qstate = {}}, Triage)
  self.qat = load_kind(o.qat, "Trace", "qat")
  if o.export then self.export = load_kind(o.export, "Trace", "export") end
  if o.qat_float then self.qat_float = load_kind(o.qat_float, "Trace", "qat-float") end
  self.bc = load_kind(o.bc, "Model", "bc")
  self.quantized = load_kind(o.quantized, "Model", "quantized")
  self.small = load_kind(o.small, "Dataset", "small")
  self.large = load_kind(o.large, "Dataset", "large")
  if self.bc.stage ~= "qat" then bad("--bc: %s is a %s graph, expected qat", o.bc, self.bc.stage) end
  if self.quantized.stage ~= "quantized" then
    bad("--quantized: %s is a %s graph, expected quantized", o.quantized, self.quantized.stage)
  end
  local R = self.export or self.qat
  if #records_in(self.small, R) == 0 then
    bad("%s and %s share no sample id", R.path, self.small.path)
  end
  if self.qat_float and #records_in(self.small, self.qat_float) == 0 then
    bad("%s and %s share no sample id", self.qat_float.path, self.small.path)
  end
  if not os.rename(o.out, o.out) then
    local ok = os.execute("mkdir -p '" .. o.out:gsub("'", "'\\''") .. "' 2>/dev/null")
    if not ok then bad("-o: cannot create directory %s", o.out) end
  end
  self:say("qdb triage: %s -> %s -> %s; small %s, large %s; bundle %s/", basename(o.qat),
    basename(o.bc), basename(o.quantized), basename(o.small), basename(o.large), o.out)
  self:step0()
  self:step1()
  self:step2()
  self:step3()
  if self.tool and not self.tool.consistent and self.tool.stage == "convert" then
    self:step4()
  end
  local v = self:verdict()
  self:charts()
  self:report()
  if o.quiet then
    io.stdout:write("verdict: ", v.text, "\n")
  else
    self:say("")
    self:say("verdict: %s", v.text)
    self:say("bundle: %s/report.md", o.out)
  end
  return {verdict = v, steps = self.steps, files = self.files, decisive = self.decisive}
end

-- The command line. argv: the arguments after `triage`. Returns the exit
-- status and, with --open, the TUI's arguments (a list of strings).
function M.main(argv, ui)
  local ok, o, why = pcall(M.parse_args, argv or {})
  if not ok then
    io.stderr:write("qdb triage: ", tostring(o), "\n")
    return 2
  end
  if not o then
    if why == "help" then io.stdout:write(M.usage()) return 0 end
    return 2
  end
  local ok2, res = xpcall(M.run, function(e)
    if getmetatable(e) == BadInput then return e end
    if type(e) == "string" and (e == "interrupted" or e:match(": interrupted$")) then
      return setmetatable({msg = "interrupted"}, BadInput), true
    end
    return debug.traceback(tostring(e), 2)
  end, o, ui)
  if not ok2 then
    if getmetatable(res) == BadInput then
      io.stderr:write("qdb triage: ", res.msg, "\n")
      return res.msg == "interrupted" and 3 or 2
    end
    local msg = tostring(res)
    io.stderr:write("qdb triage: ", msg, "\n")
    return 3
  end
  local status = res.verdict.side == "none" and 0 or 1
  local open
  if o.open and res.decisive then
    local d = res.decisive
    open = {d.a, d.b}
    if d.data then open[#open + 1] = "--data"; open[#open + 1] = d.data end
    if d.select then open[#open + 1] = "--select"; open[#open + 1] = d.select end
    if d.sample then open[#open + 1] = "--sample"; open[#open + 1] = d.sample end
  elseif o.open then
    io.stderr:write("qdb triage: --open: no inconsistency, nothing to open\n")
  end
  return status, open
end

return M
