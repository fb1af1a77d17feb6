# man (see Makefile.am)
