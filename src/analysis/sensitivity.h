/* sensitivity.h - which single change to a model moves its output most.
 *
 * Two experiments, each ranking "units" by their effect on the model's
 * output over the records of a dataset:
 *
 *  revert    (a quantized graph, INTEGER semantics): each node that runs on
 *            BPU, alone moved to CPU (float, DESIGN.md section 3). Scored by
 *            how close the output comes to a reference (a qat graph run or a
 *            trace); ranked by the gain over the unmodified graph.
 *  quantize  (a qat graph, FAKEQUANT semantics): each quantized unit (a
 *            node's output value and its weights, or one value), with fake
 *            quant only there ("only") and everywhere but there ("except").
 *            The reference is the float run of the same graph unless one is
 *            given. Ranked by the damage of "only" against the float run's
 *            score; "except" says how much turning the unit off recovers.
 *
 * Scores (higher is better): mean output cosine, SQNR in dB over all the
 * records' elements, top-1 accuracy against the dataset's class labels (or
 * top-1 agreement with the reference when there are none), or a caller's
 * function (its mean).
 *
 * Speed: per record the unmodified runs are computed once; each unit then
 * recomputes only the downstream cone of what it changes, over an overlay
 * of the changed values on those runs (or, for revert next to other cpu
 * nodes, a copy of the run and the executor's cone rerun), and stops where
 * a recomputed value equals the base run's. Records are spread over N
 * threads, each with its own runs. `naive` re-runs the whole
 * graph per unit instead (revert: a fresh run; quantize: a copy of the
 * graph with qparams removed where fake quant is off): same numbers,
 * the slow path the benchmark and the tests compare with.
 *
 * Ownership: the caller owns the executors, trace and dataset (they must
 * outlive the call); struct qdb_sens_result is embedded
 * (qdb_sens_result_init / _done) and owns its units.
 */
#ifndef QDB_SENSITIVITY_H
#define QDB_SENSITIVITY_H

#include <stdint.h>

#include "base/err.h"
#include "graph/exec.h"
#include "io/dataset.h"
#include "io/trace.h"
#include "tensor/tensor.h"

enum qdb_sens_mode { QDB_SENS_REVERT, QDB_SENS_QUANTIZE };
enum qdb_sens_metric { QDB_SENS_COSINE, QDB_SENS_SQNR, QDB_SENS_TOP1, QDB_SENS_CUSTOM };

const char *qdb_sens_mode_name(enum qdb_sens_mode m);       /* "revert", "quantize" */
int qdb_sens_mode_parse(const char *s, enum qdb_sens_mode *out);
const char *qdb_sens_metric_name(enum qdb_sens_metric m);   /* "cosine", "sqnr", "top1", "custom" */
int qdb_sens_metric_parse(const char *s, enum qdb_sens_metric *out);

/* A custom score of one output against the reference output (ref may be
 * NULL when there is none) for dataset record `record`. Return non-zero to
 * stop (with err set). Called on the calling thread only, so a custom
 * metric runs single-threaded. */
typedef int (*qdb_sens_metric_fn)(void *user, int64_t record, const struct qdb_tensor *out,
				  const struct qdb_tensor *ref, double *score, struct qdb_err *err);

/* Progress: units of work done/total; non-zero stops (QDB_ESTOPPED).
 * Called on the calling thread. */
typedef int (*qdb_sens_progress_fn)(void *user, int64_t done, int64_t total);

struct qdb_sens_opts {
	enum qdb_sens_mode mode;
	enum qdb_sens_metric metric;
	qdb_sens_metric_fn fn;       /* QDB_SENS_CUSTOM */
	void *fn_user;
	int output;                  /* graph output index (0) */
	/* reference: an executor (its output `ref_output`), a trace (layer
	 * ref_layer, -1: last; records matched by sample id), or neither
	 * (quantize: the float run; top1 with labels needs none) */
	const struct qdb_exec *ref_x;
	int ref_output;
	const struct qdb_trace *ref_t;
	int ref_layer;
	const int64_t *records;      /* dataset records; NULL: all */
	int64_t n_records;
	const int *nodes;            /* restrict the units to these nodes (NULL: all) */
	int n_nodes;
	int by_value;                /* quantize: one unit per value, not per node */
	int threads;                 /* <= 0: online CPUs; custom metrics force 1 */
	int naive;                   /* full re-run per unit */
	qdb_sens_progress_fn progress;
	void *user;
};
void qdb_sens_opts_init(struct qdb_sens_opts *o);

struct qdb_sens_unit {
	char *name;            /* node name, or value name (by_value, graph inputs) */
	const char *op;        /* node's op; "input" or "weight" for values no node makes */
	int node;              /* node index, -1 for a graph input */
	int *values, n_values; /* quantize: the values whose fake quant it toggles */
	double score;          /* revert: moved to cpu; quantize: fake quant only here */
	double score_except;   /* quantize: everywhere but here (NAN for revert) */
	double effect;         /* revert: score - baseline (gain); quantize:
	                          float_score - score (damage) */
	int64_t computed;      /* node evaluations this unit cost (cone sizes) */
};

struct qdb_sens_result {
	enum qdb_sens_mode mode;
	enum qdb_sens_metric metric;
	int64_t n_records;
	double baseline;       /* the unmodified candidate (revert: all bpu;
	                          quantize: fake quant everywhere) */
	double float_score;    /* quantize: no fake quant at all; NAN for revert */
	struct qdb_sens_unit *units; /* ranked: largest effect first */
	int n_units;
	int64_t computed;      /* node evaluations in total (baselines included) */
	int64_t full;          /* node evaluations a full re-run per unit would cost */
	double seconds;        /* wall time */
	int threads;           /* threads used */
};
void qdb_sens_result_init(struct qdb_sens_result *r);
void qdb_sens_result_done(struct qdb_sens_result *r);

/* Runs the experiment on candidate x (revert: INTEGER semantics of a
 * quantized graph; quantize: FAKEQUANT of a qat graph) over dataset d. */
int qdb_sens_run(const struct qdb_exec *x, const struct qdb_dataset *d,
		 const struct qdb_sens_opts *o, struct qdb_sens_result *res, struct qdb_err *err);

#endif
