# io module sources (see Makefile.am)
