/* eval.c - evaluating a source over a dataset (see eval.h). */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "analysis/eval.h"
#include "base/alloc.h"
#include "ops/quant.h"
#include "tensor/metrics.h"

void qdb_eval_src_init(struct qdb_eval_src *s)
{
	memset(s, 0, sizeof *s);
	s->layer = -1;
}

void qdb_eval_opts_init(struct qdb_eval_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n_records = -1;
}

void qdb_eval_init(struct qdb_eval *e)
{
	memset(e, 0, sizeof *e);
	e->accuracy = NAN;
}

void qdb_eval_done(struct qdb_eval *e)
{
	for (int64_t i = 0; e->out && i < e->n; i++)
		qdb_tensor_done(&e->out[i]);
	qdb_free(e->out);
	qdb_free(e->record);
	qdb_free(e->pred);
	qdb_free(e->label);
	qdb_eval_init(e);
}

int64_t qdb_eval_top1(const struct qdb_tensor *t)
{
	int64_t n = qdb_tensor_numel(t);
	if (n <= 0)
		return -1;
	int64_t row = t->rank > 0 ? t->shape[t->rank - 1] : 1;
	if (row <= 0)
		return -1;
	int64_t best = -1;
	double bv = 0;
	for (int64_t i = 0; i < row; i++) {
		double v = qdb_tensor_get_real(t, i);
		if (isnan(v))
			continue;
		if (best < 0 || v > bv) {
			best = i;
			bv = v;
		}
	}
	return best;
}

int qdb_eval_bind_inputs(const struct qdb_graph *g, const struct qdb_dataset *d, int *map,
			 struct qdb_err *err)
{
	int nd = qdb_dataset_n_inputs(d);
	for (int i = 0; i < g->n_inputs; i++) {
		const char *name = g->values[g->inputs[i]].name;
		int k = qdb_dataset_find_input(d, name);
		if (k < 0 && g->n_inputs == 1 && nd == 1)
			k = 0;
		if (k < 0)
			return qdb_err_set(err, QDB_EINVAL, "%s: no input '%s' for the model",
					   qdb_dataset_path(d), name);
		map[i] = k;
	}
	return QDB_OK;
}

int qdb_eval_set_inputs(struct qdb_run *r, const struct qdb_dataset *d, int64_t rec,
			const int *map, struct qdb_err *err)
{
	const struct qdb_graph *g = qdb_exec_graph(qdb_run_exec(r));
	for (int i = 0; i < g->n_inputs; i++) {
		struct qdb_tensor v;
		qdb_tensor_init(&v);
		int rc = qdb_dataset_input(d, rec, map[i], &v, err);
		if (!rc)
			rc = qdb_run_set_input(r, i, &v, err);
		qdb_tensor_done(&v);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

struct job {
	const struct qdb_eval_src *src;
	const struct qdb_dataset *d;
	struct qdb_eval *res;
	const int *map;             /* graph input binding */
	int *trace_sample;          /* trace sources: sample index per item */
	atomic_llong next, done;
	atomic_int stop;
	pthread_mutex_t lock;
	int rc;
	struct qdb_err err;
};

static void job_fail(struct job *j, int rc, const struct qdb_err *err)
{
	pthread_mutex_lock(&j->lock);
	if (!j->rc) {
		j->rc = rc;
		j->err = *err;
	}
	pthread_mutex_unlock(&j->lock);
	atomic_store(&j->stop, 1);
}

static int run_item(struct job *j, struct qdb_run *r, int64_t i, struct qdb_err *err)
{
	struct qdb_eval *res = j->res;
	const struct qdb_tensor *out;
	struct qdb_tensor view;
	int rc;
	if (r) {
		rc = qdb_eval_set_inputs(r, j->d, res->record[i], j->map, err);
		if (!rc)
			rc = qdb_run_forward(r, NULL, NULL, err);
		if (rc)
			return rc;
		out = qdb_run_output(r, j->src->output);
		if (!out)
			return qdb_err_set(err, QDB_EINVAL, "output %d was not computed",
					   j->src->output);
		rc = qdb_to_f32_tensor(&res->out[i], out, err);
	} else {
		int layer = j->src->layer >= 0 ? j->src->layer : qdb_trace_n_layers(j->src->t) - 1;
		qdb_tensor_init(&view);
		rc = qdb_trace_get(j->src->t, j->trace_sample[i], layer, &view, err);
		if (!rc)
			rc = qdb_to_f32_tensor(&res->out[i], &view, err);
		qdb_tensor_done(&view);
	}
	if (!rc)
		res->pred[i] = qdb_eval_top1(&res->out[i]);
	return rc;
}

/* Takes items until none is left or the job stops; r is the thread's run
 * (NULL for a trace source). */
static void work(struct job *j, struct qdb_run *r, int calling, const struct qdb_eval_opts *o)
{
	struct qdb_err err;
	for (;;) {
		if (atomic_load(&j->stop))
			return;
		int64_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->res->n)
			return;
		int rc = run_item(j, r, i, &err);
		if (rc) {
			job_fail(j, rc, &err);
			return;
		}
		int64_t done = atomic_fetch_add(&j->done, 1) + 1;
		if (calling && o->progress && o->progress(o->user, done, j->res->n)) {
			qdb_err_set(&err, QDB_ESTOPPED, "stopped");
			job_fail(j, QDB_ESTOPPED, &err);
			return;
		}
	}
}

/* A run with the source's device overrides. */
static int new_run(const struct qdb_eval_src *src, struct qdb_run **out, struct qdb_err *err)
{
	int rc = qdb_run_new(src->x, out, err);
	for (int k = 0; !rc && k < src->n_dev; k++)
		rc = qdb_run_set_device(*out, src->dev_nodes[k], src->devs[k], err);
	if (rc && *out) {
		qdb_run_delete(*out);
		*out = NULL;
	}
	return rc;
}

struct worker {
	pthread_t th;
	struct job *j;
	const struct qdb_eval_opts *o;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct qdb_run *r = NULL;
	struct qdb_err err;
	if (w->j->src->x) {
		int rc = new_run(w->j->src, &r, &err);
		if (rc) {
			job_fail(w->j, rc, &err);
			return NULL;
		}
	}
	work(w->j, r, 0, w->o);
	qdb_run_delete(r);
	return NULL;
}

static int default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

int qdb_eval_run(const struct qdb_eval_src *src, const struct qdb_dataset *d,
		 const struct qdb_eval_opts *o, struct qdb_eval *res, struct qdb_err *err)
{
	struct qdb_eval_opts dflt;
	if (!o) {
		qdb_eval_opts_init(&dflt);
		o = &dflt;
	}
	qdb_eval_init(res);
	if (!!src->x == !!src->t)
		return qdb_err_set(err, QDB_EINVAL, "eval: give a graph or a trace");
	if (src->x && !d)
		return qdb_err_set(err, QDB_EINVAL, "eval: a graph needs a dataset");
	const struct qdb_graph *g = src->x ? qdb_exec_graph(src->x) : NULL;
	if (g && (src->output < 0 || src->output >= g->n_outputs))
		return qdb_err_set(err, QDB_EINVAL, "eval: output %d out of range (the model has %d)",
				   src->output, g->n_outputs);
	if (src->t && src->layer >= qdb_trace_n_layers(src->t))
		return qdb_err_set(err, QDB_EINVAL, "eval: layer %d out of range", src->layer);

	int64_t total = d ? qdb_dataset_count(d) : qdb_trace_n_samples(src->t);
	int64_t n = o->records ? o->n_records : total;
	for (int64_t i = 0; o->records && i < n; i++)
		if (o->records[i] < 0 || o->records[i] >= total)
			return qdb_err_set(err, QDB_EINVAL, "eval: record %lld out of range",
					   (long long)o->records[i]);
	size_t cnt = (size_t)(n > 0 ? n : 1);
	res->record = qdb_alloc_array(cnt, sizeof *res->record);
	res->out = qdb_alloc_array(cnt, sizeof *res->out);
	res->pred = qdb_alloc_array(cnt, sizeof *res->pred);
	res->label = qdb_alloc_array(cnt, sizeof *res->label);
	struct job j;
	memset(&j, 0, sizeof j);
	int map_buf[64];
	int *map = NULL;
	int rc = QDB_OK;
	if (!res->record || !res->out || !res->pred || !res->label) {
		qdb_eval_done(res);
		return qdb_err_set(err, QDB_ENOMEM, "eval: out of memory");
	}
	res->n = n;
	for (int64_t i = 0; i < n; i++) {
		qdb_tensor_init(&res->out[i]);
		res->record[i] = o->records ? o->records[i] : i;
		res->pred[i] = -1;
		res->label[i] = d && qdb_dataset_label_kind(d) == QDB_LABEL_CLASS
					? qdb_dataset_label_class(d, res->record[i])
					: -1;
	}
	if (g) {
		map = g->n_inputs <= 64 ? map_buf : qdb_alloc_array((size_t)g->n_inputs, sizeof *map);
		if (!map)
			rc = qdb_err_set(err, QDB_ENOMEM, "eval: out of memory");
		else
			rc = qdb_eval_bind_inputs(g, d, map, err);
	} else {
		j.trace_sample = qdb_alloc_array(cnt, sizeof *j.trace_sample);
		if (!j.trace_sample)
			rc = qdb_err_set(err, QDB_ENOMEM, "eval: out of memory");
		for (int64_t i = 0; !rc && i < n; i++) {
			if (!d) {
				j.trace_sample[i] = (int)res->record[i];
				continue;
			}
			const struct qdb_sample_id *id = qdb_dataset_id(d, res->record[i]);
			int s = qdb_trace_find_sample(src->t, id);
			if (s < 0) {
				char b[64];
				rc = qdb_err_set(err, QDB_ENOTFOUND, "%s: no sample %s (record %lld of %s)",
						 qdb_trace_path(src->t), qdb_sample_id_str(id, b, sizeof b),
						 (long long)res->record[i] + 1, qdb_dataset_path(d));
			}
			j.trace_sample[i] = s;
		}
	}
	if (rc)
		goto out;

	j.src = src;
	j.d = d;
	j.res = res;
	j.map = map;
	pthread_mutex_init(&j.lock, NULL);
	int threads = o->threads > 0 ? o->threads : default_threads();
	if (!src->x || threads > n)
		threads = n > 0 && src->x ? (int)n : 1;
	struct worker *ws = NULL;
	int started = 0;
	if (threads > 1) {
		ws = qdb_calloc((size_t)threads - 1, sizeof *ws);
		for (int k = 0; ws && k < threads - 1; k++) {
			ws[k].j = &j;
			ws[k].o = o;
			if (pthread_create(&ws[k].th, NULL, worker_main, &ws[k]))
				break;
			started++;
		}
	}
	struct qdb_run *r = NULL;
	if (src->x) {
		struct qdb_err e2;
		int rc2 = new_run(src, &r, &e2);
		if (rc2)
			job_fail(&j, rc2, &e2);
	}
	if (!atomic_load(&j.stop))
		work(&j, r, 1, o);
	qdb_run_delete(r);
	for (int k = 0; k < started; k++)
		pthread_join(ws[k].th, NULL);
	qdb_free(ws);
	pthread_mutex_destroy(&j.lock);
	if (j.rc) {
		rc = j.rc;
		*err = j.err;
		goto out;
	}
	if (o->progress && atomic_load(&j.done) < n)
		o->progress(o->user, n, n);
	for (int64_t i = 0; i < n; i++)
		if (res->label[i] >= 0) {
			res->n_labeled++;
			res->correct += res->pred[i] == res->label[i];
		}
	res->accuracy = res->n_labeled ? (double)res->correct / (double)res->n_labeled : NAN;
out:
	if (map && map != map_buf)
		qdb_free(map);
	qdb_free(j.trace_sample);
	if (rc)
		qdb_eval_done(res);
	return rc;
}

int qdb_eval_badcases(const struct qdb_eval *a, const struct qdb_eval *b, int by_top1,
		      double min_cosine, struct qdb_badcase **out, int64_t *n,
		      struct qdb_err *err)
{
	*out = NULL;
	*n = 0;
	if (a->n != b->n)
		return qdb_err_set(err, QDB_EINVAL, "badcases: %lld records against %lld",
				   (long long)a->n, (long long)b->n);
	struct qdb_badcase *v = qdb_alloc_array((size_t)(a->n ? a->n : 1), sizeof *v);
	if (!v)
		return qdb_err_set(err, QDB_ENOMEM, "badcases: out of memory");
	int64_t k = 0;
	for (int64_t i = 0; i < a->n; i++) {
		if (a->record[i] != b->record[i]) {
			qdb_free(v);
			return qdb_err_set(err, QDB_EINVAL,
					   "badcases: the evaluations cover different records");
		}
		struct qdb_metrics m;
		double cos = NAN;
		if (qdb_tensor_numel(&a->out[i]) == qdb_tensor_numel(&b->out[i]) &&
		    qdb_metrics_compute(&a->out[i], &b->out[i], 1e-5, 0, &m, NULL) == QDB_OK)
			cos = m.cosine;
		int bad = (by_top1 && a->pred[i] != b->pred[i]) ||
			  (min_cosine > -2 && !(cos >= min_cosine));
		if (!bad)
			continue;
		v[k].i = i;
		v[k].record = a->record[i];
		v[k].pred_a = a->pred[i];
		v[k].pred_b = b->pred[i];
		v[k].label = a->label[i] >= 0 ? a->label[i] : b->label[i];
		v[k].cosine = cos;
		k++;
	}
	*out = v;
	*n = k;
	return QDB_OK;
}
