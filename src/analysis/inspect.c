/* inspect.c - error in LSB and per-channel comparison of one tensor pair. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "analysis/inspect.h"
#include "base/alloc.h"

static const struct qdb_tensor *lsb_source(const struct qdb_tensor *a,
					   const struct qdb_tensor *b)
{
	if (b->q.n > 0)
		return b;
	if (a->q.n > 0)
		return a;
	return NULL;
}

static double lsb_of(const struct qdb_tensor *t, int64_t i)
{
	if (t->q.n == 1)
		return t->q.scale[0];
	return t->q.scale[qdb_tensor_channel_of(t, i)];
}

int qdb_inspect_error_hist(const struct qdb_tensor *a, const struct qdb_tensor *b,
			   int64_t *bins, int nbins, double *range, int *in_lsb,
			   int64_t *nonfinite, struct qdb_err *err)
{
	int64_t n = qdb_tensor_numel(a), bad = 0;
	const struct qdb_tensor *q = lsb_source(a, b);

	if (n < 0 || n != qdb_tensor_numel(b))
		return qdb_err_set(err, QDB_ESHAPE, "error histogram: element counts differ");
	if (nbins <= 0)
		return qdb_err_set(err, QDB_EINVAL, "error histogram: no bins");
	for (int i = 0; i < nbins; i++)
		bins[i] = 0;
	/* Two passes over the data: the range first, so no buffer of n
	 * doubles is needed for a large tensor. */
	double r = 0;
	for (int64_t i = 0; i < n; i++) {
		double x = qdb_tensor_get_real(a, i), y = qdb_tensor_get_real(b, i);
		if (!isfinite(x) || !isfinite(y)) {
			bad++;
			continue;
		}
		double e = fabs(y - x);
		if (q)
			e /= lsb_of(q, i);
		if (e > r)
			r = e;
	}
	if (q && r < 1)
		r = 1;
	if (r == 0)
		r = 1e-30;
	for (int64_t i = 0; i < n; i++) {
		double x = qdb_tensor_get_real(a, i), y = qdb_tensor_get_real(b, i);
		if (!isfinite(x) || !isfinite(y))
			continue;
		double e = y - x;
		if (q)
			e /= lsb_of(q, i);
		int k = (int)floor((e + r) / (2 * r) * nbins);
		if (k < 0)
			k = 0;
		if (k >= nbins)
			k = nbins - 1;
		bins[k]++;
	}
	*range = r;
	*in_lsb = q != NULL;
	if (nonfinite)
		*nonfinite = bad;
	return QDB_OK;
}

static void hist_one(const struct qdb_tensor *t, double lo, double hi, int64_t *bins,
		     int nbins)
{
	double buf[1024];
	int64_t n = qdb_tensor_numel(t);
	double w = hi > lo ? (hi - lo) / nbins : 0;

	for (int i = 0; i < nbins; i++)
		bins[i] = 0;
	for (int64_t i0 = 0; i0 < n; i0 += 1024) {
		int64_t k = n - i0 < 1024 ? n - i0 : 1024;
		qdb_tensor_load_real(t, i0, k, buf);
		for (int64_t j = 0; j < k; j++) {
			double v = buf[j];
			if (!isfinite(v))
				continue;
			int b = w > 0 ? (int)floor((v - lo) / w) : 0;
			if (b < 0)
				b = 0;
			if (b >= nbins)
				b = nbins - 1;
			bins[b]++;
		}
	}
}

void qdb_inspect_hist_pair(const struct qdb_tensor *a, const struct qdb_tensor *b,
			   double lo, double hi, int64_t *bins_a, int64_t *bins_b, int nbins)
{
	if (nbins <= 0)
		return;
	if (!isfinite(lo) || !isfinite(hi) || hi < lo)
		lo = hi = 0;
	hist_one(a, lo, hi, bins_a, nbins);
	hist_one(b, lo, hi, bins_b, nbins);
}

int qdb_inspect_channel_axis(const struct qdb_tensor *a, const struct qdb_tensor *b)
{
	if (b->q.n > 1 && b->q.axis >= 0)
		return b->q.axis;
	if (a->q.n > 1 && a->q.axis >= 0)
		return a->q.axis;
	return a->rank >= 2 ? 1 : 0;
}

struct chan_acc {
	double ab, aa, bb, sa, sb, max_abs, max_steps;
	int64_t count, over, bad;
};

static int worst_first(const void *x, const void *y)
{
	const struct qdb_channel_cmp *p = x, *q = y;
	/* NaN cosines (cannot happen for finite sums, but be safe) sort first. */
	if (isnan(p->cosine) != isnan(q->cosine))
		return isnan(p->cosine) ? -1 : 1;
	if (p->cosine != q->cosine)
		return p->cosine < q->cosine ? -1 : 1;
	if (p->max_abs != q->max_abs)
		return p->max_abs > q->max_abs ? -1 : 1;
	return p->channel < q->channel ? -1 : p->channel > q->channel;
}

int qdb_inspect_channels(const struct qdb_tensor *a, const struct qdb_tensor *b,
			 int axis, double atol, struct qdb_channel_cmp **out,
			 int64_t *n_out, struct qdb_err *err)
{
	int64_t n = qdb_tensor_numel(a);

	*out = NULL;
	*n_out = 0;
	if (n < 0 || n != qdb_tensor_numel(b))
		return qdb_err_set(err, QDB_ESHAPE, "channels: element counts differ");
	/* Channels follow a's layout; b must share it. */
	if (!qdb_shape_equal(a, b))
		return qdb_err_set(err, QDB_ESHAPE, "channels: shapes differ");
	int64_t nch = 1, inner = 1;
	if (a->rank > 0) {
		if (axis < 0 || axis >= a->rank)
			return qdb_err_set(err, QDB_EINVAL, "channels: axis %d out of range", axis);
		nch = a->shape[axis];
		for (int d = axis + 1; d < a->rank; d++)
			inner *= a->shape[d];
	}
	if (nch <= 0)
		return QDB_OK;
	struct chan_acc *acc = qdb_calloc((size_t)nch, sizeof *acc);
	struct qdb_channel_cmp *res = qdb_alloc_array((size_t)nch, sizeof *res);
	if (!acc || !res) {
		qdb_free(acc);
		qdb_free(res);
		return qdb_err_set(err, QDB_ENOMEM, "channels: out of memory");
	}
	int bq = b->q.n > 0;
	for (int64_t i = 0; i < n; i++) {
		int64_t c = inner > 0 ? (i / inner) % nch : 0;
		struct chan_acc *k = &acc[c];
		double x = qdb_tensor_get_real(a, i), y = qdb_tensor_get_real(b, i);
		if (!isfinite(x) || !isfinite(y)) {
			k->bad++;
			continue;
		}
		double d = fabs(x - y);
		k->count++;
		k->ab += x * y;
		k->aa += x * x;
		k->bb += y * y;
		k->sa += x;
		k->sb += y;
		if (d > k->max_abs)
			k->max_abs = d;
		double lim = atol;
		if (bq) {
			double s = lsb_of(b, i);
			if (d / s > k->max_steps)
				k->max_steps = d / s;
			lim = s;
		}
		if (d > lim)
			k->over++;
	}
	for (int64_t c = 0; c < nch; c++) {
		struct chan_acc *k = &acc[c];
		struct qdb_channel_cmp *r = &res[c];
		r->channel = c;
		r->count = k->count;
		r->nonfinite = k->bad;
		if (k->aa == 0 && k->bb == 0)
			r->cosine = 1;
		else if (k->aa == 0 || k->bb == 0)
			r->cosine = 0;
		else
			r->cosine = k->ab / (sqrt(k->aa) * sqrt(k->bb));
		r->max_abs = k->max_abs;
		r->max_steps = bq ? k->max_steps : NAN;
		r->mismatch = k->count ? (double)k->over / (double)k->count : 0;
		r->mean_a = k->count ? k->sa / (double)k->count : 0;
		r->mean_b = k->count ? k->sb / (double)k->count : 0;
	}
	qdb_free(acc);
	qsort(res, (size_t)nch, sizeof *res, worst_first);
	*out = res;
	*n_out = nch;
	return QDB_OK;
}
