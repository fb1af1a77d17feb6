#!/bin/sh
# badcases.sh - `qdb badcases` on the digits demo: quantized-bad.qbc (the
# broken hardswish LUT, testdata/README.md) against qat.qbc. The listed
# cases are checked against predictions from `qdb run` and cosines from
# `qdb compare --sample`; the written dataset is read back by `qdb info`
# and evaluated again.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"
. "$QDB_SRCDIR/tests/cli/digits.sh"
D=$DIGITS
A=$D/qat.qbc
B=$D/quantized-bad.qbc

# py CODE: a Python check on the JSON in $tmp/out (d, its cases B): the
# last line of CODE is the condition, lines before it run first. R(file)
# reads another JSON; pred(run_json) = {sample id: top-1 class} from
# `qdb run -f json`.
py() {
	"$PY" -c "
import json, sys, math
d = json.load(open(sys.argv[1]))
def R(f): return json.load(open(f))
def pred(f): return {r['sample']: r['top'][0]['class'] for r in R(f)['results']}
def near(x, y, tol): return abs(x - y) <= tol
B = d['badcases']
lines = sys.argv[2].strip().split(chr(10))
exec(chr(10).join(lines[:-1]))
sys.exit(0 if eval(lines[-1]) else 1)" "$tmp/out" "$1"
}

"$QDB" run -f json -k 1 "$A" --data "$D/digits.qds" >"$tmp/run_a.json" 2>"$tmp/err"
"$QDB" run -f json -k 1 "$B" --data "$D/digits.qds" >"$tmp/run_b.json" 2>"$tmp/err"

# --- top-1 disagreements ----------------------------------------------------------
t "top1: exit 0" run 0 "$QDB" badcases -f json -m top1 -k 0 "$A" "$B" --data "$D/digits.qds"
t "top1: every record where qdb run's predictions differ, and only those" py "
pa, pb = pred('$tmp/run_a.json'), pred('$tmp/run_b.json')
want = {s for s in pa if pa[s] != pb[s]}
len(want) > 0 and {c['sample'] for c in B} == want and d['qualifying'] == len(want) == d['top1_differ']"
t "top1: listed predictions are qdb run's (real disagreements)" py "
pa, pb = pred('$tmp/run_a.json'), pred('$tmp/run_b.json')
all(c['pred_a'] == pa[c['sample']] and c['pred_b'] == pb[c['sample']] and c['pred_a'] != c['pred_b'] for c in B)"
t "top1: labels are the dataset's" py "
lab = {r['sample']: r['label'] for r in R('$tmp/run_a.json')['results']}
all(c['label'] == lab[c['sample']] for c in B)"
t "top1: lowest output cosine first, ranks 1..n" py "
all(B[i]['cosine'] <= B[i + 1]['cosine'] for i in range(len(B) - 1)) and [c['rank'] for c in B] == list(range(1, len(B) + 1))"
t "top1: -k 5 lists the first five of the full list" sh -c "
	cp '$tmp/out' '$tmp/all.json'
	'$QDB' badcases -f json -m top1 -k 5 '$A' '$B' --data '$D/digits.qds' >'$tmp/k5.json' &&
	'$PY' -c \"
import json, sys
a = json.load(open('$tmp/all.json'))['badcases']; k = json.load(open('$tmp/k5.json'))['badcases']
sys.exit(0 if len(k) == 5 and [c['sample'] for c in k] == [c['sample'] for c in a[:5]] else 1)\""

# --- cosine and sqnr -----------------------------------------------------------------
t "cosine: exit 0" run 0 "$QDB" badcases -f json -k 20 "$A" "$B" --data "$D/digits.qds"
t "cosine (default): 20 listed, lowest first, far below 1" py "
d['metric'] == 'cosine' and len(B) == 20 and B[0]['cosine'] < 0.8 \
and all(B[i]['cosine'] <= B[i + 1]['cosine'] for i in range(19))"
cp "$tmp/out" "$tmp/cos.json"
W=$("$PY" -c "import json; print(json.load(open('$tmp/cos.json'))['badcases'][0]['sample'])")
"$QDB" compare -f json -s "$W" -M cosine,sqnr_db "$A" "$B" --data "$D/digits.qds" >"$tmp/cmp.json" 2>"$tmp/err"
t "cosine: the worst case's cosine and sqnr equal qdb compare --sample $W at fc2" py "
L = next(l for l in R('$tmp/cmp.json')['layers'] if l['layer'] == 'fc2')
near(B[0]['cosine'], L['metrics']['cosine'], 1e-6) and near(B[0]['sqnr_db'], L['metrics']['sqnr_db'], 1e-4)"
"$QDB" eval -f json "$A" "$B" --data "$D/digits.qds" >"$tmp/eval.json" 2>"$tmp/err"
t "cosine: the worst case is qdb eval's minimum output cosine" py "
p = R('$tmp/eval.json')['agreement'][0]
p['cosine_min_sample'] == B[0]['sample'] and near(p['cosine_min'], B[0]['cosine'], 1e-12)"
t "sqnr: exit 0" run 0 "$QDB" badcases -f json -m sqnr -k 10 "$A" "$B" --data "$D/digits.qds"
t "sqnr: 10 listed, lowest sqnr first" py "
d['metric'] == 'sqnr' and len(B) == 10 and all(B[i]['sqnr_db'] <= B[i + 1]['sqnr_db'] for i in range(9))"

# --- the written dataset ---------------------------------------------------------------
t "-o: exit 0" run 0 "$QDB" badcases -m top1 -k 7 -o "$tmp/bad.qds" "$A" "$B" --data "$D/digits.qds"
t "-o: says it wrote 7 records" has "^wrote 7 records to .*bad\.qds$"
t "-o: table lists 7 cases" sh -c "[ \$(grep -Ec '^[1-7] +[0-9]+ +0\.[0-9]+ ' '$tmp/out') -eq 7 ]"
t "-o: no temporary file left beside it" sh -c "[ \$(ls '$tmp' | grep -c '^bad\.qds') -eq 1 ]"
t "-o: qdb info reads it: a dataset of 7 class-labelled records" sh -c "
	'$QDB' info '$tmp/bad.qds' >'$tmp/info' && grep -Eq '^ +records +7$' '$tmp/info' &&
	grep -Eq '^ +label +class' '$tmp/info' && grep -Eq '^x +f32 +1x1x8x8$' '$tmp/info'"
"$QDB" badcases -f json -m top1 -k 7 "$A" "$B" --data "$D/digits.qds" >"$tmp/k7.json" 2>"$tmp/err"
t "-o: the written records are bad cases again, same ids, labels and cosines" sh -c "
	'$QDB' badcases -f json -m top1 -k 0 '$A' '$B' --data '$tmp/bad.qds' >'$tmp/again.json' &&
	'$PY' -c \"
import json, sys
a = json.load(open('$tmp/k7.json'))['badcases']; b = json.load(open('$tmp/again.json'))['badcases']
key = lambda c: (c['sample'], c['label'], c['pred_a'], c['pred_b'], c['cosine'])
sys.exit(0 if len(b) == 7 and sorted(map(key, a)) == sorted(map(key, b)) else 1)\""
t "-o: records in the listed order" sh -c "
	'$QDB' run -f json '$A' --data '$tmp/bad.qds' >'$tmp/rb.json' &&
	'$PY' -c \"
import json, sys
a = [c['sample'] for c in json.load(open('$tmp/k7.json'))['badcases']]
b = [r['sample'] for r in json.load(open('$tmp/rb.json'))['results']]
sys.exit(0 if a == b else 1)\""
t "-o over an existing file replaces it" run 0 "$QDB" badcases -k 3 -o "$tmp/bad.qds" "$A" "$B" \
	--data "$D/digits.qds"
t "-o: now 3 records" sh -c "'$QDB' info '$tmp/bad.qds' | grep -Eq '^ +records +3$'"

# --- traces, identical models, table ------------------------------------------------------
t "trace vs graph: exit 0" run 0 "$QDB" badcases -f json -m top1 "$D/qat.pt.qtr" "$B" --data "$D/digits.qds"
t "trace vs graph: the 64 records of the trace" py "d['samples'] == 64 and all(c['pred_a'] != c['pred_b'] for c in B)"
t "identical models: exit 0" run 0 "$QDB" badcases "$A" "$A" --data "$D/digits.qds" -s 0:50
t "identical models: no bad case" has '^no bad case$'
t "table: exit 0" run 0 "$QDB" badcases "$A" "$B" --data "$D/digits.qds"
t "table: summary counts" has '^outputs differ on [0-9]+, top-1 on [0-9]+ \(agreement 0\.9[0-9]+\)$'
t "table: 20 of the records that differ" has '^20 of [0-9]+ that differ, lowest output cosine first$'
t "table: fits 80 columns" fits 80
t "csv: exit 0" run 0 "$QDB" badcases -f csv -k 4 "$A" "$B" --data "$D/digits.qds"
t "csv: header and 4 rows of equal width" "$PY" -c "
import csv, sys
r = list(csv.reader(open('$tmp/out')))
sys.exit(0 if r[0][:3] == ['rank', 'sample', 'record'] and len(r) == 5 and len(set(map(len, r))) == 1 else 1)"

# --- bad input -----------------------------------------------------------------------------
t "one model: exit 2" run 2 "$QDB" badcases "$A" --data "$D/digits.qds"
t "one model: one line" err1 '^qdb badcases: needs two models'
t "no --data: exit 2" run 2 "$QDB" badcases "$A" "$B"
t "no --data: one line" err1 '^qdb badcases: --data DS.qds is required'
t "bad --metric: exit 2" run 2 "$QDB" badcases -m mse "$A" "$B" --data "$D/digits.qds"
t "bad --metric: one line" err1 "--metric: expected cosine, sqnr or top1"
t "bad -k: exit 2" run 2 "$QDB" badcases -k -3 "$A" "$B" --data "$D/digits.qds"
t "missing model: exit 2" run 2 "$QDB" badcases "$A" "$tmp/nope.qbc" --data "$D/digits.qds"
t "missing model: one line naming it" err1 'nope\.qbc'
t "dataset as a model: exit 2" run 2 "$QDB" badcases "$A" "$D/digits.qds" --data "$D/digits.qds"
t "outputs of different sizes: exit 2" run 2 "$QDB" badcases "$A" "$QDB_SRCDIR/testdata/traces/onesided.qtr" \
	--data "$D/digits.qds"
t "outputs of different sizes: one line" err1 'elements'
t "-o into a missing directory: exit 2" run 2 "$QDB" badcases -o "$tmp/no/such/dir/x.qds" "$A" "$B" \
	--data "$D/digits.qds" -s 0:20
t "-o into a missing directory: one line" err1 'x\.qds'
t "--help: exit 0" run 0 "$QDB" badcases --help
t "--help: usage" has '^usage: qdb badcases'

done_testing
