libqdbcore_a_SOURCES += \
	src/base/err.c src/base/err.h \
	src/base/alloc.c src/base/alloc.h \
	src/base/str.c src/base/str.h
check_PROGRAMS += tests/unit/base.t
tests_unit_base_t_SOURCES = tests/unit/test_base.c tests/unit/tap.h
tests_unit_base_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_base_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/base.t
