#!/bin/sh
# info.sh - `qdb info` on the committed files in testdata/traces (made by
# testdata/traces/make.py): traces, a dataset, a graph and a .npy file.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"

# --- traces ---------------------------------------------------------------------
t "trace: exit 0" run 0 "$QDB" info "$TD/ref.qtr"
t "trace: kind" has 'ref\.qtr: trace$'
t "trace: stage" has '^  stage +float$'
t "trace: model and producer" sh -c "grep -Eq '^  model +tiny$' '$tmp/out' && grep -Eq '^  producer +testdata/traces/make.py$' '$tmp/out'"
t "trace: samples and records" sh -c "grep -Eq '^  samples +4 \\(0 \\.\\. 3\\)$' '$tmp/out' && grep -Eq '^  records +32$' '$tmp/out'"
t "trace: layer row with op, shape, dtype, records" has '^3 conv2 +conv2d +1x8x4x4 +f32 +- +4$'
t "trace: fits 80 columns" fits 80
t "per-channel qparams" sh -c "'$QDB' info '$TD/int8_b.qtr' | grep -Eq '^0 pc +conv2d +1x2x2x2 +i8 +axis 1 x2: s=0.1\\.\\.0.5 zp=0\\.\\.3 +2$'"
t "per-tensor qparams" sh -c "'$QDB' info '$TD/int8_b.qtr' | grep -Eq '^1 pt +add +4x4 +i8 +s=0.25 zp=-2 '"
t "string sample ids" sh -c "'$QDB' info '$TD/demo_int.qtr' | grep -Eq '^  samples +8 \\(frame_0000 \\.\\. frame_0007\\)$'"
t "kind by content, not extension" sh -c "cp '$TD/ref.qtr' '$tmp/looks.npy' && '$QDB' info '$tmp/looks.npy' | grep -q 'looks.npy: trace'"

# --- --stats ------------------------------------------------------------------------
t "--stats: exit 0" run 0 "$QDB" info --stats "$TD/int8_b.qtr"
t "--stats: first sample by default" has '^statistics of sample 0$'
t "--stats: saturation of the sat layer" has '^sat +-12\.8 +12\.7 .* 50% +0 +0$'
t "--stats: fits 80 columns" fits 80
t "--stats --sample 1" run 0 "$QDB" info --stats --sample 1 "$TD/int8_b.qtr"
t "--stats --sample 1: header" has '^statistics of sample 1$'
t "--stats --sample frame_0003" run 0 "$QDB" info --stats -s frame_0003 "$TD/demo_int.qtr"
t "--stats --sample frame_0003: header" has '^statistics of sample frame_0003$'
t "--stats --sample frame_0003: fits 80 columns" fits 80
t "--stats on a NaN layer counts it" sh -c "'$QDB' info --stats -s 1 '$TD/nan.qtr' | grep -Eq '^fc .* 1 +0$'"
t "--stats: unknown sample, exit 2" run 2 "$QDB" info --stats --sample 42 "$TD/ref.qtr"
t "--stats: unknown sample, message" err1 "ref\.qtr: no sample '42'"

# --- dataset, graph, npy ---------------------------------------------------------------
t "dataset: exit 0" run 0 "$QDB" info "$TD/sample.qds"
t "dataset: kind, records, label" sh -c "grep -q 'sample.qds: dataset' '$tmp/out' && grep -Eq '^  records +10$' '$tmp/out' && grep -Eq '^  label +class \\(3 classes named\\)$' '$tmp/out'"
t "dataset: input" has '^image +f32 +1x3x4x4$'
t "dataset: class histogram" sh -c "grep -Eq '^ +0 +cat +5 +50\\.0%$' '$tmp/out' && grep -Eq '^ +1 +dog +3 +30\\.0%$' '$tmp/out' && grep -Eq '^ +2 +bird +2 +20\\.0%$' '$tmp/out'"
t "graph: exit 0" run 0 "$QDB" info "$TD/sample.qbc"
t "graph: kind, stage, profile" sh -c "grep -q 'sample.qbc: graph' '$tmp/out' && grep -Eq '^  stage +quantized$' '$tmp/out' && grep -Eq '^  profile +fixed \\(rounding half_up\\)$' '$tmp/out'"
t "graph: nodes with op, device, dtype, qparams" sh -c "grep -Eq '^1 fc +linear +bpu .*i8 +s=0.1 zp=-3$' '$tmp/out' && grep -Eq '^2 act +relu +cpu ' '$tmp/out'"
t "graph: constants" has '^fc\.weight +i8 +3x4 +axis 0 x3: s=0.01\.\.0.03 zp=0$'
t "graph: edits" has '^  act: device bpu -> cpu$'
t "graph: validation reported" has '^  valid +(yes|no: .*)$'
t "graph: fits 80 columns" fits 80
t "npy: exit 0" run 0 "$QDB" info --stats "$TD/sample.npy"
t "npy: dtype and shape" sh -c "grep -Eq '^  dtype +f32$' '$tmp/out' && grep -Eq '^  shape +2x3$' '$tmp/out'"
t "npy: stats count the NaN" has '^  nan +1$'

# --- json and csv --------------------------------------------------------------------
all="$TD/ref.qtr $TD/int8_b.qtr $TD/sample.qds $TD/sample.qbc $TD/sample.npy"
t "json: exit 0" run 0 "$QDB" info --stats -f json $all
t "json: json.tool accepts it" "$PY" -m json.tool "$tmp/out" /dev/null
t "json: one object per file, kinds" pyj "[x['kind'] for x in d] == ['trace', 'trace', 'dataset', 'graph', 'npy']"
t "json: trace layers, records and stats" pyj \
	"len(d[0]['layers']) == 8 and d[0]['records'] == 32 and d[0]['sample_ids'] == [0,1,2,3] \
	 and d[0]['layers'][3]['shape'] == [1,8,4,4] and d[0]['layers'][3]['stats']['count'] == 128"
t "json: per-channel qparams as arrays" pyj \
	"d[1]['layers'][0]['qparams'] == {'scale': [0.1, 0.5], 'zero_point': [0, 3], 'axis': 1} \
	 and d[1]['layers'][1]['qparams'] == {'scale': 0.25, 'zero_point': -2}"
t "json: dataset histogram" pyj "[h['count'] for h in d[2]['histogram']] == [5,3,2] and d[2]['label']['classes'] == ['cat','dog','bird']"
t "json: graph nodes, constants, edits" pyj \
	"[n['device'] for n in d[3]['nodes']] == ['bpu','bpu','cpu','bpu'] and d[3]['constants'][0]['qparams']['axis'] == 0 \
	 and d[3]['edits'] == [{'node': 'act', 'field': 'device', 'from': 'bpu', 'to': 'cpu'}]"
t "json: npy stats with NaN count" pyj "d[4]['stats']['nan'] == 1 and d[4]['shape'] == [2,3]"
t "json: a file that fails leaves valid JSON, exit 2" run 2 "$QDB" info -f json "$TD/ref.qtr" "$tmp/nosuch" "$TD/sample.npy"
t "json: still parses" pyj "len(d) == 2"
t "csv: exit 0" run 0 "$QDB" info --stats -f csv "$TD/int8_b.qtr"
t "csv: parses, one row per layer, stats columns" "$PY" -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 4, rows
assert rows[0]['layer'] == 'pc' and rows[0]['qparams'] == 'axis 1 x2: s=0.1..0.5 zp=0..3'
assert float(rows[2]['sat%']) == 0.5 and rows[2]['stats_sample'] == '0'
" "$tmp/out"
t "csv: several files, blank-line separated" sh -c "'$QDB' info -f csv '$TD/ref.qtr' '$TD/sample.qds' > '$tmp/out' && [ \$(grep -c '^\$' '$tmp/out') -eq 1 ] && grep -q '^file,kind,class,name,count\$' '$tmp/out'"

# --- width -------------------------------------------------------------------------------
for f in longnames.qtr demo_int.qtr sample.qbc sample.qds; do
	"$QDB" info --stats "$TD/$f" >"$tmp/out" 2>"$tmp/err"
	t "fits 80 columns: info --stats $f" fits 80
done
t "--wide keeps long names whole" sh -c "'$QDB' info --wide '$TD/longnames.qtr' | grep -q 'backbone.stage0.block1.conv_bn_relu_with_a_very_long_suffixconv_bn_relu_with_a_very_long_suffix'"

# --- bad input and usage ------------------------------------------------------------
printf '' >"$tmp/empty"
head -c 200 "$TD/demo_int.qtr" >"$tmp/trunc.qtr"
printf 'not msgpack\n' >"$tmp/text"
t "missing file: exit 2" run 2 "$QDB" info "$tmp/nosuch.qtr"
t "missing file: one line" err1 "nosuch\.qtr: open: "
t "directory: exit 2" run 2 "$QDB" info "$TD"
t "directory: one line" err1 "traces: open: is a directory"
t "empty file: exit 2" run 2 "$QDB" info "$tmp/empty"
t "empty file: one line" err1 "empty: empty file"
t "truncated trace: exit 2" run 2 "$QDB" info "$tmp/trunc.qtr"
t "truncated trace: FILE: where: what" err1 "trunc\.qtr: [^:]+: "
t "text file: exit 2" run 2 "$QDB" info "$tmp/text"
t "text file: one line" err1 "text: not a qdb file"
t "good and bad files: exit 2, good one described" run 2 "$QDB" info "$TD/ref.qtr" "$tmp/empty"
t "good and bad files: output for the good one" has 'ref\.qtr: trace'
t "no file: exit 2" run 2 "$QDB" info
t "bad format: exit 2" run 2 "$QDB" info -f yaml "$TD/ref.qtr"
t "unknown option: exit 2" run 2 "$QDB" info --bogus "$TD/ref.qtr"
t "--help: exit 0" run 0 "$QDB" info --help
t "--help: usage" has '^usage: qdb info'
t "qdb --help lists info and compare" sh -c "'$QDB' --help | grep -Eq '^  info ' && '$QDB' --help | grep -Eq '^  compare '"

done_testing
