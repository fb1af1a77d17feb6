/* alloc.c - checked allocation with test-time fault injection. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

static long fail_countdown = -1;

static int should_fail(size_t n)
{
	if (n > QDB_ALLOC_LIMIT)
		return 1;
	if (fail_countdown < 0)
		return 0;
	if (fail_countdown == 0)
		return 1;
	fail_countdown--;
	return 0;
}

void qdb_alloc_fail_after(long n) { fail_countdown = n; }

void *qdb_malloc(size_t n)
{
	if (should_fail(n))
		return NULL;
	return malloc(n ? n : 1);
}

void *qdb_calloc(size_t count, size_t size)
{
	size_t n;
	if (qdb_mul_size(count, size, &n) || should_fail(n))
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *qdb_realloc(void *p, size_t n)
{
	if (should_fail(n))
		return NULL;
	return realloc(p, n ? n : 1);
}

void *qdb_alloc_array(size_t count, size_t size)
{
	size_t n;
	if (qdb_mul_size(count, size, &n))
		return NULL;
	return qdb_malloc(n);
}

void qdb_free(void *p) { free(p); }

char *qdb_strndup(const char *s, size_t n)
{
	char *d = qdb_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *qdb_strdup(const char *s) { return qdb_strndup(s, strlen(s)); }

int qdb_mul_size(size_t a, size_t b, size_t *out)
{
	if (a && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}
