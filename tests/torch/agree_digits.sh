#!/bin/sh
# agree_digits.sh - qdb against PyTorch's QAT and int8 models on the digits
# demo model, retrained at test time (tests/torch/agree.py).
exec "${QDB_PYTHON:-/usr/bin/python3}" "${QDB_SRCDIR:?}/tests/torch/agree.py" digits
