/* pool.c - maxpool2d, avgpool2d (ceil_mode, count_include_pad) and
 * global_avgpool in float, with torch's window and divisor rules.
 *
 * The averages reproduce torch 1.13's float summation order, so that a QAT
 * graph run here fake-quantizes the same floats torch does (a mean that
 * lands within an ulp of a rounding tie otherwise flips by one step):
 * avg_pool2d sums each window sequentially in float; a global pool is
 * torch's mean = sum / n, whose CPU sum is the cascade in SumKernel.cpp
 * (8-lane vectors, 4-way ILP, 4 levels; the AVX2 and default builds). */
#include "config.h"

#include <math.h>

#include "ops/kernel_float.h"

/* Taps [k0, k1) of a window starting at s (dilation d, k taps) that fall
 * inside [0, n). */
static void tap_range(int64_t s, int64_t d, int64_t k, int64_t n, int64_t *k0, int64_t *k1)
{
	int64_t lo = s >= 0 ? 0 : (-s + d - 1) / d;
	int64_t hi = s > n - 1 ? 0 : (n - 1 - s) / d + 1;
	*k0 = lo;
	*k1 = hi < k ? hi : k;
	if (*k1 < *k0)
		*k1 = *k0;
}

static int maxpool_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	struct qdb_pool_params p;
	int rc = qdb_pool_params_parse(a->g, a->node, &p, err);
	if (rc)
		return rc;
	const struct qdb_tensor *xt = a->in[0], *yt = a->out[0];
	int64_t planes = xt->shape[0] * xt->shape[1], H = xt->shape[2], W = xt->shape[3];
	int64_t OH = yt->shape[2], OW = yt->shape[3];
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t pl = 0; pl < planes; pl++) {
		const float *xp = x + pl * H * W;
		float *yp = y + pl * OH * OW;
		for (int64_t oh = 0; oh < OH; oh++) {
			int64_t h0 = oh * p.stride[0] - p.pad[0], ky0, ky1;
			tap_range(h0, p.dil[0], p.kernel[0], H, &ky0, &ky1);
			for (int64_t ow = 0; ow < OW; ow++) {
				int64_t w0 = ow * p.stride[1] - p.pad[1], kx0, kx1;
				tap_range(w0, p.dil[1], p.kernel[1], W, &kx0, &kx1);
				float mx = -INFINITY;
				for (int64_t ky = ky0; ky < ky1; ky++) {
					const float *row = xp + (h0 + ky * p.dil[0]) * W + w0;
					for (int64_t kx = kx0; kx < kx1; kx++) {
						float v = row[kx * p.dil[1]];
						if (v > mx || isnan(v))
							mx = v;
					}
				}
				yp[oh * OW + ow] = mx;
			}
		}
	}
	return QDB_OK;
}

static int avgpool_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	struct qdb_pool_params p;
	int rc = qdb_pool_params_parse(a->g, a->node, &p, err);
	if (rc)
		return rc;
	const struct qdb_tensor *xt = a->in[0], *yt = a->out[0];
	int64_t planes = xt->shape[0] * xt->shape[1], H = xt->shape[2], W = xt->shape[3];
	int64_t OH = yt->shape[2], OW = yt->shape[3];
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t pl = 0; pl < planes; pl++) {
		const float *xp = x + pl * H * W;
		float *yp = y + pl * OH * OW;
		for (int64_t oh = 0; oh < OH; oh++) {
			for (int64_t ow = 0; ow < OW; ow++) {
				/* torch: the divisor counts padding but not the part of a
				 * ceil_mode window hanging past the padded input */
				int64_t hs = oh * p.stride[0] - p.pad[0], ws = ow * p.stride[1] - p.pad[1];
				int64_t he = hs + p.kernel[0], we = ws + p.kernel[1];
				if (he > H + p.pad[0])
					he = H + p.pad[0];
				if (we > W + p.pad[1])
					we = W + p.pad[1];
				int64_t pool = (he - hs) * (we - ws);
				hs = hs < 0 ? 0 : hs;
				ws = ws < 0 ? 0 : ws;
				he = he > H ? H : he;
				we = we > W ? W : we;
				if (hs >= he || ws >= we) {
					yp[oh * OW + ow] = 0.0f;
					continue;
				}
				float sum = 0;
				for (int64_t ih = hs; ih < he; ih++)
					for (int64_t iw = ws; iw < we; iw++)
						sum += xp[ih * W + iw];
				int64_t div = p.count_include_pad ? pool : (he - hs) * (we - ws);
				yp[oh * OW + ow] = sum / (float)div;
			}
		}
	}
	return QDB_OK;
}

/* torch's multi_row_sum: nrows (4) interleaved accumulators of L-lane
 * blocks, cascaded over 4 levels. Block (i, k) starts at x + (i*4 + k)*L. */
#define LANES 8
#define ILP 4
#define LEVELS 4

static void multi_row_sum(const float *x, int64_t size, int L, float out[ILP][LANES])
{
	float acc[LEVELS][ILP][LANES] = {{{0}}};
	int64_t lg = 0;
	while (((int64_t)1 << lg) < size)
		lg++;
	int64_t power = lg / LEVELS > 4 ? lg / LEVELS : 4;
	int64_t step = (int64_t)1 << power, mask = step - 1;
	int64_t i = 0;
	while (i + step <= size) {
		for (int64_t j = 0; j < step; j++, i++)
			for (int k = 0; k < ILP; k++)
				for (int l = 0; l < L; l++)
					acc[0][k][l] += x[(i * ILP + k) * L + l];
		for (int j = 1; j < LEVELS; j++) {
			for (int k = 0; k < ILP; k++)
				for (int l = 0; l < L; l++) {
					acc[j][k][l] += acc[j - 1][k][l];
					acc[j - 1][k][l] = 0;
				}
			if (i & (mask << (j * power)))
				break;
		}
	}
	for (; i < size; i++)
		for (int k = 0; k < ILP; k++)
			for (int l = 0; l < L; l++)
				acc[0][k][l] += x[(i * ILP + k) * L + l];
	for (int j = 1; j < LEVELS; j++)
		for (int k = 0; k < ILP; k++)
			for (int l = 0; l < L; l++)
				acc[0][k][l] += acc[j][k][l];
	for (int k = 0; k < ILP; k++)
		for (int l = 0; l < L; l++)
			out[k][l] = acc[0][k][l];
}

/* torch's row_sum over `size` blocks of L floats, into acc[0..L). */
static void row_sum(const float *x, int64_t size, int L, float *acc)
{
	float ps[ILP][LANES];
	int64_t n4 = size / ILP;
	multi_row_sum(x, n4, L, ps);
	for (int64_t i = n4 * ILP; i < size; i++)
		for (int l = 0; l < L; l++)
			ps[0][l] += x[i * L + l];
	for (int k = 1; k < ILP; k++)
		for (int l = 0; l < L; l++)
			ps[0][l] += ps[k][l];
	for (int l = 0; l < L; l++)
		acc[l] = ps[0][l];
}

/* torch.sum of n contiguous floats (cascade_sum, inner reduction). */
static float torch_sum(const float *x, int64_t n)
{
	float acc[LANES];
	if (n < LANES) {
		row_sum(x, n, 1, acc);
		return acc[0];
	}
	int64_t nv = n / LANES;
	row_sum(x, nv, LANES, acc);
	float s = 0;
	for (int64_t k = nv * LANES; k < n; k++)
		s += x[k];
	for (int l = 0; l < LANES; l++)
		s += acc[l];
	return s;
}

static int gap_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *xt = a->in[0];
	int64_t planes = xt->shape[0] * xt->shape[1], hw = xt->shape[2] * xt->shape[3];
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t pl = 0; pl < planes; pl++)
		y[pl] = hw == 1 ? x[pl] : hw ? torch_sum(x + pl * hw, hw) / (float)hw : 0.0f;
	return QDB_OK;
}

const struct qdb_kernel qdb_kf_maxpool2d = {.run = maxpool_run};
const struct qdb_kernel qdb_kf_avgpool2d = {.run = avgpool_run};
const struct qdb_kernel qdb_kf_global_avgpool = {.run = gap_run};
