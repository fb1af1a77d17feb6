#!/bin/sh
# graphs.sh - the bundled digits demo (`qdb` alone: quantized-bad.qbc
# against qat.qbc, both run by qdb on digits.qds, first 40 samples): jump to
# the divergent layer (act3, the faulty hardswish LUT), move it to the CPU
# and see every metric recover, undo, write the edited model (atomic, with
# its edit history), isolated mode, a breakpoint, and quitting with unsaved
# edits.
. "${QDB_SRCDIR:-.}/tests/tui/lib.sh"

if [ ! -f "$DIGITS/quantized-bad.qbc" ]; then
	echo "1..0 # SKIP testdata/digits is not there"
	exit 0
fi

start 100 30 "$tmp" --samples 40
screen graphs-open "qdb alone opens the demo: both graphs run, act3 marked"
keys b
text 'max_steps>100'
keys Enter
screen graphs-breakpoint "b max_steps>100: runs to the first sample/layer where it holds (fc1)"
keys b Enter
screen graphs-breakpoint2 "b Enter: on to the next hit, in a later sample"
keys '#'
text '0'
keys Enter g ]
screen graphs-divergent "back to sample 0; ] stops at act3 (cosine 0.64, 39 LSB)"
keys c
screen graphs-cpu "c moves act3 to the CPU: act3 and everything after it recover, output included"
keys u
screen graphs-undo "u undoes: back to the faulty numbers"
keys c w
wait_for '^write B to: .*quantized-bad\.edited\.qbc' "w asks the path, offering quantized-bad.edited.qbc"
keys C-u
text edited.qbc
keys Enter
wait_for '^wrote edited.qbc \(1 edits\)' "the edited model is written"
"$QDB" info "$tmp/edited.qbc" >"$tmp/info" 2>&1
grep -q 'act3: device bpu -> cpu' "$tmp/info" && grep -Eq '^ *[0-9]+ +act3 +hardswish +cpu' "$tmp/info"
ok $? "the written graph has act3 on cpu and the edit in its history"
ls "$tmp" | grep -q '\.tmp' && st=1 || st=0
ok $st "no temporary file left beside it"
screen graphs-saved "after writing: no unsaved edits in the header"
keys m
screen graphs-isolated "m: isolated mode, each node of B on A's inputs"
keys m
resize 80 24
screen graphs-80x24 "80x24 with the device column"
resize 100 30
keys g c q
screen graphs-quit-ask "q with an unsaved edit asks first"
keys n
screen graphs-quit-no "n: stays"
keys q y
wait_for '^\[qdb exited with status 0\]' "q y quits"
done_testing
