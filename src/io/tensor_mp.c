/* tensor_mp.c - reading (validated, zero-copy) and writing tensor objects. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "io/mp.h"
#include "io/tensor_mp.h"

int qdb_dtype_mp_read(const msgpack_object *o, const char *what, enum qdb_dtype *out,
		      struct qdb_err *err)
{
	const char *p;
	size_t n;
	int rc = qdb_mp_as_str(o, what, &p, &n, err);
	if (rc)
		return rc;
	if (qdb_dtype_parse(p, n, out) != 0) {
		char ex[32];
		return qdb_err_set(err, QDB_EFORMAT,
				   "%s: unknown dtype \"%s\" (want f32 f64 i8 u8 i16 i32 i64)", what,
				   qdb_mp_excerpt(o, ex, sizeof ex));
	}
	return QDB_OK;
}

int qdb_shape_mp_read(const msgpack_object *o, const char *what, int *rank, int64_t *shape,
		      struct qdb_err *err)
{
	int rc = qdb_mp_as_array(o, what, err);
	if (rc)
		return rc;
	uint32_t n = o->via.array.size;
	if (n > QDB_MAX_RANK)
		return qdb_err_set(err, QDB_EFORMAT, "%s: rank %u exceeds %d", what, n,
				   QDB_MAX_RANK);
	for (uint32_t i = 0; i < n; i++) {
		char w[64];
		snprintf(w, sizeof w, "%s[%u]", what, i);
		if ((rc = qdb_mp_as_int(&o->via.array.ptr[i], w, &shape[i], err)))
			return rc;
		if (shape[i] < 0)
			return qdb_err_set(err, QDB_EFORMAT, "%s: %lld is negative", w,
					   (long long)shape[i]);
	}
	*rank = (int)n;
	if (qdb_shape_numel((int)n, shape) < 0)
		return qdb_err_set(err, QDB_EFORMAT, "%s: element count overflows", what);
	return QDB_OK;
}

int qdb_mp_read_numbers(const msgpack_object *o, const char *what, int ints, int32_t *count,
			double **dv, int64_t **iv, struct qdb_err *err)
{
	const msgpack_object *item = o;
	uint32_t n = 1;
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		n = o->via.array.size;
		item = o->via.array.ptr;
		if (n == 0)
			return qdb_err_set(err, QDB_EFORMAT, "%s: empty array", what);
		if (n > INT32_MAX)
			return qdb_err_set(err, QDB_EFORMAT, "%s: too many values", what);
	}
	void *a = qdb_alloc_array(n, ints ? sizeof(int64_t) : sizeof(double));
	if (!a)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", what);
	for (uint32_t i = 0; i < n; i++) {
		char w[64];
		if (o->type == MSGPACK_OBJECT_ARRAY)
			snprintf(w, sizeof w, "%s[%u]", what, i);
		else
			snprintf(w, sizeof w, "%s", what);
		int rc = ints ? qdb_mp_as_int(&item[i], w, (int64_t *)a + i, err)
			      : qdb_mp_as_double(&item[i], w, (double *)a + i, err);
		if (rc) {
			qdb_free(a);
			return rc;
		}
	}
	*count = (int32_t)n;
	if (ints)
		*iv = a;
	else
		*dv = a;
	return QDB_OK;
}

int qdb_mp_read_scales(const msgpack_object *o, int32_t *count, double **out, struct qdb_err *err)
{
	int rc = qdb_mp_read_numbers(o, "scale", 0, count, out, NULL, err);
	for (int32_t i = 0; !rc && i < *count; i++) {
		double s = (*out)[i];
		char w[24] = "";
		if (o->type == MSGPACK_OBJECT_ARRAY)
			snprintf(w, sizeof w, "[%d]", (int)i);
		if (!isfinite(s) || s <= 0) {
			qdb_free(*out);
			*out = NULL;
			rc = qdb_err_set(err, QDB_EFORMAT, "scale%s: %g is not a finite positive number", w, s);
		}
	}
	return rc;
}

int qdb_quant_mp_read(const msgpack_object *m, enum qdb_dtype dtype, int rank,
		      const int64_t *shape, struct qdb_quant *q, struct qdb_err *err)
{
	const msgpack_object *so, *zo, *ao, *lo, *ho;
	int rc;
	if ((rc = qdb_mp_get(m, "scale", 0, &so, err)) || (rc = qdb_mp_get(m, "zero_point", 0, &zo, err)) ||
	    (rc = qdb_mp_get(m, "axis", 0, &ao, err)) || (rc = qdb_mp_get(m, "qmin", 0, &lo, err)) ||
	    (rc = qdb_mp_get(m, "qmax", 0, &ho, err)))
		return rc;
	if (!so) {
		if (zo || ao || lo || ho)
			return qdb_err_set(err, QDB_EFORMAT, "%s: given without scale",
					   zo ? "zero_point" : ao ? "axis" : lo ? "qmin" : "qmax");
		return QDB_OK;
	}
	double *scale = NULL;
	int64_t *zp = NULL;
	int32_t ns = 0, nz = 0;
	/* INT64_MIN/INT64_MAX: "the dtype's range" (see struct qdb_quant) */
	int64_t axis = -1, qmin = INT64_MIN, qmax = INT64_MAX, rlo, rhi;
	if ((rc = qdb_mp_read_scales(so, &ns, &scale, err)))
		return rc;
	if (zo && (rc = qdb_mp_read_numbers(zo, "zero_point", 1, &nz, NULL, &zp, err)))
		goto fail;
	if (zo && zo->type == MSGPACK_OBJECT_ARRAY && nz != ns) {
		rc = qdb_err_set(err, QDB_EFORMAT, "zero_point: %d values for %d scales", nz, ns);
		goto fail;
	}
	if (nz != ns) { /* absent or one value: the same zero point for every channel */
		int64_t z = zp ? zp[0] : 0;
		qdb_free(zp);
		if (!(zp = qdb_alloc_array((size_t)ns, sizeof *zp))) {
			rc = qdb_err_set(err, QDB_ENOMEM, "zero_point: out of memory");
			goto fail;
		}
		for (int32_t i = 0; i < ns; i++)
			zp[i] = z;
	}
	if ((lo && (rc = qdb_mp_as_int(lo, "qmin", &qmin, err))) ||
	    (ho && (rc = qdb_mp_as_int(ho, "qmax", &qmax, err))))
		goto fail;
	if (qmin > qmax || (lo && qmin < qdb_dtype_min(dtype)) || (ho && qmax > qdb_dtype_max(dtype))) {
		rc = qdb_err_set(err, QDB_EFORMAT, "qmin/qmax: [%lld, %lld] is not a range within %s",
				 (long long)qmin, (long long)qmax, qdb_dtype_name(dtype));
		goto fail;
	}
	q->qmin = qmin;
	q->qmax = qmax;
	qdb_quant_range(q, dtype, &rlo, &rhi);
	for (int32_t i = 0; i < ns; i++) {
		char w[24] = "";
		if (ns > 1)
			snprintf(w, sizeof w, "[%d]", (int)i);
		/* Integer data must hold its zero point; float data (fake-quant
		 * traces) still needs it to fit int32, as torch's does. */
		int64_t zlo = qdb_dtype_is_int(dtype) ? rlo : INT32_MIN;
		int64_t zhi = qdb_dtype_is_int(dtype) ? rhi : INT32_MAX;
		if (zp[i] < zlo || zp[i] > zhi) {
			rc = qdb_err_set(err, QDB_EFORMAT, "zero_point%s: %lld outside [%lld, %lld]", w,
					 (long long)zp[i], (long long)zlo, (long long)zhi);
			goto fail;
		}
	}
	if (ao && (rc = qdb_mp_as_int(ao, "axis", &axis, err)))
		goto fail;
	if (ns > 1) {
		if (!ao) {
			rc = qdb_err_set(err, QDB_EFORMAT, "axis: missing (needed for %d scales)", ns);
			goto fail;
		}
		if (rank >= 0 && axis < 0 && axis >= -rank)
			axis += rank;
		if (axis < 0 || (rank >= 0 && axis >= rank) || axis >= QDB_MAX_RANK) {
			rc = qdb_err_set(err, QDB_EFORMAT, "axis: %lld out of range for rank %d",
					 (long long)axis, rank);
			goto fail;
		}
		if (rank >= 0 && shape[axis] != ns) {
			rc = qdb_err_set(err, QDB_EFORMAT, "scale: %d scales for axis %lld of size %lld",
					 ns, (long long)axis, (long long)shape[axis]);
			goto fail;
		}
	} else {
		axis = -1;
	}
	q->n = ns;
	q->axis = (int32_t)axis;
	q->scale = scale;
	q->zero_point = zp;
	return QDB_OK;
fail:
	q->qmin = INT64_MIN;
	q->qmax = INT64_MAX;
	qdb_free(scale);
	qdb_free(zp);
	return rc;
}

int qdb_tensor_mp_read(const msgpack_object *o, struct qdb_tensor *out, struct qdb_err *err)
{
	const msgpack_object *v;
	enum qdb_dtype dtype;
	int rank, rc;
	int64_t shape[QDB_MAX_RANK];
	if ((rc = qdb_mp_check_map(o, NULL, err)))
		return rc;
	if ((rc = qdb_mp_get(o, "dtype", 1, &v, err)) || (rc = qdb_dtype_mp_read(v, "dtype", &dtype, err)))
		return rc;
	if ((rc = qdb_mp_get(o, "shape", 1, &v, err)) || (rc = qdb_shape_mp_read(v, "shape", &rank, shape, err)))
		return rc;
	if ((rc = qdb_mp_get(o, "data", 1, &v, err)))
		return rc;
	if (v->type != MSGPACK_OBJECT_BIN)
		return qdb_err_set(err, QDB_EFORMAT, "data: expected bin, got %s", qdb_mp_type_name(v));
	size_t need;
	int overflow = qdb_mul_size((size_t)qdb_shape_numel(rank, shape), qdb_dtype_size(dtype), &need);
	if (overflow || need != v->via.bin.size) {
		char s[128], n[32];
		qdb_shape_str(s, sizeof s, rank, shape);
		if (overflow)
			snprintf(n, sizeof n, "more than 2^64");
		else
			snprintf(n, sizeof n, "%zu", need);
		return qdb_err_set(err, QDB_EFORMAT, "data: %u bytes, shape %s %s needs %s",
				   v->via.bin.size, s, qdb_dtype_name(dtype), n);
	}
	struct qdb_quant q;
	qdb_quant_init(&q);
	if ((rc = qdb_quant_mp_read(o, dtype, rank, shape, &q, err)))
		return rc;
	qdb_tensor_done(out);
	out->dtype = dtype;
	out->rank = rank;
	memcpy(out->shape, shape, sizeof(int64_t) * (size_t)rank);
	out->data = (void *)v->via.bin.ptr;
	out->nbytes = need;
	out->owns_data = 0;
	out->q = q;
	return QDB_OK;
}

int qdb_tensor_mp_check(const struct qdb_tensor *t, struct qdb_err *err)
{
	if (!qdb_dtype_name(t->dtype))
		return qdb_err_set(err, QDB_EINVAL, "tensor: invalid dtype %d", (int)t->dtype);
	if (t->rank < 0 || t->rank > QDB_MAX_RANK)
		return qdb_err_set(err, QDB_EINVAL, "tensor: invalid rank %d", t->rank);
	for (int i = 0; i < t->rank; i++)
		if (t->shape[i] < 0)
			return qdb_err_set(err, QDB_EINVAL, "tensor: negative dimension");
	int64_t numel = qdb_shape_numel(t->rank, t->shape);
	size_t need;
	if (numel < 0 || qdb_mul_size((size_t)numel, qdb_dtype_size(t->dtype), &need) ||
	    need != t->nbytes || (need && !t->data) || need > UINT32_MAX)
		return qdb_err_set(err, QDB_EINVAL, "tensor: %zu data bytes do not fit its shape%s",
				   t->nbytes, need > UINT32_MAX ? " (or exceed 4 GiB)" : "");
	if (qdb_quant_validate(&t->q, t->dtype, t->rank, t->shape, "tensor", err)) {
		if (err) /* a bad argument here, not a bad file */
			err->code = QDB_EINVAL;
		return QDB_EINVAL;
	}
	if (t->q.n > 1 && t->q.axis < 0)
		return qdb_err_set(err, QDB_EINVAL, "tensor: %d scales without an axis", (int)t->q.n);
	return QDB_OK;
}

int qdb_quant_mp_nfields(const struct qdb_quant *q, enum qdb_dtype dtype)
{
	if (q->n <= 0)
		return 0;
	return 2 + (q->n > 1) + (q->qmin != INT64_MIN) + (q->qmax != INT64_MAX);
}

int qdb_quant_mp_write_fields(msgpack_packer *pk, const struct qdb_quant *q,
			      enum qdb_dtype dtype)
{
	int rc = 0;
	if (q->n <= 0)
		return 0;
	if (q->n == 1) {
		rc |= qdb_mp_pack_str(pk, "scale") | msgpack_pack_double(pk, q->scale[0]);
		rc |= qdb_mp_pack_kv_int(pk, "zero_point", q->zero_point[0]);
	} else {
		rc |= qdb_mp_pack_str(pk, "scale") | msgpack_pack_array(pk, (size_t)q->n);
		for (int32_t i = 0; i < q->n; i++)
			rc |= msgpack_pack_double(pk, q->scale[i]);
		rc |= qdb_mp_pack_str(pk, "zero_point") | msgpack_pack_array(pk, (size_t)q->n);
		for (int32_t i = 0; i < q->n; i++)
			rc |= msgpack_pack_int64(pk, q->zero_point[i]);
		rc |= qdb_mp_pack_kv_int(pk, "axis", q->axis);
	}
	if (q->qmin != INT64_MIN)
		rc |= qdb_mp_pack_kv_int(pk, "qmin", q->qmin);
	if (q->qmax != INT64_MAX)
		rc |= qdb_mp_pack_kv_int(pk, "qmax", q->qmax);
	return rc;
}

int qdb_shape_mp_write(msgpack_packer *pk, int rank, const int64_t *shape)
{
	int rc = msgpack_pack_array(pk, (size_t)rank);
	for (int i = 0; i < rank; i++)
		rc |= msgpack_pack_int64(pk, shape[i]);
	return rc;
}

int qdb_tensor_mp_write(msgpack_packer *pk, const struct qdb_tensor *t)
{
	int rc = msgpack_pack_map(pk, 3 + (size_t)qdb_quant_mp_nfields(&t->q, t->dtype));
	rc |= qdb_mp_pack_kv_str(pk, "dtype", qdb_dtype_name(t->dtype));
	rc |= qdb_mp_pack_str(pk, "shape") | qdb_shape_mp_write(pk, t->rank, t->shape);
	rc |= qdb_mp_pack_str(pk, "data") | (t->nbytes ? msgpack_pack_bin_with_body(pk, t->data, t->nbytes) : msgpack_pack_bin(pk, 0));
	rc |= qdb_quant_mp_write_fields(pk, &t->q, t->dtype);
	return rc;
}
