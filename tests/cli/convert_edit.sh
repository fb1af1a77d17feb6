#!/bin/sh
# qdb convert and qdb edit on testdata/run/tiny.qbc (a torch QAT export):
# both profiles, the report, errors, the edited graph runs.
. "$QDB_SRCDIR/tests/cli/lib.sh"
QAT=$QDB_SRCDIR/testdata/run/tiny.qbc
DS=$QDB_SRCDIR/testdata/run/tiny.qds

t "convert --profile torch" run 0 "$QDB" convert "$QAT" -o "$tmp/t.qbc"
t "report names the profile and counts" has 'profile torch, rounding half_even'
t "report lists weighted nodes" has '^c1 +conv2d +bpu +432 '
t "report: weights at the limits and clipped" has 'weights at the int8 limits: [0-9]+ of 1200 .*clipped'
t "converted graph: stage quantized, profile torch" run 0 "$QDB" info "$tmp/t.qbc"
t "  info shows it" has 'profile +torch'
t "  with quantize and dequantize nodes" has 'x\.quantize +quantize'
t "convert --profile fixed --rounding half_up --all" run 0 "$QDB" convert "$QAT" -o "$tmp/f.qbc" --profile fixed --rounding half_up --all
t "  every node listed" has '^flatten +flatten +bpu'
t "  fixed profile reports bias and multipliers" has 'int32 bias overflow: 0; multipliers out of range: 0'
t "convert --format json" run 0 "$QDB" convert "$QAT" -o "$tmp/j.qbc" --format json
t "  json report" pyj 'd["profile"] == "torch" and d["bpu"] == 9 and d["weights"] == 1200 and len(d["nodes"]) == 9'
t "torch profile refuses --rounding half_away" run 2 "$QDB" convert "$QAT" -o "$tmp/x.qbc" --rounding half_away
t "  one-line error" err1 '^qdb convert: --rounding half_away needs --profile fixed'
t "convert refuses a quantized graph" run 2 "$QDB" convert "$tmp/t.qbc" -o "$tmp/x.qbc"
t "  saying why" err1 'convert needs a qat graph'
t "convert without -o" run 2 "$QDB" convert "$QAT"
t "convert of a missing file" run 2 "$QDB" convert "$tmp/nope.qbc" -o "$tmp/x.qbc"
t "  nothing written" test ! -e "$tmp/x.qbc"
t "both converted graphs run" run 0 "$QDB" run "$tmp/t.qbc" --data "$DS"
t "  with an accuracy" has 'top-1 accuracy'
t "fixed graph runs" run 0 "$QDB" run "$tmp/f.qbc" --data "$DS"

t "edit --cpu c1,dw" run 0 "$QDB" edit "$tmp/f.qbc" --cpu c1,dw -o "$tmp/e.qbc"
t "  says what changed" has 'c1 bpu->cpu, dw bpu->cpu'
t "  the edited graph has the devices and history" run 0 "$QDB" info "$tmp/e.qbc"
t "  c1 on cpu" has '^ *1 +c1 +conv2d +cpu'
t "  two edits recorded" has '2 edits'
t "edit --bpu c1 on the edited graph (in place)" run 0 "$QDB" edit "$tmp/e.qbc" --bpu c1 -o "$tmp/e.qbc"
t "  history grows" run 0 "$QDB" info "$tmp/e.qbc"
t "  three edits" has '3 edits'
t "the edited graph runs" run 0 "$QDB" run "$tmp/e.qbc" --data "$DS"
t "edit with an unknown node" run 2 "$QDB" edit "$tmp/f.qbc" --cpu c1,cc2 -o "$tmp/y.qbc"
t "  lists close names" err1 "no node 'cc2' \\(close: c2"
t "  nothing written" test ! -e "$tmp/y.qbc"
t "edit without nodes" run 2 "$QDB" edit "$tmp/f.qbc" -o "$tmp/y.qbc"
t "edit a qat graph" run 2 "$QDB" edit "$QAT" --cpu c1 -o "$tmp/y.qbc"
t "  one-line error" err1 'only matter in a quantized graph'
done_testing
