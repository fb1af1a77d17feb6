# analysis module sources (see Makefile.am)
