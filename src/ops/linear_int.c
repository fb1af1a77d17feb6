/* linear_int.c - linear and matmul on integers.
 *
 * linear: x [..., in] (int8/uint8/int16) times int8/uint8 weights [out, in]
 * (per-tensor or per output channel), bias, fused activation; the rows of x
 * are widened to int16 (x - zp_x), packed as GEMM columns and multiplied by
 * the weights packed at prepare time (igemm.c); accumulators are
 * requantized per output channel like conv2d (qdb_wq_requant).
 *
 * matmul: a [..., M, K] x b [..., K, N], both activations with per-tensor
 * qparams, leading dims broadcast (numpy rules, rank-1 operands as in
 * numpy). acc = sum (a - zp_a)(b - zp_b); fixed profile: one Q31
 * multiplier s_a*s_b/s_y; torch profile: PyTorch 1.13 has no quantized
 * matmul (convert_fx leaves it in float between dequantize and quantize),
 * so the float product is formed from the exact integer sum,
 * (float)(acc * s_a * s_b), and quantized with torch's quantize; torch's
 * own float accumulation order can differ in the last bit.
 */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "ops/igemm.h"
#include "ops/kernel_int.h"

/* ---- linear ---- */

struct linear_prep {
	struct qdb_wq wq;
	int32_t *ap;
	int64_t kc, xmax;
	int wide, direct64;
};

static void linear_release(void *prep)
{
	struct linear_prep *lp = prep;
	if (!lp)
		return;
	qdb_wq_done(&lp->wq);
	qdb_free(lp->ap);
	qdb_free(lp);
}

static int linear_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct linear_prep *lp = qdb_calloc(1, sizeof *lp);
	int rc;
	if (!lp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	if ((rc = qdb_wq_prepare(g, node, 1, &lp->wq, err))) {
		linear_release(lp);
		return rc;
	}
	const struct qdb_value *xv = &g->values[nd->inputs[0]];
	if (xv->rank < 1 || xv->shape[xv->rank - 1] != lp->wq.k) {
		linear_release(lp);
		return qdb_err_set(err, QDB_ESHAPE, "node %s: input features differ from weight %lld",
				   nd->name, (long long)lp->wq.k);
	}
	int64_t dlo = lp->wq.x.lo - lp->wq.x.zp, dhi = lp->wq.x.hi - lp->wq.x.zp;
	lp->xmax = -dlo > dhi ? -dlo : dhi;
	lp->direct64 = dlo < -32768 || dhi > 32767;
	if (!lp->direct64) {
		lp->kc = qdb_igemm_kc(lp->wq.wmax, lp->xmax);
		lp->wide = qdb_igemm_wide(lp->wq.k, lp->wq.wmax, lp->xmax);
		if (lp->kc == 0)
			lp->direct64 = 1;
	}
	if (!lp->direct64) {
		lp->ap = qdb_alloc_array(qdb_igemm_a_pairs(lp->wq.o, lp->wq.k), sizeof *lp->ap);
		if (!lp->ap) {
			linear_release(lp);
			return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
		}
		qdb_igemm_pack_a(lp->wq.w16, lp->wq.k, lp->wq.o, lp->wq.k, lp->ap);
	}
	*prep = lp;
	return QDB_OK;
}

static void *bump(unsigned char **p, size_t n)
{
	uintptr_t a = ((uintptr_t)*p + 63) & ~(uintptr_t)63;
	*p = (unsigned char *)a + n;
	return (void *)a;
}

static size_t linear_scratch_rows(const struct linear_prep *lp, int64_t rows)
{
	int64_t k = lp->wq.k, o = lp->wq.o;
	size_t s = (size_t)(rows * k) * sizeof(int32_t) +          /* widened x (int32 load) */
		   (size_t)(rows * k) * sizeof(int16_t) +
		   (size_t)(o * rows) * sizeof(int64_t) +          /* C */
		   (size_t)rows * sizeof(int32_t) +                /* one channel's q */
		   (size_t)(rows * o) * sizeof(int32_t) + 8 * 64;  /* output */
	if (!lp->direct64)
		s += qdb_igemm_b_pairs(rows, k) * sizeof(int32_t);
	return s;
}

static size_t linear_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct linear_prep *lp = prep;
	const struct qdb_value *xv = &g->values[g->nodes[node].inputs[0]];
	int64_t numel = qdb_shape_numel(xv->rank, xv->shape);
	int64_t rows = lp->wq.k > 0 ? numel / lp->wq.k : 0;
	return linear_scratch_rows(lp, rows);
}

static int linear_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct linear_prep *lp = a->prep;
	const struct qdb_tensor *x = a->in[0];
	struct qdb_tensor *y = a->out[0];
	const char *name = a->g->nodes[a->node].name;
	int64_t k = lp->wq.k, o = lp->wq.o;
	int64_t rows = k > 0 ? qdb_tensor_numel(x) / k : 0;
	if (x->rank < 1 || x->shape[x->rank - 1] != k || qdb_tensor_numel(y) != rows * o)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: linear shapes changed since prepare", name);
	if (!a->scratch || a->scratch_bytes < linear_scratch_rows(lp, rows))
		return qdb_err_set(err, QDB_EINVAL, "node %s: linear scratch too small", name);
	unsigned char *s = a->scratch;
	int32_t *x32 = bump(&s, (size_t)(rows * k) * sizeof(int32_t));
	int16_t *x16 = bump(&s, (size_t)(rows * k) * sizeof(int16_t));
	int64_t *c64 = bump(&s, (size_t)(o * rows) * sizeof(int64_t));
	int32_t *c32 = (int32_t *)c64;
	int32_t *q = bump(&s, (size_t)rows * sizeof(int32_t));
	int32_t *outb = bump(&s, (size_t)(rows * o) * sizeof(int32_t));
	int64_t zp = lp->wq.x.zp;
	qdb_int_load(x, 0, rows * k, x32);
	if (lp->direct64) {
		for (int64_t c = 0; c < o; c++)
			for (int64_t r = 0; r < rows; r++) {
				int64_t sum = 0;
				for (int64_t i = 0; i < k; i++)
					sum += ((int64_t)x32[r * k + i] - zp) * lp->wq.w16[c * k + i];
				c64[c * rows + r] = sum;
			}
	} else {
		int32_t *bp = bump(&s, qdb_igemm_b_pairs(rows, k) * sizeof(int32_t));
		for (int64_t i = 0; i < rows * k; i++)
			x16[i] = (int16_t)(x32[i] - zp);
		/* B[k][n] = x[n][k]: pack the transposed rows pair by pair. */
		int64_t kp = qdb_igemm_kp(k), panels = (rows + QDB_IGEMM_NR - 1) / QDB_IGEMM_NR;
		for (int64_t j = 0; j < panels; j++)
			for (int64_t p = 0; p < kp; p++) {
				uint32_t *dst = (uint32_t *)bp + (j * kp + p) * QDB_IGEMM_NR;
				for (int c = 0; c < QDB_IGEMM_NR; c++) {
					int64_t n = j * QDB_IGEMM_NR + c;
					uint32_t v = 0;
					if (n < rows) {
						const int16_t *xr = x16 + n * k;
						v = (uint16_t)xr[2 * p];
						if (2 * p + 1 < k)
							v |= (uint32_t)(uint16_t)xr[2 * p + 1] << 16;
					}
					dst[c] = v;
				}
			}
		qdb_igemm(o, rows, k, lp->ap, bp, lp->kc, lp->wide ? NULL : c32,
			  lp->wide ? c64 : NULL, rows);
	}
	int use64 = lp->direct64 || lp->wide;
	for (int64_t c = 0; c < o; c++) {
		qdb_wq_requant(&lp->wq, c, use64 ? NULL : c32 + c * rows, use64 ? c64 + c * rows : NULL,
			       rows, q);
		for (int64_t r = 0; r < rows; r++)
			outb[r * o + c] = q[r];
	}
	qdb_int_store(y, 0, rows * o, outb);
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_linear = {
	.prepare = linear_prepare,
	.release = linear_release,
	.scratch_size = linear_scratch,
	.run = linear_run,
};

/* ---- matmul ---- */

struct matmul_prep {
	struct qdb_qp a, b, y;
	int torch;
	enum qdb_rounding rounding;
	struct qdb_rq rq;
	float inv_y;
	int use_gemm;
	int64_t kc;
	int wide;
};

static int matmul_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct matmul_prep *mp = qdb_calloc(1, sizeof *mp);
	int rc;
	if (!mp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	if ((rc = qdb_qp_of(g, node, nd->inputs[0], &mp->a, err)) ||
	    (rc = qdb_qp_of(g, node, nd->inputs[1], &mp->b, err)) ||
	    (rc = qdb_qp_of(g, node, nd->outputs[0], &mp->y, err))) {
		qdb_free(mp);
		return rc;
	}
	mp->torch = g->profile == QDB_PROFILE_TORCH;
	mp->rounding = g->rounding;
	mp->inv_y = 1.0f / (float)mp->y.s;
	if (!mp->torch && (rc = qdb_node_rq(g, node, 0, mp->a.s * mp->b.s / mp->y.s, &mp->rq, err))) {
		qdb_free(mp);
		return rc;
	}
	int64_t alo = mp->a.lo - mp->a.zp, ahi = mp->a.hi - mp->a.zp;
	int64_t blo = mp->b.lo - mp->b.zp, bhi = mp->b.hi - mp->b.zp;
	int64_t amax = -alo > ahi ? -alo : ahi, bmax = -blo > bhi ? -blo : bhi;
	const struct qdb_value *av = &g->values[nd->inputs[0]];
	int64_t K = av->rank >= 1 ? av->shape[av->rank - 1] : 0;
	mp->use_gemm = alo >= -32768 && ahi <= 32767 && blo >= -32768 && bhi <= 32767;
	if (mp->use_gemm) {
		mp->kc = qdb_igemm_kc(amax, bmax);
		mp->wide = qdb_igemm_wide(K, amax, bmax);
		if (mp->kc == 0)
			mp->use_gemm = 0;
	}
	*prep = mp;
	return QDB_OK;
}

static void matmul_release(void *prep) { qdb_free(prep); }

/* Operand geometry: batch dims (broadcast) and the matrix of each. */
struct mm_geo {
	int64_t M, K, N, batches;
	int br;
	int64_t bshape[QDB_MAX_RANK], astr[QDB_MAX_RANK], bstr[QDB_MAX_RANK];
};

static int mm_geometry(const struct qdb_tensor *a, const struct qdb_tensor *b, struct mm_geo *g)
{
	if (a->rank < 1 || b->rank < 1)
		return -1;
	g->M = a->rank >= 2 ? a->shape[a->rank - 2] : 1;
	g->K = a->shape[a->rank - 1];
	int64_t kb = b->rank >= 2 ? b->shape[b->rank - 2] : b->shape[0];
	g->N = b->rank >= 2 ? b->shape[b->rank - 1] : 1;
	if (kb != g->K)
		return -1;
	int abr = a->rank > 2 ? a->rank - 2 : 0, bbr = b->rank > 2 ? b->rank - 2 : 0;
	g->br = abr > bbr ? abr : bbr;
	int64_t as = g->M * g->K, bs = g->K * g->N;
	for (int i = g->br - 1; i >= 0; i--) {
		int ai = i - (g->br - abr), bi = i - (g->br - bbr);
		int64_t da = ai >= 0 ? a->shape[ai] : 1, db = bi >= 0 ? b->shape[bi] : 1;
		if (da != db && da != 1 && db != 1)
			return -1;
		g->bshape[i] = da == 1 ? db : da;
		g->astr[i] = da == 1 ? 0 : as;
		g->bstr[i] = db == 1 ? 0 : bs;
		as *= da;
		bs *= db;
	}
	g->batches = 1;
	for (int i = 0; i < g->br; i++)
		g->batches *= g->bshape[i];
	return 0;
}

static size_t mm_scratch_geo(const struct mm_geo *m)
{
	return (size_t)(m->M * m->K + m->K * m->N) * (sizeof(int32_t) + sizeof(int16_t)) +
	       qdb_igemm_a_pairs(m->M, m->K) * sizeof(int32_t) +
	       qdb_igemm_b_pairs(m->N, m->K) * sizeof(int32_t) +
	       (size_t)(m->M * m->N) * (sizeof(int64_t) + sizeof(int32_t)) + 8 * 64;
}

static size_t matmul_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct qdb_node *nd = &g->nodes[node];
	const struct qdb_value *av = &g->values[nd->inputs[0]], *bv = &g->values[nd->inputs[1]];
	struct qdb_tensor a, b;
	struct mm_geo m;
	a.rank = av->rank;
	b.rank = bv->rank;
	memcpy(a.shape, av->shape, sizeof a.shape);
	memcpy(b.shape, bv->shape, sizeof b.shape);
	if (mm_geometry(&a, &b, &m))
		return 0;
	return mm_scratch_geo(&m);
}

static int matmul_run(const struct qdb_kernel_args *args, struct qdb_err *err)
{
	const struct matmul_prep *mp = args->prep;
	const struct qdb_tensor *a = args->in[0], *b = args->in[1];
	struct qdb_tensor *y = args->out[0];
	const char *name = args->g->nodes[args->node].name;
	struct mm_geo m;
	if (mm_geometry(a, b, &m) || qdb_tensor_numel(y) != m.batches * m.M * m.N)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: matmul shapes do not fit", name);
	if (!args->scratch || args->scratch_bytes < mm_scratch_geo(&m))
		return qdb_err_set(err, QDB_EINVAL, "node %s: matmul scratch too small", name);
	unsigned char *s = args->scratch;
	int32_t *a32 = bump(&s, (size_t)(m.M * m.K) * sizeof(int32_t));
	int32_t *b32 = bump(&s, (size_t)(m.K * m.N) * sizeof(int32_t));
	int16_t *a16 = bump(&s, (size_t)(m.M * m.K) * sizeof(int16_t));
	int16_t *b16 = bump(&s, (size_t)(m.K * m.N) * sizeof(int16_t));
	int32_t *ap = bump(&s, qdb_igemm_a_pairs(m.M, m.K) * sizeof(int32_t));
	int32_t *bp = bump(&s, qdb_igemm_b_pairs(m.N, m.K) * sizeof(int32_t));
	int64_t *c64 = bump(&s, (size_t)(m.M * m.N) * sizeof(int64_t));
	int32_t *c32 = (int32_t *)c64;
	int32_t *q = bump(&s, (size_t)(m.M * m.N) * sizeof(int32_t));
	int64_t idx[QDB_MAX_RANK] = {0};
	int use64 = !mp->use_gemm || mp->wide;
	float sa = (float)mp->a.s, sb = (float)mp->b.s;
	for (int64_t bi = 0; bi < m.batches; bi++) {
		int64_t aoff = 0, boff = 0;
		for (int i = 0; i < m.br; i++) {
			aoff += idx[i] * m.astr[i];
			boff += idx[i] * m.bstr[i];
		}
		qdb_int_load(a, aoff, m.M * m.K, a32);
		qdb_int_load(b, boff, m.K * m.N, b32);
		if (mp->use_gemm) {
			for (int64_t i = 0; i < m.M * m.K; i++)
				a16[i] = (int16_t)(a32[i] - mp->a.zp);
			for (int64_t i = 0; i < m.K * m.N; i++)
				b16[i] = (int16_t)(b32[i] - mp->b.zp);
			qdb_igemm_pack_a(a16, m.K, m.M, m.K, ap);
			qdb_igemm_pack_b(b16, m.N, m.K, m.N, bp);
			qdb_igemm(m.M, m.N, m.K, ap, bp, mp->kc, mp->wide ? NULL : c32,
				  mp->wide ? c64 : NULL, m.N);
		} else {
			for (int64_t i = 0; i < m.M; i++)
				for (int64_t j = 0; j < m.N; j++) {
					int64_t sum = 0;
					for (int64_t kk = 0; kk < m.K; kk++)
						sum += ((int64_t)a32[i * m.K + kk] - mp->a.zp) *
						       ((int64_t)b32[kk * m.N + j] - mp->b.zp);
					c64[i * m.N + j] = sum;
				}
		}
		for (int64_t i = 0; i < m.M * m.N; i++) {
			int64_t acc = use64 ? c64[i] : c32[i];
			if (mp->torch) {
				float v = (float)((double)acc * (double)sa * (double)sb);
				q[i] = (int32_t)qdb_torch_quant(v, mp->inv_y, mp->y.zp, mp->y.lo, mp->y.hi);
			} else {
				int32_t r = acc >= INT32_MIN && acc <= INT32_MAX
						    ? qdb_rq_apply((int32_t)acc, mp->rq, mp->rounding)
						    : qdb_rq_apply64(acc, mp->rq, mp->rounding);
				q[i] = (int32_t)qdb_clamp64((int64_t)r + mp->y.zp, mp->y.lo, mp->y.hi);
			}
		}
		qdb_int_store(y, bi * m.M * m.N, m.M * m.N, q);
		for (int i = m.br - 1; i >= 0; i--) {
			if (++idx[i] < m.bshape[i])
				break;
			idx[i] = 0;
		}
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_matmul = {
	.prepare = matmul_prepare,
	.release = matmul_release,
	.scratch_size = matmul_scratch,
	.run = matmul_run,
};
