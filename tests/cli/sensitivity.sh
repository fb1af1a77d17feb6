#!/bin/sh
# sensitivity.sh - `qdb sensitivity`: rankings on the demo, formats, the
# engine against --naive and across -j, errors and exit statuses.
QDB=${QDB:-./qdb}
SRC=${QDB_SRCDIR:-.}
D=$SRC/testdata/digits
n=0 fail=0
check() {
	d=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else fail=$((fail + 1)); echo "not ok $n - $d"; sed 's/^/# /' "$tmp/out" "$tmp/err" 2>/dev/null | head -20; fi
}
tmp=$(mktemp -d /tmp/qdb-sens-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$QDB" sensitivity "$D/quantized-bad.qbc" --data "$D/digits.qds" -r "$D/qat.qbc" -s :300 >"$tmp/out" 2>"$tmp/err"
check "revert exits 0" [ $? = 0 ]
check "the summary line names mode, metric and records" grep -q 'revert sensitivity, cosine over 300 records' "$tmp/out"
check "act3 ranks first" sh -c "grep -E '^ +1 +act3 +hardswish' '$tmp/out' >/dev/null"
check "no progress bar when stderr is not a terminal" [ ! -s "$tmp/err" ]
check "node evaluations are counted" grep -q 'node evaluations (a full re-run per unit' "$tmp/out"

"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -r "$D/qat.qbc" -s :300 -f csv -j 1 >"$tmp/a.csv" 2>&1
"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -r "$D/qat.qbc" -s :300 -f csv -j 2 >"$tmp/b.csv" 2>&1
"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -r "$D/qat.qbc" -s :300 -f csv --naive >"$tmp/c.csv" 2>&1
cp "$tmp/a.csv" "$tmp/out"
check "CSV header" grep -qx 'rank,name,op,score,effect' "$tmp/a.csv"
check "-j 1 and -j 2 give the same numbers" cmp -s "$tmp/a.csv" "$tmp/b.csv"
check "--naive gives the same numbers" cmp -s "$tmp/a.csv" "$tmp/c.csv"

"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -M top1 -s 0:200 -k 2 >"$tmp/out" 2>&1
check "top1 against the labels, --top 2" sh -c "[ \$(grep -cE '^ +[0-9]+ ' '$tmp/out') = 2 ]"
check "top1 ranks act3 first too" sh -c "grep -E '^ +1 +act3' '$tmp/out' >/dev/null"

"$QDB" sensitivity "$D/qat.qbc" -d "$D/digits.qds" -s :100 -f json >"$tmp/out" 2>&1
check "quantize (default for a qat model) as JSON" "$QDB_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mode"] == "quantize" and d["metric"] == "cosine" and d["records"] == 100
assert d["float_score"] == 1 and all("score_except" in u for u in d["units"])
assert [u["rank"] for u in d["units"]] == list(range(1, len(d["units"]) + 1))
' "$tmp/out"
"$QDB" sensitivity "$D/qat.qbc" -d "$D/digits.qds" -s :100 --by value -M sqnr >"$tmp/out" 2>&1
check "quantize by value lists weights" grep -q ' weight ' "$tmp/out"
"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -r "$D/qat.pt.qtr" -s :20 --nodes act3,conv1 >"$tmp/out" 2>&1
check "a trace reference and --nodes" sh -c "[ \$(grep -cE '^ +[0-9]+ ' '$tmp/out') = 2 ]"

"$QDB" sensitivity "$D/quantized-bad.qbc" >"$tmp/out" 2>&1
check "without --data: usage error 2" [ $? = 2 ]
"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -m sideways >"$tmp/out" 2>&1
check "a bad mode: 2" [ $? = 2 ]
"$QDB" sensitivity "$D/qat.qbc" -d "$D/digits.qds" -m revert >"$tmp/out" 2>&1
check "revert on a qat graph: 2, with a reason" sh -c "[ $? = 2 ] && grep -q 'quantized graph' '$tmp/out'"
"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -M cosine >"$tmp/out" 2>&1
check "cosine without a reference: 2" [ $? = 2 ]
"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" --nodes nope >"$tmp/out" 2>&1
check "an unknown node: 2" sh -c "[ $? = 2 ] && grep -q \"no node 'nope'\" '$tmp/out'"
"$QDB" sensitivity "$tmp/missing.qbc" -d "$D/digits.qds" >"$tmp/out" 2>&1
check "a missing model: 2, naming it" sh -c "[ $? = 2 ] && grep -q missing.qbc '$tmp/out'"
"$QDB" sensitivity "$D/quantized-bad.qbc" -d "$D/digits.qds" -s 5000:6000 >"$tmp/out" 2>&1
check "a bad --samples range: 2" [ $? = 2 ]
"$QDB" sensitivity --help >"$tmp/out" 2>&1
check "--help: 0" [ $? = 0 ]
echo "1..$n"
[ $fail = 0 ]
