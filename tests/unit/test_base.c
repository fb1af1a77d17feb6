/* test_base.c - error object, checked allocation, strings. */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"
#include "tap.h"

int main(void)
{
	struct qdb_err e;
	qdb_err_clear(&e);
	ok(e.code == QDB_OK && e.msg[0] == 0, "cleared error is empty");
	ok(qdb_err_set(&e, QDB_EFORMAT, "%s: %s: %s", "a.qtr", "header", "bad") == QDB_EFORMAT,
	   "err_set returns the code");
	ok(strcmp(e.msg, "a.qtr: header: bad") == 0, "message formatted");
	qdb_err_prefix(&e, "x%d", 1);
	ok(strcmp(e.msg, "x1: a.qtr: header: bad") == 0 && e.code == QDB_EFORMAT, "prefix keeps code");
	char longs[600];
	memset(longs, 'a', sizeof longs - 1);
	longs[sizeof longs - 1] = 0;
	qdb_err_set(&e, QDB_EIO, "%s", longs);
	ok(strlen(e.msg) == QDB_ERR_MSG_MAX - 1 && strcmp(e.msg + strlen(e.msg) - 3, "...") == 0,
	   "long message truncated with ...");
	ok(qdb_err_set(NULL, QDB_EIO, "x") == QDB_EIO, "NULL err accepted");
	ok(strcmp(qdb_status_name(QDB_ENOMEM), "out of memory") == 0, "status names");
	ok(strcmp(qdb_status_name(999), "unknown error") == 0, "unknown status");

	ok(qdb_alloc_array(SIZE_MAX / 2, 4) == NULL, "array overflow refused");
	ok(qdb_malloc(QDB_ALLOC_LIMIT + 1) == NULL, "allocation above limit refused");
	qdb_alloc_fail_after(1);
	void *p1 = qdb_malloc(8), *p2 = qdb_malloc(8);
	qdb_alloc_fail_after(-1);
	ok(p1 && !p2, "fault injection fails the second allocation");
	qdb_free(p1);

	struct qdb_buf b;
	qdb_buf_init(&b);
	ok(strcmp(b.s, "") == 0, "empty buffer is a string");
	for (int i = 0; i < 100; i++)
		qdb_buf_printf(&b, "%d,", i);
	ok(b.len == strlen(b.s) && strncmp(b.s, "0,1,2,", 6) == 0, "buffer grows");
	char *s = qdb_buf_steal(&b);
	ok(s && strlen(s) == 290 && b.len == 0, "steal takes the string");
	qdb_free(s);
	qdb_buf_done(&b);

	char **v = qdb_split("a,,b", ',');
	ok(v && qdb_strv_len(v) == 3 && strcmp(v[1], "") == 0 && strcmp(v[2], "b") == 0,
	   "split keeps empty fields");
	qdb_strv_free(v);

	double d;
	long l;
	ok(qdb_parse_double("0.5", &d) == 0 && d == 0.5, "parse double");
	ok(qdb_parse_double("0.5x", &d) != 0, "trailing garbage refused");
	ok(qdb_parse_long("-12", &l) == 0 && l == -12, "parse long");
	char fb[32];
	ok(strcmp(qdb_fmt_double(fb, sizeof fb, INFINITY, 4), "inf") == 0, "format inf");
	return tap_done();
}
