# tensor module sources (see Makefile.am)
libqdbcore_a_SOURCES += \
	src/tensor/tensor.c src/tensor/tensor.h \
	src/tensor/stats.c src/tensor/stats.h \
	src/tensor/metrics.c src/tensor/metrics.h

check_PROGRAMS += tests/unit/tensor.t tests/unit/stats.t tests/unit/metrics.t
tests_unit_tensor_t_SOURCES = tests/unit/test_tensor.c tests/unit/tap.h
tests_unit_tensor_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_tensor_t_LDADD = $(UNIT_LDADD)
tests_unit_stats_t_SOURCES = tests/unit/test_stats.c tests/unit/tap.h
tests_unit_stats_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_stats_t_LDADD = $(UNIT_LDADD)
tests_unit_metrics_t_SOURCES = tests/unit/test_metrics.c tests/unit/tap.h
tests_unit_metrics_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_metrics_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/tensor.t tests/unit/stats.t tests/unit/metrics.t
