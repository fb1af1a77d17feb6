/* trace.c - .qtr traces: a header object, then {sample, layer, tensor}
 * records, all MessagePack (man/qdb-formats.5).
 *
 * The reader keeps per record only its byte range and (sample, layer)
 * numbers, about 40 bytes with the hash slots, and re-decodes a record's
 * tensor when asked: memory follows the record count, never payload bytes.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "io/file.h"
#include "io/hidx.h"
#include "io/ids.h"
#include "io/mp.h"
#include "io/records.h"
#include "io/tensor_mp.h"
#include "io/trace.h"

struct qdb_trace {
	char *path;
	struct qdb_map map; /* empty when parsed from memory */
	const unsigned char *data;
	size_t size;
	char *stage, *model, *producer;
	struct qdb_trace_layer *layers;
	int n_layers;
	int *layer_slot, layer_cap;
	struct qdb_idtab samples;
	struct qdb_rec_index recs;
	/* while opening: the previous record's sample and layer, how far the
	 * walked pages were given back, and whether the rest of the file is
	 * read without readahead (see walk_pages) */
	struct qdb_id_key last_key;
	int last_sample, last_layer;
	size_t released;
	int no_readahead;
};

/* --- reading --- */

static int nomem(struct qdb_err *err) { return qdb_err_set(err, QDB_ENOMEM, "out of memory"); }

static const struct qdb_name_items *layer_items(const struct qdb_trace *t, struct qdb_name_items *it)
{
	it->base = t->layers;
	it->stride = sizeof *t->layers;
	return it;
}

static int find_layer_n(const struct qdb_trace *t, const char *s, size_t n)
{
	struct qdb_name_items it;
	return qdb_name_find(t->layer_slot, t->layer_cap, layer_items(t, &it), s, n);
}

/* scale / zero_point of a qstate entry: a number or an array of them, of
 * which the layer keeps the first (and the number of scales). */
static int read_qstate_numbers(const msgpack_object *o, int ints, struct qdb_trace_layer *l,
			       struct qdb_err *err)
{
	double *s = NULL;
	int64_t *z = NULL;
	int32_t n;
	int rc = ints ? qdb_mp_read_numbers(o, "zero_point", 1, &n, NULL, &z, err)
		      : qdb_mp_read_scales(o, &n, &s, err);
	if (rc)
		return rc;
	if (ints) {
		l->qs_zero_point = z[0];
	} else {
		l->qs_scale = s[0];
		l->qs_nscale = n;
	}
	qdb_free(s);
	qdb_free(z);
	return QDB_OK;
}

static int parse_qstate(struct qdb_trace *t, const msgpack_object *qs, struct qdb_err *err)
{
	int rc = qdb_mp_check_map(qs, "qstate", err);
	for (uint32_t i = 0; !rc && i < qs->via.map.size; i++) {
		const msgpack_object_kv *kv = &qs->via.map.ptr[i];
		char name[64];
		qdb_mp_excerpt(&kv->key, name, sizeof name);
		int li = find_layer_n(t, kv->key.via.str.ptr, kv->key.via.str.size);
		if (li < 0)
			return qdb_err_set(err, QDB_EFORMAT, "qstate: \"%s\" is not a layer", name);
		struct qdb_trace_layer *l = &t->layers[li];
		const msgpack_object *v;
		l->has_qstate = 1;
		if ((rc = qdb_mp_check_map(&kv->val, NULL, err)) ||
		    (rc = qdb_mp_get(&kv->val, "fake_quant", 1, &v, err)) ||
		    (rc = qdb_mp_as_bool(v, "fake_quant", &l->fake_quant, err)) ||
		    (rc = qdb_mp_get(&kv->val, "observer", 1, &v, err)) ||
		    (rc = qdb_mp_as_bool(v, "observer", &l->observer, err)) ||
		    (rc = qdb_mp_get(&kv->val, "scale", 0, &v, err)) ||
		    (v && (rc = read_qstate_numbers(v, 0, l, err))) ||
		    (rc = qdb_mp_get(&kv->val, "zero_point", 0, &v, err)) ||
		    (v && (rc = read_qstate_numbers(v, 1, l, err))))
			return qdb_mp_fail(rc, err, "qstate: %s", name);
	}
	return rc;
}

static int parse_layers(struct qdb_trace *t, const msgpack_object *a, struct qdb_err *err)
{
	int rc = qdb_mp_as_array(a, "layers", err);
	if (rc)
		return rc;
	uint32_t n = a->via.array.size;
	if (!(t->layers = qdb_calloc(n, sizeof *t->layers)))
		return nomem(err);
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];
		struct qdb_trace_layer *l = &t->layers[i];
		t->n_layers = (int)i + 1; /* l's strings are freed with the trace */
		if ((rc = qdb_mp_check_map(o, NULL, err)) ||
		    (rc = qdb_mp_get_strdup(o, "name", 1, NULL, &l->name, err)) ||
		    (rc = qdb_mp_get_strdup(o, "op", 0, "", &l->op, err)))
			return qdb_mp_fail(rc, err, "layers[%u]", i);
		size_t len = strlen(l->name);
		int dup = find_layer_n(t, l->name, len);
		if (len == 0)
			return qdb_err_set(err, QDB_EFORMAT, "layers[%u]: name: empty", i);
		if (dup >= 0) {
			char ex[64];
			return qdb_err_set(err, QDB_EFORMAT, "layers[%u]: duplicate layer \"%s\" (also layers[%d])",
					   i, qdb_mp_printable(l->name, len, ex, sizeof ex), dup);
		}
		struct qdb_name_items it;
		if (qdb_hidx_add(&t->layer_slot, &t->layer_cap, t->n_layers,
				 qdb_hash_bytes(l->name, len), qdb_name_items_hash, layer_items(t, &it)) < 0)
			return nomem(err);
	}
	return QDB_OK;
}

static int parse_header(void *ctx, const msgpack_object *h, struct qdb_err *err)
{
	struct qdb_trace *t = ctx;
	const msgpack_object *v;
	int rc;
	if ((rc = qdb_mp_check_format(h, "qdb.trace", NULL, err)) ||
	    (rc = qdb_mp_get_strdup(h, "stage", 1, NULL, &t->stage, err)) ||
	    (rc = qdb_mp_get_strdup(h, "model", 0, "", &t->model, err)) ||
	    (rc = qdb_mp_get_strdup(h, "producer", 0, "", &t->producer, err)) ||
	    (rc = qdb_mp_get(h, "layers", 1, &v, err)) || (rc = parse_layers(t, v, err)) ||
	    (rc = qdb_mp_get(h, "qstate", 0, &v, err)))
		return rc;
	qdb_rec_index_grid(&t->recs, t->n_layers);
	return v ? parse_qstate(t, v, err) : QDB_OK;
}

/* Walking the record headers touches a page or so per record, and the
 * kernel maps the cached pages around each one too (fault-around): a
 * trace of 100 KB records would end up half mapped. The walked part is
 * given back every RELEASE_STEP bytes (and all of it at the end); the
 * page cache keeps it, and a later read maps it again. */
enum { RELEASE_STEP = 16 << 20 };

static void release_walked(struct qdb_trace *t, size_t upto, int all)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t end = all ? upto : upto / page * page;
	if (!t->map.data || end <= t->released || (!all && end - t->released < RELEASE_STEP))
		return;
	(void)madvise((void *)(t->map.data + t->released), end - t->released, MADV_DONTNEED);
	t->released = end;
}

/* Records of BIG_RECORD bytes or more on average (judged at the 8th,
 * 16th, 32nd, ... record) are walked without readahead (MADV_RANDOM):
 * only their header pages are read from a cold file, not the payloads.
 * Smaller records fill the pages anyway, and there readahead is what
 * keeps a cold walk fast (MADV_RANDOM made it 1.6x slower). */
enum { BIG_RECORD = 1 << 20 };

static void walk_pages(struct qdb_trace *t, int n, uint64_t off, uint64_t len)
{
	release_walked(t, (size_t)off, 0);
	if (!t->map.data || t->no_readahead || n < 8 || (n & (n - 1)))
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), next = (size_t)(off + len);
	size_t from = (next + page - 1) / page * page;
	if (next / ((size_t)n + 1) >= BIG_RECORD && from < t->map.size) {
		(void)madvise((void *)(t->map.data + from), t->map.size - from, MADV_RANDOM);
		t->no_readahead = 1;
	}
}

static int same_key(const struct qdb_id_key *a, const struct qdb_id_key *b)
{
	if (a->is_str != b->is_str)
		return 0;
	return a->is_str ? a->len == b->len && memcmp(a->s, b->s, a->len) == 0 : a->num == b->num;
}

/* Records of one sample usually follow each other: the previous record's
 * sample is tried before the table. */
static int intern_sample(struct qdb_trace *t, const struct qdb_id_key *k)
{
	if (t->last_sample >= 0 && same_key(k, &t->last_key))
		return t->last_sample;
	int s = qdb_idtab_intern(&t->samples, k);
	if (s >= 0) {
		t->last_key = *k;
		t->last_sample = s;
	}
	return s;
}

/* The checks of qdb_tensor_mp_read, without its messages: that reader
 * names every element it reads ("shape[2]", "scale[17]") with snprintf
 * before it knows of any error, which was most of the time spent opening
 * a trace of small records. This says 1 only for an object that
 * qdb_tensor_mp_read accepts (the same rules, in the same terms); for
 * anything else, or a form it does not handle, it says 0 and the record
 * goes through qdb_tensor_mp_read, which decides and words the error.
 * Keep the two in step: tests/fuzz/fuzz_trace.c aborts when a record
 * indexed here cannot be read back by qdb_tensor_mp_read. */
static int num_int(const msgpack_object *o, int64_t *out)
{
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return 1;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > (uint64_t)INT64_MAX)
		return 0;
	*out = (int64_t)o->via.u64;
	return 1;
}

static int num_double(const msgpack_object *o, double *out)
{
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 1;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 1;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 1;
	default: return 0;
	}
}

/* A number or a non-empty array of numbers: its count, or 0. */
static uint32_t num_count(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 1;
}

static const msgpack_object *num_at(const msgpack_object *o, uint32_t i)
{
	return o->type == MSGPACK_OBJECT_ARRAY ? &o->via.array.ptr[i] : o;
}

static int tensor_plainly_valid(const msgpack_object *o)
{
	static const struct {
		const char *s;
		uint32_t n;
	} keys[] = {{"dtype", 5}, {"shape", 5}, {"data", 4}, {"scale", 5},
		    {"zero_point", 10}, {"axis", 4}, {"qmin", 4}, {"qmax", 4}};
	enum { DTYPE, SHAPE, DATA, SCALE, ZP, AXIS, QMIN, QMAX, NKEYS };
	const msgpack_object *f[NKEYS] = {NULL};
	if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > NKEYS)
		return 0;
	const msgpack_object_kv *kv = o->via.map.ptr;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &kv[i].key;
		int which = -1;
		if (k->type != MSGPACK_OBJECT_STR)
			return 0;
		for (int j = 0; j < NKEYS && which < 0; j++)
			if (k->via.str.size == keys[j].n && memcmp(k->via.str.ptr, keys[j].s, keys[j].n) == 0)
				which = j;
		if (which < 0 || f[which])
			return 0; /* another key, or a duplicate: the full reader */
		f[which] = &kv[i].val;
	}
	/* optional fields: nil is absent */
	for (int j = SCALE; j < NKEYS; j++)
		if (f[j] && f[j]->type == MSGPACK_OBJECT_NIL)
			f[j] = NULL;

	enum qdb_dtype dtype;
	if (!f[DTYPE] || f[DTYPE]->type != MSGPACK_OBJECT_STR || !f[DTYPE]->via.str.size ||
	    memchr(f[DTYPE]->via.str.ptr, 0, f[DTYPE]->via.str.size) ||
	    qdb_dtype_parse(f[DTYPE]->via.str.ptr, f[DTYPE]->via.str.size, &dtype))
		return 0;
	const msgpack_object *sh = f[SHAPE];
	int64_t shape[QDB_MAX_RANK];
	if (!sh || sh->type != MSGPACK_OBJECT_ARRAY || sh->via.array.size > QDB_MAX_RANK)
		return 0;
	int rank = (int)sh->via.array.size;
	for (int i = 0; i < rank; i++)
		if (!num_int(&sh->via.array.ptr[i], &shape[i]) || shape[i] < 0)
			return 0;
	int64_t numel = qdb_shape_numel(rank, shape);
	size_t need;
	if (numel < 0 || !f[DATA] || f[DATA]->type != MSGPACK_OBJECT_BIN ||
	    qdb_mul_size((size_t)numel, qdb_dtype_size(dtype), &need) || need != f[DATA]->via.bin.size)
		return 0;

	if (!f[SCALE])
		return !f[ZP] && !f[AXIS] && !f[QMIN] && !f[QMAX];
	uint32_t ns = num_count(f[SCALE]);
	if (ns == 0 || ns > INT32_MAX)
		return 0;
	for (uint32_t i = 0; i < ns; i++) {
		double s;
		if (!num_double(num_at(f[SCALE], i), &s) || !isfinite(s) || !(s > 0))
			return 0;
	}
	uint32_t nz = f[ZP] ? num_count(f[ZP]) : 0;
	if (f[ZP] && (nz == 0 || nz > INT32_MAX || (f[ZP]->type == MSGPACK_OBJECT_ARRAY && nz != ns)))
		return 0;
	int64_t qmin = INT64_MIN, qmax = INT64_MAX;
	if ((f[QMIN] && !num_int(f[QMIN], &qmin)) || (f[QMAX] && !num_int(f[QMAX], &qmax)) ||
	    qmin > qmax || (f[QMIN] && qmin < qdb_dtype_min(dtype)) ||
	    (f[QMAX] && qmax > qdb_dtype_max(dtype)))
		return 0;
	struct qdb_quant q;
	int64_t rlo, rhi;
	qdb_quant_init(&q);
	q.qmin = qmin;
	q.qmax = qmax;
	qdb_quant_range(&q, dtype, &rlo, &rhi);
	int64_t zlo = qdb_dtype_is_int(dtype) ? rlo : INT32_MIN;
	int64_t zhi = qdb_dtype_is_int(dtype) ? rhi : INT32_MAX;
	for (uint32_t i = 0; i < nz; i++) {
		int64_t z;
		if (!num_int(num_at(f[ZP], i), &z) || z < zlo || z > zhi)
			return 0;
	}
	if (!f[ZP] && (0 < zlo || 0 > zhi))
		return 0;
	int64_t axis = -1;
	if (f[AXIS] && !num_int(f[AXIS], &axis))
		return 0;
	if (ns > 1) {
		if (!f[AXIS])
			return 0;
		if (axis < 0 && axis >= -rank)
			axis += rank;
		if (axis < 0 || axis >= rank || shape[axis] != (int64_t)ns)
			return 0;
	}
	return 1;
}

/* Records usually follow the header's layer order: the layer after the
 * previous record's (or the first) is tried before the hash index. */
static int record_layer(struct qdb_trace *t, const char *s, size_t n)
{
	int next = t->last_layer + 1 < t->n_layers ? t->last_layer + 1 : 0;
	const char *name = next < t->n_layers ? t->layers[next].name : NULL;
	/* s has no NUL byte, so strncmp stops at a shorter name's end */
	int layer = name && strncmp(name, s, n) == 0 && name[n] == '\0' ? next : find_layer_n(t, s, n);
	if (layer >= 0)
		t->last_layer = layer;
	return layer;
}

/* Message parts: only formatted when there is an error to report. */
#define SAMPLE_STR(k) qdb_id_key_str(k, sbuf, sizeof sbuf)
#define LAYER_STR() qdb_mp_printable(lname, lnlen, lbuf, sizeof lbuf)

static int parse_record(void *ctx, const msgpack_object *o, int n, uint64_t off, uint64_t len,
			struct qdb_err *err)
{
	struct qdb_trace *t = ctx;
	const msgpack_object *v;
	struct qdb_id_key k;
	const char *lname;
	size_t lnlen;
	char sbuf[48], lbuf[64];
	int rc, dup;
	walk_pages(t, n, off, len);
	if ((rc = qdb_mp_check_map(o, NULL, err)) || (rc = qdb_mp_get(o, "sample", 1, &v, err)) ||
	    (rc = qdb_id_key_read(v, "sample", &k, err)))
		return qdb_mp_fail(rc, err, "record %d", n);
	if ((rc = qdb_mp_get(o, "layer", 1, &v, err)) || (rc = qdb_mp_as_str(v, "layer", &lname, &lnlen, err)))
		return qdb_mp_fail(rc, err, "record %d (sample %s)", n, SAMPLE_STR(&k));
	int layer = record_layer(t, lname, lnlen);
	if (layer < 0)
		return qdb_err_set(err, QDB_EFORMAT,
				   "record %d (sample %s): layer: \"%s\" is not in the header's layers", n,
				   SAMPLE_STR(&k), LAYER_STR());
	/* Interning first changes nothing visible: an error below fails the
	 * whole open. The index slot is fetched while the tensor is checked. */
	int sample = intern_sample(t, &k);
	if (sample < 0)
		return nomem(err);
	qdb_rec_prefetch(&t->recs, sample, layer);
	if ((rc = qdb_mp_get(o, "tensor", 1, &v, err)))
		return qdb_mp_fail(rc, err, "record %d (sample %s, layer %s)", n, SAMPLE_STR(&k),
				   LAYER_STR());
	if (!tensor_plainly_valid(v)) {
		struct qdb_tensor tmp;
		qdb_tensor_init(&tmp);
		if ((rc = qdb_tensor_mp_read(v, &tmp, err)))
			return qdb_mp_fail(rc, err, "record %d (sample %s, layer %s): tensor", n,
					   SAMPLE_STR(&k), LAYER_STR());
		qdb_tensor_done(&tmp);
	}
	if ((rc = qdb_rec_add_new(&t->recs, sample, layer, off, len, &dup)) < 0)
		return nomem(err);
	if (rc)
		return qdb_err_set(err, QDB_EFORMAT,
				   "record %d (sample %s, layer %s): duplicate of record %d", n,
				   SAMPLE_STR(&k), LAYER_STR(), dup);
	return QDB_OK;
}

#undef SAMPLE_STR
#undef LAYER_STR

/* Reads the trace in data[0, len), or with map set the file `name`. */
static int trace_read(const char *name, int map, const void *data, size_t len,
		      struct qdb_trace **out, struct qdb_err *err)
{
	static const struct qdb_stream_ops ops = {parse_header, parse_record};
	struct qdb_trace *t = qdb_calloc(1, sizeof *t); /* calloc: empty tables */
	int rc;
	*out = NULL;
	if (!t)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", name);
	if (map && (rc = qdb_map_open(&t->map, name, err))) {
		qdb_free(t);
		return rc;
	}
	t->data = map ? t->map.data : data;
	t->size = map ? t->map.size : len;
	t->last_sample = t->last_layer = -1;
	if (!(t->path = qdb_strdup(name)))
		rc = nomem(err);
	else
		rc = qdb_stream_parse(t->data, t->size, &ops, t, err);
	release_walked(t, t->size, 1);
	if (t->no_readahead) /* the payloads are read next: normal access */
		(void)madvise((void *)t->map.data, t->map.size, MADV_NORMAL);
	if (rc) {
		qdb_mp_fail(rc, err, "%s", name);
		qdb_trace_close(t);
		return rc;
	}
	*out = t;
	return QDB_OK;
}

int qdb_trace_parse(const void *data, size_t len, const char *name, struct qdb_trace **out,
		    struct qdb_err *err)
{
	return trace_read(name, 0, data, len, out, err);
}

int qdb_trace_open(const char *path, struct qdb_trace **out, struct qdb_err *err)
{
	return trace_read(path, 1, NULL, 0, out, err);
}

void qdb_trace_close(struct qdb_trace *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n_layers; i++) {
		qdb_free(t->layers[i].name);
		qdb_free(t->layers[i].op);
	}
	qdb_free(t->layers);
	qdb_free(t->layer_slot);
	qdb_idtab_done(&t->samples);
	qdb_rec_index_done(&t->recs);
	qdb_free(t->stage);
	qdb_free(t->model);
	qdb_free(t->producer);
	qdb_free(t->path);
	qdb_map_close(&t->map);
	qdb_free(t);
}

const char *qdb_trace_path(const struct qdb_trace *t) { return t->path; }
const char *qdb_trace_stage(const struct qdb_trace *t) { return t->stage; }
const char *qdb_trace_model(const struct qdb_trace *t) { return t->model; }
const char *qdb_trace_producer(const struct qdb_trace *t) { return t->producer; }
int qdb_trace_n_layers(const struct qdb_trace *t) { return t->n_layers; }

const struct qdb_trace_layer *qdb_trace_layer(const struct qdb_trace *t, int i)
{
	return i >= 0 && i < t->n_layers ? &t->layers[i] : NULL;
}

int qdb_trace_find_layer(const struct qdb_trace *t, const char *name)
{
	return find_layer_n(t, name, strlen(name));
}

int qdb_trace_n_samples(const struct qdb_trace *t) { return t->samples.n; }

const struct qdb_sample_id *qdb_trace_sample(const struct qdb_trace *t, int i)
{
	return i >= 0 && i < t->samples.n ? &t->samples.ids[i] : NULL;
}

int qdb_trace_find_sample(const struct qdb_trace *t, const struct qdb_sample_id *id)
{
	struct qdb_id_key k;
	qdb_id_key_of(&k, id);
	return qdb_idtab_find(&t->samples, &k);
}

int qdb_trace_find_sample_str(const struct qdb_trace *t, const char *s)
{
	return qdb_sample_find_str(&t->samples, s);
}

int64_t qdb_trace_n_records(const struct qdb_trace *t) { return t->recs.n; }

int qdb_trace_has(const struct qdb_trace *t, int sample, int layer)
{
	return qdb_rec_find(&t->recs, sample, layer) >= 0;
}

int qdb_trace_get(const struct qdb_trace *t, int sample, int layer, struct qdb_tensor *out,
		  struct qdb_err *err)
{
	int ri = qdb_rec_find(&t->recs, sample, layer);
	if (ri < 0) {
		char sb[48];
		const struct qdb_sample_id *id = qdb_trace_sample(t, sample);
		const struct qdb_trace_layer *l = qdb_trace_layer(t, layer);
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: no record for sample %s, layer %s", t->path,
				   id ? qdb_sample_id_str(id, sb, sizeof sb) : "?", l ? l->name : "?");
	}
	msgpack_unpacked u;
	const msgpack_object *v;
	msgpack_unpacked_init(&u);
	const struct qdb_rec *r = &t->recs.recs[ri];
	int rc = qdb_record_field(t->data, r->off, r->len, "tensor", &u, &v, err);
	if (!rc)
		rc = qdb_tensor_mp_read(v, out, err);
	msgpack_unpacked_destroy(&u);
	if (rc)
		qdb_err_prefix(err, "%s: record %d", t->path, ri);
	return rc;
}

/* --- writing --- */

struct qdb_trace_writer {
	struct qdb_atomic a;
	msgpack_packer pk;
	char **layers; /* names: a struct with one char * member, for qdb_name_find */
	int n_layers;
	int *layer_slot, layer_cap;
	struct qdb_idtab samples;
	struct qdb_rec_index recs;
};

static void writer_free(struct qdb_trace_writer *w)
{
	for (int i = 0; i < w->n_layers; i++)
		qdb_free(w->layers[i]);
	qdb_free(w->layers);
	qdb_free(w->layer_slot);
	qdb_idtab_done(&w->samples);
	qdb_rec_index_done(&w->recs);
	qdb_free(w);
}

static int writer_find_layer(const struct qdb_trace_writer *w, const char *s)
{
	struct qdb_name_items it = {w->layers, sizeof *w->layers};
	return qdb_name_find(w->layer_slot, w->layer_cap, &it, s, strlen(s));
}

static int writer_add_layer(struct qdb_trace_writer *w, const char *name, const char *path,
			    struct qdb_err *err)
{
	if (!name || !*name)
		return qdb_err_set(err, QDB_EINVAL, "%s: layer %d has no name", path, w->n_layers);
	if (writer_find_layer(w, name) >= 0)
		return qdb_err_set(err, QDB_EINVAL, "%s: duplicate layer \"%s\"", path, name);
	if (!(w->layers[w->n_layers] = qdb_strdup(name)))
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	w->n_layers++;
	struct qdb_name_items it = {w->layers, sizeof *w->layers};
	if (qdb_hidx_add(&w->layer_slot, &w->layer_cap, w->n_layers, qdb_hash_bytes(name, strlen(name)),
			 qdb_name_items_hash, &it) < 0)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	return QDB_OK;
}

static int write_header(struct qdb_trace_writer *w, const struct qdb_trace_header *h)
{
	msgpack_packer *pk = &w->pk;
	int nq = 0;
	for (int i = 0; h->qstate && i < h->n_layers; i++)
		nq += h->qstate[i].has_qstate != 0;
	int rc = msgpack_pack_map(pk, 6 + (nq > 0));
	rc |= qdb_mp_pack_kv_str(pk, "format", "qdb.trace");
	rc |= qdb_mp_pack_kv_int(pk, "version", 1);
	rc |= qdb_mp_pack_kv_str(pk, "stage", h->stage ? h->stage : "");
	rc |= qdb_mp_pack_kv_str(pk, "model", h->model ? h->model : "");
	rc |= qdb_mp_pack_kv_str(pk, "producer", h->producer ? h->producer : "");
	rc |= qdb_mp_pack_str(pk, "layers") | msgpack_pack_array(pk, (size_t)h->n_layers);
	for (int i = 0; i < h->n_layers; i++) {
		rc |= msgpack_pack_map(pk, 2);
		rc |= qdb_mp_pack_kv_str(pk, "name", h->layer_names[i]);
		rc |= qdb_mp_pack_kv_str(pk, "op", h->layer_ops && h->layer_ops[i] ? h->layer_ops[i] : "");
	}
	if (nq) {
		rc |= qdb_mp_pack_str(pk, "qstate") | msgpack_pack_map(pk, (size_t)nq);
		for (int i = 0; i < h->n_layers; i++) {
			const struct qdb_trace_layer *q = &h->qstate[i];
			if (!q->has_qstate)
				continue;
			/* Only the first scale and zero point are kept in
			 * struct qdb_trace_layer, so that is what is written. */
			rc |= qdb_mp_pack_str(pk, h->layer_names[i]);
			rc |= msgpack_pack_map(pk, 2 + 2 * (q->qs_nscale > 0));
			rc |= qdb_mp_pack_str(pk, "fake_quant");
			rc |= q->fake_quant ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
			rc |= qdb_mp_pack_str(pk, "observer");
			rc |= q->observer ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
			if (q->qs_nscale > 0) {
				rc |= qdb_mp_pack_str(pk, "scale") | msgpack_pack_double(pk, q->qs_scale);
				rc |= qdb_mp_pack_kv_int(pk, "zero_point", q->qs_zero_point);
			}
		}
	}
	return rc;
}

/* Append mode: the new file starts as a copy of the old one, and the
 * writer learns its layers, samples and records so duplicates are refused. */
static int writer_seed(struct qdb_trace_writer *w, const char *path, const struct qdb_trace_header *h,
		       struct qdb_trace **oldp, struct qdb_err *err)
{
	struct qdb_trace *old;
	int rc = qdb_trace_open(path, &old, err);
	if (rc)
		return rc;
	*oldp = old;
	if (h && h->n_layers != old->n_layers)
		return qdb_err_set(err, QDB_EINVAL, "%s: append: %d layers given, the trace has %d",
				   path, h->n_layers, old->n_layers);
	for (int i = 0; h && i < h->n_layers; i++)
		if (!h->layer_names[i] || strcmp(h->layer_names[i], old->layers[i].name))
			return qdb_err_set(err, QDB_EINVAL,
					   "%s: append: layer %d is \"%s\" in the trace, \"%s\" given", path,
					   i, old->layers[i].name, h->layer_names[i] ? h->layer_names[i] : "");
	if (!(w->layers = qdb_calloc((size_t)old->n_layers + 1, sizeof *w->layers)))
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	for (int i = 0; i < old->n_layers; i++)
		if ((rc = writer_add_layer(w, old->layers[i].name, path, err)))
			return rc;
	for (int i = 0; i < old->samples.n; i++) {
		struct qdb_id_key k;
		qdb_id_key_of(&k, &old->samples.ids[i]);
		if (qdb_idtab_add(&w->samples, &k) < 0)
			return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	}
	for (int i = 0; i < old->recs.n; i++)
		if (qdb_rec_add(&w->recs, old->recs.recs[i].sample, old->recs.recs[i].layer, 0, 0) < 0)
			return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	return QDB_OK;
}

int qdb_trace_writer_open(const char *path, const struct qdb_trace_header *h, int flags,
			  struct qdb_trace_writer **out, struct qdb_err *err)
{
	struct stat st;
	struct qdb_trace *old = NULL;
	int rc;
	*out = NULL;
	int append = (flags & QDB_TRACE_APPEND) && stat(path, &st) == 0;
	if (!append && !h)
		return qdb_err_set(err, QDB_EINVAL, "%s: a new trace needs a header", path);
	struct qdb_trace_writer *w = qdb_calloc(1, sizeof *w);
	if (!w)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	qdb_idtab_init(&w->samples);
	if (append) {
		rc = writer_seed(w, path, h, &old, err);
	} else if (h->n_layers < 0) {
		rc = qdb_err_set(err, QDB_EINVAL, "%s: negative layer count", path);
	} else if (!(w->layers = qdb_calloc((size_t)h->n_layers + 1, sizeof *w->layers))) {
		rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	} else {
		rc = QDB_OK;
		for (int i = 0; i < h->n_layers && !rc; i++)
			rc = writer_add_layer(w, h->layer_names[i], path, err);
	}
	if (!rc)
		rc = qdb_atomic_open(&w->a, path, err);
	if (rc) {
		qdb_trace_close(old);
		writer_free(w);
		return rc;
	}
	msgpack_packer_init(&w->pk, w->a.fp, msgpack_fbuffer_write);
	errno = 0;
	if (old ? fwrite(old->data, 1, old->size, w->a.fp) != old->size : write_header(w, h) != 0)
		rc = qdb_atomic_write_error(&w->a, err);
	qdb_trace_close(old);
	if (rc) {
		qdb_trace_writer_abort(w);
		return rc;
	}
	*out = w;
	return QDB_OK;
}

int qdb_trace_writer_add(struct qdb_trace_writer *w, const struct qdb_sample_id *sample,
			 const char *layer, const struct qdb_tensor *t, struct qdb_err *err)
{
	char sb[48];
	struct qdb_id_key k;
	int rc = qdb_tensor_mp_check(t, err);
	if (rc)
		return qdb_mp_fail(rc, err, "%s: sample %s, layer %s", w->a.path,
				   qdb_sample_id_str(sample, sb, sizeof sb), layer);
	int li = writer_find_layer(w, layer);
	if (li < 0)
		return qdb_err_set(err, QDB_EINVAL, "%s: layer \"%s\" is not in the trace header",
				   w->a.path, layer);
	qdb_id_key_of(&k, sample);
	int si = qdb_idtab_intern(&w->samples, &k);
	if (si < 0)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", w->a.path);
	if (qdb_rec_find(&w->recs, si, li) >= 0)
		return qdb_err_set(err, QDB_EINVAL, "%s: sample %s, layer %s: already written",
				   w->a.path, qdb_sample_id_str(sample, sb, sizeof sb), layer);
	if (qdb_rec_add(&w->recs, si, li, 0, 0) < 0)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", w->a.path);
	msgpack_packer *pk = &w->pk;
	errno = 0;
	rc = msgpack_pack_map(pk, 3);
	rc |= qdb_mp_pack_str(pk, "sample") | qdb_id_pack(pk, sample);
	rc |= qdb_mp_pack_kv_str(pk, "layer", layer);
	rc |= qdb_mp_pack_str(pk, "tensor") | qdb_tensor_mp_write(pk, t);
	return rc ? qdb_atomic_write_error(&w->a, err) : QDB_OK;
}

int qdb_trace_writer_commit(struct qdb_trace_writer *w, struct qdb_err *err)
{
	int rc = qdb_atomic_commit(&w->a, err);
	writer_free(w);
	return rc;
}

void qdb_trace_writer_abort(struct qdb_trace_writer *w)
{
	if (!w)
		return;
	qdb_atomic_abort(&w->a);
	writer_free(w);
}
