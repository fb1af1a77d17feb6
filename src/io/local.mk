# io module sources (see Makefile.am)
libqdbcore_a_SOURCES += \
	src/io/file.c src/io/file.h \
	src/io/hidx.c src/io/hidx.h \
	src/io/mp.c src/io/mp.h \
	src/io/ids.c src/io/ids.h \
	src/io/records.c src/io/records.h \
	src/io/tensor_mp.c src/io/tensor_mp.h \
	src/io/trace.c src/io/trace.h \
	src/io/dataset.c src/io/dataset.h \
	src/io/qbc.c src/io/qbc.h \
	src/io/qbc_checked.c \
	src/io/npy.c src/io/npy.h

# io tests; testdata/good and testdata/bad are written by scripts/make-bad-corpus
check_PROGRAMS += tests/unit/badfiles.t
tests_unit_badfiles_t_SOURCES = tests/unit/test_badfiles.c tests/unit/io_util.h
tests_unit_badfiles_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_badfiles_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/badfiles.t
EXTRA_DIST += scripts/make-bad-corpus testdata/good testdata/bad scripts/fuzz tests/fuzz
check_PROGRAMS += tests/unit/io.t
tests_unit_io_t_SOURCES = tests/unit/test_io.c tests/unit/io_util.h
tests_unit_io_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_io_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/io.t
check_PROGRAMS += tests/unit/qbc.t
tests_unit_qbc_t_SOURCES = tests/unit/test_qbc.c tests/unit/io_util.h
tests_unit_qbc_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_qbc_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/qbc.t
