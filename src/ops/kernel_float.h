/* kernel_float.h - the float kernels (QDB_EXEC_FLOAT) and their shared helpers.
 *
 * One op family per file: conv.c, linear.c (linear, matmul), eltwise.c (add,
 * mul), act.c (relu ... softmax), pool.c, shape.c (concat, flatten, reshape,
 * permute, upsample_nearest, identity), quant.c (quantize/dequantize pass
 * through). qdb_kernel_float_for (registry.c) maps ops to them.
 *
 * Contract (beyond kernel.h): every input and output is an f32 tensor whose
 * data is 4-byte aligned (the executor converts and allocates), shapes are
 * the ones shape inference computed, and run() writes every output element.
 * Compute is f32 with double accumulation where it is cheap (reductions).
 */
#ifndef QDB_KERNEL_FLOAT_H
#define QDB_KERNEL_FLOAT_H

#include <math.h>
#include <stdint.h>

#include "ops/kernel.h"
#include "ops/params.h"

extern const struct qdb_kernel qdb_kf_conv2d;
extern const struct qdb_kernel qdb_kf_linear, qdb_kf_matmul;
extern const struct qdb_kernel qdb_kf_add, qdb_kf_mul;
extern const struct qdb_kernel qdb_kf_relu, qdb_kf_relu6, qdb_kf_clamp, qdb_kf_sigmoid,
	qdb_kf_tanh, qdb_kf_hardswish, qdb_kf_silu, qdb_kf_gelu, qdb_kf_softmax;
extern const struct qdb_kernel qdb_kf_maxpool2d, qdb_kf_avgpool2d, qdb_kf_global_avgpool;
extern const struct qdb_kernel qdb_kf_concat, qdb_kf_copy, qdb_kf_permute,
	qdb_kf_upsample_nearest;

const struct qdb_kernel *qdb_kernel_float_for(int op);

/* Clamps n values to the fused activation's range (NaN stays NaN, as in
 * torch's clamp). */
static inline void qdb_act_apply(float *y, int64_t n, const struct qdb_act *act)
{
	if (act->kind == QDB_ACT_NONE)
		return;
	float lo = act->lo, hi = act->hi;
	for (int64_t i = 0; i < n; i++) {
		float v = y[i];
		v = v < lo ? lo : v;
		v = v > hi ? hi : v;
		y[i] = v;
	}
}

static inline const float *qdb_kf_in(const struct qdb_kernel_args *a, int i)
{
	return (const float *)a->in[i]->data;
}

static inline float *qdb_kf_out(const struct qdb_kernel_args *a, int i)
{
	return (float *)a->out[i]->data;
}

#endif
