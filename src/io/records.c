/* records.c - the (sample, layer) -> record index and record re-decoding. */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "io/hidx.h"
#include "io/mp.h"
#include "io/records.h"

static uint64_t pair_hash(int32_t s, int32_t l)
{
	return qdb_hash_u64(((uint64_t)(uint32_t)s << 32) | (uint32_t)l);
}

static uint64_t rec_hash(const void *ctx, int i)
{
	const struct qdb_rec *r = &((const struct qdb_rec_index *)ctx)->recs[i];
	return pair_hash(r->sample, r->layer);
}

static int rec_eq(const void *ctx, int i, const void *key)
{
	const struct qdb_rec *r = &((const struct qdb_rec_index *)ctx)->recs[i];
	const int32_t *k = key;
	return r->sample == k[0] && r->layer == k[1];
}

int qdb_rec_find(const struct qdb_rec_index *x, int sample, int layer)
{
	int32_t k[2] = {sample, layer};
	return qdb_hidx_find(x->slot, x->slot_cap, pair_hash(sample, layer), rec_eq, x, k);
}

int qdb_rec_add(struct qdb_rec_index *x, int sample, int layer, uint64_t off, uint64_t len)
{
	if (qdb_grow(&x->recs, x->n, &x->cap, sizeof *x->recs))
		return -1;
	x->recs[x->n] = (struct qdb_rec){off, len, sample, layer};
	x->n++;
	if (qdb_hidx_add(&x->slot, &x->slot_cap, x->n, pair_hash(sample, layer), rec_hash, x) < 0) {
		x->n--;
		return -1;
	}
	return x->n - 1;
}

void qdb_rec_index_done(struct qdb_rec_index *x)
{
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

