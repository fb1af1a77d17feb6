/* stats.c - per-tensor statistics and histograms. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_statistics_double.h>

#include "base/alloc.h"
#include "tensor/stats.h"

void qdb_histogram(const double *v, int64_t n, double lo, double hi, int64_t *bins, int nbins)
{
	if (nbins <= 0)
		return;
	memset(bins, 0, (size_t)nbins * sizeof *bins);
	/* A degenerate or non-finite range puts everything in bin 0. */
	int flat = !(hi > lo) || !isfinite(lo) || !isfinite(hi);
	double k = flat ? 0 : nbins / (hi - lo);
	for (int64_t i = 0; i < n; i++) {
		double x = v[i];
		if (isnan(x))
			continue;
		int b;
		if (flat || x <= lo)
			b = 0;
		else if (x >= hi)
			b = nbins - 1;
		else {
			double f = (x - lo) * k;
			b = f >= nbins ? nbins - 1 : (int)f;
		}
		bins[b]++;
	}
}

/* GSL's linear-interpolation quantile (gsl_stats_quantile_from_sorted_data)
 * computed with two selections instead of a full sort. */
static double quantile(double *v, size_t n, double f)
{
	double index = f * (double)(n - 1);
	size_t lhs = (size_t)index;
	double delta = index - (double)lhs;
	double lo = gsl_stats_select(v, 1, n, lhs);
	if (lhs + 1 >= n || delta == 0)
		return lo;
	double hi = gsl_stats_select(v, 1, n, lhs + 1);
	return (1 - delta) * lo + delta * hi;
}

int qdb_tensor_stats(const struct qdb_tensor *t, struct qdb_stats *s, struct qdb_err *err)
{
	memset(s, 0, sizeof *s);
	int64_t n = qdb_tensor_numel(t);
	size_t sz = qdb_dtype_size(t->dtype);
	if (n < 0 || !sz || t->nbytes / sz < (uint64_t)n)
		return qdb_err_set(err, QDB_EINVAL, "stats: tensor data does not match its shape");
	int rc = qdb_quant_validate(&t->q, t->dtype, t->rank, t->shape, "stats", err);
	if (rc)
		return rc;
	double *v = qdb_alloc_array((size_t)(n ? n : 1), sizeof *v);
	if (!v)
		return qdb_err_set(err, QDB_ENOMEM, "stats: out of memory for %lld values",
				   (long long)n);
	qdb_tensor_to_f64(t, v);

	/* Compact the finite values to the front; count the others. */
	int64_t m = 0, zeros = 0;
	double sum = 0, asum = 0, mn = INFINITY, mx = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		double x = v[i];
		if (isnan(x)) {
			s->nan++;
			continue;
		}
		if (isinf(x)) {
			s->inf++;
			continue;
		}
		v[m++] = x;
		sum += x;
		asum += fabs(x);
		zeros += x == 0;
		mn = x < mn ? x : mn;
		mx = x > mx ? x : mx;
	}
	s->count = n;
	s->finite = m;
	if (qdb_dtype_is_int(t->dtype) && n > 0)
		s->sat_frac = (double)qdb_tensor_count_saturated(t, 0, n) / (double)n;
	if (m == 0) {
		s->min = s->max = s->mean = s->std = s->absmean = NAN;
		s->p01 = s->p50 = s->p99 = NAN;
		s->hist_lo = s->hist_hi = NAN;
		qdb_free(v);
		return QDB_OK;
	}
	s->min = mn;
	s->max = mx;
	s->mean = sum / (double)m;
	s->absmean = asum / (double)m;
	s->zero_frac = (double)zeros / (double)m;
	/* Second pass for the (population) variance: stable where sum of squares is not. */
	double ss = 0;
	for (int64_t i = 0; i < m; i++) {
		double d = v[i] - s->mean;
		ss += d * d;
	}
	s->std = sqrt(ss / (double)m);
	s->hist_lo = mn;
	s->hist_hi = mx;
	qdb_histogram(v, m, mn, mx, s->hist, QDB_HIST_BINS);
	s->p01 = quantile(v, (size_t)m, 0.01);
	s->p50 = quantile(v, (size_t)m, 0.50);
	s->p99 = quantile(v, (size_t)m, 0.99);
	qdb_free(v);
	return QDB_OK;
}
