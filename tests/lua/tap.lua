-- tap.lua - a minimal TAP producer for the Lua tests (run by `qdb script`).
-- Each check prints "ok N - desc" / "not ok N - desc"; done() prints the
-- plan and returns the exit status, so a test file ends with
-- `return tap.done()`.
local M = {n = 0, failed = 0}

local function report(cond, desc, diag)
  M.n = M.n + 1
  print(string.format("%sok %d - %s", cond and "" or "not ", M.n, desc or ""))
  if not cond then
    M.failed = M.failed + 1
    if diag then print("# " .. tostring(diag):gsub("\n", "\n# ")) end
  end
  return cond
end

function M.ok(cond, desc, diag) return report(not not cond, desc, diag) end

function M.is(got, want, desc)
  return report(got == want, desc,
    string.format("got %s, want %s", tostring(got), tostring(want)))
end

function M.near(got, want, tol, desc)
  local ok = type(got) == "number" and
    (got == want or (got ~= got and want ~= want) or math.abs(got - want) <= tol)
  return report(ok, desc, string.format("got %s, want %s +- %g", tostring(got), tostring(want), tol))
end

-- fn must raise an error whose message matches pattern (plain find).
function M.raises(fn, pattern, desc)
  local ok, err = pcall(fn)
  local good = not ok and tostring(err):find(pattern, 1, true) ~= nil
  return report(good, desc, ok and "did not raise" or ("raised: " .. tostring(err)))
end

-- fn must return nil, msg with msg matching pattern.
function M.fails(fn, pattern, desc)
  local ok, v, msg = pcall(fn)
  local good = ok and v == nil and type(msg) == "string" and msg:find(pattern, 1, true) ~= nil
  return report(good, desc, ok and ("returned " .. tostring(v) .. ", " .. tostring(msg))
    or ("raised: " .. tostring(v)))
end

function M.skip(n, why)
  for _ = 1, n do
    M.n = M.n + 1
    print(string.format("ok %d # SKIP %s", M.n, why))
  end
end

function M.diag(s) print("# " .. tostring(s)) end

function M.done()
  print("1.." .. M.n)
  return M.failed == 0 and 0 or 1
end

-- Paths of the source tree (make check exports QDB_SRCDIR).
M.srcdir = os.getenv("QDB_SRCDIR") or (arg and arg[0]:match("^(.*)/tests/lua/[^/]*$")) or "."
function M.data(rel) return M.srcdir .. "/" .. rel end

-- A fresh temporary directory, removed at exit by the caller (M.cleanup).
function M.tmpdir()
  local p = io.popen("mktemp -d /tmp/qdb-lua-test.XXXXXX")
  local dir = p:read("l")
  p:close()
  M._tmp = dir
  return dir
end

function M.cleanup()
  if M._tmp and M._tmp:match("^/tmp/qdb%-lua%-test%.") then os.execute("rm -rf '" .. M._tmp .. "'") end
end

return M
