/* io_util.h - helpers shared by the io unit tests (header-only). */
#ifndef QDB_IO_UTIL_H
#define QDB_IO_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "tap.h"

/* "dir/name" in one of four rotating static buffers. */
static const char *path_in(const char *dir, const char *name) __attribute__((unused));
static const char *path_in(const char *dir, const char *name)
{
	static char buf[4][2400];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* A whole file in a new malloc'ed buffer (free), or NULL. */
static char *slurp(const char *path, size_t *len) __attribute__((unused));
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf)
		*len = fread(buf, 1, n > 0 ? (size_t)n : 0, f);
	fclose(f);
	return buf;
}

static int same_bytes(const char *a, const char *b) __attribute__((unused));
static int same_bytes(const char *a, const char *b)
{
	size_t na, nb;
	char *x = slurp(a, &na), *y = slurp(b, &nb);
	int eq = x && y && na == nb && !memcmp(x, y, na);
	free(x);
	free(y);
	return eq;
}

/* Evaluates `body` (an int status; it may use `struct qdb_err e_`) with
 * the k-th allocation failing, k = 0, 1, ... until it succeeds. Every
 * failure must be QDB_ENOMEM with a message; one TAP check in all. */
#define FAULT_LOOP(desc, body)                                                              \
	do {                                                                                    \
		int k_, bad_ = 0, rc_ = -1;                                                         \
		for (k_ = 0; k_ < 100000; k_++) {                                                   \
			struct qdb_err e_;                                                              \
			qdb_err_clear(&e_);                                                             \
			qdb_alloc_fail_after(k_);                                                       \
			rc_ = body;                                                                     \
			qdb_alloc_fail_after(-1);                                                       \
			if (rc_ == QDB_OK)                                                              \
				break;                                                                      \
			if ((rc_ != QDB_ENOMEM || e_.code != QDB_ENOMEM || !e_.msg[0]) && !bad_++)      \
				tap_diag("%s: failure %d gave %d: %s", desc, k_, rc_, e_.msg);             \
		}                                                                                   \
		ok(rc_ == QDB_OK && bad_ == 0 && k_ > 0, "%s: %d injected failures, all ENOMEM", desc, k_); \
	} while (0)

#endif
