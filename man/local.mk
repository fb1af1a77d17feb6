# man (see Makefile.am)
dist_man_MANS += man/qdb.1
dist_man_MANS += man/qdb-formats.5
dist_man_MANS += man/qdb-lua.7
