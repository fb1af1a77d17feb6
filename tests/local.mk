# tests (see Makefile.am)
EXTRA_DIST += tests/unit/tap.h
# Lua module, REPL and script runner (helper lua)
LUA_TESTS = tests/lua/tensor.lua tests/lua/trace.lua tests/lua/dataset.lua
TESTS += $(LUA_TESTS) tests/cli/lua_repl.sh tests/cli/script.sh
EXTRA_DIST += $(LUA_TESTS) tests/lua/tap.lua tests/cli/lua_repl.sh tests/cli/script.sh
# qdb info and qdb compare (helper cli)
CLI_TESTS = tests/cli/info.sh tests/cli/compare.sh
TESTS += $(CLI_TESTS)
EXTRA_DIST += $(CLI_TESTS) tests/cli/lib.sh
