qdb_SOURCES += \
	src/cli/main.c src/cli/cli.h \
	src/cli/cmd_version.c
