/* metrics.h - comparison metrics between a reference a and a candidate b
 * (DESIGN.md section 4): both dequantized, double accumulation.
 *
 * Plain data, nothing allocated. NaN/Inf in either tensor are counted in
 * nan_a/inf_a/nan_b/inf_b and those element pairs are skipped by every
 * metric (flagged, never folded silently); pairs where a and b disagree on
 * it (finite vs not, NaN vs Inf, +Inf vs -Inf) are counted in nonfinite_diff
 * and make every threshold cross. Metrics are computed in one pass over the
 * data; they read unaligned views safely.
 *
 * LSB: when b has quant params (an integer tensor, or a fake-quantized float
 * tensor carrying its step), 1 LSB is b's scale for the element's channel.
 * The mismatch test "|a-b| > 1 LSB" ignores the double rounding of the
 * dequantization itself (relative 2^-50), so integers exactly one step apart
 * never count; against atol the test is exact.
 * With no finite pairs (empty tensors) the metrics read as equal: cosine 1,
 * errors 0, sqnr_db +inf.
 */
#ifndef QDB_METRICS_H
#define QDB_METRICS_H

#include <stdint.h>

#include "tensor/tensor.h"

struct qdb_metrics {
	int64_t count;       /* elements compared (finite pairs) */
	int64_t nan_a, inf_a, nan_b, inf_b;
	double cosine;       /* 1 if both all-zero, 0 if only one is */
	double max_abs, mean_abs, mse;
	double sqnr_db;      /* +inf when equal; reference a is the signal */
	double rel_l2;
	double max_steps;    /* max |a-b| / scale of b (per channel); NAN if b unquantized */
	double mismatch;     /* share with |a-b| > 1 LSB of b (or > atol when unquantized) */
	int top1;            /* 1 agree, 0 disagree, -1 not computed */
	double sat_a, sat_b; /* saturation share (integer tensors), else 0 */
	int64_t argmax_worst;/* flat index of the max |a-b| element, -1 if none */
	int64_t nonfinite_diff; /* pairs that differ in finiteness or kind of non-finite */
	int b_quantized;     /* b had quant params: max_steps is defined */
};

/* a and b must have equal numel (shapes may differ only if numel matches and
 * the caller accepts it; otherwise QDB_ESHAPE). atol is the unquantized
 * mismatch tolerance. top1 is computed when `want_top1` (argmax over the
 * last axis, all rows must agree). */
int qdb_metrics_compute(const struct qdb_tensor *a, const struct qdb_tensor *b,
			double atol, int want_top1, struct qdb_metrics *m,
			struct qdb_err *err);

/* Metric names for tables, options and thresholds. */
enum qdb_metric_id {
	QDB_M_COSINE,
	QDB_M_MAX_ABS,
	QDB_M_MEAN_ABS,
	QDB_M_MSE,
	QDB_M_SQNR_DB,
	QDB_M_REL_L2,
	QDB_M_MAX_STEPS,
	QDB_M_MISMATCH,
	QDB_M_TOP1,
	QDB_M_COUNT
};
const char *qdb_metric_name(enum qdb_metric_id id);
int qdb_metric_parse(const char *name, enum qdb_metric_id *out);
/* The value of one metric (top1: 1/0, NAN when not computed). */
double qdb_metric_value(const struct qdb_metrics *m, enum qdb_metric_id id);
/* 1 when larger values are better (cosine, sqnr_db, top1). */
int qdb_metric_higher_is_better(enum qdb_metric_id id);

/* A threshold such as "cosine<0.99", "max_steps>2" or "sqnr_db < 20": the
 * condition that marks a layer as divergent. Blanks around the parts are
 * allowed; "<=" and ">=" are refused. */
struct qdb_threshold {
	enum qdb_metric_id metric;
	int less;        /* 1: '<', 0: '>' */
	double value;
};
int qdb_threshold_parse(const char *s, struct qdb_threshold *t, struct qdb_err *err);
/* 1 when the metrics cross the threshold (divergent). NaN counts as
 * crossing, and so does nonfinite_diff > 0; a metric that does not apply
 * (top1 not computed, max_steps of an unquantized b) never crosses. */
int qdb_threshold_crossed(const struct qdb_threshold *t, const struct qdb_metrics *m);

#endif
