/* file.h - mapping files for reading, and atomic replacement for writing.
 *
 * struct qdb_map is embedded: qdb_map_open maps a whole regular file
 * read-only (an empty file maps to data = NULL, size = 0; a directory or a
 * special file is refused), qdb_map_close unmaps it.
 *
 * struct qdb_atomic is a file being written: qdb_atomic_open creates
 * "PATH.tmp.XXXXXX" beside PATH; qdb_atomic_commit flushes, fsyncs and
 * renames it over PATH (then fsyncs the directory); qdb_atomic_abort closes
 * and unlinks it. Either call ends the object. `fp` is a stdio stream the
 * writer may use; write errors are caught at commit.
 */
#ifndef QDB_FILE_H
#define QDB_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

struct qdb_map {
	const unsigned char *data;
	size_t size;
};

int qdb_map_open(struct qdb_map *m, const char *path, struct qdb_err *err);
void qdb_map_close(struct qdb_map *m);

struct qdb_atomic {
	FILE *fp;
	char *path;
	char *tmp;
};

int qdb_atomic_open(struct qdb_atomic *a, const char *path, struct qdb_err *err);
int qdb_atomic_commit(struct qdb_atomic *a, struct qdb_err *err);
void qdb_atomic_abort(struct qdb_atomic *a);
/* For a write to a->fp that failed before commit (clear errno before the
 * writes): sets QDB_EIO "PATH: write: <errno text>" and returns it. The
 * file is not aborted: the caller decides. */
int qdb_atomic_write_error(const struct qdb_atomic *a, struct qdb_err *err);

#endif
