/* records.c - the (sample, layer) -> record index and record re-decoding. */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "io/hidx.h"
#include "io/mp.h"
#include "io/records.h"

/* ---- hash table ---- */

static uint64_t pair_hash(int32_t s, int32_t l)
{
	return qdb_hash_u64(((uint64_t)(uint32_t)s << 32) | (uint32_t)l);
}

/* A slot's position comes from the low bits of the hash and its tag from
 * the high 32: independent for any table up to 2^32 slots. */
#define TAG(h) ((h) >> 32)

/* Finds (sample, layer): its record number, or -1 with *at set to the
 * empty slot where it belongs. */
static int probe(const struct qdb_rec_index *x, int32_t sample, int32_t layer, uint64_t h,
		 size_t *at)
{
	size_t mask = x->slot_cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint64_t v = x->slot[i];
		if (!v) {
			*at = i;
			return -1;
		}
		if (v >> 32 == TAG(h)) {
			int r = (int)(uint32_t)v - 1;
			if (x->recs[r].sample == sample && x->recs[r].layer == layer)
				return r;
		}
	}
}

/* A table for n + 1 records at most half full (so that a probe always
 * ends), filled with records 0..n-1. 0 or -1 (the old table is kept). */
static int rehash(struct qdb_rec_index *x)
{
	size_t cap = 16;
	while (cap / 2 < (size_t)x->n + 1) {
		if (cap >= ((size_t)1 << 31))
			return -1;
		cap *= 2;
	}
	uint64_t *slot = qdb_calloc(cap, sizeof *slot);
	if (!slot)
		return -1;
	for (int r = 0; r < x->n; r++) {
		uint64_t h = pair_hash(x->recs[r].sample, x->recs[r].layer);
		size_t i = h & (cap - 1);
		while (slot[i])
			i = (i + 1) & (cap - 1);
		slot[i] = TAG(h) << 32 | (uint32_t)(r + 1);
	}
	qdb_free(x->slot);
	x->slot = slot;
	x->slot_cap = cap;
	return 0;
}

/* ---- grid ---- */

/* Rows may hold at most about four cells per record, and 16 MiB of cells
 * besides, so that a trace written layer by layer starts as a grid too. */
#define GRID_SLACK ((int64_t)1 << 22)

static int grid(const struct qdb_rec_index *x) { return x->n_layers > 0; }

static void drop_rows(struct qdb_rec_index *x)
{
	for (int i = 0; i < x->n_rows; i++)
		qdb_free(x->rows[i]);
	qdb_free(x->rows);
	x->rows = NULL;
	x->n_rows = 0;
	x->n_layers = 0;
	x->cells = 0;
}

/* From grid to hash table: 0, or -1 (still a grid). */
static int to_hash(struct qdb_rec_index *x)
{
	if (rehash(x))
		return -1;
	drop_rows(x);
	return 0;
}

/* The row of `sample` for a new record: the row, NULL with *rc = 0 when
 * the index turned into a hash table, or NULL with *rc = -1 (no memory). */
static int32_t *grid_row(struct qdb_rec_index *x, int sample, int layer, int *rc)
{
	*rc = 0;
	if (sample < 0 || sample >= INT32_MAX / 2 || layer < 0 || layer >= x->n_layers) {
		*rc = to_hash(x);
		return NULL;
	}
	if (sample < x->n_rows && x->rows[sample])
		return x->rows[sample];
	if (x->cells + x->n_layers > 4 * ((int64_t)x->n + 1) + GRID_SLACK) {
		*rc = to_hash(x);
		return NULL;
	}
	if (sample >= x->n_rows) {
		int n = x->n_rows ? x->n_rows : 8;
		while (n <= sample) /* sample < 2^30: no overflow */
			n *= 2;
		int32_t **rows = qdb_realloc(x->rows, (size_t)n * sizeof *rows);
		if (!rows) {
			*rc = -1;
			return NULL;
		}
		memset(rows + x->n_rows, 0, (size_t)(n - x->n_rows) * sizeof *rows);
		x->rows = rows;
		x->n_rows = n;
	}
	if (!(x->rows[sample] = qdb_calloc((size_t)x->n_layers, sizeof **x->rows))) {
		*rc = -1;
		return NULL;
	}
	x->cells += x->n_layers;
	return x->rows[sample];
}

/* ---- both ---- */

void qdb_rec_index_grid(struct qdb_rec_index *x, int n_layers)
{
	if (x->n == 0 && !x->slot_cap && n_layers > 0)
		x->n_layers = n_layers;
}

int qdb_rec_find(const struct qdb_rec_index *x, int sample, int layer)
{
	size_t at;
	if (grid(x)) {
		if (sample < 0 || sample >= x->n_rows || !x->rows[sample] || layer < 0 ||
		    layer >= x->n_layers)
			return -1;
		return x->rows[sample][layer] - 1;
	}
	if (!x->slot_cap)
		return -1;
	return probe(x, sample, layer, pair_hash(sample, layer), &at);
}

void qdb_rec_prefetch(const struct qdb_rec_index *x, int sample, int layer)
{
	if (grid(x)) {
		if (sample >= 0 && sample < x->n_rows && x->rows[sample] && layer >= 0 &&
		    layer < x->n_layers)
			__builtin_prefetch(&x->rows[sample][layer]);
	} else if (x->slot_cap) {
		__builtin_prefetch(&x->slot[pair_hash(sample, layer) & (x->slot_cap - 1)]);
	}
}

int qdb_rec_add_new(struct qdb_rec_index *x, int sample, int layer, uint64_t off, uint64_t len,
		    int *dup)
{
	int rc;
	if (x->n >= INT32_MAX - 1 || qdb_grow(&x->recs, x->n, &x->cap, sizeof *x->recs))
		return -1;
	if (grid(x)) {
		int32_t *row = grid_row(x, sample, layer, &rc);
		if (rc)
			return -1;
		if (row) {
			if (row[layer]) {
				*dup = row[layer] - 1;
				return 1;
			}
			row[layer] = x->n + 1;
			x->recs[x->n++] = (struct qdb_rec){off, len, sample, layer};
			return 0;
		}
	}
	if ((size_t)x->n + 1 > x->slot_cap / 2 && rehash(x))
		return -1;
	uint64_t h = pair_hash(sample, layer);
	size_t at;
	int r = probe(x, sample, layer, h, &at);
	if (r >= 0) {
		*dup = r;
		return 1;
	}
	x->slot[at] = TAG(h) << 32 | (uint32_t)(x->n + 1);
	x->recs[x->n++] = (struct qdb_rec){off, len, sample, layer};
	return 0;
}

int qdb_rec_add(struct qdb_rec_index *x, int sample, int layer, uint64_t off, uint64_t len)
{
	int dup, rc = qdb_rec_add_new(x, sample, layer, off, len, &dup);
	return rc < 0 ? -1 : rc ? dup : x->n - 1;
}

void qdb_rec_index_done(struct qdb_rec_index *x)
{
	drop_rows(x);
	qdb_free(x->recs);
	qdb_free(x->slot);
	memset(x, 0, sizeof *x);
}

int qdb_stream_parse(const unsigned char *data, size_t size, const struct qdb_stream_ops *ops,
		     void *ctx, struct qdb_err *err)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc, n;
	if (size == 0)
		return qdb_err_set(err, QDB_EFORMAT, "header: empty file");
	msgpack_unpacked_init(&u);
	if ((rc = qdb_mp_next(&u, data, size, &off, err)) || (rc = ops->header(ctx, &u.data, err))) {
		qdb_mp_fail(rc, err, "header");
		goto out;
	}
	for (n = 0; off < size; n++) {
		size_t start = off;
		if (n == INT32_MAX - 1) {
			rc = qdb_err_set(err, QDB_EFORMAT, "record %d: too many records", n);
			goto out;
		}
		if ((rc = qdb_mp_next(&u, data, size, &off, err))) {
			qdb_mp_fail(rc, err, "record %d", n);
			goto out;
		}
		if ((rc = ops->record(ctx, &u.data, n, start, off - start, err)))
			goto out;
	}
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

int qdb_record_field(const unsigned char *data, uint64_t off, uint64_t len, const char *key,
		     msgpack_unpacked *u, const msgpack_object **out, struct qdb_err *err)
{
	size_t pos = 0;
	int rc = qdb_mp_next(u, data + off, len, &pos, err);
	if (!rc && (rc = qdb_mp_check_map(&u->data, NULL, err)) == QDB_OK)
		rc = qdb_mp_get(&u->data, key, 1, out, err);
	return rc;
}

