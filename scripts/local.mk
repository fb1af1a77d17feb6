# scripts (see Makefile.am)
