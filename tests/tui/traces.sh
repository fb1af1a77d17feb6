#!/bin/sh
# traces.sh - the debugger on two traces (testdata/traces/demo_*.qtr):
# open, navigate, jump to divergence, channels, help, samples, sort,
# search, the console (expression, error), resizing, quitting.
. "${QDB_SRCDIR:-.}/tests/tui/lib.sh"

start 100 30 "$TRACES" demo_qat.qtr demo_int.qtr
screen traces-open "opens with the layer list, detail pane, console and status"
keys j j
screen traces-down "j moves down"
keys k
screen traces-up "k moves up"
keys G
screen traces-last "G goes to the last layer"
keys g ]
screen traces-divergent "] jumps to the first divergent layer (layer3.conv)"
keys ]
screen traces-divergent2 "] again goes on to the next divergent layer"
keys [
screen traces-divergent-prev "[ goes back to the previous divergent layer"
keys Enter
screen traces-channels "Enter lists layer3.conv's channels worst first (channel 3)"
keys Escape
screen traces-channels-closed "Esc closes the channel view"
keys n
screen traces-sample2 "n shows the next sample"
keys p s
screen traces-sorted "s sorts by cosine, worst first"
keys s s s s
screen traces-order "s cycles back to execution order"
click 10 7
screen traces-click "a mouse click selects a layer"
click 10 9 2
screen traces-double-click "a double click opens its channels"
keys Escape
keys / layer4.r Enter
screen traces-search "/ finds a layer by name"
keys '?'
screen traces-help "? lists every key"
keys q
screen traces-help-closed "q closes the help first"
keys :
text 'tui.selected().name .. " " .. string.format("%.4f", tui.selected().cosine)'
keys Enter
screen traces-console-expr "the console prints an expression's value"
text 'error("boom")'
keys Enter
screen traces-console-error "a Lua error shows its traceback in the console"
text 'tui.ro'
keys Tab
screen traces-console-complete "Tab completes and lists Lua names in the console"
keys C-u Up
screen traces-console-history "Up recalls the previous statement"
keys C-u
text 'while true do end'
keys Enter
wait_for '^running Lua: [0-9.]+ s  \(Esc or C-c stops it\)' "a long statement shows that it runs"
keys Escape
wait_count '^interrupted!' 1 "Esc stops it"
text 'for i = 1, 1e12 do end'
keys Enter
sleep 0.5
keys C-c
wait_count '^interrupted!' 2 "C-c stops it too"
keys C-u Escape
resize 80 24
screen traces-80x24 "resized to 80x24: everything still shows"
resize 40 12
screen traces-40x12 "resized to 40x12: a narrower list, no crash"
keys j
screen traces-40x12-moved "40x12 still takes keys"
resize 100 30
screen traces-back "resized back to 100x30"
keys q
wait_for '^\[qdb exited with status 0\]' "q quits with status 0 (nothing to save)"
grep -q 'error("boom")' "$tmp/history"
ok $? "console statements are in the history file shared with qdb lua"
done_testing
