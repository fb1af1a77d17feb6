/* dataset.c - .qds datasets: a header object, then {id, inputs, label}
 * records (man/qdb-formats.5). Read like traces: mapped, every record
 * validated once at open, tensors decoded again on demand as views. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "io/dataset.h"
#include "io/file.h"
#include "io/hidx.h"
#include "io/ids.h"
#include "io/mp.h"
#include "io/records.h"
#include "io/tensor_mp.h"

struct ds_rec {
	uint64_t off, len;
	int64_t label; /* class; for tensor labels 1 when present; -1: none */
};

struct qdb_dataset {
	char *path;
	struct qdb_map map;
	const unsigned char *data;
	size_t size;
	char *name;
	struct qdb_dataset_input *inputs;
	int n_inputs;
	int *input_slot, input_cap;
	enum qdb_label_kind label_kind;
	char **classes;
	int n_classes;
	int64_t count; /* the header's count, INT64_MIN when absent */
	struct qdb_idtab ids; /* id i belongs to record i (ids are unique) */
	struct ds_rec *recs;
	int n_recs, cap_recs;
};

static const char *const label_kinds[] = {[QDB_LABEL_NONE] = "none", [QDB_LABEL_CLASS] = "class",
					   [QDB_LABEL_TENSOR] = "tensor"};

static int nomem(struct qdb_err *err) { return qdb_err_set(err, QDB_ENOMEM, "out of memory"); }

static int find_input_n(const struct qdb_dataset_input *inputs, const int *slot, int cap,
			const char *s, size_t len)
{
	struct qdb_name_items it = {inputs, sizeof *inputs};
	return qdb_name_find(slot, cap, &it, s, len);
}

static int dataset_find_input(const struct qdb_dataset *d, const char *s, size_t len)
{
	return find_input_n(d->inputs, d->input_slot, d->input_cap, s, len);
}

/* Adds input i (already filled in) to the name index; refuses duplicates. */
static int index_input(struct qdb_dataset_input *inputs, int i, int **slot, int *cap, int code,
		       struct qdb_err *err)
{
	const char *name = inputs[i].name;
	size_t len = strlen(name);
	int dup = find_input_n(inputs, *slot, *cap, name, len);
	char ex[64];
	if (len == 0)
		return qdb_err_set(err, code, "inputs[%d]: name: empty", i);
	if (dup >= 0)
		return qdb_err_set(err, code, "inputs[%d]: duplicate input \"%s\" (also inputs[%d])", i,
				   qdb_mp_printable(name, len, ex, sizeof ex), dup);
	struct qdb_name_items it = {inputs, sizeof *inputs};
	if (qdb_hidx_add(slot, cap, i + 1, qdb_hash_bytes(name, len), qdb_name_items_hash, &it) < 0)
		return nomem(err);
	return QDB_OK;
}

static int parse_inputs(struct qdb_dataset *d, const msgpack_object *a, struct qdb_err *err)
{
	int rc = qdb_mp_as_array(a, "inputs", err);
	if (rc)
		return rc;
	uint32_t n = a->via.array.size;
	if (n == 0)
		return qdb_err_set(err, QDB_EFORMAT, "inputs: empty");
	if (!(d->inputs = qdb_calloc(n, sizeof *d->inputs)))
		return nomem(err);
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *o = &a->via.array.ptr[i], *v;
		struct qdb_dataset_input *in = &d->inputs[i];
		if ((rc = qdb_mp_check_map(o, NULL, err)) ||
		    (rc = qdb_mp_get_strdup(o, "name", 1, NULL, &in->name, err)))
			return qdb_mp_fail(rc, err, "inputs[%u]", i);
		d->n_inputs = (int)i + 1;
		if ((rc = qdb_mp_get(o, "dtype", 1, &v, err)) ||
		    (rc = qdb_dtype_mp_read(v, "dtype", &in->dtype, err)) ||
		    (rc = qdb_mp_get(o, "shape", 1, &v, err)) ||
		    (rc = qdb_shape_mp_read(v, "shape", &in->rank, in->shape, err)))
			return qdb_mp_fail(rc, err, "inputs[%u]", i);
		if ((rc = index_input(d->inputs, (int)i, &d->input_slot, &d->input_cap, QDB_EFORMAT, err)))
			return rc;
	}
	return QDB_OK;
}

static int parse_label(struct qdb_dataset *d, const msgpack_object *l, struct qdb_err *err)
{
	const msgpack_object *v;
	int rc;
	if (!l) {
		d->label_kind = QDB_LABEL_NONE;
		return QDB_OK;
	}
	if ((rc = qdb_mp_check_map(l, NULL, err)) || (rc = qdb_mp_get(l, "kind", 1, &v, err)))
		return rc;
	int k;
	for (k = 0; k < 3; k++)
		if (qdb_mp_str_eq(v, label_kinds[k]))
			break;
	if (k == 3) {
		char ex[32];
		return qdb_err_set(err, QDB_EFORMAT, "kind: \"%s\" is not class, tensor or none",
				   qdb_mp_excerpt(v, ex, sizeof ex));
	}
	d->label_kind = (enum qdb_label_kind)k;
	if ((rc = qdb_mp_get(l, "classes", 0, &v, err)) || !v)
		return rc;
	if (d->label_kind != QDB_LABEL_CLASS)
		return qdb_err_set(err, QDB_EFORMAT, "classes: given for label kind %s", label_kinds[k]);
	if ((rc = qdb_mp_as_array(v, "classes", err)))
		return rc;
	uint32_t n = v->via.array.size;
	if (n > INT32_MAX / 2)
		return qdb_err_set(err, QDB_EFORMAT, "classes: too many");
	if (!(d->classes = qdb_calloc(n, sizeof *d->classes)))
		return nomem(err);
	for (uint32_t i = 0; i < n; i++) {
		char w[32];
		snprintf(w, sizeof w, "classes[%u]", i);
		if ((rc = qdb_mp_as_strdup(&v->via.array.ptr[i], w, &d->classes[i], err)))
			return rc;
		d->n_classes = (int)i + 1;
	}
	return QDB_OK;
}

static int parse_header(void *ctx, const msgpack_object *h, struct qdb_err *err)
{
	struct qdb_dataset *d = ctx;
	const msgpack_object *v;
	int rc;
	if ((rc = qdb_mp_check_format(h, "qdb.dataset", NULL, err)) ||
	    (rc = qdb_mp_get_strdup(h, "name", 1, NULL, &d->name, err)) ||
	    (rc = qdb_mp_get(h, "inputs", 1, &v, err)) || (rc = parse_inputs(d, v, err)) ||
	    (rc = qdb_mp_get_int(h, "count", 0, &d->count, err)))
		return rc;
	if ((rc = qdb_mp_get(h, "label", 0, &v, err)) || (rc = parse_label(d, v, err)))
		return qdb_mp_fail(rc, err, "label");
	return QDB_OK;
}

/* Checks a record's tensor against its header declaration. */
static int match_input(const struct qdb_dataset_input *in, const struct qdb_tensor *t, int code,
		       struct qdb_err *err)
{
	char a[128], b[128];
	if (t->dtype != in->dtype)
		return qdb_err_set(err, code, "%s: dtype %s, header says %s", in->name,
				   qdb_dtype_name(t->dtype), qdb_dtype_name(in->dtype));
	if (t->rank != in->rank || memcmp(t->shape, in->shape, sizeof(int64_t) * (size_t)t->rank))
		return qdb_err_set(err, code, "%s: shape %s, header says %s", in->name,
				   qdb_shape_str(a, sizeof a, t->rank, t->shape),
				   qdb_shape_str(b, sizeof b, in->rank, in->shape));
	return QDB_OK;
}

static int parse_record_inputs(struct qdb_dataset *d, const msgpack_object *m, struct qdb_err *err)
{
	int rc = qdb_mp_check_map(m, "inputs", err);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[i];
		char ex[64];
		int k = dataset_find_input(d, kv->key.via.str.ptr, kv->key.via.str.size);
		if (k < 0)
			return qdb_err_set(err, QDB_EFORMAT, "inputs: \"%s\" is not a declared input",
					   qdb_mp_excerpt(&kv->key, ex, sizeof ex));
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		if ((rc = qdb_tensor_mp_read(&kv->val, &t, err)))
			return qdb_mp_fail(rc, err, "inputs: %s", d->inputs[k].name);
		rc = match_input(&d->inputs[k], &t, QDB_EFORMAT, err);
		qdb_tensor_done(&t);
		if (rc)
			return qdb_mp_fail(rc, err, "inputs");
	}
	if (m->via.map.size != (uint32_t)d->n_inputs) /* no unknown keys, no duplicates: one is missing */
		for (int k = 0; k < d->n_inputs; k++)
			if (!qdb_mp_find(m, d->inputs[k].name))
				return qdb_err_set(err, QDB_EFORMAT, "inputs: %s: missing", d->inputs[k].name);
	return QDB_OK;
}

static int parse_label_value(struct qdb_dataset *d, const msgpack_object *v, int64_t *label,
			     struct qdb_err *err)
{
	*label = -1;
	if (!v)
		return QDB_OK;
	int rc;
	switch (d->label_kind) {
	case QDB_LABEL_CLASS:
		if ((rc = qdb_mp_as_int(v, "label", label, err)))
			return rc;
		if (*label < 0 || (d->n_classes > 0 && *label >= d->n_classes))
			return qdb_err_set(err, QDB_EFORMAT, "label: class %lld out of range [0, %d)",
					   (long long)*label, d->n_classes);
		return QDB_OK;
	case QDB_LABEL_TENSOR: {
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		if ((rc = qdb_tensor_mp_read(v, &t, err)))
			return qdb_mp_fail(rc, err, "label");
		qdb_tensor_done(&t);
		*label = 1;
		return QDB_OK;
	}
	default:
		return qdb_err_set(err, QDB_EFORMAT, "label: given, but the header's label kind is none");
	}
}

static int parse_record(void *ctx, const msgpack_object *o, int n, uint64_t off, uint64_t len,
			struct qdb_err *err)
{
	struct qdb_dataset *d = ctx;
	const msgpack_object *v;
	struct qdb_id_key k;
	char ib[48];
	int rc;
	int64_t label;
	if ((rc = qdb_mp_check_map(o, NULL, err)) || (rc = qdb_mp_get(o, "id", 1, &v, err)) ||
	    (rc = qdb_id_key_read(v, "id", &k, err)))
		return qdb_mp_fail(rc, err, "record %d", n);
	qdb_id_key_str(&k, ib, sizeof ib);
	int dup = qdb_idtab_find(&d->ids, &k);
	if (dup >= 0)
		return qdb_err_set(err, QDB_EFORMAT, "record %d (id %s): duplicate of record %d", n, ib, dup);
	if ((rc = qdb_mp_get(o, "inputs", 1, &v, err)) || (rc = parse_record_inputs(d, v, err)) ||
	    (rc = qdb_mp_get(o, "label", 0, &v, err)) || (rc = parse_label_value(d, v, &label, err)))
		return qdb_mp_fail(rc, err, "record %d (id %s)", n, ib);
	if (qdb_grow(&d->recs, d->n_recs, &d->cap_recs, sizeof *d->recs) || qdb_idtab_add(&d->ids, &k) < 0)
		return nomem(err);
	d->recs[d->n_recs++] = (struct ds_rec){off, len, label};
	return QDB_OK;
}

static int parse(struct qdb_dataset *d, struct qdb_err *err)
{
	static const struct qdb_stream_ops ops = {parse_header, parse_record};
	d->count = INT64_MIN; /* absent */
	int rc = qdb_stream_parse(d->data, d->size, &ops, d, err);
	if (!rc && d->count != INT64_MIN && d->count != d->n_recs)
		rc = qdb_err_set(err, QDB_EFORMAT, "header: count: %lld records declared, %d present",
				 (long long)d->count, d->n_recs);
	return rc;
}

/* Reads the dataset in data[0, len), or with map set the file `name`. */
static int dataset_read(const char *name, int map, const void *data, size_t len,
			struct qdb_dataset **out, struct qdb_err *err)
{
	struct qdb_dataset *d = qdb_calloc(1, sizeof *d); /* calloc: empty tables */
	int rc;
	*out = NULL;
	if (!d)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", name);
	if (map && (rc = qdb_map_open(&d->map, name, err))) {
		qdb_free(d);
		return rc;
	}
	d->data = map ? d->map.data : data;
	d->size = map ? d->map.size : len;
	rc = (d->path = qdb_strdup(name)) ? parse(d, err) : nomem(err);
	if (rc) {
		qdb_mp_fail(rc, err, "%s", name);
		qdb_dataset_close(d);
		return rc;
	}
	*out = d;
	return QDB_OK;
}

int qdb_dataset_parse(const void *data, size_t len, const char *name,
		      struct qdb_dataset **out, struct qdb_err *err)
{
	return dataset_read(name, 0, data, len, out, err);
}

int qdb_dataset_open(const char *path, struct qdb_dataset **out, struct qdb_err *err)
{
	return dataset_read(path, 1, NULL, 0, out, err);
}

static void free_inputs(struct qdb_dataset_input *in, int n)
{
	for (int i = 0; i < n; i++)
		qdb_free(in[i].name);
	qdb_free(in);
}

void qdb_dataset_close(struct qdb_dataset *d)
{
	if (!d)
		return;
	free_inputs(d->inputs, d->n_inputs);
	qdb_free(d->input_slot);
	for (int i = 0; i < d->n_classes; i++)
		qdb_free(d->classes[i]);
	qdb_free(d->classes);
	qdb_idtab_done(&d->ids);
	qdb_free(d->recs);
	qdb_free(d->name);
	qdb_free(d->path);
	qdb_map_close(&d->map);
	qdb_free(d);
}

const char *qdb_dataset_path(const struct qdb_dataset *d) { return d->path; }
const char *qdb_dataset_name(const struct qdb_dataset *d) { return d->name; }
int qdb_dataset_n_inputs(const struct qdb_dataset *d) { return d->n_inputs; }

const struct qdb_dataset_input *qdb_dataset_input_info(const struct qdb_dataset *d, int i)
{
	return i >= 0 && i < d->n_inputs ? &d->inputs[i] : NULL;
}

int qdb_dataset_find_input(const struct qdb_dataset *d, const char *name)
{
	return dataset_find_input(d, name, strlen(name));
}

enum qdb_label_kind qdb_dataset_label_kind(const struct qdb_dataset *d) { return d->label_kind; }
int qdb_dataset_n_classes(const struct qdb_dataset *d) { return d->n_classes; }

const char *qdb_dataset_class_name(const struct qdb_dataset *d, int c)
{
	return c >= 0 && c < d->n_classes ? d->classes[c] : NULL;
}

int64_t qdb_dataset_count(const struct qdb_dataset *d) { return d->n_recs; }

const struct qdb_sample_id *qdb_dataset_id(const struct qdb_dataset *d, int64_t i)
{
	return i >= 0 && i < d->n_recs ? &d->ids.ids[i] : NULL;
}

int64_t qdb_dataset_find(const struct qdb_dataset *d, const struct qdb_sample_id *id)
{
	struct qdb_id_key k;
	qdb_id_key_of(&k, id);
	return qdb_idtab_find(&d->ids, &k);
}

int64_t qdb_dataset_find_str(const struct qdb_dataset *d, const char *s)
{
	return qdb_sample_find_str(&d->ids, s);
}

int64_t qdb_dataset_label_class(const struct qdb_dataset *d, int64_t i)
{
	if (d->label_kind != QDB_LABEL_CLASS || i < 0 || i >= d->n_recs)
		return -1;
	return d->recs[i].label;
}

/* Decodes record i and reads one tensor of it: input `input`, or the
 * label when input < 0. */
static int record_tensor(const struct qdb_dataset *d, int64_t i, int input, struct qdb_tensor *out,
			 struct qdb_err *err)
{
	if (i < 0 || i >= d->n_recs)
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: no record %lld", d->path, (long long)i);
	if (input >= d->n_inputs)
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: no input %d", d->path, input);
	msgpack_unpacked u;
	const msgpack_object *v;
	msgpack_unpacked_init(&u);
	int rc = qdb_record_field(d->data, d->recs[i].off, d->recs[i].len,
				  input < 0 ? "label" : "inputs", &u, &v, err);
	if (!rc && input >= 0)
		rc = (v = qdb_mp_find(v, d->inputs[input].name))
			     ? QDB_OK
			     : qdb_err_set(err, QDB_EFORMAT, "%s: missing", d->inputs[input].name);
	if (!rc)
		rc = qdb_tensor_mp_read(v, out, err);
	msgpack_unpacked_destroy(&u);
	if (rc)
		qdb_mp_fail(rc, err, "%s: record %lld", d->path, (long long)i);
	return rc;
}

int qdb_dataset_input(const struct qdb_dataset *d, int64_t i, int input,
		      struct qdb_tensor *out, struct qdb_err *err)
{
	if (input < 0)
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: no input %d", d->path, input);
	return record_tensor(d, i, input, out, err);
}

int qdb_dataset_label_tensor(const struct qdb_dataset *d, int64_t i, struct qdb_tensor *out,
			     struct qdb_err *err)
{
	if (d->label_kind != QDB_LABEL_TENSOR)
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: labels are not tensors", d->path);
	if (i >= 0 && i < d->n_recs && d->recs[i].label < 0)
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: record %lld has no label", d->path,
				   (long long)i);
	return record_tensor(d, i, -1, out, err);
}

/* --- writing --- */

struct qdb_dataset_writer {
	struct qdb_atomic a;
	msgpack_packer pk;
	struct qdb_dataset_input *inputs;
	int n_inputs;
	int *input_slot, input_cap;
	enum qdb_label_kind label_kind;
	int n_classes;
	struct qdb_idtab ids;
};

static void dwriter_free(struct qdb_dataset_writer *w)
{
	free_inputs(w->inputs, w->n_inputs);
	qdb_free(w->input_slot);
	qdb_idtab_done(&w->ids);
	qdb_free(w);
}

static int write_header(struct qdb_dataset_writer *w, const struct qdb_dataset_header *h)
{
	msgpack_packer *pk = &w->pk;
	int rc = msgpack_pack_map(pk, 5);
	rc |= qdb_mp_pack_kv_str(pk, "format", "qdb.dataset");
	rc |= qdb_mp_pack_kv_int(pk, "version", 1);
	rc |= qdb_mp_pack_kv_str(pk, "name", h->name ? h->name : "");
	rc |= qdb_mp_pack_str(pk, "inputs") | msgpack_pack_array(pk, (size_t)h->n_inputs);
	for (int i = 0; i < h->n_inputs; i++) {
		const struct qdb_dataset_input *in = &h->inputs[i];
		rc |= msgpack_pack_map(pk, 3) | qdb_mp_pack_kv_str(pk, "name", in->name);
		rc |= qdb_mp_pack_kv_str(pk, "dtype", qdb_dtype_name(in->dtype));
		rc |= qdb_mp_pack_str(pk, "shape") | qdb_shape_mp_write(pk, in->rank, in->shape);
	}
	int nc = h->label_kind == QDB_LABEL_CLASS && h->classes && h->n_classes > 0;
	rc |= qdb_mp_pack_str(pk, "label") | msgpack_pack_map(pk, 1 + (size_t)nc);
	rc |= qdb_mp_pack_kv_str(pk, "kind", label_kinds[h->label_kind]);
	if (nc) {
		rc |= qdb_mp_pack_str(pk, "classes") | msgpack_pack_array(pk, (size_t)h->n_classes);
		for (int i = 0; i < h->n_classes; i++)
			rc |= qdb_mp_pack_str(pk, h->classes[i] ? h->classes[i] : "");
	}
	return rc;
}

static int check_header(struct qdb_dataset_writer *w, const struct qdb_dataset_header *h,
			struct qdb_err *err)
{
	if (h->n_inputs <= 0)
		return qdb_err_set(err, QDB_EINVAL, "a dataset needs at least one input");
	if ((unsigned)h->label_kind > QDB_LABEL_TENSOR)
		return qdb_err_set(err, QDB_EINVAL, "invalid label kind %d", (int)h->label_kind);
	if (h->n_classes < 0)
		return qdb_err_set(err, QDB_EINVAL, "negative class count");
	if (!(w->inputs = qdb_calloc((size_t)h->n_inputs, sizeof *w->inputs)))
		return nomem(err);
	for (int i = 0; i < h->n_inputs; i++) {
		const struct qdb_dataset_input *in = &h->inputs[i];
		if (!in->name || !qdb_dtype_name(in->dtype) || in->rank < 0 || in->rank > QDB_MAX_RANK)
			return qdb_err_set(err, QDB_EINVAL, "inputs[%d]: invalid name, dtype or rank", i);
		for (int k = 0; k < in->rank; k++)
			if (in->shape[k] < 0)
				return qdb_err_set(err, QDB_EINVAL, "inputs[%d]: negative dimension", i);
		w->inputs[i] = *in;
		if (!(w->inputs[i].name = qdb_strdup(in->name)))
			return nomem(err);
		w->n_inputs = i + 1;
		int rc = index_input(w->inputs, i, &w->input_slot, &w->input_cap, QDB_EINVAL, err);
		if (rc)
			return rc;
	}
	w->label_kind = h->label_kind;
	w->n_classes = h->classes ? h->n_classes : 0;
	return QDB_OK;
}

int qdb_dataset_writer_open(const char *path, const struct qdb_dataset_header *h,
			    struct qdb_dataset_writer **out, struct qdb_err *err)
{
	*out = NULL;
	struct qdb_dataset_writer *w = qdb_calloc(1, sizeof *w);
	if (!w)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	int rc = check_header(w, h, err);
	if (rc) {
		qdb_mp_fail(rc, err, "%s", path);
		dwriter_free(w);
		return rc;
	}
	if ((rc = qdb_atomic_open(&w->a, path, err))) {
		dwriter_free(w);
		return rc;
	}
	msgpack_packer_init(&w->pk, w->a.fp, msgpack_fbuffer_write);
	errno = 0;
	if (write_header(w, h)) {
		rc = qdb_atomic_write_error(&w->a, err);
		qdb_dataset_writer_abort(w);
		return rc;
	}
	*out = w;
	return QDB_OK;
}

int qdb_dataset_writer_add(struct qdb_dataset_writer *w, const struct qdb_sample_id *id,
			   const struct qdb_tensor *const *inputs, int64_t label_class,
			   const struct qdb_tensor *label_tensor, struct qdb_err *err)
{
	char ib[48];
	struct qdb_id_key k;
	int rc = QDB_OK;
	qdb_sample_id_str(id, ib, sizeof ib);
	for (int i = 0; i < w->n_inputs && !rc; i++)
		if (!(rc = qdb_tensor_mp_check(inputs[i], err)))
			rc = match_input(&w->inputs[i], inputs[i], QDB_EINVAL, err);
	if (!rc && w->label_kind == QDB_LABEL_CLASS && w->n_classes > 0 && label_class >= w->n_classes)
		rc = qdb_err_set(err, QDB_EINVAL, "label: class %lld out of range [0, %d)",
				 (long long)label_class, w->n_classes);
	if (!rc && w->label_kind == QDB_LABEL_TENSOR && label_tensor)
		rc = qdb_tensor_mp_check(label_tensor, err);
	if (rc)
		return qdb_mp_fail(rc, err, "%s: id %s", w->a.path, ib);
	qdb_id_key_of(&k, id);
	if (qdb_idtab_find(&w->ids, &k) >= 0)
		return qdb_err_set(err, QDB_EINVAL, "%s: id %s: already written", w->a.path, ib);
	if (qdb_idtab_add(&w->ids, &k) < 0)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", w->a.path);
	msgpack_packer *pk = &w->pk;
	int has_label = (w->label_kind == QDB_LABEL_CLASS && label_class >= 0) ||
			(w->label_kind == QDB_LABEL_TENSOR && label_tensor);
	errno = 0;
	rc = msgpack_pack_map(pk, 2 + (size_t)has_label);
	rc |= qdb_mp_pack_str(pk, "id") | qdb_id_pack(pk, id);
	rc |= qdb_mp_pack_str(pk, "inputs") | msgpack_pack_map(pk, (size_t)w->n_inputs);
	for (int i = 0; i < w->n_inputs; i++)
		rc |= qdb_mp_pack_str(pk, w->inputs[i].name) | qdb_tensor_mp_write(pk, inputs[i]);
	if (has_label) {
		rc |= qdb_mp_pack_str(pk, "label");
		rc |= w->label_kind == QDB_LABEL_CLASS ? msgpack_pack_int64(pk, label_class)
						       : qdb_tensor_mp_write(pk, label_tensor);
	}
	return rc ? qdb_atomic_write_error(&w->a, err) : QDB_OK;
}

int qdb_dataset_writer_commit(struct qdb_dataset_writer *w, struct qdb_err *err)
{
	int rc = qdb_atomic_commit(&w->a, err);
	dwriter_free(w);
	return rc;
}

void qdb_dataset_writer_abort(struct qdb_dataset_writer *w)
{
	if (!w)
		return;
	qdb_atomic_abort(&w->a);
	dwriter_free(w);
}

int qdb_dataset_write_records(const struct qdb_dataset *d, const char *path, const char *name,
			      const int64_t *recs, int64_t n, struct qdb_err *err)
{
	int n_in = qdb_dataset_n_inputs(d), nc = qdb_dataset_n_classes(d);
	struct qdb_dataset_input *infos = qdb_calloc((size_t)(n_in > 0 ? n_in : 1), sizeof *infos);
	const char **classes = nc > 0 ? qdb_calloc((size_t)nc, sizeof *classes) : NULL;
	struct qdb_tensor *tens = qdb_calloc((size_t)n_in + 1, sizeof *tens);
	const struct qdb_tensor **ptrs = qdb_calloc((size_t)(n_in > 0 ? n_in : 1), sizeof *ptrs);
	struct qdb_dataset_writer *w = NULL;
	int rc = QDB_OK;

	if (!infos || (nc > 0 && !classes) || !tens || !ptrs) {
		rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	for (int i = 0; i < n_in; i++)
		infos[i] = *qdb_dataset_input_info(d, i);
	for (int c = 0; c < nc; c++)
		classes[c] = qdb_dataset_class_name(d, c) ? qdb_dataset_class_name(d, c) : "";
	struct qdb_dataset_header h = {
		.name = name,
		.n_inputs = n_in,
		.inputs = infos,
		.label_kind = qdb_dataset_label_kind(d),
		.n_classes = nc,
		.classes = classes,
	};
	if ((rc = qdb_dataset_writer_open(path, &h, &w, err)))
		goto out;
	for (int i = 0; i <= n_in; i++)
		qdb_tensor_init(&tens[i]);
	for (int64_t r = 0; r < n && !rc; r++) {
		for (int i = 0; i < n_in && !rc; i++) {
			rc = qdb_dataset_input(d, recs[r], i, &tens[i], err);
			ptrs[i] = &tens[i];
		}
		const struct qdb_tensor *lab = NULL;
		if (!rc && h.label_kind == QDB_LABEL_TENSOR &&
		    qdb_dataset_label_tensor(d, recs[r], &tens[n_in], NULL) == QDB_OK)
			lab = &tens[n_in];
		if (!rc)
			rc = qdb_dataset_writer_add(w, qdb_dataset_id(d, recs[r]), ptrs,
						    qdb_dataset_label_class(d, recs[r]), lab, err);
		for (int i = 0; i <= n_in; i++)
			qdb_tensor_done(&tens[i]);
	}
	if (rc)
		qdb_dataset_writer_abort(w);
	else
		rc = qdb_dataset_writer_commit(w, err);
out:
	qdb_free(infos);
	qdb_free(classes);
	qdb_free(tens);
	qdb_free(ptrs);
	return rc;
}
