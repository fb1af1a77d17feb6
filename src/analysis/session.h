/* session.h - an interactive comparison: two stages over a set of samples.
 *
 * A session pairs a reference A and a candidate B. Each side is a trace
 * (.qtr) or a graph (.qbc, run on the samples of a dataset). Layers are
 * aligned by name (and the rename rules of a --map file); each aligned pair
 * is a "row", in A's execution order. The session answers one (sample, row)
 * cell at a time and caches the metrics of every cell it computed, so a
 * front end (the TUI, Lua, triage) can navigate without rescanning tensor
 * data. Graph sides are run lazily, one sample at a time; the last run of
 * each side is kept.
 *
 * Editing: when B is a quantized graph, qdb_session_toggle_cpu moves one of
 * its nodes between BPU and CPU and re-runs only that node's downstream cone
 * for the current sample; every cached cell is invalidated, and the metrics
 * of the current sample before the edit are kept as a "before" snapshot so
 * a front end can show what changed. Edits can be undone one by one and the
 * edited graph written atomically.
 *
 * Ownership: qdb_session_open returns a new session the caller frees with
 * qdb_session_close. Pointers it returns (rows, names, metrics) stay valid
 * until the next call that changes the session (toggle, undo, set_mode,
 * close); tensors returned by qdb_session_tensors are views the caller
 * releases with qdb_tensor_done and must not keep across such calls.
 */
#ifndef QDB_SESSION_H
#define QDB_SESSION_H

#include <stdint.h>

#include "analysis/compare.h"
#include "base/err.h"
#include "tensor/metrics.h"
#include "tensor/tensor.h"

enum qdb_session_side_id { QDB_SIDE_A, QDB_SIDE_B };
enum qdb_session_kind { QDB_SOURCE_TRACE, QDB_SOURCE_GRAPH };
enum qdb_session_mode { QDB_MODE_CUMULATIVE, QDB_MODE_ISOLATED };

#define QDB_SESSION_MAX_THRESHOLDS 8

struct qdb_session_opts {
	const char *a_path, *b_path;
	const char *data_path;   /* dataset; needed when a side is a graph */
	const char *map_path;    /* rename rules, or NULL */
	double atol;             /* mismatch tolerance for unquantized pairs */
	/* Divergence conditions; the first is the primary one ("first
	 * divergent layer"). Zero thresholds: "cosine<0.99". */
	struct qdb_threshold thresholds[QDB_SESSION_MAX_THRESHOLDS];
	int n_thresholds;
	int64_t max_samples;     /* 0: all samples of the dataset/traces */
};
void qdb_session_opts_init(struct qdb_session_opts *o);

struct qdb_session_row {
	const char *name;        /* A's layer name */
	const char *name_b;      /* B's layer name (differs under a rename rule) */
	const char *op;          /* op of B (or A when B's is empty) */
	int a, b;                /* layer index in A and in B */
	int node_b;              /* node index in B's graph, -1 for a trace */
	int via_rule;            /* as struct qdb_align_pair */
};

/* A cell is a struct qdb_compare_cell (compare.h): state, flags, metrics.
 * Trace pairs are answered by the comparison engine itself; cells of graph
 * sides are computed here with the same rules. */

struct qdb_session;

int qdb_session_open(const struct qdb_session_opts *o, struct qdb_session **out,
		     struct qdb_err *err);
void qdb_session_close(struct qdb_session *s);

/* Sides. */
enum qdb_session_kind qdb_session_kind(const struct qdb_session *s, int side);
const char *qdb_session_path(const struct qdb_session *s, int side);
const char *qdb_session_stage(const struct qdb_session *s, int side);
const char *qdb_session_data_path(const struct qdb_session *s); /* NULL if none */

/* Rows and layers present on one side only (for a message at start). */
int qdb_session_n_rows(const struct qdb_session *s);
const struct qdb_session_row *qdb_session_row(const struct qdb_session *s, int row);
int qdb_session_find_row(const struct qdb_session *s, const char *name); /* A or B name; -1 */
int qdb_session_n_only(const struct qdb_session *s, int side);
const char *qdb_session_only_name(const struct qdb_session *s, int side, int i);
/* Row whose B layer is the graph output (or the last row for traces). */
int qdb_session_output_row(const struct qdb_session *s);

/* Samples: those both sides have, in the order of A (or of the dataset). */
int qdb_session_n_samples(const struct qdb_session *s);
const char *qdb_session_sample_name(const struct qdb_session *s, int sample);
int qdb_session_find_sample(const struct qdb_session *s, const char *id); /* -1 */

/* Thresholds (the first is primary). */
int qdb_session_n_thresholds(const struct qdb_session *s);
const struct qdb_threshold *qdb_session_threshold(const struct qdb_session *s, int i);
/* Replaces the primary threshold. */
void qdb_session_set_threshold(struct qdb_session *s, const struct qdb_threshold *t);
/* The condition a metric is judged by: the first threshold on that metric,
 * or NULL. */
const struct qdb_threshold *qdb_session_threshold_for(const struct qdb_session *s,
						      enum qdb_metric_id id);

/* Progress callback for long work: called with done/total; returning
 * non-zero cancels (the call then fails with QDB_ESTOPPED). */
typedef int (*qdb_session_progress_fn)(void *user, int64_t done, int64_t total);

/* The cell (sample, row), computed on first use and cached. A cell that
 * could not be compared (missing record, element counts differ) is still
 * returned (cell->state says so). A non-zero return means the sample could
 * not be produced at all (a read failed, a graph failed to run); err says
 * why. */
int qdb_session_cell(struct qdb_session *s, int sample, int row,
		     const struct qdb_compare_cell **cell, struct qdb_err *err);
/* The cached cell or NULL, without computing anything. */
const struct qdb_compare_cell *qdb_session_cached(const struct qdb_session *s,
						  int sample, int row);
/* 1 when the cell is divergent by threshold t (NULL: the primary one), with
 * compare.h's rules: element counts differ, NaN/Inf counts differ, or the
 * threshold is crossed by a metric that applies. */
int qdb_session_divergent(const struct qdb_session *s, const struct qdb_compare_cell *c,
			  const struct qdb_threshold *t);
/* How a metric value of a cell compares with the thresholds on that metric:
 * 0 fine, 1 close (within a decade of the limit), 2 crossed, -1 the metric
 * does not apply or no threshold names it. For colouring. */
int qdb_session_grade(const struct qdb_session *s, const struct qdb_compare_cell *c,
		      enum qdb_metric_id id);

/* First row >= from (direction +1) or <= from (-1) of `sample` whose cell
 * crosses `t` (NULL: primary threshold); -1 if none. Computes cells as it
 * goes. */
int qdb_session_find_divergent(struct qdb_session *s, int sample, int from, int dir,
			       const struct qdb_threshold *t, struct qdb_err *err);

/* Breakpoint search: the first cell at or after (*sample, *row) - the rest
 * of that sample, then every later sample from its first row - where `t`
 * holds (NULL: the primary threshold). Returns 1 and sets *sample, *row
 * when found, 0 when no later cell matches; a negative status on failure
 * (-QDB_ESTOPPED when fn cancelled; fn, which may be NULL, is called once
 * per sample searched). */
int qdb_session_find_next(struct qdb_session *s, int *sample, int *row,
			  const struct qdb_threshold *t, qdb_session_progress_fn fn, void *user,
			  struct qdb_err *err);

/* The two tensors of a cell (views; release with qdb_tensor_done). In
 * isolated mode B is the node's output on A's inputs. */
int qdb_session_tensors(struct qdb_session *s, int sample, int row,
			struct qdb_tensor *a, struct qdb_tensor *b, struct qdb_err *err);

/* Comparison mode; isolated needs B to be a graph. Changing it drops the
 * cache. */
enum qdb_session_mode qdb_session_mode(const struct qdb_session *s);
int qdb_session_set_mode(struct qdb_session *s, enum qdb_session_mode m,
			 struct qdb_err *err);

/* Device of B's node for `row`: QDB_DEV_BPU/QDB_DEV_CPU (graph.h), or -1
 * when B is a trace or the row has no node. */
int qdb_session_device(const struct qdb_session *s, int row);
/* 1 when B is a quantized graph whose devices can be edited. */
int qdb_session_editable(const struct qdb_session *s);
/* Moves B's node of `row` to the other device and re-runs its downstream
 * cone for `sample`; keeps the "before" snapshot of that sample. */
int qdb_session_toggle_cpu(struct qdb_session *s, int row, int sample,
			   struct qdb_err *err);
/* Undoes the last edit (re-running the affected cone for `sample`).
 * QDB_ENOTFOUND when there is nothing to undo. */
int qdb_session_undo(struct qdb_session *s, int sample, struct qdb_err *err);
int qdb_session_n_edits(const struct qdb_session *s);        /* session edits */
int qdb_session_unsaved(const struct qdb_session *s);        /* 1 if edits not saved */
/* Describes edit i ("conv3: bpu -> cpu"). */
const char *qdb_session_edit_str(const struct qdb_session *s, int i, char *dst, size_t n);
/* Writes B (with its edit history) atomically to path. */
int qdb_session_save(struct qdb_session *s, const char *path, struct qdb_err *err);

/* The snapshot taken before the last edit or undo: the sample it belongs to
 * (-1: none) and its cell for a row (NULL if that cell was not computed). */
int qdb_session_before_sample(const struct qdb_session *s);
const struct qdb_compare_cell *qdb_session_before(const struct qdb_session *s, int row);
void qdb_session_forget_before(struct qdb_session *s);


/* Computes every cell of every sample (cached cells are reused) and keeps
 * per-row aggregates (struct qdb_compare_row: mean and worst per metric)
 * until the next edit or mode change. */
int qdb_session_aggregate(struct qdb_session *s, qdb_session_progress_fn fn, void *user,
			  struct qdb_err *err);
/* NULL until qdb_session_aggregate completed (and after an edit). */
const struct qdb_compare_row *qdb_session_agg(const struct qdb_session *s, int row);
/* The same row over one sample only (its cell, computed if needed), for a
 * front end that shows a single sample in the aggregate's form. */
int qdb_session_sample_row(struct qdb_session *s, int sample, int row,
			   struct qdb_compare_row *out, struct qdb_err *err);

/* Memory cap of the cell cache, in cells (whole samples are dropped, least
 * recently used first). Default 4M cells. */
void qdb_session_set_cache_limit(struct qdb_session *s, int64_t cells);

#endif
