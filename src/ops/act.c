/* act.c - activations in float: relu, relu6, clamp, sigmoid, tanh,
 * hardswish, silu, gelu (exact erf or tanh approximation), softmax.
 * Formulas follow torch's scalar CPU definitions; NaN propagates. */
#include "config.h"

#include <math.h>

#include "ops/kernel_float.h"

static int64_t numel_out(const struct qdb_kernel_args *a) { return qdb_tensor_numel(a->out[0]); }

static float clampf(float v, float lo, float hi)
{
	v = v < lo ? lo : v;
	return v > hi ? hi : v;
}

static int relu_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t i = 0, n = numel_out(a); i < n; i++)
		y[i] = x[i] < 0.0f ? 0.0f : x[i];
	return QDB_OK;
}

static int relu6_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t i = 0, n = numel_out(a); i < n; i++)
		y[i] = clampf(x[i], 0.0f, 6.0f);
	return QDB_OK;
}

static int clamp_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	float lo, hi;
	int rc = qdb_clamp_params_parse(a->g, a->node, &lo, &hi, err);
	if (rc)
		return rc;
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t i = 0, n = numel_out(a); i < n; i++)
		y[i] = clampf(x[i], lo, hi);
	return QDB_OK;
}

static int sigmoid_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t i = 0, n = numel_out(a); i < n; i++)
		y[i] = 1.0f / (1.0f + expf(-x[i]));
	return QDB_OK;
}

static int tanh_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t i = 0, n = numel_out(a); i < n; i++)
		y[i] = tanhf(x[i]);
	return QDB_OK;
}

static int hardswish_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t i = 0, n = numel_out(a); i < n; i++) {
		float v = x[i], t = v + 3.0f;
		t = t < 0.0f ? 0.0f : t;
		t = t > 6.0f ? 6.0f : t;
		y[i] = isnan(v) ? v : v * t / 6.0f;
	}
	return QDB_OK;
}

static int silu_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t i = 0, n = numel_out(a); i < n; i++)
		y[i] = x[i] / (1.0f + expf(-x[i]));
	return QDB_OK;
}

static int gelu_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	int tanh_approx;
	int rc = qdb_gelu_params_parse(a->g, a->node, &tanh_approx, err);
	if (rc)
		return rc;
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	int64_t n = numel_out(a);
	if (tanh_approx) {
		const float k0 = 0.7978845608028654f; /* sqrt(2/pi) */
		const float k1 = 0.044715f;
		for (int64_t i = 0; i < n; i++) {
			float v = x[i];
			y[i] = 0.5f * v * (1.0f + tanhf(k0 * (v + k1 * v * v * v)));
		}
	} else {
		for (int64_t i = 0; i < n; i++) {
			float v = x[i];
			y[i] = v * 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
		}
	}
	return QDB_OK;
}

static int softmax_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *xt = a->in[0];
	int axis;
	int rc = qdb_axis_param_parse(a->g, a->node, "axis", -1, xt->rank ? xt->rank : 1, &axis, err);
	if (rc)
		return rc;
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	int64_t dim = xt->rank ? xt->shape[axis] : 1;
	int64_t inner = xt->rank ? qdb_shape_numel(xt->rank - axis - 1, xt->shape + axis + 1) : 1;
	int64_t outer = xt->rank ? qdb_shape_numel(axis, xt->shape) : 1;
	for (int64_t o = 0; o < outer; o++) {
		for (int64_t in = 0; in < inner; in++) {
			const float *xs = x + o * dim * inner + in;
			float *ys = y + o * dim * inner + in;
			float mx = -INFINITY;
			for (int64_t d = 0; d < dim; d++)
				if (xs[d * inner] > mx || isnan(xs[d * inner]))
					mx = xs[d * inner];
			double sum = 0;
			for (int64_t d = 0; d < dim; d++) {
				float e = expf(xs[d * inner] - mx);
				ys[d * inner] = e;
				sum += e;
			}
			float fs = (float)sum;
			for (int64_t d = 0; d < dim; d++)
				ys[d * inner] /= fs;
		}
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_kf_relu = {.run = relu_run};
const struct qdb_kernel qdb_kf_relu6 = {.run = relu6_run};
const struct qdb_kernel qdb_kf_clamp = {.run = clamp_run};
const struct qdb_kernel qdb_kf_sigmoid = {.run = sigmoid_run};
const struct qdb_kernel qdb_kf_tanh = {.run = tanh_run};
const struct qdb_kernel qdb_kf_hardswish = {.run = hardswish_run};
const struct qdb_kernel qdb_kf_silu = {.run = silu_run};
const struct qdb_kernel qdb_kf_gelu = {.run = gelu_run};
const struct qdb_kernel qdb_kf_softmax = {.run = softmax_run};
