/* validate.c - qdb_graph_validate: structure, topological order, ops, attrs,
 * shape inference and qparams of a graph (see graph.h).
 *
 * Runs over the nodes in file order: every input must already be defined
 * (graph input, constant or output of an earlier node), so the order check
 * and shape inference are one pass. When the order check fails, a depth-first
 * search tells a cycle (named) from a mere ordering mistake. Shape inference
 * writes rank/shape/dtype of every node output; graph inputs keep their
 * declared shapes, constants take their tensor's. Attrs are read through
 * ops/params.h, the same parsers the kernels use.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "graph/graph.h"
#include "ops/kernel.h"
#include "ops/ops.h"
#include "ops/params.h"

/* Formats "node NAME: ..." into err. */
#define NODE_ERR(err, g, ni, code, ...)                                      \
	(qdb_err_set((err), (code), __VA_ARGS__),                               \
	 qdb_err_prefix((err), "node %s", (g)->nodes[(ni)].name))

static const char *vname(const struct qdb_graph *g, int v)
{
	return v >= 0 && v < g->n_values && g->values[v].name ? g->values[v].name : "?";
}

static const char *shape_s(char *buf, size_t n, const struct qdb_value *v)
{
	return qdb_shape_str(buf, n, v->rank, v->shape);
}

static void set_shape(struct qdb_value *v, int rank, const int64_t *shape)
{
	v->rank = rank;
	for (int i = 0; i < QDB_MAX_RANK; i++)
		v->shape[i] = i < rank ? shape[i] : 0;
}

/* ---- structure ---- */

/* DFS over node dependencies to name a cycle, if any. */
static int find_cycle(const struct qdb_graph *g, const int *producer, struct qdb_err *err)
{
	int n = g->n_nodes;
	int *state = qdb_calloc((size_t)(n ? n : 1), sizeof(int)); /* 0 new, 1 active, 2 done */
	int *stack = qdb_alloc_array((size_t)(n ? n : 1), sizeof(int));
	int *edge = qdb_calloc((size_t)(n ? n : 1), sizeof(int));
	int found = 0;
	if (!state || !stack || !edge) {
		qdb_free(state);
		qdb_free(stack);
		qdb_free(edge);
		return qdb_err_set(err, QDB_ENOMEM, "validate: out of memory");
	}
	for (int s = 0; s < n && !found; s++) {
		if (state[s])
			continue;
		int sp = 0;
		stack[sp++] = s;
		state[s] = 1;
		edge[s] = 0;
		while (sp && !found) {
			int u = stack[sp - 1];
			if (edge[u] < g->nodes[u].n_inputs) {
				int v = g->nodes[u].inputs[edge[u]++];
				int p = v >= 0 && v < g->n_values ? producer[v] : -1;
				if (p < 0)
					continue;
				if (state[p] == 1) {
					struct qdb_buf b;
					qdb_buf_init(&b);
					int k = sp - 1;
					while (k > 0 && stack[k] != p)
						k--;
					for (int j = k; j < sp; j++)
						qdb_buf_printf(&b, "%s -> ", g->nodes[stack[j]].name);
					qdb_buf_printf(&b, "%s", g->nodes[p].name);
					qdb_err_set(err, QDB_EFORMAT, "cycle: %s", b.s);
					qdb_buf_done(&b);
					found = 1;
				} else if (state[p] == 0) {
					state[p] = 1;
					edge[p] = 0;
					stack[sp++] = p;
				}
			} else {
				state[u] = 2;
				sp--;
			}
		}
	}
	qdb_free(state);
	qdb_free(stack);
	qdb_free(edge);
	return found ? QDB_EFORMAT : QDB_OK;
}

static int check_structure(struct qdb_graph *g, struct qdb_err *err)
{
	int rc = QDB_OK;
	int nv = g->n_values;
	int *producer = qdb_alloc_array((size_t)(nv ? nv : 1), sizeof(int));
	char *defined = qdb_calloc((size_t)(nv ? nv : 1), 1);
	if (!producer || !defined) {
		rc = qdb_err_set(err, QDB_ENOMEM, "validate: out of memory");
		goto out;
	}
	for (int v = 0; v < nv; v++) {
		producer[v] = -1;
		g->values[v].is_output = 0;
	}
	for (int i = 0; i < g->n_inputs; i++) {
		int v = g->inputs[i];
		if (v < 0 || v >= nv) {
			rc = qdb_err_set(err, QDB_EFORMAT, "inputs[%d]: bad value index", i);
			goto out;
		}
		defined[v] = 1;
	}
	for (int c = 0; c < g->n_constants; c++) {
		int v = g->constants[c].value;
		if (v < 0 || v >= nv) {
			rc = qdb_err_set(err, QDB_EFORMAT, "constants[%d]: bad value index", c);
			goto out;
		}
		if (defined[v]) {
			rc = qdb_err_set(err, QDB_EFORMAT, "value '%s' is both a graph input and a constant",
					 vname(g, v));
			goto out;
		}
		defined[v] = 1;
	}
	/* producers first, so order errors can name the later producer */
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct qdb_node *n = &g->nodes[ni];
		int other = qdb_graph_find_node(g, n->name);
		if (other >= 0 && other != ni) {
			rc = qdb_err_set(err, QDB_EFORMAT, "node %s: name used by two nodes (#%d and #%d)",
					 n->name, other < ni ? other : ni, other < ni ? ni : other);
			goto out;
		}
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v < 0 || v >= nv) {
				rc = NODE_ERR(err, g, ni, QDB_EFORMAT, "outputs[%d]: bad value index", k);
				goto out;
			}
			if (defined[v]) {
				rc = NODE_ERR(err, g, ni, QDB_EFORMAT,
					      "output '%s' is a graph input or constant", vname(g, v));
				goto out;
			}
			if (producer[v] >= 0) {
				rc = NODE_ERR(err, g, ni, QDB_EFORMAT,
					      "output '%s' is already produced by node %s", vname(g, v),
					      g->nodes[producer[v]].name);
				goto out;
			}
			producer[v] = ni;
		}
	}
	for (int ni = 0; ni < g->n_nodes && !rc; ni++) {
		const struct qdb_node *n = &g->nodes[ni];
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			if (v < 0 || v >= nv) {
				rc = NODE_ERR(err, g, ni, QDB_EFORMAT, "inputs[%d]: bad value index", k);
				goto out;
			}
			if (defined[v])
				continue;
			if (producer[v] < 0) {
				rc = NODE_ERR(err, g, ni, QDB_EFORMAT,
					      "input '%s' is not defined (no node, graph input or constant "
					      "produces it)",
					      vname(g, v));
				goto out;
			}
			/* produced by this node or a later one */
			if (find_cycle(g, producer, err))
				goto cycle;
			rc = NODE_ERR(err, g, ni, QDB_EFORMAT,
				      "input '%s' is produced later, by node %s (nodes must be in "
				      "topological order)",
				      vname(g, v), g->nodes[producer[v]].name);
			goto out;
		}
		for (int k = 0; k < n->n_outputs; k++)
			defined[n->outputs[k]] = 1;
	}
	for (int i = 0; i < g->n_outputs; i++) {
		int v = g->outputs[i];
		if (v < 0 || v >= nv || !defined[v]) {
			rc = qdb_err_set(err, QDB_EFORMAT, "outputs[%d]: value '%s' is not defined", i,
					 vname(g, v));
			goto out;
		}
		g->values[v].is_output = 1;
	}
	for (int v = 0; v < nv; v++)
		g->values[v].producer = producer[v];
	goto out;
cycle:
	rc = err ? err->code : QDB_EFORMAT;
out:
	qdb_free(producer);
	qdb_free(defined);
	return rc;
}

/* ---- shape inference ---- */

static int want_rank(const struct qdb_graph *g, int ni, int k, const char *role, int rank,
		     struct qdb_err *err)
{
	const struct qdb_value *v = &g->values[g->nodes[ni].inputs[k]];
	if (v->rank != rank)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "input '%s' (%s): expected rank %d, got %d",
				v->name, role, rank, v->rank);
	return QDB_OK;
}

static int broadcast(const struct qdb_graph *g, int ni, const struct qdb_value *a,
		     const struct qdb_value *b, int *rank, int64_t *shape, struct qdb_err *err)
{
	int r = a->rank > b->rank ? a->rank : b->rank;
	for (int i = 0; i < r; i++) {
		int ai = i - (r - a->rank), bi = i - (r - b->rank);
		int64_t da = ai >= 0 ? a->shape[ai] : 1, db = bi >= 0 ? b->shape[bi] : 1;
		if (da != db && da != 1 && db != 1) {
			char sa[96], sb[96];
			return NODE_ERR(err, g, ni, QDB_ESHAPE,
					"inputs '%s' (%s) and '%s' (%s) do not broadcast", a->name,
					shape_s(sa, sizeof sa, a), b->name, shape_s(sb, sizeof sb, b));
		}
		shape[i] = da == 1 ? db : da;
	}
	*rank = r;
	return QDB_OK;
}

static int infer_conv(struct qdb_graph *g, int ni, int *rank, int64_t *shape, struct qdb_err *err)
{
	const struct qdb_node *n = &g->nodes[ni];
	const struct qdb_value *x = &g->values[n->inputs[0]], *w = &g->values[n->inputs[1]];
	struct qdb_conv_params p;
	int rc;
	if ((rc = qdb_conv_params_parse(g, ni, &p, err)) ||
	    (rc = want_rank(g, ni, 0, "input", 4, err)) ||
	    (rc = want_rank(g, ni, 1, "weight", 4, err)))
		return rc;
	int64_t C = x->shape[1], O = w->shape[0];
	if (C % p.groups)
		return NODE_ERR(err, g, ni, QDB_EFORMAT,
				"attr 'groups': %lld does not divide the %lld input channels",
				(long long)p.groups, (long long)C);
	if (O % p.groups)
		return NODE_ERR(err, g, ni, QDB_EFORMAT,
				"attr 'groups': %lld does not divide the %lld output channels",
				(long long)p.groups, (long long)O);
	if (w->shape[1] * p.groups != C)
		return NODE_ERR(err, g, ni, QDB_ESHAPE,
				"input '%s' (weight): %lld input channels per group, but the input has "
				"%lld channels in %lld groups",
				w->name, (long long)w->shape[1], (long long)C, (long long)p.groups);
	if (w->shape[2] < 1 || w->shape[3] < 1 || O < 1)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "input '%s' (weight): empty kernel", w->name);
	if (n->n_inputs > 2) {
		const struct qdb_value *b = &g->values[n->inputs[2]];
		if (b->rank != 1 || b->shape[0] != O) {
			char sb[96];
			return NODE_ERR(err, g, ni, QDB_ESHAPE,
					"input '%s' (bias): shape %s, expected %lld (output channels)",
					b->name, shape_s(sb, sizeof sb, b), (long long)O);
		}
	}
	int64_t oh = qdb_conv_out_size(x->shape[2], w->shape[2], p.stride[0], p.pad[0], p.pad[2],
				       p.dil[0]);
	int64_t ow = qdb_conv_out_size(x->shape[3], w->shape[3], p.stride[1], p.pad[1], p.pad[3],
				       p.dil[1]);
	if (oh < 1 || ow < 1)
		return NODE_ERR(err, g, ni, QDB_ESHAPE,
				"kernel %lldx%lld (dilation %lld,%lld) does not fit the padded %lldx%lld input",
				(long long)w->shape[2], (long long)w->shape[3], (long long)p.dil[0],
				(long long)p.dil[1], (long long)x->shape[2], (long long)x->shape[3]);
	*rank = 4;
	shape[0] = x->shape[0];
	shape[1] = O;
	shape[2] = oh;
	shape[3] = ow;
	return QDB_OK;
}

static int infer_linear(struct qdb_graph *g, int ni, int *rank, int64_t *shape,
			struct qdb_err *err)
{
	const struct qdb_node *n = &g->nodes[ni];
	const struct qdb_value *x = &g->values[n->inputs[0]], *w = &g->values[n->inputs[1]];
	struct qdb_act act;
	int rc;
	if ((rc = qdb_act_parse(g, ni, &act, err)) || (rc = want_rank(g, ni, 1, "weight", 2, err)))
		return rc;
	if (x->rank < 1)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "input '%s': linear needs rank >= 1", x->name);
	if (x->shape[x->rank - 1] != w->shape[1])
		return NODE_ERR(err, g, ni, QDB_ESHAPE,
				"input '%s' has %lld features but weight '%s' expects %lld", x->name,
				(long long)x->shape[x->rank - 1], w->name, (long long)w->shape[1]);
	if (n->n_inputs > 2) {
		const struct qdb_value *b = &g->values[n->inputs[2]];
		if (b->rank != 1 || b->shape[0] != w->shape[0]) {
			char sb[96];
			return NODE_ERR(err, g, ni, QDB_ESHAPE,
					"input '%s' (bias): shape %s, expected %lld (output features)",
					b->name, shape_s(sb, sizeof sb, b), (long long)w->shape[0]);
		}
	}
	*rank = x->rank;
	memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->rank);
	shape[x->rank - 1] = w->shape[0];
	return QDB_OK;
}

static int infer_matmul(struct qdb_graph *g, int ni, int *rank, int64_t *shape,
			struct qdb_err *err)
{
	const struct qdb_node *n = &g->nodes[ni];
	const struct qdb_value *a = &g->values[n->inputs[0]], *b = &g->values[n->inputs[1]];
	if (a->rank < 1 || b->rank < 1)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "matmul needs operands of rank >= 1");
	int64_t ka = a->shape[a->rank - 1];
	int64_t kb = b->rank == 1 ? b->shape[0] : b->shape[b->rank - 2];
	if (ka != kb) {
		char sa[96], sb[96];
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "inputs '%s' (%s) and '%s' (%s): inner dims differ",
				a->name, shape_s(sa, sizeof sa, a), b->name, shape_s(sb, sizeof sb, b));
	}
	/* batch dims broadcast */
	int abr = a->rank > 2 ? a->rank - 2 : 0, bbr = b->rank > 2 ? b->rank - 2 : 0;
	int br = abr > bbr ? abr : bbr, r = 0;
	for (int i = 0; i < br; i++) {
		int ai = i - (br - abr), bi = i - (br - bbr);
		int64_t da = ai >= 0 ? a->shape[ai] : 1, db = bi >= 0 ? b->shape[bi] : 1;
		if (da != db && da != 1 && db != 1)
			return NODE_ERR(err, g, ni, QDB_ESHAPE, "batch dims of '%s' and '%s' do not broadcast",
					a->name, b->name);
		shape[r++] = da == 1 ? db : da;
	}
	if (a->rank >= 2)
		shape[r++] = a->shape[a->rank - 2];
	if (b->rank >= 2)
		shape[r++] = b->shape[b->rank - 1];
	if (r > QDB_MAX_RANK)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "result rank exceeds %d", QDB_MAX_RANK);
	*rank = r;
	return QDB_OK;
}

static int infer_concat(struct qdb_graph *g, int ni, int *rank, int64_t *shape,
			struct qdb_err *err)
{
	const struct qdb_node *n = &g->nodes[ni];
	const struct qdb_value *x0 = &g->values[n->inputs[0]];
	int axis, rc;
	if (x0->rank < 1)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "concat needs inputs of rank >= 1");
	if ((rc = qdb_axis_param_parse(g, ni, "axis", 1, x0->rank, &axis, err)))
		return rc;
	*rank = x0->rank;
	memcpy(shape, x0->shape, sizeof(int64_t) * (size_t)x0->rank);
	for (int k = 1; k < n->n_inputs; k++) {
		const struct qdb_value *x = &g->values[n->inputs[k]];
		int same = x->rank == x0->rank;
		for (int i = 0; same && i < x->rank; i++)
			if (i != axis && x->shape[i] != x0->shape[i])
				same = 0;
		if (!same) {
			char sa[96], sb[96];
			return NODE_ERR(err, g, ni, QDB_ESHAPE,
					"input '%s' (%s) does not match '%s' (%s) outside axis %d", x->name,
					shape_s(sa, sizeof sa, x), x0->name, shape_s(sb, sizeof sb, x0), axis);
		}
		shape[axis] += x->shape[axis];
	}
	return QDB_OK;
}

static int infer_pool(struct qdb_graph *g, int ni, int *rank, int64_t *shape, struct qdb_err *err)
{
	const struct qdb_node *n = &g->nodes[ni];
	const struct qdb_value *x = &g->values[n->inputs[0]];
	struct qdb_pool_params p;
	int rc;
	if ((rc = qdb_pool_params_parse(g, ni, &p, err)) || (rc = want_rank(g, ni, 0, "input", 4, err)))
		return rc;
	if (n->op == QDB_OP_AVGPOOL2D && (p.dil[0] != 1 || p.dil[1] != 1))
		return NODE_ERR(err, g, ni, QDB_EFORMAT, "attr 'dilation': avgpool2d has no dilation");
	int64_t oh = qdb_pool_out_size(x->shape[2], p.kernel[0], p.stride[0], p.pad[0], p.dil[0],
				       p.ceil_mode);
	int64_t ow = qdb_pool_out_size(x->shape[3], p.kernel[1], p.stride[1], p.pad[1], p.dil[1],
				       p.ceil_mode);
	if (oh < 1 || ow < 1)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "attr 'kernel': %lldx%lld window does not fit the %lldx%lld input",
				(long long)p.kernel[0], (long long)p.kernel[1], (long long)x->shape[2],
				(long long)x->shape[3]);
	*rank = 4;
	shape[0] = x->shape[0];
	shape[1] = x->shape[1];
	shape[2] = oh;
	shape[3] = ow;
	return QDB_OK;
}

static int infer_flatten(struct qdb_graph *g, int ni, int *rank, int64_t *shape,
			 struct qdb_err *err)
{
	const struct qdb_value *x = &g->values[g->nodes[ni].inputs[0]];
	int r = x->rank ? x->rank : 1;
	int64_t xs[QDB_MAX_RANK];
	if (x->rank)
		memcpy(xs, x->shape, sizeof(int64_t) * (size_t)x->rank);
	else
		xs[0] = 1;
	int s, e, rc;
	if ((rc = qdb_axis_param_parse(g, ni, "start_dim", 1, r, &s, err)) ||
	    (rc = qdb_axis_param_parse(g, ni, "end_dim", -1, r, &e, err)))
		return rc;
	if (s > e)
		return NODE_ERR(err, g, ni, QDB_EFORMAT, "attr 'start_dim': %d is after end_dim %d", s, e);
	int k = 0;
	for (int i = 0; i < s; i++)
		shape[k++] = xs[i];
	int64_t m = 1;
	for (int i = s; i <= e; i++)
		m *= xs[i];
	shape[k++] = m;
	for (int i = e + 1; i < r; i++)
		shape[k++] = xs[i];
	*rank = k;
	return QDB_OK;
}

static int infer_reshape(struct qdb_graph *g, int ni, int *rank, int64_t *shape,
			 struct qdb_err *err)
{
	const struct qdb_value *x = &g->values[g->nodes[ni].inputs[0]];
	int64_t s[QDB_MAX_RANK];
	int n = qdb_ints_param(g, ni, "shape", s, QDB_MAX_RANK, err);
	if (n < 0)
		return err ? err->code : QDB_EFORMAT;
	if (!qdb_node_attr(&g->nodes[ni], "shape"))
		return NODE_ERR(err, g, ni, QDB_EFORMAT, "attr 'shape': missing");
	int infer_at = -1;
	int64_t known = 1, numel = qdb_shape_numel(x->rank, x->shape);
	for (int i = 0; i < n; i++) {
		if (s[i] == -1) {
			if (infer_at >= 0)
				return NODE_ERR(err, g, ni, QDB_EFORMAT, "attr 'shape': more than one -1");
			infer_at = i;
			continue;
		}
		if (s[i] == 0) {
			if (i >= x->rank)
				return NODE_ERR(err, g, ni, QDB_EFORMAT,
						"attr 'shape': 0 (keep) at index %d, but the input has rank %d",
						i, x->rank);
			s[i] = x->shape[i];
		}
		if (s[i] < 0)
			return NODE_ERR(err, g, ni, QDB_EFORMAT, "attr 'shape': %lld is not a size",
					(long long)s[i]);
		known *= s[i];
	}
	if (infer_at >= 0) {
		if (known == 0 || numel % known)
			return NODE_ERR(err, g, ni, QDB_ESHAPE,
					"attr 'shape': cannot infer -1 (%lld elements into blocks of %lld)",
					(long long)numel, (long long)known);
		s[infer_at] = numel / known;
		known *= s[infer_at];
	}
	if (known != numel) {
		char sx[96];
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "attr 'shape': %lld elements, input '%s' (%s) has %lld",
				(long long)known, x->name, shape_s(sx, sizeof sx, x), (long long)numel);
	}
	*rank = n;
	memcpy(shape, s, sizeof(int64_t) * (size_t)n);
	return QDB_OK;
}

static int infer_permute(struct qdb_graph *g, int ni, int *rank, int64_t *shape,
			 struct qdb_err *err)
{
	const struct qdb_value *x = &g->values[g->nodes[ni].inputs[0]];
	int64_t p[QDB_MAX_RANK];
	int n = qdb_ints_param(g, ni, "perm", p, QDB_MAX_RANK, err);
	if (n < 0)
		return err ? err->code : QDB_EFORMAT;
	if (n != x->rank)
		return NODE_ERR(err, g, ni, QDB_EFORMAT, "attr 'perm': has %d entries, input rank is %d",
				n, x->rank);
	int seen[QDB_MAX_RANK] = {0};
	for (int i = 0; i < n; i++) {
		if (p[i] < 0 || p[i] >= n || seen[p[i]])
			return NODE_ERR(err, g, ni, QDB_EFORMAT, "attr 'perm': not a permutation of 0..%d",
					n - 1);
		seen[p[i]] = 1;
		shape[i] = x->shape[p[i]];
	}
	*rank = n;
	return QDB_OK;
}

static int infer_node(struct qdb_graph *g, int ni, struct qdb_err *err)
{
	struct qdb_node *n = &g->nodes[ni];
	const struct qdb_value *x = &g->values[n->inputs[0]];
	int rank = x->rank, rc = QDB_OK;
	int64_t shape[QDB_MAX_RANK];
	memcpy(shape, x->shape, sizeof shape);

	switch ((enum qdb_op)n->op) {
	case QDB_OP_QUANTIZE:
	case QDB_OP_DEQUANTIZE:
	case QDB_OP_RELU:
	case QDB_OP_RELU6:
	case QDB_OP_SIGMOID:
	case QDB_OP_TANH:
	case QDB_OP_HARDSWISH:
	case QDB_OP_SILU:
	case QDB_OP_IDENTITY:
		break;
	case QDB_OP_CLAMP: {
		float lo, hi;
		rc = qdb_clamp_params_parse(g, ni, &lo, &hi, err);
		break;
	}
	case QDB_OP_GELU: {
		int t;
		rc = qdb_gelu_params_parse(g, ni, &t, err);
		break;
	}
	case QDB_OP_SOFTMAX: {
		int axis;
		if (rank < 1)
			return NODE_ERR(err, g, ni, QDB_ESHAPE, "softmax needs rank >= 1");
		rc = qdb_axis_param_parse(g, ni, "axis", -1, rank, &axis, err);
		break;
	}
	case QDB_OP_CONV2D: rc = infer_conv(g, ni, &rank, shape, err); break;
	case QDB_OP_LINEAR: rc = infer_linear(g, ni, &rank, shape, err); break;
	case QDB_OP_MATMUL: rc = infer_matmul(g, ni, &rank, shape, err); break;
	case QDB_OP_ADD:
	case QDB_OP_MUL: {
		struct qdb_act act;
		if ((rc = qdb_act_parse(g, ni, &act, err)))
			break;
		rc = broadcast(g, ni, x, &g->values[n->inputs[1]], &rank, shape, err);
		break;
	}
	case QDB_OP_CONCAT: rc = infer_concat(g, ni, &rank, shape, err); break;
	case QDB_OP_MAXPOOL2D:
	case QDB_OP_AVGPOOL2D: rc = infer_pool(g, ni, &rank, shape, err); break;
	case QDB_OP_GLOBAL_AVGPOOL:
		if ((rc = want_rank(g, ni, 0, "input", 4, err)))
			break;
		shape[2] = shape[3] = 1;
		break;
	case QDB_OP_FLATTEN: rc = infer_flatten(g, ni, &rank, shape, err); break;
	case QDB_OP_RESHAPE: rc = infer_reshape(g, ni, &rank, shape, err); break;
	case QDB_OP_PERMUTE: rc = infer_permute(g, ni, &rank, shape, err); break;
	case QDB_OP_UPSAMPLE_NEAREST: {
		struct qdb_upsample_params p;
		if ((rc = want_rank(g, ni, 0, "input", 4, err)) ||
		    (rc = qdb_upsample_params_parse(g, ni, x->shape[2], x->shape[3], &p, err)))
			break;
		shape[2] = p.out_h;
		shape[3] = p.out_w;
		break;
	}
	case QDB_OP_COUNT: break;
	}
	if (rc)
		return rc;
	if (qdb_shape_numel(rank, shape) < 0)
		return NODE_ERR(err, g, ni, QDB_ESHAPE, "output size overflows");
	struct qdb_value *y = &g->values[n->outputs[0]];
	set_shape(y, rank, shape);
	return QDB_OK;
}

/* Runtime dtype of a node output (what the executor allocates in the
 * graph's native mode). */
static int output_dtype(struct qdb_graph *g, int ni, struct qdb_err *err)
{
	const struct qdb_node *n = &g->nodes[ni];
	struct qdb_value *y = &g->values[n->outputs[0]];
	if (g->stage != QDB_STAGE_QUANTIZED) {
		y->dtype = QDB_F32;
		return QDB_OK;
	}
	if (n->op == QDB_OP_QUANTIZE && y->q.n == 0)
		return NODE_ERR(err, g, ni, QDB_EFORMAT,
				"output '%s': quantize needs qparams on its output", y->name);
	if (n->op == QDB_OP_DEQUANTIZE && y->q.n != 0)
		return NODE_ERR(err, g, ni, QDB_EFORMAT,
				"output '%s': dequantize output must not have qparams", y->name);
	y->dtype = y->q.n > 0 ? y->qdtype : QDB_F32;
	return QDB_OK;
}

/* Float and qat graphs compute in float: an integer constant there only
 * makes sense with quantization parameters to dequantize it by. */
static int check_constants(const struct qdb_graph *g, struct qdb_err *err)
{
	if (g->stage == QDB_STAGE_QUANTIZED)
		return QDB_OK;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct qdb_node *n = &g->nodes[ni];
		for (int k = 0; k < n->n_inputs; k++) {
			const struct qdb_value *v = &g->values[n->inputs[k]];
			int c = -1;
			for (int j = 0; j < g->n_constants && c < 0; j++)
				if (g->constants[j].value == n->inputs[k])
					c = j;
			if (c < 0 || !qdb_dtype_is_int(g->constants[c].t.dtype))
				continue;
			if (g->constants[c].t.q.n == 0 && v->q.n == 0)
				return NODE_ERR(err, g, ni, QDB_EFORMAT,
						"input '%s': %s constant without quantization parameters in a "
						"%s graph",
						v->name, qdb_dtype_name(g->constants[c].t.dtype),
						qdb_stage_name(g->stage));
		}
	}
	return QDB_OK;
}

static int check_qparams(struct qdb_graph *g, struct qdb_err *err)
{
	for (int v = 0; v < g->n_values; v++) {
		struct qdb_value *val = &g->values[v];
		if (val->q.n == 0 || val->rank < 0)
			continue;
		if (!qdb_dtype_is_int(val->qdtype)) {
			const char *dn = qdb_dtype_name(val->qdtype);
			return qdb_err_set(err, QDB_EFORMAT, "qparams '%s': dtype: %s is not an integer dtype",
					   val->name, dn ? dn : "?");
		}
		char what[160];
		snprintf(what, sizeof what, "qparams '%s'", val->name);
		int rc = qdb_quant_validate(&val->q, val->qdtype, val->rank, val->shape, what, err);
		if (rc) {
			if (val->producer >= 0)
				qdb_err_prefix(err, "node %s", g->nodes[val->producer].name);
			return rc;
		}
	}
	return QDB_OK;
}

int qdb_graph_validate(struct qdb_graph *g, struct qdb_err *err)
{
	int rc;
	if ((unsigned)g->stage >= QDB_STAGE_COUNT) {
		rc = qdb_err_set(err, QDB_EFORMAT, "stage: invalid");
		goto fail;
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		struct qdb_node *n = &g->nodes[ni];
		if (!n->name || !n->name[0]) {
			rc = qdb_err_set(err, QDB_EFORMAT, "nodes[%d]: no name", ni);
			goto fail;
		}
		n->op = n->op_name ? qdb_op_lookup(n->op_name) : -1;
		if (n->op < 0) {
			rc = NODE_ERR(err, g, ni, QDB_EFORMAT, "op '%s' is unknown",
				      n->op_name ? n->op_name : "");
			goto fail;
		}
		int lo = qdb_op_min_inputs(n->op), hi = qdb_op_max_inputs(n->op);
		if (n->n_inputs < lo || n->n_inputs > hi) {
			if (lo == hi)
				rc = NODE_ERR(err, g, ni, QDB_EFORMAT, "inputs: op %s takes %d input%s, got %d",
					      n->op_name, lo, lo == 1 ? "" : "s", n->n_inputs);
			else
				rc = NODE_ERR(err, g, ni, QDB_EFORMAT, "inputs: op %s takes %d..%d inputs, got %d",
					      n->op_name, lo, hi, n->n_inputs);
			goto fail;
		}
		if (n->n_outputs != 1) {
			rc = NODE_ERR(err, g, ni, QDB_EFORMAT, "outputs: op %s has 1 output, got %d",
				      n->op_name, n->n_outputs);
			goto fail;
		}
		if (n->device != QDB_DEV_BPU && n->device != QDB_DEV_CPU) {
			rc = NODE_ERR(err, g, ni, QDB_EFORMAT, "device: invalid");
			goto fail;
		}
	}
	if ((rc = check_structure(g, err)))
		goto fail;

	/* shapes: inputs declared, constants from their tensors, the rest inferred */
	for (int v = 0; v < g->n_values; v++)
		if (g->values[v].producer >= 0)
			g->values[v].rank = -1;
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		if (v->rank < 0 || v->rank > QDB_MAX_RANK || qdb_shape_numel(v->rank, v->shape) < 0) {
			rc = qdb_err_set(err, QDB_EFORMAT, "inputs[%d] '%s': shape not declared", i, v->name);
			goto fail;
		}
	}
	for (int c = 0; c < g->n_constants; c++) {
		struct qdb_value *v = &g->values[g->constants[c].value];
		const struct qdb_tensor *t = &g->constants[c].t;
		set_shape(v, t->rank, t->shape);
		v->dtype = t->dtype;
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct qdb_node *n = &g->nodes[ni];
		for (int k = 0; k < n->n_inputs; k++)
			if (g->values[n->inputs[k]].rank < 0) {
				rc = NODE_ERR(err, g, ni, QDB_ESHAPE, "input '%s' has no shape",
					      vname(g, n->inputs[k]));
				goto fail;
			}
		if ((rc = infer_node(g, ni, err)) || (rc = output_dtype(g, ni, err)))
			goto fail;
	}
	if ((rc = check_qparams(g, err)) || (rc = check_constants(g, err)))
		goto fail;

	if (g->stage == QDB_STAGE_QUANTIZED) {
		for (int ni = 0; ni < g->n_nodes; ni++) {
			const struct qdb_node *n = &g->nodes[ni];
			if (n->device == QDB_DEV_BPU && !qdb_kernel_for(n->op, QDB_EXEC_INT)) {
				rc = NODE_ERR(err, g, ni, QDB_EUNSUPPORTED,
					      "op %s has no integer kernel (put it on cpu)", n->op_name);
				goto fail;
			}
		}
	}
	return QDB_OK;
fail:
	return rc; /* the caller adds the file name (qdb_graph_load_checked) */
}
