/* evalsrc.h - what `qdb eval` and `qdb badcases` share: their operands
 * (a graph run on the dataset, or a trace read by sample id), the records
 * they are evaluated on (chosen records are written out as a dataset by
 * qdb_dataset_write_records, io/dataset.h).
 *
 * An operand is opened by content (filekind.h): a graph (.qbc) is loaded,
 * validated and prepared with its native semantics; a trace (.qtr) stands
 * for its last layer. struct qdb_cli_source is embedded by the caller and
 * owns the graph, executor or trace; qdb_cli_source_done frees them.
 * Its `src` is ready for qdb_eval_run (analysis/eval.h).
 */
#ifndef QDB_CLI_EVALSRC_H
#define QDB_CLI_EVALSRC_H

#include <stdint.h>

#include "analysis/eval.h"
#include "base/err.h"
#include "cli/filekind.h"
#include "graph/exec.h"
#include "graph/graph.h"
#include "io/dataset.h"
#include "io/trace.h"

struct qdb_cli_source {
	const char *path;            /* borrowed from argv */
	enum qdb_file_kind kind;     /* QDB_KIND_GRAPH or QDB_KIND_TRACE */
	struct qdb_graph *g;
	struct qdb_exec *x;
	struct qdb_trace *t;
	struct qdb_eval_src src;
	const char *stage;           /* "qat", "quantized", a trace's stage */
	const char *name;            /* graph name or trace model ("" if none) */
};

/* Opens path as a graph or a trace; anything else is QDB_EINVAL. On failure
 * s holds nothing (qdb_cli_source_done is still safe). */
int qdb_cli_source_open(struct qdb_cli_source *s, const char *path, struct qdb_err *err);
void qdb_cli_source_done(struct qdb_cli_source *s);

/* "A:B", "A:", ":B" (python-style, negative counts from the end) or "N"
 * (one record) over count records -> [first, first + n). -1 when the text
 * is malformed or selects nothing. */
int qdb_cli_parse_range(const char *s, int64_t count, int64_t *first, int64_t *n);

/* The records of d in [first, first + n) that every trace operand holds
 * (graphs run on any record), in dataset order, into a new array the
 * caller frees with qdb_free. Fails (QDB_ENOTFOUND) when none is left. */
int qdb_cli_records(const struct qdb_cli_source *srcs, int n_src, const struct qdb_dataset *d,
		    int64_t first, int64_t n, int64_t **recs, int64_t *n_recs,
		    struct qdb_err *err);

/* What `qdb eval` and `qdb badcases` run: a dataset, up to
 * QDB_CLI_MAX_SOURCES operands and each one's evaluation on the same
 * records. Embedded by the caller; qdb_cli_evalset_done frees it all. */
#define QDB_CLI_MAX_SOURCES 26
struct qdb_cli_evalset {
	struct qdb_dataset *d;
	int n;                       /* operands asked for (ev[0..n) initialised) */
	int opened;                  /* operands open: src[0..opened) */
	struct qdb_cli_source src[QDB_CLI_MAX_SOURCES];
	struct qdb_eval ev[QDB_CLI_MAX_SOURCES];
	int64_t *recs, n_recs;       /* records evaluated (dataset order) */
	int64_t total, n_range;      /* records in the dataset / in the --samples range */
};

/* Opens dataset `data` and operands paths[0..n) (n <= QDB_CLI_MAX_SOURCES),
 * selects the records of the range `samples` (qdb_cli_parse_range; NULL:
 * all) that every trace operand holds, and evaluates every operand on them
 * with `jobs` threads (0: default). An empty dataset or a range selecting
 * nothing is QDB_EINVAL. On failure es holds what was opened so far, for
 * qdb_cli_evalset_done. */
int qdb_cli_evalset_open(struct qdb_cli_evalset *es, const char *data, char *const *paths,
			 int n, const char *samples, int jobs, struct qdb_err *err);
void qdb_cli_evalset_done(struct qdb_cli_evalset *es);

/* Exit status for a failed call's status code (cli.h). */
int qdb_cli_exit_for(int status);

#endif
