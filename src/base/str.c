/* str.c - growable strings and small string helpers. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"

static char empty_str[1];

void qdb_buf_init(struct qdb_buf *b)
{
	b->s = empty_str;
	b->len = b->cap = 0;
	b->oom = 0;
}

void qdb_buf_done(struct qdb_buf *b)
{
	if (b->cap)
		qdb_free(b->s);
	qdb_buf_init(b);
}

void qdb_buf_reset(struct qdb_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->s[0] = '\0';
	b->oom = 0;
}

static int reserve(struct qdb_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return QDB_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1) {
		if (cap > SIZE_MAX / 2)
			return b->oom = 1, QDB_ENOMEM;
		cap *= 2;
	}
	char *s = qdb_realloc(b->cap ? b->s : NULL, cap);
	if (!s)
		return b->oom = 1, QDB_ENOMEM;
	if (!b->cap)
		s[0] = '\0';
	b->s = s;
	b->cap = cap;
	return QDB_OK;
}

int qdb_buf_append(struct qdb_buf *b, const char *s, size_t n)
{
	if (reserve(b, n))
		return QDB_ENOMEM;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return QDB_OK;
}

int qdb_buf_puts(struct qdb_buf *b, const char *s) { return qdb_buf_append(b, s, strlen(s)); }

int qdb_buf_printf(struct qdb_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, (size_t)n))
		return QDB_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return QDB_OK;
}

char *qdb_buf_steal(struct qdb_buf *b)
{
	char *s = b->cap ? b->s : qdb_strdup("");
	qdb_buf_init(b);
	return s;
}

char **qdb_split(const char *s, char sep)
{
	size_t n = 1;
	for (const char *p = s; *p; p++)
		n += *p == sep;
	char **v = qdb_calloc(n + 1, sizeof *v);
	if (!v)
		return NULL;
	size_t i = 0;
	for (const char *p = s;; i++) {
		const char *q = strchr(p, sep);
		size_t len = q ? (size_t)(q - p) : strlen(p);
		if (!(v[i] = qdb_strndup(p, len))) {
			qdb_strv_free(v);
			return NULL;
		}
		if (!q)
			break;
		p = q + 1;
	}
	return v;
}

void qdb_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		qdb_free(*p);
	qdb_free(v);
}

size_t qdb_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

int qdb_parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

int qdb_parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

const char *qdb_fmt_double(char *dst, size_t n, double v, int prec)
{
	if (isnan(v))
		snprintf(dst, n, "nan");
	else if (isinf(v))
		snprintf(dst, n, v > 0 ? "inf" : "-inf");
	else
		snprintf(dst, n, "%.*g", prec, v);
	return dst;
}
