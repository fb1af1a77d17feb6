# analysis module sources (see Makefile.am)
libqdbcore_a_SOURCES += src/analysis/compare.c src/analysis/compare.h
libqdbcore_a_SOURCES += src/analysis/align.c src/analysis/align.h
check_PROGRAMS += tests/unit/align.t
tests_unit_align_t_SOURCES = tests/unit/test_align.c tests/unit/tap.h
tests_unit_align_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_align_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/align.t
