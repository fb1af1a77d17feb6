/* metrics.c - comparison metrics in one pass (the hot path of `qdb compare`).
 *
 * The data is walked once in blocks of BLK elements: each block of a and b is
 * dequantized into a double buffer by a loop specialised for its dtype and
 * quantization (qdb_tensor_load_real), then one branch-free kernel
 * accumulates every sum of the block. The buffers stay in L1, so the input
 * is read from memory exactly once. The kernel assumes finite values and
 * also sums d*0, which is NaN iff some difference is not finite; such a
 * block is redone by a careful per-element path that counts NaN/Inf and
 * skips those pairs. Block sums are added to the totals only when the block
 * is clean, and summing per block also keeps the double sums accurate.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/metrics.h"

enum { BLK = 1024 };

/* Slack for the mismatch test against 1 LSB: the dequantized difference
 * carries double rounding of at most 2^-53 (|a| + |b| + |d|), so a pair that
 * is exactly one step apart must not count as "more than one step". */
#define LSB_SLACK 0x1p-50

struct part {
	double saa, sbb, sab, sdd, sad, dmax, smax, mism, chk;
};

/* The kernel works on 2 x 2 lanes with GCC/clang vector extensions (native
 * SSE2 width on x86-64, NEON on arm64): explicit lanes give independent
 * accumulators without -ffast-math, and lanes are combined in a fixed order,
 * so results do not depend on the compiler's choices. */
typedef double v2d __attribute__((vector_size(16)));
typedef long long v2i __attribute__((vector_size(16)));

#define VABS(x) ((v2d)((v2i)(x) & absmask))
#define VMAX(x, y) ((v2d)(((v2i)(x) & ((x) > (y))) | ((v2i)(y) & ~((x) > (y)))))

/* thr1/thr: the mismatch threshold (1 LSB of b, or atol) for the whole block
 * or per element (per-channel b; then smax = max |d| / LSB is kept too);
 * slack is LSB_SLACK when thresholds are LSBs. */
static inline void kern(const double *restrict xa, const double *restrict xb,
			const double *restrict thr, double thr1, int64_t n, double slack,
			struct part *p)
{
	const v2i absmask = {INT64_MAX, INT64_MAX};
	const v2d zero = {0, 0};
	v2d saa[2] = {zero, zero}, sbb[2] = {zero, zero}, sab[2] = {zero, zero};
	v2d sdd[2] = {zero, zero}, sad[2] = {zero, zero}, dmax[2] = {zero, zero};
	v2d smax[2] = {zero, zero}, chk[2] = {zero, zero};
	v2i mism[2] = {{0, 0}, {0, 0}};
	const v2d vs = {slack, slack};
	v2d vt = {thr1, thr1};
	int64_t i = 0;
	for (; i + 4 <= n; i += 4) {
		for (int k = 0; k < 2; k++) {
			v2d a, b;
			memcpy(&a, xa + i + 2 * k, sizeof a);
			memcpy(&b, xb + i + 2 * k, sizeof b);
			if (thr)
				memcpy(&vt, thr + i + 2 * k, sizeof vt);
			v2d d = a - b, ad = VABS(d);
			saa[k] += a * a;
			sbb[k] += b * b;
			sab[k] += a * b;
			sdd[k] += d * d;
			sad[k] += ad;
			chk[k] += d * zero;
			dmax[k] = VMAX(ad, dmax[k]);
			mism[k] -= (ad - vt) > vs * (VABS(a) + VABS(b) + ad);
			if (thr) {
				v2d st = ad / vt;
				smax[k] = VMAX(st, smax[k]);
			}
		}
	}
#define HSUM(v) (((v)[0][0] + (v)[1][0]) + ((v)[0][1] + (v)[1][1]))
	v2d dm = VMAX(dmax[0], dmax[1]), sm = VMAX(smax[0], smax[1]);
	struct part r = {HSUM(saa), HSUM(sbb), HSUM(sab), HSUM(sdd), HSUM(sad),
			 dm[0] > dm[1] ? dm[0] : dm[1], sm[0] > sm[1] ? sm[0] : sm[1],
			 (double)(mism[0][0] + mism[0][1] + mism[1][0] + mism[1][1]), HSUM(chk)};
#undef HSUM
	for (; i < n; i++) {
		double a = xa[i], b = xb[i], d = a - b, ad = fabs(d), t = thr ? thr[i] : thr1;
		r.saa += a * a;
		r.sbb += b * b;
		r.sab += a * b;
		r.sdd += d * d;
		r.sad += ad;
		r.chk += d * 0.0;
		r.dmax = ad > r.dmax ? ad : r.dmax;
		r.mism += (ad - t) > slack * (fabs(a) + fabs(b) + ad);
		if (thr && ad / t > r.smax)
			r.smax = ad / t;
	}
	*p = r;
}

static void kern_scalar(const double *xa, const double *xb, int64_t n, double thr1,
			double slack, struct part *p)
{
	kern(xa, xb, NULL, thr1, n, slack, p);
}

static void kern_vector(const double *xa, const double *xb, const double *thr, int64_t n,
			double slack, struct part *p)
{
	kern(xa, xb, thr, 0, n, slack, p);
}

struct acc {
	double saa, sbb, sab, sdd, sad, dmax, smax;
	int64_t mism, count, worst, nfdiff;
	int64_t nan_a, inf_a, nan_b, inf_b;
};

static void add_part(struct acc *s, const struct part *p, int64_t n)
{
	s->saa += p->saa;
	s->sbb += p->sbb;
	s->sab += p->sab;
	s->sdd += p->sdd;
	s->sad += p->sad;
	s->smax = p->smax > s->smax ? p->smax : s->smax;
	s->mism += (int64_t)p->mism;
	s->count += n;
}

static int same_nonfinite(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return a == b; /* both infinite */
}

/* The careful path for a block holding a non-finite value (or an overflowing
 * difference): per element, counting and skipping NaN/Inf. */
static void block_slow(const double *xa, const double *xb, const double *thr, double thr1,
		       int64_t n, int64_t i0, double slack, struct acc *s)
{
	for (int64_t i = 0; i < n; i++) {
		double a = xa[i], b = xb[i];
		int fa = isfinite(a), fb = isfinite(b);
		s->nan_a += isnan(a);
		s->inf_a += isinf(a) != 0;
		s->nan_b += isnan(b);
		s->inf_b += isinf(b) != 0;
		if (!fa || !fb) {
			s->nfdiff += !same_nonfinite(a, b);
			continue;
		}
		double d = a - b, ad = fabs(d), t = thr ? thr[i] : thr1;
		s->saa += a * a;
		s->sbb += b * b;
		s->sab += a * b;
		s->sdd += d * d;
		s->sad += ad;
		s->count++;
		if (ad > s->dmax || s->worst < 0) {
			s->dmax = ad;
			s->worst = i0 + i;
		}
		if (thr) {
			double st = ad / t;
			s->smax = st > s->smax ? st : s->smax;
		}
		s->mism += (ad - t) > slack * (fabs(a) + fabs(b) + ad);
	}
}

/* First index of the block where |a-b| equals its block maximum. */
static int64_t find_max(const double *xa, const double *xb, int64_t n, double dmax)
{
	for (int64_t i = 0; i < n; i++)
		if (fabs(xa[i] - xb[i]) == dmax)
			return i;
	return 0;
}

/* Per-element LSB of b for a per-channel b (runs of `inner` share a channel). */
static void fill_lsb(const struct qdb_tensor *b, int64_t inner, int64_t dim, int64_t i0,
		     int64_t n, double *thr)
{
	int64_t c = (i0 / inner) % dim, r = i0 % inner, off = 0;
	while (off < n) {
		int64_t len = inner - r;
		if (len > n - off)
			len = n - off;
		double s = b->q.scale[c];
		for (int64_t j = 0; j < len; j++)
			thr[off + j] = s;
		off += len;
		r = 0;
		if (++c == dim)
			c = 0;
	}
}

/* Running argmax over rows of the last axis, across blocks. */
struct top1 {
	int64_t row_len, pos;
	int64_t ia, ib;
	double ba, bb;
	int agree;
};

static void top1_block(struct top1 *t, const double *xa, const double *xb, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		double a = xa[i], b = xb[i];
		if ((t->ia < 0 && a == a) || a > t->ba) {
			t->ba = a;
			t->ia = t->pos;
		}
		if ((t->ib < 0 && b == b) || b > t->bb) {
			t->bb = b;
			t->ib = t->pos;
		}
		if (++t->pos == t->row_len) {
			t->agree &= t->ia == t->ib;
			t->pos = 0;
			t->ia = t->ib = -1;
			t->ba = t->bb = NAN;
		}
	}
}

static int tensor_ok(const struct qdb_tensor *t, const char *what, int64_t *numel,
		     struct qdb_err *err)
{
	int64_t n = qdb_tensor_numel(t);
	size_t sz = qdb_dtype_size(t->dtype);
	if (n < 0 || !sz || t->nbytes / sz < (uint64_t)n || (n && !t->data))
		return qdb_err_set(err, QDB_EINVAL, "metrics: %s: data does not match its shape",
				   what);
	*numel = n;
	return qdb_quant_validate(&t->q, t->dtype, t->rank, t->shape, what, err);
}

int qdb_metrics_compute(const struct qdb_tensor *a, const struct qdb_tensor *b, double atol,
			int want_top1, struct qdb_metrics *m, struct qdb_err *err)
{
	int64_t n, nb;
	int rc;
	memset(m, 0, sizeof *m);
	m->top1 = -1;
	m->argmax_worst = -1;
	if ((rc = tensor_ok(a, "reference", &n, err)) || (rc = tensor_ok(b, "candidate", &nb, err)))
		return rc;
	if (n != nb) {
		char sa[96], sb[96];
		return qdb_err_set(err, QDB_ESHAPE, "metrics: shapes %s and %s differ",
				   qdb_shape_str(sa, sizeof sa, a->rank, a->shape),
				   qdb_shape_str(sb, sizeof sb, b->rank, b->shape));
	}
	if (!(atol >= 0))
		return qdb_err_set(err, QDB_EINVAL, "metrics: tolerance %g is not >= 0", atol);

	int b_quant = b->q.n > 0;
	int64_t inner = 1, dim = 1;
	int per_channel = b_quant && qdb_tensor_channel_layout(b, &inner, &dim);
	double thr1 = b_quant ? b->q.scale[0] : atol;
	double slack = b_quant ? LSB_SLACK : 0;

	struct top1 tp = {0};
	int do_top1 = want_top1 && n > 0;
	if (do_top1) {
		int64_t la = a->rank ? a->shape[a->rank - 1] : 1;
		int64_t lb = b->rank ? b->shape[b->rank - 1] : 1;
		do_top1 = la == lb && la > 0;
		tp = (struct top1){la, 0, -1, -1, NAN, NAN, 1};
	}

	struct acc s = {0};
	s.worst = -1;
	s.dmax = 0;
	double xa[BLK], xb[BLK], thr[BLK];
	int ia = qdb_dtype_is_int(a->dtype), ib = qdb_dtype_is_int(b->dtype);
	int64_t sat_a = 0, sat_b = 0;
	for (int64_t i0 = 0; i0 < n; i0 += BLK) {
		int64_t len = n - i0 < BLK ? n - i0 : BLK;
		qdb_tensor_load_real(a, i0, len, xa);
		qdb_tensor_load_real(b, i0, len, xb);
		if (ia)
			sat_a += qdb_tensor_count_saturated(a, i0, len);
		if (ib)
			sat_b += qdb_tensor_count_saturated(b, i0, len);
		struct part p;
		if (per_channel) {
			fill_lsb(b, inner, dim, i0, len, thr);
			kern_vector(xa, xb, thr, len, slack, &p);
		} else {
			kern_scalar(xa, xb, len, thr1, slack, &p);
		}
		if (p.chk == 0) {
			if (p.dmax > s.dmax || s.worst < 0) {
				s.dmax = p.dmax;
				s.worst = i0 + find_max(xa, xb, len, p.dmax);
			}
			add_part(&s, &p, len);
		} else {
			block_slow(xa, xb, per_channel ? thr : NULL, thr1, len, i0, slack, &s);
		}
		if (do_top1)
			top1_block(&tp, xa, xb, len);
	}

	m->count = s.count;
	m->nan_a = s.nan_a;
	m->inf_a = s.inf_a;
	m->nan_b = s.nan_b;
	m->inf_b = s.inf_b;
	m->nonfinite_diff = s.nfdiff;
	m->b_quantized = b_quant;
	if (s.saa == 0 && s.sbb == 0)
		m->cosine = 1;
	else if (s.saa == 0 || s.sbb == 0)
		m->cosine = 0;
	else {
		double c = s.sab / (sqrt(s.saa) * sqrt(s.sbb));
		m->cosine = c > 1 ? 1 : c < -1 ? -1 : c;
	}
	double cnt = s.count ? (double)s.count : 1;
	m->max_abs = s.dmax;
	m->mean_abs = s.sad / cnt;
	m->mse = s.sdd / cnt;
	m->sqnr_db = s.sdd == 0 ? INFINITY : 10 * log10(s.saa / s.sdd);
	m->rel_l2 = s.saa == 0 ? (s.sdd == 0 ? 0 : INFINITY) : sqrt(s.sdd) / sqrt(s.saa);
	if (!b_quant)
		m->max_steps = NAN;
	else if (per_channel)
		m->max_steps = s.smax;
	else
		m->max_steps = s.dmax / thr1;
	m->mismatch = (double)s.mism / cnt;
	m->sat_a = ia && n ? (double)sat_a / (double)n : 0;
	m->sat_b = ib && n ? (double)sat_b / (double)n : 0;
	m->argmax_worst = s.worst;
	if (do_top1)
		m->top1 = tp.agree;
	return QDB_OK;
}

/* ---- names and thresholds ---- */

static const char *const metric_names[] = {
	[QDB_M_COSINE] = "cosine",
	[QDB_M_MAX_ABS] = "max_abs",
	[QDB_M_MEAN_ABS] = "mean_abs",
	[QDB_M_MSE] = "mse",
	[QDB_M_SQNR_DB] = "sqnr_db",
	[QDB_M_REL_L2] = "rel_l2",
	[QDB_M_MAX_STEPS] = "max_steps",
	[QDB_M_MISMATCH] = "mismatch",
	[QDB_M_TOP1] = "top1",
};
_Static_assert(sizeof metric_names / sizeof metric_names[0] == QDB_M_COUNT,
	       "metric_names must name every metric");

const char *qdb_metric_name(enum qdb_metric_id id)
{
	return (unsigned)id < QDB_M_COUNT ? metric_names[id] : NULL;
}

int qdb_metric_parse(const char *name, enum qdb_metric_id *out)
{
	for (int i = 0; i < QDB_M_COUNT; i++) {
		if (strcmp(name, metric_names[i]) == 0) {
			*out = (enum qdb_metric_id)i;
			return 0;
		}
	}
	return -1;
}

double qdb_metric_value(const struct qdb_metrics *m, enum qdb_metric_id id)
{
	switch (id) {
	case QDB_M_COSINE: return m->cosine;
	case QDB_M_MAX_ABS: return m->max_abs;
	case QDB_M_MEAN_ABS: return m->mean_abs;
	case QDB_M_MSE: return m->mse;
	case QDB_M_SQNR_DB: return m->sqnr_db;
	case QDB_M_REL_L2: return m->rel_l2;
	case QDB_M_MAX_STEPS: return m->max_steps;
	case QDB_M_MISMATCH: return m->mismatch;
	case QDB_M_TOP1: return m->top1 < 0 ? NAN : m->top1;
	default: return NAN;
	}
}

int qdb_metric_higher_is_better(enum qdb_metric_id id)
{
	return id == QDB_M_COSINE || id == QDB_M_SQNR_DB || id == QDB_M_TOP1;
}

int qdb_threshold_parse(const char *s, struct qdb_threshold *t, struct qdb_err *err)
{
	const char *op = strpbrk(s, "<>");
	if (!op)
		return qdb_err_set(err, QDB_EINVAL,
				   "threshold '%s': expected METRIC<VALUE or METRIC>VALUE", s);
	const char *b = s, *e = op;
	while (*b == ' ' || *b == '\t')
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	char name[32];
	size_t len = (size_t)(e - b);
	if (len == 0 || len >= sizeof name)
		return qdb_err_set(err, QDB_EINVAL, "threshold '%s': missing metric name", s);
	memcpy(name, b, len);
	name[len] = '\0';
	enum qdb_metric_id id;
	if (qdb_metric_parse(name, &id))
		return qdb_err_set(err, QDB_EINVAL,
				   "threshold '%s': unknown metric '%s' (cosine, max_abs, mean_abs, "
				   "mse, sqnr_db, rel_l2, max_steps, mismatch, top1)",
				   s, name);
	const char *v = op + 1;
	if (*v == '=')
		return qdb_err_set(err, QDB_EINVAL, "threshold '%s': use '<' or '>' (not '%c=')", s,
				   *op);
	while (*v == ' ' || *v == '\t')
		v++;
	char *end;
	double x = strtod(v, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == v || *end || isnan(x))
		return qdb_err_set(err, QDB_EINVAL, "threshold '%s': bad number '%s'", s, v);
	t->metric = id;
	t->less = *op == '<';
	t->value = x;
	return QDB_OK;
}

int qdb_threshold_crossed(const struct qdb_threshold *t, const struct qdb_metrics *m)
{
	/* Not applicable is not divergent: top1 not computed, LSB of float b. */
	if ((t->metric == QDB_M_TOP1 && m->top1 < 0) ||
	    (t->metric == QDB_M_MAX_STEPS && !m->b_quantized))
		return 0;
	if (m->nonfinite_diff > 0)
		return 1;
	double v = qdb_metric_value(m, t->metric);
	if (isnan(v))
		return 1;
	return t->less ? v < t->value : v > t->value;
}
