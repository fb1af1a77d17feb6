/* stats.h - per-tensor statistics (DESIGN.md section 4).
 *
 * Computed on dequantized values with double accumulation. NaN and Inf are
 * counted and excluded from every other figure (never folded in silently).
 * Percentiles use GSL's linear-interpolation quantiles over the finite values
 * (found by selection, not sorting). std is the population deviation (/n).
 * With no finite values, min..p99 and the histogram range are NaN.
 * struct qdb_stats is plain data: no allocation, nothing to free.
 */
#ifndef QDB_STATS_H
#define QDB_STATS_H

#include <stdint.h>

#include "tensor/tensor.h"

#define QDB_HIST_BINS 32

struct qdb_stats {
	int64_t count;     /* all elements */
	int64_t finite;    /* elements that entered min..hist */
	int64_t nan, inf;
	double min, max, mean, std, absmean;
	double p01, p50, p99;
	double zero_frac;  /* share of finite elements == 0 */
	double sat_frac;   /* share of integer elements at qmin or qmax (0 for floats) */
	double hist_lo, hist_hi;          /* histogram range = [min, max] */
	int64_t hist[QDB_HIST_BINS];      /* counts of finite values */
};

/* Fills s for tensor t. Needs temporary memory for percentiles (numel
 * doubles); QDB_ENOMEM if it cannot get it. */
int qdb_tensor_stats(const struct qdb_tensor *t, struct qdb_stats *s,
		     struct qdb_err *err);

/* Histogram of arbitrary doubles (e.g. error in LSB) over [lo, hi] into
 * nbins counters (zeroed first); values outside are clamped to the edge
 * bins; NaN skipped. Equal-width bins, the last one closed; when the range
 * is empty or not finite, every value lands in bin 0. */
void qdb_histogram(const double *v, int64_t n, double lo, double hi,
		   int64_t *bins, int nbins);

#endif
