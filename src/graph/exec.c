/* exec.c - the graph executor (see exec.h).
 *
 * Storage: one slot per value. `t` is the value as its producer made it
 * (the "primary": integer for bpu outputs of a quantized graph, f32
 * otherwise); `alt` caches the other domain: the dequantized f32 of an
 * integer primary (for cpu consumers), or the quantized form of an f32
 * primary (for bpu consumers, graph outputs, and so the visible form). One
 * cache suffices because an f32 primary only ever needs quantizing and an
 * integer one only dequantizing. Constants live in the executor instead.
 *
 * Staleness: done[n] says node n's outputs are current. Invalidating a node
 * clears it and walks the later nodes once (graph order is topological),
 * clearing every node with a stale input: that is the downstream cone.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "graph/exec.h"
#include "ops/kernel.h"
#include "ops/ops.h"
#include "ops/quant.h"

#define MAX_IO 64 /* the largest arity in ops.h (concat) */

struct node_exec {
	const struct qdb_kernel *kf, *ki; /* float, integer (INTEGER semantics) */
	void *prep_f, *prep_i;
	int f_ok, i_ok;                  /* kernel exists and prepared */
	struct qdb_err i_err;            /* why bpu is impossible, when !i_ok */
};

struct qdb_exec {
	const struct qdb_graph *g;
	enum qdb_exec_sem sem;     /* resolved */
	struct node_exec *nodes;
	int *const_of;             /* value -> constant index or -1 */
	struct qdb_tensor *cf;     /* per constant: f32 form for float kernels */
	int *cons_off, *cons;      /* consumers of value v: cons[cons_off[v] .. cons_off[v+1]) */
	size_t scratch;
};

struct slot {
	struct qdb_tensor t, alt;
	unsigned char valid, alt_valid;
};

struct qdb_run {
	const struct qdb_exec *x;
	struct slot *s;
	unsigned char *done;
	enum qdb_device *dev;
	void *scratch;
	size_t scratch_bytes;
	int first_stale; /* every node before it is done */
};

const char *qdb_exec_sem_name(enum qdb_exec_sem s)
{
	switch (s) {
	case QDB_SEM_NATIVE: return "native";
	case QDB_SEM_FLOAT: return "float";
	case QDB_SEM_FAKEQUANT: return "qat";
	case QDB_SEM_INTEGER: return "int";
	}
	return "?";
}

int qdb_exec_sem_parse(const char *s, enum qdb_exec_sem *out)
{
	static const enum qdb_exec_sem all[] = {QDB_SEM_NATIVE, QDB_SEM_FLOAT, QDB_SEM_FAKEQUANT,
						QDB_SEM_INTEGER};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		if (!strcmp(s, qdb_exec_sem_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	if (!strcmp(s, "fakequant")) {
		*out = QDB_SEM_FAKEQUANT;
		return 0;
	}
	return -1;
}

/* ---- tensors ---- */

/* Makes t an owned buffer of dtype/shape, reusing the old one when it fits. */
static int ensure(struct qdb_tensor *t, enum qdb_dtype dt, int rank, const int64_t *shape,
		  struct qdb_err *err)
{
	if (t->owns_data && t->data && t->dtype == dt && t->rank == rank &&
	    !memcmp(t->shape, shape, sizeof(int64_t) * (size_t)rank))
		return QDB_OK;
	return qdb_tensor_alloc(t, dt, rank, shape, err);
}

static int set_q(struct qdb_tensor *t, const struct qdb_quant *q, enum qdb_dtype dt,
		 struct qdb_err *err)
{
	if (!q || q->n == 0) {
		qdb_quant_done(&t->q);
		return QDB_OK;
	}
	if (qdb_quant_equal(&t->q, q, dt))
		return QDB_OK;
	qdb_quant_done(&t->q);
	return qdb_quant_copy(&t->q, q, err);
}

/* dst := src (owned copy, reusing dst's buffer). */
static int assign(struct qdb_tensor *dst, const struct qdb_tensor *src, struct qdb_err *err)
{
	int rc = ensure(dst, src->dtype, src->rank, src->shape, err);
	if (!rc && src->nbytes)
		memcpy(dst->data, src->data, src->nbytes);
	if (!rc) {
		qdb_quant_done(&dst->q);
		rc = qdb_quant_copy(&dst->q, &src->q, err);
	}
	return rc;
}

/* dst := src as f32 (dequantized), reusing dst's buffer. */
static int to_f32(struct qdb_tensor *dst, const struct qdb_tensor *src, struct qdb_err *err)
{
	int rc = ensure(dst, QDB_F32, src->rank, src->shape, err);
	if (rc)
		return rc;
	qdb_tensor_to_f32(src, dst->data);
	qdb_quant_done(&dst->q);
	return QDB_OK;
}

/* dst := quantize(src) with q into integer dtype dt, reusing dst's buffer. */
static int quantize_into(struct qdb_tensor *dst, const struct qdb_tensor *src,
			 const struct qdb_quant *q, enum qdb_dtype dt, struct qdb_err *err)
{
	if (src->dtype != QDB_F32 || ((uintptr_t)src->data % sizeof(float)))
		return qdb_quantize_tensor(dst, src, q, dt, err);
	int rc = ensure(dst, dt, src->rank, src->shape, err);
	if (!rc)
		rc = set_q(dst, q, dt, err);
	if (!rc)
		qdb_quantize_buf(src->data, src->rank, src->shape, q, dt, dst->data);
	return rc;
}

/* ---- executor ---- */

static const char *node_name(const struct qdb_graph *g, int n) { return g->nodes[n].name; }

/* Scale of an int32 bias stored without its own qparams: s_x * s_w[c] of
 * the first conv2d/linear that uses it (the `fixed` profile convention). */
static int bias_quant(const struct qdb_exec *x, int v, struct qdb_quant *q, struct qdb_err *err)
{
	const struct qdb_graph *g = x->g;
	for (int k = x->cons_off[v]; k < x->cons_off[v + 1]; k++) {
		const struct qdb_node *n = &g->nodes[x->cons[k]];
		if ((n->op != QDB_OP_CONV2D && n->op != QDB_OP_LINEAR) || n->n_inputs < 3 ||
		    n->inputs[2] != v)
			continue;
		const struct qdb_quant *qx = &g->values[n->inputs[0]].q;
		int wc = x->const_of[n->inputs[1]];
		const struct qdb_quant *qw = &g->values[n->inputs[1]].q;
		if (wc >= 0 && g->constants[wc].t.q.n > 0)
			qw = &g->constants[wc].t.q;
		if (qx->n != 1 || qw->n < 1)
			return 1;
		int64_t O = g->values[v].rank == 1 ? g->values[v].shape[0] : 0;
		if (qw->n != 1 && qw->n != O)
			return 1;
		double *s = qdb_alloc_array((size_t)(O ? O : 1), sizeof(double));
		if (!s)
			return qdb_err_set(err, QDB_ENOMEM, "out of memory"), -1;
		for (int64_t c = 0; c < O; c++)
			s[c] = qx->scale[0] * qw->scale[qw->n == 1 ? 0 : c];
		int rc = qdb_quant_set_channels(q, (int32_t)O, 0, s, NULL, INT64_MIN, INT64_MAX, err);
		qdb_free(s);
		return rc ? -1 : 0;
	}
	return 1;
}

static int prep_constant(struct qdb_exec *x, int c, struct qdb_err *err)
{
	const struct qdb_graph *g = x->g;
	const struct qdb_tensor *t = &g->constants[c].t;
	int v = g->constants[c].value;
	const struct qdb_value *val = &g->values[v];
	struct qdb_tensor *dst = &x->cf[c];
	int rc = qdb_tensor_alloc(dst, QDB_F32, t->rank, t->shape, err);
	if (rc)
		return rc;
	if (qdb_dtype_is_int(t->dtype)) {
		/* dequantize with the tensor's own params, else the graph's */
		struct qdb_tensor view = *t;
		struct qdb_quant bq;
		qdb_quant_init(&bq);
		view.owns_data = 0;
		if (t->q.n == 0 && val->q.n > 0) {
			view.q = val->q;
		} else if (t->q.n == 0) {
			int b = bias_quant(x, v, &bq, err);
			if (b < 0)
				return err ? err->code : QDB_ENOMEM;
			view.q = bq;
		}
		qdb_tensor_to_f32(&view, dst->data);
		qdb_quant_done(&bq);
		return QDB_OK;
	}
	qdb_tensor_to_f32(t, dst->data);
	if (x->sem == QDB_SEM_FAKEQUANT) {
		const struct qdb_quant *q = val->q.n > 0 ? &val->q : (t->q.n > 0 ? &t->q : NULL);
		enum qdb_dtype qd = val->q.n > 0 ? val->qdtype : QDB_F32;
		if (q) {
			qdb_fake_quant_buf(dst->data, dst->rank, dst->shape, q, qd);
			return qdb_quant_copy(&dst->q, q, err);
		}
	}
	return QDB_OK;
}

static int build_consumers(struct qdb_exec *x, struct qdb_err *err)
{
	const struct qdb_graph *g = x->g;
	int nv = g->n_values;
	x->cons_off = qdb_calloc((size_t)nv + 1, sizeof(int));
	int total = 0;
	for (int n = 0; n < g->n_nodes; n++)
		total += g->nodes[n].n_inputs;
	x->cons = qdb_alloc_array((size_t)(total ? total : 1), sizeof(int));
	int *fill = qdb_calloc((size_t)nv + 1, sizeof(int));
	if (!x->cons_off || !x->cons || !fill) {
		qdb_free(fill);
		return qdb_err_set(err, QDB_ENOMEM, "executor: out of memory");
	}
	for (int n = 0; n < g->n_nodes; n++)
		for (int k = 0; k < g->nodes[n].n_inputs; k++)
			x->cons_off[g->nodes[n].inputs[k] + 1]++;
	for (int v = 0; v < nv; v++)
		x->cons_off[v + 1] += x->cons_off[v];
	for (int n = 0; n < g->n_nodes; n++)
		for (int k = 0; k < g->nodes[n].n_inputs; k++) {
			int v = g->nodes[n].inputs[k];
			/* a node using a value twice is listed twice: harmless */
			x->cons[x->cons_off[v] + fill[v]++] = n;
		}
	qdb_free(fill);
	return QDB_OK;
}

static int prep_nodes(struct qdb_exec *x, struct qdb_err *err)
{
	const struct qdb_graph *g = x->g;
	for (int n = 0; n < g->n_nodes; n++) {
		struct node_exec *ne = &x->nodes[n];
		const struct qdb_node *nd = &g->nodes[n];
		int must_f = x->sem != QDB_SEM_INTEGER || nd->device == QDB_DEV_CPU;
		int rc;
		qdb_err_clear(&ne->i_err);
		ne->kf = qdb_kernel_for(nd->op, QDB_EXEC_FLOAT);
		if (!ne->kf) {
			if (must_f)
				return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: op %s has no float kernel",
						   nd->name, nd->op_name);
		} else if (ne->kf->prepare) {
			struct qdb_err e;
			qdb_err_clear(&e);
			rc = ne->kf->prepare(g, n, &ne->prep_f, &e);
			if (rc && must_f) {
				if (err)
					*err = e;
				return rc;
			}
			ne->f_ok = !rc;
		} else {
			ne->f_ok = 1;
		}
		if (x->sem != QDB_SEM_INTEGER)
			continue;
		ne->ki = qdb_kernel_for(nd->op, QDB_EXEC_INT);
		if (!ne->ki) {
			qdb_err_set(&ne->i_err, QDB_EUNSUPPORTED, "node %s: op %s has no integer kernel",
				    nd->name, nd->op_name);
		} else if (ne->ki->prepare) {
			rc = ne->ki->prepare(g, n, &ne->prep_i, &ne->i_err);
			ne->i_ok = !rc;
			if (rc && !ne->i_err.msg[0])
				qdb_err_set(&ne->i_err, rc, "node %s: integer kernel prepare failed", nd->name);
		} else {
			ne->i_ok = 1;
		}
		if (!ne->i_ok && nd->device == QDB_DEV_BPU) {
			if (err)
				*err = ne->i_err;
			return ne->i_err.code ? ne->i_err.code : QDB_EUNSUPPORTED;
		}
	}
	/* scratch: the largest any kernel may need, on either device */
	for (int n = 0; n < g->n_nodes; n++) {
		struct node_exec *ne = &x->nodes[n];
		size_t s;
		if (ne->f_ok && ne->kf->scratch_size &&
		    (s = ne->kf->scratch_size(g, n, ne->prep_f)) > x->scratch)
			x->scratch = s;
		if (ne->i_ok && ne->ki->scratch_size &&
		    (s = ne->ki->scratch_size(g, n, ne->prep_i)) > x->scratch)
			x->scratch = s;
	}
	return QDB_OK;
}

int qdb_exec_new(const struct qdb_graph *g, enum qdb_exec_sem sem, struct qdb_exec **out,
		 struct qdb_err *err)
{
	*out = NULL;
	if (sem == QDB_SEM_NATIVE)
		sem = g->stage == QDB_STAGE_QUANTIZED ? QDB_SEM_INTEGER
		      : g->stage == QDB_STAGE_QAT     ? QDB_SEM_FAKEQUANT
						      : QDB_SEM_FLOAT;
	if (sem == QDB_SEM_INTEGER && g->stage != QDB_STAGE_QUANTIZED)
		return qdb_err_set(err, QDB_EINVAL, "integer semantics need a quantized graph (stage is %s)",
				   qdb_stage_name(g->stage));
	for (int n = 0; n < g->n_nodes; n++) {
		const struct qdb_node *nd = &g->nodes[n];
		int ok = nd->n_inputs <= MAX_IO && nd->n_outputs <= MAX_IO && nd->op >= 0 &&
			 nd->op < QDB_OP_COUNT;
		for (int k = 0; ok && k < nd->n_inputs; k++)
			ok = g->values[nd->inputs[k]].rank >= 0;
		for (int k = 0; ok && k < nd->n_outputs; k++)
			ok = g->values[nd->outputs[k]].rank >= 0;
		if (!ok)
			return qdb_err_set(err, QDB_EINVAL, "node %s: graph not validated", nd->name);
	}

	struct qdb_exec *x = qdb_calloc(1, sizeof *x);
	if (!x)
		return qdb_err_set(err, QDB_ENOMEM, "executor: out of memory");
	x->g = g;
	x->sem = sem;
	x->nodes = qdb_calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *x->nodes);
	x->const_of = qdb_alloc_array((size_t)(g->n_values ? g->n_values : 1), sizeof(int));
	x->cf = qdb_alloc_array((size_t)(g->n_constants ? g->n_constants : 1), sizeof *x->cf);
	int rc;
	if (!x->nodes || !x->const_of || !x->cf) {
		qdb_free(x->nodes);
		qdb_free(x->const_of);
		qdb_free(x->cf);
		qdb_free(x);
		return qdb_err_set(err, QDB_ENOMEM, "executor: out of memory");
	}
	for (int c = 0; c < g->n_constants; c++)
		qdb_tensor_init(&x->cf[c]);
	for (int v = 0; v < g->n_values; v++)
		x->const_of[v] = -1;
	for (int c = 0; c < g->n_constants; c++)
		x->const_of[g->constants[c].value] = c;
	if ((rc = build_consumers(x, err)) || (rc = prep_nodes(x, err)))
		goto fail;
	for (int c = 0; c < g->n_constants; c++)
		if ((rc = prep_constant(x, c, err))) {
			qdb_err_prefix(err, "constant '%s'", g->values[g->constants[c].value].name);
			goto fail;
		}
	*out = x;
	return QDB_OK;
fail:
	qdb_exec_delete(x);
	return rc;
}

void qdb_exec_delete(struct qdb_exec *x)
{
	if (!x)
		return;
	const struct qdb_graph *g = x->g;
	for (int n = 0; n < g->n_nodes; n++) {
		struct node_exec *ne = &x->nodes[n];
		if (ne->prep_f && ne->kf && ne->kf->release)
			ne->kf->release(ne->prep_f);
		if (ne->prep_i && ne->ki && ne->ki->release)
			ne->ki->release(ne->prep_i);
	}
	for (int c = 0; c < g->n_constants; c++)
		qdb_tensor_done(&x->cf[c]);
	qdb_free(x->cf);
	qdb_free(x->nodes);
	qdb_free(x->const_of);
	qdb_free(x->cons_off);
	qdb_free(x->cons);
	qdb_free(x);
}

const struct qdb_graph *qdb_exec_graph(const struct qdb_exec *x) { return x->g; }
enum qdb_exec_sem qdb_exec_semantics(const struct qdb_exec *x) { return x->sem; }

int qdb_exec_can_run_on(const struct qdb_exec *x, int node, enum qdb_device dev)
{
	if (node < 0 || node >= x->g->n_nodes)
		return 0;
	if (x->sem != QDB_SEM_INTEGER)
		return 1;
	return dev == QDB_DEV_BPU ? x->nodes[node].i_ok : x->nodes[node].f_ok;
}

/* ---- runs ---- */

int qdb_run_new(const struct qdb_exec *x, struct qdb_run **out, struct qdb_err *err)
{
	const struct qdb_graph *g = x->g;
	struct qdb_run *r = qdb_calloc(1, sizeof *r);
	*out = NULL;
	if (!r)
		return qdb_err_set(err, QDB_ENOMEM, "run: out of memory");
	r->x = x;
	r->s = qdb_alloc_array((size_t)(g->n_values ? g->n_values : 1), sizeof *r->s);
	r->done = qdb_calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
	r->dev = qdb_alloc_array((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *r->dev);
	r->scratch_bytes = x->scratch;
	r->scratch = x->scratch ? qdb_malloc(x->scratch) : NULL;
	if (!r->s || !r->done || !r->dev || (x->scratch && !r->scratch)) {
		qdb_free(r->s);
		qdb_free(r->done);
		qdb_free(r->dev);
		qdb_free(r->scratch);
		qdb_free(r);
		return qdb_err_set(err, QDB_ENOMEM, "run: out of memory");
	}
	for (int v = 0; v < g->n_values; v++) {
		qdb_tensor_init(&r->s[v].t);
		qdb_tensor_init(&r->s[v].alt);
		r->s[v].valid = r->s[v].alt_valid = 0;
	}
	for (int n = 0; n < g->n_nodes; n++)
		r->dev[n] = g->nodes[n].device;
	*out = r;
	return QDB_OK;
}

void qdb_run_delete(struct qdb_run *r)
{
	if (!r)
		return;
	for (int v = 0; v < r->x->g->n_values; v++) {
		qdb_tensor_done(&r->s[v].t);
		qdb_tensor_done(&r->s[v].alt);
	}
	qdb_free(r->s);
	qdb_free(r->done);
	qdb_free(r->dev);
	qdb_free(r->scratch);
	qdb_free(r);
}

const struct qdb_exec *qdb_run_exec(const struct qdb_run *r) { return r->x; }

static int needs_quant(const struct qdb_run *r, int v)
{
	const struct qdb_exec *x = r->x;
	if (x->g->values[v].is_output)
		return 1;
	for (int k = x->cons_off[v]; k < x->cons_off[v + 1]; k++)
		if (r->dev[x->cons[k]] == QDB_DEV_BPU)
			return 1;
	return 0;
}

/* Under INTEGER semantics, an f32 value with qparams that flows into a bpu
 * node or out of the graph gets its quantized form now, so that the visible
 * form can be read through a const run. */
static int ensure_visible(struct qdb_run *r, int v, struct qdb_err *err)
{
	const struct qdb_value *val = &r->x->g->values[v];
	struct slot *s = &r->s[v];
	if (r->x->sem != QDB_SEM_INTEGER || !s->valid || s->alt_valid || val->q.n == 0 ||
	    s->t.dtype != QDB_F32 || !needs_quant(r, v))
		return QDB_OK;
	int rc = quantize_into(&s->alt, &s->t, &val->q, val->qdtype, err);
	if (rc)
		return rc;
	s->alt_valid = 1;
	return QDB_OK;
}

static void invalidate_value(struct qdb_run *r, int v)
{
	r->s[v].valid = 0;
	r->s[v].alt_valid = 0;
}

void qdb_run_invalidate(struct qdb_run *r, int node)
{
	const struct qdb_graph *g = r->x->g;
	if (node < 0 || node >= g->n_nodes)
		return;
	r->done[node] = 0;
	for (int k = 0; k < g->nodes[node].n_outputs; k++)
		invalidate_value(r, g->nodes[node].outputs[k]);
	for (int n = node + 1; n < g->n_nodes; n++) {
		const struct qdb_node *nd = &g->nodes[n];
		if (!r->done[n])
			continue;
		int stale = 0;
		for (int k = 0; k < nd->n_inputs && !stale; k++) {
			int v = nd->inputs[k];
			stale = r->x->const_of[v] < 0 && !r->s[v].valid;
		}
		if (stale) {
			r->done[n] = 0;
			for (int k = 0; k < nd->n_outputs; k++)
				invalidate_value(r, nd->outputs[k]);
		}
	}
	if (node < r->first_stale)
		r->first_stale = node;
}

int qdb_run_node_done(const struct qdb_run *r, int node)
{
	return node >= 0 && node < r->x->g->n_nodes && r->done[node];
}

int qdb_run_copy(struct qdb_run *dst, const struct qdb_run *src, struct qdb_err *err)
{
	const struct qdb_graph *g = src->x->g;
	if (dst->x != src->x)
		return qdb_err_set(err, QDB_EINVAL, "run copy: runs of different executors");
	for (int v = 0; v < g->n_values; v++) {
		const struct slot *a = &src->s[v];
		struct slot *b = &dst->s[v];
		int rc;
		b->valid = b->alt_valid = 0;
		if (a->valid && (rc = assign(&b->t, &a->t, err)))
			return rc;
		if (a->alt_valid && (rc = assign(&b->alt, &a->alt, err)))
			return rc;
		b->valid = a->valid;
		b->alt_valid = a->alt_valid;
	}
	memcpy(dst->done, src->done, (size_t)g->n_nodes);
	memcpy(dst->dev, src->dev, sizeof *dst->dev * (size_t)g->n_nodes);
	dst->first_stale = src->first_stale;
	return QDB_OK;
}

int qdb_run_set_input(struct qdb_run *r, int i, const struct qdb_tensor *t, struct qdb_err *err)
{
	const struct qdb_exec *x = r->x;
	const struct qdb_graph *g = x->g;
	if (i < 0 || i >= g->n_inputs)
		return qdb_err_set(err, QDB_EINVAL, "input #%d does not exist (graph has %d)", i,
				   g->n_inputs);
	int v = g->inputs[i];
	const struct qdb_value *val = &g->values[v];
	struct slot *s = &r->s[v];
	if (t->rank != val->rank || memcmp(t->shape, val->shape, sizeof(int64_t) * (size_t)t->rank)) {
		char a[96], b[96];
		return qdb_err_set(err, QDB_ESHAPE, "input '%s': shape %s, the graph declares %s",
				   val->name, qdb_shape_str(a, sizeof a, t->rank, t->shape),
				   qdb_shape_str(b, sizeof b, val->rank, val->shape));
	}
	int rc;
	invalidate_value(r, v);
	if (x->sem == QDB_SEM_INTEGER && qdb_dtype_is_int(val->dtype)) {
		if (val->q.n > 0) {
			if (t->dtype == val->dtype && qdb_quant_equal(&t->q, &val->q, val->dtype))
				rc = assign(&s->t, t, err);
			else
				rc = quantize_into(&s->t, t, &val->q, val->dtype, err);
		} else if (t->dtype == val->dtype) {
			rc = assign(&s->t, t, err);
		} else {
			rc = qdb_err_set(err, QDB_EINVAL, "input '%s': expects %s data, got %s", val->name,
					 qdb_dtype_name(val->dtype), qdb_dtype_name(t->dtype));
		}
	} else {
		rc = to_f32(&s->t, t, err);
		if (!rc && x->sem == QDB_SEM_FAKEQUANT && val->q.n > 0) {
			qdb_fake_quant_buf(s->t.data, s->t.rank, s->t.shape, &val->q, val->qdtype);
			rc = set_q(&s->t, &val->q, val->qdtype, err);
		}
	}
	if (rc)
		return rc;
	s->valid = 1;
	for (int k = x->cons_off[v]; k < x->cons_off[v + 1]; k++)
		qdb_run_invalidate(r, x->cons[k]);
	return ensure_visible(r, v, err);
}

enum qdb_device qdb_run_device(const struct qdb_run *r, int node)
{
	return node >= 0 && node < r->x->g->n_nodes ? r->dev[node] : QDB_DEV_BPU;
}

int qdb_run_set_device(struct qdb_run *r, int node, enum qdb_device dev, struct qdb_err *err)
{
	const struct qdb_exec *x = r->x;
	const struct qdb_graph *g = x->g;
	if (node < 0 || node >= g->n_nodes)
		return qdb_err_set(err, QDB_EINVAL, "node #%d does not exist", node);
	if (dev != QDB_DEV_BPU && dev != QDB_DEV_CPU)
		return qdb_err_set(err, QDB_EINVAL, "node %s: invalid device", node_name(g, node));
	if (r->dev[node] == dev)
		return QDB_OK;
	if (x->sem != QDB_SEM_INTEGER) {
		r->dev[node] = dev; /* recorded; float semantics ignore devices */
		return QDB_OK;
	}
	if (dev == QDB_DEV_BPU && !x->nodes[node].i_ok) {
		if (err)
			*err = x->nodes[node].i_err;
		return x->nodes[node].i_err.code ? x->nodes[node].i_err.code : QDB_EUNSUPPORTED;
	}
	if (dev == QDB_DEV_CPU && !x->nodes[node].f_ok)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: op %s cannot run on cpu",
				   node_name(g, node), g->nodes[node].op_name);
	r->dev[node] = dev;
	qdb_run_invalidate(r, node);
	/* inputs that now flow into a bpu node need their quantized form */
	for (int k = 0; k < g->nodes[node].n_inputs; k++) {
		int rc = ensure_visible(r, g->nodes[node].inputs[k], err);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

/* The tensor node input value v is fed with: constants from the executor,
 * computed values converted to the kernel's domain. */
static int get_input(struct qdb_run *r, int v, int want_int, const struct qdb_tensor **out,
		     struct qdb_err *err)
{
	const struct qdb_exec *x = r->x;
	const struct qdb_value *val = &x->g->values[v];
	int c = x->const_of[v];
	if (c >= 0) {
		*out = want_int ? &x->g->constants[c].t : &x->cf[c];
		return QDB_OK;
	}
	struct slot *s = &r->s[v];
	if (!s->valid)
		return qdb_err_set(err, QDB_EINVAL, "value '%s' is not available (input not set?)",
				   val->name);
	if (want_int) {
		if (val->q.n > 0 && !qdb_dtype_is_int(s->t.dtype)) {
			if (!s->alt_valid) {
				int rc = quantize_into(&s->alt, &s->t, &val->q, val->qdtype, err);
				if (rc)
					return rc;
				s->alt_valid = 1;
			}
			*out = &s->alt;
			return QDB_OK;
		}
		*out = &s->t;
		return QDB_OK;
	}
	if (s->t.dtype == QDB_F32) {
		*out = &s->t;
		return QDB_OK;
	}
	if (!s->alt_valid) {
		int rc = to_f32(&s->alt, &s->t, err);
		if (rc)
			return rc;
		s->alt_valid = 1;
	}
	*out = &s->alt;
	return QDB_OK;
}

static const struct qdb_tensor *visible(const struct qdb_run *r, int v)
{
	const struct qdb_exec *x = r->x;
	int c = x->const_of[v];
	if (c >= 0)
		return x->sem == QDB_SEM_INTEGER ? &x->g->constants[c].t : &x->cf[c];
	const struct slot *s = &r->s[v];
	if (!s->valid)
		return NULL;
	if (x->sem == QDB_SEM_INTEGER && s->t.dtype == QDB_F32 && x->g->values[v].q.n > 0 &&
	    needs_quant(r, v))
		return s->alt_valid ? &s->alt : NULL;
	return &s->t;
}

const struct qdb_tensor *qdb_run_value(const struct qdb_run *r, int value)
{
	if (value < 0 || value >= r->x->g->n_values)
		return NULL;
	return visible(r, value);
}

const struct qdb_tensor *qdb_run_output(const struct qdb_run *r, int i)
{
	if (i < 0 || i >= r->x->g->n_outputs)
		return NULL;
	return visible(r, r->x->g->outputs[i]);
}

/* Kernel and output layout of node n in run r. */
static void pick(const struct qdb_run *r, int n, const struct qdb_kernel **k, void **prep,
		 int *use_int)
{
	const struct node_exec *ne = &r->x->nodes[n];
	*use_int = r->x->sem == QDB_SEM_INTEGER && r->dev[n] == QDB_DEV_BPU;
	*k = *use_int ? (ne->i_ok ? ne->ki : NULL) : (ne->f_ok ? ne->kf : NULL);
	*prep = *use_int ? ne->prep_i : ne->prep_f;
}

/* Allocates output tensor t for value v as the kernel expects it. */
static int prepare_output(const struct qdb_run *r, int v, int use_int, struct qdb_tensor *t,
			  struct qdb_err *err)
{
	const struct qdb_value *val = &r->x->g->values[v];
	enum qdb_dtype dt = use_int ? val->dtype : QDB_F32;
	int rc = ensure(t, dt, val->rank, val->shape, err);
	if (rc)
		return rc;
	if (use_int && t->nbytes)
		memset(t->data, 0, t->nbytes); /* integer kernels may accumulate */
	int with_q = use_int || r->x->sem == QDB_SEM_FAKEQUANT;
	return set_q(t, with_q ? &val->q : NULL, val->qdtype, err);
}

static int run_kernel(struct qdb_run *r, int n, const struct qdb_kernel *k, void *prep,
		      const struct qdb_tensor *const *in, struct qdb_tensor *const *out,
		      struct qdb_err *err)
{
	struct qdb_kernel_args a = {
		.g = r->x->g,
		.node = n,
		.in = in,
		.out = out,
		.prep = prep,
		.scratch = r->scratch,
		.scratch_bytes = r->scratch_bytes,
	};
	int rc = k->run(&a, err);
	if (rc && err && !strstr(err->msg, r->x->g->nodes[n].name))
		qdb_err_prefix(err, "node %s", r->x->g->nodes[n].name);
	return rc;
}

static int run_node(struct qdb_run *r, int n, struct qdb_err *err)
{
	const struct qdb_exec *x = r->x;
	const struct qdb_graph *g = x->g;
	const struct qdb_node *nd = &g->nodes[n];
	const struct qdb_kernel *k;
	void *prep;
	int use_int, rc;
	pick(r, n, &k, &prep, &use_int);
	if (!k)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: op %s cannot run on %s", nd->name,
				   nd->op_name, use_int ? "bpu" : "cpu");
	const struct qdb_tensor *in[MAX_IO];
	struct qdb_tensor *out[MAX_IO];
	for (int i = 0; i < nd->n_inputs; i++)
		if ((rc = get_input(r, nd->inputs[i], use_int, &in[i], err))) {
			qdb_err_prefix(err, "node %s", nd->name);
			return rc;
		}
	for (int i = 0; i < nd->n_outputs; i++) {
		int v = nd->outputs[i];
		invalidate_value(r, v);
		out[i] = &r->s[v].t;
		if ((rc = prepare_output(r, v, use_int, out[i], err)))
			return rc;
	}
	if ((rc = run_kernel(r, n, k, prep, in, out, err)))
		return rc;
	for (int i = 0; i < nd->n_outputs; i++) {
		int v = nd->outputs[i];
		const struct qdb_value *val = &g->values[v];
		if (x->sem == QDB_SEM_FAKEQUANT && val->q.n > 0)
			qdb_fake_quant_buf(out[i]->data, out[i]->rank, out[i]->shape, &val->q, val->qdtype);
		r->s[v].valid = 1;
		if ((rc = ensure_visible(r, v, err)))
			return rc;
	}
	r->done[n] = 1;
	return QDB_OK;
}

int qdb_run_next(const struct qdb_run *r)
{
	for (int n = r->first_stale; n < r->x->g->n_nodes; n++)
		if (!r->done[n])
			return n;
	return -1;
}

static int call_hook(struct qdb_run *r, int n, qdb_run_hook_fn hook, void *ctx,
		     struct qdb_err *err)
{
	const struct qdb_node *nd = &r->x->g->nodes[n];
	const struct qdb_tensor *outs[MAX_IO];
	for (int i = 0; i < nd->n_outputs; i++)
		outs[i] = visible(r, nd->outputs[i]);
	if (hook(ctx, r, n, outs, nd->n_outputs))
		return qdb_err_set(err, QDB_ESTOPPED, "stopped after node %s", nd->name);
	return QDB_OK;
}

int qdb_run_step(struct qdb_run *r, qdb_run_hook_fn hook, void *ctx, struct qdb_err *err)
{
	int n = qdb_run_next(r);
	if (n < 0) {
		r->first_stale = r->x->g->n_nodes;
		return QDB_OK;
	}
	r->first_stale = n;
	int rc = run_node(r, n, err);
	if (rc)
		return rc;
	return hook ? call_hook(r, n, hook, ctx, err) : QDB_OK;
}

int qdb_run_forward(struct qdb_run *r, qdb_run_hook_fn hook, void *ctx, struct qdb_err *err)
{
	const struct qdb_graph *g = r->x->g;
	for (int n = r->first_stale; n < g->n_nodes; n++) {
		if (r->done[n])
			continue;
		int rc = run_node(r, n, err);
		if (rc) {
			r->first_stale = n;
			return rc;
		}
		if (hook && (rc = call_hook(r, n, hook, ctx, err))) {
			r->first_stale = n + 1;
			return rc;
		}
	}
	r->first_stale = g->n_nodes;
	return QDB_OK;
}

int qdb_run_eval_node(struct qdb_run *r, int n, const struct qdb_tensor *const *in,
		      struct qdb_tensor *const *out, struct qdb_err *err)
{
	const struct qdb_exec *x = r->x;
	const struct qdb_graph *g = x->g;
	if (n < 0 || n >= g->n_nodes)
		return qdb_err_set(err, QDB_EINVAL, "node #%d does not exist", n);
	const struct qdb_node *nd = &g->nodes[n];
	const struct qdb_kernel *k;
	void *prep;
	int use_int, rc = QDB_OK;
	pick(r, n, &k, &prep, &use_int);
	if (!k)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: op %s cannot run on %s", nd->name,
				   nd->op_name, use_int ? "bpu" : "cpu");
	const struct qdb_tensor *kin[MAX_IO];
	struct qdb_tensor tmp[MAX_IO];
	for (int i = 0; i < nd->n_inputs; i++)
		qdb_tensor_init(&tmp[i]);
	for (int i = 0; i < nd->n_inputs && !rc; i++) {
		int v = nd->inputs[i];
		const struct qdb_value *val = &g->values[v];
		const struct qdb_tensor *t = in ? in[i] : NULL;
		if (!t) {
			rc = get_input(r, v, use_int, &kin[i], err);
			continue;
		}
		if (t->rank != val->rank ||
		    memcmp(t->shape, val->shape, sizeof(int64_t) * (size_t)t->rank)) {
			char a[96], b[96];
			rc = qdb_err_set(err, QDB_ESHAPE, "node %s: input '%s': shape %s, expected %s",
					 nd->name, val->name, qdb_shape_str(a, sizeof a, t->rank, t->shape),
					 qdb_shape_str(b, sizeof b, val->rank, val->shape));
			break;
		}
		if (use_int && val->q.n > 0 && qdb_dtype_is_int(val->dtype))
			rc = quantize_into(&tmp[i], t, &val->q, val->dtype, err);
		else if (use_int && qdb_dtype_is_int(t->dtype) && t->dtype == val->dtype)
			rc = assign(&tmp[i], t, err);
		else
			rc = to_f32(&tmp[i], t, err);
		if (!rc && !use_int && x->sem == QDB_SEM_FAKEQUANT && val->q.n > 0) {
			qdb_fake_quant_buf(tmp[i].data, tmp[i].rank, tmp[i].shape, &val->q, val->qdtype);
			rc = set_q(&tmp[i], &val->q, val->qdtype, err);
		}
		kin[i] = &tmp[i];
	}
	for (int i = 0; i < nd->n_outputs && !rc; i++)
		rc = prepare_output(r, nd->outputs[i], use_int, out[i], err);
	if (!rc)
		rc = run_kernel(r, n, k, prep, kin, out, err);
	for (int i = 0; i < nd->n_outputs && !rc; i++) {
		int v = nd->outputs[i];
		const struct qdb_value *val = &g->values[v];
		if (x->sem == QDB_SEM_FAKEQUANT && val->q.n > 0)
			qdb_fake_quant_buf(out[i]->data, out[i]->rank, out[i]->shape, &val->q, val->qdtype);
		if (x->sem == QDB_SEM_INTEGER && !use_int && val->q.n > 0 && needs_quant(r, v)) {
			struct qdb_tensor q;
			qdb_tensor_init(&q);
			rc = quantize_into(&q, out[i], &val->q, val->qdtype, err);
			if (!rc) {
				qdb_tensor_done(out[i]);
				*out[i] = q;
			} else {
				qdb_tensor_done(&q);
			}
		}
	}
	for (int i = 0; i < nd->n_inputs; i++)
		qdb_tensor_done(&tmp[i]);
	return rc;
}
