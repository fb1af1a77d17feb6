#!/bin/sh
# The torch profile against PyTorch's quantized ops (see int_ops.py).
exec "${QDB_PYTHON:-/usr/bin/python3}" "$QDB_SRCDIR/tests/torch/int_ops.py" "$@"
