# lua module sources (see Makefile.am): the `qdb` Lua module and the REPL
# core, linked into the qdb binary (the core library has no Lua).
qdb_SOURCES += \
	src/lua/qdb_lua.h src/lua/lqdb.h src/lua/lmodel.h \
	src/lua/module.c src/lua/tensor.c src/lua/trace.c src/lua/dataset.c \
	src/lua/model.c src/lua/run.c src/lua/compare.c \
	src/lua/sensitivity.c \
	src/lua/repl.c src/lua/repl.h src/lua/repl_rl.c
# advisor and bootstrap bindings (helper triage)
qdb_SOURCES += src/lua/advisor.c
# Lua library of the triage (installed under $(pkgdatadir)/lua)
nobase_dist_pkgdata_DATA += lua/qdb/svg.lua lua/qdb/triage.lua
# the Lua library (helper lua): qdb.report, qdb.sweep, qdb.badcase
nobase_dist_pkgdata_DATA += lua/qdb/report.lua lua/qdb/sweep.lua lua/qdb/badcase.lua
# example scripts (run by tests/cli/examples.sh against the demo)
nobase_dist_pkgdata_DATA += examples/revert_op.lua examples/greedy_cpu.lua \
	examples/badcases.lua examples/sensitivity_report.lua examples/first_divergence.lua
