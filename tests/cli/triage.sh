#!/bin/sh
# triage.sh - `qdb triage` reaches the expected verdict on each variant of
# the digits demo (testdata/README.md), writes a complete bundle (valid
# JSON, valid SVG with the expected series, a loadable edited model that
# restores accuracy), and refuses bad input with exit 2.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"
. "$QDB_SRCDIR/tests/cli/digits.sh"
D=$DIGITS
export QDB_LUA_PATH="${QDB_LUA_PATH:-$QDB_SRCDIR/lua}"

# the small set: the 64 frames the demo's traces cover
cat >"$tmp/small.lua" <<'LUA'
local ds = assert(qdb.load(arg[1]))
local r = {}
for i = 1, 64 do r[i] = i end
assert(ds:write(arg[2], r))
LUA
"$QDB" script "$tmp/small.lua" "$D/digits.qds" "$tmp/small.qds" >"$tmp/out" 2>"$tmp/err"
ok $? "small set written (64 frames of digits.qds)"

common="--bc $D/qat.qbc --small $tmp/small.qds --large $D/digits.qds"

# pyr DIR EXPR: EXPR over report.json of bundle DIR (d), with helpers
# step(id) and csv(name) (a list of dicts).
pyr() {
	"$PY" -c "
import csv as C, json, os, sys
b = sys.argv[1]
d = json.load(open(os.path.join(b, 'report.json')))
def step(i): return next(s for s in d['steps'] if s['id'] == i)
def csv(n): return list(C.DictReader(open(os.path.join(b, n))))
sys.exit(0 if ($2) else 1)" "$1"
}

# svg FILE SERIES...: valid XML whose <g class=series> names are exactly SERIES
svg() {
	f=$1
	shift
	"$PY" -c "
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
names = [g.get('data-series') for g in r.iter(ns + 'g') if g.get('class') == 'series']
ok = r.tag == ns + 'svg' and names == sys.argv[2:]
if not ok: print('# series:', names)
sys.exit(0 if ok else 1)" "$f" "$@"
}

# --- healthy pair: consistent ----------------------------------------------------
B=$tmp/healthy
t "healthy: exit 0" run 0 "$QDB" triage --qat "$D/qat.pt.qtr" --quantized "$D/quantized.qbc" $common -o "$B"
t "healthy: verdict consistent" has '^verdict: consistent'
for s in 0 1 2 3; do
	t "healthy: step $s printed with a conclusion" sh -c "grep -q '^step $s ' '$tmp/out' && \
		awk '/^step $s /{f=1;next} /^step /{f=0} f && /=>/{c=1} END{exit !c}' '$tmp/out'"
done
t "healthy: no step 4 (nothing to revert)" sh -c "! grep -q '^step 4' '$tmp/out'"
t "healthy: the user side is consistent" has '=> consistent: qat.pt and qat.bc compute the same'
t "healthy: report.json verdict none, steps 0-3" pyr "$B" \
	"d['format'] == 'qdb.triage' and d['verdict']['side'] == 'none' \
	 and [s['id'] for s in d['steps']] == ['0', '1', '2', '3'] \
	 and step('1')['measured']['frames'] == 1797 and step('2')['measured']['top1_agreement'] == 1"
t "healthy: report.md starts with the verdict" sh -c "sed -n 3p '$B/report.md' | grep -q '^\*\*Verdict: consistent'"
t "healthy: cosine.svg with the user-side series" svg "$B/cosine.svg" "qat.pt vs qat.bc (small set)"
t "healthy: per-layer csv of the user side, 9 layers" pyr "$B" \
	"len(csv('user_layers.csv')) == 9 and all(float(r['mean_cosine']) == 1 for r in csv('user_layers.csv'))"

# --- observers still updating: user side -----------------------------------------
B=$tmp/drift
t "qat-drift: exit 1" run 1 "$QDB" triage --qat "$D/qat-drift.qtr" --quantized "$D/quantized.qbc" $common -o "$B"
t "qat-drift: user-side fake-quant/observer verdict" has '^verdict: user side: fake-quant/observer state'
t "qat-drift: step 2 shows the per-layer divergence and the qstate audit" sh -c \
	"grep -q 'first divergent layer conv1' '$tmp/out' && grep -q 'qstate audit of qat-drift.qtr: qstate-observer x9' '$tmp/out'"
t "qat-drift: report.json" pyr "$B" \
	"d['verdict']['side'] == 'user' and d['verdict']['cause'] == 'fake-quant/observer state' \
	 and step('2')['measured']['output_cosine'] < 0.9999 and len(step('2')['measured']['qstate']) >= 9 \
	 and any(f['rule'] == 'qstate-observer' for f in d['advisor'])"
t "qat-drift: the tool side is still examined, and consistent" pyr "$B" \
	"'consistent' in step('3')['conclusion'] and d['decisive']['select'] == 'conv1'"
t "qat-drift: report.md cites the observer evidence" grep -q 'observer enabled' "$B/report.md"
"$QDB" run "$D/qat.qbc" --data "$tmp/small.qds" --stage-mode float --trace "$tmp/nofq.qtr" >/dev/null 2>"$tmp/err"
ok $? "a QAT trace with fake quant off (qdb run --stage-mode float)"
t "qat-drift --qat-float: exit 1" run 1 "$QDB" triage --qat "$D/qat-drift.qtr" --qat-float "$tmp/nofq.qtr" \
	--quantized "$D/quantized.qbc" $common -o "$tmp/drift2" -q
t "qat-drift --qat-float: consistent with fake quant off on both" pyr "$tmp/drift2" \
	"d['verdict']['cause'] == 'fake-quant/observer state' \
	 and step('2')['measured']['fake_quant_off']['output_cosine'] > 0.9999 \
	 and 'fake quant off on both' in step('2')['conclusion']"
t "float.qtr as qat.pt: a model mismatch from the first layer" run 1 "$QDB" triage \
	--qat "$D/float.qtr" --quantized "$D/quantized.qbc" $common -o "$tmp/float" -q
t "float.qtr: verdict names the mismatch and conv1" pyr "$tmp/float" \
	"d['verdict']['side'] == 'user' and 'mismatch' in d['verdict']['cause'] and d['verdict']['where'] == 'conv1'"

# --- a conversion bug: convert stage, culprit first, revert restores -------------------
B=$tmp/bad
t "quantized-bad: exit 1" run 1 "$QDB" triage --qat "$D/qat.pt.qtr" --quantized "$D/quantized-bad.qbc" $common -o "$B"
t "quantized-bad: convert-stage verdict naming act3" has '^verdict: tool side, convert stage: act3 \(hardswish\)'
t "quantized-bad: sensitivity ranks act3 first" has '=> inconsistent in the convert stage; act3 \(hardswish\) ranks first'
t "quantized-bad: report.json" pyr "$B" \
	"d['verdict']['side'] == 'tool' and d['verdict']['stage'] == 'convert' and d['verdict']['ops'] == ['act3'] \
	 and d['verdict']['restored'] and d['verdict']['ranked_first'] == 'act3' \
	 and step('3')['measured']['first_divergent'] == 'act3' and step('3')['measured']['isolated_worst'] == 'act3'"
t "quantized-bad: sensitivity.csv ranks act3 first" pyr "$B" \
	"csv('sensitivity.csv')[0]['unit'] == 'act3' and float(csv('sensitivity.csv')[0]['effect']) > 0"
t "quantized-bad: the gap is significant and large" pyr "$B" \
	"step('1')['measured']['gap']['lo'] > 0.02 and step('1')['measured']['accuracy_quantized'] < 0.97"
n_bad=$("$PY" -c "import json,sys; print(next(s for s in json.load(open(sys.argv[1]))['steps'] if s['id']=='3')['measured']['badcases'])" "$B/report.json")
t "quantized-bad: badcases.qds holds the $n_bad bad cases" sh -c \
	"[ '$n_bad' -gt 0 ] && '$QDB' info '$B/badcases.qds' | grep -Eq '^ +records +$n_bad\$'"
for f in report.md report.json cosine.svg sensitivity.svg convert_cumulative.csv \
	convert_isolated.csv user_layers.csv sensitivity.csv revert.csv quantized.edited.qbc; do
	t "quantized-bad: bundle has $f" [ -s "$B/$f" ]
done
t "quantized-bad: cosine.svg has the three comparisons" svg "$B/cosine.svg" \
	"qat.pt vs qat.bc (small set)" "qat.bc vs quantized.bc (bad cases, cumulative)" \
	"qat.bc vs quantized.bc (bad cases, isolated)"
t "quantized-bad: sensitivity.svg is valid with its series" svg "$B/sensitivity.svg" "sensitivity"
t "quantized-bad: the edited model has act3 on cpu (and its edit history)" sh -c \
	"'$QDB' info '$B/quantized.edited.qbc' > '$tmp/info' && grep -Eq '^ *[0-9]+ +act3 +hardswish +cpu ' '$tmp/info' \
	 && grep -q 'act3: device bpu -> cpu' '$tmp/info'"
"$QDB" run "$D/qat.qbc" --data "$D/digits.qds" -f json >"$tmp/ref.json" 2>"$tmp/err"
"$QDB" run "$B/quantized.edited.qbc" --data "$D/digits.qds" -f json >"$tmp/ed.json" 2>>"$tmp/err"
"$QDB" run "$D/quantized-bad.qbc" --data "$D/digits.qds" -f json >"$tmp/bad.json" 2>>"$tmp/err"
t "quantized-bad: qdb run confirms: the edited model restores qat.bc's accuracy" "$PY" -c "
import json, sys
a = [json.load(open(f))['accuracy']['top1'] for f in sys.argv[1:]]
print('# accuracy qat.bc %.4f, edited %.4f, quantized-bad %.4f' % tuple(a))
sys.exit(0 if abs(a[0] - a[1]) < 1e-12 and a[2] < a[0] - 0.02 else 1)" "$tmp/ref.json" "$tmp/ed.json" "$tmp/bad.json"
t "quantized-bad: report.md verdict first, then the evidence" sh -c \
	"sed -n 3p '$B/report.md' | grep -q '^\*\*Verdict: tool side, convert stage: act3' && grep -q '^Evidence: ' '$B/report.md'"
t "quantized-bad: report.md gives the command to open the comparison" \
	grep -Eq '^    qdb .*qat.qbc .*quantized-bad.qbc --data .*badcases.qds --select act3 --sample [0-9]+$' "$B/report.md"
t "with --export: the export stage is checked, still convert" run 1 "$QDB" triage --qat "$D/qat.pt.qtr" \
	--export "$D/qat.pt.qtr" --quantized "$D/quantized-bad.qbc" $common -o "$tmp/export" -q
t "with --export: convert stage, act3" pyr "$tmp/export" \
	"d['verdict']['stage'] == 'convert' and d['verdict']['ops'] == ['act3'] and 'export_stage' in step('3')['measured']"
t "export differs from qat.pt, graphs agree: exit 1" run 1 "$QDB" triage --qat "$D/qat-drift.qtr" \
	--export "$D/qat.pt.qtr" --quantized "$D/quantized.qbc" $common -o "$tmp/export2" -q
t "export differs from qat.pt: tool side, export stage from conv1" pyr "$tmp/export2" \
	"d['verdict']['side'] == 'tool' and d['verdict']['stage'] == 'export' and d['verdict']['where'] == 'conv1' \
	 and step('2')['measured']['output_cosine'] == 1 and step('3')['measured']['export_stage']['output_cosine'] < 0.9999 \
	 and csv('export_layers.csv')[0]['layer'] == 'conv1'"
t "thresholds are options: --acc-tol 0.5 --tool-top1 0.5 accepts the gap" run 0 "$QDB" triage \
	--qat "$D/qat.pt.qtr" --quantized "$D/quantized-bad.qbc" $common -o "$tmp/loose" -q --acc-tol 0.5 --tool-top1 0.5
t "--min-frames 5000: the large set is reported as too small" run 1 "$QDB" triage --qat "$D/qat.pt.qtr" \
	--quantized "$D/quantized-bad.qbc" $common -o "$tmp/few" --min-frames 5000
t "--min-frames 5000: warning in step 1" has '=> warning: only 1797 frames'
t "quiet: one line" sh -c "'$QDB' triage -q --qat '$D/qat.pt.qtr' --quantized '$D/quantized.qbc' $common -o '$tmp/q' > '$tmp/q.out'; [ \$(wc -l < '$tmp/q.out') -eq 1 ]"
t "no progress bar when stderr is not a terminal" sh -c "[ ! -s '$tmp/err' ] || ! grep -q '\[#' '$tmp/err'"

# --- bad input: exit 2, one line --------------------------------------------------------
t "--help: exit 0" run 0 "$QDB" triage --help
t "--help lists the thresholds" has '--user-cosine'
t "no arguments: exit 2" run 2 "$QDB" triage
t "no arguments: one-line error" err1 '^qdb triage: --qat is required'
t "unknown option: exit 2" run 2 "$QDB" triage --bogus
t "missing file: exit 2" run 2 "$QDB" triage --qat "$tmp/none.qtr" --quantized "$D/quantized.qbc" $common -o "$tmp/x"
t "missing file: one-line error" err1 '^qdb triage: --qat: .*none\.qtr'
t "a graph as --qat: exit 2" run 2 "$QDB" triage --qat "$D/qat.qbc" --quantized "$D/quantized.qbc" $common -o "$tmp/x"
t "a qat graph as --quantized: exit 2" run 2 "$QDB" triage --qat "$D/qat.pt.qtr" --quantized "$D/qat.qbc" $common -o "$tmp/x"
t "a qat graph as --quantized: one-line error" err1 'expected quantized'
head -c 300 "$D/digits.qds" >"$tmp/trunc.qds"
t "truncated large set: exit 2" run 2 "$QDB" triage --qat "$D/qat.pt.qtr" --quantized "$D/quantized.qbc" \
	--bc "$D/qat.qbc" --small "$tmp/small.qds" --large "$tmp/trunc.qds" -o "$tmp/x"
t "bad number: exit 2" run 2 "$QDB" triage --qat "$D/qat.pt.qtr" --quantized "$D/quantized.qbc" $common --reps many
t "level out of range: exit 2" run 2 "$QDB" triage --qat "$D/qat.pt.qtr" --quantized "$D/quantized.qbc" $common --level 1.5
cat >"$tmp/other.lua" <<'LUA'
local ds = assert(qdb.load(arg[1]))
assert(ds:write(arg[2], {100, 101, 102}))
LUA
"$QDB" script "$tmp/other.lua" "$D/digits.qds" "$tmp/other.qds" >/dev/null 2>&1
t "small set sharing no id with the trace: exit 2 before any step" sh -c \
	"'$QDB' triage --qat '$D/qat.pt.qtr' --quantized '$D/quantized.qbc' --bc '$D/qat.qbc' --small '$tmp/other.qds' \
	 --large '$D/digits.qds' -o '$tmp/x2' > '$tmp/o2' 2> '$tmp/e2'; [ \$? -eq 2 ] && ! grep -q '^step' '$tmp/o2' \
	 && grep -q 'share no sample id' '$tmp/e2'"

done_testing
