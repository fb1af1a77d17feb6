/* kernel_int.h - integer kernels of quantized graphs (QDB_EXEC_INT).
 *
 * qdb_kernel_int_for(op) is what src/ops/registry.c calls for
 * qdb_kernel_for(op, QDB_EXEC_INT); NULL means the op has no integer kernel
 * (validation reports it at load time). The kernels live one family per file
 * (conv_int.c, linear_int.c, eltwise_int.c, act_int.c, pool_int.c,
 * shape_int.c, quant_int.c) and follow src/ops/kernel.h: the executor
 * allocates outputs with the output value's dtype and qparams; per-node data
 * (packed weights, multipliers, LUTs) is made once by prepare().
 *
 * Activations are per-tensor quantized int8, uint8 or int16 (any zero point
 * and [qmin, qmax] within the dtype); weights int8 or uint8, per-tensor or
 * per-channel along the output axis. Arithmetic follows g->profile and
 * g->rounding (ops/requant.h). Attributes written by `qdb convert` for the
 * fixed profile (all optional: a kernel derives them from the qparams when
 * absent, so hand-made graphs run too):
 *   rq_mult, rq_shift   ints: Q31 multipliers/exponents (per output channel
 *                       for conv2d/linear; [a, b, out] for add; one per input
 *                       for concat; one for mul, matmul and rescaling ops)
 *   rq_left_shift       int: add's input left shift (20 for 8-bit, 14 for
 *                       16-bit inputs)
 *   lut                 string: name of an i32 constant, the lookup table of
 *                       sigmoid/tanh/hardswish/silu/gelu (output integer per
 *                       input integer; 256 entries for 8-bit inputs, 257
 *                       interpolation knots for 16-bit ones) or softmax's exp
 *                       table.
 * The helpers below are shared by those files and by convert (src/graph).
 */
#ifndef QDB_KERNEL_INT_H
#define QDB_KERNEL_INT_H

#include <stdint.h>

#include "ops/kernel.h"
#include "ops/params.h"
#include "ops/requant.h"

const struct qdb_kernel *qdb_kernel_int_for(int op);

extern const struct qdb_kernel qdb_ki_conv2d;
extern const struct qdb_kernel qdb_ki_linear, qdb_ki_matmul;
extern const struct qdb_kernel qdb_ki_add, qdb_ki_mul;
extern const struct qdb_kernel qdb_ki_relu, qdb_ki_relu6, qdb_ki_clamp, qdb_ki_lut_act,
	qdb_ki_softmax;
extern const struct qdb_kernel qdb_ki_maxpool2d, qdb_ki_avgpool2d, qdb_ki_global_avgpool;
extern const struct qdb_kernel qdb_ki_concat, qdb_ki_copy, qdb_ki_permute,
	qdb_ki_upsample_nearest;
extern const struct qdb_kernel qdb_ki_quantize, qdb_ki_dequantize;

/* Per-tensor quant params of an integer value, resolved. */
struct qdb_qp {
	double s;
	int64_t zp;
	int64_t lo, hi;      /* effective [qmin, qmax] */
	enum qdb_dtype dt;   /* i8, u8 or i16 (i32 accepted where noted) */
};

/* Reads the value's qparams; fails (naming node and value) when it has
 * none, is per-channel, or its dtype is not an 8/16-bit integer. */
int qdb_qp_of(const struct qdb_graph *g, int node, int value, struct qdb_qp *qp,
	      struct qdb_err *err);
int qdb_qp_equal(const struct qdb_qp *a, const struct qdb_qp *b);

/* Multiplier k of a fixed-profile node: the rq_mult/rq_shift attrs when
 * present (checked), else computed from `real`. */
int qdb_node_rq(const struct qdb_graph *g, int node, int k, double real, struct qdb_rq *out,
		struct qdb_err *err);

/* A real value quantized into out's domain by the graph's profile: torch's
 * quantize_val arithmetic, or round(v / s) by the graph's rounding (fixed). */
int64_t qdb_qp_quantize(const struct qdb_graph *g, const struct qdb_qp *out, double v);

/* Integer output range of a fused activation (node attr act) on out. */
int qdb_act_qrange(const struct qdb_graph *g, int node, const struct qdb_qp *out, int64_t *lo,
		   int64_t *hi, struct qdb_err *err);

/* Raw integers of a tensor, elements [i0, i0+n), to/from int32. Stored
 * values must already be within the dtype. */
void qdb_int_load(const struct qdb_tensor *t, int64_t i0, int64_t n, int32_t *out);
void qdb_int_store(struct qdb_tensor *t, int64_t i0, int64_t n, const int32_t *in);

/* Re-expressing an integer of one domain in another (same real value). */
struct qdb_rescale {
	int identity;              /* same qparams: copy */
	int torch;
	enum qdb_rounding rounding;
	struct qdb_rq rq;          /* fixed */
	double s_in;               /* torch: plain dequantize */
	float inv_out;
	int64_t zi, zo, lo, hi;
};
int qdb_rescale_init(const struct qdb_graph *g, int node, int k, const struct qdb_qp *in,
		     const struct qdb_qp *out, struct qdb_rescale *r, struct qdb_err *err);
static inline int32_t qdb_rescale1(const struct qdb_rescale *r, int32_t q)
{
	int64_t v;
	if (r->identity)
		return q;
	if (r->torch) {
		float x = (float)((double)(float)((int64_t)q - r->zi) * r->s_in);
		return (int32_t)qdb_torch_quant(x, r->inv_out, r->zo, r->lo, r->hi);
	}
	v = (int64_t)qdb_rq_apply64((int64_t)q - r->zi, r->rq, r->rounding) + r->zo;
	return (int32_t)qdb_clamp64(v, r->lo, r->hi);
}
void qdb_rescale_buf(const struct qdb_rescale *r, int32_t *buf, int64_t n);

/* Weights, bias and requantization of conv2d/linear (shared prepare). */
struct qdb_wq {
	struct qdb_qp x, y;
	int64_t o;                 /* output channels */
	int64_t k;                 /* reduction length per group */
	int64_t groups;
	int16_t *w16;              /* (w - zp_w), o x k, owned */
	int64_t wmax;              /* max |w - zp_w| */
	int torch;
	enum qdb_rounding rounding;
	struct qdb_torch_rq *trq;  /* torch: per channel */
	struct qdb_rq *rq;         /* fixed: per channel */
	int32_t *bias32;           /* fixed: per channel, at s_x * s_w[c] */
	int64_t qlo, qhi;          /* output range incl. the fused activation */
};
/* Reads inputs 1 (weights, constant, o x ...) and 2 (optional bias,
 * constant) of `node`; k = numel(w) / o. */
int qdb_wq_prepare(const struct qdb_graph *g, int node, int64_t groups, struct qdb_wq *wq,
		   struct qdb_err *err);
void qdb_wq_done(struct qdb_wq *wq);
/* Requantizes n accumulators of output channel oc (acc32 or acc64) into
 * integers in [qlo, qhi]. */
void qdb_wq_requant(const struct qdb_wq *wq, int64_t oc, const int32_t *acc32,
		    const int64_t *acc64, int64_t n, int32_t *out);

/* Lookup tables of the fixed profile (also built by convert). For an 8-bit
 * input: 256 entries, entry i = output for input qmin_dtype + i. For a
 * 16-bit input: 257 knots, knot j = output at input -32768 + 256*j (the
 * last at +32768 extrapolated), linear interpolation between them. Entries
 * are output integers (clamped for 8-bit inputs; 16-bit knots are not,
 * the kernel clamps after interpolating). Softmax's table holds
 * exp(-d * s_x) in Q24 (d = row max - input). */
int qdb_lut_size(enum qdb_dtype in_dt);
int qdb_lut_build(int op, int gelu_tanh, const struct qdb_qp *in, const struct qdb_qp *out,
		  enum qdb_rounding rounding, int32_t *table, struct qdb_err *err);
int qdb_lut_softmax_build(const struct qdb_qp *in, enum qdb_rounding rounding, int32_t *table,
			  struct qdb_err *err);
/* The float function of a LUT op (torch profile arithmetic, float32). */
float qdb_act_torch_f(int op, int gelu_tanh, float x);

/* torch's memory format of a 4-D value in a convert_fx model: 1 when torch
 * would hold it channels-last (produced by a conv, or by layout-preserving
 * ops from one, or with C == 1 or H == W == 1). Pooling rounds differently
 * in the two formats. */
int qdb_torch_channels_last(const struct qdb_graph *g, int value);

#endif
