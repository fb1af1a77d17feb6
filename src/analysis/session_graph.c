/* session_graph.c - graph sides of a session (runs, isolated mode, edits).
 * INTERIM: the executor (graph/exec.h) has not landed yet; graph sides are
 * refused with a clear message until it does. */
#include "config.h"

#include <stdio.h>

#include "analysis/session_impl.h"
#include "base/alloc.h"
#include "graph/graph.h"

int qdb_session_graph_open(struct qdb_session *s, struct qdb_err *err)
{
	return qdb_err_set(err, QDB_EUNSUPPORTED, "%s: running graphs is not available in this build",
			   s->side[0].kind == QDB_SOURCE_TRACE ? s->side[1].path : s->side[0].path);
}

void qdb_session_graph_close(struct qdb_session *s)
{
	(void)s;
}

int qdb_session_graph_cell(struct qdb_session *s, int sample, int row,
			   const struct qdb_compare_cell **cell, struct qdb_err *err)
{
	(void)s, (void)sample, (void)row, (void)cell;
	return qdb_err_set(err, QDB_EUNSUPPORTED, "no graph");
}

int qdb_session_graph_tensors(struct qdb_session *s, int sample, int row,
			      struct qdb_tensor *a, struct qdb_tensor *b, struct qdb_err *err)
{
	(void)s, (void)sample, (void)row, (void)a, (void)b;
	return qdb_err_set(err, QDB_EUNSUPPORTED, "no graph");
}

int qdb_session_graph_set_mode(struct qdb_session *s, enum qdb_session_mode m,
			       struct qdb_err *err)
{
	(void)s, (void)m;
	return qdb_err_set(err, QDB_EUNSUPPORTED, "no graph");
}

int qdb_session_device(const struct qdb_session *s, int row)
{
	(void)s, (void)row;
	return -1;
}

int qdb_session_editable(const struct qdb_session *s)
{
	(void)s;
	return 0;
}

int qdb_session_toggle_cpu(struct qdb_session *s, int row, int sample, struct qdb_err *err)
{
	(void)row, (void)sample;
	return qdb_err_set(err, QDB_EUNSUPPORTED, "%s is not an editable quantized graph",
			   s->side[1].path);
}

int qdb_session_undo(struct qdb_session *s, int sample, struct qdb_err *err)
{
	(void)s, (void)sample;
	return qdb_err_set(err, QDB_ENOTFOUND, "nothing to undo");
}

int qdb_session_n_edits(const struct qdb_session *s)
{
	(void)s;
	return 0;
}

int qdb_session_unsaved(const struct qdb_session *s)
{
	(void)s;
	return 0;
}

const char *qdb_session_edit_str(const struct qdb_session *s, int i, char *dst, size_t n)
{
	(void)s, (void)i;
	if (n)
		dst[0] = 0;
	return dst;
}

int qdb_session_save(struct qdb_session *s, const char *path, struct qdb_err *err)
{
	(void)path;
	return qdb_err_set(err, QDB_EUNSUPPORTED, "%s is not a graph", s->side[1].path);
}
