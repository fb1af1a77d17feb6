#!/bin/sh
# agree_resnetish.sh - qdb against PyTorch's int8 model on the second demo
# model (residual adds, depthwise convs, hardswish, average pooling),
# retrained at test time (tests/torch/agree.py).
exec "${QDB_PYTHON:-/usr/bin/python3}" "${QDB_SRCDIR:?}/tests/torch/agree.py" resnetish
