# scripts (see Makefile.am)
# demo and the compare benchmark (helper cli); run-demo needs setup
EXTRA_DIST += scripts/run-demo scripts/bench/compare scripts/bench/compare_numpy.py \
	scripts/setup scripts/run-tests
EXTRA_DIST += scripts/bench/tui
# graph interpreter benchmark (helper exec); the timer is not installed
noinst_PROGRAMS += scripts/bench/interp-time
scripts_bench_interp_time_SOURCES = scripts/bench/interp_time.c
scripts_bench_interp_time_CFLAGS = $(AM_CFLAGS) $(CORE_CFLAGS)
scripts_bench_interp_time_LDADD = $(CORE_LIBS)
EXTRA_DIST += scripts/bench/interp
# The PyTorch bridge (installed: users run it on their own models) and the
# demo builder (helper torch)
dist_pkgdata_SCRIPTS = scripts/qdb_torch.py
EXTRA_DIST += scripts/make-demo
# sensitivity engine vs naive vs a PyTorch loop (helper lua)
EXTRA_DIST += scripts/bench/sensitivity
