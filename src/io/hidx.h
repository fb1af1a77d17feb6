/* hidx.h - open-addressing hash index over items numbered 0..n-1.
 *
 * The index stores item numbers only; the items (names, sample ids, record
 * keys) live in the caller's arrays, and the caller passes a hash and an
 * equality callback. A slot array of `cap` ints (a power of two, -1 =
 * empty) is owned by the caller (free with qdb_free). Kept at most half full,
 * so a probe always ends. Used by the io readers and the graph name maps.
 */
#ifndef QDB_HIDX_H
#define QDB_HIDX_H

#include <stddef.h>
#include <stdint.h>

typedef int (*qdb_hidx_eq_fn)(const void *ctx, int item, const void *key);
typedef uint64_t (*qdb_hidx_hash_fn)(const void *ctx, int item);

uint64_t qdb_hash_bytes(const void *p, size_t n);
uint64_t qdb_hash_u64(uint64_t x);

/* Item whose key equals `key`, or -1. */
int qdb_hidx_find(const int *slot, int cap, uint64_t hash, qdb_hidx_eq_fn eq,
		  const void *ctx, const void *key);
/* Registers item `item` (= n - 1, the newest of n items), growing and
 * rehashing all n items when the table would become more than half full.
 * Returns 0, or -1 when out of memory (the old table is kept then). */
int qdb_hidx_add(int **slot, int *cap, int n, uint64_t hash, qdb_hidx_hash_fn hash_of,
		 const void *ctx);
/* Rebuilds the table for items 0..n-1. 0 or -1 (out of memory). */
int qdb_hidx_rebuild(int **slot, int *cap, int n, qdb_hidx_hash_fn hash_of, const void *ctx);

/* Makes room for one more item in *arrp, an array of `size`-byte items
 * with n in use and *cap allocated (doubling; the array may move).
 * 0, or -1 when out of memory (the array is kept). */
int qdb_grow(void *arrp, int n, int *cap, size_t size);

/* Items that are structs `stride` bytes apart from `base`, whose first
 * member is their char * name (layers, inputs, graph values and nodes). */
struct qdb_name_items {
	const void *base;
	size_t stride;
};
uint64_t qdb_name_items_hash(const void *ctx, int item); /* ctx: struct qdb_name_items */
/* Item named s[0..n), or -1. */
int qdb_name_find(const int *slot, int cap, const struct qdb_name_items *items, const char *s,
		  size_t n);

#endif
