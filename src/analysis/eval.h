/* eval.h - a model (or a trace) over a dataset: every record's output,
 * top-1 predictions, accuracy against class labels, and bad cases where two
 * sources disagree.
 *
 * A source is a prepared executor (graph/exec.h; run on each record's
 * inputs, optionally with some nodes moved to another device) or a trace
 * (its output layer, matched to the dataset's records by sample id).
 * Graph sources run on N threads, one struct qdb_run each; results come
 * back in record order whatever the thread count.
 *
 * Predictions are the argmax over the last axis of the output's first row
 * (models evaluate one record per run). Ownership: struct qdb_eval is
 * embedded (qdb_eval_init / qdb_eval_done) and owns its arrays and output
 * tensors (f32 copies, dequantized).
 */
#ifndef QDB_EVAL_H
#define QDB_EVAL_H

#include <stdint.h>

#include "base/err.h"
#include "graph/exec.h"
#include "io/dataset.h"
#include "io/trace.h"
#include "tensor/tensor.h"

struct qdb_eval_src {
	const struct qdb_exec *x;    /* graph source, or NULL */
	int output;                  /* graph output index */
	const int *dev_nodes;        /* nodes whose device differs from the graph's */
	const enum qdb_device *devs; /* their devices */
	int n_dev;
	const struct qdb_trace *t;   /* trace source, or NULL */
	int layer;                   /* trace layer index; -1: the last layer */
};
void qdb_eval_src_init(struct qdb_eval_src *s);

/* Progress: done/total records; non-zero stops (QDB_ESTOPPED). Called on
 * the calling thread. */
typedef int (*qdb_eval_progress_fn)(void *user, int64_t done, int64_t total);

struct qdb_eval_opts {
	const int64_t *records;      /* dataset record indices; NULL: all */
	int64_t n_records;
	int threads;                 /* <= 0: online CPUs */
	qdb_eval_progress_fn progress;
	void *user;
};
void qdb_eval_opts_init(struct qdb_eval_opts *o);

struct qdb_eval {
	int64_t n;                   /* records evaluated */
	int64_t *record;             /* dataset record index of each (or trace sample index) */
	struct qdb_tensor *out;      /* output of each, f32 */
	int64_t *pred;               /* top-1 class (0-based), -1 if the output is empty */
	int64_t *label;              /* class label, -1 when none */
	int64_t n_labeled, correct;
	double accuracy;             /* correct / n_labeled; NAN when nothing is labelled */
};
void qdb_eval_init(struct qdb_eval *e);
void qdb_eval_done(struct qdb_eval *e);

/* Evaluates src on dataset d (d may be NULL for a trace source: then every
 * sample of the trace, unlabelled). A record missing from a trace is an
 * error naming it. */
int qdb_eval_run(const struct qdb_eval_src *src, const struct qdb_dataset *d,
		 const struct qdb_eval_opts *o, struct qdb_eval *res, struct qdb_err *err);

/* Top-1 of a tensor: argmax over the last axis of the first row (NaN never
 * wins); -1 for an empty tensor. */
int64_t qdb_eval_top1(const struct qdb_tensor *t);

/* Binds graph inputs to dataset inputs: map[i] = dataset input index of
 * graph input i, by name, or 0 when both have a single input. map has
 * g->n_inputs entries. */
int qdb_eval_bind_inputs(const struct qdb_graph *g, const struct qdb_dataset *d, int *map,
			 struct qdb_err *err);
/* Sets the inputs of run r from record rec of d (map from bind_inputs). */
int qdb_eval_set_inputs(struct qdb_run *r, const struct qdb_dataset *d, int64_t rec,
			const int *map, struct qdb_err *err);

/* Bad cases between a reference a and a candidate b evaluated on the same
 * records (same order): a record is bad when the top-1 predictions differ
 * (when by_top1), or the output cosine is below min_cosine (when > -2). */
struct qdb_badcase {
	int64_t i;                   /* position in the evals */
	int64_t record;
	int64_t pred_a, pred_b, label;
	double cosine;
};
int qdb_eval_badcases(const struct qdb_eval *a, const struct qdb_eval *b, int by_top1,
		      double min_cosine, struct qdb_badcase **out, int64_t *n,
		      struct qdb_err *err);

#endif
