-- svg.lua - qdb.svg charts: escaping, series markup, gaps, and the
-- qdb.write_file atomic writer. (XML validity with a real parser is
-- checked by tests/cli/triage.sh through Python.)
local tap = dofile((os.getenv("QDB_SRCDIR") or ".") .. "/tests/lua/tap.lua")
local svg = require "qdb.svg"

tap.is(svg.escape([[a<b & "c" 'd'>]]), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;",
  "escape: the five XML specials")
tap.is(svg.escape("x\1y\ttab"), "xy\ttab", "escape: control characters dropped, tab kept")

local s = svg.line_chart{
  title = "cosine <per layer>",
  x_labels = {"conv1", "conv2 & bn", "fc"},
  series = {{name = "qat.bc vs quantized.bc", values = {1.0, 0.99, 0.5}},
            {name = "isolated", values = {1.0, 0 / 0, 0.98}}},
  y_label = "cosine", mark = 3}
tap.ok(s:find('<?xml', 1, true) == 1 and s:find("</svg>\n$"), "line chart is a whole document")
tap.ok(s:find('data-series="qat.bc vs quantized.bc"', 1, true), "first series is named")
tap.ok(s:find('data-series="isolated"', 1, true), "second series is named")
tap.ok(s:find("conv2 &amp; bn", 1, true) and not s:find("conv2 & bn", 1, true),
  "labels are escaped")
tap.ok(s:find("cosine &lt;per layer&gt;", 1, true), "title is escaped")
local _, polylines = s:gsub("<polyline", "")
tap.is(polylines, 1, "a NaN breaks the second series: only the first draws a line")
tap.ok(s:find('class="mark"', 1, true), "the marked layer is drawn")
local open_g, close_g = select(2, s:gsub("<g[ >]", "")), select(2, s:gsub("</g>", ""))
tap.is(open_g, close_g, "groups balance")

local b = svg.bar_chart{title = "sensitivity", labels = {"fc", "conv<1>"},
  values = {0.3, -0.01}, value_label = "accuracy restored", highlight = {[1] = true}}
tap.ok(b:find('class="bar"', 1, true) and b:find("conv&lt;1&gt;", 1, true), "bar chart with escaped label")
local _, bars = b:gsub('class="bar"', "")
tap.is(bars, 2, "one bar per value, negative ones too")
tap.ok(b:find("#d62728", 1, true), "highlighted bar in red")
tap.raises(function() svg.line_chart{} end, "series expected", "line chart needs series")

local dir = os.getenv("TMPDIR") or "/tmp"
local path = string.format("%s/qdb-svg-test-%d.svg", dir, math.random(1 << 30))
tap.ok(qdb.write_file(path, s), "write_file writes")
local f = io.open(path, "rb")
local back = f and f:read("a")
if f then f:close() end
tap.is(back, s, "write_file: the bytes read back")
os.remove(path)
tap.fails(function() return qdb.write_file("/nonexistent-dir/x.svg", "x") end, "nonexistent-dir",
  "write_file: an unwritable path fails with nil, msg")
return tap.done()
