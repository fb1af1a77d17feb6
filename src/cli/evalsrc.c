/* evalsrc.c - operands and record ranges for `qdb eval`
 * and `qdb badcases` (see evalsrc.h). */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/evalsrc.h"
#include "io/qbc.h"

int qdb_cli_exit_for(int status)
{
	return status == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
}

int qdb_cli_source_open(struct qdb_cli_source *s, const char *path, struct qdb_err *err)
{
	memset(s, 0, sizeof *s);
	qdb_eval_src_init(&s->src);
	s->path = path;
	int rc = qdb_file_kind(path, &s->kind, err);
	if (rc)
		return rc;
	switch (s->kind) {
	case QDB_KIND_GRAPH:
		if ((rc = qdb_graph_load_checked(path, &s->g, err)))
			break;
		if ((rc = qdb_exec_new(s->g, QDB_SEM_NATIVE, &s->x, err))) {
			qdb_err_prefix(err, "%s", path);
			break;
		}
		if (s->g->n_outputs < 1) {
			rc = qdb_err_set(err, QDB_EINVAL, "%s: the graph has no output", path);
			break;
		}
		s->src.x = s->x;
		s->stage = qdb_stage_name(s->g->stage);
		s->name = s->g->name ? s->g->name : "";
		return QDB_OK;
	case QDB_KIND_TRACE:
		if ((rc = qdb_trace_open(path, &s->t, err)))
			break;
		if (qdb_trace_n_layers(s->t) < 1) {
			rc = qdb_err_set(err, QDB_EINVAL, "%s: the trace has no layer", path);
			break;
		}
		s->src.t = s->t;
		s->stage = qdb_trace_stage(s->t);
		s->name = qdb_trace_model(s->t);
		return QDB_OK;
	default:
		rc = qdb_err_set(err, QDB_EINVAL, "%s: a %s, not a graph (.qbc) or a trace (.qtr)",
				 path, qdb_file_kind_name(s->kind));
		break;
	}
	qdb_cli_source_done(s);
	return rc;
}

void qdb_cli_source_done(struct qdb_cli_source *s)
{
	qdb_exec_delete(s->x);
	if (s->g)
		qdb_graph_delete(s->g);
	qdb_trace_close(s->t);
	s->x = NULL;
	s->g = NULL;
	s->t = NULL;
	qdb_eval_src_init(&s->src);
}

int qdb_cli_parse_range(const char *s, int64_t count, int64_t *first, int64_t *n)
{
	const char *colon = strchr(s, ':');
	long lo = 0, hi = (long)count;
	char buf[64];

	if (!colon) {
		if (qdb_parse_long(s, &lo))
			return -1;
		if (lo < 0)
			lo += (long)count;
		hi = lo + 1;
	} else {
		size_t k = (size_t)(colon - s);
		if (k >= sizeof buf)
			return -1;
		memcpy(buf, s, k);
		buf[k] = '\0';
		if ((buf[0] && qdb_parse_long(buf, &lo)) || (colon[1] && qdb_parse_long(colon + 1, &hi)))
			return -1;
		if (lo < 0)
			lo += (long)count;
		if (hi < 0)
			hi += (long)count;
		if (lo < 0)
			lo = 0;
		if (hi > count)
			hi = (long)count;
	}
	if (lo < 0 || lo >= count || hi <= lo)
		return -1;
	*first = lo;
	*n = hi - lo;
	return 0;
}

int qdb_cli_records(const struct qdb_cli_source *srcs, int n_src, const struct qdb_dataset *d,
		    int64_t first, int64_t n, int64_t **recs, int64_t *n_recs,
		    struct qdb_err *err)
{
	int64_t *v = qdb_alloc_array((size_t)(n > 0 ? n : 1), sizeof *v);
	int64_t m = 0;
	*recs = NULL;
	*n_recs = 0;
	if (!v)
		return qdb_err_set(err, QDB_ENOMEM, "out of memory");
	for (int64_t r = first; r < first + n; r++) {
		const struct qdb_sample_id *id = qdb_dataset_id(d, r);
		int keep = 1;
		for (int k = 0; k < n_src && keep; k++)
			if (srcs[k].t && qdb_trace_find_sample(srcs[k].t, id) < 0)
				keep = 0;
		if (keep)
			v[m++] = r;
	}
	if (m == 0) {
		const char *tp = "";
		for (int k = 0; k < n_src; k++)
			if (srcs[k].t) {
				tp = srcs[k].path;
				break;
			}
		qdb_free(v);
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: no sample of the selected records of %s",
				   tp, qdb_dataset_path(d));
	}
	*recs = v;
	*n_recs = m;
	return QDB_OK;
}

int qdb_cli_evalset_open(struct qdb_cli_evalset *es, const char *data, char *const *paths,
			 int n, const char *samples, int jobs, struct qdb_err *err)
{
	int64_t first = 0;
	int rc;

	memset(es, 0, sizeof *es);
	es->n = n;
	for (int m = 0; m < n; m++)
		qdb_eval_init(&es->ev[m]);
	if ((rc = qdb_dataset_open(data, &es->d, err)))
		return rc;
	for (; es->opened < n; es->opened++)
		if ((rc = qdb_cli_source_open(&es->src[es->opened], paths[es->opened], err)))
			return rc;
	es->total = es->n_range = qdb_dataset_count(es->d);
	if (es->total == 0)
		return qdb_err_set(err, QDB_EINVAL, "%s: the dataset is empty", data);
	if (samples && qdb_cli_parse_range(samples, es->total, &first, &es->n_range))
		return qdb_err_set(err, QDB_EINVAL, "--samples: '%s' selects nothing of %lld records",
				   samples, (long long)es->total);
	if ((rc = qdb_cli_records(es->src, n, es->d, first, es->n_range, &es->recs, &es->n_recs,
				  err)))
		return rc;

	struct qdb_eval_opts o;
	qdb_eval_opts_init(&o);
	o.records = es->recs;
	o.n_records = es->n_recs;
	o.threads = jobs;
	for (int m = 0; m < n; m++)
		if ((rc = qdb_eval_run(&es->src[m].src, es->d, &o, &es->ev[m], err))) {
			if (es->src[m].x) /* trace messages name their file already */
				qdb_err_prefix(err, "%s", es->src[m].path);
			return rc;
		}
	return QDB_OK;
}

void qdb_cli_evalset_done(struct qdb_cli_evalset *es)
{
	qdb_free(es->recs);
	es->recs = NULL;
	for (int m = 0; m < es->n; m++)
		qdb_eval_done(&es->ev[m]);
	for (int m = 0; m < es->opened; m++)
		qdb_cli_source_done(&es->src[m]);
	es->opened = 0;
	qdb_dataset_close(es->d);
	es->d = NULL;
}
