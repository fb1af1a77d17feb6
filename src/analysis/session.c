/* session.c - two stages compared over samples, with a cell cache and edits.
 *
 * A trace/trace session is a thin layer over the comparison engine
 * (compare.c), which owns the cell cache. Sessions with a graph side run
 * the graph per sample (session_graph.c) and keep their own cache here,
 * per sample, dropped least-recently-used first.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/session.h"
#include "analysis/session_impl.h"
#include "base/alloc.h"

void qdb_session_opts_init(struct qdb_session_opts *o)
{
	memset(o, 0, sizeof *o);
	o->atol = 1e-5;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && !strcmp(s + n - k, suf);
}

/* A graph by extension; everything else is read as a trace (whose loader
 * says clearly what is wrong with a file that is neither). */
static int is_graph_path(const char *path)
{
	return has_suffix(path, ".qbc");
}

static int open_trace_side(struct session_side *sd, const char *path, struct qdb_err *err)
{
	int rc = qdb_trace_open(path, &sd->trace, err);
	if (rc)
		return rc;
	sd->kind = QDB_SOURCE_TRACE;
	sd->stage = qdb_trace_stage(sd->trace);
	return QDB_OK;
}

static int build_trace_rows(struct qdb_session *s, struct qdb_err *err)
{
	const struct qdb_align *al = qdb_compare_align(s->cmp);
	const struct qdb_trace *ta = s->side[0].trace, *tb = s->side[1].trace;

	s->n_rows = al->n_pairs;
	s->rows = qdb_calloc(s->n_rows ? (size_t)s->n_rows : 1, sizeof *s->rows);
	if (!s->rows)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	for (int i = 0; i < al->n_pairs; i++) {
		const struct qdb_trace_layer *la = qdb_trace_layer(ta, al->pairs[i].a);
		const struct qdb_trace_layer *lb = qdb_trace_layer(tb, al->pairs[i].b);
		struct qdb_session_row *r = &s->rows[i];
		r->name = la->name;
		r->name_b = lb->name;
		r->op = lb->op && *lb->op ? lb->op : la->op;
		r->a = al->pairs[i].a;
		r->b = al->pairs[i].b;
		r->node_b = -1;
		r->via_rule = al->pairs[i].via_rule;
	}
	for (int k = 0; k < 2; k++) {
		int n = k ? al->n_only_b : al->n_only_a;
		const int *idx = k ? al->only_b : al->only_a;
		const struct qdb_trace *t = k ? tb : ta;
		s->n_only[k] = n;
		s->only[k] = qdb_calloc(n ? (size_t)n : 1, sizeof *s->only[k]);
		if (!s->only[k])
			return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		for (int i = 0; i < n; i++)
			s->only[k][i] = qdb_trace_layer(t, idx[i])->name;
	}
	s->output_row = -1;
	int last_a = qdb_trace_n_layers(ta) - 1;
	for (int i = 0; i < s->n_rows; i++)
		if (s->rows[i].a == last_a)
			s->output_row = i;
	if (s->output_row < 0)
		s->output_row = s->n_rows - 1;
	return QDB_OK;
}

static int build_trace_samples(struct qdb_session *s, struct qdb_err *err)
{
	s->n_samples = qdb_compare_n_samples(s->cmp);
	s->sample_names = qdb_calloc(s->n_samples ? (size_t)s->n_samples : 1,
				     sizeof *s->sample_names);
	if (!s->sample_names)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	for (int i = 0; i < s->n_samples; i++) {
		char buf[128];
		qdb_sample_id_str(qdb_compare_sample_id(s->cmp, i), buf, sizeof buf);
		s->sample_names[i] = qdb_strdup(buf);
		if (!s->sample_names[i])
			return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	}
	return QDB_OK;
}

static int open_traces(struct qdb_session *s, struct qdb_err *err)
{
	struct qdb_compare_opts co;
	qdb_compare_opts_init(&co);
	co.rules = s->have_rules ? &s->rules : NULL;
	co.threshold = s->thr[0];
	co.atol = s->atol;
	int rc = qdb_compare_new(s->side[0].trace, s->side[1].trace, &co, &s->cmp, err);
	if (rc)
		return rc;
	rc = build_trace_rows(s, err);
	if (!rc)
		rc = build_trace_samples(s, err);
	return rc;
}

int qdb_session_open(const struct qdb_session_opts *o, struct qdb_session **out,
		     struct qdb_err *err)
{
	struct qdb_session *s = qdb_calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (!s)
		return qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
	s->atol = o->atol > 0 ? o->atol : 1e-5;
	s->n_thr = o->n_thresholds;
	if (s->n_thr > QDB_SESSION_MAX_THRESHOLDS)
		s->n_thr = QDB_SESSION_MAX_THRESHOLDS;
	for (int i = 0; i < s->n_thr; i++)
		s->thr[i] = o->thresholds[i];
	if (s->n_thr == 0) {
		rc = qdb_threshold_parse("cosine<0.99", &s->thr[0], err);
		if (rc)
			goto fail;
		s->n_thr = 1;
	}
	s->cache_limit = (int64_t)4 << 20;
	s->before_sample = -1;
	s->max_samples = o->max_samples;
	qdb_rules_init(&s->rules);
	if (o->map_path) {
		rc = qdb_rules_load(&s->rules, o->map_path, err);
		if (rc)
			goto fail;
		s->have_rules = 1;
	}

	const char *paths[2] = {o->a_path, o->b_path};
	int graphs = 0;
	for (int k = 0; k < 2; k++) {
		s->side[k].path = qdb_strdup(paths[k]);
		if (!s->side[k].path) {
			rc = qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
			goto fail;
		}
		if (is_graph_path(paths[k])) {
			graphs++;
			continue;
		}
		rc = open_trace_side(&s->side[k], paths[k], err);
		if (rc)
			goto fail;
	}
	if (o->data_path) {
		s->data_path = qdb_strdup(o->data_path);
		if (!s->data_path) {
			rc = qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
			goto fail;
		}
	}
	if (graphs)
		rc = qdb_session_graph_open(s, err);
	else
		rc = open_traces(s, err);
	if (rc)
		goto fail;
	*out = s;
	return QDB_OK;
fail:
	qdb_session_close(s);
	return rc;
}

void qdb_session_drop_cache(struct qdb_session *s)
{
	for (int i = 0; i < s->n_cache; i++) {
		qdb_free(s->cache[i].cells);
		s->cache[i].cells = NULL;
	}
	s->cache_cells = 0;
	qdb_free(s->agg);
	s->agg = NULL;
}

void qdb_session_close(struct qdb_session *s)
{
	if (!s)
		return;
	qdb_session_graph_close(s);
	if (s->cmp)
		qdb_compare_delete(s->cmp);
	for (int k = 0; k < 2; k++) {
		if (s->side[k].trace)
			qdb_trace_close(s->side[k].trace);
		qdb_free(s->side[k].path);
		qdb_free(s->only[k]);
	}
	qdb_session_drop_cache(s);
	qdb_free(s->cache);
	if (s->sample_names)
		for (int i = 0; i < s->n_samples; i++)
			qdb_free(s->sample_names[i]);
	qdb_free(s->sample_names);
	qdb_free(s->rows);
	qdb_free(s->before);
	qdb_free(s->data_path);
	qdb_rules_done(&s->rules);
	qdb_free(s);
}

enum qdb_session_kind qdb_session_kind(const struct qdb_session *s, int side)
{
	return s->side[side ? 1 : 0].kind;
}

const char *qdb_session_path(const struct qdb_session *s, int side)
{
	return s->side[side ? 1 : 0].path;
}

const char *qdb_session_stage(const struct qdb_session *s, int side)
{
	const char *st = s->side[side ? 1 : 0].stage;
	return st ? st : "";
}

const char *qdb_session_data_path(const struct qdb_session *s)
{
	return s->data_path;
}

int qdb_session_n_rows(const struct qdb_session *s)
{
	return s->n_rows;
}

const struct qdb_session_row *qdb_session_row(const struct qdb_session *s, int row)
{
	if (row < 0 || row >= s->n_rows)
		return NULL;
	return &s->rows[row];
}

int qdb_session_find_row(const struct qdb_session *s, const char *name)
{
	for (int i = 0; i < s->n_rows; i++)
		if (!strcmp(s->rows[i].name, name))
			return i;
	for (int i = 0; i < s->n_rows; i++)
		if (!strcmp(s->rows[i].name_b, name))
			return i;
	return -1;
}

int qdb_session_n_only(const struct qdb_session *s, int side)
{
	return s->n_only[side ? 1 : 0];
}

const char *qdb_session_only_name(const struct qdb_session *s, int side, int i)
{
	int k = side ? 1 : 0;
	if (i < 0 || i >= s->n_only[k])
		return NULL;
	return s->only[k][i];
}

int qdb_session_output_row(const struct qdb_session *s)
{
	return s->output_row;
}

int qdb_session_n_samples(const struct qdb_session *s)
{
	return s->n_samples;
}

const char *qdb_session_sample_name(const struct qdb_session *s, int sample)
{
	if (sample < 0 || sample >= s->n_samples)
		return "";
	return s->sample_names[sample];
}

int qdb_session_find_sample(const struct qdb_session *s, const char *id)
{
	for (int i = 0; i < s->n_samples; i++)
		if (!strcmp(s->sample_names[i], id))
			return i;
	return -1;
}

int qdb_session_n_thresholds(const struct qdb_session *s)
{
	return s->n_thr;
}

const struct qdb_threshold *qdb_session_threshold(const struct qdb_session *s, int i)
{
	if (i < 0 || i >= s->n_thr)
		return NULL;
	return &s->thr[i];
}

void qdb_session_set_threshold(struct qdb_session *s, const struct qdb_threshold *t)
{
	s->thr[0] = *t;
	if (s->n_thr == 0)
		s->n_thr = 1;
	/* Aggregates count divergent samples with the primary threshold. */
	qdb_free(s->agg);
	s->agg = NULL;
}

const struct qdb_threshold *qdb_session_threshold_for(const struct qdb_session *s,
						      enum qdb_metric_id id)
{
	for (int i = 0; i < s->n_thr; i++)
		if (s->thr[i].metric == id)
			return &s->thr[i];
	return NULL;
}

/* ---- cells --------------------------------------------------------------- */

int qdb_session_cell(struct qdb_session *s, int sample, int row,
		     const struct qdb_compare_cell **cell, struct qdb_err *err)
{
	*cell = NULL;
	if (sample < 0 || sample >= s->n_samples || row < 0 || row >= s->n_rows)
		return qdb_err_set(err, QDB_EINVAL, "session: no cell (%d, %d)", sample, row);
	if (s->cmp)
		return qdb_compare_cell(s->cmp, row, sample, cell, err);
	return qdb_session_graph_cell(s, sample, row, cell, err);
}

const struct qdb_compare_cell *qdb_session_cached(const struct qdb_session *s,
						  int sample, int row)
{
	if (sample < 0 || sample >= s->n_samples || row < 0 || row >= s->n_rows)
		return NULL;
	if (s->cmp)
		return qdb_compare_peek(s->cmp, row, sample);
	if (sample >= s->n_cache || !s->cache[sample].cells)
		return NULL;
	const struct qdb_compare_cell *c = &s->cache[sample].cells[row];
	return c->state == QDB_CELL_EMPTY ? NULL : c;
}

int qdb_session_divergent(const struct qdb_session *s, const struct qdb_compare_cell *c,
			  const struct qdb_threshold *t)
{
	if (!c)
		return 0;
	if (!t)
		t = &s->thr[0];
	if (c->state == QDB_CELL_NUMEL)
		return 1;
	if (c->state != QDB_CELL_OK)
		return 0;
	if (c->m.nan_a != c->m.nan_b || c->m.inf_a != c->m.inf_b)
		return 1;
	if (!qdb_compare_metric_applies(c->flags, &c->m, t->metric))
		return 0;
	return qdb_threshold_crossed(t, &c->m);
}

/* Colouring limits for metrics the user gave no threshold for. */
static const char *const default_limits[] = {
	"cosine<0.99", "sqnr_db<20", "max_steps>3", "mismatch>0.1", "top1<1",
};

int qdb_session_grade(const struct qdb_session *s, const struct qdb_compare_cell *c,
		      enum qdb_metric_id id)
{
	struct qdb_threshold def;
	const struct qdb_threshold *t;

	if (!c || c->state != QDB_CELL_OK || !qdb_compare_metric_applies(c->flags, &c->m, id))
		return -1;
	t = qdb_session_threshold_for(s, id);
	if (!t) {
		for (size_t i = 0; i < sizeof default_limits / sizeof *default_limits; i++)
			if (!qdb_threshold_parse(default_limits[i], &def, NULL) && def.metric == id) {
				t = &def;
				break;
			}
		if (!t)
			return -1;
	}
	double v = qdb_metric_value(&c->m, id), lim = t->value;
	if (isnan(v) || qdb_threshold_crossed(t, &c->m))
		return 2;
	if (t->less) {
		/* Higher is better. Cosine-like metrics (limit near 1) are close
		 * within a decade of the limit's distance to 1; dB within 10 dB. */
		if (id == QDB_M_SQNR_DB)
			return v < lim + 10 ? 1 : 0;
		if (lim < 1 && lim > 0)
			return 1 - v > (1 - lim) / 10 ? 1 : 0;
		return 0;
	}
	return v > lim / 3 ? 1 : 0;
}

int qdb_session_find_divergent(struct qdb_session *s, int sample, int from, int dir,
			       const struct qdb_threshold *t, struct qdb_err *err)
{
	if (dir == 0)
		dir = 1;
	if (from < 0)
		from = dir > 0 ? 0 : -1;
	if (from >= s->n_rows)
		from = dir > 0 ? s->n_rows : s->n_rows - 1;
	for (int r = from; r >= 0 && r < s->n_rows; r += dir) {
		const struct qdb_compare_cell *c;
		int rc = qdb_session_cell(s, sample, r, &c, err);
		if (rc)
			return -rc;
		if (qdb_session_divergent(s, c, t))
			return r;
	}
	return -1;
}

int qdb_session_find_next(struct qdb_session *s, int *sample, int *row,
			  const struct qdb_threshold *t, qdb_session_progress_fn fn, void *user,
			  struct qdb_err *err)
{
	int from = *row < 0 ? 0 : *row;
	for (int i = *sample < 0 ? 0 : *sample; i < s->n_samples; i++, from = 0) {
		if (fn && fn(user, i - *sample, s->n_samples - *sample)) {
			qdb_err_set(err, QDB_ESTOPPED, "stopped at sample %s", s->sample_names[i]);
			return -QDB_ESTOPPED;
		}
		if (from >= s->n_rows)
			continue;
		int r = qdb_session_find_divergent(s, i, from, 1, t, err);
		if (r < -1)
			return r;
		if (r >= 0) {
			*sample = i;
			*row = r;
			return 1;
		}
	}
	return 0;
}

int qdb_session_tensors(struct qdb_session *s, int sample, int row,
			struct qdb_tensor *a, struct qdb_tensor *b, struct qdb_err *err)
{
	if (sample < 0 || sample >= s->n_samples || row < 0 || row >= s->n_rows)
		return qdb_err_set(err, QDB_EINVAL, "session: no cell (%d, %d)", sample, row);
	if (!s->cmp)
		return qdb_session_graph_tensors(s, sample, row, a, b, err);
	int rc = qdb_trace_get(s->side[0].trace, qdb_compare_sample_a(s->cmp, sample),
			       s->rows[row].a, a, err);
	if (rc)
		return rc;
	rc = qdb_trace_get(s->side[1].trace, qdb_compare_sample_b(s->cmp, sample),
			   s->rows[row].b, b, err);
	if (rc)
		qdb_tensor_done(a);
	return rc;
}

/* ---- mode and edits ------------------------------------------------------- */

enum qdb_session_mode qdb_session_mode(const struct qdb_session *s)
{
	return s->mode;
}

int qdb_session_set_mode(struct qdb_session *s, enum qdb_session_mode m,
			 struct qdb_err *err)
{
	if (m == s->mode)
		return QDB_OK;
	if (m == QDB_MODE_ISOLATED && s->side[1].kind != QDB_SOURCE_GRAPH)
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "isolated mode needs B to be a graph (.qbc with --data)");
	int rc = qdb_session_graph_set_mode(s, m, err);
	if (rc)
		return rc;
	s->mode = m;
	qdb_session_drop_cache(s);
	qdb_session_forget_before(s);
	return QDB_OK;
}

int qdb_session_before_sample(const struct qdb_session *s)
{
	return s->before_sample;
}

const struct qdb_compare_cell *qdb_session_before(const struct qdb_session *s, int row)
{
	if (s->before_sample < 0 || !s->before || row < 0 || row >= s->n_rows)
		return NULL;
	return s->before[row].state == QDB_CELL_EMPTY ? NULL : &s->before[row];
}

void qdb_session_forget_before(struct qdb_session *s)
{
	qdb_free(s->before);
	s->before = NULL;
	s->before_sample = -1;
}

/* ---- aggregate ------------------------------------------------------------ */

struct agg_acc {
	double sum[QDB_M_COUNT];
	int nsum[QDB_M_COUNT], nan_seen[QDB_M_COUNT];
	int cells, bfloat;
};

static void agg_begin(struct qdb_session *s, int row, struct qdb_compare_row *out)
{
	memset(out, 0, sizeof *out);
	out->pair = row;
	out->layer_a = s->rows[row].a;
	out->layer_b = s->rows[row].b;
	out->n_samples = s->n_samples;
	out->first_diverged_sample = -1;
	for (int k = 0; k < QDB_M_COUNT; k++) {
		out->agg[k].mean = NAN;
		out->agg[k].worst = NAN;
		out->agg[k].worst_sample = -1;
	}
}

static void agg_add(struct qdb_session *s, struct qdb_compare_row *out, struct agg_acc *acc,
		    int sample, const struct qdb_compare_cell *c)
{
	if (!c || c->state == QDB_CELL_EMPTY || c->state == QDB_CELL_ERROR) {
		out->n_error++;
		return;
	}
	out->flags |= c->flags;
	acc->cells++;
	acc->bfloat += (c->flags & QDB_CF_BFLOAT) != 0;
	if (c->state == QDB_CELL_MISSING) {
		out->n_missing++;
		return;
	}
	if (qdb_session_divergent(s, c, NULL)) {
		out->n_diverged++;
		if (out->first_diverged_sample < 0)
			out->first_diverged_sample = sample;
	}
	if (c->state == QDB_CELL_NUMEL) {
		out->n_numel++;
		return;
	}
	out->n_ok++;
	out->nan_a += c->m.nan_a;
	out->inf_a += c->m.inf_a;
	out->nan_b += c->m.nan_b;
	out->inf_b += c->m.inf_b;
	if (c->m.sat_a > out->sat_a)
		out->sat_a = c->m.sat_a;
	if (c->m.sat_b > out->sat_b)
		out->sat_b = c->m.sat_b;
	for (int k = 0; k < QDB_M_COUNT; k++) {
		if (!qdb_compare_metric_applies(c->flags, &c->m, k))
			continue;
		double v = qdb_metric_value(&c->m, k);
		struct qdb_compare_agg *g = &out->agg[k];
		g->n++;
		if (isnan(v)) {
			/* NaN is the worst value there is (compare.h). */
			if (!acc->nan_seen[k])
				g->worst_sample = sample;
			acc->nan_seen[k] = 1;
			g->worst = NAN;
			continue;
		}
		acc->sum[k] += v;
		acc->nsum[k]++;
		if (acc->nan_seen[k])
			continue;
		int high = qdb_metric_higher_is_better(k);
		if (g->worst_sample < 0 || (high ? v < g->worst : v > g->worst)) {
			g->worst = v;
			g->worst_sample = sample;
		}
	}
}

static void agg_end(struct qdb_compare_row *out, const struct agg_acc *acc)
{
	for (int k = 0; k < QDB_M_COUNT; k++)
		out->agg[k].mean = acc->nsum[k] ? acc->sum[k] / acc->nsum[k] : NAN;
	if (acc->bfloat < acc->cells)
		out->flags &= ~(unsigned)QDB_CF_BFLOAT;
}

int qdb_session_aggregate(struct qdb_session *s, qdb_session_progress_fn fn, void *user,
			  struct qdb_err *err)
{
	int rc = QDB_OK;
	size_t nr = s->n_rows ? (size_t)s->n_rows : 1;
	struct qdb_compare_row *agg = qdb_calloc(nr, sizeof *agg);
	struct agg_acc *acc = qdb_calloc(nr, sizeof *acc);

	if (!agg || !acc) {
		rc = qdb_err_set(err, QDB_ENOMEM, "session: out of memory");
		goto out;
	}
	for (int r = 0; r < s->n_rows; r++)
		agg_begin(s, r, &agg[r]);
	for (int i = 0; i < s->n_samples; i++) {
		if (fn && fn(user, i, s->n_samples)) {
			rc = qdb_err_set(err, QDB_ESTOPPED, "cancelled at sample %d of %d",
					 i + 1, s->n_samples);
			goto out;
		}
		/* The engine computes a trace sample's cells on all cores. */
		if (s->cmp) {
			rc = qdb_compare_fill(s->cmp, &i, 1, 0, err);
			if (rc)
				goto out;
		}
		for (int r = 0; r < s->n_rows; r++) {
			const struct qdb_compare_cell *c;
			rc = qdb_session_cell(s, i, r, &c, err);
			if (rc)
				goto out;
			agg_add(s, &agg[r], &acc[r], i, c);
		}
	}
	for (int r = 0; r < s->n_rows; r++)
		agg_end(&agg[r], &acc[r]);
	if (fn)
		fn(user, s->n_samples, s->n_samples);
	qdb_free(s->agg);
	s->agg = agg;
	agg = NULL;
out:
	qdb_free(agg);
	qdb_free(acc);
	return rc;
}

const struct qdb_compare_row *qdb_session_agg(const struct qdb_session *s, int row)
{
	if (!s->agg || row < 0 || row >= s->n_rows)
		return NULL;
	return &s->agg[row];
}

int qdb_session_sample_row(struct qdb_session *s, int sample, int row,
			   struct qdb_compare_row *out, struct qdb_err *err)
{
	const struct qdb_compare_cell *c;
	struct agg_acc acc;
	int rc = qdb_session_cell(s, sample, row, &c, err);
	if (rc)
		return rc;
	memset(&acc, 0, sizeof acc);
	agg_begin(s, row, out);
	out->n_samples = 1;
	agg_add(s, out, &acc, sample, c);
	agg_end(out, &acc);
	return QDB_OK;
}

void qdb_session_set_cache_limit(struct qdb_session *s, int64_t cells)
{
	s->cache_limit = cells > 0 ? cells : 1;
}
