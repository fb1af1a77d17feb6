#!/bin/sh
# compare_graph.sh - `qdb compare` with graphs run on --data, cumulative and
# isolated, on the digits demo (testdata/README.md): quantized-bad.qbc
# differs from quantized.qbc only in act3's hardswish LUT.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"
. "$QDB_SRCDIR/tests/cli/digits.sh"
D=$DIGITS
DS=$D/digits.qds

# py EXPR on the JSON in $tmp/out: L(name) the layer, M(name, metric) its
# cumulative metric object, I(name, metric) its isolated one.
py() {
	"$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
def L(n): return next(l for l in d['layers'] if l['layer'] == n)
def M(n, m): return L(n)['metrics'][m]
def I(n, m): return L(n)['isolated']['metrics'][m]
before = ['conv1', 'conv2', 'pool1', 'conv3']
after = ['pool2', 'flatten', 'fc1', 'fc2']
sys.exit(0 if ($1) else 1)" "$tmp/out"
}

# --- cumulative ------------------------------------------------------------------
t "qat vs quantized-bad: exit 1 (diverges)" run 1 "$QDB" compare "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "cumulative table: act3 marked as first divergent" has '^> +act3 '
t "cumulative table: nothing before act3 marked" sh -c "grep -E '^[>!] +(conv1|conv2|pool1|conv3) ' '$tmp/out'; [ \$? -eq 1 ]"
t "cumulative table: summary names act3" has '^first divergent layer: act3 \(worst cosine 0\.[0-9]+ at sample [0-9]+\)$'
t "cumulative table: all 1797 samples" has '^1797 samples, worst value per column'
t "cumulative table: fits 80 columns" fits 80
t "cumulative json: exit 1" run 1 "$QDB" compare -f json "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "cumulative json: first divergent act3, graphs on both sides, 1797 samples" py \
	"d['first_divergent'] == 'act3' and d['comparison'] == 'cumulative' and d['samples'] == 1797 \
	 and d['a']['kind'] == d['b']['kind'] == 'graph' and d['data'].endswith('digits.qds')"
t "cumulative json: layers before act3 hold (cosine > 0.999, <= 1 LSB)" py \
	"all(L(n)['status'] == 'ok' and M(n, 'cosine')['worst'] > 0.999 and M(n, 'max_steps')['worst'] < 1.01 for n in before)"
t "cumulative json: act3 itself far off (cosine < 0.7, tens of LSB)" py \
	"M('act3', 'cosine')['worst'] < 0.7 and M('act3', 'max_steps')['worst'] > 20"
t "cumulative json: the damage flows downstream" py \
	"all(L(n)['status'] == 'diverged' and M(n, 'cosine')['worst'] < 0.99 for n in after)"
t "quantized vs quantized-bad: bit-identical before act3" run 1 "$QDB" compare -f json \
	"$D/quantized.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "quantized vs quantized-bad: max_abs 0 before act3, act3 first" py \
	"all(M(n, 'max_abs')['worst'] == 0 for n in before) and d['first_divergent'] == 'act3'"

# --- isolated ----------------------------------------------------------------------
t "isolated: exit 1" run 1 "$QDB" compare -f json --mode isolated "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "isolated: act3 first divergent in isolation and end to end" py \
	"d['comparison'] == 'isolated' and d['first_divergent_isolated'] == 'act3' and d['first_divergent'] == 'act3'"
t "isolated: only act3 diverges in isolation" py \
	"d['divergent_layers_isolated'] == 1 and [l['layer'] for l in d['layers'] if l['isolated']['status'] == 'diverged'] == ['act3']"
t "isolated: act3's own error is its cumulative one (its inputs agree)" py \
	"I('act3', 'cosine')['worst'] < 0.7 and abs(I('act3', 'cosine')['worst'] - M('act3', 'cosine')['worst']) < 0.01 \
	 and abs(I('act3', 'cosine')['mean'] - M('act3', 'cosine')['mean']) < 0.01 and I('act3', 'max_steps')['worst'] > 20"
t "isolated: downstream layers' own errors are small (cosine > 0.999, <= 1 LSB)" py \
	"all(I(n, 'cosine')['worst'] > 0.999 and I(n, 'max_steps')['worst'] < 1.01 for n in after)"
t "isolated: ... while their cumulative errors are large" py \
	"all(M(n, 'cosine')['worst'] < 0.99 for n in after)"
t "isolated table: exit 1" run 1 "$QDB" compare --mode isolated "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "isolated table: act3 marked, nothing else" sh -c "grep -Eq '^> +act3 ' '$tmp/out' && [ \$(grep -Ec '^[>!] ' '$tmp/out') -eq 1 ]"
t "isolated table: i: columns beside the cumulative cosine" has '^ +layer +.* cosine +i:cosine '
t "isolated table: both first-divergent lines" sh -c \
	"grep -Eq '^first divergent layer in isolation: act3 ' '$tmp/out' && grep -Eq '^first divergent layer end to end: act3 ' '$tmp/out'"
t "isolated table: 1 in isolation, 5 end to end" has '^1 of 9 aligned layers diverge in isolation, 5 end to end'
t "isolated table: fits 80 columns" fits 80
t "isolated csv: exit 1" run 1 "$QDB" compare -f csv --mode isolated "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "isolated csv: iso_ columns, act3 the only iso_first" "$PY" -c "
import csv, sys
r = list(csv.DictReader(open('$tmp/out')))
ok = [x['layer'] for x in r if x['iso_first'] == '1'] == ['act3'] and 'iso_cosine_worst' in r[0] \
     and float(next(x for x in r if x['layer'] == 'fc1')['iso_cosine_worst']) > 0.999
sys.exit(0 if ok else 1)"

# --- one sample, mixed sides ----------------------------------------------------------------
"$QDB" badcases -f json -m top1 -k 1 "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS" >"$tmp/bc.json" 2>"$tmp/err"
S=$("$PY" -c "import json; print(json.load(open('$tmp/bc.json'))['badcases'][0]['sample'])")
t "--sample $S (a top-1 bad case): exit 1" run 1 "$QDB" compare -f json -s "$S" --mode isolated \
	"$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "--sample: one sample, act3 first, fc2 top1 disagrees" py \
	"d['mode'] == 'sample' and d['sample'] == $S and d['samples'] == 1 and d['first_divergent_isolated'] == 'act3' \
	 and L('fc2')['status'] == 'diverged'"
t "trace vs graph (qat.pt.qtr vs quantized-bad.qbc): exit 1" run 1 "$QDB" compare -f json \
	"$D/qat.pt.qtr" "$D/quantized-bad.qbc" --data "$DS" --mode isolated
t "trace vs graph: the trace's 64 samples, act3 first in both modes" py \
	"d['samples'] == 64 and d['a']['kind'] == 'trace' and d['first_divergent'] == 'act3' \
	 and d['first_divergent_isolated'] == 'act3'"
t "graph vs trace (qat.qbc vs qat.pt.qtr): consistent, exit 0" run 0 "$QDB" compare -f json \
	"$D/qat.qbc" "$D/qat.pt.qtr" --data "$DS"
t "graph vs trace: every layer's cosine >= 0.9999999 (README)" py \
	"d['first_divergent'] is None and all(l['metrics']['cosine']['worst'] >= 0.9999999 for l in d['layers'])"

# --- bad input ------------------------------------------------------------------------------
t "graph without --data: exit 2" run 2 "$QDB" compare "$D/qat.qbc" "$D/quantized-bad.qbc"
t "graph without --data: one line" err1 'qat\.qbc: a graph: comparing graphs needs --data'
t "--data with two traces: exit 2" run 2 "$QDB" compare "$D/qat.pt.qtr" "$D/int8.qtr" --data "$DS"
t "--data with two traces: one line" err1 '^qdb compare: --data: neither A nor B is a graph'
t "--mode isolated with a trace B: exit 2" run 2 "$QDB" compare --mode isolated "$D/qat.qbc" \
	"$D/qat.pt.qtr" --data "$DS"
t "--mode isolated with a trace B: one line" err1 '--mode isolated: B must be a graph'
t "bad --mode: exit 2" run 2 "$QDB" compare --mode sideways "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "bad --mode: one line" err1 "--mode: expected cumulative or isolated, not 'sideways'"
t "missing dataset: exit 2" run 2 "$QDB" compare "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$tmp/nope.qds"
t "missing dataset: one line naming it" err1 'nope\.qds'
t "a trace as --data: exit 2" run 2 "$QDB" compare "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$D/int8.qtr"
t "unknown sample: exit 2" run 2 "$QDB" compare -s 99999 "$D/qat.qbc" "$D/quantized-bad.qbc" --data "$DS"
t "unknown sample: one line" err1 "no sample '99999'"
t "graph that does not fit the dataset: exit 2" run 2 "$QDB" compare "$D/qat.qbc" \
	"$QDB_SRCDIR/testdata/run/tiny.qbc" --data "$DS"
t "graph that does not fit the dataset: one line" err1 'tiny\.qbc'
cp "$D/qat.qbc" "$tmp/model.bin"
t "a graph not named .qbc: exit 2" run 2 "$QDB" compare "$tmp/model.bin" "$D/quantized-bad.qbc" --data "$DS"
t "a graph not named .qbc: one line" err1 'model\.bin: a graph: name it \*\.qbc'

done_testing
