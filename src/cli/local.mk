qdb_SOURCES += \
	src/cli/main.c src/cli/cli.h \
	src/cli/cmd_version.c
qdb_SOURCES += \
	src/cli/table.c src/cli/table.h \
	src/cli/filekind.c src/cli/filekind.h \
	src/cli/cmd_info.c src/cli/cmd_compare.c
qdb_SOURCES += src/cli/cmd_lua.c src/cli/cmd_script.c src/cli/cmd_sensitivity.c
qdb_SOURCES += src/cli/cmd_import_npy.c
qdb_SOURCES += src/cli/cmd_run.c
qdb_SOURCES += src/cli/cmd_check.c
qdb_SOURCES += src/cli/cmd_convert.c src/cli/cmd_edit.c
qdb_SOURCES += src/cli/cmd_triage.c
qdb_SOURCES += src/cli/evalsrc.c src/cli/evalsrc.h src/cli/cmd_eval.c src/cli/cmd_badcases.c
