# analysis module sources (see Makefile.am)
libqdbcore_a_SOURCES += src/analysis/compare.c src/analysis/compare.h
check_PROGRAMS += tests/unit/compare.t
tests_unit_compare_t_SOURCES = tests/unit/test_compare.c tests/unit/tap.h
tests_unit_compare_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_compare_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/compare.t
libqdbcore_a_SOURCES += src/analysis/align.c src/analysis/align.h
check_PROGRAMS += tests/unit/align.t
tests_unit_align_t_SOURCES = tests/unit/test_align.c tests/unit/tap.h
tests_unit_align_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_align_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/align.t
# session (two stages over samples, cell cache, edits) and inspect (error in
# LSB, per-channel comparison): used by the TUI, reusable by Lua and triage.
libqdbcore_a_SOURCES += \
	src/analysis/session.c src/analysis/session.h src/analysis/session_impl.h \
	src/analysis/session_graph.c \
	src/analysis/inspect.c src/analysis/inspect.h
# eval (a model or trace over a dataset, accuracy, bad cases) and
# sensitivity (per-node revert / per-value quantize ranking): helper lua.
libqdbcore_a_SOURCES += src/analysis/eval.c src/analysis/eval.h \
	src/analysis/sensitivity.c src/analysis/sensitivity.h
# advisor (qdb check, triage step 0): helper triage.
libqdbcore_a_SOURCES += src/analysis/advisor.c src/analysis/advisor.h
check_PROGRAMS += tests/unit/advisor.t
tests_unit_advisor_t_SOURCES = tests/unit/test_advisor.c tests/unit/tap.h tests/unit/graph_util.h
tests_unit_advisor_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_advisor_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/advisor.t
# bootstrap confidence intervals (triage): helper triage.
libqdbcore_a_SOURCES += src/analysis/bootstrap.c src/analysis/bootstrap.h
check_PROGRAMS += tests/unit/bootstrap.t
tests_unit_bootstrap_t_SOURCES = tests/unit/test_bootstrap.c tests/unit/tap.h
tests_unit_bootstrap_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_bootstrap_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/bootstrap.t
check_PROGRAMS += tests/unit/session.t
tests_unit_session_t_SOURCES = tests/unit/test_session.c tests/unit/tap.h
tests_unit_session_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_session_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/session.t
# eval and sensitivity without Lua (helper lua)
check_PROGRAMS += tests/unit/sensitivity.t
tests_unit_sensitivity_t_SOURCES = tests/unit/test_sensitivity.c tests/unit/tap.h
tests_unit_sensitivity_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_sensitivity_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/sensitivity.t
