/* graph_util.h - building small graphs in unit tests (header-only).
 *
 * tg_* helpers abort the test program on a builder failure (a test bug, not
 * a finding): the checks that matter go through tap.h. Values are created
 * on first mention, so a node can name its outputs freely.
 */
#ifndef QDB_GRAPH_UTIL_H
#define QDB_GRAPH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/exec.h"
#include "graph/graph.h"

static void tg_die(const char *what, const struct qdb_err *e)
{
	fprintf(stderr, "graph_util: %s: %s\n", what, e ? e->msg : "");
	exit(99);
}

static struct qdb_graph *tg_new(enum qdb_stage stage) __attribute__((unused));
static struct qdb_graph *tg_new(enum qdb_stage stage)
{
	struct qdb_graph *g = qdb_graph_new();
	if (!g)
		tg_die("graph_new", NULL);
	g->stage = stage;
	g->name = strdup("test");
	return g;
}

static int tg_val(struct qdb_graph *g, const char *name)
{
	struct qdb_err e;
	int v = qdb_graph_find_value(g, name);
	if (v >= 0)
		return v;
	v = qdb_graph_add_value(g, name, &e);
	if (v < 0)
		tg_die(name, &e);
	return v;
}

static int tg_in(struct qdb_graph *g, const char *name, int rank, const int64_t *shape)
	__attribute__((unused));
static int tg_in(struct qdb_graph *g, const char *name, int rank, const int64_t *shape)
{
	struct qdb_err e;
	int v = qdb_graph_add_input(g, name, QDB_F32, rank, shape, &e);
	if (v < 0)
		tg_die(name, &e);
	return v;
}

/* f32 constant from data (copied). */
static int tg_const(struct qdb_graph *g, const char *name, int rank, const int64_t *shape,
		    const float *data) __attribute__((unused));
static int tg_const(struct qdb_graph *g, const char *name, int rank, const int64_t *shape,
		    const float *data)
{
	struct qdb_err e;
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	if (qdb_tensor_alloc(&t, QDB_F32, rank, shape, &e))
		tg_die(name, &e);
	memcpy(t.data, data, t.nbytes);
	int v = qdb_graph_add_constant(g, name, &t, &e);
	qdb_tensor_done(&t);
	if (v < 0)
		tg_die(name, &e);
	return v;
}

/* Constant from any tensor (copied, quant params included). */
static int tg_const_t(struct qdb_graph *g, const char *name, const struct qdb_tensor *t)
	__attribute__((unused));
static int tg_const_t(struct qdb_graph *g, const char *name, const struct qdb_tensor *t)
{
	struct qdb_err e;
	int v = qdb_graph_add_constant(g, name, t, &e);
	if (v < 0)
		tg_die(name, &e);
	return v;
}

/* Node with comma-separated input and output value names. */
static int tg_node(struct qdb_graph *g, const char *name, const char *op, const char *ins,
		   const char *outs) __attribute__((unused));
static int tg_node(struct qdb_graph *g, const char *name, const char *op, const char *ins,
		   const char *outs)
{
	struct qdb_err e;
	int in[64], out[8], ni = 0, no = 0;
	char buf[512];
	int n = qdb_graph_add_node(g, name, op, &e);
	if (n < 0)
		tg_die(name, &e);
	snprintf(buf, sizeof buf, "%s", ins);
	for (char *s = strtok(buf, ","); s && ni < 64; s = strtok(NULL, ","))
		in[ni++] = tg_val(g, s);
	snprintf(buf, sizeof buf, "%s", outs);
	for (char *s = strtok(buf, ","); s && no < 8; s = strtok(NULL, ","))
		out[no++] = tg_val(g, s);
	if (qdb_graph_set_node_io(g, n, in, ni, out, no, &e))
		tg_die(name, &e);
	return n;
}

static void tg_out(struct qdb_graph *g, const char *name) __attribute__((unused));
static void tg_out(struct qdb_graph *g, const char *name)
{
	struct qdb_err e;
	if (qdb_graph_add_output(g, tg_val(g, name), &e))
		tg_die(name, &e);
}

static struct qdb_node *tg_n(struct qdb_graph *g, const char *name)
{
	int n = qdb_graph_find_node(g, name);
	if (n < 0)
		tg_die(name, NULL);
	return &g->nodes[n];
}

static void tg_ints(struct qdb_graph *g, const char *node, const char *key, int n, int64_t a,
		    int64_t b, int64_t c, int64_t d) __attribute__((unused));
static void tg_ints(struct qdb_graph *g, const char *node, const char *key, int n, int64_t a,
		    int64_t b, int64_t c, int64_t d)
{
	struct qdb_err e;
	int64_t v[4] = {a, b, c, d};
	if (qdb_node_set_attr_ints(tg_n(g, node), key, v, n, &e))
		tg_die(key, &e);
}

static void tg_int(struct qdb_graph *g, const char *node, const char *key, int64_t v)
	__attribute__((unused));
static void tg_int(struct qdb_graph *g, const char *node, const char *key, int64_t v)
{
	struct qdb_err e;
	if (qdb_node_set_attr_int(tg_n(g, node), key, v, &e))
		tg_die(key, &e);
}

static void tg_float(struct qdb_graph *g, const char *node, const char *key, double v)
	__attribute__((unused));
static void tg_float(struct qdb_graph *g, const char *node, const char *key, double v)
{
	struct qdb_err e;
	if (qdb_node_set_attr_float(tg_n(g, node), key, v, &e))
		tg_die(key, &e);
}

static void tg_str(struct qdb_graph *g, const char *node, const char *key, const char *v)
	__attribute__((unused));
static void tg_str(struct qdb_graph *g, const char *node, const char *key, const char *v)
{
	struct qdb_err e;
	if (qdb_node_set_attr_str(tg_n(g, node), key, v, &e))
		tg_die(key, &e);
}

/* Per-tensor qparams on a value. */
static void tg_q(struct qdb_graph *g, const char *value, double scale, int64_t zp,
		 enum qdb_dtype qdtype, int64_t qmin, int64_t qmax) __attribute__((unused));
static void tg_q(struct qdb_graph *g, const char *value, double scale, int64_t zp,
		 enum qdb_dtype qdtype, int64_t qmin, int64_t qmax)
{
	struct qdb_err e;
	struct qdb_value *v = &g->values[tg_val(g, value)];
	qdb_quant_done(&v->q);
	if (qdb_quant_set(&v->q, scale, zp, qmin, qmax, &e))
		tg_die(value, &e);
	v->qdtype = qdtype;
}

/* Per-channel qparams (zero points 0). */
static void tg_qc(struct qdb_graph *g, const char *value, int n, int axis, const double *scales,
		  enum qdb_dtype qdtype, int64_t qmin, int64_t qmax) __attribute__((unused));
static void tg_qc(struct qdb_graph *g, const char *value, int n, int axis, const double *scales,
		  enum qdb_dtype qdtype, int64_t qmin, int64_t qmax)
{
	struct qdb_err e;
	struct qdb_value *v = &g->values[tg_val(g, value)];
	qdb_quant_done(&v->q);
	if (qdb_quant_set_channels(&v->q, n, axis, scales, NULL, qmin, qmax, &e))
		tg_die(value, &e);
	v->qdtype = qdtype;
}

/* Validates g, runs it once under sem with f32 inputs (one array per graph
 * input, in order) and copies graph output 0 (as f32, dequantized) into
 * out (up to max floats). Returns the number of output elements, or -1
 * with the error in *e. */
static int64_t tg_run(struct qdb_graph *g, enum qdb_exec_sem sem, const float *const *inputs,
		      float *out, int64_t max, struct qdb_err *e) __attribute__((unused));
static int64_t tg_run(struct qdb_graph *g, enum qdb_exec_sem sem, const float *const *inputs,
		      float *out, int64_t max, struct qdb_err *e)
{
	struct qdb_exec *x = NULL;
	struct qdb_run *r = NULL;
	int64_t n = -1;
	if (qdb_graph_validate(g, e) || qdb_exec_new(g, sem, &x, e) || qdb_run_new(x, &r, e))
		goto done;
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		if (qdb_tensor_view(&t, QDB_F32, v->rank, v->shape, inputs[i],
				    (size_t)qdb_shape_numel(v->rank, v->shape) * sizeof(float), e)) {
			qdb_tensor_done(&t);
			goto done;
		}
		int rc = qdb_run_set_input(r, i, &t, e);
		qdb_tensor_done(&t);
		if (rc)
			goto done;
	}
	if (qdb_run_forward(r, NULL, NULL, e))
		goto done;
	const struct qdb_tensor *y = qdb_run_output(r, 0);
	if (!y) {
		qdb_err_set(e, QDB_EINVAL, "no output");
		goto done;
	}
	n = qdb_tensor_numel(y);
	if (n > max) {
		qdb_err_set(e, QDB_EINVAL, "output has %lld elements, buffer %lld", (long long)n,
			    (long long)max);
		n = -1;
		goto done;
	}
	qdb_tensor_to_f32(y, out);
done:
	qdb_run_delete(r);
	qdb_exec_delete(x);
	return n;
}

#endif
