/* int_common.c - helpers shared by the integer kernels and convert
 * (see kernel_int.h). */
#include "config.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define INT_COMMON_X86 1
#endif

#include "base/alloc.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"

int qdb_qp_of(const struct qdb_graph *g, int node, int value, struct qdb_qp *qp,
	      struct qdb_err *err)
{
	const struct qdb_value *v = &g->values[value];
	const char *nn = node >= 0 ? g->nodes[node].name : "?";
	if (v->q.n <= 0)
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "node %s: value %s has no qparams (integer kernels need them)", nn,
				   v->name);
	if (v->q.n > 1)
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "node %s: value %s: per-channel activations are not supported", nn,
				   v->name);
	if (v->qdtype != QDB_I8 && v->qdtype != QDB_U8 && v->qdtype != QDB_I16)
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "node %s: value %s: activation dtype %s (need i8, u8 or i16)", nn,
				   v->name, qdb_dtype_name(v->qdtype) ? qdb_dtype_name(v->qdtype) : "?");
	if (!(v->q.scale[0] > 0) || !isfinite(v->q.scale[0]))
		return qdb_err_set(err, QDB_EFORMAT, "node %s: value %s: bad scale", nn, v->name);
	qp->s = v->q.scale[0];
	qp->zp = v->q.zero_point[0];
	qp->dt = v->qdtype;
	if (g->profile == QDB_PROFILE_TORCH) {
		/* torch's quantized tensors know only their dtype: its kernels
		 * saturate there, not at the (reduced) quant_min/quant_max that
		 * fake quant used. */
		qp->lo = qdb_dtype_min(qp->dt);
		qp->hi = qdb_dtype_max(qp->dt);
	} else {
		qdb_quant_range(&v->q, v->qdtype, &qp->lo, &qp->hi);
	}
	if (qp->zp < qdb_dtype_min(qp->dt) || qp->zp > qdb_dtype_max(qp->dt))
		return qdb_err_set(err, QDB_EFORMAT, "node %s: value %s: zero point %lld outside %s",
				   nn, v->name, (long long)qp->zp, qdb_dtype_name(qp->dt));
	return QDB_OK;
}

int qdb_qp_equal(const struct qdb_qp *a, const struct qdb_qp *b)
{
	return a->s == b->s && a->zp == b->zp && a->lo == b->lo && a->hi == b->hi;
}

int qdb_node_rq(const struct qdb_graph *g, int node, int k, double real, struct qdb_rq *out,
		struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	const struct qdb_attr *m = qdb_node_attr(nd, "rq_mult"), *s = qdb_node_attr(nd, "rq_shift");
	if (m || s) {
		if (!m || !s || m->kind != QDB_ATTR_INTS || s->kind != QDB_ATTR_INTS || m->n != s->n)
			return qdb_err_set(err, QDB_EFORMAT,
					   "node %s: attrs 'rq_mult'/'rq_shift': need two int lists of equal length",
					   nd->name);
		if (k >= m->n)
			return qdb_err_set(err, QDB_EFORMAT,
					   "node %s: attr 'rq_mult': %d entries, need at least %d", nd->name,
					   (int)m->n, k + 1);
		int64_t mv = m->ints[k], sv = s->ints[k];
		if (mv < 0 || mv > INT32_MAX || sv < -31 || sv > 30)
			return qdb_err_set(err, QDB_EFORMAT,
					   "node %s: attr 'rq_mult'[%d] = %lld, 'rq_shift' = %lld: out of range",
					   nd->name, k, (long long)mv, (long long)sv);
		out->mult = (int32_t)mv;
		out->shift = (int32_t)sv;
		return QDB_OK;
	}
	int rc = qdb_rq_from_double(real, out);
	if (rc == QDB_RQ_INVALID)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: requantization multiplier %g is invalid",
				   nd->name, real);
	return QDB_OK;
}

int64_t qdb_qp_quantize(const struct qdb_graph *g, const struct qdb_qp *out, double v)
{
	if (isnan(v))
		return out->lo;
	if (v == INFINITY)
		return out->hi;
	if (v == -INFINITY)
		return out->lo;
	if (g->profile == QDB_PROFILE_TORCH) {
		float inv = 1.0f / (float)out->s;
		return qdb_torch_quant((float)v, inv, out->zp, out->lo, out->hi);
	}
	double r = qdb_rq_round(v / out->s, g->rounding) + (double)out->zp;
	if (r < (double)out->lo)
		return out->lo;
	if (r > (double)out->hi)
		return out->hi;
	return (int64_t)r;
}

int qdb_act_qrange(const struct qdb_graph *g, int node, const struct qdb_qp *out, int64_t *lo,
		   int64_t *hi, struct qdb_err *err)
{
	struct qdb_act act;
	int rc = qdb_act_parse(g, node, &act, err);
	if (rc)
		return rc;
	*lo = out->lo;
	*hi = out->hi;
	if (act.kind == QDB_ACT_NONE)
		return QDB_OK;
	if (isfinite(act.lo)) {
		int64_t q = qdb_qp_quantize(g, out, act.lo);
		if (q > *lo)
			*lo = q;
	}
	if (isfinite(act.hi)) {
		int64_t q = qdb_qp_quantize(g, out, act.hi);
		if (q < *hi)
			*hi = q;
	}
	if (*lo > *hi)
		*lo = *hi;
	return QDB_OK;
}

#define LOAD_LOOP(T)                                        \
	do {                                                    \
		const T *p_ = (const T *)t->data + i0;              \
		for (int64_t i = 0; i < n; i++)                     \
			out[i] = (int32_t)p_[i];                        \
	} while (0)

void qdb_int_load(const struct qdb_tensor *t, int64_t i0, int64_t n, int32_t *out)
{
	switch (t->dtype) {
	case QDB_I8: LOAD_LOOP(int8_t); break;
	case QDB_U8: LOAD_LOOP(uint8_t); break;
	case QDB_I16: LOAD_LOOP(int16_t); break;
	case QDB_I32: LOAD_LOOP(int32_t); break;
	case QDB_I64: LOAD_LOOP(int64_t); break;
	default:
		for (int64_t i = 0; i < n; i++)
			out[i] = (int32_t)qdb_tensor_get(t, i0 + i);
		break;
	}
}

#define STORE_LOOP(T)                                       \
	do {                                                    \
		T *p_ = (T *)t->data + i0;                          \
		for (int64_t i = 0; i < n; i++)                     \
			p_[i] = (T)in[i];                               \
	} while (0)

void qdb_int_store(struct qdb_tensor *t, int64_t i0, int64_t n, const int32_t *in)
{
	switch (t->dtype) {
	case QDB_I8: STORE_LOOP(int8_t); break;
	case QDB_U8: STORE_LOOP(uint8_t); break;
	case QDB_I16: STORE_LOOP(int16_t); break;
	case QDB_I32: STORE_LOOP(int32_t); break;
	case QDB_I64: STORE_LOOP(int64_t); break;
	case QDB_F32: STORE_LOOP(float); break;
	case QDB_F64: STORE_LOOP(double); break;
	default: break;
	}
}

int qdb_rescale_init(const struct qdb_graph *g, int node, int k, const struct qdb_qp *in,
		     const struct qdb_qp *out, struct qdb_rescale *r, struct qdb_err *err)
{
	memset(r, 0, sizeof *r);
	r->zi = in->zp;
	r->zo = out->zp;
	r->lo = out->lo;
	r->hi = out->hi;
	r->rounding = g->rounding;
	/* Same params and the input range inside the output range: a copy. */
	if (in->s == out->s && in->zp == out->zp && in->lo >= out->lo && in->hi <= out->hi) {
		r->identity = 1;
		return QDB_OK;
	}
	if (g->profile == QDB_PROFILE_TORCH) {
		r->torch = 1;
		r->s_in = in->s;
		r->inv_out = 1.0f / (float)out->s;
		return QDB_OK;
	}
	return qdb_node_rq(g, node, k, in->s / out->s, &r->rq, err);
}

void qdb_rescale_buf(const struct qdb_rescale *r, int32_t *buf, int64_t n)
{
	if (r->identity)
		return;
	for (int64_t i = 0; i < n; i++)
		buf[i] = qdb_rescale1(r, buf[i]);
}

/* Ops whose output keeps torch's memory format of their first input. */
static int keeps_format(int op)
{
	switch (op) {
	case QDB_OP_ADD: case QDB_OP_MUL: case QDB_OP_RELU: case QDB_OP_RELU6:
	case QDB_OP_CLAMP: case QDB_OP_SIGMOID: case QDB_OP_TANH: case QDB_OP_HARDSWISH:
	case QDB_OP_SILU: case QDB_OP_GELU: case QDB_OP_MAXPOOL2D: case QDB_OP_AVGPOOL2D:
	case QDB_OP_GLOBAL_AVGPOOL: case QDB_OP_CONCAT: case QDB_OP_UPSAMPLE_NEAREST:
	case QDB_OP_IDENTITY:
		return 1;
	default:
		return 0;
	}
}

int qdb_torch_channels_last(const struct qdb_graph *g, int value)
{
	const struct qdb_value *v = &g->values[value];
	if (v->rank == 4 && (v->shape[1] == 1 || (v->shape[2] == 1 && v->shape[3] == 1)))
		return 1; /* NCHW-contiguous is channels-last-contiguous too */
	/* Follow producers back; bounded by the node count (topological order). */
	for (int steps = 0; steps <= g->n_nodes; steps++) {
		int p = g->values[value].producer;
		if (p < 0)
			return 0;
		const struct qdb_node *nd = &g->nodes[p];
		if (nd->op == QDB_OP_CONV2D)
			return nd->device == QDB_DEV_BPU;
		if (!keeps_format(nd->op) || nd->n_inputs < 1 || nd->device != QDB_DEV_BPU)
			return 0;
		value = nd->inputs[0];
		if (g->values[value].rank != 4)
			return 0;
	}
	return 0;
}

/* Quant params of a weight: the value's qparams, else the constant's own. */
static const struct qdb_quant *weight_quant(const struct qdb_graph *g, int value,
					    enum qdb_dtype *dt)
{
	const struct qdb_value *v = &g->values[value];
	if (v->q.n > 0) {
		*dt = v->qdtype;
		return &v->q;
	}
	if (v->constant >= 0) {
		const struct qdb_tensor *t = &g->constants[v->constant].t;
		*dt = t->dtype;
		return t->q.n > 0 ? &t->q : NULL;
	}
	return NULL;
}

int qdb_wq_prepare(const struct qdb_graph *g, int node, int64_t groups, struct qdb_wq *wq,
		   struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	int rc;
	memset(wq, 0, sizeof *wq);
	wq->groups = groups;
	wq->torch = g->profile == QDB_PROFILE_TORCH;
	wq->rounding = g->rounding;
	if ((rc = qdb_qp_of(g, node, nd->inputs[0], &wq->x, err)) ||
	    (rc = qdb_qp_of(g, node, nd->outputs[0], &wq->y, err)) ||
	    (rc = qdb_act_qrange(g, node, &wq->y, &wq->qlo, &wq->qhi, err)))
		return rc;
	const struct qdb_value *wv = &g->values[nd->inputs[1]];
	if (wv->constant < 0)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: weight %s must be a constant",
				   nd->name, wv->name);
	const struct qdb_tensor *wt = &g->constants[wv->constant].t;
	if (wt->dtype != QDB_I8 && wt->dtype != QDB_U8)
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "node %s: weight %s is %s (integer kernels need i8 or u8 weights)",
				   nd->name, wv->name, qdb_dtype_name(wt->dtype));
	enum qdb_dtype wdt;
	const struct qdb_quant *wq_q = weight_quant(g, nd->inputs[1], &wdt);
	if (!wq_q)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: weight %s has no qparams",
				   nd->name, wv->name);
	if (wt->rank < 1 || wt->shape[0] <= 0)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: weight %s: bad shape", nd->name,
				   wv->name);
	int64_t o = wt->shape[0], numel = qdb_tensor_numel(wt);
	if (wq_q->n > 1 && (wq_q->axis != 0 || wq_q->n != o))
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "node %s: weight %s: per-channel qparams must be along axis 0 (%d x %d)",
				   nd->name, wv->name, (int)wq_q->n, (int)o);
	wq->o = o;
	wq->k = numel / o;
	wq->w16 = qdb_alloc_array((size_t)(numel > 0 ? numel : 1), sizeof *wq->w16);
	wq->trq = qdb_alloc_array((size_t)o, sizeof *wq->trq);
	wq->rq = qdb_alloc_array((size_t)o, sizeof *wq->rq);
	wq->bias32 = qdb_alloc_array((size_t)o, sizeof *wq->bias32);
	int32_t *row = qdb_alloc_array((size_t)(wq->k > 0 ? wq->k : 1), sizeof *row);
	if (!wq->w16 || !wq->trq || !wq->rq || !wq->bias32 || !row) {
		qdb_free(row);
		qdb_wq_done(wq);
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	}
	const struct qdb_tensor *bt = NULL;
	if (nd->n_inputs > 2) {
		const struct qdb_value *bv = &g->values[nd->inputs[2]];
		if (bv->constant < 0) {
			qdb_free(row);
			qdb_wq_done(wq);
			return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: bias %s must be a constant",
					   nd->name, bv->name);
		}
		bt = &g->constants[bv->constant].t;
		if (qdb_tensor_numel(bt) != o) {
			qdb_free(row);
			qdb_wq_done(wq);
			return qdb_err_set(err, QDB_ESHAPE, "node %s: bias %s has %lld elements, need %lld",
					   nd->name, bv->name, (long long)qdb_tensor_numel(bt),
					   (long long)o);
		}
	}
	for (int64_t c = 0; c < o; c++) {
		int64_t ch = wq_q->n > 1 ? c : 0;
		double sw = wq_q->scale[ch];
		int64_t zw = wq_q->zero_point[ch];
		qdb_int_load(wt, c * wq->k, wq->k, row);
		for (int64_t i = 0; i < wq->k; i++) {
			int64_t d = (int64_t)row[i] - zw;
			if (d < -32768 || d > 32767) {
				qdb_free(row);
				qdb_wq_done(wq);
				return qdb_err_set(err, QDB_EFORMAT,
						   "node %s: weight zero point %lld out of range", nd->name,
						   (long long)zw);
			}
			wq->w16[c * wq->k + i] = (int16_t)d;
			if ((d < 0 ? -d : d) > wq->wmax)
				wq->wmax = d < 0 ? -d : d;
		}
		double acc_scale = wq->x.s * sw;
		/* Bias in real units, and as stored. */
		double breal = 0;
		int have_int_bias = 0;
		int64_t bint = 0;
		if (bt) {
			if (qdb_dtype_is_int(bt->dtype)) {
				bint = (int64_t)qdb_tensor_get(bt, c);
				if (bt->q.n > 0) {
					int64_t bc = bt->q.n > 1 ? c : 0;
					breal = (double)(bint - bt->q.zero_point[bc]) * bt->q.scale[bc];
					/* An int32 bias already at the accumulator scale is used as is. */
					have_int_bias = bt->q.zero_point[bc] == 0 &&
							fabs(bt->q.scale[bc] - acc_scale) <= 1e-6 * acc_scale;
				} else {
					breal = (double)bint * acc_scale;
					have_int_bias = 1;
				}
			} else {
				breal = qdb_tensor_get(bt, c);
			}
		}
		qdb_torch_rq_init(&wq->trq[c], wq->x.s, sw, wq->y.s, (float)breal);
		if (!wq->torch) {
			if (!have_int_bias)
				bint = (int64_t)qdb_rq_round(breal / acc_scale, g->rounding);
			wq->bias32[c] = qdb_sat_i32(bint);
			if ((rc = qdb_node_rq(g, node, (int)c, acc_scale / wq->y.s, &wq->rq[c], err))) {
				qdb_free(row);
				qdb_wq_done(wq);
				return rc;
			}
		}
	}
	qdb_free(row);
	return QDB_OK;
}

void qdb_wq_done(struct qdb_wq *wq)
{
	qdb_free(wq->w16);
	qdb_free(wq->trq);
	qdb_free(wq->rq);
	qdb_free(wq->bias32);
	wq->w16 = NULL;
	wq->trq = NULL;
	wq->rq = NULL;
	wq->bias32 = NULL;
}

#ifdef INT_COMMON_X86
/* qdb_torch_rq_apply on 8 lanes: the same float32 steps, each rounded on
 * its own (no FMA: target avx2 only), cvtps2dq rounds to nearest even as
 * nearbyintf does. */
__attribute__((target("avx2"))) static int64_t torch_rq_avx2(const int32_t *acc, int64_t n,
							      const struct qdb_torch_rq *t, float zp,
							      float lo, float hi, int32_t *out)
{
	__m256 bf = _mm256_set1_ps(t->bf), osc = _mm256_set1_ps(t->osc), z = _mm256_set1_ps(zp);
	__m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + i)));
		v = _mm256_add_ps(v, bf);
		v = _mm256_mul_ps(v, osc);
		v = _mm256_add_ps(v, z);
		v = _mm256_max_ps(v, vlo);
		v = _mm256_min_ps(v, vhi);
		_mm256_storeu_si256((__m256i *)(out + i), _mm256_cvtps_epi32(v));
	}
	return i;
}
#endif

void qdb_wq_requant(const struct qdb_wq *wq, int64_t oc, const int32_t *acc32,
		    const int64_t *acc64, int64_t n, int32_t *out)
{
	int64_t lo = wq->qlo, hi = wq->qhi, zy = wq->y.zp;
	if (wq->torch) {
		const struct qdb_torch_rq *t = &wq->trq[oc];
		float fz = (float)zy, flo = (float)lo, fhi = (float)hi;
		int64_t i = 0;
		if (acc64) {
			for (; i < n; i++)
				out[i] = (int32_t)qdb_torch_rq_apply(acc64[i], t, fz, flo, fhi);
			return;
		}
#ifdef INT_COMMON_X86
		/* Only in the default rounding mode (cvtps2dq follows MXCSR,
		 * nearbyintf the C mode; qdb never changes either). */
		if (__builtin_cpu_supports("avx2"))
			i = torch_rq_avx2(acc32, n, t, fz, flo, fhi, out);
#endif
		for (; i < n; i++)
			out[i] = (int32_t)qdb_torch_rq_apply(acc32[i], t, fz, flo, fhi);
		return;
	}
	struct qdb_rq m = wq->rq[oc];
	int64_t b = wq->bias32[oc];
	enum qdb_rounding r = wq->rounding;
	if (!acc64 && m.mult && m.shift <= 0 && r == QDB_ROUND_HALF_AWAY) {
		/* The common case (M < 1, int32 sums), TFLite's two roundings
		 * inlined without the mode switch. */
		int right = -m.shift;
		for (int64_t i = 0; i < n; i++) {
			int64_t v = (int64_t)acc32[i] + b;
			int32_t s = v >= INT32_MIN && v <= INT32_MAX
					    ? qdb_rq_rdbpot(qdb_rq_srdhm((int32_t)v, m.mult), right)
					    : qdb_rq_apply64(v, m, r);
			out[i] = (int32_t)qdb_clamp64((int64_t)s + zy, lo, hi);
		}
		return;
	}
	if (!acc64 && m.mult && r != QDB_ROUND_HALF_AWAY) {
		/* One rounding of the exact product: floor plus a mode-dependent
		 * nudge; |v| < 2^32 and mult < 2^31 keep it within int64. */
		int sh = 31 - m.shift;
		int64_t half = (int64_t)1 << (sh - 1), mask = ((int64_t)1 << sh) - 1;
		for (int64_t i = 0; i < n; i++) {
			int64_t p = ((int64_t)acc32[i] + b) * m.mult;
			int64_t fl = p >> sh, rem = p & mask;
			fl += r == QDB_ROUND_HALF_UP ? rem >= half : (rem > half || (rem == half && (fl & 1)));
			out[i] = (int32_t)qdb_clamp64(qdb_sat_i32(fl) + zy, lo, hi);
		}
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		int64_t v = (acc64 ? acc64[i] : acc32[i]) + b;
		int32_t s = v >= INT32_MIN && v <= INT32_MAX ? qdb_rq_apply((int32_t)v, m, r)
							     : qdb_rq_apply64(v, m, r);
		out[i] = (int32_t)qdb_clamp64((int64_t)s + zy, lo, hi);
	}
}
