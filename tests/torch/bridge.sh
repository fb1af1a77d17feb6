#!/bin/sh
# bridge.sh - scripts/qdb_torch.py against PyTorch on small models made at
# test time (tests/torch/bridge.py); skips without torch unless CI=true.
exec "${QDB_PYTHON:-/usr/bin/python3}" "${QDB_SRCDIR:?}/tests/torch/bridge.py"
