/* sensitivity.c - the revert / quantize sensitivity engine (see
 * sensitivity.h).
 *
 * Per record, each thread computes the unmodified run(s) once, then every
 * unit as a variant of them:
 *  - revert: the node evaluated on cpu (qdb_run_eval_node on a context run
 *    whose only cpu change is that node), then its consumers on bpu, node by
 *    node, over an overlay of the values that changed; when the graph has
 *    cpu nodes next to the reverted one (where values cross as float, not
 *    in their visible form) the executor's own cone rerun is used instead:
 *    qdb_run_copy of the candidate run, the device set, qdb_run_forward;
 *  - quantize: an overlay of changed values over the base run (the float
 *    run for "only", the fake-quant run for "except"); nodes from the
 *    unit's first one on are evaluated with qdb_run_eval_node when one of
 *    their inputs changed, and their outputs fake-quantized as the
 *    experiment says, exactly as the FAKEQUANT executor does it (same
 *    qparams, qdb_fake_quant_buf).
 * Both overlays stop early: a recomputed value identical to the base run's
 * (a pooling, a reshape, a requantization that lands on the same integers)
 * is dropped from the overlay, so its consumers are not recomputed.
 * Each record's score contributions are stored and summed in record order
 * at the end, so the result does not depend on the thread count (when
 * that storage would exceed STORE_MAX bytes, threads accumulate their own
 * sums instead, and the last digits may vary with -j).
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis/eval.h"
#include "analysis/sensitivity.h"
#include "base/alloc.h"
#include "ops/quant.h"
#include "tensor/metrics.h"

const char *qdb_sens_mode_name(enum qdb_sens_mode m)
{
	return m == QDB_SENS_QUANTIZE ? "quantize" : "revert";
}

int qdb_sens_mode_parse(const char *s, enum qdb_sens_mode *out)
{
	if (!strcmp(s, "revert"))
		*out = QDB_SENS_REVERT;
	else if (!strcmp(s, "quantize"))
		*out = QDB_SENS_QUANTIZE;
	else
		return -1;
	return 0;
}

static const char *const metric_names[] = {"cosine", "sqnr", "top1", "custom"};

const char *qdb_sens_metric_name(enum qdb_sens_metric m)
{
	return (unsigned)m < 4 ? metric_names[m] : "?";
}

int qdb_sens_metric_parse(const char *s, enum qdb_sens_metric *out)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, metric_names[i])) {
			*out = (enum qdb_sens_metric)i;
			return 0;
		}
	if (!strcmp(s, "sqnr_db")) {
		*out = QDB_SENS_SQNR;
		return 0;
	}
	return -1;
}

void qdb_sens_opts_init(struct qdb_sens_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n_records = -1;
	o->ref_layer = -1;
}

void qdb_sens_result_init(struct qdb_sens_result *r)
{
	memset(r, 0, sizeof *r);
	r->baseline = r->float_score = NAN;
}

void qdb_sens_result_done(struct qdb_sens_result *r)
{
	for (int i = 0; r->units && i < r->n_units; i++) {
		qdb_free(r->units[i].name);
		qdb_free(r->units[i].values);
	}
	qdb_free(r->units);
	qdb_sens_result_init(r);
}

/* ---- accumulators ---- */

#define STORE_MAX ((size_t)1 << 30)

struct acc {
	double sum;        /* cosine, hits or custom scores */
	double sig, noise; /* sqnr */
	int64_t n;
};

static void acc_add(struct acc *a, const struct acc *b)
{
	a->sum += b->sum;
	a->sig += b->sig;
	a->noise += b->noise;
	a->n += b->n;
}

static double acc_value(const struct acc *a, enum qdb_sens_metric m)
{
	if (a->n == 0)
		return NAN;
	if (m == QDB_SENS_SQNR)
		return a->noise > 0 ? 10.0 * log10(a->sig / a->noise) : INFINITY;
	return a->sum / (double)a->n;
}

/* ---- the engine ---- */

struct engine {
	const struct qdb_exec *x;      /* candidate */
	struct qdb_exec *xf;           /* quantize: FLOAT executor of the same graph (owned) */
	const struct qdb_graph *g;
	const struct qdb_dataset *d;
	const struct qdb_sens_opts *o;
	int *map;                      /* graph input -> dataset input */
	int64_t *recs;
	int64_t n_recs;
	int *ref_sample;               /* trace reference: sample per record */
	int labeled;                   /* top1 against class labels */
	struct qdb_sens_unit *units;
	int nu;
	int *start;                    /* first node of each unit's cone */
	unsigned char *exec_path;      /* revert: unit needs the executor's rerun */
	/* per-record contributions, slot-major (slots: unit "only"/revert
	 * 0..nu-1, "except" nu..2nu-1, base 2nu, float 2nu+1), or NULL */
	double *rec_val, *rec_noise, *rec_sig;
	/* naive quantize: per unit, graphs without fake quant where it is
	 * off, and their executors (only / except) */
	struct qdb_graph **ng;
	struct qdb_exec **nx;
	/* shared progress */
	atomic_llong next, done;
	atomic_int stop;
	pthread_mutex_t lock;
	int rc;
	struct qdb_err err;
};

struct tstate {
	struct engine *e;
	struct qdb_run *base;   /* candidate run (revert: int; quantize: fake quant) */
	struct qdb_run *basef;  /* quantize: float run, also the eval_node context */
	struct qdb_run *var;    /* revert: variant (executor path) */
	struct qdb_run *ctx;    /* revert: eval_node context (overlay path) */
	struct qdb_run *ref;    /* reference executor's run */
	struct qdb_tensor *ov;  /* overlay, one per value */
	unsigned char *set, *mark;
	struct acc *acc;        /* per slot, when records are not stored */
	int64_t *ucomp;         /* nu node evaluations per unit */
	int64_t computed;
	double sig;             /* sum ref^2 of the current record */
};

static void fail(struct engine *e, int rc, const struct qdb_err *err)
{
	pthread_mutex_lock(&e->lock);
	if (!e->rc) {
		e->rc = rc;
		e->err = *err;
	}
	pthread_mutex_unlock(&e->lock);
	atomic_store(&e->stop, 1);
}

/* The quantization a value gets under FAKEQUANT (as exec.c decides it),
 * or NULL. */
static const struct qdb_quant *value_quant(const struct qdb_graph *g, int v, enum qdb_dtype *qd)
{
	const struct qdb_value *val = &g->values[v];
	if (val->q.n > 0) {
		*qd = val->qdtype;
		return &val->q;
	}
	if (val->constant >= 0 && g->constants[val->constant].t.q.n > 0 &&
	    !qdb_dtype_is_int(g->constants[val->constant].t.dtype)) {
		*qd = QDB_F32;
		return &g->constants[val->constant].t.q;
	}
	return NULL;
}

static void fake_quant(const struct qdb_graph *g, int v, struct qdb_tensor *t)
{
	enum qdb_dtype qd;
	const struct qdb_quant *q = value_quant(g, v, &qd);
	if (q && t->dtype == QDB_F32)
		qdb_fake_quant_buf(t->data, t->rank, t->shape, q, qd);
}

/* Score of out against ref for record i, into slot (see struct engine). */
static int score(struct engine *e, struct tstate *t, int64_t i, const struct qdb_tensor *out,
		 const struct qdb_tensor *ref, int slot, struct qdb_err *err)
{
	const struct qdb_sens_opts *o = e->o;
	double val = 0, noise = 0;
	switch (o->metric) {
	case QDB_SENS_COSINE:
	case QDB_SENS_SQNR: {
		struct qdb_metrics m;
		int rc = qdb_metrics_compute(ref, out, 1e-5, 0, &m, err);
		if (rc)
			return rc;
		val = m.cosine;
		noise = m.mse * (double)m.count;
		break;
	}
	case QDB_SENS_TOP1: {
		int64_t p = qdb_eval_top1(out);
		int64_t want = e->labeled ? qdb_dataset_label_class(e->d, e->recs[i]) : qdb_eval_top1(ref);
		val = p >= 0 && p == want;
		break;
	}
	case QDB_SENS_CUSTOM: {
		int rc = o->fn(o->fn_user, e->recs[i], out, ref, &val, err);
		if (rc)
			return rc;
		break;
	}
	}
	if (e->rec_val) {
		size_t k = (size_t)slot * (size_t)e->n_recs + (size_t)i;
		e->rec_val[k] = val;
		e->rec_noise[k] = noise;
		e->rec_sig[i] = t->sig;
	} else {
		struct acc *a = &t->acc[slot];
		a->sum += val;
		a->noise += noise;
		a->sig += t->sig;
		a->n++;
	}
	return QDB_OK;
}

static int count_hook(void *ctx, struct qdb_run *r, int node, const struct qdb_tensor *const *out,
		      int n_out)
{
	(void)r;
	(void)node;
	(void)out;
	(void)n_out;
	(*(int64_t *)ctx)++;
	return 0;
}

/* 1 when a and b hold the same bytes (so consumers would compute the same). */
static int same_tensor(const struct qdb_tensor *a, const struct qdb_tensor *b)
{
	return a && b && a->dtype == b->dtype && a->rank == b->rank && a->nbytes == b->nbytes &&
	       !memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->rank) &&
	       (a->nbytes == 0 || !memcmp(a->data, b->data, a->nbytes));
}

/* Overlay evaluation for quantize: base is the float run ("only") or the
 * fake-quant run ("except"); the unit's values are marked. Returns the
 * output tensor (overlay or base). */
static int overlay_eval(struct engine *e, struct tstate *t, int u, int except,
			const struct qdb_tensor **outp, struct qdb_err *err)
{
	const struct qdb_graph *g = e->g;
	const struct qdb_sens_unit *un = &e->units[u];
	struct qdb_run *base = except ? t->base : t->basef;
	memset(t->set, 0, (size_t)g->n_values);
	memset(t->mark, 0, (size_t)g->n_values);
	for (int k = 0; k < un->n_values; k++)
		t->mark[un->values[k]] = 1;
	/* values produced by no node: graph inputs and constants */
	for (int k = 0; k < un->n_values; k++) {
		int v = un->values[k];
		if (g->values[v].producer >= 0)
			continue;
		/* only: fake quant of the float value; except: the float value */
		const struct qdb_tensor *src = qdb_run_value(t->basef, v);
		if (!src)
			return qdb_err_set(err, QDB_EINVAL, "value %s not computed", g->values[v].name);
		int rc = qdb_tensor_copy(&t->ov[v], src, err);
		if (rc)
			return rc;
		if (!except)
			fake_quant(g, v, &t->ov[v]);
		t->set[v] = 1;
	}
	const struct qdb_tensor *in[64];
	struct qdb_tensor *out[64];
	for (int n = e->start[u]; n < g->n_nodes; n++) {
		const struct qdb_node *nd = &g->nodes[n];
		int dirty = 0, marked = 0;
		for (int k = 0; k < nd->n_inputs; k++)
			dirty |= t->set[nd->inputs[k]];
		for (int k = 0; k < nd->n_outputs; k++)
			marked |= t->mark[nd->outputs[k]];
		if (!dirty && !marked)
			continue;
		if (nd->n_inputs > 64 || nd->n_outputs > 64)
			return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: too many inputs", nd->name);
		if (dirty || except) {
			/* except: a marked output is recomputed without its fake quant */
			for (int k = 0; k < nd->n_inputs; k++) {
				int v = nd->inputs[k];
				/* NULL: the context run's own value, read without a
				 * copy; right when the base is the context (only) */
				in[k] = t->set[v] ? &t->ov[v] : except ? qdb_run_value(base, v) : NULL;
				if (except && !in[k])
					return qdb_err_set(err, QDB_EINVAL, "value %s not computed",
							   g->values[v].name);
			}
			for (int k = 0; k < nd->n_outputs; k++)
				out[k] = &t->ov[nd->outputs[k]];
			int rc = qdb_run_eval_node(t->basef, n, in, out, err);
			if (rc)
				return rc;
			t->computed++;
			for (int k = 0; k < nd->n_outputs; k++) {
				int w = nd->outputs[k];
				if (t->mark[w] != except) /* only: marked; except: unmarked */
					fake_quant(g, w, &t->ov[w]);
				/* unchanged: consumers read the base value */
				t->set[w] = !same_tensor(&t->ov[w], qdb_run_value(base, w));
			}
		} else {
			/* only, inputs unchanged, output marked: fake quant of the float value */
			for (int k = 0; k < nd->n_outputs; k++) {
				int w = nd->outputs[k];
				const struct qdb_tensor *src = qdb_run_value(base, w);
				int rc = src ? qdb_tensor_copy(&t->ov[w], src, err)
					     : qdb_err_set(err, QDB_EINVAL, "value %s not computed",
							   g->values[w].name);
				if (rc)
					return rc;
				if (t->mark[w])
					fake_quant(g, w, &t->ov[w]);
				t->set[w] = !same_tensor(&t->ov[w], src);
			}
		}
	}
	int ov = g->outputs[e->o->output];
	*outp = t->set[ov] ? &t->ov[ov] : qdb_run_output(base, e->o->output);
	return *outp ? QDB_OK : qdb_err_set(err, QDB_EINVAL, "output not computed");
}

/* Overlay evaluation for revert: node u on cpu, its cone on bpu. */
static int revert_eval(struct engine *e, struct tstate *t, int u, const struct qdb_tensor **outp,
		       struct qdb_err *err)
{
	const struct qdb_graph *g = e->g;
	int node = e->units[u].node;
	memset(t->set, 0, (size_t)g->n_values);
	int rc = qdb_run_set_device(t->ctx, node, QDB_DEV_CPU, err);
	const struct qdb_tensor *in[64];
	struct qdb_tensor *out[64];
	for (int n = node; n < g->n_nodes && !rc; n++) {
		const struct qdb_node *nd = &g->nodes[n];
		int dirty = n == node;
		for (int k = 0; k < nd->n_inputs; k++)
			dirty |= t->set[nd->inputs[k]];
		if (!dirty)
			continue;
		if (nd->n_inputs > 64 || nd->n_outputs > 64) {
			rc = qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: too many inputs", nd->name);
			break;
		}
		for (int k = 0; k < nd->n_inputs && !rc; k++) {
			int v = nd->inputs[k];
			/* constants: the context's own (same executor), no copy */
			if (!t->set[v] && g->values[v].constant >= 0) {
				in[k] = NULL;
				continue;
			}
			in[k] = t->set[v] ? &t->ov[v] : qdb_run_value(t->base, v);
			if (!in[k])
				rc = qdb_err_set(err, QDB_EINVAL, "value %s not computed", g->values[v].name);
		}
		for (int k = 0; k < nd->n_outputs; k++)
			out[k] = &t->ov[nd->outputs[k]];
		if (!rc)
			rc = qdb_run_eval_node(t->ctx, n, in, out, err);
		t->computed++;
		for (int k = 0; k < nd->n_outputs && !rc; k++) {
			int w = nd->outputs[k];
			t->set[w] = !same_tensor(&t->ov[w], qdb_run_value(t->base, w));
		}
	}
	struct qdb_err e2;
	int rc2 = qdb_run_set_device(t->ctx, node, QDB_DEV_BPU, &e2);
	if (!rc && rc2) {
		rc = rc2;
		*err = e2;
	}
	if (rc)
		return rc;
	int ov = g->outputs[e->o->output];
	*outp = t->set[ov] ? &t->ov[ov] : qdb_run_output(t->base, e->o->output);
	return *outp ? QDB_OK : qdb_err_set(err, QDB_EINVAL, "output not computed");
}

/* Naive: a whole fresh run of executor x on record i; *out stays valid
 * until the run in *keep is deleted. */
static int fresh_run(struct engine *e, const struct qdb_exec *x, int64_t i, int node,
		     struct qdb_run **keep, int64_t *computed, struct qdb_err *err)
{
	qdb_run_delete(*keep);
	*keep = NULL;
	int rc = qdb_run_new(x, keep, err);
	if (!rc)
		rc = qdb_eval_set_inputs(*keep, e->d, e->recs[i], e->map, err);
	if (!rc && node >= 0)
		rc = qdb_run_set_device(*keep, node, QDB_DEV_CPU, err);
	if (!rc)
		rc = qdb_run_forward(*keep, count_hook, computed, err);
	return rc;
}

static int do_record(struct engine *e, struct tstate *t, int64_t i, struct qdb_err *err)
{
	const struct qdb_sens_opts *o = e->o;
	int rc = qdb_eval_set_inputs(t->base, e->d, e->recs[i], e->map, err);
	if (!rc)
		rc = qdb_run_forward(t->base, count_hook, &t->computed, err);
	if (!rc && t->basef) {
		rc = qdb_eval_set_inputs(t->basef, e->d, e->recs[i], e->map, err);
		if (!rc)
			rc = qdb_run_forward(t->basef, count_hook, &t->computed, err);
	}
	if (rc)
		return rc;
	/* the reference output */
	const struct qdb_tensor *ref = NULL;
	struct qdb_tensor view;
	qdb_tensor_init(&view);
	if (t->ref) {
		rc = qdb_eval_set_inputs(t->ref, e->d, e->recs[i], e->map, err);
		if (!rc)
			rc = qdb_run_forward(t->ref, NULL, NULL, err);
		if (rc)
			return rc;
		ref = qdb_run_output(t->ref, o->ref_output);
	} else if (o->ref_t) {
		int layer = o->ref_layer >= 0 ? o->ref_layer : qdb_trace_n_layers(o->ref_t) - 1;
		rc = qdb_trace_get(o->ref_t, e->ref_sample[i], layer, &view, err);
		if (rc)
			return rc;
		ref = &view;
	} else if (t->basef) {
		ref = qdb_run_output(t->basef, o->output);
	}
	t->sig = 0;
	for (int64_t k = 0, n = ref ? qdb_tensor_numel(ref) : 0; k < n; k++) {
		double a = qdb_tensor_get_real(ref, k);
		if (isfinite(a))
			t->sig += a * a;
	}
	const struct qdb_tensor *out = qdb_run_output(t->base, o->output);
	rc = score(e, t, i, out, ref, 2 * e->nu, err);
	if (!rc && t->basef)
		rc = score(e, t, i, qdb_run_output(t->basef, o->output), ref, 2 * e->nu + 1, err);
	for (int u = 0; !rc && u < e->nu; u++) {
		if (atomic_load(&e->stop))
			break;
		const struct qdb_sens_unit *un = &e->units[u];
		int64_t before = t->computed;
		t->ucomp[u] -= before;
		if (o->mode == QDB_SENS_REVERT) {
			const struct qdb_tensor *vo = NULL;
			if (o->naive) {
				rc = fresh_run(e, e->x, i, un->node, &t->var, &t->computed, err);
			} else if (e->exec_path[u]) {
				rc = qdb_run_copy(t->var, t->base, err);
				if (!rc)
					rc = qdb_run_set_device(t->var, un->node, QDB_DEV_CPU, err);
				if (!rc)
					rc = qdb_run_forward(t->var, count_hook, &t->computed, err);
			} else {
				rc = revert_eval(e, t, u, &vo, err);
			}
			if (!rc && !vo)
				vo = qdb_run_output(t->var, o->output);
			if (!rc)
				rc = score(e, t, i, vo, ref, u, err);
		} else {
			for (int ex = 0; !rc && ex < 2; ex++) {
				const struct qdb_tensor *vo = NULL;
				if (o->naive) {
					rc = fresh_run(e, e->nx[2 * u + ex], i, -1, &t->var, &t->computed,
						       err);
					vo = rc ? NULL : qdb_run_output(t->var, o->output);
				} else {
					rc = overlay_eval(e, t, u, ex, &vo, err);
				}
				if (!rc)
					rc = score(e, t, i, vo, ref, ex ? e->nu + u : u, err);
			}
		}
		t->ucomp[u] += t->computed;
	}
	qdb_tensor_done(&view);
	if (rc && rc != QDB_ESTOPPED)
		qdb_err_prefix(err, "record %lld", (long long)e->recs[i] + 1);
	return rc;
}

static void tstate_done(struct tstate *t, const struct qdb_graph *g)
{
	qdb_run_delete(t->base);
	qdb_run_delete(t->basef);
	qdb_run_delete(t->var);
	qdb_run_delete(t->ctx);
	qdb_run_delete(t->ref);
	for (int v = 0; t->ov && v < g->n_values; v++)
		qdb_tensor_done(&t->ov[v]);
	qdb_free(t->ov);
	qdb_free(t->set);
	qdb_free(t->mark);
	qdb_free(t->acc);
	qdb_free(t->ucomp);
	memset(t, 0, sizeof *t);
}

static int tstate_init(struct tstate *t, struct engine *e, struct qdb_err *err)
{
	const struct qdb_graph *g = e->g;
	memset(t, 0, sizeof *t);
	t->e = e;
	size_t nu = (size_t)(e->nu ? e->nu : 1);
	t->acc = qdb_calloc(2 * nu + 2, sizeof *t->acc);
	t->ucomp = qdb_calloc(nu, sizeof *t->ucomp);
	t->ov = qdb_calloc((size_t)g->n_values + 1, sizeof *t->ov);
	t->set = qdb_calloc((size_t)g->n_values + 1, 1);
	t->mark = qdb_calloc((size_t)g->n_values + 1, 1);
	if (!t->acc || !t->ucomp || !t->ov || !t->set || !t->mark)
		return qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
	for (int v = 0; v < g->n_values; v++)
		qdb_tensor_init(&t->ov[v]);
	int rc = qdb_run_new(e->x, &t->base, err);
	if (!rc && e->xf)
		rc = qdb_run_new(e->xf, &t->basef, err);
	if (!rc && e->o->mode == QDB_SENS_REVERT && !e->o->naive)
		rc = qdb_run_new(e->x, &t->var, err);
	if (!rc && e->o->mode == QDB_SENS_REVERT && !e->o->naive)
		rc = qdb_run_new(e->x, &t->ctx, err);
	if (!rc && e->o->ref_x)
		rc = qdb_run_new(e->o->ref_x, &t->ref, err);
	return rc;
}

struct worker {
	pthread_t th;
	struct engine *e;
	struct tstate t;
	int calling;
};

static void work(struct worker *w)
{
	struct engine *e = w->e;
	struct qdb_err err;
	int rc = tstate_init(&w->t, e, &err);
	if (rc) {
		fail(e, rc, &err);
		return;
	}
	for (;;) {
		if (atomic_load(&e->stop))
			return;
		int64_t i = atomic_fetch_add(&e->next, 1);
		if (i >= e->n_recs)
			return;
		rc = do_record(e, &w->t, i, &err);
		if (rc) {
			fail(e, rc, &err);
			return;
		}
		int64_t done = atomic_fetch_add(&e->done, 1) + 1;
		if (w->calling && e->o->progress && e->o->progress(e->o->user, done, e->n_recs)) {
			qdb_err_set(&err, QDB_ESTOPPED, "stopped");
			fail(e, QDB_ESTOPPED, &err);
			return;
		}
	}
}

static void *worker_main(void *arg)
{
	work(arg);
	return NULL;
}

/* ---- units ---- */

static int want_node(const struct qdb_sens_opts *o, int n)
{
	if (!o->nodes)
		return 1;
	for (int k = 0; k < o->n_nodes; k++)
		if (o->nodes[k] == n)
			return 1;
	return 0;
}

static int add_unit(struct engine *e, const char *name, const char *op, int node, const int *vals,
		    int nv, struct qdb_err *err)
{
	struct qdb_sens_unit *u = &e->units[e->nu];
	memset(u, 0, sizeof *u);
	u->name = qdb_strdup(name);
	u->op = op;
	u->node = node;
	u->score_except = NAN;
	if (nv) {
		u->values = qdb_alloc_array((size_t)nv, sizeof *u->values);
		if (u->values)
			memcpy(u->values, vals, (size_t)nv * sizeof *vals);
	}
	u->n_values = nv;
	if (!u->name || (nv && !u->values)) {
		qdb_free(u->name);
		qdb_free(u->values);
		return qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
	}
	e->nu++;
	return QDB_OK;
}

static int build_units(struct engine *e, struct qdb_err *err)
{
	const struct qdb_graph *g = e->g;
	const struct qdb_sens_opts *o = e->o;
	e->units = qdb_calloc((size_t)g->n_values + (size_t)g->n_nodes + 1, sizeof *e->units);
	int *vals = qdb_alloc_array((size_t)g->n_values + 1, sizeof *vals);
	if (!e->units || !vals) {
		qdb_free(vals);
		return qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
	}
	int rc = QDB_OK;
	enum qdb_dtype qd;
	if (o->mode == QDB_SENS_REVERT) {
		for (int n = 0; n < g->n_nodes && !rc; n++)
			if (g->nodes[n].device == QDB_DEV_BPU && want_node(o, n) &&
			    qdb_exec_can_run_on(e->x, n, QDB_DEV_CPU))
				rc = add_unit(e, g->nodes[n].name, g->nodes[n].op_name, n, NULL, 0, err);
	} else if (o->by_value) {
		for (int v = 0; v < g->n_values && !rc; v++) {
			if (!value_quant(g, v, &qd))
				continue;
			int p = g->values[v].producer;
			if (o->nodes && (p < 0 || !want_node(o, p)))
				continue;
			rc = add_unit(e, g->values[v].name,
				      p >= 0 ? g->nodes[p].op_name
				      : g->values[v].constant >= 0 ? "weight" : "input",
				      p, &v, 1, err);
		}
	} else {
		/* graph inputs first, then per node: its quantized outputs and
		 * its quantized constant inputs (weights) */
		for (int i = 0; i < g->n_inputs && !rc && !o->nodes; i++) {
			int v = g->inputs[i];
			if (value_quant(g, v, &qd))
				rc = add_unit(e, g->values[v].name, "input", -1, &v, 1, err);
		}
		for (int n = 0; n < g->n_nodes && !rc; n++) {
			const struct qdb_node *nd = &g->nodes[n];
			int k = 0;
			for (int j = 0; j < nd->n_outputs; j++)
				if (value_quant(g, nd->outputs[j], &qd))
					vals[k++] = nd->outputs[j];
			for (int j = 0; j < nd->n_inputs; j++) {
				int v = nd->inputs[j];
				if (g->values[v].constant >= 0 && value_quant(g, v, &qd)) {
					int dup = 0;
					for (int m = 0; m < k; m++)
						dup |= vals[m] == v;
					if (!dup)
						vals[k++] = v;
				}
			}
			if (k && want_node(o, n))
				rc = add_unit(e, nd->name, nd->op_name, n, vals, k, err);
		}
	}
	qdb_free(vals);
	if (rc)
		return rc;
	e->start = qdb_alloc_array((size_t)(e->nu ? e->nu : 1), sizeof *e->start);
	e->exec_path = qdb_calloc((size_t)(e->nu ? e->nu : 1), 1);
	if (!e->start || !e->exec_path)
		return qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
	/* revert overlays pass values between nodes in their visible form;
	 * that is what forward does unless a value goes from a cpu node to a
	 * cpu node (then it stays float). Any such edge in the graph, or next
	 * to the reverted node, sends the unit to the executor's path. */
	int cpu_chain = 0;
	for (int n = 0; n < g->n_nodes; n++)
		for (int k = 0; k < g->nodes[n].n_inputs; k++) {
			int p = g->values[g->nodes[n].inputs[k]].producer;
			if (p >= 0 && g->nodes[p].device == QDB_DEV_CPU &&
			    g->nodes[n].device == QDB_DEV_CPU)
				cpu_chain = 1;
		}
	for (int u = 0; o->mode == QDB_SENS_REVERT && u < e->nu; u++) {
		int node = e->units[u].node;
		const struct qdb_node *nd = &g->nodes[node];
		int near_cpu = cpu_chain;
		for (int k = 0; k < nd->n_inputs; k++) {
			int p = g->values[nd->inputs[k]].producer;
			near_cpu |= p >= 0 && g->nodes[p].device == QDB_DEV_CPU;
		}
		for (int n = node + 1; n < g->n_nodes; n++)
			for (int k = 0; k < g->nodes[n].n_inputs; k++)
				if (g->values[g->nodes[n].inputs[k]].producer == node &&
				    g->nodes[n].device == QDB_DEV_CPU)
					near_cpu = 1;
		e->exec_path[u] = (unsigned char)near_cpu;
	}
	for (int u = 0; u < e->nu; u++) {
		int s = e->units[u].node >= 0 ? e->units[u].node : g->n_nodes;
		for (int k = 0; k < e->units[u].n_values; k++) {
			int v = e->units[u].values[k];
			if (g->values[v].producer >= 0) {
				if (g->values[v].producer < s)
					s = g->values[v].producer;
				continue;
			}
			for (int n = 0; n < g->n_nodes; n++)
				for (int j = 0; j < g->nodes[n].n_inputs; j++)
					if (g->nodes[n].inputs[j] == v && n < s)
						s = n;
		}
		e->start[u] = s;
	}
	return QDB_OK;
}

/* Naive quantize: for each unit, a copy of the graph with the qparams
 * removed where fake quant must be off, and its FAKEQUANT executor. */
static void strip(struct qdb_graph *g, int v)
{
	qdb_quant_done(&g->values[v].q);
	qdb_quant_init(&g->values[v].q);
	if (g->values[v].constant >= 0) {
		struct qdb_tensor *t = &g->constants[g->values[v].constant].t;
		if (!qdb_dtype_is_int(t->dtype)) {
			qdb_quant_done(&t->q);
			qdb_quant_init(&t->q);
		}
	}
}

static int build_naive(struct engine *e, struct qdb_err *err)
{
	const struct qdb_graph *g = e->g;
	e->ng = qdb_calloc((size_t)(2 * e->nu + 1), sizeof *e->ng);
	e->nx = qdb_calloc((size_t)(2 * e->nu + 1), sizeof *e->nx);
	unsigned char *mark = qdb_calloc((size_t)g->n_values + 1, 1);
	if (!e->ng || !e->nx || !mark) {
		qdb_free(mark);
		return qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
	}
	int rc = QDB_OK;
	enum qdb_dtype qd;
	for (int u = 0; u < e->nu && !rc; u++) {
		memset(mark, 0, (size_t)g->n_values);
		for (int k = 0; k < e->units[u].n_values; k++)
			mark[e->units[u].values[k]] = 1;
		for (int ex = 0; ex < 2 && !rc; ex++) {
			struct qdb_graph *c = qdb_graph_clone(g, err);
			if (!c) {
				rc = err->code ? err->code : QDB_ENOMEM;
				break;
			}
			e->ng[2 * u + ex] = c;
			for (int v = 0; v < g->n_values; v++)
				if (value_quant(g, v, &qd) && (ex ? mark[v] : !mark[v]))
					strip(c, v);
			rc = qdb_exec_new(c, QDB_SEM_FAKEQUANT, &e->nx[2 * u + ex], err);
		}
	}
	qdb_free(mark);
	return rc;
}

static int default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void engine_done(struct engine *e)
{
	for (int k = 0; e->nx && k < 2 * e->nu; k++)
		qdb_exec_delete(e->nx[k]);
	for (int k = 0; e->ng && k < 2 * e->nu; k++)
		qdb_graph_delete(e->ng[k]);
	qdb_free(e->nx);
	qdb_free(e->ng);
	qdb_exec_delete(e->xf);
	qdb_free(e->map);
	qdb_free(e->recs);
	qdb_free(e->ref_sample);
	qdb_free(e->start);
	qdb_free(e->exec_path);
	qdb_free(e->rec_val);
	qdb_free(e->rec_noise);
	qdb_free(e->rec_sig);
	/* e->units moves to the result */
}

static int check_opts(const struct qdb_exec *x, const struct qdb_dataset *d,
		      const struct qdb_sens_opts *o, struct qdb_err *err)
{
	const struct qdb_graph *g = qdb_exec_graph(x);
	enum qdb_exec_sem sem = qdb_exec_semantics(x);
	if (o->mode == QDB_SENS_REVERT && (g->stage != QDB_STAGE_QUANTIZED || sem != QDB_SEM_INTEGER))
		return qdb_err_set(err, QDB_EINVAL,
				   "sensitivity revert: needs a quantized graph run in integer semantics");
	if (o->mode == QDB_SENS_QUANTIZE && (g->stage != QDB_STAGE_QAT || sem != QDB_SEM_FAKEQUANT))
		return qdb_err_set(err, QDB_EINVAL,
				   "sensitivity quantize: needs a qat graph run in fake-quant semantics");
	if (o->output < 0 || o->output >= g->n_outputs)
		return qdb_err_set(err, QDB_EINVAL, "sensitivity: output %d out of range", o->output);
	if (o->metric == QDB_SENS_CUSTOM && !o->fn)
		return qdb_err_set(err, QDB_EINVAL, "sensitivity: custom metric without a function");
	int have_ref = o->ref_x || o->ref_t || o->mode == QDB_SENS_QUANTIZE;
	int labeled = qdb_dataset_label_kind(d) == QDB_LABEL_CLASS;
	if ((o->metric == QDB_SENS_COSINE || o->metric == QDB_SENS_SQNR) && !have_ref)
		return qdb_err_set(err, QDB_EINVAL,
				   "sensitivity: %s needs a reference (a qat graph or a trace)",
				   qdb_sens_metric_name(o->metric));
	if (o->metric == QDB_SENS_TOP1 && !have_ref && !labeled)
		return qdb_err_set(err, QDB_EINVAL,
				   "sensitivity: top1 needs class labels or a reference");
	if (o->ref_x && (o->ref_output < 0 || o->ref_output >= qdb_exec_graph(o->ref_x)->n_outputs))
		return qdb_err_set(err, QDB_EINVAL, "sensitivity: reference output out of range");
	if (o->ref_x && qdb_exec_graph(o->ref_x)->n_inputs != g->n_inputs)
		return qdb_err_set(err, QDB_EINVAL,
				   "sensitivity: the reference has %d inputs, the model %d",
				   qdb_exec_graph(o->ref_x)->n_inputs, g->n_inputs);
	return QDB_OK;
}

static int cmp_units(const void *pa, const void *pb)
{
	const struct qdb_sens_unit *a = pa, *b = pb;
	/* largest effect first; NaN last; then graph order */
	int na = isnan(a->effect), nb = isnan(b->effect);
	if (na != nb)
		return na - nb;
	if (!na && a->effect != b->effect)
		return a->effect > b->effect ? -1 : 1;
	return a->node - b->node;
}

int qdb_sens_run(const struct qdb_exec *x, const struct qdb_dataset *d,
		 const struct qdb_sens_opts *o, struct qdb_sens_result *res, struct qdb_err *err)
{
	qdb_sens_result_init(res);
	int rc = check_opts(x, d, o, err);
	if (rc)
		return rc;
	double t0 = now();
	struct engine e;
	memset(&e, 0, sizeof e);
	e.x = x;
	e.g = qdb_exec_graph(x);
	e.d = d;
	e.o = o;
	/* top1 counts against labels unless a reference was given */
	e.labeled = qdb_dataset_label_kind(d) == QDB_LABEL_CLASS && !o->ref_x && !o->ref_t;
	pthread_mutex_init(&e.lock, NULL);
	int64_t total = qdb_dataset_count(d);
	e.n_recs = o->records ? o->n_records : total;
	e.recs = qdb_alloc_array((size_t)(e.n_recs > 0 ? e.n_recs : 1), sizeof *e.recs);
	e.map = qdb_alloc_array((size_t)(e.g->n_inputs ? e.g->n_inputs : 1), sizeof *e.map);
	if (!e.recs || !e.map) {
		rc = qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
		goto out;
	}
	for (int64_t i = 0; i < e.n_recs; i++) {
		e.recs[i] = o->records ? o->records[i] : i;
		if (e.recs[i] < 0 || e.recs[i] >= total) {
			rc = qdb_err_set(err, QDB_EINVAL, "sensitivity: record %lld out of range",
					 (long long)e.recs[i] + 1);
			goto out;
		}
	}
	if ((rc = qdb_eval_bind_inputs(e.g, d, e.map, err)))
		goto out;
	if (o->ref_t) {
		e.ref_sample = qdb_alloc_array((size_t)(e.n_recs > 0 ? e.n_recs : 1), sizeof *e.ref_sample);
		if (!e.ref_sample) {
			rc = qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
			goto out;
		}
		for (int64_t i = 0; i < e.n_recs; i++) {
			const struct qdb_sample_id *id = qdb_dataset_id(d, e.recs[i]);
			e.ref_sample[i] = qdb_trace_find_sample(o->ref_t, id);
			if (e.ref_sample[i] < 0) {
				char b[64];
				rc = qdb_err_set(err, QDB_ENOTFOUND,
						 "%s: no sample %s (record %lld of %s)",
						 qdb_trace_path(o->ref_t), qdb_sample_id_str(id, b, sizeof b),
						 (long long)e.recs[i] + 1, qdb_dataset_path(d));
				goto out;
			}
		}
	}
	if (o->mode == QDB_SENS_QUANTIZE && (rc = qdb_exec_new(e.g, QDB_SEM_FLOAT, &e.xf, err)))
		goto out;
	if ((rc = build_units(&e, err)))
		goto out;
	if (o->naive && o->mode == QDB_SENS_QUANTIZE && (rc = build_naive(&e, err)))
		goto out;
	size_t cells;
	if (!qdb_mul_size((size_t)(2 * e.nu + 2), (size_t)(e.n_recs > 0 ? e.n_recs : 1), &cells) &&
	    cells <= STORE_MAX / (2 * sizeof(double))) {
		e.rec_val = qdb_calloc(cells, sizeof(double));
		e.rec_noise = qdb_calloc(cells, sizeof(double));
		e.rec_sig = qdb_calloc((size_t)(e.n_recs > 0 ? e.n_recs : 1), sizeof(double));
		if (!e.rec_val || !e.rec_noise || !e.rec_sig) {
			/* fall back to per-thread sums */
			qdb_free(e.rec_val);
			qdb_free(e.rec_noise);
			qdb_free(e.rec_sig);
			e.rec_val = e.rec_noise = e.rec_sig = NULL;
		}
	}

	int threads = o->threads > 0 ? o->threads : default_threads();
	if (o->metric == QDB_SENS_CUSTOM || threads > e.n_recs)
		threads = o->metric == QDB_SENS_CUSTOM || e.n_recs < 1 ? 1 : (int)e.n_recs;
	struct worker *ws = qdb_calloc((size_t)threads, sizeof *ws);
	if (!ws) {
		rc = qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
		goto out;
	}
	int started = 0;
	for (int k = 1; k < threads; k++) {
		ws[k].e = &e;
		if (pthread_create(&ws[k].th, NULL, worker_main, &ws[k]))
			break;
		started = k;
	}
	ws[0].e = &e;
	ws[0].calling = 1;
	work(&ws[0]);
	for (int k = 1; k <= started; k++)
		pthread_join(ws[k].th, NULL);

	/* merge: stored records in record order, else the threads' sums */
	int slots = 2 * e.nu + 2;
	struct acc *acc = qdb_calloc((size_t)slots, sizeof *acc);
	int64_t computed = 0;
	for (int k = 0; k <= started; k++) {
		struct tstate *t = &ws[k].t;
		if (acc && t->acc) {
			for (int sl = 0; sl < slots; sl++)
				acc_add(&acc[sl], &t->acc[sl]);
			for (int u = 0; u < e.nu; u++)
				e.units[u].computed += t->ucomp[u];
		}
		computed += t->computed;
		tstate_done(t, e.g);
	}
	qdb_free(ws);
	if (acc && e.rec_val && !e.rc) {
		int used = o->mode == QDB_SENS_QUANTIZE ? slots : e.nu; /* revert: no except/float */
		for (int sl = 0; sl < slots; sl++) {
			if (sl >= used && sl < 2 * e.nu)
				continue;
			for (int64_t i = 0; i < e.n_recs; i++) {
				size_t k = (size_t)sl * (size_t)e.n_recs + (size_t)i;
				acc[sl].sum += e.rec_val[k];
				acc[sl].noise += e.rec_noise[k];
				acc[sl].sig += e.rec_sig[i];
				acc[sl].n++;
			}
		}
	}
	if (e.rc) {
		rc = e.rc;
		*err = e.err;
	} else if (!acc) {
		rc = qdb_err_set(err, QDB_ENOMEM, "sensitivity: out of memory");
	}
	if (rc) {
		qdb_free(acc);
		goto out;
	}
	struct acc *acc_ex = acc + e.nu;
	struct acc base = acc[2 * e.nu], flt = acc[2 * e.nu + 1];
	res->mode = o->mode;
	res->metric = o->metric;
	res->n_records = e.n_recs;
	res->baseline = acc_value(&base, o->metric);
	res->float_score = o->mode == QDB_SENS_QUANTIZE ? acc_value(&flt, o->metric) : NAN;
	for (int u = 0; u < e.nu; u++) {
		struct qdb_sens_unit *un = &e.units[u];
		un->score = acc_value(&acc[u], o->metric);
		if (o->mode == QDB_SENS_QUANTIZE) {
			un->score_except = acc_value(&acc_ex[u], o->metric);
			un->effect = res->float_score - un->score;
		} else {
			un->effect = un->score - res->baseline;
		}
		/* an infinite sqnr on both sides is no effect */
		if (isnan(un->effect) && isinf(un->score))
			un->effect = 0;
	}
	qdb_free(acc);
	qsort(e.units, (size_t)e.nu, sizeof *e.units, cmp_units);
	res->units = e.units;
	res->n_units = e.nu;
	e.units = NULL;
	res->computed = computed;
	int variants = o->mode == QDB_SENS_QUANTIZE ? 2 : 1;
	int bases = o->mode == QDB_SENS_QUANTIZE ? 2 : 1;
	res->full = (int64_t)e.g->n_nodes * e.n_recs * ((int64_t)variants * e.nu + bases);
	res->threads = threads;
	res->seconds = now() - t0;
out:
	if (e.units) {
		for (int u = 0; u < e.nu; u++) {
			qdb_free(e.units[u].name);
			qdb_free(e.units[u].values);
		}
		qdb_free(e.units);
	}
	engine_done(&e);
	pthread_mutex_destroy(&e.lock);
	return rc;
}
