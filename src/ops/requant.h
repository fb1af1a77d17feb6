/* requant.h - integer requantization: rounding modes, Q31 multipliers, and
 * the arithmetic of the two profiles of a quantized graph.
 *
 * Profile "fixed" (what an integer accelerator does): a real multiplier M is
 * stored as a Q31 mantissa `mult` in [2^30, 2^31) and an exponent `shift`,
 * M ~= mult * 2^(shift - 31) (qdb_rq_from_double; TFLite's
 * QuantizeMultiplier). x * M is rounded by one of three rules:
 *  - half_away: TFLite's double rounding, SaturatingRoundingDoublingHighMul
 *    (x * 2^max(shift,0)) then RoundingDivideByPOT(-min(shift,0)). The
 *    second rounds half away from zero; the first is gemmlowp's nudge
 *    ((ab + (ab >= 0 ? 2^30 : 1 - 2^30)) / 2^31, truncating), which sends
 *    negative ties toward zero. Two roundings: the result can differ from
 *    round(x * M) by one. Reproduced bit for bit (also for 64-bit x).
 *  - half_up: one rounding of the exact 64-bit product, ties toward +inf
 *    (TFLite's single-rounding variant: (x*mult + 2^(s-1)) >> s).
 *  - half_even: one rounding of the exact product, ties to even.
 * Saturation: results that do not fit int32 saturate; a multiplier below
 * 2^-31 becomes 0 (QDB_RQ_UNDERFLOW), one of 2^30 or more saturates to the
 * largest representable (QDB_RQ_OVERFLOW). convert reports both.
 *
 * Profile "torch" (bit-exact with PyTorch 1.13 int8 convert_fx models on the
 * x86 "onednn" engine, found by experiment, see tests/torch/): every
 * quantity is float32 and rounding is nearbyint (ties to even):
 *  - conv2d/linear (oneDNN u8s8, f32 bias): with ss=(float)(1/s_x),
 *    ws=(float)(1/s_w[c]), ds=(float)(1/s_y): bsc = ss*ws, osc = ds/bsc,
 *    bf = (float)bias * bsc (the bias moved to the accumulator scale, kept
 *    in f32); q = rint(((float)acc + bf) * osc + (float)zp_y), saturated.
 *    Each operation rounds to float32 separately (no FMA). Matches torch on
 *    every element of ~10^8 conv outputs tried; on linear, oneDNN's AMX
 *    matmul differs on ~6e-7 of elements (1 LSB).
 *  - elementwise (add, add_relu, hardswish, sigmoid, tanh, ...): inputs are
 *    dequantized with an FMA, x = fmaf(s, q, s * -zp) (s = (float)scale),
 *    the op runs in float32, and the result is quantized as
 *    quantize_per_tensor does: zp + rint(v * (1.0f / s_y)), clamped.
 *  - mul: m = (float)(s_a*s_b) * (1.0f/s_y); q = zp + rint((float)((a-za)*(b-zb)) * m).
 *  - dequantize: (float)((double)(float)(q - zp) * scale).
 *  - saturation at the dtype's range, not at qmin/qmax: torch's quantized
 *    tensors do not carry fake quant's reduced range (reduce_range), its
 *    kernels clamp to 0..255 for quint8 (found on convert_fx models whose
 *    activations are 0..127 in QAT).
 * See man/qdb-formats.5 (PROFILES) for the pooling rules (they depend on
 * torch's memory format). The evidence: tests/torch/int_ops.py (single
 * ops, all exact) and tests/torch/agree.py (whole models, all exact).
 *
 * Nothing here allocates.
 */
#ifndef QDB_REQUANT_H
#define QDB_REQUANT_H

#include <math.h>
#include <stdint.h>

#include "graph/graph.h"

/* A real multiplier as Q31 mantissa and exponent: mult * 2^(shift - 31). */
struct qdb_rq {
	int32_t mult;  /* 0 or in [2^30, 2^31) */
	int32_t shift; /* -31 .. 30 */
};

enum { QDB_RQ_OK = 0, QDB_RQ_UNDERFLOW = 1, QDB_RQ_OVERFLOW = 2, QDB_RQ_INVALID = 3 };

/* Converts a real multiplier (>= 0, finite). Returns QDB_RQ_OK, or one of
 * the flags above with *out set to the nearest usable value (0 on
 * underflow/invalid, the largest on overflow). */
int qdb_rq_from_double(double real, struct qdb_rq *out);
/* The multiplier's exact value. */
double qdb_rq_value(struct qdb_rq m);

/* round(x * M) for a 64-bit x (int16 accumulators, products of 16-bit
 * values), saturated to int32. */
int32_t qdb_rq_apply64(int64_t x, struct qdb_rq m, enum qdb_rounding r);

/* Saturating narrowing helpers. */
static inline int32_t qdb_sat_i32(int64_t v)
{
	return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}
static inline int64_t qdb_clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* TFLite's SaturatingRoundingDoublingHighMul: a * b / 2^31 rounded, ties
 * up for positive and toward zero for negative products (gemmlowp). */
static inline int32_t qdb_rq_srdhm(int32_t a, int32_t b)
{
	if (a == b && a == INT32_MIN)
		return INT32_MAX;
	int64_t ab = (int64_t)a * (int64_t)b;
	int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
	/* C division truncates toward zero, as gemmlowp relies on. */
	return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* TFLite's RoundingDivideByPOT: x / 2^exponent, ties away from zero. */
static inline int32_t qdb_rq_rdbpot(int32_t x, int exponent)
{
	if (exponent <= 0)
		return x;
	if (exponent > 31)
		exponent = 31;
	int32_t mask = (int32_t)((((int64_t)1) << exponent) - 1);
	int32_t remainder = x & mask;
	int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
	/* Arithmetic right shift of a negative value: implementation-defined
	 * in C11 but arithmetic on every compiler qdb targets. */
	return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* round(x * M) with the given rounding, saturated to int32. */
static inline int32_t qdb_rq_apply(int32_t x, struct qdb_rq m, enum qdb_rounding r)
{
	if (m.mult == 0)
		return 0;
	int s = 31 - m.shift; /* 1 .. 62 */
	switch (r) {
	case QDB_ROUND_HALF_AWAY: {
		int left = m.shift > 0 ? m.shift : 0, right = m.shift > 0 ? 0 : -m.shift;
		int64_t xl = (int64_t)x * ((int64_t)1 << left);
		if (xl < INT32_MIN || xl > INT32_MAX)
			return qdb_rq_apply64(x, m, r);
		return qdb_rq_rdbpot(qdb_rq_srdhm((int32_t)xl, m.mult), right);
	}
	case QDB_ROUND_HALF_UP: {
		int64_t p = (int64_t)x * m.mult + ((int64_t)1 << (s - 1));
		return qdb_sat_i32(p >> s);
	}
	case QDB_ROUND_HALF_EVEN:
	default: {
		int64_t p = (int64_t)x * m.mult;
		int64_t fl = p >> s, rem = p - fl * ((int64_t)1 << s), half = (int64_t)1 << (s - 1);
		if (rem > half || (rem == half && (fl & 1)))
			fl++;
		return qdb_sat_i32(fl);
	}
	}
}

/* num / den (den > 0) rounded; used for averages. */
int64_t qdb_rq_div_round(int64_t num, int64_t den, enum qdb_rounding r);
/* A real value rounded to an integer (ties by the mode). */
double qdb_rq_round(double x, enum qdb_rounding r);

/* ---- torch profile ---- */

/* Per-output-channel constants of a torch conv2d/linear requantization. */
struct qdb_torch_rq {
	float osc; /* output scale in oneDNN's sense: ds / (ss * ws) */
	float bf;  /* bias at the accumulator scale (0 without bias) */
};
void qdb_torch_rq_init(struct qdb_torch_rq *t, double s_x, double s_w, double s_y, float bias);

/* acc -> integer output (zero point added, clamped to [lo, hi]). */
static inline int64_t qdb_torch_rq_apply(int64_t acc, const struct qdb_torch_rq *t, float zp,
					 float lo, float hi)
{
	float v = (float)acc + t->bf;
	v = v * t->osc;
	v = v + zp;
	v = v < lo ? lo : v;
	v = v > hi ? hi : v; /* NaN cannot occur: finite operands */
	return (int64_t)nearbyintf(v);
}

/* torch's vectorised dequantize: fmaf(s, q, s * -zp). */
struct qdb_torch_deq {
	float s, premul;
};
static inline void qdb_torch_deq_init(struct qdb_torch_deq *d, double scale, int64_t zp)
{
	d->s = (float)scale;
	d->premul = d->s * -(float)zp;
}
static inline float qdb_torch_deq(const struct qdb_torch_deq *d, int64_t q)
{
	return fmaf(d->s, (float)q, d->premul);
}

/* torch's quantize of a float: zp + rint(v * inv), inv = 1.0f / (float)s,
 * clamped. NaN goes to lo and +inf to hi (qdb_quant_step sends +inf to qmin,
 * as torch's quantize_per_tensor does); here the values come from integer
 * tensors, so neither can occur and the two agree on every finite input. */
static inline int64_t qdb_torch_quant(float v, float inv, int64_t zp, int64_t lo, int64_t hi)
{
	float r = nearbyintf(v * inv);
	if (!(r > -2147483648.0f))
		r = -2147483648.0f;
	if (r > 2147483520.0f)
		r = 2147483520.0f;
	int64_t q = (int64_t)r + zp;
	return q < lo ? lo : q > hi ? hi : q;
}

#endif
