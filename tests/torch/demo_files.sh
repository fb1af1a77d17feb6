#!/bin/sh
# demo_files.sh - the committed demo in testdata/digits and testdata/resnetish
# is what testdata/README.md says (tests/torch/demo_files.py).
exec "${QDB_PYTHON:-/usr/bin/python3}" "${QDB_SRCDIR:?}/tests/torch/demo_files.py"
