/* eltwise_int.c - add and mul on integers, numpy broadcasting, fused
 * activation as an integer clamp.
 *
 * add, torch profile (quantized::add / add_relu): both inputs dequantized
 * with torch's FMA form, summed in float, quantized with the output's
 * reciprocal scale. fixed profile (TFLite): each input (q - zp) is shifted
 * left by rq_left_shift (20 for 8-bit inputs, 14 when one is 16-bit, so
 * the sum of two shifted 16-bit differences stays within int32), scaled by
 * s_in / (2 max(s_a, s_b)) (multipliers 0 and 1), summed, and scaled by
 * 2 max(s_a, s_b) / (2^shift s_y) (multiplier 2).
 *
 * mul, torch profile (quantized::mul): m = (float)s_a * (float)s_b *
 * (1.0f / s_y) in float; q = zp + rint((float)((a - za)(b - zb)) * m).
 * fixed: the exact product requantized by s_a s_b / s_y.
 */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"

#define CHUNK 1024

struct elt_prep {
	int op;
	struct qdb_qp a, b, y;
	int64_t qlo, qhi;
	int torch;
	enum qdb_rounding rounding;
	/* torch */
	struct qdb_torch_deq da, db;
	float inv_y, mul_m;
	/* fixed */
	struct qdb_rq ra, rb, ro, rm;
	int left_shift;
};

static int elt_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct elt_prep *ep = qdb_calloc(1, sizeof *ep);
	int rc;
	if (!ep)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	ep->op = nd->op;
	ep->torch = g->profile == QDB_PROFILE_TORCH;
	ep->rounding = g->rounding;
	if ((rc = qdb_qp_of(g, node, nd->inputs[0], &ep->a, err)) ||
	    (rc = qdb_qp_of(g, node, nd->inputs[1], &ep->b, err)) ||
	    (rc = qdb_qp_of(g, node, nd->outputs[0], &ep->y, err)) ||
	    (rc = qdb_act_qrange(g, node, &ep->y, &ep->qlo, &ep->qhi, err)))
		goto fail;
	qdb_torch_deq_init(&ep->da, ep->a.s, ep->a.zp);
	qdb_torch_deq_init(&ep->db, ep->b.s, ep->b.zp);
	ep->inv_y = 1.0f / (float)ep->y.s;
	{
		float sa = (float)ep->a.s, sb = (float)ep->b.s;
		ep->mul_m = sa * sb * ep->inv_y;
	}
	if (!ep->torch) {
		if (ep->op == QDB_OP_ADD) {
			int wide = ep->a.dt == QDB_I16 || ep->b.dt == QDB_I16;
			ep->left_shift = (int)qdb_node_attr_int(nd, "rq_left_shift", wide ? 14 : 20);
			if (ep->left_shift < 0 || ep->left_shift > 30) {
				rc = qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'rq_left_shift': %d out of 0..30",
						 nd->name, ep->left_shift);
				goto fail;
			}
			double twice = 2.0 * (ep->a.s > ep->b.s ? ep->a.s : ep->b.s);
			if ((rc = qdb_node_rq(g, node, 0, ep->a.s / twice, &ep->ra, err)) ||
			    (rc = qdb_node_rq(g, node, 1, ep->b.s / twice, &ep->rb, err)) ||
			    (rc = qdb_node_rq(g, node, 2, twice / (ldexp(1.0, ep->left_shift) * ep->y.s),
					      &ep->ro, err)))
				goto fail;
		} else if ((rc = qdb_node_rq(g, node, 0, ep->a.s * ep->b.s / ep->y.s, &ep->rm, err))) {
			goto fail;
		}
	}
	*prep = ep;
	return QDB_OK;
fail:
	qdb_free(ep);
	return rc;
}

static void elt_release(void *prep) { qdb_free(prep); }

static size_t elt_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	return 3 * CHUNK * sizeof(int32_t);
}

/* x * M: the int32 fast path when x fits. */
static inline int32_t rq64(int64_t x, struct qdb_rq m, enum qdb_rounding r)
{
	return x >= INT32_MIN && x <= INT32_MAX ? qdb_rq_apply((int32_t)x, m, r)
						: qdb_rq_apply64(x, m, r);
}

static void elt_compute(const struct elt_prep *ep, const int32_t *a, const int32_t *b,
			int32_t *out, int64_t n)
{
	int64_t lo = ep->qlo, hi = ep->qhi, zy = ep->y.zp;
	if (ep->op == QDB_OP_ADD) {
		if (ep->torch) {
			for (int64_t i = 0; i < n; i++) {
				float v = qdb_torch_deq(&ep->da, a[i]) + qdb_torch_deq(&ep->db, b[i]);
				out[i] = (int32_t)qdb_torch_quant(v, ep->inv_y, zy, lo, hi);
			}
			return;
		}
		for (int64_t i = 0; i < n; i++) {
			int64_t x = ((int64_t)a[i] - ep->a.zp) * ((int64_t)1 << ep->left_shift);
			int64_t z = ((int64_t)b[i] - ep->b.zp) * ((int64_t)1 << ep->left_shift);
			int64_t sum = (int64_t)rq64(x, ep->ra, ep->rounding) + rq64(z, ep->rb, ep->rounding);
			int64_t r = (int64_t)rq64(sum, ep->ro, ep->rounding) + zy;
			out[i] = (int32_t)qdb_clamp64(r, lo, hi);
		}
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		int64_t p = ((int64_t)a[i] - ep->a.zp) * ((int64_t)b[i] - ep->b.zp);
		int64_t r;
		if (ep->torch) {
			float v = nearbyintf((float)p * ep->mul_m);
			r = (v > 4e18f || v < -4e18f ? (v > 0 ? hi : lo) : (int64_t)v + zy);
		} else {
			r = (int64_t)rq64(p, ep->rm, ep->rounding) + zy;
		}
		out[i] = (int32_t)qdb_clamp64(r, lo, hi);
	}
}

/* Loads n elements starting at off with element stride st (0 or 1). */
static void load_run(const struct qdb_tensor *t, int64_t off, int64_t st, int64_t n, int32_t *buf)
{
	if (st == 1) {
		qdb_int_load(t, off, n, buf);
		return;
	}
	int32_t v;
	qdb_int_load(t, off, 1, &v);
	for (int64_t i = 0; i < n; i++)
		buf[i] = v;
}

static int elt_run(const struct qdb_kernel_args *args, struct qdb_err *err)
{
	const struct elt_prep *ep = args->prep;
	const struct qdb_tensor *a = args->in[0], *b = args->in[1];
	struct qdb_tensor *y = args->out[0];
	const char *name = args->g->nodes[args->node].name;
	if (!args->scratch || args->scratch_bytes < 3 * CHUNK * sizeof(int32_t))
		return qdb_err_set(err, QDB_EINVAL, "node %s: scratch too small", name);
	int32_t *ba = args->scratch, *bb = ba + CHUNK, *bo = bb + CHUNK;
	int r = y->rank;
	int64_t sa[QDB_MAX_RANK], sb[QDB_MAX_RANK];
	/* Broadcast strides at the output's rank (0 where the input has 1). */
	int64_t ra = 1, rb = 1;
	for (int i = r - 1; i >= 0; i--) {
		int ai = i - (r - a->rank), bi = i - (r - b->rank);
		int64_t da = ai >= 0 ? a->shape[ai] : 1, db = bi >= 0 ? b->shape[bi] : 1;
		if ((da != y->shape[i] && da != 1) || (db != y->shape[i] && db != 1))
			return qdb_err_set(err, QDB_ESHAPE, "node %s: inputs do not broadcast", name);
		sa[i] = da == 1 ? 0 : ra;
		sb[i] = db == 1 ? 0 : rb;
		ra *= da;
		rb *= db;
	}
	int64_t inner = r > 0 ? y->shape[r - 1] : 1;
	int64_t outer = inner > 0 ? qdb_tensor_numel(y) / inner : 0;
	int64_t ia = r > 0 ? sa[r - 1] : 0, ib = r > 0 ? sb[r - 1] : 0;
	int64_t idx[QDB_MAX_RANK] = {0};
	for (int64_t o = 0; o < outer; o++) {
		int64_t offa = 0, offb = 0;
		for (int i = 0; i < r - 1; i++) {
			offa += idx[i] * sa[i];
			offb += idx[i] * sb[i];
		}
		for (int64_t j = 0; j < inner; j += CHUNK) {
			int64_t n = inner - j < CHUNK ? inner - j : CHUNK;
			load_run(a, offa + j * ia, ia, n, ba);
			load_run(b, offb + j * ib, ib, n, bb);
			elt_compute(ep, ba, bb, bo, n);
			qdb_int_store(y, o * inner + j, n, bo);
		}
		for (int i = r - 2; i >= 0; i--) {
			if (++idx[i] < y->shape[i])
				break;
			idx[i] = 0;
		}
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_add = {
	.prepare = elt_prepare,
	.release = elt_release,
	.scratch_size = elt_scratch,
	.run = elt_run,
};

const struct qdb_kernel qdb_ki_mul = {
	.prepare = elt_prepare,
	.release = elt_release,
	.scratch_size = elt_scratch,
	.run = elt_run,
};
