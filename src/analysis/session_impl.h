/* session_impl.h - private state of a session, shared by session.c (traces,
 * cells, aggregates) and session_graph.c (graph sides: runs, edits). Not a
 * public header. */
#ifndef QDB_SESSION_IMPL_H
#define QDB_SESSION_IMPL_H

#include "analysis/align.h"
#include "analysis/compare.h"
#include "analysis/session.h"
#include "io/trace.h"

struct session_graph; /* session_graph.c */

struct session_side {
	enum qdb_session_kind kind;
	char *path;
	const char *stage;          /* borrowed from the trace or graph */
	struct qdb_trace *trace;    /* kind == TRACE */
};

/* Cells of one sample (graph sessions). */
struct session_scache {
	struct qdb_compare_cell *cells; /* n_rows, NULL when not cached */
	uint64_t used;                  /* LRU clock */
};

struct qdb_session {
	struct session_side side[2];
	char *data_path;
	struct qdb_rules rules;
	int have_rules;
	double atol;
	struct qdb_threshold thr[QDB_SESSION_MAX_THRESHOLDS];
	int n_thr;
	int64_t max_samples;

	struct qdb_compare *cmp;    /* trace/trace sessions */
	struct session_graph *g;    /* sessions with a graph side */

	struct qdb_session_row *rows;
	int n_rows, output_row;
	const char **only[2];
	int n_only[2];
	int n_samples;
	char **sample_names;
	enum qdb_session_mode mode;

	struct session_scache *cache; /* n_cache == n_samples (graph sessions) */
	int n_cache;
	int64_t cache_cells, cache_limit;
	uint64_t clock;

	struct qdb_compare_cell *before; /* n_rows, snapshot before an edit */
	int before_sample;

	struct qdb_compare_row *agg;     /* n_rows, after qdb_session_aggregate */
};

/* Drops every cached cell and the aggregates. */
void qdb_session_drop_cache(struct qdb_session *s);

/* session_graph.c */
int qdb_session_graph_open(struct qdb_session *s, struct qdb_err *err);
void qdb_session_graph_close(struct qdb_session *s);
int qdb_session_graph_cell(struct qdb_session *s, int sample, int row,
			   const struct qdb_compare_cell **cell, struct qdb_err *err);
int qdb_session_graph_tensors(struct qdb_session *s, int sample, int row,
			      struct qdb_tensor *a, struct qdb_tensor *b, struct qdb_err *err);
int qdb_session_graph_set_mode(struct qdb_session *s, enum qdb_session_mode m,
			       struct qdb_err *err);

#endif
