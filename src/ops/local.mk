# ops module sources (see Makefile.am)
libqdbcore_a_SOURCES += src/ops/ops.c src/ops/ops.h src/ops/kernel.h
libqdbcore_a_SOURCES += src/ops/kernel_int.h src/ops/registry_int.c \
	src/ops/requant.c src/ops/requant.h src/ops/igemm.c src/ops/igemm.h \
	src/ops/int_common.c src/ops/conv_int.c src/ops/linear_int.c \
	src/ops/eltwise_int.c src/ops/act_int.c src/ops/pool_int.c src/ops/shape_int.c \
	src/ops/quant_int.c
libqdbcore_a_SOURCES += src/ops/registry.c src/ops/kernel_float.h \
	src/ops/params.c src/ops/params.h src/ops/quant.c src/ops/quant.h \
	src/ops/gemm.c src/ops/gemm.h src/ops/conv.c src/ops/linear.c \
	src/ops/eltwise.c src/ops/act.c src/ops/pool.c src/ops/shape.c
check_PROGRAMS += tests/unit/ops_float.t
tests_unit_ops_float_t_SOURCES = tests/unit/test_ops_float.c tests/unit/tap.h tests/unit/graph_util.h
tests_unit_ops_float_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_ops_float_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/ops_float.t
check_PROGRAMS += tests/unit/requant.t
tests_unit_requant_t_SOURCES = tests/unit/test_requant.c tests/unit/tap.h
tests_unit_requant_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_requant_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/requant.t
check_PROGRAMS += tests/unit/ops_int.t
tests_unit_ops_int_t_SOURCES = tests/unit/test_ops_int.c tests/unit/tap.h tests/unit/graph_util.h
tests_unit_ops_int_t_CFLAGS = $(UNIT_CFLAGS)
tests_unit_ops_int_t_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/ops_int.t
