/* hidx.c - open-addressing hash index (linear probing). */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "io/hidx.h"

uint64_t qdb_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return qdb_hash_u64(h);
}

uint64_t qdb_hash_u64(uint64_t x) /* splitmix64 finaliser */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

int qdb_hidx_find(const int *slot, int cap, uint64_t hash, qdb_hidx_eq_fn eq,
		  const void *ctx, const void *key)
{
	if (cap == 0)
		return -1;
	size_t mask = (size_t)cap - 1;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		if (slot[i] < 0)
			return -1;
		if (eq(ctx, slot[i], key))
			return slot[i];
	}
}

static void put(int *slot, int cap, uint64_t hash, int item)
{
	size_t mask = (size_t)cap - 1, i = hash & mask;
	while (slot[i] >= 0)
		i = (i + 1) & mask;
	slot[i] = item;
}

int qdb_hidx_rebuild(int **slot, int *cap, int n, qdb_hidx_hash_fn hash_of, const void *ctx)
{
	int c = 16;
	while (c / 2 < n) {
		if (c > (1 << 29))
			return -1;
		c *= 2;
	}
	int *s = qdb_alloc_array((size_t)c, sizeof *s);
	if (!s)
		return -1;
	for (int i = 0; i < c; i++)
		s[i] = -1;
	for (int i = 0; i < n; i++)
		put(s, c, hash_of(ctx, i), i);
	qdb_free(*slot);
	*slot = s;
	*cap = c;
	return 0;
}

int qdb_hidx_add(int **slot, int *cap, int n, uint64_t hash, qdb_hidx_hash_fn hash_of,
		 const void *ctx)
{
	if (n > *cap / 2)
		return qdb_hidx_rebuild(slot, cap, n, hash_of, ctx);
	put(*slot, *cap, hash, n - 1);
	return 0;
}

int qdb_grow(void *arrp, int n, int *cap, size_t size)
{
	if (n < *cap)
		return 0;
	if (*cap > (1 << 29))
		return -1;
	int c = *cap ? 2 * *cap : 8;
	void *p = qdb_realloc(*(void **)arrp, (size_t)c * size);
	if (!p)
		return -1;
	*(void **)arrp = p;
	*cap = c;
	return 0;
}

static const char *item_name(const struct qdb_name_items *it, int i)
{
	return *(char *const *)((const char *)it->base + (size_t)i * it->stride);
}

uint64_t qdb_name_items_hash(const void *ctx, int item)
{
	const char *name = item_name(ctx, item);
	return qdb_hash_bytes(name, strlen(name));
}

struct strkey {
	const char *s;
	size_t n;
};

static int name_eq(const void *ctx, int item, const void *key)
{
	const struct strkey *k = key;
	const char *name = item_name(ctx, item);
	return strlen(name) == k->n && (k->n == 0 || memcmp(name, k->s, k->n) == 0);
}

int qdb_name_find(const int *slot, int cap, const struct qdb_name_items *items, const char *s,
		  size_t n)
{
	struct strkey k = {s, n};
	return qdb_hidx_find(slot, cap, qdb_hash_bytes(s, n), name_eq, items, &k);
}
