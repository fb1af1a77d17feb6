# tests (see Makefile.am)
EXTRA_DIST += tests/unit/tap.h
# Lua module, REPL and script runner (helper lua)
LUA_TESTS = tests/lua/tensor.lua tests/lua/trace.lua tests/lua/dataset.lua \
	tests/lua/model.lua tests/lua/gc.lua tests/lua/sensitivity.lua tests/lua/sweep.lua \
	tests/lua/compare.lua
LUA_CLI_TESTS = tests/cli/lua_repl.sh tests/cli/script.sh tests/cli/sensitivity.sh \
	tests/cli/examples.sh
TESTS += $(LUA_TESTS) $(LUA_CLI_TESTS)
EXTRA_DIST += $(LUA_TESTS) tests/lua/tap.lua $(LUA_CLI_TESTS)
# qdb info and qdb compare (helper cli)
CLI_TESTS = tests/cli/info.sh tests/cli/compare.sh
TESTS += $(CLI_TESTS)
EXTRA_DIST += $(CLI_TESTS) tests/cli/lib.sh
# integer kernels against PyTorch (helper int)
check_PROGRAMS += tests/torch/run_int
tests_torch_run_int_SOURCES = tests/torch/run_int.c
tests_torch_run_int_CFLAGS = $(UNIT_CFLAGS)
tests_torch_run_int_LDADD = $(UNIT_LDADD)
TESTS += tests/torch/int_ops.sh tests/cli/convert_edit.sh
EXTRA_DIST += tests/torch/int_ops.sh tests/torch/int_ops.py tests/cli/convert_edit.sh
# the full-screen debugger under tmux (helper tui); expected screens are
# made by tests/tui/mkexpected
TUI_TESTS = tests/tui/keys.sh tests/tui/traces.sh tests/tui/graphs.sh tests/tui/ascii.sh \
	tests/tui/script.sh
TESTS += $(TUI_TESTS)
EXTRA_DIST += $(TUI_TESTS) tests/tui/lib.sh tests/tui/mkexpected tests/tui/drive.lua \
	tests/tui/expected
# qdb import-npy, the PyTorch bridge, the demo files, qdb against torch
# (helper torch); the torch tests skip without python3-torch unless CI=true
TORCH_TESTS = tests/cli/import_npy.sh tests/torch/bridge.sh tests/torch/demo_files.sh \
	tests/torch/agree_digits.sh tests/torch/agree_resnetish.sh
TESTS += $(TORCH_TESTS)
EXTRA_DIST += $(TORCH_TESTS) tests/torch/bridge.py tests/torch/common.py tests/torch/qdbref.py \
	tests/torch/demo_files.py tests/torch/agree.py
# qdb run on a torch-exported QAT model (helper exec)
TESTS += tests/cli/run.sh
EXTRA_DIST += tests/cli/run.sh testdata/run
# qdb check, qdb triage, SVG charts (helper triage)
TESTS += tests/lua/svg.lua tests/lua/advisor.lua tests/cli/check.sh tests/cli/triage.sh \
	tests/cli/triage_open.sh
EXTRA_DIST += tests/lua/svg.lua tests/lua/advisor.lua tests/cli/check.sh tests/cli/triage.sh \
	tests/cli/triage_open.sh tests/cli/digits.sh
# qdb eval, qdb badcases, qdb compare on graphs (helper graphcli)
GRAPHCLI_TESTS = tests/cli/eval.sh tests/cli/badcases.sh tests/cli/compare_graph.sh
TESTS += $(GRAPHCLI_TESTS)
EXTRA_DIST += $(GRAPHCLI_TESTS)
