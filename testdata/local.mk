# testdata (see Makefile.am)
