#!/bin/sh
# ascii.sh - a monochrome terminal (TERM=vt100) in a non-UTF-8 locale
# (LANG=C): plain attributes only (no colour escapes) and ASCII drawing.
. "${QDB_SRCDIR:-.}/tests/tui/lib.sh"

TUI_TERM=vt100 TUI_LANG=C
start 80 24 "$TRACES" demo_qat.qtr demo_int.qtr
screen ascii-open "opens with ASCII bars, marks and histograms"
keys ]
screen ascii-divergent "] jumps to the divergent layer; ASCII error histogram"
tmux -L "$sock" capture-pane -p -e >"$tmp/esc"
if grep -q "$(printf '\033')\[[0-9;]*3[0-7]m" "$tmp/esc"; then st=1; else st=0; fi
ok $st "no colour escapes on a monochrome terminal"
if LC_ALL=C grep -q "$(printf '[\200-\377]')" "$tmp/esc"; then st=1; else st=0; fi
ok $st "only ASCII characters on screen"
keys Enter
screen ascii-channels "the channel view in ASCII"
keys q q
wait_for '^\[qdb exited with status 0\]' "q closes the view, q quits"

# The same in colour, to be sure the check above can fail.
TUI_TERM=screen-256color TUI_LANG=C.UTF-8
start 80 24 "$TRACES" demo_qat.qtr demo_int.qtr
wait_for 'layer3.conv' "opens in colour"
sleep 0.5
tmux -L "$sock" capture-pane -p -e >"$tmp/esc"
if grep -q "$(printf '\033')\[[0-9;]*3[0-7]m" "$tmp/esc"; then st=0; else st=1; fi
ok $st "a colour terminal gets colours (metric grades)"
keys q
done_testing
