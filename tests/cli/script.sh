#!/bin/sh
# script.sh - `qdb script`: the arg table, `...`, exit statuses (returned
# integer, os.exit, uncaught error with traceback), stdin, package.path.
QDB=${QDB:-./qdb}
n=0 fail=0
check() {
	d=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else fail=$((fail + 1)); echo "not ok $n - $d"; fi
}
tmp=$(mktemp -d /tmp/qdb-script-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/args.lua" <<'LUA'
print(arg[0], #arg, arg[1], arg[2], select("#", ...), ...)
LUA
"$QDB" script "$tmp/args.lua" one "two words" >"$tmp/out" 2>&1
check "arg table and ... hold the arguments" grep -qx "$tmp/args.lua	2	one	two words	2	one	two words" "$tmp/out"
printf 'return 3\n' >"$tmp/r.lua"
"$QDB" script "$tmp/r.lua"; rc=$?
check "exit status is the returned integer" [ $rc = 3 ]
printf 'return true\n' >"$tmp/t.lua"
"$QDB" script "$tmp/t.lua"; rc=$?
check "returning true exits 0" [ $rc = 0 ]
printf 'return false\n' >"$tmp/f.lua"
"$QDB" script "$tmp/f.lua"; rc=$?
check "returning false exits 1" [ $rc = 1 ]
printf 'os.exit(5)\n' >"$tmp/e.lua"
"$QDB" script "$tmp/e.lua"; rc=$?
check "os.exit sets the status" [ $rc = 5 ]
printf 'local function deep() error("kaboom") end\ndeep()\n' >"$tmp/err.lua"
"$QDB" script "$tmp/err.lua" 2>"$tmp/err"; rc=$?
check "an uncaught error exits 1" [ $rc = 1 ]
check "the error message is printed" grep -q 'err.lua:1: kaboom' "$tmp/err"
check "with a traceback" grep -q 'stack traceback' "$tmp/err"
check "naming the function" grep -q "deep" "$tmp/err"
printf 'x = = 1\n' >"$tmp/syn.lua"
"$QDB" script "$tmp/syn.lua" 2>"$tmp/err"; rc=$?
check "a syntax error exits 2" [ $rc = 2 ]
"$QDB" script "$tmp/missing.lua" 2>"$tmp/err"; rc=$?
check "a missing file exits 2" [ $rc = 2 ]
check "naming the file" grep -q 'missing.lua' "$tmp/err"
"$QDB" script >/dev/null 2>&1; rc=$?
check "no file is a usage error" [ $rc = 2 ]
printf 'print("stdin", ...)\n' | "$QDB" script - a >"$tmp/out" 2>&1
check "'-' reads the script from stdin" grep -qx 'stdin	a' "$tmp/out"
mkdir -p "$tmp/lua/mylib"
printf 'return {hello = function() return "hi" end}\n' >"$tmp/lua/mylib/init.lua"
printf 'return {v = 42}\n' >"$tmp/lua/other.lua"
printf 'print(require("mylib").hello(), require("other").v)\n' >"$tmp/req.lua"
(cd "$tmp" && "$QDB" script req.lua) >"$tmp/out" 2>&1
check "package.path includes ./lua (?.lua and ?/init.lua)" grep -qx 'hi	42' "$tmp/out"
mkdir -p "$tmp/extra"
printf 'return {w = 7}\n' >"$tmp/extra/extmod.lua"
printf 'print(require("extmod").w)\n' >"$tmp/env.lua"
QDB_LUA_PATH="$tmp/nowhere;$tmp/extra" "$QDB" script "$tmp/env.lua" >"$tmp/out" 2>&1
check "package.path includes \$QDB_LUA_PATH directories" grep -qx 7 "$tmp/out"
printf 'print(type(qdb), qdb == require("qdb"))\n' >"$tmp/g.lua"
"$QDB" script "$tmp/g.lua" >"$tmp/out" 2>&1
check "qdb is a global and require('qdb') returns it" grep -qx 'table	true' "$tmp/out"
printf 'local n = 0\nwhile true do n = n + 1 end\n' >"$tmp/loop.lua"
"$QDB" script "$tmp/loop.lua" 2>"$tmp/err" &
pid=$!
# SIGINT until it stops (a signal sent before the handler is installed is
# lost: background jobs start with SIGINT ignored); give up after 5 s.
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 25 ]; do
	sleep 0.2
	kill -INT $pid 2>/dev/null
	i=$((i + 1))
done
kill -KILL $pid 2>/dev/null
wait $pid; rc=$?
check "SIGINT stops a running script with exit 1" [ $rc = 1 ]
check "reporting where it was interrupted" grep -q 'interrupted!' "$tmp/err"
echo "1..$n"
[ $fail = 0 ]
