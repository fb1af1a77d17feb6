/* bootstrap.h - percentile bootstrap confidence intervals (accuracy and
 * accuracy differences over a dataset).
 *
 * Resampling uses GSL's MT19937 generator seeded by the caller, so a CI is
 * reproducible run to run: the same data and seed give the same interval.
 * For per-sample outcomes x[i] (1 = correct, 0 = wrong, or any score) the
 * statistic is the mean; the paired form resamples the same indices of a
 * and b, so the interval of mean(a) - mean(b) accounts for the two being
 * measured on the same samples. Nothing is kept: the replicates live in a
 * temporary buffer freed before returning.
 */
#ifndef QDB_BOOTSTRAP_H
#define QDB_BOOTSTRAP_H

#include <stdint.h>

#include "base/err.h"

struct qdb_ci {
	double estimate;   /* the statistic on the data itself */
	double lo, hi;     /* percentile interval at `level` */
	double se;         /* standard deviation of the replicates */
	int reps;
	double level;
	int64_t n;
};

/* reps >= 10, 0 < level < 1, n >= 1 (and n < 2^32). b may be NULL (plain
 * mean of a); otherwise the statistic is mean(a) - mean(b). */
int qdb_bootstrap_mean(const double *a, const double *b, int64_t n, int reps, double level,
		       uint64_t seed, struct qdb_ci *out, struct qdb_err *err);

#endif
