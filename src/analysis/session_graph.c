/* session_graph.c - sessions with a graph side: each graph runs on the
 * samples of the dataset (one run per side, kept for the last sample), its
 * layers are its nodes (first output), and B's devices can be edited.
 *
 * Cells are computed a whole sample at a time (the runs are done by then,
 * and the metrics scan is cheaper than the run) and cached per sample,
 * least recently used samples dropped first. An edit re-runs the edited
 * node's downstream cone only (the executor keeps everything upstream),
 * recomputes the current sample's cells and drops the other samples'.
 *
 * The B graph itself is never changed while its executor lives: devices
 * live in the run, and qdb_session_save writes a clone carrying them, with
 * one history record per node whose device differs from the loaded file.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/session_impl.h"
#include "base/alloc.h"
#include "graph/edit.h"
#include "graph/exec.h"
#include "graph/graph.h"
#include "io/dataset.h"
#include "io/qbc.h"

struct gside {
	struct qdb_graph *g;
	struct qdb_exec *x;
	struct qdb_run *run;
	int run_sample;          /* sample the run holds, -1 none */
	int *in_map;             /* graph input -> dataset input */
};

struct gedit {
	int node;
	enum qdb_device from, to;
};

struct session_graph {
	struct qdb_dataset *ds;
	struct gside side[2];    /* .g == NULL for a trace side */
	const char **names[2], **ops[2];
	int n_layers[2];
	int64_t *sample_ds;      /* session sample -> dataset record */
	int *sample_tr[2];       /* session sample -> trace sample (trace sides) */
	int *row_of_bnode;       /* B node -> row, -1 */
	struct gedit *edits;
	int n_edits, cap_edits;
	enum qdb_device *saved_dev; /* B devices as last saved (or loaded) */
};

static const char *dev_name(enum qdb_device d)
{
	return d == QDB_DEV_CPU ? "cpu" : "bpu";
}

/* ---- opening ---------------------------------------------------------------- */

static int map_inputs(struct session_graph *sg, struct gside *gs, const char *path,
		      struct qdb_err *err)
{
	const struct qdb_graph *g = gs->g;
	int n_ds = qdb_dataset_n_inputs(sg->ds);

	gs->in_map = qdb_calloc(g->n_inputs ? (size_t)g->n_inputs : 1, sizeof *gs->in_map);
	if (!gs->in_map)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	for (int i = 0; i < g->n_inputs; i++) {
		const char *name = g->values[g->inputs[i]].name;
		int k = qdb_dataset_find_input(sg->ds, name);
		/* One input on each side pairs up whatever the names. */
		if (k < 0 && g->n_inputs == 1 && n_ds == 1)
			k = 0;
		if (k < 0)
			return qdb_err_set(err, QDB_EINVAL, "%s: input '%s' is not in dataset %s",
					   path, name, qdb_dataset_path(sg->ds));
		gs->in_map[i] = k;
	}
	return QDB_OK;
}

/* Side k's layer table (names and ops, borrowed from its graph or trace)
 * for n layers. */
static int alloc_layers(struct session_graph *sg, int k, int n, struct qdb_err *err)
{
	sg->n_layers[k] = n;
	sg->names[k] = qdb_calloc(n ? (size_t)n : 1, sizeof *sg->names[k]);
	sg->ops[k] = qdb_calloc(n ? (size_t)n : 1, sizeof *sg->ops[k]);
	if (!sg->names[k] || !sg->ops[k])
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	return QDB_OK;
}

static int open_graph_side(struct qdb_session *s, int k, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	struct gside *gs = &sg->side[k];
	const char *path = s->side[k].path;
	int rc = qdb_graph_load_checked(path, &gs->g, err);
	if (rc)
		return rc;
	rc = qdb_exec_new(gs->g, QDB_SEM_NATIVE, &gs->x, err);
	if (rc)
		return qdb_err_prefix(err, "%s", path);
	rc = qdb_run_new(gs->x, &gs->run, err);
	if (rc)
		return rc;
	gs->run_sample = -1;
	s->side[k].kind = QDB_SOURCE_GRAPH;
	s->side[k].stage = qdb_stage_name(gs->g->stage);
	rc = map_inputs(sg, gs, path, err);
	if (rc)
		return rc;
	int n = gs->g->n_nodes;
	if ((rc = alloc_layers(sg, k, n, err)))
		return rc;
	for (int i = 0; i < n; i++) {
		sg->names[k][i] = gs->g->nodes[i].name;
		sg->ops[k][i] = gs->g->nodes[i].op_name;
	}
	return QDB_OK;
}

static int trace_side_layers(struct qdb_session *s, int k, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	const struct qdb_trace *t = s->side[k].trace;
	int n = qdb_trace_n_layers(t);
	int rc = alloc_layers(sg, k, n, err);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		sg->names[k][i] = qdb_trace_layer(t, i)->name;
		sg->ops[k][i] = qdb_trace_layer(t, i)->op;
	}
	return QDB_OK;
}

static int build_rows(struct qdb_session *s, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	struct qdb_align al;
	int rc;

	qdb_align_init(&al);
	rc = qdb_align_layers(&al, sg->names[0], sg->n_layers[0], sg->names[1], sg->n_layers[1],
			      s->have_rules ? &s->rules : NULL, err);
	if (rc)
		goto out;
	s->n_rows = al.n_pairs;
	s->rows = qdb_calloc(al.n_pairs ? (size_t)al.n_pairs : 1, sizeof *s->rows);
	if (!s->rows) {
		rc = qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		goto out;
	}
	int b_graph = sg->side[1].g != NULL;
	if (b_graph) {
		int n = sg->side[1].g->n_nodes;
		sg->row_of_bnode = qdb_alloc_array(n ? (size_t)n : 1, sizeof *sg->row_of_bnode);
		if (!sg->row_of_bnode) {
			rc = qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
			goto out;
		}
		for (int i = 0; i < n; i++)
			sg->row_of_bnode[i] = -1;
	}
	for (int i = 0; i < al.n_pairs; i++) {
		struct qdb_session_row *r = &s->rows[i];
		int a = al.pairs[i].a, b = al.pairs[i].b;
		r->name = sg->names[0][a];
		r->name_b = sg->names[1][b];
		r->op = sg->ops[1][b] && *sg->ops[1][b] ? sg->ops[1][b] : sg->ops[0][a];
		r->a = a;
		r->b = b;
		r->node_b = b_graph ? b : -1;
		r->via_rule = al.pairs[i].via_rule;
		if (b_graph)
			sg->row_of_bnode[b] = i;
	}
	for (int k = 0; k < 2; k++) {
		int n = k ? al.n_only_b : al.n_only_a;
		const int *idx = k ? al.only_b : al.only_a;
		s->n_only[k] = n;
		s->only[k] = qdb_calloc(n ? (size_t)n : 1, sizeof *s->only[k]);
		if (!s->only[k]) {
			rc = qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
			goto out;
		}
		for (int i = 0; i < n; i++)
			s->only[k][i] = sg->names[k][idx[i]];
	}
	/* The output row: where the graph's first output is produced (B's,
	 * else A's), else the last row. */
	s->output_row = -1;
	for (int k = 1; k >= 0 && s->output_row < 0; k--) {
		const struct qdb_graph *g = sg->side[k].g;
		if (!g || g->n_outputs == 0)
			continue;
		int p = g->values[g->outputs[0]].producer;
		for (int i = 0; i < s->n_rows && p >= 0; i++)
			if ((k ? s->rows[i].b : s->rows[i].a) == p)
				s->output_row = i;
	}
	if (s->output_row < 0)
		s->output_row = s->n_rows - 1;
out:
	qdb_align_done(&al);
	return rc;
}

static int build_samples(struct qdb_session *s, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	int64_t n = qdb_dataset_count(sg->ds);
	if (s->max_samples > 0 && n > s->max_samples)
		n = s->max_samples;
	if (n > INT32_MAX / 2)
		n = INT32_MAX / 2;
	sg->sample_ds = qdb_alloc_array(n ? (size_t)n : 1, sizeof *sg->sample_ds);
	s->sample_names = qdb_calloc(n ? (size_t)n : 1, sizeof *s->sample_names);
	for (int k = 0; k < 2; k++)
		if (!sg->side[k].g) {
			sg->sample_tr[k] = qdb_alloc_array(n ? (size_t)n : 1, sizeof *sg->sample_tr[k]);
			if (!sg->sample_tr[k])
				return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		}
	if (!sg->sample_ds || !s->sample_names)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	int m = 0;
	for (int64_t i = 0; i < n; i++) {
		const struct qdb_sample_id *id = qdb_dataset_id(sg->ds, i);
		int skip = 0;
		for (int k = 0; k < 2; k++) {
			if (sg->side[k].g)
				continue;
			int ts = qdb_trace_find_sample(s->side[k].trace, id);
			if (ts < 0)
				skip = 1;
			else
				sg->sample_tr[k][m] = ts;
		}
		if (skip)
			continue;
		char buf[128];
		qdb_sample_id_str(id, buf, sizeof buf);
		s->sample_names[m] = qdb_strdup(buf);
		if (!s->sample_names[m])
			return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		sg->sample_ds[m] = i;
		m++;
		s->n_samples = m;
	}
	if (m == 0)
		return qdb_err_set(err, QDB_EINVAL, "%s: no sample of the dataset is in the trace%s",
				   qdb_dataset_path(sg->ds),
				   sg->side[0].g || sg->side[1].g ? "" : "s");
	s->n_cache = m;
	s->cache = qdb_calloc((size_t)m, sizeof *s->cache);
	if (!s->cache)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	return QDB_OK;
}

int qdb_session_graph_open(struct qdb_session *s, struct qdb_err *err)
{
	int rc;
	if (!s->data_path) {
		const char *gp = s->side[0].trace ? s->side[1].path : s->side[0].path;
		return qdb_err_set(err, QDB_EINVAL, "%s: a graph needs --data DS.qds to run on", gp);
	}
	s->g = qdb_calloc(1, sizeof *s->g);
	if (!s->g)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	rc = qdb_dataset_open(s->data_path, &s->g->ds, err);
	if (rc)
		return rc;
	for (int k = 0; k < 2; k++) {
		rc = s->side[k].trace ? trace_side_layers(s, k, err) : open_graph_side(s, k, err);
		if (rc)
			return rc;
	}
	rc = build_rows(s, err);
	if (!rc)
		rc = build_samples(s, err);
	if (rc)
		return rc;
	const struct qdb_graph *gb = s->g->side[1].g;
	if (gb) {
		s->g->saved_dev = qdb_alloc_array(gb->n_nodes ? (size_t)gb->n_nodes : 1,
						  sizeof *s->g->saved_dev);
		if (!s->g->saved_dev)
			return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		for (int i = 0; i < gb->n_nodes; i++)
			s->g->saved_dev[i] = gb->nodes[i].device;
	}
	return QDB_OK;
}

void qdb_session_graph_close(struct qdb_session *s)
{
	struct session_graph *sg = s->g;
	if (!sg)
		return;
	for (int k = 0; k < 2; k++) {
		struct gside *gs = &sg->side[k];
		if (gs->run)
			qdb_run_delete(gs->run);
		if (gs->x)
			qdb_exec_delete(gs->x);
		if (gs->g)
			qdb_graph_delete(gs->g);
		qdb_free(gs->in_map);
		qdb_free(sg->names[k]);
		qdb_free(sg->ops[k]);
		qdb_free(sg->sample_tr[k]);
	}
	if (sg->ds)
		qdb_dataset_close(sg->ds);
	qdb_free(sg->sample_ds);
	qdb_free(sg->row_of_bnode);
	qdb_free(sg->edits);
	qdb_free(sg->saved_dev);
	qdb_free(sg);
	s->g = NULL;
}

/* ---- running and cells ----------------------------------------------------- */

/* Brings every graph side's run to `sample` (only stale nodes run). */
static int ensure_runs(struct qdb_session *s, int sample, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	for (int k = 0; k < 2; k++) {
		struct gside *gs = &sg->side[k];
		if (!gs->g)
			continue;
		if (gs->run_sample != sample) {
			gs->run_sample = -1;
			for (int i = 0; i < gs->g->n_inputs; i++) {
				struct qdb_tensor in;
				qdb_tensor_init(&in);
				int rc = qdb_dataset_input(sg->ds, sg->sample_ds[sample], gs->in_map[i], &in, err);
				if (!rc)
					rc = qdb_run_set_input(gs->run, i, &in, err);
				qdb_tensor_done(&in);
				if (rc)
					return qdb_err_prefix(err, "%s: sample %s", s->side[k].path,
							      s->sample_names[sample]);
			}
		}
		int rc = qdb_run_forward(gs->run, NULL, NULL, err);
		if (rc)
			return qdb_err_prefix(err, "%s: sample %s", s->side[k].path,
					      s->sample_names[sample]);
		gs->run_sample = sample;
	}
	return QDB_OK;
}

/* Layer `layer` of side k at `sample` (runs must be current). *t points to
 * the value: into `view` for traces, into the run for graphs. Returns
 * QDB_ENOTFOUND when a trace has no record. */
static int layer_tensor(struct qdb_session *s, int k, int sample, int layer,
			struct qdb_tensor *view, const struct qdb_tensor **t, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	if (!sg->side[k].g) {
		int ts = sg->sample_tr[k][sample];
		if (!qdb_trace_has(s->side[k].trace, ts, layer))
			return qdb_err_set(err, QDB_ENOTFOUND, "no record");
		int rc = qdb_trace_get(s->side[k].trace, ts, layer, view, err);
		*t = view;
		return rc;
	}
	const struct qdb_graph *g = sg->side[k].g;
	const struct qdb_node *n = &g->nodes[layer];
	if (n->n_outputs < 1)
		return qdb_err_set(err, QDB_ENOTFOUND, "node %s has no output", n->name);
	*t = qdb_run_value(sg->side[k].run, n->outputs[0]);
	if (!*t)
		return qdb_err_set(err, QDB_ENOTFOUND, "%s: not computed", n->name);
	return QDB_OK;
}

/* Isolated mode: B's node of `row` evaluated on A's aligned inputs, into
 * the initialised tensor out (owned). */
static int eval_isolated(struct qdb_session *s, int sample, int row, struct qdb_tensor *out,
			 struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	const struct qdb_graph *gb = sg->side[1].g;
	const struct qdb_node *n = &gb->nodes[s->rows[row].node_b];
	const struct qdb_tensor *in[64];
	struct qdb_tensor views[64], extra[64];
	struct qdb_tensor *outs[64];
	int rc = QDB_OK;

	if (n->n_inputs > 64 || n->n_outputs > 64)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "%s: too many inputs", n->name);
	for (int i = 0; i < n->n_inputs; i++)
		qdb_tensor_init(&views[i]);
	for (int i = 0; i < n->n_inputs; i++) {
		int v = n->inputs[i], p = gb->values[v].producer;
		in[i] = NULL; /* constants, graph inputs: B's own value */
		if (p < 0 || gb->nodes[p].n_outputs < 1 || gb->nodes[p].outputs[0] != v)
			continue;
		int r = sg->row_of_bnode[p];
		if (r < 0)
			continue; /* no A counterpart: B's own value flows in */
		const struct qdb_tensor *t;
		if (layer_tensor(s, 0, sample, s->rows[r].a, &views[i], &t, err) == QDB_OK)
			in[i] = t;
	}
	outs[0] = out;
	for (int i = 1; i < n->n_outputs; i++) {
		qdb_tensor_init(&extra[i]);
		outs[i] = &extra[i];
	}
	rc = qdb_run_eval_node(sg->side[1].run, s->rows[row].node_b, in, outs, err);
	for (int i = 1; i < n->n_outputs; i++)
		qdb_tensor_done(&extra[i]);
	for (int i = 0; i < n->n_inputs; i++)
		qdb_tensor_done(&views[i]);
	return rc;
}

static void fill_cell(struct qdb_session *s, const struct qdb_tensor *a, const struct qdb_tensor *b,
		      int want_top1, struct qdb_compare_cell *c)
{
	struct qdb_err err;
	memset(c, 0, sizeof *c);
	if (qdb_tensor_numel(a) != qdb_tensor_numel(b)) {
		c->state = QDB_CELL_NUMEL;
		c->flags = QDB_CF_NUMEL;
		c->diverged = 1;
		return;
	}
	qdb_err_clear(&err);
	if (qdb_metrics_compute(a, b, s->atol, want_top1, &c->m, &err)) {
		c->state = QDB_CELL_ERROR;
		c->flags = QDB_CF_ERROR;
		return;
	}
	c->state = QDB_CELL_OK;
	if (!qdb_shape_equal(a, b))
		c->flags |= QDB_CF_SHAPE;
	if (c->m.nan_a || c->m.nan_b)
		c->flags |= QDB_CF_NAN;
	if (c->m.inf_a || c->m.inf_b)
		c->flags |= QDB_CF_INF;
	if (c->m.sat_a >= 0.01 || c->m.sat_b >= 0.01)
		c->flags |= QDB_CF_SAT;
	if (!c->m.b_quantized)
		c->flags |= QDB_CF_BFLOAT;
	c->diverged = (unsigned char)qdb_session_divergent(s, c, NULL);
}

static int compute_cell(struct qdb_session *s, int sample, int row, struct qdb_compare_cell *c,
			struct qdb_err *err)
{
	struct qdb_tensor va, vb, iso;
	const struct qdb_tensor *a = NULL, *b = NULL;
	int rc;

	qdb_tensor_init(&va);
	qdb_tensor_init(&vb);
	qdb_tensor_init(&iso);
	rc = layer_tensor(s, 0, sample, s->rows[row].a, &va, &a, err);
	if (!rc) {
		if (s->mode == QDB_MODE_ISOLATED) {
			rc = eval_isolated(s, sample, row, &iso, err);
			b = &iso;
		} else {
			rc = layer_tensor(s, 1, sample, s->rows[row].b, &vb, &b, err);
		}
	}
	if (rc == QDB_ENOTFOUND) {
		memset(c, 0, sizeof *c);
		c->state = QDB_CELL_MISSING;
		c->flags = QDB_CF_MISSING;
		rc = QDB_OK;
	} else if (rc) {
		memset(c, 0, sizeof *c);
		c->state = QDB_CELL_ERROR;
		c->flags = QDB_CF_ERROR;
	} else {
		fill_cell(s, a, b, row == s->output_row, c);
	}
	qdb_tensor_done(&va);
	qdb_tensor_done(&vb);
	qdb_tensor_done(&iso);
	return rc;
}

static void evict(struct qdb_session *s, int keep)
{
	while (s->cache_cells + s->n_rows > s->cache_limit) {
		int lru = -1;
		for (int i = 0; i < s->n_cache; i++)
			if (i != keep && s->cache[i].cells &&
			    (lru < 0 || s->cache[i].used < s->cache[lru].used))
				lru = i;
		if (lru < 0)
			return;
		qdb_free(s->cache[lru].cells);
		s->cache[lru].cells = NULL;
		s->cache_cells -= s->n_rows;
	}
}

static int compute_sample(struct qdb_session *s, int sample, struct qdb_err *err)
{
	int rc = ensure_runs(s, sample, err);
	if (rc)
		return rc;
	evict(s, sample);
	struct qdb_compare_cell *cells = qdb_calloc(s->n_rows ? (size_t)s->n_rows : 1, sizeof *cells);
	if (!cells)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	for (int r = 0; r < s->n_rows; r++) {
		rc = compute_cell(s, sample, r, &cells[r], err);
		if (rc) {
			/* A node that fails to evaluate (isolated mode) marks its
			 * cell; the others still compare. */
			rc = QDB_OK;
		}
	}
	qdb_free(s->cache[sample].cells);
	if (!s->cache[sample].cells)
		s->cache_cells += s->n_rows;
	s->cache[sample].cells = cells;
	s->cache[sample].used = ++s->clock;
	return QDB_OK;
}

int qdb_session_graph_cell(struct qdb_session *s, int sample, int row,
			   const struct qdb_compare_cell **cell, struct qdb_err *err)
{
	if (!s->cache[sample].cells) {
		int rc = compute_sample(s, sample, err);
		if (rc)
			return rc;
	}
	s->cache[sample].used = ++s->clock;
	*cell = &s->cache[sample].cells[row];
	return QDB_OK;
}

/* A view of a run's tensor that the caller may release with _done. */
static int view_of(struct qdb_tensor *dst, const struct qdb_tensor *src, struct qdb_err *err)
{
	int rc = qdb_tensor_view(dst, src->dtype, src->rank, src->shape, src->data, src->nbytes, err);
	if (!rc)
		rc = qdb_quant_copy(&dst->q, &src->q, err);
	return rc;
}

int qdb_session_graph_tensors(struct qdb_session *s, int sample, int row,
			      struct qdb_tensor *a, struct qdb_tensor *b, struct qdb_err *err)
{
	const struct qdb_tensor *ta, *tb;
	int rc = ensure_runs(s, sample, err);
	if (rc)
		return rc;
	rc = layer_tensor(s, 0, sample, s->rows[row].a, a, &ta, err);
	if (rc)
		return rc == QDB_ENOTFOUND ?
			qdb_err_set(err, rc, "%s: no record of %s at sample %s", s->side[0].path,
				    s->rows[row].name, s->sample_names[sample]) : rc;
	if (ta != a && (rc = view_of(a, ta, err)))
		return rc;
	if (s->mode == QDB_MODE_ISOLATED) {
		rc = eval_isolated(s, sample, row, b, err);
	} else {
		rc = layer_tensor(s, 1, sample, s->rows[row].b, b, &tb, err);
		if (rc == QDB_ENOTFOUND)
			rc = qdb_err_set(err, rc, "%s: no record of %s at sample %s", s->side[1].path,
					 s->rows[row].name_b, s->sample_names[sample]);
		else if (!rc && tb != b)
			rc = view_of(b, tb, err);
	}
	if (rc)
		qdb_tensor_done(a);
	return rc;
}

int qdb_session_graph_set_mode(struct qdb_session *s, enum qdb_session_mode m,
			       struct qdb_err *err)
{
	(void)m;
	if (!s->g || !s->g->side[1].g)
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "isolated mode needs B to be a graph (.qbc with --data)");
	return QDB_OK;
}

/* ---- devices and edits ------------------------------------------------- */

int qdb_session_device(const struct qdb_session *s, int row)
{
	/* Devices mean something only where integer kernels run. */
	if (!qdb_session_editable(s) || row < 0 || row >= s->n_rows || s->rows[row].node_b < 0)
		return -1;
	return qdb_run_device(s->g->side[1].run, s->rows[row].node_b);
}

int qdb_session_editable(const struct qdb_session *s)
{
	return s->g && s->g->side[1].g && s->g->side[1].g->stage == QDB_STAGE_QUANTIZED &&
		qdb_exec_semantics(s->g->side[1].x) == QDB_SEM_INTEGER;
}

/* Keeps the current sample's cells as the "before" snapshot. */
static int snapshot(struct qdb_session *s, int sample, struct qdb_err *err)
{
	const struct qdb_compare_cell *c;
	if (s->n_rows == 0)
		return QDB_OK;
	int rc = qdb_session_graph_cell(s, sample, 0, &c, err);
	if (rc)
		return rc;
	struct qdb_compare_cell *b = qdb_alloc_array(s->n_rows ? (size_t)s->n_rows : 1, sizeof *b);
	if (!b)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	memcpy(b, s->cache[sample].cells, (size_t)s->n_rows * sizeof *b);
	qdb_free(s->before);
	s->before = b;
	s->before_sample = sample;
	return QDB_OK;
}

/* After a device change: every cached sample is stale; recompute the
 * current one (its run re-runs the stale cone only). */
static int after_edit(struct qdb_session *s, int sample, struct qdb_err *err)
{
	qdb_session_drop_cache(s);
	return compute_sample(s, sample, err);
}

static int set_device(struct qdb_session *s, int node, enum qdb_device dev, int sample,
		      struct qdb_err *err)
{
	struct gside *gs = &s->g->side[1];
	if (!qdb_exec_can_run_on(gs->x, node, dev))
		return qdb_err_set(err, QDB_EUNSUPPORTED, "%s cannot run on %s", gs->g->nodes[node].name,
				   dev_name(dev));
	int rc = snapshot(s, sample, err);
	if (rc)
		return rc;
	rc = qdb_run_set_device(gs->run, node, dev, err);
	if (rc)
		return rc;
	return after_edit(s, sample, err);
}

int qdb_session_toggle_cpu(struct qdb_session *s, int row, int sample, struct qdb_err *err)
{
	if (!qdb_session_editable(s))
		return qdb_err_set(err, QDB_EUNSUPPORTED, "%s is not a quantized graph run on data",
				   s->side[1].path);
	if (row < 0 || row >= s->n_rows || sample < 0 || sample >= s->n_samples)
		return qdb_err_set(err, QDB_EINVAL, "session: no row %d / sample %d", row, sample);
	struct session_graph *sg = s->g;
	int node = s->rows[row].node_b;
	enum qdb_device from = qdb_run_device(sg->side[1].run, node);
	enum qdb_device to = from == QDB_DEV_CPU ? QDB_DEV_BPU : QDB_DEV_CPU;
	if (sg->n_edits == sg->cap_edits) {
		int cap = sg->cap_edits ? 2 * sg->cap_edits : 16;
		struct gedit *e = qdb_realloc(sg->edits, (size_t)cap * sizeof *e);
		if (!e)
			return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		sg->edits = e;
		sg->cap_edits = cap;
	}
	int rc = set_device(s, node, to, sample, err);
	if (rc)
		return rc;
	sg->edits[sg->n_edits++] = (struct gedit){node, from, to};
	return QDB_OK;
}

int qdb_session_undo(struct qdb_session *s, int sample, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	if (!sg || sg->n_edits == 0)
		return qdb_err_set(err, QDB_ENOTFOUND, "nothing to undo");
	struct gedit e = sg->edits[sg->n_edits - 1];
	int rc = set_device(s, e.node, e.from, sample, err);
	if (rc)
		return rc;
	sg->n_edits--;
	return QDB_OK;
}

int qdb_session_n_edits(const struct qdb_session *s)
{
	return s->g ? s->g->n_edits : 0;
}

int qdb_session_unsaved(const struct qdb_session *s)
{
	const struct session_graph *sg = s->g;
	if (!sg || !sg->side[1].g || !sg->saved_dev)
		return 0;
	for (int i = 0; i < sg->side[1].g->n_nodes; i++)
		if (qdb_run_device(sg->side[1].run, i) != sg->saved_dev[i])
			return 1;
	return 0;
}

const char *qdb_session_edit_str(const struct qdb_session *s, int i, char *dst, size_t n)
{
	if (n)
		dst[0] = 0;
	if (!s->g || i < 0 || i >= s->g->n_edits)
		return dst;
	const struct gedit *e = &s->g->edits[i];
	snprintf(dst, n, "%s: %s -> %s", s->g->side[1].g->nodes[e->node].name, dev_name(e->from),
		 dev_name(e->to));
	return dst;
}

int qdb_session_save(struct qdb_session *s, const char *path, struct qdb_err *err)
{
	struct session_graph *sg = s->g;
	if (!sg || !sg->side[1].g)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "%s is not a graph", s->side[1].path);
	const struct qdb_graph *gb = sg->side[1].g;
	int n = gb->n_nodes, n_cpu = 0, n_bpu = 0;
	char **cpu = qdb_calloc(n ? (size_t)n : 1, sizeof *cpu);
	char **bpu = qdb_calloc(n ? (size_t)n : 1, sizeof *bpu);
	struct qdb_graph *c = NULL;
	int rc = QDB_OK;

	if (!cpu || !bpu) {
		rc = qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		goto out;
	}
	/* The nodes whose device differs from the loaded file: edit.h moves
	 * them and appends the history records. */
	for (int i = 0; i < n; i++) {
		enum qdb_device d = qdb_run_device(sg->side[1].run, i);
		if (d != gb->nodes[i].device) {
			if (d == QDB_DEV_CPU)
				cpu[n_cpu++] = gb->nodes[i].name;
			else
				bpu[n_bpu++] = gb->nodes[i].name;
		}
	}
	c = qdb_graph_clone(gb, err);
	if (!c) {
		rc = err && err->code ? err->code : QDB_ENOMEM;
		goto out;
	}
	if (n_cpu + n_bpu)
		rc = qdb_graph_edit_devices(c, cpu, n_cpu, bpu, n_bpu, NULL, err);
	if (!rc)
		rc = qdb_graph_save(c, path, err);
	if (!rc)
		for (int i = 0; i < n; i++)
			sg->saved_dev[i] = qdb_run_device(sg->side[1].run, i);
out:
	if (c)
		qdb_graph_delete(c);
	qdb_free(cpu);
	qdb_free(bpu);
	return rc;
}
