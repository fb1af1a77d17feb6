#!/bin/sh
# examples.sh - the scripts in examples/ run against the bundled demo
# (testdata/digits) and find what the demo hides: the hardswish whose
# lookup table quantized-bad.qbc broke.
QDB=${QDB:-./qdb}
SRC=${QDB_SRCDIR:-.}
E=$SRC/examples
D=$SRC/testdata/digits
export QDB_LUA_PATH=${QDB_LUA_PATH:-$SRC/lua}
n=0 fail=0
check() {
	d=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else fail=$((fail + 1)); echo "not ok $n - $d"; sed 's/^/# /' "$tmp/out" | head -20; fi
}
tmp=$(mktemp -d /tmp/qdb-examples.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$QDB" script "$E/revert_op.lua" "$D/quantized-bad.qbc" "$D/digits.qds" >"$tmp/out" 2>&1
check "revert_op: per-op table exits 0" [ $? = 0 ]
check "revert_op: hardswish ranks first" sh -c "sed -n 3p '$tmp/out' | grep -q ' 1  hardswish '"
"$QDB" script "$E/revert_op.lua" "$D/quantized-bad.qbc" "$D/digits.qds" hardswish -o "$tmp/fixed.qbc" >"$tmp/out" 2>&1
check "revert_op OP: accuracy before and after" grep -q '0.9516 -> 0.9978' "$tmp/out"
check "revert_op -o writes the edited model" sh -c "'$QDB' info '$tmp/fixed.qbc' >/dev/null 2>&1"
"$QDB" script "$E/revert_op.lua" "$D/quantized-bad.qbc" "$D/digits.qds" softmax >"$tmp/out" 2>&1
check "revert_op with an absent op exits 1" [ $? = 1 ]
"$QDB" script "$E/revert_op.lua" >"$tmp/out" 2>&1
check "revert_op without arguments: usage, exit 2" [ $? = 2 ]

"$QDB" script "$E/greedy_cpu.lua" "$D/quantized-bad.qbc" "$D/qat.qbc" "$D/digits.qds" 0.99 "$tmp/g.qbc" >"$tmp/out" 2>&1
check "greedy_cpu reaches the target (exit 0)" [ $? = 0 ]
check "greedy_cpu moves act3 first" grep -q '1\. act3 *hardswish' "$tmp/out"
check "greedy_cpu writes a model with act3 on cpu" sh -c \
	"'$QDB' script - '$tmp/g.qbc' >/dev/null 2>&1 <<'LUA'
return qdb.load((...)):device('act3') == 'cpu' and 0 or 1
LUA"

"$QDB" script "$E/badcases.lua" "$D/qat.qbc" "$D/quantized-bad.qbc" "$D/digits.qds" "$tmp/bc.qds" >"$tmp/out" 2>&1
check "badcases exits 0" [ $? = 0 ]
check "badcases counts the disagreements" grep -q '^88 of 1797 records disagree' "$tmp/out"
check "badcases: they first diverge at act3" grep -q '^  act3 *50 *100%' "$tmp/out"
check "badcases writes them as a dataset" grep -q 'wrote 88 records' "$tmp/out"

"$QDB" script "$E/sensitivity_report.lua" "$D/quantized-bad.qbc" "$D/digits.qds" "$D/qat.qbc" >"$tmp/out" 2>&1
check "sensitivity_report (revert): act3 first" grep -q '^   1  act3 *hardswish' "$tmp/out"
"$QDB" script "$E/sensitivity_report.lua" "$D/qat.qbc" "$D/digits.qds" json >"$tmp/out" 2>&1
check "sensitivity_report (quantize) as JSON" sh -c "$QDB_PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"mode\"]==\"quantize\" and len(d[\"units\"])>5' '$tmp/out'"
"$QDB" script "$E/sensitivity_report.lua" "$D/qat.qbc" "$D/digits.qds" csv >"$tmp/out" 2>&1
check "sensitivity_report as CSV" grep -q '^rank,name,op,score,score_except,damage$' "$tmp/out"

"$QDB" script "$E/first_divergence.lua" "$SRC/testdata/traces/ref.qtr" "$SRC/testdata/traces/perturbed.qtr" >"$tmp/out" 2>&1
check "first_divergence: sample 2 diverges at conv2" grep -q '^sample 2 *conv2$' "$tmp/out"
check "first_divergence: the others do not" sh -c "[ \$(grep -c '(none)$' '$tmp/out') = 3 ]"
echo "1..$n"
[ $fail = 0 ]
