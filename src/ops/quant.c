/* quant.c - quantize / fake-quant arithmetic (quant.h). (In float modes
 * the quantize and dequantize ops run the copy kernel of shape.c.) */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "ops/kernel_float.h"
#include "ops/quant.h"

void qdb_fake_quant_f32(const float *x, float *y, int64_t n, double scale, int64_t zp,
			int64_t qmin, int64_t qmax)
{
	float s = (float)scale, inv = 1.0f / s;
	for (int64_t i = 0; i < n; i++)
		y[i] = qdb_fake_quant1(x[i], s, inv, zp, qmin, qmax);
}

/* outer x dim x inner view of a per-channel layout; per-tensor: dim = 1. */
static void channel_layout(int rank, const int64_t *shape, const struct qdb_quant *q,
			   int64_t *outer, int64_t *dim, int64_t *inner)
{
	int64_t numel = qdb_shape_numel(rank, shape);
	if (q->n <= 1 || q->axis < 0 || q->axis >= rank || shape[q->axis] != q->n) {
		*outer = 1;
		*dim = 1;
		*inner = numel;
		return;
	}
	*outer = qdb_shape_numel(q->axis, shape);
	*dim = shape[q->axis];
	*inner = qdb_shape_numel(rank - q->axis - 1, shape + q->axis + 1);
}

void qdb_fake_quant_buf(float *data, int rank, const int64_t *shape, const struct qdb_quant *q,
			enum qdb_dtype qdtype)
{
	int64_t outer, dim, inner, lo, hi;
	if (q->n <= 0)
		return;
	qdb_quant_range(q, qdtype, &lo, &hi);
	channel_layout(rank, shape, q, &outer, &dim, &inner);
	float *p = data;
	for (int64_t o = 0; o < outer; o++)
		for (int64_t c = 0; c < dim; c++, p += inner)
			qdb_fake_quant_f32(p, p, inner, q->scale[c], q->zero_point[c], lo, hi);
}

#define QUANT_LOOP(T)                                                           \
	do {                                                                        \
		T *o_ = (T *)out;                                                       \
		for (int64_t i = 0; i < inner; i++)                                     \
			o_[off + i] = (T)qdb_quant_step(x[off + i], inv, zp, lo, hi);        \
	} while (0)

void qdb_quantize_buf(const float *x, int rank, const int64_t *shape, const struct qdb_quant *q,
		      enum qdb_dtype qdtype, void *out)
{
	int64_t outer, dim, inner, lo, hi;
	qdb_quant_range(q, qdtype, &lo, &hi);
	channel_layout(rank, shape, q, &outer, &dim, &inner);
	int64_t off = 0;
	for (int64_t o = 0; o < outer; o++) {
		for (int64_t c = 0; c < dim; c++, off += inner) {
			double sc = q->n > 0 ? q->scale[c] : 1.0;
			int64_t zp = q->n > 0 ? q->zero_point[c] : 0;
			float inv = 1.0f / (float)sc;
			switch (qdtype) {
			case QDB_I8: QUANT_LOOP(int8_t); break;
			case QDB_U8: QUANT_LOOP(uint8_t); break;
			case QDB_I16: QUANT_LOOP(int16_t); break;
			case QDB_I32: QUANT_LOOP(int32_t); break;
			case QDB_I64: QUANT_LOOP(int64_t); break;
			default: break;
			}
		}
	}
}

int qdb_to_f32_tensor(struct qdb_tensor *dst, const struct qdb_tensor *src, struct qdb_err *err)
{
	int rc = qdb_tensor_alloc(dst, QDB_F32, src->rank, src->shape, err);
	if (rc)
		return rc;
	qdb_quant_done(&dst->q);
	qdb_tensor_to_f32(src, dst->data);
	return QDB_OK;
}

int qdb_quantize_tensor(struct qdb_tensor *dst, const struct qdb_tensor *src,
			const struct qdb_quant *q, enum qdb_dtype qdtype, struct qdb_err *err)
{
	if (!qdb_dtype_is_int(qdtype))
		return qdb_err_set(err, QDB_EINVAL, "quantize: %s is not an integer dtype",
				   qdb_dtype_name(qdtype) ? qdb_dtype_name(qdtype) : "?");
	int64_t n = qdb_tensor_numel(src);
	const float *x;
	float *tmp = NULL;
	if (src->dtype == QDB_F32 && ((uintptr_t)src->data % sizeof(float)) == 0) {
		x = src->data;
	} else {
		tmp = qdb_alloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
		if (!tmp)
			return qdb_err_set(err, QDB_ENOMEM, "quantize: out of memory");
		qdb_tensor_to_f32(src, tmp);
		x = tmp;
	}
	int rc = qdb_tensor_alloc(dst, qdtype, src->rank, src->shape, err);
	if (!rc)
		rc = qdb_quant_copy(&dst->q, q, err);
	if (!rc)
		qdb_quantize_buf(x, src->rank, src->shape, q, qdtype, dst->data);
	qdb_free(tmp);
	return rc;
}

int qdb_quant_equal(const struct qdb_quant *a, const struct qdb_quant *b, enum qdb_dtype dtype)
{
	if (a->n != b->n || (a->n > 1 && a->axis != b->axis))
		return 0;
	for (int i = 0; i < a->n; i++)
		if (a->scale[i] != b->scale[i] || a->zero_point[i] != b->zero_point[i])
			return 0;
	int64_t alo, ahi, blo, bhi;
	qdb_quant_range(a, dtype, &alo, &ahi);
	qdb_quant_range(b, dtype, &blo, &bhi);
	return alo == blo && ahi == bhi;
}
