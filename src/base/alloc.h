/* alloc.h - allocation through one door, so tests can make it fail.
 *
 * All core allocations go through qdb_malloc/qdb_calloc/qdb_realloc and are
 * released with qdb_free (plain free() is equivalent). Sizes are checked for
 * overflow (qdb_alloc_array). qdb_alloc_fail_after(n) makes the (n+1)-th
 * following allocation fail (n < 0 disables); tests use it to prove every
 * error path cleans up. Allocation above QDB_ALLOC_LIMIT fails, so a corrupt
 * size in a file can never make qdb ask for terabytes.
 */
#ifndef QDB_ALLOC_H
#define QDB_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define QDB_ALLOC_LIMIT ((size_t)16 << 30) /* 16 GiB */

void *qdb_malloc(size_t n);
void *qdb_calloc(size_t count, size_t size);
void *qdb_realloc(void *p, size_t n);
/* count * size with overflow check; NULL on overflow or failure. */
void *qdb_alloc_array(size_t count, size_t size);
void qdb_free(void *p);
char *qdb_strdup(const char *s);
char *qdb_strndup(const char *s, size_t n);

/* Overflow-checked size arithmetic: return 0 and set *out, or -1. */
int qdb_mul_size(size_t a, size_t b, size_t *out);

/* Fault injection for tests; not thread-safe by design (tests are serial). */
void qdb_alloc_fail_after(long n);

#endif
