# graph module sources (see Makefile.am)
libqdbcore_a_SOURCES += \
	src/graph/graph.c src/graph/graph.h
libqdbcore_a_SOURCES += \
	src/graph/validate.c \
	src/graph/exec.c src/graph/exec.h
libqdbcore_a_SOURCES += \
	src/graph/convert.c src/graph/convert.h \
	src/graph/edit.c src/graph/edit.h
check_PROGRAMS += tests/unit/exec.t
tests_unit_exec_t_SOURCES = tests/unit/test_exec.c tests/unit/tap.h tests/unit/graph_util.h
tests_unit_exec_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_exec_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/exec.t
check_PROGRAMS += tests/unit/validate.t
tests_unit_validate_t_SOURCES = tests/unit/test_validate.c tests/unit/tap.h tests/unit/graph_util.h
tests_unit_validate_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_validate_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/validate.t
EXTRA_DIST += testdata/bad-graphs scripts/make-bad-graphs
check_PROGRAMS += tests/unit/convert.t
tests_unit_convert_t_SOURCES = tests/unit/test_convert.c tests/unit/tap.h tests/unit/graph_util.h
tests_unit_convert_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_convert_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/convert.t
