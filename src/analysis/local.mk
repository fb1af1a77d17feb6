# analysis module sources (see Makefile.am)
libqdbcore_a_SOURCES += src/analysis/compare.c src/analysis/compare.h
