# digits.sh - sourced by tests that need the digits demo (after lib.sh):
# sets $DIGITS to testdata/digits, or builds the demo into $tmp with
# scripts/make-demo when it is not in the tree (about half a minute of CPU,
# needs /usr/bin/python3 with torch). Exits with a failed test if neither
# works, so a missing demo never passes silently.
DIGITS=$QDB_SRCDIR/testdata/digits
if [ ! -f "$DIGITS/quantized-bad.qbc" ] || [ ! -f "$DIGITS/qat-drift.qtr" ]; then
	echo "# testdata/digits not found: building the demo with scripts/make-demo"
	if "$PY" "$QDB_SRCDIR/scripts/make-demo" --out "$tmp/demo" --qdb "$QDB" --only digits \
		>"$tmp/make-demo.log" 2>&1; then
		DIGITS=$tmp/demo/digits
	else
		sed 's/^/# /' "$tmp/make-demo.log" | tail -5
		echo "not ok 1 - the digits demo is available"
		echo "1..1"
		exit 1
	fi
fi
