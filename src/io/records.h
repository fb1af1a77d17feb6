/* records.h - where records live in a mapped stream file (internal to io).
 *
 * A stream file (.qtr, .qds) is a header object followed by record
 * objects. Readers remember each record's byte range and decode it again
 * on demand. struct qdb_rec_index maps (sample, layer) numbers to records
 * with a hash index; it owns its arrays (qdb_rec_index_done).
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
	int *slot, slot_cap;
};

/* Record number of (sample, layer), or -1. */
int qdb_rec_find(const struct qdb_rec_index *x, int sample, int layer);
/* Appends a record; its number, or -1 when out of memory. */
int qdb_rec_add(struct qdb_rec_index *x, int sample, int layer, uint64_t off, uint64_t len);
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
