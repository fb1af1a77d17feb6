# ops module sources (see Makefile.am)
libqdbcore_a_SOURCES += src/ops/ops.c src/ops/ops.h
libqdbcore_a_SOURCES += src/ops/kernel_int.h src/ops/registry_int.c
libqdbcore_a_SOURCES += src/ops/registry.c src/ops/kernel_float.h \
	src/ops/params.c src/ops/params.h src/ops/quant.c src/ops/quant.h \
	src/ops/gemm.c src/ops/gemm.h src/ops/conv.c src/ops/linear.c \
	src/ops/eltwise.c src/ops/act.c src/ops/pool.c src/ops/shape.c
