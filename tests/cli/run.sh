#!/bin/sh
# run.sh - `qdb run` on testdata/run (made by testdata/run/make.py: a torch
# QAT model exported by qdb_torch.py, its datasets, and torch's own trace).
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"
R=$QDB_SRCDIR/testdata/run
BG=$QDB_SRCDIR/testdata/bad-graphs

t "--help: exit 0" run 0 "$QDB" run --help
t "--help: usage line" has '^usage: qdb run MODEL.qbc --data DS.qds'

# --- accuracy summary with class labels -----------------------------------------
t "labelled dataset: exit 0" run 0 "$QDB" run -j 1 "$R/tiny.qbc" --data "$R/tiny.qds"
t "header names model, stage and sample count" has '^model tiny \(qat, fake-quant semantics\), 8 samples$'
t "top-1 accuracy 6/8 (make.py corrupts every 4th label)" has '^top-1 accuracy +0\.7500 +\(6/8\)$'
t "top-5 accuracy line" has '^top-5 accuracy +[01]\.[0-9]+ +\([0-9]/8\)$'
t "timing line" has '^time [0-9.]+ ms/sample \(1 job, '
t "json: exit 0" run 0 "$QDB" run -f json "$R/tiny.qbc" --data "$R/tiny.qds"
t "json: 8 results, accuracy 0.75, semantics qat" pyj \
	"len(d['results']) == 8 and near(d['accuracy']['top1'], 0.75) and d['semantics'] == 'qat' \
	 and d['stage'] == 'qat' and d['accuracy']['labelled'] == 8 and d['cpu_nodes'] == 0"
t "json: 5 classes per sample, scores descending" pyj \
	"all(len(r['top']) == 5 and all(a['score'] >= b['score'] for a, b in zip(r['top'], r['top'][1:])) for r in d['results'])"
t "--samples 2:5: three samples" run 0 "$QDB" run -f json -s 2:5 "$R/tiny.qbc" --data "$R/tiny.qds"
t "--samples 2:5: ids 2, 3, 4" pyj "[r['sample'] for r in d['results']] == [2, 3, 4]"
t "--samples -1: the last sample" run 0 "$QDB" run -f json -s -1 "$R/tiny.qbc" --data "$R/tiny.qds"
t "--samples -1: id 7" pyj "[r['sample'] for r in d['results']] == [7]"
t "--top 3" run 0 "$QDB" run -f json -k 3 "$R/tiny.qbc" --data "$R/tiny.qds"
t "--top 3: three classes" pyj "all(len(r['top']) == 3 for r in d['results']) and d['accuracy']['k'] == 3"

# --- top-k table without labels -------------------------------------------------
t "unlabelled dataset: exit 0" run 0 "$QDB" run "$R/tiny.qbc" --data "$R/tiny_nolabel.qds"
t "unlabelled: top-k table header" has '^sample +top1 +score +top'
t "unlabelled: one row per sample" sh -c "[ \$(grep -Ec '^[0-7] ' '$tmp/out') -eq 8 ]"
t "unlabelled: fits 80 columns" fits 80

# --- traces ---------------------------------------------------------------------
t "--trace: exit 0" run 0 "$QDB" run -j 1 --trace "$tmp/a.qtr" "$R/tiny.qbc" --data "$R/tiny.qds"
t "--trace: file written" test -s "$tmp/a.qtr"
t "trace equals torch's QAT forward bit for bit (every layer, max_abs 0)" \
	run 0 "$QDB" compare -t 'max_abs>0' "$R/tiny_qat_pt.qtr" "$tmp/a.qtr"
t "all 9 layers aligned" has '^0 of 9 aligned layers diverge'
t "-j 3 writes the same trace bytes" sh -c "'$QDB' run -j 3 --trace '$tmp/b.qtr' '$R/tiny.qbc' --data '$R/tiny.qds' >/dev/null && cmp -s '$tmp/a.qtr' '$tmp/b.qtr'"
t "trace header: qdb info reads it" sh -c "'$QDB' info -f json '$tmp/a.qtr' > '$tmp/out'"
t "info: stage qat, model tiny, 8 samples, 72 records, layers named as the nodes" pyj \
	"d[0]['stage'] == 'qat' and d[0]['model'] == 'tiny' and d[0]['samples'] == 8 and d[0]['records'] == 72 \
	 and [l['name'] for l in d[0]['layers']] == ['c1', 'dw', 'r2', 'c2', 'mp', 'add', 'pool', 'flatten', 'fc'] \
	 and d[0]['layers'][0]['op'] == 'conv2d'"

# --- stage modes ----------------------------------------------------------------
t "--stage-mode float: exit 0" run 0 "$QDB" run -f json --stage-mode float "$R/tiny.qbc" --data "$R/tiny_nolabel.qds"
cp "$tmp/out" "$tmp/float.json"
t "--stage-mode float: semantics float" pyj "d['semantics'] == 'float'"
t "--stage-mode qat (native) scores differ from float" sh -c "'$QDB' run -f json --stage-mode qat '$R/tiny.qbc' --data '$R/tiny_nolabel.qds' > '$tmp/out' && ! cmp -s '$tmp/out' '$tmp/float.json'"
t "--stage-mode float --trace: values carry no qparams" sh -c "'$QDB' run -m float -t '$tmp/f.qtr' '$R/tiny.qbc' --data '$R/tiny.qds' >/dev/null && '$QDB' compare -t 'max_abs>0' '$R/tiny_qat_pt.qtr' '$tmp/f.qtr' >/dev/null; [ \$? -eq 1 ]"
t "--cpu on a qat graph is accepted (devices matter in quantized graphs)" run 0 "$QDB" run --cpu c1,fc "$R/tiny.qbc" --data "$R/tiny.qds"

# --- errors: one line, exit 2 ---------------------------------------------------
t "no --data: exit 2" run 2 "$QDB" run "$R/tiny.qbc"
t "no --data: one-line message" err1 '^qdb run: --data DS.qds is required'
t "no model: exit 2" run 2 "$QDB" run --data "$R/tiny.qds"
t "bad graph (cycle): exit 2" run 2 "$QDB" run "$BG/cycle.qbc" --data "$R/tiny.qds"
t "bad graph: one line naming the cycle" err1 '^qdb run: .*cycle\.qbc: cycle: relu -> pool -> relu$'
t "bad graph (attr): names node and field" sh -c "'$QDB' run '$BG/stride-zero.qbc' --data '$R/tiny.qds' 2>&1 >/dev/null | grep -q \"node conv: attr 'stride'\""
t "dataset shape does not fit the graph: exit 2" run 2 "$QDB" run "$BG/good.qbc" --data "$R/tiny.qds"
t "shape mismatch message" err1 "input 'x' has shape 1x3x16x16, the graph declares 1x3x8x8"
t "--cpu with an unknown node: exit 2" run 2 "$QDB" run --cpu nope "$R/tiny.qbc" --data "$R/tiny.qds"
t "--cpu unknown node message" err1 "^qdb run: --cpu: the graph has no node 'nope'$"
t "--samples selecting nothing: exit 2" run 2 "$QDB" run -s 8:9 "$R/tiny.qbc" --data "$R/tiny.qds"
t "bad --stage-mode: exit 2" run 2 "$QDB" run -m int4 "$R/tiny.qbc" --data "$R/tiny.qds"
t "a trace in a missing directory: non-zero, nothing left behind" sh -c "'$QDB' run -t '$tmp/no/such/x.qtr' '$R/tiny.qbc' --data '$R/tiny.qds' >/dev/null 2>&1; [ \$? -ne 0 ] && [ ! -e '$tmp/no' ]"
t "not a graph: exit 2" run 2 "$QDB" run "$R/tiny.qds" --data "$R/tiny.qds"
t "not a dataset: exit 2" run 2 "$QDB" run "$R/tiny.qbc" --data "$R/tiny.qbc"

# --- quantized graphs: needs qdb convert (helper int) ---------------------------
if "$QDB" convert --help >/dev/null 2>&1; then
	t "convert the qat graph" run 0 "$QDB" convert "$R/tiny.qbc" -o "$tmp/q.qbc"
	t "quantized: exit 0" run 0 "$QDB" run -f json "$tmp/q.qbc" --data "$R/tiny.qds"
	t "quantized: integer semantics, no cpu nodes" pyj "d['semantics'] == 'int' and d['cpu_nodes'] == 0 and d['stage'] == 'quantized'"
	t "quantized --cpu c1,fc: 2 cpu nodes" run 0 "$QDB" run -f json --cpu c1,fc "$tmp/q.qbc" --data "$R/tiny.qds"
	t "quantized --cpu: cpu_nodes 2" pyj "d['cpu_nodes'] == 2"
	t "quantized --trace" sh -c "'$QDB' run -t '$tmp/q.qtr' '$tmp/q.qbc' --data '$R/tiny.qds' >/dev/null && '$QDB' info -f json '$tmp/q.qtr' > '$tmp/out'"
	t "quantized trace keeps integers (c1 is u8 or i8)" pyj "[l['dtype'] for l in d[0]['layers'] if l['name'] == 'c1'][0] in ('u8', 'i8')"
	t "quantized vs torch qat" sh -c "'$QDB' compare -f json '$R/tiny_qat_pt.qtr' '$tmp/q.qtr' > '$tmp/out'; [ \$? -le 1 ]"
	t "quantized vs torch qat: outputs agree (cosine > 0.99)" pyj "M('fc','cosine')['mean'] > 0.99"
	all=$("$PY" -c "import msgpack,sys; g=msgpack.unpackb(open(sys.argv[1],'rb').read(), raw=False); print(','.join(n['name'] for n in g['nodes']))" "$tmp/q.qbc")
	t "all nodes on cpu = --stage-mode float, bit for bit" sh -c "'$QDB' run -t '$tmp/c.qtr' --cpu '$all' '$tmp/q.qbc' --data '$R/tiny.qds' >/dev/null && '$QDB' run -m float -t '$tmp/f2.qtr' '$tmp/q.qbc' --data '$R/tiny.qds' >/dev/null && '$QDB' compare -t 'max_abs>0' '$tmp/f2.qtr' '$tmp/c.qtr' >/dev/null"
	t "all nodes on cpu vs torch qat: output cosine > 0.999" sh -c "'$QDB' compare -f json '$R/tiny_qat_pt.qtr' '$tmp/c.qtr' > '$tmp/out'; [ \$? -le 1 ]"
	t "all-cpu output close to qat" pyj "M('fc','cosine')['mean'] > 0.999"
else
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do n=$((n + 1)); echo "ok $n # SKIP qdb convert not available"; done
fi

done_testing
