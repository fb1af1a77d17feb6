# lib.sh - TAP helpers for the CLI tests (sourced by tests/cli/*.sh).
# Environment (set by `make check`): $QDB, $QDB_SRCDIR, $QDB_PYTHON.
: "${QDB:?QDB must name the qdb binary}"
: "${QDB_SRCDIR:?QDB_SRCDIR must name the source tree}"
PY=${QDB_PYTHON:-/usr/bin/python3}
TD=$QDB_SRCDIR/testdata/traces
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qdb-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# the tests read output that is not a terminal: no colour either way
export NO_COLOR=1
n=0

ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		if [ -s "$tmp/err" ]; then sed 's/^/#   stderr: /' "$tmp/err" | head -5; fi
	fi
}

# run WANT_STATUS CMD...: runs CMD with stdout in $tmp/out and stderr in
# $tmp/err; sets $st. Returns 0 when the exit status is WANT_STATUS.
run() {
	want=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	st=$?
	[ "$st" -eq "$want" ]
}

# t DESCRIPTION CMD...: one assertion from a command's status.
t() {
	desc=$1
	shift
	if "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi
}

# The output has a line matching the extended regex.
has() { grep -Eq -- "$1" "${2:-$tmp/out}"; }
# No line of the file is longer than N characters.
# Lines no wider than $1, measured as if the files had been named relative to
# the source tree: a line that echoes a file name is as long as the name the
# user typed, and the checkout's location must not decide the test.
fits() {
	awk -v w="$1" -v p="$QDB_SRCDIR/" '{
		line = $0
		while (p != "/" && (i = index(line, p)) > 0)
			line = substr(line, 1, i - 1) substr(line, i + length(p))
		if (length(line) > w) bad = 1
	} END { exit bad }' "${2:-$tmp/out}"
}
# A one-line error on stderr that starts with "qdb CMD: " and holds a regex.
err1() { [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -Eq -- "$1" "$tmp/err"; }
# Runs a Python check on the JSON in $tmp/out: the expression must be true.
# d is the document; L(name) the compare layer object named name; M(name,
# metric) its metric (a number, or the {mean, worst, worst_sample} object).
pyj() {
	"$PY" -c "
import json, sys, math
d = json.load(open(sys.argv[1]))
def L(n): return next(l for l in d['layers'] if l['layer'] == n)
def M(n, m): return L(n)['metrics'][m]
def near(x, y, tol=1e-9): return abs(x - y) <= tol
sys.exit(0 if ($1) else 1)" "$tmp/out"
}

done_testing() { echo "1..$n"; }
