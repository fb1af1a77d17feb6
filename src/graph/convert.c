/* convert.c - qat graph -> quantized graph (see convert.h). */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "graph/convert.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"
#include "ops/quant.h"

void qdb_convert_opts_init(struct qdb_convert_opts *o)
{
	o->profile = QDB_PROFILE_TORCH;
	o->rounding = QDB_ROUND_HALF_EVEN;
}

void qdb_convert_report_done(struct qdb_convert_report *rep)
{
	if (!rep)
		return;
	for (int i = 0; i < rep->n_nodes; i++) {
		qdb_free(rep->nodes[i].node);
		qdb_free(rep->nodes[i].note);
	}
	qdb_free(rep->nodes);
	memset(rep, 0, sizeof *rep);
}

/* Per-value plan: the qparams the value has in the quantized graph. */
struct vplan {
	struct qdb_quant q;   /* n == 0: float */
	enum qdb_dtype qdtype;
	int newv;             /* value index in the output graph */
	int inherited;
};

struct conv {
	const struct qdb_graph *g;
	struct qdb_graph *o;
	const struct qdb_convert_opts *opts;
	struct qdb_convert_report *rep;
	struct vplan *vp;
	int *dev;             /* per qat node */
	char **notes;         /* per qat node */
};

static void note(struct conv *c, int node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(struct conv *c, int node, const char *fmt, ...)
{
	char buf[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (c->notes[node]) {
		size_t n = strlen(c->notes[node]) + strlen(buf) + 3;
		char *s = qdb_malloc(n);
		if (!s)
			return;
		snprintf(s, n, "%s; %s", c->notes[node], buf);
		qdb_free(c->notes[node]);
		c->notes[node] = s;
	} else {
		c->notes[node] = qdb_strdup(buf);
	}
}

/* An activation integer dtype the kernels take. */
static int act_dtype(enum qdb_dtype d)
{
	return d == QDB_I8 || d == QDB_U8 || d == QDB_I16;
}

/* The qparams of a qat value: the value's, or for a constant the tensor's own. */
static const struct qdb_quant *qat_quant(const struct qdb_graph *g, int v, enum qdb_dtype *dt)
{
	const struct qdb_value *val = &g->values[v];
	if (val->q.n > 0) {
		*dt = val->qdtype;
		return &val->q;
	}
	if (val->constant >= 0 && g->constants[val->constant].t.q.n > 0) {
		const struct qdb_tensor *t = &g->constants[val->constant].t;
		*dt = qdb_dtype_is_int(t->dtype) ? t->dtype : QDB_I8;
		return &t->q;
	}
	return NULL;
}

/* Ops whose output may take the input's qparams when it has none. */
static int inherits(int op)
{
	switch (op) {
	case QDB_OP_FLATTEN: case QDB_OP_RESHAPE: case QDB_OP_PERMUTE: case QDB_OP_IDENTITY:
	case QDB_OP_MAXPOOL2D: case QDB_OP_AVGPOOL2D: case QDB_OP_GLOBAL_AVGPOOL:
	case QDB_OP_UPSAMPLE_NEAREST: case QDB_OP_RELU: case QDB_OP_RELU6: case QDB_OP_CLAMP:
	case QDB_OP_CONCAT:
		return 1;
	default:
		return 0;
	}
}

static int is_bias(const struct qdb_node *n, int k)
{
	return (n->op == QDB_OP_CONV2D || n->op == QDB_OP_LINEAR) && k == 2;
}

static int per_tensor_act(const struct vplan *p)
{
	return p->q.n == 1 && act_dtype(p->qdtype);
}

/* Step 1: which values are integers (own or inherited qparams). */
static int plan_values(struct conv *c, struct qdb_err *err)
{
	const struct qdb_graph *g = c->g;
	for (int v = 0; v < g->n_values; v++) {
		enum qdb_dtype dt;
		const struct qdb_quant *q = qat_quant(g, v, &dt);
		qdb_quant_init(&c->vp[v].q);
		c->vp[v].newv = -1;
		if (q) {
			int rc = qdb_quant_copy(&c->vp[v].q, q, err);
			if (rc)
				return rc;
			c->vp[v].qdtype = dt;
		}
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct qdb_node *n = &g->nodes[ni];
		if (n->n_outputs < 1 || n->n_inputs < 1)
			continue;
		struct vplan *y = &c->vp[n->outputs[0]];
		if (y->q.n > 0 || !inherits(n->op))
			continue;
		struct vplan *x = &c->vp[n->inputs[0]];
		if (!per_tensor_act(x))
			continue;
		int same = 1;
		for (int k = 1; k < n->n_inputs && n->op == QDB_OP_CONCAT; k++) {
			const struct vplan *o = &c->vp[n->inputs[k]];
			same &= o->q.n == 1 && o->q.scale[0] == x->q.scale[0] &&
				o->q.zero_point[0] == x->q.zero_point[0] && o->qdtype == x->qdtype;
		}
		if (!same)
			continue;
		int rc = qdb_quant_copy(&y->q, &x->q, err);
		if (rc)
			return rc;
		y->qdtype = x->qdtype;
		y->inherited = 1;
		c->rep->inherited++;
		note(c, ni, "output inherits the qparams of %s", g->values[n->inputs[0]].name);
	}
	return QDB_OK;
}

/* Step 2: device of each node. */
static void plan_devices(struct conv *c)
{
	const struct qdb_graph *g = c->g;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct qdb_node *n = &g->nodes[ni];
		int ok = 1;
		c->dev[ni] = n->device;
		if (n->device == QDB_DEV_CPU) {
			note(c, ni, "on cpu in the qat graph");
			continue;
		}
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			const struct qdb_value *val = &g->values[v];
			const struct vplan *p = &c->vp[v];
			if (is_bias(n, k))
				continue;
			if (val->constant >= 0) {
				if (p->q.n == 0) {
					note(c, ni, "constant %s has no qparams", val->name);
					ok = 0;
				} else if ((n->op == QDB_OP_CONV2D || n->op == QDB_OP_LINEAR) && k == 1) {
					if (p->qdtype != QDB_I8 && p->qdtype != QDB_U8) {
						note(c, ni, "weight %s is %s, not i8/u8", val->name,
						     qdb_dtype_name(p->qdtype));
						ok = 0;
					} else if (p->q.n > 1 && p->q.axis != 0) {
						note(c, ni, "weight %s is per-channel along axis %d, not 0", val->name,
						     (int)p->q.axis);
						ok = 0;
					}
				}
				continue;
			}
			if (n->op == QDB_OP_QUANTIZE && k == 0)
				continue; /* takes floats */
			if (p->q.n == 0) {
				note(c, ni, "input %s has no qparams", val->name);
				ok = 0;
			} else if (!per_tensor_act(p)) {
				note(c, ni, "input %s is not per-tensor i8/u8/i16", val->name);
				ok = 0;
			}
		}
		for (int k = 0; k < n->n_outputs; k++) {
			const struct vplan *p = &c->vp[n->outputs[k]];
			if (n->op == QDB_OP_DEQUANTIZE)
				break;
			if (p->q.n == 0) {
				note(c, ni, "output %s has no qparams", g->values[n->outputs[k]].name);
				ok = 0;
			} else if (!per_tensor_act(p)) {
				note(c, ni, "output %s is not per-tensor i8/u8/i16", g->values[n->outputs[k]].name);
				ok = 0;
			}
		}
		if (!qdb_kernel_int_for(n->op)) {
			note(c, ni, "op %s has no integer kernel", n->op_name);
			ok = 0;
		}
		c->dev[ni] = ok ? QDB_DEV_BPU : QDB_DEV_CPU;
	}
}

/* A node or value name free in both graphs (the qat graph's names are
 * all used in the output eventually). */
static char *unique_name2(const struct qdb_graph *g, const struct qdb_graph *o, const char *base,
			  int node)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", base);
	for (int i = 1; (node ? qdb_graph_find_node(o, buf) >= 0 || qdb_graph_find_node(g, buf) >= 0
			      : qdb_graph_find_value(o, buf) >= 0 || qdb_graph_find_value(g, buf) >= 0);
	     i++)
		snprintf(buf, sizeof buf, "%s.%d", base, i);
	return qdb_strdup(buf);
}
#define unique_name(o, base, node) unique_name2(c->g, (o), (base), (node))

/* A value of the output graph with the plan's qparams. */
static int new_value(struct conv *c, const char *name, const struct vplan *p,
		     const struct qdb_value *like, struct qdb_err *err)
{
	int v = qdb_graph_add_value(c->o, name, err);
	if (v < 0)
		return v;
	struct qdb_value *val = &c->o->values[v];
	if (like) {
		val->rank = like->rank;
		memcpy(val->shape, like->shape, sizeof val->shape);
	}
	if (p && p->q.n > 0) {
		int rc = qdb_quant_copy(&val->q, &p->q, err);
		if (rc)
			return -rc;
		val->qdtype = p->qdtype;
		val->dtype = p->qdtype;
	}
	return v;
}

static int copy_attrs(struct qdb_node *dst, const struct qdb_node *src, struct qdb_err *err)
{
	for (int i = 0; i < src->n_attrs; i++) {
		const struct qdb_attr *a = &src->attrs[i];
		int rc = QDB_OK;
		switch (a->kind) {
		case QDB_ATTR_INT: rc = qdb_node_set_attr_int(dst, a->key, a->i, err); break;
		case QDB_ATTR_FLOAT: rc = qdb_node_set_attr_float(dst, a->key, a->f, err); break;
		case QDB_ATTR_STR: rc = qdb_node_set_attr_str(dst, a->key, a->s ? a->s : "", err); break;
		case QDB_ATTR_INTS: rc = qdb_node_set_attr_ints(dst, a->key, a->ints, a->n, err); break;
		case QDB_ATTR_FLOATS:
			rc = qdb_node_set_attr_floats(dst, a->key, a->floats, a->n, err);
			break;
		}
		if (rc)
			return rc;
	}
	return QDB_OK;
}

/* Constants: quantized when they have qparams (torch's fake-quant
 * arithmetic, so the integers are exactly the qat weights). */
static int add_constants(struct conv *c, struct qdb_err *err)
{
	const struct qdb_graph *g = c->g;
	for (int k = 0; k < g->n_constants; k++) {
		int v = g->constants[k].value;
		const struct qdb_tensor *t = &g->constants[k].t;
		struct vplan *p = &c->vp[v];
		int nv, rc;
		if (p->q.n > 0 && !qdb_dtype_is_int(t->dtype)) {
			struct qdb_tensor qt;
			qdb_tensor_init(&qt);
			if ((rc = qdb_quantize_tensor(&qt, t, &p->q, p->qdtype, err)))
				return qdb_err_prefix(err, "constant %s", g->values[v].name);
			nv = qdb_graph_add_constant(c->o, g->values[v].name, &qt, err);
			qdb_tensor_done(&qt);
		} else {
			nv = qdb_graph_add_constant(c->o, g->values[v].name, t, err);
		}
		if (nv < 0)
			return -nv;
		if (p->q.n > 0) {
			struct qdb_value *val = &c->o->values[nv];
			if ((rc = qdb_quant_copy(&val->q, &p->q, err)))
				return rc;
			val->qdtype = p->qdtype;
		}
		p->newv = nv;
	}
	return QDB_OK;
}

/* Fixed profile: int32 bias at s_x * s_w[c] for a bpu conv2d/linear. */
static int fixed_bias(struct conv *c, int ni, struct qdb_convert_node *rn, int *bias_v,
		      struct qdb_err *err)
{
	const struct qdb_graph *g = c->g;
	const struct qdb_node *n = &g->nodes[ni];
	const struct qdb_value *bv = &g->values[n->inputs[2]];
	const struct vplan *xp = &c->vp[n->inputs[0]], *wp = &c->vp[n->inputs[1]];
	if (bv->constant < 0)
		return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: bias %s is not a constant", n->name,
				   bv->name);
	const struct qdb_tensor *bt = &g->constants[bv->constant].t;
	int64_t o = qdb_tensor_numel(bt);
	struct qdb_tensor t;
	double *scales = qdb_alloc_array((size_t)(o > 0 ? o : 1), sizeof *scales);
	int rc;
	qdb_tensor_init(&t);
	if (!scales)
		return qdb_err_set(err, QDB_ENOMEM, "out of memory");
	if ((rc = qdb_tensor_alloc(&t, QDB_I32, bt->rank, bt->shape, err))) {
		qdb_free(scales);
		return rc;
	}
	int32_t *d = t.data;
	for (int64_t i = 0; i < o; i++) {
		double sw = wp->q.scale[wp->q.n > 1 ? i : 0];
		scales[i] = xp->q.scale[0] * sw;
		double real = qdb_tensor_get_real(bt, i);
		double r = qdb_rq_round(real / scales[i], c->opts->rounding);
		if (!(r >= (double)INT32_MIN && r <= (double)INT32_MAX)) {
			rn->bias_overflow++;
			r = r > 0 ? (double)INT32_MAX : (double)INT32_MIN;
		}
		d[i] = (int32_t)r;
	}
	rc = qdb_quant_set_channels(&t.q, (int32_t)o, o > 1 ? 0 : -1, scales, NULL, 1, 0, err);
	qdb_free(scales);
	char base[512];
	snprintf(base, sizeof base, "%s.bias", n->name);
	char *name = rc ? NULL : unique_name(c->o, base, 0);
	if (!rc && !name)
		rc = qdb_err_set(err, QDB_ENOMEM, "out of memory");
	if (!rc) {
		int v = qdb_graph_add_constant(c->o, name, &t, err);
		if (v < 0) {
			rc = -v;
		} else {
			*bias_v = v;
			rc = qdb_quant_copy(&c->o->values[v].q, &t.q, err);
			c->o->values[v].qdtype = QDB_I32;
		}
	}
	qdb_free(name);
	qdb_tensor_done(&t);
	return rc;
}

static void count_mult(struct qdb_convert_node *rn, double real, struct qdb_rq *m)
{
	int f = qdb_rq_from_double(real, m);
	if (f == QDB_RQ_UNDERFLOW)
		rn->mult_underflow++;
	else if (f == QDB_RQ_OVERFLOW || f == QDB_RQ_INVALID)
		rn->mult_overflow++;
}

static double scale_of(const struct vplan *p) { return p->q.scale[0]; }

/* Fixed profile: rq_mult/rq_shift (and rq_left_shift) of a bpu node. */
static int fixed_attrs(struct conv *c, int ni, struct qdb_node *on, struct qdb_convert_node *rn,
		       struct qdb_err *err)
{
	const struct qdb_node *n = &c->g->nodes[ni];
	const struct vplan *y = &c->vp[n->outputs[0]];
	double reals[64];
	int nr = 0;
	double *many = NULL;
	switch (n->op) {
	case QDB_OP_CONV2D:
	case QDB_OP_LINEAR: {
		const struct vplan *x = &c->vp[n->inputs[0]], *w = &c->vp[n->inputs[1]];
		const struct qdb_value *wv = &c->g->values[n->inputs[1]];
		int64_t o = wv->rank > 0 ? wv->shape[0] : 1;
		many = qdb_alloc_array((size_t)(o > 0 ? o : 1), sizeof *many);
		if (!many)
			return qdb_err_set(err, QDB_ENOMEM, "out of memory");
		for (int64_t i = 0; i < o; i++)
			many[i] = scale_of(x) * w->q.scale[w->q.n > 1 ? i : 0] / scale_of(y);
		nr = (int)o;
		break;
	}
	case QDB_OP_ADD: {
		const struct vplan *a = &c->vp[n->inputs[0]], *b = &c->vp[n->inputs[1]];
		int ls = a->qdtype == QDB_I16 || b->qdtype == QDB_I16 ? 14 : 20;
		double tw = 2.0 * (scale_of(a) > scale_of(b) ? scale_of(a) : scale_of(b));
		reals[0] = scale_of(a) / tw;
		reals[1] = scale_of(b) / tw;
		reals[2] = tw / (ldexp(1.0, ls) * scale_of(y));
		nr = 3;
		int rc = qdb_node_set_attr_int(on, "rq_left_shift", ls, err);
		if (rc)
			return rc;
		break;
	}
	case QDB_OP_MUL:
	case QDB_OP_MATMUL:
		reals[0] = scale_of(&c->vp[n->inputs[0]]) * scale_of(&c->vp[n->inputs[1]]) / scale_of(y);
		nr = 1;
		break;
	case QDB_OP_CONCAT:
		for (int k = 0; k < n->n_inputs && k < 64; k++)
			reals[nr++] = scale_of(&c->vp[n->inputs[k]]) / scale_of(y);
		break;
	case QDB_OP_RELU: case QDB_OP_RELU6: case QDB_OP_CLAMP: case QDB_OP_MAXPOOL2D:
	case QDB_OP_AVGPOOL2D: case QDB_OP_GLOBAL_AVGPOOL: case QDB_OP_FLATTEN:
	case QDB_OP_RESHAPE: case QDB_OP_PERMUTE: case QDB_OP_UPSAMPLE_NEAREST:
	case QDB_OP_IDENTITY: {
		const struct vplan *x = &c->vp[n->inputs[0]];
		if (scale_of(x) != scale_of(y)) {
			reals[0] = scale_of(x) / scale_of(y);
			nr = 1;
		}
		break;
	}
	case QDB_OP_QUANTIZE: {
		const struct vplan *x = &c->vp[n->inputs[0]];
		if (x->q.n == 1) {
			reals[0] = scale_of(x) / scale_of(y);
			nr = 1;
		}
		break;
	}
	default:
		break;
	}
	if (!nr) {
		qdb_free(many);
		return QDB_OK;
	}
	int64_t *mult = qdb_alloc_array((size_t)nr, sizeof *mult);
	int64_t *shift = qdb_alloc_array((size_t)nr, sizeof *shift);
	int rc = QDB_OK;
	if (!mult || !shift) {
		rc = qdb_err_set(err, QDB_ENOMEM, "out of memory");
	} else {
		for (int i = 0; i < nr; i++) {
			struct qdb_rq m;
			count_mult(rn, many ? many[i] : reals[i], &m);
			mult[i] = m.mult;
			shift[i] = m.shift;
		}
		if (!(rc = qdb_node_set_attr_ints(on, "rq_mult", mult, nr, err)))
			rc = qdb_node_set_attr_ints(on, "rq_shift", shift, nr, err);
	}
	qdb_free(mult);
	qdb_free(shift);
	qdb_free(many);
	return rc;
}

static int to_qp(const struct vplan *p, struct qdb_qp *qp)
{
	if (p->q.n != 1)
		return -1;
	qp->s = p->q.scale[0];
	qp->zp = p->q.zero_point[0];
	qp->dt = p->qdtype;
	qdb_quant_range(&p->q, p->qdtype, &qp->lo, &qp->hi);
	return 0;
}

/* Fixed profile: the lookup table constant of a nonlinear bpu node. */
static int fixed_lut(struct conv *c, int ni, struct qdb_node *on, struct qdb_err *err)
{
	const struct qdb_node *n = &c->g->nodes[ni];
	struct qdb_qp in, out;
	int rc, gelu_tanh = 0;
	if (to_qp(&c->vp[n->inputs[0]], &in) || to_qp(&c->vp[n->outputs[0]], &out))
		return QDB_OK;
	int size = qdb_lut_size(in.dt);
	if (!size)
		return QDB_OK;
	if (n->op == QDB_OP_GELU) {
		const char *a = qdb_node_attr_str(n, "approximate", "none");
		gelu_tanh = !strcmp(a, "tanh");
	}
	struct qdb_tensor t;
	int64_t shape[1] = {size};
	qdb_tensor_init(&t);
	if ((rc = qdb_tensor_alloc(&t, QDB_I32, 1, shape, err)))
		return rc;
	rc = n->op == QDB_OP_SOFTMAX ? qdb_lut_softmax_build(&in, c->opts->rounding, t.data, err)
				     : qdb_lut_build(n->op, gelu_tanh, &in, &out, c->opts->rounding, t.data,
						     err);
	char base[512];
	snprintf(base, sizeof base, "%s.lut", n->name);
	char *name = rc ? NULL : unique_name(c->o, base, 0);
	if (!rc && !name)
		rc = qdb_err_set(err, QDB_ENOMEM, "out of memory");
	if (!rc) {
		int v = qdb_graph_add_constant(c->o, name, &t, err);
		rc = v < 0 ? -v : qdb_node_set_attr_str(on, "lut", name, err);
	}
	qdb_free(name);
	qdb_tensor_done(&t);
	return rc;
}

static int is_lut_op(int op)
{
	return op == QDB_OP_SIGMOID || op == QDB_OP_TANH || op == QDB_OP_HARDSWISH ||
	       op == QDB_OP_SILU || op == QDB_OP_GELU || op == QDB_OP_SOFTMAX;
}

static int add_node_io(struct qdb_graph *o, const char *name, const char *op, const int *in,
		       int nin, const int *out, int nout, struct qdb_err *err)
{
	int n = qdb_graph_add_node(o, name, op, err);
	if (n < 0)
		return n;
	int rc = qdb_graph_set_node_io(o, n, in, nin, out, nout, err);
	return rc ? -rc : n;
}

/* Step 3: the output graph. */
static int build(struct conv *c, struct qdb_err *err)
{
	const struct qdb_graph *g = c->g;
	struct qdb_graph *o = c->o;
	int rc;
	/* Graph inputs stay float; integer ones get a quantize node. */
	for (int i = 0; i < g->n_inputs; i++) {
		int v = g->inputs[i];
		const struct qdb_value *val = &g->values[v];
		int nv = qdb_graph_add_input(o, val->name, val->dtype == QDB_F64 ? QDB_F64 : QDB_F32,
					     val->rank, val->shape, err);
		if (nv < 0)
			return -nv;
		c->vp[v].newv = nv;
	}
	if ((rc = add_constants(c, err)))
		return rc;
	for (int i = 0; i < g->n_inputs; i++) {
		int v = g->inputs[i];
		struct vplan *p = &c->vp[v];
		if (p->q.n == 0)
			continue;
		char base[512];
		snprintf(base, sizeof base, "%s.q", g->values[v].name);
		char *vn = unique_name(o, base, 0);
		snprintf(base, sizeof base, "%s.quantize", g->values[v].name);
		char *nn = unique_name(o, base, 1);
		int qv = vn && nn ? new_value(c, vn, p, &g->values[v], err) : -QDB_ENOMEM;
		int in = p->newv;
		int n = qv < 0 ? qv : add_node_io(o, nn, "quantize", &in, 1, &qv, 1, err);
		qdb_free(vn);
		qdb_free(nn);
		if (n < 0)
			return n == -QDB_ENOMEM ? qdb_err_set(err, QDB_ENOMEM, "out of memory") : -n;
		p->newv = qv; /* consumers read the integer form */
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct qdb_node *n = &g->nodes[ni];
		struct qdb_convert_node *rn = &c->rep->nodes[ni];
		int in[64], out[8], nin = n->n_inputs, nout = n->n_outputs;
		if (nin > 64 || nout > 8)
			return qdb_err_set(err, QDB_EUNSUPPORTED, "node %s: too many inputs or outputs",
					   n->name);
		for (int k = 0; k < nin; k++)
			in[k] = c->vp[n->inputs[k]].newv;
		int bpu = c->dev[ni] == QDB_DEV_BPU;
		if (bpu && c->opts->profile == QDB_PROFILE_FIXED && nin > 2 && is_bias(n, 2) &&
		    (rc = fixed_bias(c, ni, rn, &in[2], err)))
			return rc;
		for (int k = 0; k < nout; k++) {
			int v = n->outputs[k];
			const struct qdb_value *val = &g->values[v];
			struct vplan *p = &c->vp[v];
			char *vn;
			if (val->is_output && p->q.n > 0) {
				char base[512];
				snprintf(base, sizeof base, "%s.q", val->name);
				vn = unique_name(o, base, 0);
			} else {
				vn = qdb_strdup(val->name);
			}
			int nv = vn ? new_value(c, vn, p, val, err) : -qdb_err_set(err, QDB_ENOMEM, "out of memory");
			qdb_free(vn);
			if (nv < 0)
				return -nv;
			p->newv = out[k] = nv;
		}
		int nn = add_node_io(o, n->name, n->op_name, in, nin, out, nout, err);
		if (nn < 0)
			return -nn;
		struct qdb_node *on = &o->nodes[nn];
		on->device = bpu ? QDB_DEV_BPU : QDB_DEV_CPU;
		if ((rc = copy_attrs(on, n, err)))
			return rc;
		if (bpu && c->opts->profile == QDB_PROFILE_FIXED) {
			if ((rc = fixed_attrs(c, ni, on, rn, err)) ||
			    (is_lut_op(n->op) && (rc = fixed_lut(c, ni, &o->nodes[nn], err))))
				return qdb_err_prefix(err, "node %s", n->name);
		}
	}
	/* Integer graph outputs: dequantize into a float value of the old name. */
	for (int i = 0; i < g->n_outputs; i++) {
		int v = g->outputs[i];
		struct vplan *p = &c->vp[v];
		int ov = p->newv;
		if (p->q.n > 0 && g->values[v].constant < 0 && g->values[v].input < 0) {
			char base[512];
			snprintf(base, sizeof base, "%s.dequantize", g->values[v].name);
			char *nn = unique_name(o, base, 1);
			int fv = nn ? new_value(c, g->values[v].name, NULL, &g->values[v], err)
				    : -qdb_err_set(err, QDB_ENOMEM, "out of memory");
			int n = fv < 0 ? fv : add_node_io(o, nn, "dequantize", &p->newv, 1, &fv, 1, err);
			qdb_free(nn);
			if (n < 0)
				return -n;
			ov = fv;
		}
		if ((rc = qdb_graph_add_output(o, ov, err)))
			return rc;
	}
	for (int i = 0; i < g->n_edits; i++)
		if ((rc = qdb_graph_add_edit(o, g->edits[i].node, g->edits[i].field, g->edits[i].from,
					     g->edits[i].to, err)))
			return rc;
	return QDB_OK;
}

/* Step 4: every bpu node's integer kernel must prepare; else cpu. */
static void check_kernels(struct conv *c, struct qdb_graph *o)
{
	for (int ni = 0; ni < c->g->n_nodes; ni++) {
		int on = qdb_graph_find_node(o, c->g->nodes[ni].name);
		if (on < 0 || o->nodes[on].device != QDB_DEV_BPU)
			continue;
		const struct qdb_kernel *k = qdb_kernel_int_for(o->nodes[on].op);
		void *prep = NULL;
		struct qdb_err e;
		qdb_err_clear(&e);
		if (k && k->prepare && k->prepare(o, on, &prep, &e)) {
			o->nodes[on].device = QDB_DEV_CPU;
			c->dev[ni] = QDB_DEV_CPU;
			note(c, ni, "integer kernel: %s", e.msg);
			continue;
		}
		if (k && k->release && prep)
			k->release(prep);
	}
}

/* Float weights clipped by quantization. */
static int64_t count_clipped(const struct qdb_graph *g, int v, const struct vplan *p)
{
	const struct qdb_value *val = &g->values[v];
	if (val->constant < 0 || p->q.n == 0)
		return 0;
	const struct qdb_tensor *t = &g->constants[val->constant].t;
	if (qdb_dtype_is_int(t->dtype))
		return 0;
	int64_t lo, hi, inner, dim, n = qdb_tensor_numel(t), count = 0;
	qdb_quant_range(&p->q, p->qdtype, &lo, &hi);
	if (p->q.n > 1 && p->q.axis >= 0 && p->q.axis < t->rank && t->shape[p->q.axis] == p->q.n) {
		dim = p->q.n;
		inner = qdb_shape_numel(t->rank - p->q.axis - 1, t->shape + p->q.axis + 1);
	} else {
		dim = 1;
		inner = n;
	}
	for (int64_t i = 0; i < n; i++) {
		int64_t c = dim > 1 ? (i / inner) % dim : 0;
		/* More than half a step beyond the range (the rounding error a
		 * weight at the limit has anyway; torch's symmetric observers put
		 * each channel's largest positive weight at qmax + 0.5). */
		double r = (double)p->q.zero_point[c] + qdb_tensor_get(t, i) / p->q.scale[c];
		count += r < (double)lo - 0.51 || r > (double)hi + 0.51;
	}
	return count;
}

int qdb_convert(const struct qdb_graph *qat, const struct qdb_convert_opts *opts,
		struct qdb_graph **out, struct qdb_convert_report *rep, struct qdb_err *err)
{
	struct qdb_convert_opts defo;
	struct qdb_convert_report myrep;
	struct conv c;
	int rc;
	*out = NULL;
	if (!opts) {
		qdb_convert_opts_init(&defo);
		opts = &defo;
	}
	if (!rep)
		rep = &myrep;
	memset(rep, 0, sizeof *rep);
	if (qat->stage != QDB_STAGE_QAT)
		return qdb_err_set(err, QDB_EINVAL, "%s: stage is %s, convert needs a qat graph",
				   qat->path ? qat->path : qat->name ? qat->name : "graph",
				   qdb_stage_name(qat->stage));
	if (opts->profile == QDB_PROFILE_TORCH && opts->rounding != QDB_ROUND_HALF_EVEN)
		return qdb_err_set(err, QDB_EINVAL,
				   "profile torch rounds half to even (torch's arithmetic); --rounding %s needs --profile fixed",
				   qdb_rounding_name(opts->rounding));
	for (int v = 0; v < qat->n_values; v++)
		if (qat->values[v].rank < 0)
			return qdb_err_set(err, QDB_EINVAL, "value %s has no shape: validate the graph first",
					   qat->values[v].name);
	memset(&c, 0, sizeof c);
	c.g = qat;
	c.opts = opts;
	c.rep = rep;
	c.vp = qdb_calloc((size_t)(qat->n_values > 0 ? qat->n_values : 1), sizeof *c.vp);
	c.dev = qdb_calloc((size_t)(qat->n_nodes > 0 ? qat->n_nodes : 1), sizeof *c.dev);
	c.notes = qdb_calloc((size_t)(qat->n_nodes > 0 ? qat->n_nodes : 1), sizeof *c.notes);
	rep->nodes = qdb_calloc((size_t)(qat->n_nodes > 0 ? qat->n_nodes : 1), sizeof *rep->nodes);
	c.o = qdb_graph_new();
	if (!c.vp || !c.dev || !c.notes || !rep->nodes || !c.o) {
		rc = qdb_err_set(err, QDB_ENOMEM, "out of memory");
		goto done;
	}
	rep->n_nodes = qat->n_nodes;
	for (int i = 0; i < qat->n_nodes; i++) {
		rep->nodes[i].node = qdb_strdup(qat->nodes[i].name);
		rep->nodes[i].op = qdb_op_name(qat->nodes[i].op);
		if (!rep->nodes[i].node) {
			rc = qdb_err_set(err, QDB_ENOMEM, "out of memory");
			goto done;
		}
	}
	struct qdb_graph *o = c.o;
	o->stage = QDB_STAGE_QUANTIZED;
	o->profile = opts->profile;
	o->rounding = opts->rounding;
	o->version = qat->version > 0 ? qat->version : 1;
	{
		struct qdb_buf s;
		qdb_buf_init(&s);
		qdb_buf_printf(&s, "%s%sqdb convert --profile %s --rounding %s",
			       qat->producer ? qat->producer : "", qat->producer && *qat->producer ? "; " : "",
			       qdb_profile_name(opts->profile), qdb_rounding_name(opts->rounding));
		o->producer = s.oom ? NULL : qdb_buf_steal(&s);
		qdb_buf_done(&s);
		o->name = qdb_strdup(qat->name ? qat->name : "");
		if (!o->producer || !o->name) {
			rc = qdb_err_set(err, QDB_ENOMEM, "out of memory");
			goto done;
		}
	}
	if ((rc = plan_values(&c, err)))
		goto done;
	plan_devices(&c);
	if ((rc = build(&c, err)))
		goto done;
	if ((rc = qdb_graph_validate(o, err))) {
		qdb_err_prefix(err, "converted graph");
		goto done;
	}
	check_kernels(&c, o);
	/* Weights at the limits, per node (after the device is final). */
	for (int ni = 0; ni < qat->n_nodes; ni++) {
		const struct qdb_node *n = &qat->nodes[ni];
		struct qdb_convert_node *rn = &rep->nodes[ni];
		rn->device = (enum qdb_device)c.dev[ni];
		if ((n->op == QDB_OP_CONV2D || n->op == QDB_OP_LINEAR) && n->n_inputs > 1) {
			int wv = c.vp[n->inputs[1]].newv;
			const struct qdb_value *val = &o->values[wv];
			if (val->constant >= 0 && qdb_dtype_is_int(o->constants[val->constant].t.dtype)) {
				const struct qdb_tensor *t = &o->constants[val->constant].t;
				rn->weights = qdb_tensor_numel(t);
				rn->weights_at_limit = qdb_tensor_count_saturated(t, 0, rn->weights);
				rn->weights_clipped = count_clipped(qat, n->inputs[1], &c.vp[n->inputs[1]]);
			}
		}
		if (c.notes[ni]) {
			rn->note = c.notes[ni];
			c.notes[ni] = NULL;
		}
		if (rn->device == QDB_DEV_BPU)
			rep->n_bpu++;
		else
			rep->n_cpu++;
		rep->weights += rn->weights;
		rep->weights_at_limit += rn->weights_at_limit;
		rep->weights_clipped += rn->weights_clipped;
		rep->bias_overflow += rn->bias_overflow;
		rep->mult_underflow += rn->mult_underflow;
		rep->mult_overflow += rn->mult_overflow;
	}
	*out = o;
	c.o = NULL;
	rc = QDB_OK;
done:
	if (c.vp)
		for (int v = 0; v < qat->n_values; v++)
			qdb_quant_done(&c.vp[v].q);
	if (c.notes)
		for (int i = 0; i < qat->n_nodes; i++)
			qdb_free(c.notes[i]);
	qdb_free(c.vp);
	qdb_free(c.dev);
	qdb_free(c.notes);
	qdb_graph_delete(c.o);
	if (rc || rep == &myrep)
		qdb_convert_report_done(rep);
	return rc;
}
