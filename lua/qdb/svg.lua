-- qdb.svg: small, dependency-free SVG charts for support bundles.
--
--   svg.line_chart{title, x_labels = {...}, series = {{name, values = {...}}, ...},
--                  y_label, y_min, y_max, mark = index, width, height} -> string
--   svg.bar_chart{title, labels = {...}, values = {...}, value_label,
--                 highlight = {index = true, ...}, width} -> string
--   svg.escape(s) -> s with & < > " ' escaped for XML text and attributes
--
-- Charts are standalone SVG 1.1 documents (they open in any browser). Every
-- series is a <g class="series" data-series="NAME"> with a <title> (the
-- browser shows it on hover), so tools and tests can find the series by
-- name. Values that are nil, NaN or infinite are gaps: a line breaks there.
-- Labels are escaped; nothing from the data reaches the markup unescaped.

local M = {}

local PALETTE = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

function M.escape(s)
  s = tostring(s)
  -- drop characters XML 1.0 forbids (C0 controls other than tab, LF, CR)
  s = s:gsub("[%z\1-\8\11\12\14-\31]", "")
  return (s:gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                               ['"'] = "&quot;", ["'"] = "&apos;"}))
end
local esc = M.escape

local function num(v)
  return string.format("%.2f", v)
end

-- "nice" tick values covering [lo, hi]
local function ticks(lo, hi, n)
  if not (hi > lo) then hi = lo + 1 end
  local raw = (hi - lo) / (n or 5)
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local step = mag
  for _, k in ipairs{1, 2, 2.5, 5, 10} do
    if k * mag >= raw then step = k * mag; break end
  end
  local t, v = {}, math.ceil(lo / step - 1e-9) * step
  while v <= hi + step * 1e-9 do
    t[#t + 1] = v
    v = v + step
  end
  return t
end

local function fmt_tick(v)
  if v == 0 then return "0" end
  local s = string.format("%.6g", v)
  return s
end

local function header(w, h, title)
  return {
    '<?xml version="1.0" encoding="UTF-8"?>',
    string.format('<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" ' ..
                  'height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">',
                  w, h, w, h),
    string.format('<title>%s</title>', esc(title or "")),
    string.format('<rect x="0" y="0" width="%d" height="%d" fill="white"/>', w, h),
    string.format('<text class="chart-title" x="%d" y="20" text-anchor="middle" ' ..
                  'font-size="14" font-weight="bold">%s</text>', w // 2, esc(title or "")),
  }
end

-- Shortens a label to at most n characters, keeping both ends.
local function shorten(s, n)
  s = tostring(s)
  if #s <= n then return s end
  local head = (n - 1) // 2
  return s:sub(1, head) .. "~" .. s:sub(#s - (n - head - 2))
end

function M.line_chart(o)
  assert(type(o) == "table" and type(o.series) == "table", "line_chart: series expected")
  local labels = o.x_labels or {}
  local npts = #labels
  for _, s in ipairs(o.series) do
    assert(type(s.values) == "table", "line_chart: series without values")
    if #s.values > npts then npts = #s.values end
  end
  local lo, hi = math.huge, -math.huge
  for _, s in ipairs(o.series) do
    for i = 1, npts do
      local v = s.values[i]
      if finite(v) then
        if v < lo then lo = v end
        if v > hi then hi = v end
      end
    end
  end
  if lo == math.huge then lo, hi = 0, 1 end
  lo = o.y_min or lo
  hi = o.y_max or hi
  if not (hi > lo) then lo, hi = lo - 0.5, hi + 0.5 end
  local pad = (hi - lo) * 0.05
  if not o.y_min then lo = lo - pad end
  if not o.y_max then hi = hi + pad end

  local w = o.width or math.max(640, math.min(4000, 60 + npts * 14 + 180))
  local h = o.height or 420
  local left, right, top, bottom = 70, 190, 40, 120
  local pw, ph = w - left - right, h - top - bottom
  local function X(i) return left + (npts > 1 and (i - 1) * pw / (npts - 1) or pw / 2) end
  local function Y(v)
    local c = math.max(lo, math.min(hi, v))
    return top + ph - (c - lo) / (hi - lo) * ph
  end

  local out = header(w, h, o.title)
  out[#out + 1] = string.format('<g class="axes" stroke="#444" fill="none">' ..
    '<line x1="%d" y1="%d" x2="%d" y2="%d"/><line x1="%d" y1="%d" x2="%d" y2="%d"/></g>',
    left, top, left, top + ph, left, top + ph, left + pw, top + ph)
  out[#out + 1] = '<g class="y-ticks">'
  for _, t in ipairs(ticks(lo, hi, 6)) do
    local y = Y(t)
    out[#out + 1] = string.format('<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#ddd"/>' ..
      '<text x="%d" y="%s" text-anchor="end">%s</text>',
      left, num(y), left + pw, num(y), left - 6, num(y + 4), esc(fmt_tick(t)))
  end
  out[#out + 1] = '</g>'
  if o.y_label then
    out[#out + 1] = string.format('<text class="y-label" x="16" y="%d" text-anchor="middle" ' ..
      'transform="rotate(-90 16 %d)">%s</text>', top + ph // 2, top + ph // 2, esc(o.y_label))
  end
  -- x labels: all when they fit, else every k-th
  local every = math.max(1, math.ceil(npts * 12 / math.max(pw, 1)))
  out[#out + 1] = '<g class="x-labels">'
  for i = 1, #labels, every do
    local x, y = X(i), top + ph + 12
    out[#out + 1] = string.format('<text x="%s" y="%d" text-anchor="end" ' ..
      'transform="rotate(-45 %s %d)"><title>%s</title>%s</text>',
      num(x), y, num(x), y, esc(labels[i]), esc(shorten(labels[i], 18)))
  end
  out[#out + 1] = '</g>'
  if o.mark and o.mark >= 1 and o.mark <= npts then
    local x = X(o.mark)
    out[#out + 1] = string.format('<g class="mark"><line x1="%s" y1="%d" x2="%s" y2="%d" ' ..
      'stroke="#d62728" stroke-dasharray="4 3"/><text x="%s" y="%d" fill="#d62728" ' ..
      'text-anchor="middle">%s</text></g>', num(x), top, num(x), top + ph, num(x), top - 4,
      esc(o.mark_label or labels[o.mark] or ""))
  end
  for k, s in ipairs(o.series) do
    local color = s.color or PALETTE[(k - 1) % #PALETTE + 1]
    out[#out + 1] = string.format('<g class="series" data-series="%s" stroke="%s" fill="%s">',
      esc(s.name or ("series " .. k)), color, color)
    out[#out + 1] = string.format('<title>%s</title>', esc(s.name or ("series " .. k)))
    local seg = {}
    local function flush()
      if #seg > 1 then
        out[#out + 1] = string.format('<polyline fill="none" stroke-width="1.5" points="%s"/>',
          table.concat(seg, " "))
      end
      seg = {}
    end
    for i = 1, npts do
      local v = s.values[i]
      if finite(v) then
        seg[#seg + 1] = num(X(i)) .. "," .. num(Y(v))
        out[#out + 1] = string.format('<circle cx="%s" cy="%s" r="2.2" stroke="none">' ..
          '<title>%s: %s</title></circle>', num(X(i)), num(Y(v)), esc(labels[i] or i),
          esc(string.format("%.6g", v)))
      else
        flush()
      end
    end
    flush()
    out[#out + 1] = '</g>'
    -- legend entry
    local ly = top + 10 + (k - 1) * 18
    out[#out + 1] = string.format('<g class="legend"><rect x="%d" y="%d" width="12" height="12" ' ..
      'fill="%s"/><text x="%d" y="%d">%s</text></g>', left + pw + 14, ly - 10, color,
      left + pw + 30, ly, esc(shorten(s.name or ("series " .. k), 26)))
  end
  out[#out + 1] = '</svg>'
  return table.concat(out, "\n") .. "\n"
end

function M.bar_chart(o)
  assert(type(o) == "table" and type(o.values) == "table", "bar_chart: values expected")
  local labels, values = o.labels or {}, o.values
  local n = math.max(#labels, #values)
  local lo, hi = 0, 0
  for i = 1, n do
    local v = values[i]
    if finite(v) then
      if v < lo then lo = v end
      if v > hi then hi = v end
    end
  end
  if not (hi > lo) then hi = lo + 1 end
  local rowh, left, right, top = 18, 190, 90, 40
  local w = o.width or 720
  local h = top + n * rowh + 40
  local pw = w - left - right
  local function X(v) return left + (v - lo) / (hi - lo) * pw end
  local out = header(w, h, o.title)
  local x0 = X(0)
  out[#out + 1] = string.format('<line class="axis" x1="%s" y1="%d" x2="%s" y2="%d" stroke="#444"/>',
    num(x0), top - 4, num(x0), top + n * rowh)
  if o.value_label then
    out[#out + 1] = string.format('<text class="x-label" x="%d" y="%d" text-anchor="middle">%s</text>',
      left + pw // 2, h - 10, esc(o.value_label))
  end
  out[#out + 1] = string.format('<g class="series" data-series="%s">', esc(o.series or o.value_label or "values"))
  out[#out + 1] = string.format('<title>%s</title>', esc(o.series or o.value_label or "values"))
  local hl = o.highlight or {}
  for i = 1, n do
    local v, y = values[i], top + (i - 1) * rowh
    local label = labels[i] or tostring(i)
    out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="end"><title>%s</title>%s</text>',
      left - 6, y + 12, esc(label), esc(shorten(label, 28)))
    if finite(v) then
      local xa, xb = math.min(x0, X(v)), math.max(x0, X(v))
      out[#out + 1] = string.format('<rect class="bar" x="%s" y="%d" width="%s" height="%d" ' ..
        'fill="%s"><title>%s: %s</title></rect>', num(xa), y + 2, num(math.max(xb - xa, 0.5)),
        rowh - 4, hl[i] and "#d62728" or "#1f77b4", esc(label), esc(string.format("%.6g", v)))
      out[#out + 1] = string.format('<text x="%s" y="%d">%s</text>', num(xb + 4), y + 12,
        esc(string.format("%.4g", v)))
    else
      out[#out + 1] = string.format('<text x="%s" y="%d" fill="#888">n/a</text>', num(x0 + 4), y + 12)
    end
  end
  out[#out + 1] = '</g>'
  out[#out + 1] = '</svg>'
  return table.concat(out, "\n") .. "\n"
end

return M
