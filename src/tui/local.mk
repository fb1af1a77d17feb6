# tui module sources (see Makefile.am): the full-screen debugger, linked
# into the qdb binary (curses, readline and Lua stay out of the core).
qdb_SOURCES += \
	src/tui/tui.h src/tui/tui.c src/tui/input.c src/tui/draw.c \
	src/tui/readline.c src/tui/console.c src/tui/lua_tui.c \
	src/tui/view_layers.c src/tui/view_detail.c src/tui/view_channels.c \
	src/tui/view_help.c
