/* quant.h - quantize and fake-quantize arithmetic with PyTorch 1.13 semantics.
 *
 * One rounding rule for everything that turns a float into a quantization
 * step, as torch's CPU kernels compute it (fake_quantize_per_tensor_affine,
 * fake_quantize_per_channel_affine, quantize_per_tensor/channel):
 *
 *   s = (float)scale; inv = 1.0f / s                     (float32)
 *   r = (float)zp + nearbyintf(x * inv)                  (float32, ties to even)
 *   q = (int64)r, clamped to [qmin, qmax]
 *   fake quant: x' = (float)((double)(q - zp) * (double)s)
 *
 * Where r is NaN, infinite or outside the int64 range, torch's cast yields
 * INT64_MIN on x86 (the "integer indefinite" value), so such inputs end up
 * at qmin; we reproduce that deliberately (+inf fake-quantizes to qmin).
 *
 * The executor uses these for QAT values, QAT constants (per channel), graph
 * inputs and the cpu -> bpu boundary of a quantized graph; the integer
 * kernels may use them for the quantize op. Nothing here allocates except
 * the *_tensor helpers, whose dst the caller owns (qdb_tensor_done).
 */
#ifndef QDB_QUANT_H
#define QDB_QUANT_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "base/err.h"
#include "tensor/tensor.h"

/* nearbyintf in the default rounding mode (ties to even), without a libm
 * call: below 2^22, adding and subtracting 1.5 * 2^23 rounds to an integer
 * in float arithmetic (needs FLT_EVAL_METHOD 0 and no reassociation: C11 on
 * SSE, not -ffast-math). Larger magnitudes go to nearbyintf. The sign of a
 * zero result may differ, which no caller can see (zp is added next). */
static inline float qdb_rint_f32(float v)
{
#if FLT_EVAL_METHOD == 0 && !defined(__FAST_MATH__)
	if (fabsf(v) < 0x1p22f)
		return (v + 0x1.8p23f) - 0x1.8p23f;
#endif
	return nearbyintf(v);
}

/* The quantization step of one element (see above). */
static inline int64_t qdb_quant_step(float x, float inv, int64_t zp, int64_t qmin, int64_t qmax)
{
	float r = (float)zp + qdb_rint_f32(x * inv);
	int64_t q = (r >= -9.223372036854775808e18f && r < 9.223372036854775808e18f) ? (int64_t)r
										       : INT64_MIN;
	return q < qmin ? qmin : q > qmax ? qmax : q;
}

static inline float qdb_fake_quant1(float x, float s, float inv, int64_t zp, int64_t qmin,
				    int64_t qmax)
{
	int64_t q = qdb_quant_step(x, inv, zp, qmin, qmax);
	return (float)((double)(q - zp) * (double)s);
}

/* Fake-quantizes n floats (per-tensor): y may equal x. */
void qdb_fake_quant_f32(const float *x, float *y, int64_t n, double scale, int64_t zp,
			int64_t qmin, int64_t qmax);

/* In-place fake quant of an f32 buffer of the given shape with q (per-tensor
 * or per-channel along q->axis); the range is q's qmin/qmax within `qdtype`.
 * q must have been validated against the shape. */
void qdb_fake_quant_buf(float *data, int rank, const int64_t *shape, const struct qdb_quant *q,
			enum qdb_dtype qdtype);

/* Quantizes an f32 buffer into `out` (numel elements of integer `qdtype`). */
void qdb_quantize_buf(const float *x, int rank, const int64_t *shape, const struct qdb_quant *q,
		      enum qdb_dtype qdtype, void *out);

/* dst (initialised) := quantize(src) with q, dtype qdtype, dst->q = copy of q.
 * src is read through qdb_tensor_to_f32 (any dtype; integer sources are
 * dequantized first). dst must not be src. */
int qdb_quantize_tensor(struct qdb_tensor *dst, const struct qdb_tensor *src,
			const struct qdb_quant *q, enum qdb_dtype qdtype, struct qdb_err *err);

/* dst (initialised) := src as f32 (dequantized when src is an integer
 * tensor with quant params, converted otherwise); dst->q is cleared. */
int qdb_to_f32_tensor(struct qdb_tensor *dst, const struct qdb_tensor *src, struct qdb_err *err);

/* Same quant params (n, axis, scales, zero points, effective range for
 * `dtype`). */
int qdb_quant_equal(const struct qdb_quant *a, const struct qdb_quant *b, enum qdb_dtype dtype);

#endif
