/* bootstrap.c - percentile bootstrap of a mean or a paired mean difference. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "analysis/bootstrap.h"
#include "base/alloc.h"

int qdb_bootstrap_mean(const double *a, const double *b, int64_t n, int reps, double level,
		       uint64_t seed, struct qdb_ci *out, struct qdb_err *err)
{
	memset(out, 0, sizeof *out);
	if (n < 1 || n > (int64_t)UINT32_MAX)
		return qdb_err_set(err, QDB_EINVAL, "bootstrap: need 1..2^32-1 samples, not %lld",
				   (long long)n);
	if (reps < 10 || reps > 10000000)
		return qdb_err_set(err, QDB_EINVAL, "bootstrap: replicates must be 10..1e7, not %d",
				   reps);
	if (!(level > 0 && level < 1))
		return qdb_err_set(err, QDB_EINVAL, "bootstrap: level must be in (0, 1), not %g",
				   level);
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += a[i] - (b ? b[i] : 0);
	double *rep = qdb_alloc_array((size_t)reps, sizeof *rep);
	/* The generator state is GSL's own allocation; with the fault injection
	 * of qdb_malloc it cannot fail on purpose, but it can for real. */
	gsl_rng *r = rep ? gsl_rng_alloc(gsl_rng_mt19937) : NULL;
	if (!r) {
		qdb_free(rep);
		return qdb_err_set(err, QDB_ENOMEM, "bootstrap: out of memory");
	}
	/* MT19937 takes an unsigned long seed; fold the high half in so seeds
	 * differing only there still differ. */
	gsl_rng_set(r, (unsigned long)(seed ^ (seed >> 32)));
	for (int k = 0; k < reps; k++) {
		double s = 0;
		for (int64_t i = 0; i < n; i++) {
			unsigned long j = gsl_rng_uniform_int(r, (unsigned long)n);
			s += a[j] - (b ? b[j] : 0);
		}
		rep[k] = s / (double)n;
	}
	gsl_rng_free(r);
	gsl_sort(rep, 1, (size_t)reps);
	double tail = (1 - level) / 2;
	out->estimate = sum / (double)n;
	out->lo = gsl_stats_quantile_from_sorted_data(rep, 1, (size_t)reps, tail);
	out->hi = gsl_stats_quantile_from_sorted_data(rep, 1, (size_t)reps, 1 - tail);
	out->se = reps > 1 ? gsl_stats_sd(rep, 1, (size_t)reps) : 0;
	out->reps = reps;
	out->level = level;
	out->n = n;
	qdb_free(rep);
	return QDB_OK;
}
