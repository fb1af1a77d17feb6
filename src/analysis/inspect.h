/* inspect.h - looking inside one compared pair of tensors: the error in LSB
 * and a per-channel comparison.
 *
 * Both work on a reference a and a candidate b of equal element count,
 * dequantized element by element (unaligned views are fine). The error in
 * LSB of element i is (b - a) / scale of b's channel; when b has no quant
 * params, a's scale is used, and when neither has any the error is in the
 * tensor's own units (*in_lsb = 0). Nothing is kept between calls; the
 * channel array is allocated and the caller frees it with qdb_free.
 */
#ifndef QDB_INSPECT_H
#define QDB_INSPECT_H

#include <stdint.h>

#include "base/err.h"
#include "tensor/tensor.h"

/* Histogram of the signed error over a symmetric range [-r, r] (r = the
 * largest |error|, at least 1 LSB when in LSB) into nbins counters.
 * *range gets r, *in_lsb whether the unit is LSB. NaN/Inf pairs are
 * skipped and counted in *nonfinite (may be NULL). */
int qdb_inspect_error_hist(const struct qdb_tensor *a, const struct qdb_tensor *b,
			   int64_t *bins, int nbins, double *range, int *in_lsb,
			   int64_t *nonfinite, struct qdb_err *err);

/* Histograms of a and of b over one shared range [lo, hi] (values outside
 * land in the edge bins; NaN/Inf skipped), so the two distributions can be
 * compared bin by bin. Reads in chunks: no memory proportional to size. */
void qdb_inspect_hist_pair(const struct qdb_tensor *a, const struct qdb_tensor *b,
			   double lo, double hi, int64_t *bins_a, int64_t *bins_b, int nbins);

/* The channel axis used for per-channel views: b's quant axis, else a's,
 * else 1 for rank >= 2 (NCHW, [N, C]), else 0. */
int qdb_inspect_channel_axis(const struct qdb_tensor *a, const struct qdb_tensor *b);

struct qdb_channel_cmp {
	int64_t channel;
	int64_t count;           /* finite pairs in the channel */
	double cosine;           /* 1 if both all-zero, 0 if only one is */
	double max_abs;
	double max_steps;        /* max |a-b| in LSB of b (NAN when unquantized) */
	double mismatch;         /* share with |a-b| > 1 LSB (or > atol) */
	double mean_a, mean_b;
	int64_t nonfinite;       /* NaN/Inf pairs (skipped) */
};

/* One entry per index along `axis` (use qdb_inspect_channel_axis),
 * sorted worst-first: lowest cosine, then largest max_abs. *out is a new
 * array of *n entries (qdb_free). */
int qdb_inspect_channels(const struct qdb_tensor *a, const struct qdb_tensor *b,
			 int axis, double atol, struct qdb_channel_cmp **out,
			 int64_t *n, struct qdb_err *err);

#endif
