# tui module sources (see Makefile.am)
