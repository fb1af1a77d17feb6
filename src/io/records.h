/* records.h - where records live in a mapped stream file (internal to io).
 *
 * A stream file (.qtr, .qds) is a header object followed by record
 * objects. Readers remember each record's byte range and decode it again
 * on demand. struct qdb_rec_index maps (sample, layer) numbers to records;
 * it owns its arrays (qdb_rec_index_done). Sample and layer numbers are
 * small and dense, so a reader that knows its layers (qdb_rec_index_grid)
 * gets a grid: one row of record numbers per sample, found in one step
 * (and filled in sequence when a trace is written sample by sample). When the rows would be mostly empty (few layers
 * per sample) the index turns into a hash table, whose slots carry 32 bits
 * of the key's hash beside the record number: adding a record, or finding
 * that its key is new, reads the slot array only (one cache miss).
 */
#ifndef QDB_RECORDS_H
#define QDB_RECORDS_H

#include <msgpack.h>
#include <stdint.h>

#include "base/err.h"

struct qdb_rec {
	uint64_t off, len;     /* byte range of the record object */
	int32_t sample, layer;
};

struct qdb_rec_index {
	struct qdb_rec *recs;
	int n, cap;
	/* grid, while n_layers > 0: rows[sample][layer] = record number + 1
	 * (0: none; a row is NULL until its sample's first record) */
	int32_t **rows;
	int n_rows;      /* length of rows */
	int n_layers;
	int64_t cells;   /* allocated row cells */
	/* hash table otherwise */
	uint64_t *slot;  /* hash tag << 32 | record number + 1; 0: empty */
	size_t slot_cap; /* a power of two, at least 2 n (0: no table yet) */
};

/* Before the first add: layers are numbered below n_layers; index them in
 * a grid while it is dense enough (else, and by default, a hash table). */
void qdb_rec_index_grid(struct qdb_rec_index *x, int n_layers);

/* Record number of (sample, layer), or -1. */
int qdb_rec_find(const struct qdb_rec_index *x, int sample, int layer);
/* Appends a record (callers add a key once); its number, or -1 when out
 * of memory. */
int qdb_rec_add(struct qdb_rec_index *x, int sample, int layer, uint64_t off, uint64_t len);
/* Appends a record unless (sample, layer) is indexed already: 0 when
 * added, 1 when record *dup has that key (nothing added), -1 when out of
 * memory. One lookup either way. */
int qdb_rec_add_new(struct qdb_rec_index *x, int sample, int layer, uint64_t off, uint64_t len,
		    int *dup);
/* Asks the CPU for the cell or slot of (sample, layer) ahead of an add or
 * find (a hint: it changes nothing). */
void qdb_rec_prefetch(const struct qdb_rec_index *x, int sample, int layer);
void qdb_rec_index_done(struct qdb_rec_index *x);

/* Walks a stream file: decodes the header object, then every record to the
 * end of the data, calling the ops. Errors get the position as prefix:
 * "header", or "record N" (numbered from 0) for records that are not
 * MessagePack; the record op adds its own (it knows sample and layer). */
struct qdb_stream_ops {
	int (*header)(void *ctx, const msgpack_object *h, struct qdb_err *err);
	int (*record)(void *ctx, const msgpack_object *r, int n, uint64_t off, uint64_t len,
		      struct qdb_err *err);
};
int qdb_stream_parse(const unsigned char *data, size_t size, const struct qdb_stream_ops *ops,
		     void *ctx, struct qdb_err *err);

/* Decodes the record at data[off, off+len) into u and finds its field
 * `key` (required). */
int qdb_record_field(const unsigned char *data, uint64_t off, uint64_t len, const char *key,
		     msgpack_unpacked *u, const msgpack_object **out, struct qdb_err *err);

#endif
