/* act_int.c - activations on integers.
 *
 * relu, relu6, clamp: an integer clamp whose bounds are the real bounds
 * quantized into the output's domain (torch: max(q, zp) for relu and
 * quantize_val(6) for relu6, as torch's quantized relu/hardtanh do); when
 * the output's qparams differ from the input's the value is rescaled first.
 *
 * sigmoid, tanh, hardswish, silu, gelu: a table from input integer to
 * output integer.
 *  - torch profile: built at prepare time over every input integer with
 *    torch's float32 arithmetic (FMA dequantize, the function in float,
 *    reciprocal-scale quantize), so it is that arithmetic, tabulated.
 *  - fixed profile: the 256-entry (8-bit input) or 257-knot interpolated
 *    (16-bit input) table of qdb_lut_build, computed in double and rounded
 *    by the graph's rounding; convert stores it as a constant named by the
 *    node's `lut` attr, which the kernel uses when present.
 *
 * softmax along `axis`: torch profile dequantizes (plain form), computes
 * float softmax as torch does (exp(x - max), sum, times 1/sum) and
 * quantizes. fixed profile: e = T[max - q] from a Q24 exp table (the
 * `lut` constant or built from s_x), q = zp + round(e * R / (sum e * 2^16))
 * with R = round(2^16 / s_y).
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"

#define CHUNK 1024

float qdb_act_torch_f(int op, int gelu_tanh, float x)
{
	switch (op) {
	case QDB_OP_SIGMOID: return 1.0f / (1.0f + expf(-x));
	case QDB_OP_TANH: return tanhf(x);
	case QDB_OP_HARDSWISH: {
		float m = x + 3.0f;
		m = m < 0.0f ? 0.0f : m;
		m = m > 6.0f ? 6.0f : m;
		return x * m / 6.0f;
	}
	case QDB_OP_SILU: return x / (1.0f + expf(-x));
	case QDB_OP_GELU:
		if (gelu_tanh) {
			const float beta = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = 0.044715f;
			float cube = x * x * x;
			float inner = beta * (x + kappa * cube);
			return 0.5f * x * (1.0f + tanhf(inner));
		}
		return x * 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
	default: return x;
	}
}

static double act_exact(int op, int gelu_tanh, double x)
{
	switch (op) {
	case QDB_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
	case QDB_OP_TANH: return tanh(x);
	case QDB_OP_HARDSWISH: {
		double m = x + 3.0;
		m = m < 0.0 ? 0.0 : m > 6.0 ? 6.0 : m;
		return x * m / 6.0;
	}
	case QDB_OP_SILU: return x / (1.0 + exp(-x));
	case QDB_OP_GELU:
		if (gelu_tanh)
			return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
		return 0.5 * x * (1.0 + erf(x * M_SQRT1_2));
	default: return x;
	}
}

int qdb_lut_size(enum qdb_dtype in_dt)
{
	switch (in_dt) {
	case QDB_I8: case QDB_U8: return 256;
	case QDB_I16: return 257;
	default: return 0;
	}
}

static int64_t fixed_quant(double y, const struct qdb_qp *out, enum qdb_rounding r)
{
	if (isnan(y))
		return out->lo;
	double v = qdb_rq_round(y / out->s, r) + (double)out->zp;
	return v < (double)out->lo ? out->lo : v > (double)out->hi ? out->hi : (int64_t)v;
}

/* Input integer of table slot i. */
static int64_t lut_input(enum qdb_dtype dt, int i)
{
	return dt == QDB_I16 ? -32768 + 256 * (int64_t)i : qdb_dtype_min(dt) + i;
}

int qdb_lut_build(int op, int gelu_tanh, const struct qdb_qp *in, const struct qdb_qp *out,
		  enum qdb_rounding rounding, int32_t *table, struct qdb_err *err)
{
	int n = qdb_lut_size(in->dt);
	if (!n)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "lookup table: input dtype %s",
				   qdb_dtype_name(in->dt));
	/* 16-bit knots are not clamped to the output range: interpolating
	 * towards a clamped knot would bend the line inside the range; the
	 * kernel clamps after interpolating. */
	struct qdb_qp wide = *out;
	if (n == 257) {
		wide.lo = INT32_MIN / 2;
		wide.hi = INT32_MAX / 2;
	}
	for (int i = 0; i < n; i++) {
		double x = (double)(lut_input(in->dt, i) - in->zp) * in->s;
		table[i] = (int32_t)fixed_quant(act_exact(op, gelu_tanh, x), &wide, rounding);
	}
	return QDB_OK;
}

int qdb_lut_softmax_build(const struct qdb_qp *in, enum qdb_rounding rounding, int32_t *table,
			  struct qdb_err *err)
{
	int n = qdb_lut_size(in->dt);
	if (!n)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "softmax table: input dtype %s",
				   qdb_dtype_name(in->dt));
	for (int i = 0; i < n; i++) {
		/* Slot i: distance d below the row maximum (8-bit: d = i; 16-bit
		 * knots every 256 steps). */
		double d = in->dt == QDB_I16 ? 256.0 * i : (double)i;
		table[i] = (int32_t)qdb_rq_round(exp(-d * in->s) * 16777216.0, rounding);
	}
	return QDB_OK;
}

/* Table lookup: direct (256) or interpolated (257 knots, 16-bit input). */
static inline int32_t lut_get(const int32_t *t, int n, int32_t u, enum qdb_rounding r)
{
	if (n == 256)
		return t[u & 255];
	int32_t j = u >> 8, f = u & 255;
	int64_t d = (int64_t)(t[j + 1] - t[j]) * f;
	return t[j] + (int32_t)qdb_rq_div_round(d, 256, r);
}

/* ---- relu, relu6, clamp ---- */

struct clamp_prep {
	struct qdb_rescale rs;
	int64_t lo, hi;
};

static int clamp_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct qdb_qp in, out;
	int rc;
	if ((rc = qdb_qp_of(g, node, nd->inputs[0], &in, err)) ||
	    (rc = qdb_qp_of(g, node, nd->outputs[0], &out, err)))
		return rc;
	float flo = -INFINITY, fhi = INFINITY;
	if (nd->op == QDB_OP_RELU) {
		flo = 0;
	} else if (nd->op == QDB_OP_RELU6) {
		flo = 0;
		fhi = 6;
	} else if ((rc = qdb_clamp_params_parse(g, node, &flo, &fhi, err))) {
		return rc;
	}
	struct clamp_prep *cp = qdb_calloc(1, sizeof *cp);
	if (!cp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	if ((rc = qdb_rescale_init(g, node, 0, &in, &out, &cp->rs, err))) {
		qdb_free(cp);
		return rc;
	}
	cp->lo = out.lo;
	cp->hi = out.hi;
	if (isfinite(flo)) {
		int64_t q = qdb_qp_quantize(g, &out, flo);
		cp->lo = q > cp->lo ? q : cp->lo;
	}
	if (isfinite(fhi)) {
		int64_t q = qdb_qp_quantize(g, &out, fhi);
		cp->hi = q < cp->hi ? q : cp->hi;
	}
	if (cp->lo > cp->hi)
		cp->lo = cp->hi;
	*prep = cp;
	return QDB_OK;
}

static void free_prep(void *p) { qdb_free(p); }

static size_t chunk_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	return CHUNK * sizeof(int32_t);
}

/* An elementwise kernel: the input is loaded into the scratch buffer
 * (chunk_scratch) CHUNK elements at a time, mapped in place by f and
 * stored into the output. */
static int chunked_map(const struct qdb_kernel_args *a,
		       void (*f)(const void *prep, int32_t *buf, int64_t m), struct qdb_err *err)
{
	int32_t *buf = a->scratch;
	int64_t n = qdb_tensor_numel(a->in[0]);
	if (!buf || a->scratch_bytes < CHUNK * sizeof(int32_t))
		return qdb_err_set(err, QDB_EINVAL, "node %s: scratch too small",
				   a->g->nodes[a->node].name);
	for (int64_t i = 0; i < n; i += CHUNK) {
		int64_t m = n - i < CHUNK ? n - i : CHUNK;
		qdb_int_load(a->in[0], i, m, buf);
		f(a->prep, buf, m);
		qdb_int_store(a->out[0], i, m, buf);
	}
	return QDB_OK;
}

static void clamp_chunk(const void *prep, int32_t *buf, int64_t m)
{
	const struct clamp_prep *cp = prep;
	for (int64_t j = 0; j < m; j++) {
		int64_t v = qdb_rescale1(&cp->rs, buf[j]);
		buf[j] = (int32_t)qdb_clamp64(v, cp->lo, cp->hi);
	}
}

static int clamp_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	return chunked_map(a, clamp_chunk, err);
}

const struct qdb_kernel qdb_ki_relu = {clamp_prepare, free_prep, chunk_scratch, clamp_run};
const struct qdb_kernel qdb_ki_relu6 = {clamp_prepare, free_prep, chunk_scratch, clamp_run};
const struct qdb_kernel qdb_ki_clamp = {clamp_prepare, free_prep, chunk_scratch, clamp_run};

/* ---- table-driven activations ---- */

struct lut_prep {
	int n;            /* 256, 257 (interpolated) or 65536 (torch, int16) */
	int64_t base;     /* input integer of entry 0 */
	int64_t lo, hi;   /* output range (interpolated tables clamp after) */
	enum qdb_rounding rounding;
	int32_t table[];
};

/* The `lut` attr's constant, checked. */
static int lut_constant(const struct qdb_graph *g, int node, int n, const struct qdb_tensor **out,
			struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	const char *name = qdb_node_attr_str(nd, "lut", NULL);
	*out = NULL;
	if (!name)
		return QDB_OK;
	int v = qdb_graph_find_value(g, name);
	if (v < 0 || g->values[v].constant < 0)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'lut': no constant named '%s'",
				   nd->name, name);
	const struct qdb_tensor *t = &g->constants[g->values[v].constant].t;
	if (!qdb_dtype_is_int(t->dtype) || qdb_tensor_numel(t) != n)
		return qdb_err_set(err, QDB_EFORMAT,
				   "node %s: attr 'lut': constant '%s' must be %d integers", nd->name,
				   name, n);
	*out = t;
	return QDB_OK;
}

static int lut_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct qdb_qp in, out;
	int rc, gelu_tanh = 0;
	if ((rc = qdb_qp_of(g, node, nd->inputs[0], &in, err)) ||
	    (rc = qdb_qp_of(g, node, nd->outputs[0], &out, err)))
		return rc;
	if (nd->op == QDB_OP_GELU && (rc = qdb_gelu_params_parse(g, node, &gelu_tanh, err)))
		return rc;
	int torch = g->profile == QDB_PROFILE_TORCH;
	int n = torch ? (in.dt == QDB_I16 ? 65536 : 256) : qdb_lut_size(in.dt);
	struct lut_prep *lp = qdb_calloc(1, sizeof *lp + (size_t)n * sizeof(int32_t));
	if (!lp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	lp->n = n;
	lp->rounding = g->rounding;
	lp->base = in.dt == QDB_I16 ? -32768 : qdb_dtype_min(in.dt);
	lp->lo = out.lo;
	lp->hi = out.hi;
	if (torch) {
		struct qdb_torch_deq dq;
		float inv = 1.0f / (float)out.s;
		qdb_torch_deq_init(&dq, in.s, in.zp);
		for (int i = 0; i < n; i++) {
			float x = qdb_torch_deq(&dq, lp->base + i);
			float y = qdb_act_torch_f(nd->op, gelu_tanh, x);
			lp->table[i] = (int32_t)qdb_torch_quant(y, inv, out.zp, out.lo, out.hi);
		}
	} else {
		const struct qdb_tensor *t;
		if ((rc = lut_constant(g, node, n, &t, err))) {
			qdb_free(lp);
			return rc;
		}
		if (t) {
			for (int i = 0; i < n; i++)
				lp->table[i] = n == 257 ? (int32_t)qdb_tensor_get(t, i)
							: (int32_t)qdb_clamp64((int64_t)qdb_tensor_get(t, i),
									       out.lo, out.hi);
		} else if ((rc = qdb_lut_build(nd->op, gelu_tanh, &in, &out, g->rounding, lp->table,
					       err))) {
			qdb_free(lp);
			return qdb_err_prefix(err, "node %s", nd->name);
		}
	}
	*prep = lp;
	return QDB_OK;
}

static void lut_chunk(const void *prep, int32_t *buf, int64_t m)
{
	const struct lut_prep *lp = prep;
	for (int64_t j = 0; j < m; j++) {
		int32_t u = (int32_t)(buf[j] - lp->base);
		buf[j] = lp->n == 257 ? (int32_t)qdb_clamp64(lut_get(lp->table, 257, u, lp->rounding),
							      lp->lo, lp->hi)
				      : lp->table[u];
	}
}

static int lut_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	return chunked_map(a, lut_chunk, err);
}

const struct qdb_kernel qdb_ki_lut_act = {lut_prepare, free_prep, chunk_scratch, lut_run};

/* ---- softmax ---- */

struct softmax_prep {
	struct qdb_qp in, out;
	int torch;
	enum qdb_rounding rounding;
	int64_t recip;   /* fixed: round(2^16 / s_y) */
	int n;           /* table size */
	int32_t table[];
};

static int softmax_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct qdb_qp in, out;
	int rc;
	if ((rc = qdb_qp_of(g, node, nd->inputs[0], &in, err)) ||
	    (rc = qdb_qp_of(g, node, nd->outputs[0], &out, err)))
		return rc;
	int torch = g->profile == QDB_PROFILE_TORCH;
	int n = torch ? 0 : qdb_lut_size(in.dt);
	struct softmax_prep *sp = qdb_calloc(1, sizeof *sp + (size_t)n * sizeof(int32_t));
	if (!sp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	sp->in = in;
	sp->out = out;
	sp->torch = torch;
	sp->rounding = g->rounding;
	sp->n = n;
	if (!torch) {
		const struct qdb_tensor *t;
		double r = qdb_rq_round(65536.0 / out.s, g->rounding);
		if (!(r >= 1 && r < 274877906944.0)) { /* e * R < 2^62 with e <= 2^24 */
			qdb_free(sp);
			return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: softmax output scale %g out of range",
					   nd->name, out.s);
		}
		sp->recip = (int64_t)r;
		if ((rc = lut_constant(g, node, n, &t, err))) {
			qdb_free(sp);
			return rc;
		}
		if (t) {
			for (int i = 0; i < n; i++)
				sp->table[i] = (int32_t)qdb_tensor_get(t, i);
		} else if ((rc = qdb_lut_softmax_build(&in, g->rounding, sp->table, err))) {
			qdb_free(sp);
			return qdb_err_prefix(err, "node %s", nd->name);
		}
	}
	*prep = sp;
	return QDB_OK;
}

static int softmax_axis(const struct qdb_kernel_args *a, int *axis, struct qdb_err *err)
{
	return qdb_axis_param_parse(a->g, a->node, "axis", -1, a->in[0]->rank, axis, err);
}

static size_t softmax_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct qdb_value *v = &g->values[g->nodes[node].inputs[0]];
	int axis;
	struct qdb_err e;
	if (v->rank < 1 || qdb_axis_param_parse(g, node, "axis", -1, v->rank, &axis, &e))
		return 0;
	size_t len = (size_t)v->shape[axis];
	return len * (2 * sizeof(int32_t) + sizeof(float) + sizeof(int64_t)) + 64;
}

static int softmax_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct softmax_prep *sp = a->prep;
	const struct qdb_tensor *x = a->in[0];
	int axis, rc;
	if ((rc = softmax_axis(a, &axis, err)))
		return rc;
	int64_t len = x->shape[axis];
	int64_t inner = qdb_shape_numel(x->rank - axis - 1, x->shape + axis + 1);
	int64_t outer = qdb_shape_numel(axis, x->shape);
	size_t need = (size_t)len * (2 * sizeof(int32_t) + sizeof(float) + sizeof(int64_t));
	if (!a->scratch || a->scratch_bytes < need)
		return qdb_err_set(err, QDB_EINVAL, "node %s: scratch too small",
				   a->g->nodes[a->node].name);
	int64_t *e = a->scratch;
	int32_t *qin = (int32_t *)(e + len), *qout = qin + len;
	float *f = (float *)(qout + len);
	const struct qdb_qp *in = &sp->in, *out = &sp->out;
	float inv = 1.0f / (float)out->s;
	for (int64_t o = 0; o < outer; o++) {
		for (int64_t i = 0; i < inner; i++) {
			int64_t base = o * len * inner + i;
			for (int64_t k = 0; k < len; k++)
				qdb_int_load(x, base + k * inner, 1, qin + k);
			int32_t mx = INT32_MIN;
			for (int64_t k = 0; k < len; k++)
				mx = qin[k] > mx ? qin[k] : mx;
			if (sp->torch) {
				float fmx = (float)((double)(float)((int64_t)mx - in->zp) * in->s), sum = 0;
				for (int64_t k = 0; k < len; k++) {
					float v = (float)((double)(float)((int64_t)qin[k] - in->zp) * in->s);
					f[k] = expf(v - fmx);
					sum += f[k];
				}
				float rs = 1.0f / sum;
				for (int64_t k = 0; k < len; k++)
					qout[k] = (int32_t)qdb_torch_quant(f[k] * rs, inv, out->zp, out->lo, out->hi);
			} else {
				int64_t sum = 0;
				for (int64_t k = 0; k < len; k++) {
					int32_t d = mx - qin[k];
					e[k] = sp->n == 257 ? lut_get(sp->table, 257, d, sp->rounding)
							    : sp->table[d & 255];
					sum += e[k];
				}
				for (int64_t k = 0; k < len; k++) {
					int64_t q = sum > 0 ? qdb_rq_div_round(e[k] * sp->recip, sum * 65536, sp->rounding)
							    : 0;
					qout[k] = (int32_t)qdb_clamp64(q + out->zp, out->lo, out->hi);
				}
			}
			for (int64_t k = 0; k < len; k++)
				qdb_int_store(a->out[0], base + k * inner, 1, qout + k);
		}
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_softmax = {softmax_prepare, free_prep, softmax_scratch, softmax_run};
