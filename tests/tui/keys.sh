#!/bin/sh
# keys.sh - the key table (`qdb tui --keys`, the same table the help screen
# and the input use) against man/qdb.1: every key of every request is
# documented in the man page's Keys section; and the debugger refuses to
# start without a terminal or with bad arguments.
: "${QDB:?}" "${QDB_SRCDIR:?}"
n=0 fails=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else fails=$((fails + 1)); echo "not ok $n - $2"; fi
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qdb-keys.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

"$QDB" tui --keys >"$tmp/keys"
ok $? "qdb tui --keys lists the keys"
[ "$(grep -c '^  ' "$tmp/keys")" -ge 25 ]
ok $? "at least 25 requests in the table"
# the Keys section of the man page, roff escapes undone
sed -n '/^\.SS Keys/,/^\.SS/p' "$QDB_SRCDIR/man/qdb.1" | sed 's/\\-/-/g; s/"//g' >"$tmp/man"
missing=""
for k in $(sed -n 's/^  \(.\{16\}\).*/\1/p' "$tmp/keys"); do
	if ! grep -Eq "^\.(B|BR|TP)? *(.* )?$(printf '%s' "$k" | sed 's/[][\\.*^$?+(){}|/]/\\&/g')( |,|$)" "$tmp/man"; then
		missing="$missing $k"
	fi
done
[ -z "$missing" ]
ok $? "every key is documented in man/qdb.1 (missing:${missing:- none})"

"$QDB" tui "$QDB_SRCDIR/testdata/traces/demo_qat.qtr" "$QDB_SRCDIR/testdata/traces/demo_int.qtr" \
	</dev/null >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "needs a terminal" "$tmp/err"
ok $? "without a terminal: exit 2 and a one-line reason"
"$QDB" tui only-one.qtr </dev/null >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "takes two files" "$tmp/err"
ok $? "one file: exit 2, usage"
"$QDB" tui --threshold 'cosine<<1' a b </dev/null >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "threshold" "$tmp/err"
ok $? "a bad threshold: exit 2"
"$QDB" --script x.lua a b </dev/null >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "needs a terminal" "$tmp/err"
ok $? "qdb --script F A B is the debugger (not an unknown command)"
echo "1..$n"
[ $fails -eq 0 ]
