# tests (see Makefile.am)
EXTRA_DIST += tests/unit/tap.h
