-- qdb.report - rows of results as aligned text tables, CSV and JSON.
--
-- A "row" is a Lua table; "columns" say which fields to show and how:
--   "name"                               the field, titled by its key
--   {key = "cosine", title = "cos", fmt = "%.6f", align = "right"}
--   {title = "ops", get = function(row) return #row.nodes end}
-- Without columns, the keys of the first row are used (sorted; "rank",
-- "name" and "index" first). Numbers are right-aligned, shown with 6
-- significant digits unless fmt says otherwise; inf/nan read "inf", "nan".
--
--   local report = require "qdb.report"   -- or qdb.report
--   print(report.table(rows, {"rank", "name", {key = "effect", fmt = "%.3g"}}))
--   report.write("out.csv", report.csv(rows))
--   print(report.json({units = rows, seconds = 1.5}))

local M = {}

local function is_int(v) return math.type(v) == "integer" end

local function num_text(v, fmt)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if fmt then return string.format(fmt, v) end
  if is_int(v) then return tostring(v) end
  local s = string.format("%.6g", v)
  return s
end

local function text(v, fmt)
  if v == nil then return "" end
  if type(v) == "number" then return num_text(v, fmt) end
  if type(v) == "boolean" then return v and "yes" or "no" end
  if type(v) == "table" and getmetatable(v) == nil then
    local parts = {}
    for i = 1, #v do parts[i] = text(v[i], fmt) end
    return table.concat(parts, ",")
  end
  if type(fmt) == "function" then return fmt(v) end
  return tostring(v)
end

local first_keys = {rank = 1, index = 2, name = 3, node = 4, op = 5}

-- The columns, normalised to {key, title, fmt, align, get}.
local function columns(rows, cols)
  if not cols then
    local keys, seen = {}, {}
    for _, row in ipairs(rows) do
      for k, v in pairs(row) do
        if type(k) == "string" and not seen[k] and type(v) ~= "table" and type(v) ~= "function" then
          seen[k] = true
          keys[#keys + 1] = k
        end
      end
    end
    table.sort(keys, function(a, b)
      local fa, fb = first_keys[a] or 100, first_keys[b] or 100
      if fa ~= fb then return fa < fb end
      return a < b
    end)
    cols = keys
  end
  local out = {}
  for i, c in ipairs(cols) do
    if type(c) == "string" then c = {key = c} end
    if type(c) ~= "table" then error("report: column " .. i .. ": string or table expected", 3) end
    out[i] = {key = c.key, title = c.title or c.key or ("col" .. i), fmt = c.fmt,
              align = c.align, get = c.get}
    if not out[i].key and not out[i].get then
      error("report: column " .. i .. ": key or get expected", 3)
    end
  end
  return out
end

local function cell(row, c)
  if c.get then return c.get(row) end
  return row[c.key]
end

local function width(s) return utf8.len(s) or #s end

-- Aligned text table. opts: {indent = n, header = true}.
function M.table(rows, cols, opts)
  if type(rows) ~= "table" then error("report.table: rows (a list of tables) expected", 2) end
  opts = opts or {}
  local cs = columns(rows, cols)
  local cells, w, right = {}, {}, {}
  for j, c in ipairs(cs) do
    w[j] = width(c.title)
    right[j] = c.align == "right"
  end
  for i, row in ipairs(rows) do
    cells[i] = {}
    for j, c in ipairs(cs) do
      local v = cell(row, c)
      local s = text(v, c.fmt)
      cells[i][j] = s
      if w[j] < width(s) then w[j] = width(s) end
      if c.align == nil and type(v) == "number" then right[j] = true end
    end
  end
  local ind = string.rep(" ", opts.indent or 0)
  local lines = {}
  local function line(vals)
    local parts = {}
    for j, s in ipairs(vals) do
      local pad = string.rep(" ", w[j] - width(s))
      parts[j] = right[j] and pad .. s or s .. pad
    end
    lines[#lines + 1] = ind .. (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  if opts.header ~= false then
    local t = {}
    for j, c in ipairs(cs) do t[j] = c.title end
    line(t)
  end
  for i = 1, #rows do line(cells[i]) end
  return table.concat(lines, "\n") .. "\n"
end

local function csv_field(s)
  if s:find('[,"\r\n]') or s:match("^%s") or s:match("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

-- CSV (RFC 4180), numbers written exactly (%.17g, shortest that reads back).
function M.csv(rows, cols)
  if type(rows) ~= "table" then error("report.csv: rows (a list of tables) expected", 2) end
  local cs = columns(rows, cols)
  local out = {}
  local head = {}
  for j, c in ipairs(cs) do head[j] = csv_field(c.title) end
  out[1] = table.concat(head, ",")
  for i, row in ipairs(rows) do
    local f = {}
    for j, c in ipairs(cs) do
      local v = cell(row, c)
      local s
      if type(v) == "number" and not c.fmt and not is_int(v) and v == v and v ~= math.huge and v ~= -math.huge then
        s = string.format("%.17g", v)
        for p = 6, 17 do -- shortest exact form
          local t = string.format("%." .. p .. "g", v)
          if tonumber(t) == v then s = t; break end
        end
      else
        s = text(v, c.fmt)
      end
      f[j] = csv_field(s)
    end
    out[i + 1] = table.concat(f, ",")
  end
  return table.concat(out, "\n") .. "\n"
end

local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                 ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  for k in pairs(t) do
    if not is_int(k) or k < 1 or k > n then return false end
  end
  return true
end

local function json(v, ind, depth, seen)
  local t = type(v)
  if v == nil then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v then return '"nan"' end
    if v == math.huge then return '"inf"' end
    if v == -math.huge then return '"-inf"' end
    if is_int(v) then return tostring(v) end
    for p = 15, 17 do
      local s = string.format("%." .. p .. "g", v)
      if tonumber(s) == v then return s end
    end
  end
  if t == "string" then return json_string(v) end
  if t ~= "table" or getmetatable(v) then return json_string(tostring(v)) end
  if seen[v] then error("report.json: a table contains itself", 0) end
  if depth > 64 then error("report.json: nested too deeply", 0) end
  seen[v] = true
  local pad = ind and ("\n" .. string.rep("  ", depth + 1)) or ""
  local close = ind and ("\n" .. string.rep("  ", depth)) or ""
  local sep = ind and ": " or ":"
  local parts = {}
  local s
  if is_array(v) then
    if #v == 0 then seen[v] = nil; return "[]" end
    for i = 1, #v do parts[i] = pad .. json(v[i], ind, depth + 1, seen) end
    s = "[" .. table.concat(parts, ",") .. close .. "]"
  else
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for i, k in ipairs(keys) do
      local val = v[k]
      if val == nil then val = v[tonumber(k)] end
      parts[i] = pad .. json_string(k) .. sep .. json(val, ind, depth + 1, seen)
    end
    s = "{" .. table.concat(parts, ",") .. close .. "}"
  end
  seen[v] = nil
  return s
end

-- JSON text of a value (pretty unless opts.compact). Keys sorted; inf and
-- nan become the strings "inf", "-inf", "nan" as in qdb's own JSON output.
function M.json(v, opts)
  return json(v, not (opts and opts.compact), 0, {}) .. "\n"
end

-- report.format(rows, cols, "table" | "csv" | "json")
function M.format(rows, cols, fmt)
  fmt = fmt or "table"
  if fmt == "table" then return M.table(rows, cols) end
  if fmt == "csv" then return M.csv(rows, cols) end
  if fmt == "json" then
    local cs = columns(rows, cols)
    local out = {}
    for i, row in ipairs(rows) do
      out[i] = {}
      for _, c in ipairs(cs) do out[i][c.key or c.title] = cell(row, c) end
    end
    return M.json(out)
  end
  error("report.format: table, csv or json expected, got " .. tostring(fmt), 2)
end

function M.print(rows, cols, fmt)
  io.write(M.format(rows, cols, fmt))
end

-- Writes text to a file atomically (temporary beside it, then renamed).
-- Returns true or nil, message.
function M.write(path, text_)
  local qdb = require "qdb"
  if qdb.write_file then return qdb.write_file(path, text_) end
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(text_)
  f:close()
  if not ok then os.remove(tmp); return nil, werr end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); return nil, rerr end
  return true
end

return M
