# ops module sources (see Makefile.am)
libqdbcore_a_SOURCES += src/ops/ops.c src/ops/ops.h
