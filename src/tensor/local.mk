# tensor module sources (see Makefile.am)
