/* trace.c - .qtr traces: a header object, then {sample, layer, tensor}
 * records, all MessagePack (man/qdb-formats.5).
 *
 * The reader keeps per record only its byte range and (sample, layer)
 * numbers, about 40 bytes with the hash slots, and re-decodes a record's
 * tensor when asked: memory follows the record count, never payload bytes.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

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
	return v ? parse_qstate(t, v, err) : QDB_OK;
}

static int parse_record(void *ctx, const msgpack_object *o, int n, uint64_t off, uint64_t len,
			struct qdb_err *err)
{
	struct qdb_trace *t = ctx;
	const msgpack_object *v;
	struct qdb_id_key k;
	const char *lname;
	size_t lnlen;
	char sbuf[48], lbuf[64];
	int rc;
	if ((rc = qdb_mp_check_map(o, NULL, err)) || (rc = qdb_mp_get(o, "sample", 1, &v, err)) ||
	    (rc = qdb_id_key_read(v, "sample", &k, err)))
		return qdb_mp_fail(rc, err, "record %d", n);
	qdb_id_key_str(&k, sbuf, sizeof sbuf);
	if ((rc = qdb_mp_get(o, "layer", 1, &v, err)) || (rc = qdb_mp_as_str(v, "layer", &lname, &lnlen, err)))
		return qdb_mp_fail(rc, err, "record %d (sample %s)", n, sbuf);
	qdb_mp_printable(lname, lnlen, lbuf, sizeof lbuf);
	int layer = find_layer_n(t, lname, lnlen);
	if (layer < 0)
		return qdb_err_set(err, QDB_EFORMAT,
				   "record %d (sample %s): layer: \"%s\" is not in the header's layers", n,
				   sbuf, lbuf);
	struct qdb_tensor tmp;
	qdb_tensor_init(&tmp);
	if ((rc = qdb_mp_get(o, "tensor", 1, &v, err)))
		return qdb_mp_fail(rc, err, "record %d (sample %s, layer %s)", n, sbuf, lbuf);
	if ((rc = qdb_tensor_mp_read(v, &tmp, err)))
		return qdb_mp_fail(rc, err, "record %d (sample %s, layer %s): tensor", n, sbuf, lbuf);
	qdb_tensor_done(&tmp);
	int sample = qdb_idtab_intern(&t->samples, &k);
	if (sample < 0)
		return nomem(err);
	int dup = qdb_rec_find(&t->recs, sample, layer);
	if (dup >= 0)
		return qdb_err_set(err, QDB_EFORMAT,
				   "record %d (sample %s, layer %s): duplicate of record %d", n, sbuf, lbuf,
				   dup);
	if (qdb_rec_add(&t->recs, sample, layer, off, len) < 0)
		return nomem(err);
	return QDB_OK;
}

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
	if (!(t->path = qdb_strdup(name)))
		rc = nomem(err);
	else
		rc = qdb_stream_parse(t->data, t->size, &ops, t, err);
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
