# ops module sources (see Makefile.am)
libqdbcore_a_SOURCES += src/ops/ops.c src/ops/ops.h
libqdbcore_a_SOURCES += src/ops/kernel_int.h src/ops/registry_int.c
