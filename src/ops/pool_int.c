/* pool_int.c - maxpool2d, avgpool2d and global_avgpool on integers.
 *
 * maxpool: the integer maximum over the window (padding never wins), then
 * a rescale when the output's qparams differ.
 *
 * avgpool / global_avgpool: acc = sum(q) - n * zp_x over the n valid
 * inputs; the divisor follows torch (count_include_pad: the window clipped
 * to the padded input, else n).
 *  - torch profile reproduces quantized avg_pool2d / adaptive_avg_pool2d,
 *    which round differently depending on torch's memory format
 *    (qdb_torch_channels_last): channels-last q = rint((float)acc * m) + zp_y
 *    with m = (float)(s_x / s_y / div); contiguous NCHW avgpool
 *    q = rint((float)acc * m + (float)zp_y); contiguous adaptive (global)
 *    pool q = rint((float)sum(q) * r), r = (1.0f / H) / W in float, in the
 *    input's domain (torch keeps the input's qparams there; when the
 *    output's differ, the channels-last formula).
 *  - fixed profile: q = zp_y + round(round(acc * s_x/s_y) / div), the
 *    multiplier a Q31 one (skipped when the qparams are the same), both
 *    roundings by the graph's rounding.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"

struct pool_prep {
	int op;
	struct qdb_pool_params p;
	struct qdb_qp in, out;
	struct qdb_rescale rs;     /* in -> out (max, fixed avg, NCHW global) */
	int torch, channels_last;
	enum qdb_rounding rounding;
	struct qdb_rq rq;          /* fixed avg: s_x / s_y */
	int same;                  /* same qparams */
};

static int pool_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct pool_prep *pp = qdb_calloc(1, sizeof *pp);
	int rc;
	if (!pp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	pp->op = nd->op;
	if ((nd->op != QDB_OP_GLOBAL_AVGPOOL && (rc = qdb_pool_params_parse(g, node, &pp->p, err))) ||
	    (rc = qdb_qp_of(g, node, nd->inputs[0], &pp->in, err)) ||
	    (rc = qdb_qp_of(g, node, nd->outputs[0], &pp->out, err)) ||
	    (rc = qdb_rescale_init(g, node, 0, &pp->in, &pp->out, &pp->rs, err))) {
		qdb_free(pp);
		return rc;
	}
	pp->torch = g->profile == QDB_PROFILE_TORCH;
	pp->rounding = g->rounding;
	pp->channels_last = qdb_torch_channels_last(g, nd->inputs[0]);
	pp->same = pp->rs.identity;
	if (!pp->torch && !pp->same)
		pp->rq = pp->rs.rq;
	*prep = pp;
	return QDB_OK;
}

static void pool_release(void *prep) { qdb_free(prep); }

static size_t pool_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct qdb_value *x = &g->values[g->nodes[node].inputs[0]];
	const struct qdb_value *y = &g->values[g->nodes[node].outputs[0]];
	if (x->rank != 4 || y->rank != 4)
		return 0;
	return (size_t)(x->shape[2] * x->shape[3] + y->shape[2] * y->shape[3]) * sizeof(int32_t);
}

/* Fixed profile: the sum rescaled to output steps first (so a finer output
 * keeps its precision), then divided, both rounded. */
static int32_t fixed_avg(const struct pool_prep *pp, int64_t acc, int64_t div)
{
	if (!pp->same)
		acc = qdb_rq_apply64(acc, pp->rq, pp->rounding);
	int64_t v = qdb_rq_div_round(acc, div, pp->rounding);
	return (int32_t)qdb_clamp64(v + pp->out.zp, pp->out.lo, pp->out.hi);
}

/* torch avg_pool2d of one window. */
static int32_t torch_avg(const struct pool_prep *pp, int64_t acc, int64_t div)
{
	float m = (float)(pp->in.s / pp->out.s / (double)div);
	float v;
	if (pp->channels_last) {
		v = nearbyintf((float)acc * m) + (float)pp->out.zp;
	} else {
		v = (float)acc * m;
		v = nearbyintf(v + (float)pp->out.zp);
	}
	float lo = (float)pp->out.lo, hi = (float)pp->out.hi;
	v = v < lo ? lo : v > hi ? hi : v;
	return (int32_t)v;
}

static int pool_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct pool_prep *pp = a->prep;
	const struct qdb_tensor *x = a->in[0];
	struct qdb_tensor *y = a->out[0];
	const char *name = a->g->nodes[a->node].name;
	if (x->rank != 4 || y->rank != 4)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: pooling needs rank-4 tensors", name);
	int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
	int64_t OH = y->shape[2], OW = y->shape[3];
	if (y->shape[0] != N || y->shape[1] != C)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: pooling shapes do not fit", name);
	if (!a->scratch || a->scratch_bytes < (size_t)(H * W + OH * OW) * sizeof(int32_t))
		return qdb_err_set(err, QDB_EINVAL, "node %s: scratch too small", name);
	int32_t *plane = a->scratch, *o = plane + H * W;
	const struct qdb_pool_params *p = &pp->p;
	for (int64_t nc = 0; nc < N * C; nc++) {
		qdb_int_load(x, nc * H * W, H * W, plane);
		if (pp->op == QDB_OP_GLOBAL_AVGPOOL) {
			int64_t sum = 0, n = H * W;
			for (int64_t i = 0; i < n; i++)
				sum += plane[i];
			int64_t acc = sum - n * pp->in.zp;
			if (!pp->torch) {
				o[0] = fixed_avg(pp, acc, n);
			} else if (pp->channels_last || !pp->same) {
				/* torch's contiguous path keeps the input's qparams; an
				 * output quantized otherwise is not torch's: one rounding */
				o[0] = torch_avg(pp, acc, n);
			} else {
				float r = (1.0f / (float)H) / (float)W;
				int32_t q = (int32_t)nearbyintf((float)sum * r);
				o[0] = qdb_rescale1(&pp->rs, q);
			}
			qdb_int_store(y, nc * OH * OW, 1, o);
			continue;
		}
		for (int64_t oh = 0; oh < OH; oh++) {
			for (int64_t ow = 0; ow < OW; ow++) {
				int64_t hs = oh * p->stride[0] - p->pad[0], ws = ow * p->stride[1] - p->pad[1];
				if (pp->op == QDB_OP_MAXPOOL2D) {
					int32_t mx = INT32_MIN;
					for (int64_t ky = 0; ky < p->kernel[0]; ky++) {
						int64_t iy = hs + ky * p->dil[0];
						if (iy < 0 || iy >= H)
							continue;
						for (int64_t kx = 0; kx < p->kernel[1]; kx++) {
							int64_t ix = ws + kx * p->dil[1];
							if (ix >= 0 && ix < W && plane[iy * W + ix] > mx)
								mx = plane[iy * W + ix];
						}
					}
					/* A window entirely in padding cannot occur (pad <= k/2). */
					o[oh * OW + ow] = qdb_rescale1(&pp->rs, mx == INT32_MIN ? (int32_t)pp->in.zp : mx);
					continue;
				}
				int64_t he = hs + p->kernel[0] < H + p->pad[0] ? hs + p->kernel[0] : H + p->pad[0];
				int64_t we = ws + p->kernel[1] < W + p->pad[1] ? ws + p->kernel[1] : W + p->pad[1];
				int64_t pool = (he - hs) * (we - ws);
				int64_t h0 = hs > 0 ? hs : 0, w0 = ws > 0 ? ws : 0;
				int64_t h1 = he < H ? he : H, w1 = we < W ? we : W;
				int64_t sum = 0, n = (h1 - h0) * (w1 - w0);
				for (int64_t iy = h0; iy < h1; iy++)
					for (int64_t ix = w0; ix < w1; ix++)
						sum += plane[iy * W + ix];
				int64_t div = p->count_include_pad ? pool : n;
				int64_t acc = sum - n * pp->in.zp;
				if (div <= 0) {
					o[oh * OW + ow] = (int32_t)pp->out.zp;
					continue;
				}
				o[oh * OW + ow] = pp->torch ? torch_avg(pp, acc, div) : fixed_avg(pp, acc, div);
			}
		}
		qdb_int_store(y, nc * OH * OW, OH * OW, o);
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_maxpool2d = {pool_prepare, pool_release, pool_scratch, pool_run};
const struct qdb_kernel qdb_ki_avgpool2d = {pool_prepare, pool_release, pool_scratch, pool_run};
const struct qdb_kernel qdb_ki_global_avgpool = {pool_prepare, pool_release, pool_scratch,
						 pool_run};
