/* compare.h - comparing two traces layer by layer (DESIGN.md section 4).
 *
 * The engine behind `qdb compare`, and later the Lua module and the TUI.
 * qdb_compare_new aligns A's and B's layers (align.h: exact names, then the
 * caller's rename rules) and their samples (ids present in both, in A's
 * order). The unit of work is a cell: one (aligned layer, shared sample)
 * pair, whose metrics (metrics.h) are computed on first request and cached
 * in the comparison, so a front end can ask for single cells cheaply and
 * repeatedly. qdb_compare_fill computes many cells at once on N threads;
 * qdb_compare_row aggregates cached cells over a set of samples (mean, and
 * worst with the worst sample, per metric).
 *
 * Payloads are read in place from the traces' mappings. With
 * opts.release_pages the pages of a payload are handed back (MADV_DONTNEED
 * on the read-only file mapping) once its cell is computed, so resident
 * memory stays near threads x tensor size instead of growing to the file
 * size; the data stays in the page cache.
 *
 * When is a cell divergent (counts for the threshold and the exit status)?
 *   - element counts differ (no metrics; flag QDB_CF_NUMEL), or
 *   - some element is finite on one side and not on the other, or NaN vs
 *     Inf (metrics.h nonfinite_diff; flags QDB_CF_NAN / QDB_CF_INF), or
 *   - the threshold is crossed (qdb_threshold_crossed). A metric that does
 *     not apply (max_steps when B carries no quant params, top1 when not
 *     computed) never crosses; any other NaN does.
 * Differing shapes with equal element counts are flagged (QDB_CF_SHAPE) and
 * judged by the metrics. A record missing on one side is flagged
 * (QDB_CF_MISSING) and not judged.
 *
 * Ownership: struct qdb_compare borrows the two traces and the rules (they
 * must outlive it) and owns its cell cache; free it with qdb_compare_delete.
 * Not thread-safe: one thread uses a comparison at a time; only
 * qdb_compare_fill runs threads internally.
 */
#ifndef QDB_COMPARE_H
#define QDB_COMPARE_H

#include <stdint.h>

#include "analysis/align.h"
#include "base/err.h"
#include "io/trace.h"
#include "tensor/metrics.h"

/* Cell and row flags. */
enum {
	QDB_CF_SHAPE = 1 << 0,    /* shapes differ, element counts equal */
	QDB_CF_NUMEL = 1 << 1,    /* element counts differ: no metrics */
	QDB_CF_NAN = 1 << 2,      /* NaN in A or B */
	QDB_CF_INF = 1 << 3,      /* Inf in A or B */
	QDB_CF_SAT = 1 << 4,      /* saturation share >= opts.sat_flag in A or B */
	QDB_CF_MISSING = 1 << 5,  /* the record is absent on one side */
	QDB_CF_BFLOAT = 1 << 6,   /* B has no quant params: max_steps does not apply */
	QDB_CF_ERROR = 1 << 7     /* the cell could not be computed */
};
/* Short words for flags ("shape", "numel", "nan", "inf", "sat", "miss",
 * "error"; QDB_CF_BFLOAT has none), comma-separated into dst. */
const char *qdb_compare_flags_str(unsigned flags, char *dst, size_t n);

enum qdb_cell_state {
	QDB_CELL_EMPTY,   /* not computed yet */
	QDB_CELL_OK,      /* metrics valid */
	QDB_CELL_MISSING, /* a record is absent */
	QDB_CELL_NUMEL,   /* element counts differ */
	QDB_CELL_ERROR    /* reading failed (message returned by the call) */
};

struct qdb_compare_cell {
	unsigned char state;      /* enum qdb_cell_state */
	unsigned char diverged;   /* 1: divergent (see the header comment) */
	unsigned short flags;     /* QDB_CF_* */
	struct qdb_metrics m;     /* valid when state == QDB_CELL_OK */
};

struct qdb_compare_opts {
	const struct qdb_rules *rules;  /* NULL: align by exact name only */
	struct qdb_threshold threshold; /* default cosine<0.99 */
	double atol;                    /* mismatch tolerance when B is a float (1e-5) */
	double sat_flag;                /* saturation share raising QDB_CF_SAT (0.01) */
	int top1_layer;                 /* A layer index that gets top1; -1: A's last layer */
	int release_pages;              /* drop payload pages after use (0); only
	                                   for traces from qdb_trace_open (a file
	                                   mapping), never qdb_trace_parse on
	                                   memory the caller owns */
};
void qdb_compare_opts_init(struct qdb_compare_opts *o);

struct qdb_compare;

/* Aligns layers and samples. Fails (QDB_EINVAL) when the traces share no
 * sample; no aligned layer is not an error (qdb_compare_n_pairs() == 0). */
int qdb_compare_new(struct qdb_trace *a, struct qdb_trace *b,
		    const struct qdb_compare_opts *opts, struct qdb_compare **out,
		    struct qdb_err *err);
void qdb_compare_delete(struct qdb_compare *c);

const struct qdb_compare_opts *qdb_compare_get_opts(const struct qdb_compare *c);
struct qdb_trace *qdb_compare_trace_a(const struct qdb_compare *c);
struct qdb_trace *qdb_compare_trace_b(const struct qdb_compare *c);
/* The layer alignment: pairs in A's order, one-side-only layers. */
const struct qdb_align *qdb_compare_align(const struct qdb_compare *c);
int qdb_compare_n_pairs(const struct qdb_compare *c);

/* Shared samples, in A's order; i indexes 0..n-1 in every call below. */
int qdb_compare_n_samples(const struct qdb_compare *c);
int qdb_compare_sample_a(const struct qdb_compare *c, int i); /* index in A */
int qdb_compare_sample_b(const struct qdb_compare *c, int i); /* index in B */
const struct qdb_sample_id *qdb_compare_sample_id(const struct qdb_compare *c, int i);
/* Shared-sample index of id text ("17", "frame_3"); -1 when not shared. */
int qdb_compare_find_sample(const struct qdb_compare *c, const char *id);

/* The cell (pair, sample), computed now unless cached. The pointer stays
 * valid until qdb_compare_delete. A read failure returns its status with
 * the message; the cell then has state QDB_CELL_ERROR and is retried on
 * the next call. */
int qdb_compare_cell(struct qdb_compare *c, int pair, int sample,
		     const struct qdb_compare_cell **out, struct qdb_err *err);
/* Cached cell or NULL (never computes). */
const struct qdb_compare_cell *qdb_compare_peek(const struct qdb_compare *c, int pair,
						int sample);

/* Computes every uncached cell of all pairs x the given samples (NULL, n =
 * -1: all shared samples) on `threads` threads (<= 0: online CPUs).
 * Returns the first failure; cells that failed stay QDB_CELL_ERROR. */
int qdb_compare_fill(struct qdb_compare *c, const int *samples, int n, int threads,
		     struct qdb_err *err);
int qdb_compare_default_threads(void);

/* Aggregate of one metric over samples. */
struct qdb_compare_agg {
	int n;            /* samples with a value (NaN counts, n/a does not) */
	double mean;      /* over the non-NaN values; NAN when none */
	double worst;     /* lowest for higher-is-better metrics, else highest;
	                     NAN if any sample gave NaN */
	int worst_sample; /* shared-sample index of the worst value, -1 if n == 0 */
};

struct qdb_compare_row {
	int pair, layer_a, layer_b;
	int n_samples;    /* samples asked for */
	int n_ok;         /* cells with metrics */
	int n_missing, n_numel, n_error;
	int n_diverged;   /* divergent cells */
	int first_diverged_sample; /* shared-sample index, -1 if none */
	unsigned flags;   /* OR over cells, without QDB_CF_BFLOAT unless all have it */
	struct qdb_compare_agg agg[QDB_M_COUNT];
	int64_t nan_a, inf_a, nan_b, inf_b; /* totals over the samples */
	double sat_a, sat_b;                /* highest saturation share */
};

/* Aggregates pair over the given samples (NULL, -1: all), computing
 * missing cells on the calling thread. */
int qdb_compare_row(struct qdb_compare *c, int pair, const int *samples, int n,
		    struct qdb_compare_row *row, struct qdb_err *err);

/* The first aligned layer (pair index, in A's order) with a divergent cell
 * among the given samples (NULL, -1: all), computing cells row by row on
 * the calling thread and stopping there; -1 when every layer holds, or
 * -status when a read failed (err says why). */
int qdb_compare_first_divergent(struct qdb_compare *c, const int *samples, int n,
				struct qdb_err *err);

/* 1 when metric id applies to a cell with these flags and metrics, 0 when
 * it does not (max_steps on a float B, top1 not computed): such values are
 * shown as "-" and never cross a threshold. */
int qdb_compare_metric_applies(unsigned flags, const struct qdb_metrics *m,
			       enum qdb_metric_id id);

#endif
