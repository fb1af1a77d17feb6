/* err.h - status codes and the error object every fallible call fills.
 *
 * Functions that can fail return an int status (QDB_OK == 0 on success) and,
 * on failure, write a one-line message into a caller-owned struct qdb_err.
 * Messages of loaders follow "FILE: where: what". Nothing here allocates:
 * the caller owns the qdb_err (usually on its stack), so errors compose and
 * are thread-safe. A NULL err pointer is allowed and discards the message.
 */
#ifndef QDB_ERR_H
#define QDB_ERR_H

#include <stdarg.h>

enum qdb_status {
	QDB_OK = 0,
	QDB_ENOMEM,       /* allocation failed */
	QDB_EIO,          /* open/read/write/mmap/rename failed */
	QDB_EFORMAT,      /* malformed file content */
	QDB_EINVAL,       /* bad argument, option or value */
	QDB_EUNSUPPORTED, /* valid but not implemented (e.g. op without int kernel) */
	QDB_ENOTFOUND,    /* named thing (layer, sample, node) does not exist */
	QDB_ESHAPE,       /* shapes disagree */
	QDB_ESTOPPED,     /* a hook or the user asked to stop */
	QDB_STATUS_COUNT
};

#define QDB_ERR_MSG_MAX 256

struct qdb_err {
	int code;
	char msg[QDB_ERR_MSG_MAX];
};

/* Clears the error (code QDB_OK, empty message). */
void qdb_err_clear(struct qdb_err *e);

/* Sets code and a printf-formatted message; returns code so callers can
 * write `return qdb_err_set(e, QDB_EFORMAT, "%s: header: no format", path);`.
 * Messages longer than the buffer are truncated with "...". */
int qdb_err_set(struct qdb_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int qdb_err_vset(struct qdb_err *e, int code, const char *fmt, va_list ap);

/* Prepends "prefix: " to an existing message (keeps the code); returns code.
 * Used to add the file name or node name as an error bubbles up. */
int qdb_err_prefix(struct qdb_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Short name of a status ("out of memory", "format error", ...). */
const char *qdb_status_name(int code);

#endif
