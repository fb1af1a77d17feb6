-- drive.lua - run by tests/tui/script.sh with `qdb --script`: the `tui`
-- table seen from a script.
print("rows", tui.rows())
local sel = tui.selected()
print("selected", sel.index, sel.name, sel.op)
assert(tui["goto"]("layer3.conv"))
print("goto", tui.selected().name, string.format("%.4f", tui.selected().cosine))
print("bad goto", tui.go("no-such-layer"))
assert(tui.go(2) and tui.selected().name == "layer1.conv")
assert(tui.go("layer3.conv"))
print("sample", tui.sample(3))
print("sample by id", tui.sample("frame_0001"))
-- a column: error in LSB relative to the cosine, shown for every row
tui.add_column("nines", function(row)
  if not row.cosine or row.cosine >= 1 then return "inf" end
  return -math.log(1 - row.cosine, 10)
end)
-- a key: report the selected layer
tui.bind("x", function(row)
  tui.message("x on " .. row.name .. " at " .. row.sample)
end)
-- a key whose function fails: the traceback goes to the console
tui.bind("F5", function() local t = nil; return t.field end)
print("ok, bound", pcall(tui.bind, "NoSuchKey", print))
tui.message("script loaded")
