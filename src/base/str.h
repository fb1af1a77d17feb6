/* str.h - growable strings and small string helpers.
 *
 * struct qdb_buf is embedded by the caller: qdb_buf_init() then append, and
 * qdb_buf_done() frees the storage. buf.s is always NUL-terminated (after
 * init it is ""), even after a failed append; appends report QDB_ENOMEM.
 */
#ifndef QDB_STR_H
#define QDB_STR_H

#include <stdarg.h>
#include <stddef.h>

struct qdb_buf {
	char *s;
	size_t len, cap;
	int oom; /* sticky: an append failed */
};

void qdb_buf_init(struct qdb_buf *b);
void qdb_buf_done(struct qdb_buf *b);
void qdb_buf_reset(struct qdb_buf *b);
int qdb_buf_append(struct qdb_buf *b, const char *s, size_t n);
int qdb_buf_puts(struct qdb_buf *b, const char *s);
int qdb_buf_printf(struct qdb_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Takes the string; the buffer is re-initialised. Caller frees with free(). */
char *qdb_buf_steal(struct qdb_buf *b);

/* Splits s at sep into a NULL-terminated array of new strings (empty fields
 * kept). Caller frees with qdb_strv_free. NULL on allocation failure. */
char **qdb_split(const char *s, char sep);
void qdb_strv_free(char **v);
size_t qdb_strv_len(char *const *v);

/* Parses a whole string as a number; 0 on success, -1 otherwise. */
int qdb_parse_double(const char *s, double *out);
int qdb_parse_long(const char *s, long *out);

/* Format a double the way tables show it: "inf", "-inf", "nan", or %.*g. */
const char *qdb_fmt_double(char *dst, size_t n, double v, int prec);

#endif
