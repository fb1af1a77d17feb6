/* qbc.h - reading and writing .qbc graph files (one MessagePack map).
 *
 * qdb_graph_load validates the container fully (types, sizes, constants
 * against their declared shapes, qparams finite and positive, every name a
 * node references defined) and returns a new graph the caller frees with
 * qdb_graph_delete. It does not run shape inference or op checks: that is
 * qdb_graph_validate (src/graph/validate.c), which qdb_graph_load_checked
 * also calls. qdb_graph_save writes atomically (temp file, fsync, rename).
 */
#ifndef QDB_QBC_H
#define QDB_QBC_H

#include <stddef.h>

#include "base/err.h"
#include "graph/graph.h"

int qdb_graph_load(const char *path, struct qdb_graph **out, struct qdb_err *err);
int qdb_graph_load_checked(const char *path, struct qdb_graph **out, struct qdb_err *err);
/* Parses a graph from memory (fuzzing, tests); `name` is used in messages. */
int qdb_graph_parse(const void *data, size_t len, const char *name,
		    struct qdb_graph **out, struct qdb_err *err);
int qdb_graph_save(const struct qdb_graph *g, const char *path, struct qdb_err *err);
/* The bytes qdb_graph_save would write, in a new buffer (*data, *len) the
 * caller frees with qdb_free. */
int qdb_graph_serialize(const struct qdb_graph *g, char **data, size_t *len,
			struct qdb_err *err);

#endif
