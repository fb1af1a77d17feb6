# graph module sources (see Makefile.am)
libqdbcore_a_SOURCES += \
	src/graph/graph.c src/graph/graph.h
libqdbcore_a_SOURCES += \
	src/graph/validate.c \
	src/graph/exec.c src/graph/exec.h
