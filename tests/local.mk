# tests (see Makefile.am)
EXTRA_DIST += tests/unit/tap.h
# Lua module, REPL and script runner (helper lua)
LUA_TESTS = tests/lua/tensor.lua tests/lua/trace.lua
TESTS += $(LUA_TESTS) tests/cli/lua_repl.sh tests/cli/script.sh
EXTRA_DIST += $(LUA_TESTS) tests/lua/tap.lua tests/cli/lua_repl.sh tests/cli/script.sh
