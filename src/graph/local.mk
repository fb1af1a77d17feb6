# graph module sources (see Makefile.am)
