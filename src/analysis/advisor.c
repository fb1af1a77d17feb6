/* advisor.c - the advisor's rule table and the trace scan the rules share. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "analysis/advisor.h"
#include "base/alloc.h"
#include "base/str.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"
#include "tensor/tensor.h"

#define CHUNK 4096
#define RESERVOIR 65536
#define MIN_VALUES 16 /* fewer finite values than this: no distribution rules */

/* ---- quant params of a value, resolved ---------------------------------- */

struct vq {
	int n;              /* 0: none */
	int axis;
	const double *s;
	const int64_t *zp;
	int64_t lo, hi;     /* effective integer range */
	enum qdb_dtype dt;
};

static void vq_of(const struct qdb_graph *g, int v, struct vq *q)
{
	memset(q, 0, sizeof *q);
	if (v < 0)
		return;
	const struct qdb_value *val = &g->values[v];
	const struct qdb_quant *src = &val->q;
	enum qdb_dtype dt = val->qdtype;
	if (src->n <= 0 && val->constant >= 0) {
		src = &g->constants[val->constant].t.q;
		dt = g->constants[val->constant].t.dtype;
	}
	if (src->n <= 0 || !src->scale || !qdb_dtype_is_int(dt))
		return;
	q->n = src->n;
	q->axis = src->axis;
	q->s = src->scale;
	q->zp = src->zero_point;
	q->dt = dt;
	qdb_quant_range(src, dt, &q->lo, &q->hi);
}

static int vq_levels_le(const struct vq *q, int64_t levels)
{
	return q->n > 0 && q->hi - q->lo + 1 <= levels;
}

static int vq_bits(const struct vq *q)
{
	int b = 0;
	while (b < 63 && ((int64_t)1 << b) < q->hi - q->lo + 1)
		b++;
	return b;
}

static int64_t vq_zp(const struct vq *q, int64_t c)
{
	return q->zp ? q->zp[c] : 0;
}

/* Symmetric: every zero point sits in the middle of the integer range. */
static int vq_symmetric(const struct vq *q)
{
	int64_t mid = (q->lo + q->hi + 1) >> 1;
	for (int c = 0; c < q->n; c++)
		if (vq_zp(q, c) != mid)
			return 0;
	return 1;
}

/* "int8", "uint8", "int16" by the dtype, with the range when the quantizer
 * uses less of it ("uint8 [0, 127]" for torch's reduce_range). */
static const char *vq_kind(const struct vq *q, char *dst, size_t n)
{
	int bits = (int)qdb_dtype_size(q->dt) * 8;
	const char *base = q->dt == QDB_U8 ? "uint" : "int";
	if (q->lo == qdb_dtype_min(q->dt) && q->hi == qdb_dtype_max(q->dt))
		snprintf(dst, n, "%s%d", base, bits);
	else
		snprintf(dst, n, "%s%d [%lld, %lld]", base, bits, (long long)q->lo, (long long)q->hi);
	return dst;
}

/* ---- the context of one qdb_advise call ---------------------------------- */

struct layer {
	int index;              /* trace layer */
	const char *name;
	const struct qdb_trace_layer *tl;
	int value;              /* graph value, -1 when unmatched */
	int node;               /* producing node or -1 */
	struct vq q;
	int is_output;
	int has_records;

	int samples;            /* samples read */
	int64_t count, finite, nan, inf;
	int bad_samples;        /* samples with NaN/Inf */
	char first_bad[64];     /* id of the first such sample */
	double min, max;
	int64_t beyond, sat;
	int per_channel_mismatch;
	int64_t rows, rows_tight; /* output rows; rows with top-2 margin < 1 LSB */
	int64_t nonzero;          /* finite values != 0 */
	int int_records;          /* records held integers (saturation is known) */

	/* reservoir of finite values (sorted after the scan) and of nonzero |x| */
	double *res, *absres;
	int64_t nres, nabs, seen, seen_abs;
	uint64_t rng;
};

struct ctx {
	const struct qdb_graph *g;
	const struct qdb_trace *t;
	const struct qdb_advisor_opts *o;
	struct qdb_advice *out;
	struct qdb_err *err;
	int *value_layer;   /* graph value -> trace layer with records, -1 */
};

/* ---- findings ------------------------------------------------------------ */

static int add_finding(struct ctx *c, int rule, enum qdb_severity sev, const char *where,
		       double measure, double limit, const char *suggestion, const char *fmt,
		       ...) __attribute__((format(printf, 8, 9)));

static int add_finding(struct ctx *c, int rule, enum qdb_severity sev, const char *where,
		       double measure, double limit, const char *suggestion, const char *fmt,
		       ...)
{
	struct qdb_advice *a = c->out;
	if (a->n == a->cap) {
		int cap = a->cap ? a->cap * 2 : 16;
		struct qdb_finding *f = qdb_realloc(a->findings, (size_t)cap * sizeof *f);
		if (!f)
			return qdb_err_set(c->err, QDB_ENOMEM, "advisor: out of memory");
		a->findings = f;
		a->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char tmp[1024];
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	struct qdb_finding *f = &a->findings[a->n];
	memset(f, 0, sizeof *f);
	f->rule = rule;
	f->severity = sev;
	f->measure = measure;
	f->limit = limit;
	f->where = qdb_strdup(where ? where : "");
	f->evidence = qdb_strdup(tmp);
	f->suggestion = qdb_strdup(suggestion ? suggestion : "");
	if (!f->where || !f->evidence || !f->suggestion) {
		qdb_free(f->where);
		qdb_free(f->evidence);
		qdb_free(f->suggestion);
		return qdb_err_set(c->err, QDB_ENOMEM, "advisor: out of memory");
	}
	a->n++;
	a->counts[sev]++;
	return QDB_OK;
}

/* ---- small numeric helpers ---------------------------------------------- */

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The real function of a table-driven op (double precision: the advisor
 * judges the table's resolution, not its arithmetic). */
static double act_f(int op, int gelu_tanh, double x)
{
	switch (op) {
	case QDB_OP_SIGMOID:
		return sigmoid(x);
	case QDB_OP_TANH:
		return tanh(x);
	case QDB_OP_HARDSWISH:
		return x * fmin(fmax(x + 3.0, 0.0), 6.0) / 6.0;
	case QDB_OP_SILU:
		return x * sigmoid(x);
	case QDB_OP_GELU:
		if (gelu_tanh)
			return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
		return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
	default:
		return x;
	}
}

static int is_lut_op(int op)
{
	return op == QDB_OP_SIGMOID || op == QDB_OP_TANH || op == QDB_OP_HARDSWISH ||
	       op == QDB_OP_SILU || op == QDB_OP_GELU || op == QDB_OP_SOFTMAX;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Algorithm R: keeps a uniform sample of at most RESERVOIR values. */
static void reservoir_add(double *res, int64_t *n, int64_t *seen, uint64_t *rng, double v)
{
	(*seen)++;
	if (*n < RESERVOIR) {
		res[(*n)++] = v;
		return;
	}
	uint64_t k = xorshift(rng) % (uint64_t)*seen;
	if (k < RESERVOIR)
		res[k] = v;
}

static double quantile(const double *sorted, int64_t n, double p)
{
	return n ? gsl_stats_quantile_from_sorted_data(sorted, 1, (size_t)n, p) : NAN;
}

/* Real bounds an op's output cannot pass by construction (a clamp, or the
 * range of a bounded function), looking through ops that only move or pick
 * values. Values at a quantizer edge next to such a bound are the data's
 * own extreme, not saturation. */
static void natural_bounds(const struct qdb_graph *g, int node, double *lo, double *hi, int depth)
{
	*lo = -INFINITY;
	*hi = INFINITY;
	if (node < 0 || depth > 32)
		return;
	const struct qdb_node *n = &g->nodes[node];
	const char *act = qdb_node_attr_str(n, "act", "none");
	switch (n->op) {
	case QDB_OP_RELU: *lo = 0; return;
	case QDB_OP_RELU6: *lo = 0, *hi = 6; return;
	case QDB_OP_CLAMP:
		*lo = qdb_node_attr_float(n, "min", -INFINITY);
		*hi = qdb_node_attr_float(n, "max", INFINITY);
		return;
	case QDB_OP_SIGMOID: case QDB_OP_SOFTMAX: *lo = 0, *hi = 1; return;
	case QDB_OP_TANH: *lo = -1, *hi = 1; return;
	case QDB_OP_HARDSWISH: *lo = -0.375; return;
	case QDB_OP_SILU: *lo = -0.278464542761074; return;
	case QDB_OP_GELU: *lo = -0.17004; return;
	case QDB_OP_MAXPOOL2D: case QDB_OP_AVGPOOL2D: case QDB_OP_GLOBAL_AVGPOOL:
	case QDB_OP_FLATTEN: case QDB_OP_RESHAPE: case QDB_OP_PERMUTE:
	case QDB_OP_UPSAMPLE_NEAREST: case QDB_OP_IDENTITY:
		if (n->n_inputs > 0)
			natural_bounds(g, g->values[n->inputs[0]].producer, lo, hi, depth + 1);
		return;
	default:
		break;
	}
	if (!strcmp(act, "relu")) {
		*lo = 0;
	} else if (!strcmp(act, "relu6")) {
		*lo = 0, *hi = 6;
	} else if (!strcmp(act, "clamp")) {
		*lo = qdb_node_attr_float(n, "act_min", -INFINITY);
		*hi = qdb_node_attr_float(n, "act_max", INFINITY);
	}
}

/* ---- the trace scan ------------------------------------------------------ */

struct chan {
	int64_t inner, dim; /* channel of flat i: (i / inner) % dim */
};

/* Saturation needs the integers: a float value at the edge may just be the
 * data's extreme rounded there, so for float records only values beyond
 * the range (by more than half a step) count. */
static void scan_values(struct layer *L, const double *x, int64_t n, int64_t i0,
			const struct chan *ch, int is_int, int skip_lo, int skip_hi)
{
	const struct vq *q = &L->q;
	for (int64_t k = 0; k < n; k++) {
		double v = x[k];
		if (isnan(v)) {
			L->nan++;
			continue;
		}
		if (isinf(v)) {
			L->inf++;
			continue;
		}
		L->finite++;
		if (v < L->min)
			L->min = v;
		if (v > L->max)
			L->max = v;
		reservoir_add(L->res, &L->nres, &L->seen, &L->rng, v);
		if (v != 0) {
			L->nonzero++;
			reservoir_add(L->absres, &L->nabs, &L->seen_abs, &L->rng, fabs(v));
		}
		if (q->n <= 0)
			continue;
		int64_t c = 0;
		if (q->n > 1)
			c = ((i0 + k) / ch->inner) % ch->dim;
		int64_t zp = vq_zp(q, c);
		double r = nearbyint(v / q->s[c]) + (double)zp;
		if (r < (double)q->lo || r > (double)q->hi) {
			L->beyond++;
			L->sat++;
		} else if (is_int && ((r == (double)q->lo && q->lo != zp && !skip_lo) ||
				      (r == (double)q->hi && q->hi != zp && !skip_hi))) {
			L->sat++;
		}
	}
}

/* Top-2 margin of every row along the last axis, for an output value. */
static int scan_margins(struct ctx *c, struct layer *L, const struct qdb_tensor *t,
			double *buf)
{
	if (t->rank < 1 || L->q.n != 1)
		return QDB_OK;
	int64_t last = t->shape[t->rank - 1];
	int64_t numel = qdb_tensor_numel(t);
	if (last < 2 || last > CHUNK || numel <= 0)
		return QDB_OK;
	double lsb = L->q.s[0];
	for (int64_t r = 0; r + last <= numel; r += last) {
		qdb_tensor_load_real(t, r, last, buf);
		double b1 = -INFINITY, b2 = -INFINITY;
		int finite = 1;
		for (int64_t k = 0; k < last; k++) {
			double v = buf[k];
			if (!isfinite(v)) {
				finite = 0;
				break;
			}
			if (v > b1) {
				b2 = b1;
				b1 = v;
			} else if (v > b2) {
				b2 = v;
			}
		}
		if (!finite)
			continue;
		L->rows++;
		/* Integers one step apart dequantize to ~1 LSB: allow rounding. */
		if (b1 - b2 < lsb * (1 - 1e-9))
			L->rows_tight++;
	}
	(void)c;
	return QDB_OK;
}

static int scan_layer(struct ctx *c, struct layer *L, double *buf)
{
	const struct qdb_trace *t = c->t;
	int ns = qdb_trace_n_samples(t);
	int skip_lo = 0, skip_hi = 0;
	if (L->q.n > 0) {
		double blo, bhi, s = L->q.s[0];
		int64_t zp = vq_zp(&L->q, 0);
		natural_bounds(c->g, L->node, &blo, &bhi, 0);
		skip_lo = (double)(L->q.lo - zp) * s <= blo + s;
		skip_hi = (double)(L->q.hi - zp) * s >= bhi - s;
	}
	L->min = INFINITY;
	L->max = -INFINITY;
	L->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(L->index + 1) * 0xBF58476D1CE4E5B9ull;
	for (int s = 0; s < ns; s++) {
		if (c->o->max_samples > 0 && L->samples >= c->o->max_samples)
			break;
		if (!qdb_trace_has(t, s, L->index))
			continue;
		struct qdb_tensor x;
		qdb_tensor_init(&x);
		int rc = qdb_trace_get(t, s, L->index, &x, c->err);
		if (rc)
			return rc;
		L->samples++;
		L->int_records |= qdb_dtype_is_int(x.dtype);
		int64_t numel = qdb_tensor_numel(&x);
		struct chan ch = {1, 1};
		if (L->q.n > 1) {
			int ax = L->q.axis;
			if (ax >= 0 && ax < x.rank && x.shape[ax] == L->q.n) {
				ch.dim = L->q.n;
				for (int d = ax + 1; d < x.rank; d++)
					ch.inner *= x.shape[d];
			} else {
				L->per_channel_mismatch = 1;
			}
		}
		int64_t nan0 = L->nan, inf0 = L->inf;
		for (int64_t i = 0; i < numel; i += CHUNK) {
			int64_t n = numel - i < CHUNK ? numel - i : CHUNK;
			qdb_tensor_load_real(&x, i, n, buf);
			scan_values(L, buf, n, i, &ch, qdb_dtype_is_int(x.dtype), skip_lo, skip_hi);
		}
		L->count += numel;
		c->out->values_read += numel;
		if (L->nan + L->inf > nan0 + inf0 && L->bad_samples++ == 0)
			qdb_sample_id_str(qdb_trace_sample(t, s), L->first_bad, sizeof L->first_bad);
		if (L->is_output && vq_levels_le(&L->q, 256))
			scan_margins(c, L, &x, buf);
		qdb_tensor_done(&x);
	}
	if (L->samples > c->out->samples)
		c->out->samples = L->samples;
	gsl_sort(L->res, 1, (size_t)L->nres);
	gsl_sort(L->absres, 1, (size_t)L->nabs);
	return QDB_OK;
}

/* ---- rules --------------------------------------------------------------- */

enum {
	R_NONFINITE,
	R_COVERAGE,
	R_RANGE,
	R_ASYM,
	R_POW2,
	R_LUT,
	R_LUTTABLE,
	R_OUTPUT,
	R_OBSERVER,
	R_FAKEQUANT,
	R_QSCALE,
	R_COUNT
};

struct rule {
	struct qdb_advisor_rule pub;
	int (*graph)(struct ctx *c, int r);                   /* once per call, may be NULL */
	int (*layer)(struct ctx *c, int r, struct layer *L);  /* per trace layer, may be NULL */
	int needs_records;                                    /* layer: only with records */
};

#define G4 "%.4g"

static int nonfinite_graph(struct ctx *c, int r)
{
	const struct qdb_graph *g = c->g;
	double buf[256];
	for (int i = 0; i < g->n_constants; i++) {
		const struct qdb_tensor *t = &g->constants[i].t;
		if (qdb_dtype_is_int(t->dtype))
			continue;
		int64_t numel = qdb_tensor_numel(t), nan = 0, inf = 0;
		for (int64_t k = 0; k < numel; k += 256) {
			int64_t n = numel - k < 256 ? numel - k : 256;
			qdb_tensor_load_real(t, k, n, buf);
			for (int64_t j = 0; j < n; j++) {
				nan += isnan(buf[j]);
				inf += isinf(buf[j]);
			}
		}
		if (nan + inf == 0)
			continue;
		const char *name = g->values[g->constants[i].value].name;
		char sug[300];
		snprintf(sug, sizeof sug,
			 "re-export %s from a checkpoint without NaN/Inf (check the training "
			 "loss and BN statistics)", name);
		int rc = add_finding(c, r, QDB_SEV_ERROR, name, (double)(nan + inf), 0, sug,
				     "constant %s holds %lld NaN and %lld Inf among %lld values",
				     name, (long long)nan, (long long)inf, (long long)numel);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

static int nonfinite_layer(struct ctx *c, int r, struct layer *L)
{
	if (L->nan + L->inf == 0)
		return QDB_OK;
	char sug[300];
	snprintf(sug, sizeof sug,
		 "find where %s first becomes non-finite (qdb compare shows the first "
		 "layer with nan/inf) and fix its input or weights", L->name);
	return add_finding(c, r, QDB_SEV_ERROR, L->name, (double)(L->nan + L->inf), 0, sug,
			   "%lld NaN and %lld Inf in %d of %d samples read (first: sample %s)",
			   (long long)L->nan, (long long)L->inf, L->bad_samples, L->samples,
			   L->first_bad);
}

static int coverage_layer(struct ctx *c, int r, struct layer *L)
{
	const struct vq *q = &L->q;
	if (q->n <= 0 || L->finite == 0)
		return QDB_OK;
	double beyond = (double)L->beyond / (double)L->finite;
	double sat = (double)L->sat / (double)L->finite;
	int b_cross = beyond > c->o->beyond_share;
	int s_cross = L->int_records && sat > c->o->sat_share;
	if (!b_cross && !s_cross)
		return QDB_OK;
	double s = q->s[0];
	int64_t zp = vq_zp(q, 0);
	double rlo = (double)(q->lo - zp) * s, rhi = (double)(q->hi - zp) * s;
	char kind[48], sug[400], satx[64] = "";
	vq_kind(q, kind, sizeof kind);
	if (L->beyond > 0) {
		/* the scale that puts the data's extremes on the range's edges */
		double need = fmax(L->max > 0 ? L->max / (double)(q->hi - zp) : 0,
				   L->min < 0 ? L->min / (double)(q->lo - zp) : 0);
		snprintf(sug, sizeof sug,
			 "recalibrate %s so its range covers the data (scale about %.4g instead of "
			 "%.4g), or bound the activation in training (clamp/ReLU6)", L->name, need, s);
	} else {
		snprintf(sug, sizeof sug,
			 "widen %s's range (recalibrate on data like this) or bound the activation "
			 "in training, so fewer integers sit at qmin/qmax", L->name);
	}
	if (L->int_records)
		snprintf(satx, sizeof satx, "; %.3g%% at qmin/qmax", 100 * sat);
	enum qdb_severity sev = (beyond > 0.01 || (L->int_records && sat > 0.1)) ? QDB_SEV_ERROR
										  : QDB_SEV_WARNING;
	return add_finding(c, r, sev, L->name, b_cross ? beyond : sat,
			   b_cross ? c->o->beyond_share : c->o->sat_share, sug,
			   "%lld of %lld values (%.3g%%) beyond the %s range [" G4 ", " G4
			   "] (scale " G4 "%s)%s; data [" G4 ", " G4 "]",
			   (long long)L->beyond, (long long)L->finite, 100 * beyond, kind, rlo,
			   rhi, s,
			   q->n <= 1 ? "" : L->per_channel_mismatch ? ", channel 0: per-channel "
				   "params do not fit the traced shape" : ", channel 0",
			   satx, L->min, L->max);
}

static int range_layer(struct ctx *c, int r, struct layer *L)
{
	const struct vq *q = &L->q;
	if (!vq_levels_le(q, 256) || L->nabs < MIN_VALUES)
		return QDB_OK;
	double amax = fmax(fabs(L->min), fabs(L->max));
	double med = quantile(L->absres, L->nabs, 0.5);
	if (!(med > 0))
		return QDB_OK;
	double ratio = amax / med;
	if (!(ratio > c->o->range_ratio))
		return QDB_OK;
	char kind[48], sug[400];
	vq_kind(q, kind, sizeof kind);
	double s = q->s[0];
	double s16 = amax / 32767.0;
	snprintf(sug, sizeof sug,
		 "quantize %s as int16 (qparams dtype i16, scale about %.4g: the median would "
		 "sit at %.0f LSB) or clip its outliers in training", L->name, s16, med / s16);
	return add_finding(c, r, QDB_SEV_WARNING, L->name, ratio, c->o->range_ratio, sug,
			   "max |x| = " G4 " is %.0fx the median nonzero |x| = " G4
			   ": at the %s scale " G4 " the median is %.2g LSB",
			   amax, ratio, med, kind, s, med / s);
}

static int asym_layer(struct ctx *c, int r, struct layer *L)
{
	const struct vq *q = &L->q;
	if (q->n <= 0 || L->nres < MIN_VALUES || !vq_symmetric(q))
		return QDB_OK;
	double p01 = quantile(L->res, L->nres, 0.01), p99 = quantile(L->res, L->nres, 0.99);
	if (!(p99 > p01))
		return QDB_OK;
	double a = fabs(p99 + p01) / (p99 - p01);
	if (!(a > c->o->asym))
		return QDB_OK;
	double s = q->s[0];
	double used = (p99 - p01) / ((double)(q->hi - q->lo) * s);
	char kind[48], sug[400];
	vq_kind(q, kind, sizeof kind);
	snprintf(sug, sizeof sug,
		 "use an affine quantizer (free zero point) or an unsigned dtype for %s: "
		 "the levels on the empty side are wasted", L->name);
	return add_finding(c, r, QDB_SEV_WARNING, L->name, a, c->o->asym, sug,
			   "p01 = " G4 ", p99 = " G4 " on a symmetric %s quantizer (zero point "
			   "%lld): asymmetry %.2f, the data spans %.0f%% of the levels",
			   p01, p99, kind, (long long)vq_zp(q, 0), a, 100 * fmin(used, 1.0));
}

static int pow2_graph(struct ctx *c, int r)
{
	if (!c->o->pow2)
		return QDB_OK;
	const struct qdb_graph *g = c->g;
	for (int v = 0; v < g->n_values; v++) {
		struct vq q;
		vq_of(g, v, &q);
		if (q.n <= 0)
			continue;
		int bad = 0, worst = -1;
		double worst_d = 0;
		for (int k = 0; k < q.n; k++) {
			double e = log2(q.s[k]);
			double d = fabs(e - nearbyint(e));
			if (d > 1e-9) {
				bad++;
				if (d > worst_d)
					worst_d = d, worst = k;
			}
		}
		if (!bad)
			continue;
		double s = q.s[worst], e = log2(s);
		char sug[400];
		snprintf(sug, sizeof sug,
			 "constrain %s's scale to a power of two in QAT (e.g. a fixed-point "
			 "observer), so the target does not round it to 2^%.0f", g->values[v].name,
			 nearbyint(e));
		int rc = add_finding(c, r, QDB_SEV_WARNING, g->values[v].name, worst_d, 1e-9, sug,
				     "%d of %d scale%s not a power of two; e.g. " G4
				     " = 2^%.3f (nearest 2^%.0f = " G4 ")",
				     bad, q.n, q.n > 1 ? "s are" : " is", s, e, nearbyint(e),
				     exp2(nearbyint(e)));
		if (rc)
			return rc;
	}
	return QDB_OK;
}

/* Largest change of the output between adjacent table inputs (8-bit input)
 * or the largest interpolation error between knots (16-bit), in output LSB. */
static int lut_resolution(const struct qdb_graph *g, int node, const struct vq *in,
			  const struct vq *out, double *jump, int *from_table)
{
	const struct qdb_node *n = &g->nodes[node];
	int gelu_tanh = !strcmp(qdb_node_attr_str(n, "approximate", "none"), "tanh");
	double si = in->s[0], so = out->s[0];
	int64_t zi = vq_zp(in, 0);
	*from_table = 0;
	*jump = 0;
	if (n->op == QDB_OP_SOFTMAX) {
		/* exp(-d*s) falls by a factor exp(-s) per input step: the largest
		 * probability moves by up to 1 - exp(-s). */
		*jump = (1.0 - exp(-si)) / so;
		return 1;
	}
	if (vq_levels_le(in, 256)) {
		const char *lut = qdb_node_attr_str(n, "lut", NULL);
		int cv = lut ? qdb_graph_find_value(g, lut) : -1;
		if (cv >= 0 && g->values[cv].constant >= 0) {
			const struct qdb_tensor *t = &g->constants[g->values[cv].constant].t;
			int64_t m = qdb_tensor_numel(t);
			if (qdb_dtype_is_int(t->dtype) && m >= in->hi - in->lo + 1) {
				/* entry i = output for input dtype_min + i */
				int64_t base = in->lo - qdb_dtype_min(in->dt);
				for (int64_t i = base; i < base + (in->hi - in->lo); i++) {
					double d = fabs(qdb_tensor_get(t, i + 1) - qdb_tensor_get(t, i));
					if (d > *jump)
						*jump = d;
				}
				*from_table = 1;
				return 1;
			}
		}
		for (int64_t q = in->lo; q < in->hi; q++) {
			double a = act_f(n->op, gelu_tanh, (double)(q - zi) * si);
			double b = act_f(n->op, gelu_tanh, (double)(q + 1 - zi) * si);
			if (fabs(b - a) / so > *jump)
				*jump = fabs(b - a) / so;
		}
		return 1;
	}
	if (vq_levels_le(in, 65536)) {
		for (int64_t k = -32768; k < 32768; k += 256) {
			double a = act_f(n->op, gelu_tanh, (double)(k - zi) * si);
			double b = act_f(n->op, gelu_tanh, (double)(k + 256 - zi) * si);
			for (int j = 1; j < 256; j += 5) {
				double x = (double)(k + j - zi) * si;
				double lin = a + (b - a) * j / 256.0;
				double e = fabs(act_f(n->op, gelu_tanh, x) - lin) / so;
				if (e > *jump)
					*jump = e;
			}
		}
		return 1;
	}
	return 0;
}

static int lut_graph(struct ctx *c, int r)
{
	const struct qdb_graph *g = c->g;
	if (g->stage != QDB_STAGE_QUANTIZED || g->profile != QDB_PROFILE_FIXED)
		return QDB_OK;
	for (int i = 0; i < g->n_nodes; i++) {
		const struct qdb_node *n = &g->nodes[i];
		if (!is_lut_op(n->op) || n->device != QDB_DEV_BPU || n->n_inputs < 1 ||
		    n->n_outputs < 1)
			continue;
		struct vq in, out;
		vq_of(g, n->inputs[0], &in);
		vq_of(g, n->outputs[0], &out);
		if (in.n != 1 || out.n != 1)
			continue;
		double jump;
		int from_table;
		if (!lut_resolution(g, i, &in, &out, &jump, &from_table) ||
		    !(jump > c->o->lut_jump))
			continue;
		char kind[48], sug[400];
		vq_kind(&in, kind, sizeof kind);
		snprintf(sug, sizeof sug,
			 "give %s's input %s a finer scale (narrower range, or int16) or run %s "
			 "on CPU (qdb edit --cpu %s)", n->name, g->values[n->inputs[0]].name,
			 n->name, n->name);
		int rc = add_finding(c, r, QDB_SEV_WARNING, n->name, jump, c->o->lut_jump, sug,
				     "%s through a %s table: input scale " G4 " (%s) moves the "
				     "output by up to %.3g LSB per %s (output scale " G4 ")",
				     n->op_name, vq_levels_le(&in, 256) ? "256-entry" : "knot",
				     in.s[0], kind, jump,
				     vq_levels_le(&in, 256) ? (from_table ? "table step"
									  : "input step")
							    : "knot interval (interpolation error)",
				     out.s[0]);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

/* The table a converter stored for a nonlinear op, against the one the
 * node's qparams call for (built as convert builds it). */
static int luttable_graph(struct ctx *c, int r)
{
	const struct qdb_graph *g = c->g;
	if (g->stage != QDB_STAGE_QUANTIZED)
		return QDB_OK;
	for (int i = 0; i < g->n_nodes; i++) {
		const struct qdb_node *n = &g->nodes[i];
		const char *lut = qdb_node_attr_str(n, "lut", NULL);
		if (!is_lut_op(n->op) || !lut || n->device != QDB_DEV_BPU || n->n_inputs < 1 ||
		    n->n_outputs < 1)
			continue;
		int cv = qdb_graph_find_value(g, lut);
		if (cv < 0 || g->values[cv].constant < 0)
			continue; /* validation reports a dangling reference */
		const struct qdb_tensor *t = &g->constants[g->values[cv].constant].t;
		struct qdb_qp in, out;
		struct qdb_err e;
		if (qdb_qp_of(g, i, n->inputs[0], &in, &e) || qdb_qp_of(g, i, n->outputs[0], &out, &e))
			continue;
		int size = qdb_lut_size(in.dt);
		int64_t m = qdb_tensor_numel(t);
		char sug[400];
		snprintf(sug, sizeof sug,
			 "rebuild %s's table from its input and output qparams (qdb convert), or run "
			 "%s on CPU (qdb edit --cpu %s) until the converter is fixed", n->name, n->name,
			 n->name);
		if (!size || m != size || !qdb_dtype_is_int(t->dtype)) {
			int rc = add_finding(c, r, QDB_SEV_ERROR, n->name, (double)m, size, sug,
					     "table %s has %lld %s entries; %s with a %s input needs %d",
					     lut, (long long)m, qdb_dtype_name(t->dtype), n->op_name,
					     qdb_dtype_name(in.dt), size);
			if (rc)
				return rc;
			continue;
		}
		int32_t want[257];
		int gelu_tanh = !strcmp(qdb_node_attr_str(n, "approximate", "none"), "tanh");
		int rc = n->op == QDB_OP_SOFTMAX
				 ? qdb_lut_softmax_build(&in, g->rounding, want, &e)
				 : qdb_lut_build(n->op, gelu_tanh, &in, &out, g->rounding, want, &e);
		if (rc)
			continue;
		/* exp tables are Q16 fractions; activation tables output integers */
		double unit = n->op == QDB_OP_SOFTMAX ? 65536.0 * out.s : 1.0;
		int bad = 0, worst = 0;
		double maxd = 0;
		for (int k = 0; k < size; k++) {
			double d = fabs(qdb_tensor_get(t, k) - (double)want[k]) / unit;
			if (d > 1.0) {
				bad++;
				if (d > maxd)
					maxd = d, worst = k;
			}
		}
		if (!bad)
			continue;
		rc = add_finding(c, r, QDB_SEV_ERROR, n->name, maxd, 1, sug,
				 "%d of %d entries of table %s differ from %s at the node's qparams "
				 "(input scale " G4 ", output scale " G4 ") by up to %.3g output LSB "
				 "(entry %d: %.0f, expected %d)",
				 bad, size, lut, n->op_name, in.s, out.s, maxd, worst,
				 qdb_tensor_get(t, worst), want[worst]);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

static int output_finding(struct ctx *c, int r, int v, const struct layer *L)
{
	const struct qdb_graph *g = c->g;
	struct vq q;
	vq_of(g, v, &q);
	if (!vq_levels_le(&q, 256))
		return QDB_OK;
	const char *name = g->values[v].name;
	int node = g->values[v].producer;
	char kind[48], sug[400];
	vq_kind(&q, kind, sizeof kind);
	double s = q.s[0];
	int64_t zp = vq_zp(&q, 0);
	snprintf(sug, sizeof sug,
		 "keep the output %s in float or int16/int32: dequantize it, or run %s on CPU "
		 "(qdb edit --cpu %s)", name, node >= 0 ? g->nodes[node].name : name,
		 node >= 0 ? g->nodes[node].name : name);
	if (!L || L->rows == 0)
		return add_finding(c, r, QDB_SEV_WARNING, name, (double)vq_bits(&q), 8, sug,
				   "graph output %s is %s (scale " G4 ", range [" G4 ", " G4 "]): "
				   "1 LSB = " G4 " decides close outputs",
				   name, kind, s, (double)(q.lo - zp) * s, (double)(q.hi - zp) * s, s);
	double share = (double)L->rows_tight / (double)L->rows;
	enum qdb_severity sev = share > c->o->margin_share ? QDB_SEV_WARNING : QDB_SEV_INFO;
	return add_finding(c, r, sev, name, share, c->o->margin_share, sug,
			   "graph output %s is %s (scale " G4 "): the top-2 margin is below 1 "
			   "LSB in %lld of %lld rows (%.3g%%)",
			   name, kind, s, (long long)L->rows_tight, (long long)L->rows, 100 * share);
}

static int output_graph(struct ctx *c, int r)
{
	const struct qdb_graph *g = c->g;
	for (int i = 0; i < g->n_outputs; i++) {
		int v = g->outputs[i];
		if (c->value_layer && c->value_layer[v] >= 0)
			continue; /* judged with its data in output_layer */
		int rc = output_finding(c, r, v, NULL);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

static int output_layer(struct ctx *c, int r, struct layer *L)
{
	if (!L->is_output || c->value_layer[L->value] != L->index)
		return QDB_OK;
	return output_finding(c, r, L->value, L);
}

static int observer_layer(struct ctx *c, int r, struct layer *L)
{
	const struct qdb_trace_layer *tl = L->tl;
	if (!tl->has_qstate || !tl->observer)
		return QDB_OK;
	char sug[400];
	snprintf(sug, sizeof sug,
		 "freeze the observers before validating and exporting "
		 "(torch.ao.quantization.disable_observer), then trace %s again", L->name);
	return add_finding(c, r, QDB_SEV_ERROR, L->name, 1, 0, sug,
			   "the trace was taken with %s's observer enabled (scale " G4
			   ", zero point %lld at the end): its scale moved with the data it saw",
			   L->name, tl->qs_scale, (long long)tl->qs_zero_point);
}

static int fakequant_layer(struct ctx *c, int r, struct layer *L)
{
	const struct qdb_trace_layer *tl = L->tl;
	if (!tl->has_qstate || tl->fake_quant || L->q.n <= 0)
		return QDB_OK;
	char sug[400];
	snprintf(sug, sizeof sug,
		 "enable fake quant on %s for validation (torch.ao.quantization."
		 "enable_fake_quant), as the exported graph quantizes it", L->name);
	return add_finding(c, r, QDB_SEV_ERROR, L->name, 0, 1, sug,
			   "fake quant was disabled at %s in the trace, but the graph quantizes "
			   "it (scale " G4 ")", L->name, L->q.s[0]);
}

static int qscale_layer(struct ctx *c, int r, struct layer *L)
{
	const struct qdb_trace_layer *tl = L->tl;
	if (!tl->has_qstate || L->q.n <= 0 || !(tl->qs_scale > 0))
		return QDB_OK;
	double gs = L->q.s[0];
	int64_t gz = vq_zp(&L->q, 0);
	double rel = fabs(tl->qs_scale - gs) / gs;
	if (!(rel > c->o->scale_rtol) && tl->qs_zero_point == gz)
		return QDB_OK;
	char sug[400];
	snprintf(sug, sizeof sug,
		 "export the graph and take the trace from the same model state (frozen "
		 "observers), or re-export %s's qparams", L->name);
	return add_finding(c, r, QDB_SEV_WARNING, L->name, rel, c->o->scale_rtol, sug,
			   "trace qstate scale " G4 " / zero point %lld vs graph " G4
			   " / %lld (%.3g%% apart)",
			   tl->qs_scale, (long long)tl->qs_zero_point, gs, (long long)gz, 100 * rel);
}

static const struct rule rules[R_COUNT] = {
	[R_NONFINITE] = {{"nonfinite", QDB_SEV_ERROR, 0,
			  "NaN/Inf in constants and in traced values",
			  "find the first layer that goes non-finite and fix its input or weights"},
			 nonfinite_graph, nonfinite_layer, 1},
	[R_COVERAGE] = {{"scale-coverage", QDB_SEV_WARNING, 1,
			 "share of traced values beyond the quantized range, share at qmin/qmax",
			 "recalibrate the scale to cover the data or bound the activation"},
			NULL, coverage_layer, 1},
	[R_RANGE] = {{"range-int8", QDB_SEV_WARNING, 1,
		      "max |x| over the median nonzero |x| of an 8-bit value",
		      "quantize the value as int16 or clip its outliers"},
		     NULL, range_layer, 1},
	[R_ASYM] = {{"asymmetric", QDB_SEV_WARNING, 1,
		     "|p99 + p01| / (p99 - p01) on a symmetric quantizer",
		     "use an affine quantizer or an unsigned dtype"},
		    NULL, asym_layer, 1},
	[R_POW2] = {{"scale-pow2", QDB_SEV_WARNING, 0,
		     "scales that are not powers of two (only with --pow2)",
		     "constrain scales to powers of two in QAT"},
		    pow2_graph, NULL, 0},
	[R_LUT] = {{"lut-coarse", QDB_SEV_WARNING, 0,
		    "output change per input step of a nonlinear op's lookup table (fixed profile)",
		    "give the op's input a finer scale or run the op on CPU"},
		   lut_graph, NULL, 0},
	[R_LUTTABLE] = {{"lut-table", QDB_SEV_ERROR, 0,
			  "a nonlinear op's stored table against the one its qparams call for",
			  "rebuild the table from the node's qparams or run the op on CPU"},
			 luttable_graph, NULL, 0},
	[R_OUTPUT] = {{"output-precision", QDB_SEV_WARNING, 0,
		       "8-bit graph outputs; with a trace, rows whose top-2 margin is below 1 LSB",
		       "keep outputs in float or a wider integer"},
		      output_graph, output_layer, 1},
	[R_OBSERVER] = {{"qstate-observer", QDB_SEV_ERROR, 1,
			 "observers still enabled in a QAT trace's qstate",
			 "disable the observers before validation and export"},
			NULL, observer_layer, 0},
	[R_FAKEQUANT] = {{"qstate-fake-quant", QDB_SEV_ERROR, 1,
			  "fake quant disabled in the trace where the graph quantizes",
			  "enable fake quant for validation"},
			 NULL, fakequant_layer, 0},
	[R_QSCALE] = {{"qstate-scale", QDB_SEV_WARNING, 1,
		       "trace qstate scale/zero point vs the graph's qparams",
		       "export and trace from the same, frozen model state"},
		      NULL, qscale_layer, 0},
};

_Static_assert(R_COUNT <= 64, "rule selection is a 64-bit mask");

int qdb_advisor_n_rules(void)
{
	return R_COUNT;
}

const struct qdb_advisor_rule *qdb_advisor_rule(int i)
{
	return i >= 0 && i < R_COUNT ? &rules[i].pub : NULL;
}

int qdb_advisor_find_rule(const char *id)
{
	for (int i = 0; i < R_COUNT; i++)
		if (!strcmp(rules[i].pub.id, id))
			return i;
	return -1;
}

const char *qdb_severity_name(enum qdb_severity s)
{
	static const char *const names[] = {"info", "warning", "error"};
	return (unsigned)s < QDB_SEV_COUNT ? names[s] : "?";
}

void qdb_advisor_opts_init(struct qdb_advisor_opts *o)
{
	memset(o, 0, sizeof *o);
	o->range_ratio = 64;
	o->beyond_share = 1e-4;
	o->sat_share = 0.01;
	o->asym = 0.6;
	o->lut_jump = 4;
	o->margin_share = 0.01;
	o->scale_rtol = 0.01;
}

static int parse_ids(const char *list, uint64_t *mask, struct qdb_err *err)
{
	*mask = 0;
	char **v = qdb_split(list, ',');
	if (!v)
		return qdb_err_set(err, QDB_ENOMEM, "out of memory");
	int rc = QDB_OK;
	for (int i = 0; v[i]; i++) {
		if (!v[i][0])
			continue;
		int k = qdb_advisor_find_rule(v[i]);
		if (k < 0) {
			rc = qdb_err_set(err, QDB_EINVAL, "unknown rule '%s' (qdb check --rules lists them)",
					 v[i]);
			break;
		}
		*mask |= (uint64_t)1 << k;
	}
	qdb_strv_free(v);
	return rc;
}

int qdb_advisor_select(struct qdb_advisor_opts *o, const char *only, const char *skip,
		       struct qdb_err *err)
{
	uint64_t m;
	int rc;
	if (only) {
		if ((rc = parse_ids(only, &m, err)))
			return rc;
		o->skip |= ~m;
	}
	if (skip) {
		if ((rc = parse_ids(skip, &m, err)))
			return rc;
		o->skip |= m;
	}
	return QDB_OK;
}

void qdb_advice_init(struct qdb_advice *a)
{
	memset(a, 0, sizeof *a);
}

void qdb_advice_done(struct qdb_advice *a)
{
	for (int i = 0; i < a->n; i++) {
		qdb_free(a->findings[i].where);
		qdb_free(a->findings[i].evidence);
		qdb_free(a->findings[i].suggestion);
	}
	qdb_free(a->findings);
	qdb_advice_init(a);
}

int qdb_advice_count(const struct qdb_advice *a, enum qdb_severity sev)
{
	int n = 0;
	for (int s = sev; s < QDB_SEV_COUNT; s++)
		n += a->counts[s];
	return n;
}

static int run_rule(const struct ctx *c, int r)
{
	return !(c->o->skip >> r & 1);
}

/* Worst severity first, then rule order; insertion sort keeps graph/trace
 * order within a rule (stable) and the lists are short. */
static void sort_findings(struct qdb_advice *a)
{
	for (int i = 1; i < a->n; i++) {
		struct qdb_finding f = a->findings[i];
		int j = i;
		while (j > 0) {
			const struct qdb_finding *p = &a->findings[j - 1];
			if (p->severity > f.severity ||
			    (p->severity == f.severity && p->rule <= f.rule))
				break;
			a->findings[j] = *p;
			j--;
		}
		a->findings[j] = f;
	}
}

int qdb_advise(const struct qdb_graph *g, const struct qdb_trace *trace,
	       const struct qdb_advisor_opts *o, struct qdb_advice *out, struct qdb_err *err)
{
	struct qdb_advisor_opts defaults;
	if (!o) {
		qdb_advisor_opts_init(&defaults);
		o = &defaults;
	}
	struct ctx c = {.g = g, .t = trace, .o = o, .out = out, .err = err};
	int rc = QDB_OK;
	double *buf = NULL;
	struct layer L;
	memset(&L, 0, sizeof L);
	out->has_trace = trace != NULL;
	if (trace) {
		c.value_layer = qdb_alloc_array((size_t)(g->n_values ? g->n_values : 1),
						sizeof *c.value_layer);
		buf = qdb_alloc_array(CHUNK, sizeof *buf);
		L.res = qdb_alloc_array(RESERVOIR, sizeof *L.res);
		L.absres = qdb_alloc_array(RESERVOIR, sizeof *L.absres);
		if (!c.value_layer || !buf || !L.res || !L.absres) {
			rc = qdb_err_set(err, QDB_ENOMEM, "advisor: out of memory");
			goto done;
		}
		for (int v = 0; v < g->n_values; v++)
			c.value_layer[v] = -1;
		int nl = qdb_trace_n_layers(trace), ns = qdb_trace_n_samples(trace);
		for (int li = 0; li < nl; li++) {
			int v = -1, node = qdb_graph_find_node(g, qdb_trace_layer(trace, li)->name);
			if (node >= 0 && g->nodes[node].n_outputs > 0)
				v = g->nodes[node].outputs[0];
			else
				v = qdb_graph_find_value(g, qdb_trace_layer(trace, li)->name);
			if (v < 0 || c.value_layer[v] >= 0)
				continue;
			for (int s = 0; s < ns; s++)
				if (qdb_trace_has(trace, s, li)) {
					c.value_layer[v] = li;
					break;
				}
		}
	}

	for (int r = 0; r < R_COUNT && !rc; r++)
		if (run_rule(&c, r) && rules[r].graph)
			rc = rules[r].graph(&c, r);

	int nl = trace ? qdb_trace_n_layers(trace) : 0;
	for (int li = 0; li < nl && !rc; li++) {
		double *res = L.res, *absres = L.absres;
		memset(&L, 0, sizeof L);
		L.res = res;
		L.absres = absres;
		L.index = li;
		L.tl = qdb_trace_layer(trace, li);
		L.name = L.tl->name;
		L.node = qdb_graph_find_node(g, L.name);
		L.value = L.node >= 0 && g->nodes[L.node].n_outputs > 0 ? g->nodes[L.node].outputs[0]
									 : qdb_graph_find_value(g, L.name);
		if (L.value < 0) {
			L.node = -1;
			out->layers_unmatched++;
		} else {
			vq_of(g, L.value, &L.q);
			L.is_output = g->values[L.value].is_output;
		}
		int need_scan = 0;
		for (int r = 0; r < R_COUNT; r++)
			if (run_rule(&c, r) && rules[r].layer && rules[r].needs_records)
				need_scan = 1;
		if (need_scan) {
			for (int s = 0; s < qdb_trace_n_samples(trace) && !L.has_records; s++)
				L.has_records = qdb_trace_has(trace, s, li);
			if (L.has_records) {
				rc = scan_layer(&c, &L, buf);
				if (rc) {
					qdb_err_prefix(err, "%s: layer %s", qdb_trace_path(trace), L.name);
					break;
				}
				out->layers_scanned++;
			}
		}
		for (int r = 0; r < R_COUNT && !rc; r++) {
			if (!run_rule(&c, r) || !rules[r].layer)
				continue;
			if (rules[r].needs_records && (!L.has_records || L.samples == 0))
				continue;
			if (!rules[r].needs_records && L.value < 0)
				continue;
			if (r != R_NONFINITE && L.value < 0)
				continue;
			rc = rules[r].layer(&c, r, &L);
		}
		if (!rc && o->progress && o->progress(o->user, li + 1, nl))
			rc = qdb_err_set(err, QDB_ESTOPPED, "advisor: stopped");
	}
	if (!rc)
		sort_findings(out);
done:
	qdb_free(c.value_layer);
	qdb_free(buf);
	qdb_free(L.res);
	qdb_free(L.absres);
	return rc;
}
