#!/bin/sh
# eval.sh - `qdb eval` on the digits demo: accuracies against the figures
# of testdata/README.md and against `qdb run`, pairwise agreement against
# the predictions `qdb run` prints, per-class counts, formats, bad input.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"
. "$QDB_SRCDIR/tests/cli/digits.sh"
D=$DIGITS

# py EXPR: a Python check on the JSON in $tmp/out (d), with R(file) = another
# JSON file and readme(row) = the accuracy the README's table gives a row.
py() {
	"$PY" -c "
import json, sys, re
d = json.load(open(sys.argv[1]))
def R(f): return json.load(open(f))
def readme(row):
    for l in open(sys.argv[2]):
        c = [x.strip() for x in l.strip().strip('|').split('|')]
        if len(c) == 2 and c[0] == row: return float(c[1])
    raise SystemExit('README has no row ' + row)
def M(p): return next(m for m in d['models'] if m['path'].endswith(p))
def P(a, b): return next(x for x in d['agreement'] if x['a'].endswith(a) and x['b'].endswith(b))
sys.exit(0 if ($1) else 1)" "$tmp/out" "$QDB_SRCDIR/testdata/README.md"
}

# --- accuracies -----------------------------------------------------------------
t "three models: exit 0" run 0 "$QDB" eval -f json "$D/qat.qbc" "$D/quantized.qbc" \
	"$D/quantized-bad.qbc" --data "$D/digits.qds"
t "all 1797 records, all labelled" py "d['samples'] == 1797 and d['labelled'] == 1797"
t "accuracies equal testdata/README.md (qat.bc, quantized.bc fixed, quantized-bad.bc)" py \
	"round(M('/qat.qbc')['accuracy'], 4) == readme('qat.bc (qdb)') \
	 and round(M('/quantized.qbc')['accuracy'], 4) == readme('quantized.bc, profile fixed (qdb)') \
	 and round(M('/quantized-bad.qbc')['accuracy'], 4) == readme('quantized-bad.bc (qdb)')"
t "README figures: 0.9978, 0.9978, 0.9516" py \
	"[round(m['accuracy'], 4) for m in d['models']] == [0.9978, 0.9978, 0.9516]"
cp "$tmp/out" "$tmp/eval.json"
for m in qat quantized quantized-bad; do
	"$QDB" run -f json "$D/$m.qbc" --data "$D/digits.qds" -k 1 >"$tmp/run_$m.json" 2>"$tmp/err"
done
t "accuracies equal qdb run's, correct counts too" py \
	"all(abs(M('/'+m+'.qbc')['accuracy'] - R('$tmp/run_'+m+'.json')['accuracy']['top1']) < 1e-12 \
	     and M('/'+m+'.qbc')['correct'] == sum(1 for r in R('$tmp/run_'+m+'.json')['results'] \
	                                          if r['top'][0]['class'] == r['label']) \
	     for m in ['qat', 'quantized', 'quantized-bad'])"

# --- agreement --------------------------------------------------------------------
# disagreements counted from qdb run's top-1 classes, record by record
"$PY" -c "
import json, sys
p = {m: [r['top'][0]['class'] for r in json.load(open('$tmp/run_%s.json' % m))['results']]
     for m in ['qat', 'quantized', 'quantized-bad']}
print(sum(a != b for a, b in zip(p['qat'], p['quantized-bad'])),
      sum(a != b for a, b in zip(p['qat'], p['quantized'])))" >"$tmp/differ"
read -r DIFF_BAD DIFF_OK <"$tmp/differ"
t "qat vs quantized-bad disagree on some records ($DIFF_BAD by qdb run)" test "${DIFF_BAD:-0}" -gt 0
t "pairwise top-1 agreement equals qdb run's predictions" py \
	"P('/qat.qbc', '/quantized-bad.qbc')['top1_agree'] == 1797 - $DIFF_BAD \
	 and P('/qat.qbc', '/quantized.qbc')['top1_agree'] == 1797 - $DIFF_OK \
	 and abs(P('/qat.qbc', '/quantized-bad.qbc')['top1_agreement'] - (1797 - $DIFF_BAD) / 1797) < 1e-12"
t "three pairs, in order AB AC BC" py \
	"[(x['a'].split('/')[-1], x['b'].split('/')[-1]) for x in d['agreement']] == \
	 [('qat.qbc', 'quantized.qbc'), ('qat.qbc', 'quantized-bad.qbc'), \
	  ('quantized.qbc', 'quantized-bad.qbc')]"
t "output cosine: healthy pair near 1, broken LUT far below" py \
	"P('/qat.qbc', '/quantized.qbc')['cosine_mean'] > 0.9999 \
	 and P('/qat.qbc', '/quantized-bad.qbc')['cosine_mean'] < 0.9 \
	 and P('/qat.qbc', '/quantized-bad.qbc')['cosine_min'] <= P('/qat.qbc', '/quantized-bad.qbc')['cosine_mean']"
t "a model against itself: full agreement, cosine 1" run 0 "$QDB" eval -f json "$D/qat.qbc" \
	"$D/qat.qbc" --data "$D/digits.qds" -s 0:200
t "self pair: 200/200, cosine 1" py \
	"d['agreement'][0]['top1_agree'] == 200 and abs(d['agreement'][0]['cosine_mean'] - 1) < 1e-12 \
	 and abs(d['agreement'][0]['cosine_min'] - 1) < 1e-12"

# --- per class --------------------------------------------------------------------
"$QDB" info -f json "$D/digits.qds" >"$tmp/info.json" 2>"$tmp/err"
cp "$tmp/eval.json" "$tmp/out"
t "10 classes; counts sum to 1797; correct per class sums to the model's correct" py \
	"len(d['classes']) == 10 and sum(c['count'] for c in d['classes']) == 1797 \
	 and all(sum(c['correct'][i] for c in d['classes']) == d['models'][i]['correct'] for i in range(3))"
t "per-class counts equal the dataset's class histogram (qdb info)" sh -c "
	'$QDB' info '$D/digits.qds' | awk '\$1 ~ /^[0-9]\$/ && NF >= 4 { print \$1, \$3 }' >'$tmp/hist'
	'$PY' -c \"
import json, sys
d = json.load(open('$tmp/out'))
h = dict(l.split() for l in open('$tmp/hist'))
sys.exit(0 if len(h) == 10 and all(int(h[str(c['class'])]) == c['count'] for c in d['classes']) else 1)\""
t "per-class accuracy of quantized-bad from qdb run's predictions" py "
[r['label'] for r in R('$tmp/run_quantized-bad.json')['results']] and all(
  c['correct'][2] == sum(1 for r in R('$tmp/run_quantized-bad.json')['results']
                         if r['label'] == c['class'] and r['top'][0]['class'] == c['class'])
  for c in d['classes'])"

# --- the table ------------------------------------------------------------------------
t "table: exit 0" run 0 "$QDB" eval "$D/qat.qbc" "$D/quantized.qbc" "$D/quantized-bad.qbc" \
	--data "$D/digits.qds"
t "table: one row per model with accuracy and count" sh -c \
	"grep -Eq '^A +.*qat\.qbc +qat +0\.9978 +1793/1797$' '$tmp/out' && \
	 grep -Eq '^C +.*quantized-bad\.qbc +quantized +0\.9516 +1710/1797$' '$tmp/out'"
t "table: pair rows" has '^A C +0\.95[0-9]+ +[0-9]+ '
t "table: class rows with a column per model" has '^ +6 +181 +1\.0000 +1\.0000 +0\.[0-9]{4}$'
t "table: fits 80 columns" fits 80
t "-j 1 and -j 3 give the same json" sh -c "
	'$QDB' eval -f json -j 1 '$D/qat.qbc' '$D/quantized-bad.qbc' --data '$D/digits.qds' -s 0:300 >'$tmp/j1' &&
	'$QDB' eval -f json -j 3 '$D/qat.qbc' '$D/quantized-bad.qbc' --data '$D/digits.qds' -s 0:300 >'$tmp/j3' &&
	cmp -s '$tmp/j1' '$tmp/j3'"

# --- csv ------------------------------------------------------------------------------
t "csv: exit 0" run 0 "$QDB" eval -f csv "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$D/digits.qds"
t "csv: one header, 2 accuracy + 1 agreement + 20 class rows, same width" "$PY" -c "
import csv, sys
r = list(csv.reader(open('$tmp/out')))
s = [x[0] for x in r[1:]]
sys.exit(0 if r[0][0] == 'section' and s.count('accuracy') == 2 and s.count('agreement') == 1
         and s.count('class') == 20 and len(set(map(len, r))) == 1
         and abs(float(r[2][7]) - 1710 / 1797) < 1e-12 else 1)"

# --- samples and traces -----------------------------------------------------------
t "--samples 100:164: 64 records" run 0 "$QDB" eval -f json "$D/qat.qbc" --data "$D/digits.qds" \
	-s 100:164
t "--samples: counts and accuracy equal qdb run -s 100:164" sh -c "
	'$QDB' run -f json '$D/qat.qbc' --data '$D/digits.qds' -s 100:164 >'$tmp/r.json' &&
	'$PY' -c \"
import json, sys
d = json.load(open('$tmp/out')); r = json.load(open('$tmp/r.json'))
sys.exit(0 if d['samples'] == 64 and abs(d['models'][0]['accuracy'] - r['accuracy']['top1']) < 1e-12 else 1)\""
t "a trace as a model: only its 64 records" run 0 "$QDB" eval "$D/qat.pt.qtr" "$D/qat.qbc" \
	--data "$D/digits.qds"
t "trace: header says 64 of 1797, those in the traces" has "^records: 64 of 1797 \\(those in the traces\\), 64 labelled"
t "trace: qat.pt agrees with qat.qbc on all 64" has '^A B +1\.0000 +0 '

# --- bad input ------------------------------------------------------------------------
t "no model: exit 2" run 2 "$QDB" eval --data "$D/digits.qds"
t "no model: one line" err1 '^qdb eval: needs at least one MODEL'
t "no --data: exit 2" run 2 "$QDB" eval "$D/qat.qbc"
t "no --data: one line" err1 '^qdb eval: --data DS.qds is required'
t "missing model: exit 2" run 2 "$QDB" eval "$tmp/nope.qbc" --data "$D/digits.qds"
t "missing model: one line naming it" err1 'nope\.qbc'
t "a dataset as a model: exit 2" run 2 "$QDB" eval "$D/digits.qds" --data "$D/digits.qds"
t "a dataset as a model: one line" err1 'digits\.qds: a dataset, not a graph'
t "a graph as --data: exit 2" run 2 "$QDB" eval "$D/qat.qbc" --data "$D/qat.qbc"
t "a graph as --data: one line" err1 'qat\.qbc: '
printf 'not msgpack at all\n' >"$tmp/text.qbc"
t "text file as model: exit 2" run 2 "$QDB" eval "$tmp/text.qbc" --data "$D/digits.qds"
t "text file as model: one line" err1 'text\.qbc: '
t "graph whose input does not fit the dataset: exit 2" run 2 "$QDB" eval \
	"$QDB_SRCDIR/testdata/run/tiny.qbc" --data "$D/digits.qds"
t "graph whose input does not fit: one line about the shape" err1 'shape'
t "--samples selecting nothing: exit 2" run 2 "$QDB" eval "$D/qat.qbc" --data "$D/digits.qds" -s 5000:
t "--samples selecting nothing: one line" err1 '^qdb eval: --samples'
t "bad -j: exit 2" run 2 "$QDB" eval "$D/qat.qbc" --data "$D/digits.qds" -j 0
t "bad --format: exit 2" run 2 "$QDB" eval "$D/qat.qbc" --data "$D/digits.qds" -f xml
t "unknown option: exit 2" run 2 "$QDB" eval "$D/qat.qbc" --data "$D/digits.qds" --bogus
t "unknown option: one line" err1 'unknown option'
t "--help: exit 0" run 0 "$QDB" eval --help
t "--help: usage" has '^usage: qdb eval'
t "qdb --help lists eval and badcases" sh -c "'$QDB' --help | grep -q '^ *eval ' && '$QDB' --help | grep -q '^ *badcases '"

done_testing
