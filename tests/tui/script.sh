#!/bin/sh
# script.sh - `qdb --script FILE.lua A B`: the tui table (selected, rows,
# goto, sample, add_column, bind, message), print() into the console, a Lua
# error in a bound key shown with its traceback while the TUI goes on, and a
# script that fails to load.
. "${QDB_SRCDIR:-.}/tests/tui/lib.sh"

# run from tests/tui so that messages name the script as drive.lua
start 100 30 "$QDB_SRCDIR/tests/tui" --script drive.lua ../../testdata/traces/demo_qat.qtr \
	../../testdata/traces/demo_int.qtr
screen script-loaded "the script ran: column added, sample and layer selected, prints in the console"
keys x
screen script-bound "a key bound from Lua runs with the selected row"
keys F5
screen script-error "a failing binding shows its traceback; the TUI keeps running"
keys j
screen script-after-error "keys still work after the error"
keys '?' G
screen script-help "the help lists keys bound from Lua"
keys q q
wait_for '^\[qdb exited with status 0\]' "quits"

printf 'this is not lua (\n' >"$tmp/bad.lua"
start 100 30 "$TRACES" --script "$tmp/bad.lua" demo_qat.qtr demo_int.qtr
wait_for 'script .*bad.lua failed to load' "a script with a syntax error: message, TUI up"
keys q
done_testing
