/* filekind.h - what a file holds, decided by its content (never its name).
 *
 * A .npy file starts with "\x93NUMPY"; the qdb formats are MessagePack whose
 * first object is a map with a `format` key: "qdb.trace", "qdb.dataset" or
 * "qdb.graph". Only the first object's top-level keys are read (values are
 * skipped without decoding, so a multi-GB graph costs one pass over its
 * structure, not over its payloads). Errors read "FILE: what".
 */
#ifndef QDB_CLI_FILEKIND_H
#define QDB_CLI_FILEKIND_H

#include <stddef.h>

#include "base/err.h"

enum qdb_file_kind { QDB_KIND_TRACE, QDB_KIND_DATASET, QDB_KIND_GRAPH, QDB_KIND_NPY };

/* "trace", "dataset", "graph", "npy". */
const char *qdb_file_kind_name(enum qdb_file_kind k);
int qdb_file_kind(const char *path, enum qdb_file_kind *out, struct qdb_err *err);
/* The same on bytes in memory; `path` names them in messages. */
int qdb_file_kind_mem(const unsigned char *p, size_t n, const char *path,
		      enum qdb_file_kind *out, struct qdb_err *err);

#endif
