#!/bin/sh
# check.sh - `qdb check` (the advisor) on the digits demo's variants
# (testdata/README.md) and on bad input.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"
. "$QDB_SRCDIR/tests/cli/digits.sh"
D=$DIGITS

# json helpers: F(rule) = findings of a rule, C(sev) = count of a severity
pyc() {
	"$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
def F(r): return [f for f in d['findings'] if f['rule'] == r]
def C(s): return d['counts'][s]
sys.exit(0 if ($1) else 1)" "$tmp/out"
}

# --- the rule table -------------------------------------------------------------
t "--rules: exit 0" run 0 "$QDB" check --rules
for r in nonfinite scale-coverage range-int8 asymmetric scale-pow2 lut-coarse lut-table \
	output-precision qstate-observer qstate-fake-quant qstate-scale; do
	t "--rules lists $r with a suggestion" sh -c "grep -A1 '^$r ' '$tmp/out' | grep -q -- '->'"
done

# --- healthy pair -------------------------------------------------------------------
t "healthy qat.qbc + qat.pt.qtr: exit 0" run 0 "$QDB" check "$D/qat.qbc" "$D/qat.pt.qtr"
t "healthy: summary line" has '^0 errors, 0 warnings, [0-9]+ info'
t "healthy: all 9 layers read" has 'qat.pt.qtr: 9 layers read, up to 64 samples each'
t "healthy: json" run 0 "$QDB" check -f json "$D/qat.qbc" "$D/qat.pt.qtr"
t "healthy: json has no finding at warning or above" pyc \
	"C('error') == 0 and C('warning') == 0 and all(f['severity'] == 'info' for f in d['findings']) \
	 and d['samples'] == 64 and d['layers_scanned'] == 9 and d['stage'] == 'qat'"
t "operands in either order" run 0 "$QDB" check "$D/qat.pt.qtr" "$D/qat.qbc"
t "healthy quantized.qbc alone: exit 0" run 0 "$QDB" check "$D/quantized.qbc"
t "healthy quantized.qbc: the data rules are said to be off" has 'no trace: data rules not run'

# --- observers still updating (qat-drift.qtr) ---------------------------------------
t "qat-drift.qtr: exit 1" run 1 "$QDB" check -f json "$D/qat.qbc" "$D/qat-drift.qtr"
t "qat-drift: qstate-observer is an error at every layer" pyc \
	"len(F('qstate-observer')) == 9 and all(f['severity'] == 'error' for f in F('qstate-observer')) \
	 and {f['where'] for f in F('qstate-observer')} >= {'conv1', 'act3', 'fc2'}"
t "qat-drift: drifted scales reported with their distance" pyc \
	"len(F('qstate-scale')) > 0 and all(f['measure'] > 0.01 for f in F('qstate-scale')) \
	 and 'vs graph' in F('qstate-scale')[0]['evidence']"
t "qat-drift: table output names the suggestion" run 1 "$QDB" check "$D/qat.qbc" "$D/qat-drift.qtr"
t "qat-drift: suggestion to disable the observers" has 'disable_observer'
t "qat-drift: qstate rules can be skipped" run 0 "$QDB" check \
	--skip qstate-observer,qstate-scale "$D/qat.qbc" "$D/qat-drift.qtr"

# --- a conversion bug (quantized-bad.qbc) -----------------------------------------------
t "quantized-bad.qbc: exit 1" run 1 "$QDB" check -f json "$D/quantized-bad.qbc"
t "quantized-bad: lut-table error at act3, the broken table" pyc \
	"[f['where'] for f in F('lut-table')] == ['act3'] and F('lut-table')[0]['severity'] == 'error' \
	 and F('lut-table')[0]['measure'] > 1 and d['findings'][0]['rule'] == 'lut-table'"
t "quantized-bad: --only lut-table still finds it" run 1 "$QDB" check --only lut-table "$D/quantized-bad.qbc"
t "quantized-bad: --skip lut-table finds nothing else" run 0 "$QDB" check --skip lut-table "$D/quantized-bad.qbc"
t "--pow2: the demo's scales are not powers of two" run 1 "$QDB" check -f json --pow2 "$D/quantized.qbc"
t "--pow2: scale-pow2 findings" pyc "len(F('scale-pow2')) > 0"
t "--samples 1 reads one sample per layer" run 0 "$QDB" check -f json -n 1 "$D/qat.qbc" "$D/qat.pt.qtr"
t "--samples 1: json says so" pyc "d['samples'] == 1"
t "thresholds are options: --lut-jump 0 flags act3's table steps" run 1 "$QDB" check \
	--only lut-coarse --lut-jump 0 "$D/quantized.qbc"
t "--lut-jump 0: act3 named" has 'lut-coarse +act3'

# --- bad input: exit 2 with one line ------------------------------------------------------
t "no operand: exit 2" run 2 "$QDB" check
t "missing file: exit 2" run 2 "$QDB" check "$tmp/none.qbc"
t "missing file: one-line error" err1 '^qdb check: .*none\.qbc'
head -c 200 "$D/qat.qbc" >"$tmp/trunc.qbc"
t "truncated graph: exit 2" run 2 "$QDB" check "$tmp/trunc.qbc"
t "truncated graph: one-line error" err1 '^qdb check: .*trunc\.qbc'
t "a dataset is not a model: exit 2" run 2 "$QDB" check "$D/digits.qds"
t "two graphs: exit 2" run 2 "$QDB" check "$D/qat.qbc" "$D/quantized.qbc"
t "a trace alone: exit 2" run 2 "$QDB" check "$D/qat.pt.qtr"
t "three operands: exit 2" run 2 "$QDB" check "$D/qat.qbc" "$D/qat.pt.qtr" "$D/qat.pt.qtr"
t "unknown option: exit 2" run 2 "$QDB" check --bogus "$D/qat.qbc"
t "csv is not a check format: exit 2" run 2 "$QDB" check -f csv "$D/qat.qbc"
t "unknown rule: exit 2" run 2 "$QDB" check --only nope "$D/qat.qbc"
t "unknown rule: one-line error" err1 "unknown rule 'nope'"
t "--samples 0: exit 2" run 2 "$QDB" check -n 0 "$D/qat.qbc"
t "negative threshold: exit 2" run 2 "$QDB" check --sat -1 "$D/qat.qbc"
crash=0
for f in "$QDB_SRCDIR"/testdata/bad/graph/* "$QDB_SRCDIR"/testdata/bad-graphs/*.qbc; do
	[ -f "$f" ] || continue
	"$QDB" check "$f" "$D/qat.pt.qtr" >/dev/null 2>&1
	[ $? -le 2 ] || { crash=1; echo "# $f: exit status above 2"; }
done
t "invalid graphs (testdata/bad, bad-graphs): no crash, exit <= 2" [ $crash -eq 0 ]
crash=0
for f in "$QDB_SRCDIR"/testdata/bad/trace/*; do
	[ -f "$f" ] || continue
	"$QDB" check "$D/qat.qbc" "$f" >/dev/null 2>&1
	[ $? -eq 2 ] || { crash=1; echo "# $f: exit status not 2"; }
done
t "invalid traces (testdata/bad/trace): exit 2" [ $crash -eq 0 ]

done_testing
