# lib.sh - driving the debugger under tmux for the TUI tests (sourced by
# tests/tui/*.sh). Each test starts qdb in a detached tmux session on a
# private server socket, sends keys, and compares the pane's text with an
# expected screen in tests/tui/expected/. Screens are compared as they are:
# file names show as base names and nothing on screen depends on time.
#
# Regenerating the expected screens (after a deliberate change of the
# screen): tests/tui/mkexpected, which runs the same scripts with
# QDB_TUI_UPDATE=1 so that `screen` writes instead of comparing.
#
# Environment: $QDB (binary), $QDB_SRCDIR (source tree), both set by
# `make check`; QDB_TUI_TIMEOUT (seconds to wait for a screen, default 15).
: "${QDB:?QDB must name the qdb binary}"
: "${QDB_SRCDIR:?QDB_SRCDIR must name the source tree}"
EXP=$QDB_SRCDIR/tests/tui/expected
TRACES=$QDB_SRCDIR/testdata/traces
DIGITS=$QDB_SRCDIR/testdata/digits
TIMEOUT=${QDB_TUI_TIMEOUT:-15}
n=0
fails=0
sock=qdbtest$$
starts=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qdb-tui.XXXXXX") || exit 1
cleanup() {
	tmux -L "$sock" kill-server 2>/dev/null
	rm -rf "$tmp"
}
# Each start gets a fresh server socket: restarting one right after
# kill-server races with its exit.
trap cleanup EXIT

if ! command -v tmux >/dev/null 2>&1; then
	echo "1..0 # SKIP tmux is not installed"
	exit 0
fi

ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		fails=$((fails + 1))
		echo "not ok $n - $2"
	fi
}

# start W H DIR ARGS...: runs `qdb ARGS` in DIR in a W x H pane. The pane
# outlives qdb (the shell prints its exit status and waits) so that
# the tests can see how it ended. TERM and LANG come from $TUI_TERM and
# $TUI_LANG (default screen-256color, C.UTF-8).
start() {
	w=$1 h=$2 dir=$3
	shift 3
	tmux -L "$sock" kill-server 2>/dev/null
	starts=$((starts + 1))
	sock=qdbtest$$-$starts
	cmd="cd '$dir' && env TERM=${TUI_TERM:-screen-256color} LANG=${TUI_LANG:-C.UTF-8} LC_ALL=${TUI_LANG:-C.UTF-8} QDB_HISTORY='$tmp/history' QDB_DATADIR='$QDB_SRCDIR/testdata' $TUI_ENV '$QDB'"
	for a in "$@"; do cmd="$cmd '$a'"; done
	cmd="$cmd; echo \"[qdb exited with status \$?]\"; sleep 600"
	tmux -L "$sock" -f /dev/null new-session -d -x "$w" -y "$h" "$cmd"
	tmux -L "$sock" set-option -g status off >/dev/null
	tmux -L "$sock" set-option -g window-size manual >/dev/null
	tmux -L "$sock" resize-window -x "$w" -y "$h" 2>/dev/null
}

keys() { tmux -L "$sock" send-keys "$@"; }
# literal text, e.g. a Lua line (no key-name interpretation)
text() { tmux -L "$sock" send-keys -l "$1"; }
# click X Y [N]: N (default 1) clicks of button 1 at column X, row Y (from
# 0), sent as the X10 mouse reports curses asked the terminal for.
click() {
	i=0
	while [ $i -lt "${3:-1}" ]; do
		tmux -L "$sock" send-keys -H 1b 5b 4d 20 "$(printf %x $(($1 + 33)))" "$(printf %x $(($2 + 33)))" \
			1b 5b 4d 23 "$(printf %x $(($1 + 33)))" "$(printf %x $(($2 + 33)))"
		i=$((i + 1))
	done
}
resize() { tmux -L "$sock" resize-window -x "$1" -y "$2"; }
capture() { tmux -L "$sock" capture-pane -p 2>/dev/null; }

# screen NAME DESCRIPTION: waits until the pane shows expected/NAME.txt
# (or the timeout passes) and reports. With QDB_TUI_UPDATE=1 it waits for
# the screen to settle and writes it as the new expected screen.
screen() {
	name=$1 desc=$2 f=$EXP/$1.txt
	if [ -n "${QDB_TUI_UPDATE:-}" ]; then
		prev="" cur=$(capture) i=0
		while [ "$cur" != "$prev" ] || [ $i -lt 3 ]; do
			sleep 0.3
			prev=$cur
			cur=$(capture)
			i=$((i + 1))
		done
		mkdir -p "$EXP"
		printf '%s\n' "$cur" >"$f"
		ok 0 "$desc (expected screen written: $name.txt)"
		return
	fi
	if [ ! -f "$f" ]; then
		ok 1 "$desc (no expected screen $name.txt)"
		return
	fi
	end=$(($(date +%s) + TIMEOUT))
	while :; do
		capture >"$tmp/screen"
		if cmp -s "$tmp/screen" "$f"; then
			ok 0 "$desc"
			return
		fi
		[ "$(date +%s)" -ge "$end" ] && break
		sleep 0.1
	done
	ok 1 "$desc"
	diff -u "$f" "$tmp/screen" | sed 's/^/#   /' | head -40
}

# wait_for REGEX DESCRIPTION: the screen shows a line matching REGEX.
wait_for() {
	end=$(($(date +%s) + TIMEOUT))
	while :; do
		if capture | grep -Eq -- "$1"; then
			ok 0 "$2"
			return
		fi
		[ "$(date +%s)" -ge "$end" ] && break
		sleep 0.1
	done
	ok 1 "$2"
	capture | sed 's/^/#   /'
}

# wait_count REGEX N DESCRIPTION: N lines on screen match REGEX.
wait_count() {
	end=$(($(date +%s) + TIMEOUT))
	while :; do
		if [ "$(capture | grep -Ec -- "$1")" -eq "$2" ]; then
			ok 0 "$3"
			return
		fi
		[ "$(date +%s)" -ge "$end" ] && break
		sleep 0.1
	done
	ok 1 "$3"
	capture | sed 's/^/#   /'
}

done_testing() {
	echo "1..$n"
	[ "$fails" -eq 0 ]
}
