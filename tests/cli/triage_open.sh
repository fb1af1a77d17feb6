#!/bin/sh
# triage_open.sh - `qdb triage --open` starts the debugger (under tmux) on the
# decisive comparison with the culprit selected and the first bad case shown.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"
if ! command -v tmux >/dev/null 2>&1; then
	echo "1..0 # SKIP tmux is not installed"
	exit 0
fi
. "$QDB_SRCDIR/tests/cli/digits.sh"
D=$DIGITS
sock=qdbtriage$$
trap 'tmux -L "$sock" kill-server 2>/dev/null; rm -rf "$tmp"' EXIT

# wait_for REGEX: until the pane shows a line matching REGEX (15 s at most)
wait_for() {
	i=0
	while [ $i -lt 150 ]; do
		tmux -L "$sock" capture-pane -p -t t >"$tmp/screen" 2>/dev/null
		grep -Eq -- "$1" "$tmp/screen" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	sed 's/^/# /' "$tmp/screen" | head -40
	return 1
}

cmd="cd '$tmp' && env TERM=screen-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 QDB_HISTORY='$tmp/hist' \
QDB_LUA_PATH='${QDB_LUA_PATH:-$QDB_SRCDIR/lua}' '$QDB' triage -q --open --qat '$D/qat.pt.qtr' \
--bc '$D/qat.qbc' --quantized '$D/quantized-bad.qbc' --small '$D/digits.qds' --large '$D/digits.qds' \
-o '$tmp/bundle'; echo \"[triage exited with status \$?]\"; sleep 600"
tmux -L "$sock" -f /dev/null new-session -d -s t -x 120 -y 40 "$cmd"

t "the debugger opens on qat.qbc against quantized-bad.qbc" wait_for '^A qat\.qbc .* vs +B quantized-bad\.qbc'
t "on the bad cases, first bad case shown" grep -Eq '^sample [0-9]+ \(1/[0-9]+\)' "$tmp/screen"
t "act3, the culprit, is the selected layer" grep -Eq '^act3 \(hardswish\) +A ' "$tmp/screen"
tmux -L "$sock" send-keys -t t q
t "quitting the debugger ends triage with its status (1: inconsistent)" \
	wait_for '^\[triage exited with status 1\]'
t "the verdict was printed before the debugger started" \
	grep -q 'verdict: tool side, convert stage: act3' "$tmp/screen"
done_testing
