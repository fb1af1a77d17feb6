#!/bin/sh
# compare.sh - `qdb compare` on the committed traces in testdata/traces
# (made by testdata/traces/make.py, which documents each file).
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"

# --- identical traces ---------------------------------------------------------
t "identical traces: exit 0" run 0 "$QDB" compare "$TD/ref.qtr" "$TD/same.qtr"
t "identical traces: no first divergent layer" sh -c "! grep -q 'first divergent' '$tmp/out'"
t "identical traces: 0 of 8 diverge" has '^0 of 8 aligned layers diverge'
t "identical traces: table fits 80 columns" fits 80
t "identical traces: json" run 0 "$QDB" compare --format json "$TD/ref.qtr" "$TD/same.qtr"
t "identical traces: cosine 1, max_abs 0, sqnr inf everywhere" pyj \
	"all(near(l['metrics']['cosine']['mean'], 1, 1e-12) and l['metrics']['max_abs']['worst'] == 0 \
	     and l['metrics']['sqnr_db']['mean'] == 'inf' and l['status'] == 'ok' for l in d['layers']) \
	 and d['first_divergent'] is None and len(d['layers']) == 8 and d['samples'] == 4"
t "identical traces: cosine shown as 1" sh -c "'$QDB' compare '$TD/ref.qtr' '$TD/same.qtr' | grep -Eq '^ +conv1 +conv2d +1x8x8x8 +1 '"

# --- a perturbed layer ----------------------------------------------------------
t "perturbed: exit 1" run 1 "$QDB" compare "$TD/ref.qtr" "$TD/perturbed.qtr"
t "perturbed: conv2 marked as first divergent" has '^> +conv2 '
t "perturbed: layers before conv2 not marked" sh -c "grep -E '^[>!] +(input|conv1|relu1) ' '$tmp/out'; [ \$? -eq 1 ]"
t "perturbed: summary names conv2 and sample 2" has '^first divergent layer: conv2 \(worst cosine 0\.9[0-9]* at sample 2\)'
t "perturbed: fits 80 columns" fits 80
t "perturbed: json" run 1 "$QDB" compare -f json "$TD/ref.qtr" "$TD/perturbed.qtr"
t "perturbed: json first_divergent conv2, worst sample 2" pyj \
	"d['first_divergent'] == 'conv2' and M('conv2','cosine')['worst_sample'] == 2 \
	 and M('conv2','cosine')['worst'] < 0.95 and M('conv2','cosine')['worst'] < M('conv2','cosine')['mean'] \
	 and L('conv2')['first'] and not L('relu2')['first'] and L('conv1')['status'] == 'ok'"
t "perturbed --sample 0: holds (exit 0)" run 0 "$QDB" compare --sample 0 "$TD/ref.qtr" "$TD/perturbed.qtr"
t "perturbed --sample 2: exit 1" run 1 "$QDB" compare --sample 2 "$TD/ref.qtr" "$TD/perturbed.qtr"
t "perturbed --sample 2: per-sample header" has '^sample 2$'
t "perturbed --sample 2: threshold line" has '^threshold: cosine<0.99$'
t "perturbed: --threshold cosine<0.5 holds" run 0 "$QDB" compare -t 'cosine<0.5' "$TD/ref.qtr" "$TD/perturbed.qtr"
t "perturbed: --threshold 'sqnr_db < 30' crosses" run 1 "$QDB" compare -t 'sqnr_db < 30' "$TD/ref.qtr" "$TD/perturbed.qtr"
t "--all is the default" sh -c "'$QDB' compare '$TD/ref.qtr' '$TD/perturbed.qtr' > '$tmp/a1'; '$QDB' compare --all '$TD/ref.qtr' '$TD/perturbed.qtr' > '$tmp/a2'; cmp -s '$tmp/a1' '$tmp/a2'"
t "-j 1 and -j 2 give the same csv" sh -c "'$QDB' compare -j 1 -f csv '$TD/demo_qat.qtr' '$TD/demo_int.qtr' > '$tmp/j1'; '$QDB' compare -j 2 -f csv '$TD/demo_qat.qtr' '$TD/demo_int.qtr' > '$tmp/j2'; cmp -s '$tmp/j1' '$tmp/j2'"

# --- per-channel int8, hand-checked (see make.py: int8) ------------------------
t "int8: json" run 0 "$QDB" compare -f json -M all "$TD/int8_a.qtr" "$TD/int8_b.qtr"
t "int8 pc: max_abs 0.5, max_steps 3, mismatch 1/8" pyj \
	"near(M('pc','max_abs')['worst'], 0.5, 1e-12) and near(M('pc','max_steps')['worst'], 3, 1e-9) \
	 and near(M('pc','mismatch')['mean'], 0.125)"
t "int8 pt: identical per-tensor layer" pyj \
	"M('pt','max_abs')['worst'] == 0 and near(M('pt','cosine')['mean'], 1, 1e-12) and M('pt','max_steps')['worst'] == 0"
t "int8 sat: saturation flagged (B half at -128/127)" pyj "'sat' in L('sat')['flags'] and near(L('sat')['sat_b'], 0.5)"
t "int8 fa: float A vs int8 B, 3 steps" pyj "near(M('fa','max_steps')['worst'], 3, 1e-5) and near(M('fa','max_abs')['worst'], 0.15, 1e-6)"
t "int8: --threshold max_steps>2 -> pc first divergent, exit 1" run 1 "$QDB" compare -t 'max_steps>2' "$TD/int8_a.qtr" "$TD/int8_b.qtr"
t "int8: pc marked" has '^> +pc '
t "max_steps does not apply to float B: shown as -" sh -c "'$QDB' compare -M max_steps -f json '$TD/ref.qtr' '$TD/perturbed.qtr' >'$tmp/out'; [ \$? -eq 1 ]"
t "max_steps on float B: json null" pyj "all(l['metrics']['max_steps'] is None for l in d['layers'])"
t "max_steps threshold never crosses on float B" run 0 "$QDB" compare -t 'max_steps>0' "$TD/ref.qtr" "$TD/same.qtr"

# --- NaN / Inf -----------------------------------------------------------------
t "nan: exit 1" run 1 "$QDB" compare "$TD/ref.qtr" "$TD/nan.qtr"
t "nan: fc is the first divergent layer, flagged nan" has '^> +fc .* nan$'
t "nan: softmax flagged inf" has '^! +softmax .* inf$'
t "nan: json counts" run 1 "$QDB" compare -f json "$TD/ref.qtr" "$TD/nan.qtr"
t "nan: json nan_b/inf_b and flags" pyj \
	"L('fc')['nan_b'] == 1 and L('fc')['flags'] == ['nan'] and L('softmax')['inf_b'] == 1 \
	 and L('fc')['first_diverged_sample'] == 1 and L('softmax')['first_diverged_sample'] == 3 \
	 and L('pool')['status'] == 'ok'"

# --- shapes --------------------------------------------------------------------
t "shape: exit 1" run 1 "$QDB" compare -f json "$TD/ref.qtr" "$TD/shape.qtr"
t "shape: conv2 reshaped is flagged but compared" pyj \
	"L('conv2')['flags'] == ['shape'] and L('conv2')['status'] == 'ok' and L('conv2')['shape_b'] == [1,8,2,8]"
t "shape: pool with fewer elements diverges without metrics" pyj \
	"'numel' in L('pool')['flags'] and L('pool')['status'] == 'diverged' and M('pool','cosine') is None \
	 and d['first_divergent'] == 'pool'"

# --- one-sided layers ------------------------------------------------------------
t "one-sided: exit 0" run 0 "$QDB" compare "$TD/ref.qtr" "$TD/onesided.qtr"
t "one-sided: relu1 listed for A" has '^only in A: relu1$'
t "one-sided: aux_head listed for B" has '^only in B: aux_head$'
t "one-sided: json" run 0 "$QDB" compare -f json "$TD/ref.qtr" "$TD/onesided.qtr"
t "one-sided: json lists" pyj "d['only_a'] == ['relu1'] and d['only_b'] == ['aux_head'] and len(d['layers']) == 7"

# --- rename rules ----------------------------------------------------------------
t "renamed without --map: no layer in common, exit 2" run 2 "$QDB" compare "$TD/ref.qtr" "$TD/renamed.qtr"
t "renamed without --map: says so, points to --map" err1 "no layer in common .*--map"
t "renamed --map: exit 0" run 0 "$QDB" compare -f json --map "$TD/renamed.map" "$TD/ref.qtr" "$TD/renamed.qtr"
t "renamed --map: regex and fused rules align every layer" pyj \
	"L('conv2')['layer_b'] == 'model.conv2' and L('conv2')['via'] == 'rule' \
	 and L('relu1')['layer_b'] == 'conv1_relu1' and L('relu1')['via'] == 'fused' \
	 and d['only_a'] == [] and d['only_b'] == [] and d['first_divergent'] is None"
t "renamed --map: table shows A=B names" sh -c "'$QDB' compare --map '$TD/renamed.map' '$TD/ref.qtr' '$TD/renamed.qtr' | grep -q 'relu1=conv1_relu1'"

# --- csv and json parse ----------------------------------------------------------
t "csv: exit 1 on perturbed" run 1 "$QDB" compare -f csv "$TD/ref.qtr" "$TD/onesided.qtr" -t 'cosine<2'
t "csv: parses, one row per aligned or one-sided layer" "$PY" -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 9, len(rows)
assert rows[0]['layer'] == 'input' and 'cosine_mean' in rows[0] and 'cosine_worst_sample' in rows[0]
assert [r['status'] for r in rows][-2:] == ['only_a', 'only_b']
assert rows[0]['status'] == 'diverged' and rows[0]['first'] == '1'
" "$tmp/out"
t "csv --sample: plain metric columns, sample 1 holds" run 0 "$QDB" compare -f csv -s 1 "$TD/ref.qtr" "$TD/perturbed.qtr"
t "csv --sample: parses" "$PY" -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 8 and 'cosine' in rows[0] and 'cosine_mean' not in rows[0]
assert abs(float(rows[0]['cosine']) - 1) < 1e-12 and rows[0]['max_abs'] == '0'
" "$tmp/out"
for pair in "ref.qtr perturbed.qtr" "int8_a.qtr int8_b.qtr" "ref.qtr nan.qtr" "demo_qat.qtr demo_int.qtr"; do
	set -- $pair
	"$QDB" compare -f json -M all "$TD/$1" "$TD/$2" >"$tmp/out" 2>"$tmp/err"
	t "json.tool accepts compare -f json $1 $2" "$PY" -m json.tool "$tmp/out" /dev/null
	s=1
	case $1 in demo*) s=frame_0001 ;; esac
	"$QDB" compare -f json -s $s "$TD/$1" "$TD/$2" >"$tmp/out" 2>"$tmp/err"
	t "json.tool accepts compare -f json -s $s $1 $2" "$PY" -m json.tool "$tmp/out" /dev/null
done
t "json: non-finite numbers are strings" sh -c "'$QDB' compare -f json '$TD/ref.qtr' '$TD/same.qtr' | grep -q '\"worst\": \"inf\"'"

# --- width -----------------------------------------------------------------------
t "long names: fits 80 columns" sh -c "'$QDB' compare '$TD/longnames.qtr' '$TD/longnames.qtr' > '$tmp/out'"
t "long names: no line over 80" fits 80
t "long names: middle ellipsis" has '^ +backbone\..*\.\.\..*suffix '
t "long names --wide: full names" sh -c "'$QDB' compare --wide '$TD/longnames.qtr' '$TD/longnames.qtr' | grep -q 'backbone.stage0.block1.conv_bn_relu_with_a_very_long_suffixconv_bn_relu_with_a_very_long_suffix'"
for pair in "ref.qtr nan.qtr" "int8_a.qtr int8_b.qtr" "demo_qat.qtr demo_int.qtr" "ref.qtr onesided.qtr"; do
	set -- $pair
	"$QDB" compare -M all "$TD/$1" "$TD/$2" >"$tmp/out" 2>"$tmp/err"
	t "fits 80 columns: compare -M all $1 $2" fits 80
	"$QDB" compare "$TD/$1" "$TD/$2" >"$tmp/out" 2>"$tmp/err"
	t "fits 80 columns: compare $1 $2" fits 80
done
if command -v script >/dev/null 2>&1; then
	esc=$(printf '\033')
	env -u NO_COLOR script -qec "'$QDB' compare '$TD/ref.qtr' '$TD/perturbed.qtr'" /dev/null >"$tmp/tty" 2>&1
	t "colour on a tty" grep -q "$esc\[1;31m>" "$tmp/tty"
	NO_COLOR=1 script -qec "'$QDB' compare '$TD/ref.qtr' '$TD/perturbed.qtr'" /dev/null >"$tmp/tty" 2>&1
	t "NO_COLOR: no colour on a tty" sh -c "! grep -q '$esc' '$tmp/tty' && grep -q '^> *conv2' '$tmp/tty'"
else
	n=$((n + 1)); echo "ok $n # SKIP no script(1) for a pseudo-terminal"
	n=$((n + 1)); echo "ok $n # SKIP no script(1) for a pseudo-terminal"
fi
t "no colour when not a tty" sh -c "'$QDB' compare '$TD/ref.qtr' '$TD/perturbed.qtr' | grep -q \"\$(printf '\\033')\"; [ \$? -eq 1 ]"

# --- bad input and usage: exit 2, one line, FILE: where: what ----------------------
printf '' >"$tmp/empty.qtr"
head -c 300 "$TD/ref.qtr" >"$tmp/trunc.qtr"
printf '\201\246format\251qdb.graph' >"$tmp/g.qbc"
printf 'hello\n' >"$tmp/text.qtr"
printf '(unclosed => x\n' >"$tmp/bad.map"
t "missing file: exit 2" run 2 "$QDB" compare "$tmp/nosuch.qtr" "$TD/ref.qtr"
t "missing file: one line naming it" err1 "nosuch\.qtr: open: "
t "directory: exit 2" run 2 "$QDB" compare "$TD" "$TD/ref.qtr"
t "directory: message" err1 "traces: open: is a directory"
t "empty file: exit 2" run 2 "$QDB" compare "$TD/ref.qtr" "$tmp/empty.qtr"
t "empty file: message" err1 "empty\.qtr: empty file"
t "truncated trace: exit 2" run 2 "$QDB" compare "$tmp/trunc.qtr" "$TD/ref.qtr"
t "truncated trace: FILE: where: what" err1 "trunc\.qtr: [^:]+: "
t "text file: exit 2" run 2 "$QDB" compare "$tmp/text.qtr" "$TD/ref.qtr"
t "text file: not a qdb file" err1 "text\.qtr: not a qdb file"
t "graph operand: exit 2" run 2 "$QDB" compare "$TD/ref.qtr" "$tmp/g.qbc"
t "graph operand: needs --data" err1 "g\.qbc: a graph: comparing graphs needs --data"
t "dataset operand: exit 2" run 2 "$QDB" compare "$TD/ref.qtr" "$TD/sample.qds"
t "dataset operand: not a trace" err1 "sample\.qds: a dataset, not a trace"
t "bad threshold: exit 2" run 2 "$QDB" compare -t 'cosine<<1' "$TD/ref.qtr" "$TD/same.qtr"
t "bad threshold: one line" err1 "^qdb compare: --threshold: "
t "unknown metric in threshold: exit 2" run 2 "$QDB" compare -t 'foo<1' "$TD/ref.qtr" "$TD/same.qtr"
t "unknown metric in --metrics: exit 2" run 2 "$QDB" compare -M cosine,foo "$TD/ref.qtr" "$TD/same.qtr"
t "unknown metric: named" err1 "unknown metric 'foo'"
t "bad --format: exit 2" run 2 "$QDB" compare -f xml "$TD/ref.qtr" "$TD/same.qtr"
t "bad -j: exit 2" run 2 "$QDB" compare -j 0 "$TD/ref.qtr" "$TD/same.qtr"
t "unknown option: exit 2" run 2 "$QDB" compare --frobnicate "$TD/ref.qtr" "$TD/same.qtr"
t "unknown option: one line" err1 "unknown option '--frobnicate'"
t "one operand: exit 2" run 2 "$QDB" compare "$TD/ref.qtr"
t "three operands: exit 2" run 2 "$QDB" compare "$TD/ref.qtr" "$TD/ref.qtr" "$TD/ref.qtr"
t "--sample and --all: exit 2" run 2 "$QDB" compare -s 0 --all "$TD/ref.qtr" "$TD/same.qtr"
t "unknown sample: exit 2" run 2 "$QDB" compare -s 99 "$TD/ref.qtr" "$TD/same.qtr"
t "unknown sample: FILE: no sample" err1 "ref\.qtr: no sample '99'"
t "no sample in common: exit 2" run 2 "$QDB" compare "$TD/ref.qtr" "$TD/demo_int.qtr"
t "no sample in common: one line" err1 "no sample id in common"
t "bad map file: exit 2" run 2 "$QDB" compare --map "$tmp/bad.map" "$TD/ref.qtr" "$TD/renamed.qtr"
t "bad map file: names file and line" err1 "bad\.map:1"
t "missing map file: exit 2" run 2 "$QDB" compare --map "$tmp/nosuch.map" "$TD/ref.qtr" "$TD/renamed.qtr"
t "--help: exit 0" run 0 "$QDB" compare --help
t "--help: usage" has '^usage: qdb compare'

done_testing
