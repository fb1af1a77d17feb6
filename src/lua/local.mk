# lua module sources (see Makefile.am)
