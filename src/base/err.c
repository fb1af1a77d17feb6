/* err.c - status names and the error object. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"

static const char *const status_names[] = {
	[QDB_OK] = "ok",
	[QDB_ENOMEM] = "out of memory",
	[QDB_EIO] = "i/o error",
	[QDB_EFORMAT] = "format error",
	[QDB_EINVAL] = "invalid argument",
	[QDB_EUNSUPPORTED] = "unsupported",
	[QDB_ENOTFOUND] = "not found",
	[QDB_ESHAPE] = "shape mismatch",
	[QDB_ESTOPPED] = "stopped",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == QDB_STATUS_COUNT,
	       "status_names must name every status");

const char *qdb_status_name(int code)
{
	if (code < 0 || code >= QDB_STATUS_COUNT)
		return "unknown error";
	return status_names[code];
}

void qdb_err_clear(struct qdb_err *e)
{
	if (!e)
		return;
	e->code = QDB_OK;
	e->msg[0] = '\0';
}

int qdb_err_vset(struct qdb_err *e, int code, const char *fmt, va_list ap)
{
	if (!e)
		return code;
	e->code = code;
	int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	if (n >= (int)sizeof e->msg)
		memcpy(e->msg + sizeof e->msg - 4, "...", 4);
	return code;
}

int qdb_err_set(struct qdb_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	qdb_err_vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

int qdb_err_prefix(struct qdb_err *e, const char *fmt, ...)
{
	if (!e)
		return QDB_OK;
	char prefix[QDB_ERR_MSG_MAX], old[QDB_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	int n = snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
	if (n >= (int)sizeof e->msg)
		memcpy(e->msg + sizeof e->msg - 4, "...", 4);
	return e->code;
}
