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

/* Exit status for a failed call's status code (cli.h). */
int qdb_cli_exit_for(int status);

#endif
